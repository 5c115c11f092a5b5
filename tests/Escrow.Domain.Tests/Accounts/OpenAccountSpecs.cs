using Escrow.Domain.Accounts;
using static Escrow.Domain.Tests.Accounts.AccountSpec;

namespace Escrow.Domain.Tests.Accounts;

public class OpenAccountSpecs
{
    [Fact]
    public void A_new_customer_account_opens_with_its_overdraft_limit() =>
        Given()
            .When(Open("alice", "EUR", AccountKind.Customer, overdraft: 50.25m))
            .Then(Opened("alice", "EUR", AccountKind.Customer, overdraft: 50.25m, at: 10))
            .AndState("alice", s =>
            {
                Assert.True(s.Exists);
                Assert.Equal(AccountStatus.Open, s.Status);
                Assert.Equal("EUR", s.Currency);
                Assert.Equal(0m, s.Balance);
                Assert.Equal(-50.25m, s.Floor);
                Assert.Equal(50.25m, s.Available);
                Assert.Equal(At(10), s.OpenedAt);
                Assert.Equal(At(10), s.LastActivityAt);
            });

    [Theory]
    [InlineData(AccountKind.Internal)]
    [InlineData(AccountKind.External)]
    public void Operator_accounts_open_without_a_floor(AccountKind kind) =>
        Given()
            .When(Open("cash", "CZK", kind))
            .Then(Opened("cash", "CZK", kind, at: 10))
            .AndState("cash", s =>
            {
                Assert.Null(s.Floor);
                Assert.Null(s.Available);
            });

    [Fact]
    public void A_JPY_account_takes_a_whole_yen_overdraft() =>
        Given()
            .When(Open("taro", "JPY", overdraft: 1000m))
            .Then(Opened("taro", "JPY", overdraft: 1000m, at: 10));

    [Fact]
    public void An_existing_account_cannot_be_opened_again() =>
        Given(Opened("alice"))
            .When(Open("alice", "CZK"))
            .ThenRejected(AccountRejectionCodes.AccountExists);

    [Fact]
    public void A_closed_account_cannot_be_reopened() =>
        Given(Opened("alice"), Closed("alice"))
            .When(Open("alice"))
            .ThenRejected(AccountRejectionCodes.AccountExists);

    [Theory]
    [InlineData("XXX")]
    [InlineData("eur")]
    [InlineData("")]
    [InlineData("XAU")]
    public void An_unknown_currency_is_refused(string currency) =>
        Given()
            .When(Open("alice", currency))
            .ThenRejected("unknown_currency");

    [Theory]
    [InlineData("-0.01")]
    [InlineData("-100")]
    public void A_negative_overdraft_is_refused(string overdraft) =>
        Given()
            .When(Open("alice", overdraft: decimal.Parse(overdraft, System.Globalization.CultureInfo.InvariantCulture)))
            .ThenRejected(AccountRejectionCodes.InvalidOverdraft);

    [Theory]
    [InlineData("EUR", "10.001")]
    [InlineData("CZK", "0.005")]
    [InlineData("JPY", "100.5")]
    public void An_overdraft_finer_than_the_minor_unit_is_refused(string currency, string overdraft) =>
        Given()
            .When(Open("alice", currency, overdraft: decimal.Parse(overdraft, System.Globalization.CultureInfo.InvariantCulture)))
            .ThenRejected(AccountRejectionCodes.AmountPrecision);

    [Fact]
    public void An_overdraft_with_trailing_zeros_fits_the_minor_unit() =>
        Given()
            .When(Open("taro", "JPY", overdraft: 100.000m))
            .Then(Opened("taro", "JPY", overdraft: 100.000m, at: 10));

    [Theory]
    [InlineData(AccountKind.Internal)]
    [InlineData(AccountKind.External)]
    public void Operator_accounts_carry_no_overdraft(AccountKind kind) =>
        Given()
            .When(Open("cash", "EUR", kind, overdraft: 100m))
            .ThenRejected(AccountRejectionCodes.InvalidOverdraft);
}
