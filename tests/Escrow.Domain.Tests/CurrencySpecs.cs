using Escrow.Domain;

namespace Escrow.Domain.Tests;

public class CurrencySpecs
{
    [Theory]
    [InlineData("EUR", 2)]
    [InlineData("JPY", 0)]
    [InlineData("KWD", 3)]
    [InlineData("CZK", 2)]
    public void Known_codes_carry_their_ISO_4217_minor_unit(string code, int minor)
    {
        Assert.True(Currency.TryParse(code, out var c));
        Assert.Equal(minor, c!.Value.MinorUnits);
    }

    [Theory]
    [InlineData("eur")]
    [InlineData("XXX")]
    [InlineData("")]
    [InlineData(null)]
    public void Unknown_or_lower_case_codes_are_refused(string? code) => Assert.False(Currency.TryParse(code, out _));

    [Theory]
    [InlineData("EUR", "1.001", "amount_precision")]
    [InlineData("JPY", "1.5", "amount_precision")]
    [InlineData("EUR", "0", "invalid_amount")]
    [InlineData("EUR", "-3", "invalid_amount")]
    public void Bad_amounts_are_rejected_with_a_stable_code(string code, string amount, string expected)
    {
        var r = Money.ValidatePositive(decimal.Parse(amount, System.Globalization.CultureInfo.InvariantCulture), Currency.Parse(code));
        Assert.Equal(expected, r?.Code);
    }

    [Fact]
    public void An_amount_within_the_minor_unit_is_accepted() =>
        Assert.Null(Money.ValidatePositive(12.30m, Currency.Parse("EUR")));
}
