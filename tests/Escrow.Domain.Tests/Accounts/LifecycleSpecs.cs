using Escrow.Domain.Accounts;
using static Escrow.Domain.Tests.Accounts.AccountSpec;

namespace Escrow.Domain.Tests.Accounts;

/// <summary>Freeze, unfreeze and close.</summary>
public class LifecycleSpecs
{
    private static readonly PendingEvent[][] AliceAndCash =
        [Opened("cash", kind: AccountKind.Internal), Opened("alice", overdraft: 20m)];

    private static Scenario With(params PendingEvent[][] more) => Given([.. AliceAndCash, .. more]);

    // ----- freeze -----

    [Fact]
    public void An_open_account_can_be_frozen() =>
        With()
            .When(Freeze("alice", reason: "aml review"))
            .Then(Frozen("alice", at: 10, reason: "aml review"))
            .AndState("alice", s => Assert.Equal(AccountStatus.Frozen, s.Status));

    [Fact]
    public void A_frozen_account_cannot_be_frozen_again() =>
        With(Frozen("alice")).When(Freeze("alice")).ThenRejected(AccountRejectionCodes.AccountFrozen);

    [Fact]
    public void An_unknown_account_cannot_be_frozen() =>
        With().When(Freeze("ghost")).ThenRejected(AccountRejectionCodes.AccountNotFound);

    [Fact]
    public void A_closed_account_cannot_be_frozen() =>
        With(Closed("alice")).When(Freeze("alice")).ThenRejected(AccountRejectionCodes.AccountClosed);

    // ----- unfreeze -----

    [Fact]
    public void A_frozen_account_can_be_unfrozen() =>
        With(Frozen("alice"))
            .When(Unfreeze("alice"))
            .Then(Unfrozen("alice", at: 10))
            .AndState("alice", s => Assert.Equal(AccountStatus.Open, s.Status));

    [Fact]
    public void An_open_account_is_not_frozen() =>
        With().When(Unfreeze("alice")).ThenRejected(AccountRejectionCodes.AccountNotFrozen);

    [Fact]
    public void An_unfrozen_account_is_not_frozen_any_more() =>
        With(Frozen("alice", at: 2), Unfrozen("alice", at: 3)).When(Unfreeze("alice")).ThenRejected(AccountRejectionCodes.AccountNotFrozen);

    [Fact]
    public void An_unknown_account_cannot_be_unfrozen() =>
        With().When(Unfreeze("ghost")).ThenRejected(AccountRejectionCodes.AccountNotFound);

    [Fact]
    public void A_closed_account_cannot_be_unfrozen() =>
        With(Closed("alice")).When(Unfreeze("alice")).ThenRejected(AccountRejectionCodes.AccountClosed);

    [Fact]
    public void A_lifecycle_event_never_moves_last_activity_backwards() =>
        With(Posted("p1", "cash", "alice", 5m, at: 30))
            .When(Freeze("alice", at: 20))
            .Then(Frozen("alice", at: 20))
            .AndState("alice", s => Assert.Equal(At(30), s.LastActivityAt));

    // ----- close -----

    [Fact]
    public void An_account_with_zero_balance_can_be_closed() =>
        With()
            .When(Close("alice"))
            .Then(Closed("alice", at: 10))
            .AndState("alice", s => Assert.Equal(AccountStatus.Closed, s.Status));

    [Fact]
    public void An_account_brought_back_to_zero_can_be_closed() =>
        With(Posted("p1", "cash", "alice", 5m, at: 1), Posted("p2", "alice", "cash", 5m, at: 2))
            .When(Close("alice"))
            .Then(Closed("alice", at: 10));

    [Fact]
    public void A_frozen_account_with_zero_balance_can_be_closed() =>
        With(Frozen("alice")).When(Close("alice")).Then(Closed("alice", at: 10));

    [Fact]
    public void A_positive_balance_prevents_closing() =>
        With(Posted("p1", "cash", "alice", 0.01m)).When(Close("alice")).ThenRejected(AccountRejectionCodes.BalanceNotZero);

    [Fact]
    public void An_overdrawn_balance_prevents_closing() =>
        With(Posted("p1", "alice", "cash", 0.01m)).When(Close("alice")).ThenRejected(AccountRejectionCodes.BalanceNotZero);

    [Fact]
    public void An_operator_account_with_a_balance_cannot_be_closed() =>
        With(Posted("p1", "cash", "alice", 1m)).When(Close("cash")).ThenRejected(AccountRejectionCodes.BalanceNotZero);

    [Fact]
    public void A_closed_account_cannot_be_closed_again() =>
        With(Closed("alice")).When(Close("alice")).ThenRejected(AccountRejectionCodes.AccountClosed);

    [Fact]
    public void An_unknown_account_cannot_be_closed() =>
        With().When(Close("ghost")).ThenRejected(AccountRejectionCodes.AccountNotFound);

    [Fact]
    public void A_closed_account_refuses_credits() =>
        With(Closed("alice")).When(Post("p1", "cash", "alice", 1m)).ThenRejected(AccountRejectionCodes.AccountClosed);

    [Fact]
    public void A_closed_account_refuses_debits_even_within_its_overdraft() =>
        With(Closed("alice")).When(Post("p1", "alice", "cash", 1m)).ThenRejected(AccountRejectionCodes.AccountClosed);
}
