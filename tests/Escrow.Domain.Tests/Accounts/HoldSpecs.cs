using Escrow.Domain.Accounts;
using static Escrow.Domain.Tests.Accounts.AccountSpec;

namespace Escrow.Domain.Tests.Accounts;

/// <summary>
/// Holds: pending debits that count against the available balance at once (docs/http-api.md, ledger rules),
/// captured by a debit that names them or released.
/// </summary>
public class HoldSpecs
{
    // alice: 100 EUR with an overdraft of 20 (available 120).
    private static readonly PendingEvent[][] Funded =
        [Opened("cash", kind: AccountKind.Internal), Opened("alice", overdraft: 20m), Opened("bob"), Posted("p0", "cash", "alice", 100m)];

    private static Scenario With(params PendingEvent[][] more) => Given([.. Funded, .. more]);

    private static PendingEvent[] Held(string account, string holdId, decimal amount, int at = 2) =>
        [new(account, new HoldPlaced(holdId, amount, "EUR", "payment", At(at)))];

    private static PlaceHold Hold(string account, string holdId, decimal amount, string currency = "EUR", int at = 10) =>
        new(account, holdId, amount, currency, "payment", At(at));

    [Fact]
    public void A_hold_reduces_the_available_balance_but_not_the_balance() =>
        With().When(Hold("alice", "h1", 70m))
            .Then(Held("alice", "h1", 70m, at: 10))
            .AndState("alice", s =>
            {
                Assert.Equal(100m, s.Balance);
                Assert.Equal(70m, s.Held);
                Assert.Equal(50m, s.Available);
            });

    [Fact]
    public void A_hold_may_use_the_overdraft_but_not_more() =>
        With().When(Hold("alice", "h1", 120.01m)).ThenRejected(AccountRejectionCodes.InsufficientFunds);

    [Fact]
    public void Holds_add_up_against_the_floor() =>
        With(Held("alice", "h1", 100m)).When(Hold("alice", "h2", 20.01m)).ThenRejected(AccountRejectionCodes.InsufficientFunds);

    [Fact]
    public void A_debit_cannot_spend_held_money() =>
        With(Held("alice", "h1", 100m)).When(Post("t1", "alice", "bob", 20.01m)).ThenRejected(AccountRejectionCodes.InsufficientFunds);

    [Fact]
    public void A_debit_may_spend_what_the_holds_leave() =>
        With(Held("alice", "h1", 100m)).When(Post("t1", "alice", "bob", 20m))
            .AndState("alice", s => Assert.Equal(0m, s.Available));

    [Fact]
    public void A_second_hold_with_the_same_id_is_refused() =>
        With(Held("alice", "h1", 10m)).When(Hold("alice", "h1", 10m)).ThenRejected(AccountRejectionCodes.HoldExists);

    [Fact]
    public void A_hold_in_another_currency_is_refused() =>
        With().When(Hold("alice", "h1", 10m, currency: "USD")).ThenRejected(AccountRejectionCodes.CurrencyMismatch);

    [Fact]
    public void A_frozen_account_refuses_a_new_hold() =>
        With(Frozen("alice")).When(Hold("alice", "h1", 10m)).ThenRejected(AccountRejectionCodes.AccountFrozen);

    [Fact]
    public void A_hold_amount_must_fit_the_currency() =>
        With().When(Hold("alice", "h1", 1.001m)).ThenRejected(AccountRejectionCodes.AmountPrecision);

    [Fact]
    public void Capturing_a_hold_debits_it_and_frees_the_reservation() =>
        With(Held("alice", "h1", 70m))
            .When(Post("settle", "alice", "bob", 70m) with { HoldId = "h1" })
            .Then(
                new PendingEvent("alice", new AccountDebited("settle", 70m, "EUR", "bob", PostingKind.Transfer, null, null, At(10), "h1")),
                new PendingEvent("bob", new AccountCredited("settle", 70m, "EUR", "alice", PostingKind.Transfer, null, null, At(10))))
            .AndState("alice", s =>
            {
                Assert.Equal(30m, s.Balance);
                Assert.Equal(0m, s.Held);
                Assert.Empty(s.Holds);
                Assert.Equal(50m, s.Available);
            });

    [Fact]
    public void A_hold_is_captured_even_after_the_account_was_frozen() =>
        With(Held("alice", "h1", 70m), Frozen("alice", at: 3))
            .When(Post("settle", "alice", "bob", 70m) with { HoldId = "h1" })
            .AndState("alice", s => Assert.Equal(30m, s.Balance));

    [Fact]
    public void A_frozen_account_still_refuses_a_debit_without_a_hold() =>
        With(Held("alice", "h1", 70m), Frozen("alice", at: 3)).When(Post("t", "alice", "bob", 1m)).ThenRejected(AccountRejectionCodes.AccountFrozen);

    [Fact]
    public void Capturing_another_amount_than_the_hold_is_refused() =>
        With(Held("alice", "h1", 70m)).When(Post("settle", "alice", "bob", 69m) with { HoldId = "h1" }).ThenRejected(AccountRejectionCodes.HoldMismatch);

    [Fact]
    public void Capturing_an_unknown_hold_is_refused() =>
        With().When(Post("settle", "alice", "bob", 10m) with { HoldId = "h9" }).ThenRejected(AccountRejectionCodes.HoldNotFound);

    [Fact]
    public void A_captured_hold_cannot_be_captured_again() =>
        With(Held("alice", "h1", 10m))
            .When(Post("s1", "alice", "bob", 10m) with { HoldId = "h1" })
            .AndState("alice", s => Assert.False(s.Holds.ContainsKey("h1")));

    [Fact]
    public void Releasing_a_hold_restores_the_available_balance() =>
        With(Held("alice", "h1", 70m))
            .When(new ReleaseHold("alice", "h1", "rejected", At(10)))
            .Then(new PendingEvent("alice", new HoldReleased("h1", 70m, "rejected", At(10))))
            .AndState("alice", s =>
            {
                Assert.Equal(100m, s.Balance);
                Assert.Equal(120m, s.Available);
            });

    [Fact]
    public void Releasing_an_unknown_hold_is_refused() =>
        With().When(new ReleaseHold("alice", "h1", null, At(10))).ThenRejected(AccountRejectionCodes.HoldNotFound);

    [Fact]
    public void A_frozen_account_may_release_a_hold() =>
        With(Held("alice", "h1", 70m), Frozen("alice", at: 3)).When(new ReleaseHold("alice", "h1", null, At(10)))
            .AndState("alice", s => Assert.Equal(0m, s.Held));

    [Fact]
    public void An_account_with_an_open_hold_cannot_be_closed() =>
        Given(Opened("cash", kind: AccountKind.Internal), Opened("carol", kind: AccountKind.Internal), Held("carol", "h1", 5m))
            .When(Close("carol")).ThenRejected(AccountRejectionCodes.HoldsPending);

    [Fact]
    public void A_party_to_a_live_deal_cannot_close_its_account() =>
        Given(Opened("carol", kind: AccountKind.Internal), [new("carol", new AccountDealJoined("d1", At(2)))])
            .When(Close("carol")).ThenRejected(AccountRejectionCodes.LiveDeals);

    [Fact]
    public void An_account_whose_deals_ended_can_be_closed() =>
        Given(Opened("carol", kind: AccountKind.Internal), [new("carol", new AccountDealJoined("d1", At(2)))], [new("carol", new AccountDealLeft("d1", At(3)))])
            .When(Close("carol"))
            .Then(new PendingEvent("carol", new AccountClosed(At(10))));
}
