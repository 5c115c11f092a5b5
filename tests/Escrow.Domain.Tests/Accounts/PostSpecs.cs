using Escrow.Domain.Accounts;
using static Escrow.Domain.Tests.Accounts.AccountSpec;

namespace Escrow.Domain.Tests.Accounts;

public class PostSpecs
{
    /// <summary>cash (internal, EUR), alice and bob (customers, EUR, no overdraft); alice holds 100.00 EUR.</summary>
    private static Scenario AliceHas100(params PendingEvent[][] more) =>
        Given([Opened("cash", kind: AccountKind.Internal), Opened("alice"), Opened("bob"),
            Posted("p0", "cash", "alice", 100.00m, kind: PostingKind.Deposit), .. more]);

    [Fact]
    public void A_transfer_debits_one_account_and_credits_the_other_under_one_posting_id() =>
        AliceHas100()
            .When(Post("p1", "alice", "bob", 30.50m, reference: "rent"))
            .Then(Posted("p1", "alice", "bob", 30.50m, at: 10, reference: "rent"))
            .AndState("alice", s =>
            {
                Assert.Equal(69.50m, s.Balance);
                Assert.Equal(2, s.PostingCount);
                Assert.Equal(At(10), s.LastActivityAt);
            })
            .AndState("bob", s => Assert.Equal(30.50m, s.Balance));

    [Fact]
    public void A_deposit_debits_the_operator_cash_account() =>
        AliceHas100()
            .When(Post("p1", "cash", "bob", 5m, kind: PostingKind.Deposit))
            .Then(Posted("p1", "cash", "bob", 5m, at: 10, kind: PostingKind.Deposit))
            .AndState("cash", s => Assert.Equal(-105m, s.Balance))
            .AndState("bob", s => Assert.Equal(5m, s.Balance));

    [Fact]
    public void A_withdrawal_credits_the_operator_cash_account() =>
        AliceHas100()
            .When(Post("p1", "alice", "cash", 100m, kind: PostingKind.Withdrawal))
            .Then(Posted("p1", "alice", "cash", 100m, at: 10, kind: PostingKind.Withdrawal))
            .AndState("alice", s => Assert.Equal(0m, s.Balance))
            .AndState("cash", s => Assert.Equal(0m, s.Balance));

    [Fact]
    public void An_unknown_debit_account_is_not_found() =>
        AliceHas100().When(Post("p1", "ghost", "bob", 1m)).ThenRejected(AccountRejectionCodes.AccountNotFound);

    [Fact]
    public void An_unknown_credit_account_is_not_found() =>
        AliceHas100().When(Post("p1", "alice", "ghost", 1m)).ThenRejected(AccountRejectionCodes.AccountNotFound);

    [Fact]
    public void An_account_cannot_pay_itself() =>
        AliceHas100().When(Post("p1", "alice", "alice", 1m)).ThenRejected(AccountRejectionCodes.SameAccount);

    [Theory]
    [InlineData("0")]
    [InlineData("0.00")]
    [InlineData("-1")]
    [InlineData("-0.01")]
    public void A_non_positive_amount_is_invalid(string amount) =>
        AliceHas100().When(Post("p1", "alice", "bob", Dec(amount))).ThenRejected(AccountRejectionCodes.InvalidAmount);

    [Fact]
    public void An_amount_finer_than_the_cent_is_refused_in_EUR() =>
        AliceHas100().When(Post("p1", "alice", "bob", 1.001m)).ThenRejected(AccountRejectionCodes.AmountPrecision);

    [Theory]
    [InlineData("0.5")]
    [InlineData("100.01")]
    public void An_amount_finer_than_the_yen_is_refused_in_JPY(string amount) =>
        Given(Opened("cash", "JPY", AccountKind.Internal), Opened("taro", "JPY"))
            .When(Post("p1", "cash", "taro", Dec(amount), "JPY"))
            .ThenRejected(AccountRejectionCodes.AmountPrecision);

    [Fact]
    public void A_whole_yen_amount_with_trailing_zeros_is_accepted() =>
        Given(Opened("cash", "JPY", AccountKind.Internal), Opened("taro", "JPY"))
            .When(Post("p1", "cash", "taro", 500.000m, "JPY"))
            .Then(Posted("p1", "cash", "taro", 500.000m, "JPY", at: 10));

    [Fact]
    public void A_posting_in_another_currency_than_the_accounts_is_a_mismatch() =>
        AliceHas100().When(Post("p1", "alice", "bob", 1m, "CZK")).ThenRejected(AccountRejectionCodes.CurrencyMismatch);

    [Fact]
    public void Accounts_kept_in_different_currencies_cannot_post_to_each_other() =>
        AliceHas100(Opened("karel", "CZK"))
            .When(Post("p1", "alice", "karel", 1m, "EUR"))
            .ThenRejected(AccountRejectionCodes.CurrencyMismatch);

    [Fact]
    public void A_posting_in_an_unknown_currency_is_refused() =>
        AliceHas100().When(Post("p1", "alice", "bob", 1m, "XXX")).ThenRejected("unknown_currency");

    [Fact]
    public void A_closed_debit_account_refuses_the_posting() =>
        AliceHas100(Closed("bob", at: 4))
            .When(Post("p1", "bob", "alice", 1m))
            .ThenRejected(AccountRejectionCodes.AccountClosed);

    [Fact]
    public void A_closed_credit_account_refuses_incoming_money_too() =>
        AliceHas100(Closed("bob", at: 4))
            .When(Post("p1", "alice", "bob", 1m))
            .ThenRejected(AccountRejectionCodes.AccountClosed);

    [Fact]
    public void A_posting_before_the_debit_accounts_last_activity_is_backdated() =>
        AliceHas100(Posted("p9", "alice", "cash", 1m, at: 20))
            .When(Post("p1", "alice", "bob", 1m, at: 19))
            .ThenRejected(AccountRejectionCodes.BackdatedPosting);

    [Fact]
    public void A_posting_before_the_credit_accounts_last_activity_is_backdated() =>
        AliceHas100(Posted("p9", "cash", "bob", 1m, at: 20))
            .When(Post("p1", "alice", "bob", 1m, at: 19))
            .ThenRejected(AccountRejectionCodes.BackdatedPosting);

    [Fact]
    public void A_posting_before_the_account_was_opened_is_backdated() =>
        AliceHas100(Opened("late", at: 30))
            .When(Post("p1", "alice", "late", 1m, at: 29))
            .ThenRejected(AccountRejectionCodes.BackdatedPosting);

    [Fact]
    public void A_posting_at_the_same_instant_as_the_last_activity_is_not_backdated() =>
        AliceHas100(Posted("p9", "alice", "cash", 1m, at: 20))
            .When(Post("p1", "alice", "bob", 1m, at: 20))
            .Then(Posted("p1", "alice", "bob", 1m, at: 20));

    [Fact]
    public void A_frozen_account_refuses_debits() =>
        AliceHas100(Frozen("alice"))
            .When(Post("p1", "alice", "bob", 1m))
            .ThenRejected(AccountRejectionCodes.AccountFrozen);

    [Fact]
    public void A_frozen_account_still_accepts_credits() =>
        AliceHas100(Frozen("alice"))
            .When(Post("p1", "cash", "alice", 0.01m))
            .Then(Posted("p1", "cash", "alice", 0.01m, at: 10))
            .AndState("alice", s =>
            {
                Assert.Equal(AccountStatus.Frozen, s.Status);
                Assert.Equal(100.01m, s.Balance);
            });

    [Fact]
    public void An_unfrozen_account_may_be_debited_again() =>
        AliceHas100(Frozen("alice", at: 2), Unfrozen("alice", at: 3))
            .When(Post("p1", "alice", "bob", 1m))
            .Then(Posted("p1", "alice", "bob", 1m, at: 10));

    [Fact]
    public void A_customer_may_spend_down_to_exactly_zero() =>
        AliceHas100()
            .When(Post("p1", "alice", "bob", 100.00m))
            .Then(Posted("p1", "alice", "bob", 100.00m, at: 10))
            .AndState("alice", s => Assert.Equal(0m, s.Balance));

    [Fact]
    public void A_customer_without_overdraft_cannot_go_one_cent_below_zero() =>
        AliceHas100().When(Post("p1", "alice", "bob", 100.01m)).ThenRejected(AccountRejectionCodes.InsufficientFunds);

    [Fact]
    public void An_empty_customer_account_cannot_be_debited() =>
        AliceHas100().When(Post("p1", "bob", "alice", 0.01m)).ThenRejected(AccountRejectionCodes.InsufficientFunds);

    [Fact]
    public void An_overdraft_allows_a_negative_balance_down_to_minus_the_limit() =>
        AliceHas100(Opened("carol", overdraft: 50m))
            .When(Post("p1", "carol", "bob", 50.00m))
            .Then(Posted("p1", "carol", "bob", 50.00m, at: 10))
            .AndState("carol", s =>
            {
                Assert.Equal(-50m, s.Balance);
                Assert.Equal(0m, s.Available);
            });

    [Fact]
    public void An_overdraft_does_not_stretch_one_cent_further() =>
        AliceHas100(Opened("carol", overdraft: 50m))
            .When(Post("p1", "carol", "bob", 50.01m))
            .ThenRejected(AccountRejectionCodes.InsufficientFunds);

    [Fact]
    public void An_overdrawn_account_cannot_take_one_more_cent() =>
        AliceHas100(Opened("carol", overdraft: 50m), Posted("p5", "carol", "bob", 50m, at: 5))
            .When(Post("p1", "carol", "bob", 0.01m))
            .ThenRejected(AccountRejectionCodes.InsufficientFunds);

    [Fact]
    public void An_overdraft_adds_to_a_positive_balance() =>
        AliceHas100(Opened("carol", overdraft: 50m), Posted("p5", "cash", "carol", 20m, at: 5))
            .When(Post("p1", "carol", "bob", 70m))
            .Then(Posted("p1", "carol", "bob", 70m, at: 10))
            .AndState("carol", s => Assert.Equal(-50m, s.Balance));

    [Fact]
    public void A_JPY_overdraft_stops_at_minus_the_limit_not_one_yen_further()
    {
        var given = Given(Opened("cash", "JPY", AccountKind.Internal), Opened("taro", "JPY", overdraft: 1000m));
        given.When(Post("p1", "taro", "cash", 1000m, "JPY")).Then(Posted("p1", "taro", "cash", 1000m, "JPY", at: 10));
        given.When(Post("p1", "taro", "cash", 1001m, "JPY")).ThenRejected(AccountRejectionCodes.InsufficientFunds);
    }

    [Theory]
    [InlineData(AccountKind.Internal)]
    [InlineData(AccountKind.External)]
    public void Operator_accounts_have_no_floor(AccountKind kind) =>
        Given(Opened("book", kind: kind), Opened("bob"), Posted("p0", "book", "bob", 1_000_000m))
            .When(Post("p1", "book", "bob", 79_228_162_514m))
            .Then(Posted("p1", "book", "bob", 79_228_162_514m, at: 10))
            .AndState("book", s => Assert.Equal(-79_229_162_514m, s.Balance));

    private static decimal Dec(string s) => decimal.Parse(s, System.Globalization.CultureInfo.InvariantCulture);
}
