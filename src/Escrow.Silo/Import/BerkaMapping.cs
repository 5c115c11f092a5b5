using System.Globalization;
using System.Text.RegularExpressions;
using Escrow.Domain.Accounts;

namespace Escrow.Silo.Import;

/// <summary>The bank's own accounts (no floor) and the customer account ids.</summary>
public static partial class BerkaChart
{
    public const string Currency = "CZK";
    public const string Owner = "berka-bank";
    public const string Cash = "berka-cash";
    public const string InterestExpense = "berka-interest-expense";
    public const string FeeIncome = "berka-fee-income";
    public const string PenaltyInterestIncome = "berka-penalty-interest-income";
    public const string CardSettlement = "berka-card-settlement";
    public const string ClearingUnknown = "berka-clearing-unknown";
    public const string Suspense = "berka-suspense";

    public static string Customer(long accountId) => $"berka-{accountId.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>The clearing account of a partner bank code; blank (or unusable as an id) goes to the 'unknown' clearing account.</summary>
    public static string Clearing(string bank) =>
        BankCode().IsMatch(bank) ? $"berka-clearing-{bank}" : ClearingUnknown;

    /// <summary>The fixed part of the chart with its kind: cash and income/expense books are internal, money at others is external.</summary>
    public static IReadOnlyList<(string Id, AccountKind Kind)> Fixed { get; } =
    [
        (Cash, AccountKind.Internal),
        (InterestExpense, AccountKind.Internal),
        (FeeIncome, AccountKind.Internal),
        (PenaltyInterestIncome, AccountKind.Internal),
        (CardSettlement, AccountKind.External),
        (ClearingUnknown, AccountKind.External),
        (Suspense, AccountKind.Internal),
    ];

    [GeneratedRegex("^[A-Za-z0-9]{1,40}$")]
    private static partial Regex BankCode();
}

/// <summary>Where a transaction's money comes from or goes to.</summary>
public sealed record BerkaPostingPlan(string CounterAccount, PostingKind Kind, string? Reference);

/// <summary>
/// The mapping of a Berka transaction to a ledger posting. The counter-account is chosen by
/// <c>k_symbol</c> first (it names the economic reason), then by <c>operation</c> (it names the channel);
/// the direction comes from <c>type</c> alone, so the mapping never changes an amount or its sign.
/// </summary>
public static class BerkaMapping
{
    /// <summary>Null when <c>type</c> is not PRIJEM, VYDAJ or VYBER: the direction is unknown, the row cannot be posted.</summary>
    public static BerkaPostingPlan? Plan(BerkaTransaction t)
    {
        if (t.Type is not ("PRIJEM" or "VYDAJ" or "VYBER")) return null;
        var (counter, kind) = t.KSymbol switch
        {
            "UROK" => (BerkaChart.InterestExpense, PostingKind.Transfer),
            "SLUZBY" => (BerkaChart.FeeIncome, PostingKind.Transfer),
            "SANKC. UROK" => (BerkaChart.PenaltyInterestIncome, PostingKind.Transfer),
            _ => t.Operation switch
            {
                "VKLAD" => (BerkaChart.Cash, PostingKind.Deposit),
                "VYBER" => (BerkaChart.Cash, PostingKind.Withdrawal),
                "VYBER KARTOU" => (BerkaChart.CardSettlement, PostingKind.Withdrawal),
                "PREVOD Z UCTU" or "PREVOD NA UCET" => (BerkaChart.Clearing(t.Bank), PostingKind.Transfer),
                _ => (BerkaChart.Suspense, PostingKind.Transfer),
            },
        };
        return new BerkaPostingPlan(counter, kind, Reference(t));
    }

    /// <summary>Keeps what the ledger has no field for: the k_symbol (SIPO, DUCHOD, UVER...) and the transfer's partner.</summary>
    private static string? Reference(BerkaTransaction t)
    {
        var parts = new List<string>(2);
        if (t.KSymbol.Length > 0) parts.Add(t.KSymbol);
        if (t.Bank.Length > 0 || t.PartnerAccount.Length > 0)
            parts.Add($"{(t.IsCredit ? "from" : "to")} {t.Bank} {t.PartnerAccount}".TrimEnd());
        return parts.Count == 0 ? null : string.Join(" | ", parts);
    }
}
