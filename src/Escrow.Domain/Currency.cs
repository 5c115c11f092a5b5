using System.Collections.Frozen;
using System.Diagnostics.CodeAnalysis;

namespace Escrow.Domain;

/// <summary>
/// An ISO 4217 currency: its three-letter alphabetic code and its minor unit (the number of decimals
/// an amount may carry). Source: ISO 4217 list one (current currencies), minor-unit column.
/// Funds codes and precious metals (XAU, XDR, ...) are deliberately absent: a ledger posting needs a
/// currency with a defined minor unit.
/// </summary>
[System.Text.Json.Serialization.JsonConverter(typeof(CurrencyJsonConverter))]
public readonly record struct Currency
{
    private Currency(string code, int minorUnits)
    {
        Code = code;
        MinorUnits = minorUnits;
    }

    /// <summary>Upper-case ISO 4217 alphabetic code, for example <c>CZK</c>.</summary>
    public string Code { get; }

    /// <summary>Decimals allowed by ISO 4217 (0 for JPY, 2 for EUR, 3 for KWD).</summary>
    public int MinorUnits { get; }

    // Code:minor units, from ISO 4217 list one (2024 edition), currencies with a defined minor unit.
    private const string Table =
        "AED2 AFN2 ALL2 AMD2 ANG2 AOA2 ARS2 AUD2 AWG2 AZN2 BAM2 BBD2 BDT2 BGN2 BHD3 BIF0 BMD2 BND2 BOB2 " +
        "BRL2 BSD2 BTN2 BWP2 BYN2 BZD2 CAD2 CDF2 CHF2 CLP0 CNY2 COP2 CRC2 CUP2 CVE2 CZK2 DJF0 DKK2 DOP2 " +
        "DZD2 EGP2 ERN2 ETB2 EUR2 FJD2 FKP2 GBP2 GEL2 GHS2 GIP2 GMD2 GNF0 GTQ2 GYD2 HKD2 HNL2 HTG2 HUF2 " +
        "IDR2 ILS2 INR2 IQD3 IRR2 ISK0 JMD2 JOD3 JPY0 KES2 KGS2 KHR2 KMF0 KPW2 KRW0 KWD3 KYD2 KZT2 LAK2 " +
        "LBP2 LKR2 LRD2 LSL2 LYD3 MAD2 MDL2 MGA2 MKD2 MMK2 MNT2 MOP2 MRU2 MUR2 MVR2 MWK2 MXN2 MYR2 MZN2 " +
        "NAD2 NGN2 NIO2 NOK2 NPR2 NZD2 OMR3 PAB2 PEN2 PGK2 PHP2 PKR2 PLN2 PYG0 QAR2 RON2 RSD2 RUB2 RWF0 " +
        "SAR2 SBD2 SCR2 SDG2 SEK2 SGD2 SHP2 SLE2 SOS2 SRD2 SSP2 STN2 SVC2 SYP2 SZL2 THB2 TJS2 TMT2 TND3 " +
        "TOP2 TRY2 TTD2 TWD2 TZS2 UAH2 UGX0 USD2 UYU2 UYW4 UZS2 VES2 VND0 VUV0 WST2 XAF0 XCD2 XOF0 XPF0 " +
        "YER2 ZAR2 ZMW2 ZWG2";

    private static readonly FrozenDictionary<string, Currency> Known = Table
        .Split(' ', StringSplitOptions.RemoveEmptyEntries)
        .ToFrozenDictionary(e => e[..3], e => new Currency(e[..3], e[3] - '0'), StringComparer.Ordinal);

    /// <summary>Every currency this ledger accepts.</summary>
    public static IEnumerable<Currency> All => Known.Values;

    /// <summary>Looks up an ISO 4217 code. Codes are case-sensitive upper case, as the standard writes them.</summary>
    public static bool TryParse(string? code, [NotNullWhen(true)] out Currency? currency)
    {
        if (code is not null && Known.TryGetValue(code, out var c))
        {
            currency = c;
            return true;
        }
        currency = null;
        return false;
    }

    /// <summary>Looks up an ISO 4217 code; throws <see cref="ArgumentException"/> for an unknown one.</summary>
    public static Currency Parse(string code) =>
        TryParse(code, out var c) ? c.Value : throw new ArgumentException($"'{code}' is not an ISO 4217 currency code", nameof(code));

    /// <summary>True when <paramref name="amount"/> carries no more decimals than the minor unit allows.</summary>
    public bool FitsMinorUnit(decimal amount) => decimal.Round(amount, MinorUnits) == amount;

    public override string ToString() => Code;
}

/// <summary>A <see cref="Currency"/> in JSON: its ISO 4217 alphabetic code (<c>"EUR"</c>); an unknown code is a <see cref="System.Text.Json.JsonException"/>.</summary>
public sealed class CurrencyJsonConverter : System.Text.Json.Serialization.JsonConverter<Currency>
{
    public override Currency Read(ref System.Text.Json.Utf8JsonReader reader, Type typeToConvert, System.Text.Json.JsonSerializerOptions options) =>
        Currency.TryParse(reader.GetString(), out var c) ? c.Value : throw new System.Text.Json.JsonException($"'{reader.GetString()}' is not an ISO 4217 currency code");

    public override void Write(System.Text.Json.Utf8JsonWriter writer, Currency value, System.Text.Json.JsonSerializerOptions options) =>
        writer.WriteStringValue(value.Code);
}
