using Escrow.Domain.Accounts;
using static Escrow.Domain.Tests.Accounts.AccountSpec;

namespace Escrow.Domain.Tests.Accounts;

public class ReversePostingSpecs
{
    /// <summary>The posting p1: alice paid bob 30 EUR (alice was funded with 100 EUR by p0).</summary>
    private static readonly PostingRecord P1 = Record("p1", "alice", "bob", 30m);

    private static Scenario AlicePaidBob(params PendingEvent[][] more) =>
        Given([Opened("cash", kind: AccountKind.Internal), Opened("alice"), Opened("bob"),
            Posted("p0", "cash", "alice", 100m, at: 1, kind: PostingKind.Deposit),
            Posted("p1", "alice", "bob", 30m, at: 2), .. more]);

    private static PendingEvent[] ReversalOfP1(string reversalId = "r1", int at = 10, string? reference = "reversal of p1") =>
        Posted(reversalId, "bob", "alice", 30m, at: at, kind: PostingKind.Reversal, reference: reference, reversalOf: "p1");

    [Theory]
    [InlineData("alice")]
    [InlineData("bob")]
    public void A_reversal_moves_the_money_back_on_both_legs(string requestedBy) =>
        AlicePaidBob()
            .When(Reverse(requestedBy, P1, "r1"))
            .Then(ReversalOfP1())
            .AndState("alice", s =>
            {
                Assert.Equal(100m, s.Balance);
                Assert.Contains("p1", s.ReversedPostings);
            })
            .AndState("bob", s =>
            {
                Assert.Equal(0m, s.Balance);
                Assert.Contains("p1", s.ReversedPostings);
            });

    [Fact]
    public void The_reason_becomes_the_reference_of_the_reversal() =>
        AlicePaidBob()
            .When(Reverse("alice", P1, "r1", reason: "chargeback 42"))
            .Then(ReversalOfP1(reference: "chargeback 42"));

    [Fact]
    public void An_unknown_account_is_not_found() =>
        AlicePaidBob().When(Reverse("ghost", P1)).ThenRejected(AccountRejectionCodes.AccountNotFound);

    [Fact]
    public void A_posting_missing_from_the_log_is_not_found() =>
        AlicePaidBob().When(Reverse("alice", original: null)).ThenRejected(AccountRejectionCodes.PostingNotFound);

    [Fact]
    public void A_posting_of_other_accounts_is_not_found_on_this_one() =>
        AlicePaidBob().WhenEveryStreamIsLoaded(Reverse("cash", P1)).ThenRejected(AccountRejectionCodes.PostingNotFound);

    [Fact] // regression: ReversePosting.Streams omitted the asking account
    public void A_posting_of_other_accounts_is_not_found_on_this_one_when_the_host_loads_the_named_streams() =>
        AlicePaidBob().When(Reverse("cash", P1)).ThenRejected(AccountRejectionCodes.PostingNotFound);

    [Theory]
    [InlineData("alice")]
    [InlineData("bob")]
    public void A_reversal_cannot_itself_be_reversed(string requestedBy) =>
        AlicePaidBob(ReversalOfP1())
            .When(Reverse(requestedBy, Record("r1", "bob", "alice", 30m, reversalOf: "p1"), "r2", at: 20))
            .ThenRejected(AccountRejectionCodes.ReversalOfReversal);

    [Theory]
    [InlineData("alice")]
    [InlineData("bob")]
    public void A_posting_is_reversed_at_most_once(string requestedBy) =>
        AlicePaidBob(ReversalOfP1())
            .When(Reverse(requestedBy, P1, "r2", at: 20))
            .ThenRejected(AccountRejectionCodes.PostingAlreadyReversed);

    [Fact]
    public void A_reversal_may_not_push_the_payee_below_its_floor() =>
        AlicePaidBob(Posted("p2", "bob", "cash", 30m, at: 3, kind: PostingKind.Withdrawal))
            .When(Reverse("alice", P1))
            .ThenRejected(AccountRejectionCodes.InsufficientFunds);

    [Fact]
    public void A_frozen_payee_cannot_be_charged_back() =>
        AlicePaidBob(Frozen("bob", at: 3))
            .When(Reverse("alice", P1))
            .ThenRejected(AccountRejectionCodes.AccountFrozen);

    [Fact]
    public void A_frozen_payer_still_receives_its_money_back() =>
        AlicePaidBob(Frozen("alice", at: 3))
            .When(Reverse("alice", P1))
            .Then(ReversalOfP1())
            .AndState("alice", s => Assert.Equal(100m, s.Balance));

    [Fact]
    public void A_reversal_into_a_closed_account_is_refused() =>
        AlicePaidBob(Posted("p2", "bob", "cash", 30m, at: 3), Closed("bob", at: 4))
            .When(Reverse("cash", Record("p2", "bob", "cash", 30m)))
            .ThenRejected(AccountRejectionCodes.AccountClosed);

    [Fact]
    public void A_reversal_before_the_last_activity_is_backdated() =>
        AlicePaidBob(Posted("p2", "cash", "bob", 1m, at: 30))
            .When(Reverse("alice", P1, at: 29))
            .ThenRejected(AccountRejectionCodes.BackdatedPosting);

    [Fact]
    public void A_deposit_reversal_debits_the_customer_and_credits_the_operator() =>
        Given(Opened("cash", kind: AccountKind.Internal), Opened("alice"), Posted("p0", "cash", "alice", 100m, at: 1))
            .When(Reverse("alice", Record("p0", "cash", "alice", 100m), "r0"))
            .Then(Posted("r0", "alice", "cash", 100m, at: 10, kind: PostingKind.Reversal, reference: "reversal of p0", reversalOf: "p0"))
            .AndState("alice", s => Assert.Equal(0m, s.Balance))
            .AndState("cash", s => Assert.Equal(0m, s.Balance));
}
