namespace Escrow.Domain.Accounts;

/// <summary>What an account is for; decides whether a balance floor applies.</summary>
public enum AccountKind
{
    /// <summary>A customer's account: may not go below zero, or below minus its overdraft limit.</summary>
    Customer,
    /// <summary>The operator's own book account (cash, fee income, interest expense): no floor.</summary>
    Internal,
    /// <summary>A mirror of money held elsewhere (a clearing account per partner bank): no floor.</summary>
    External,
}

/// <summary>Why money moved; recorded on both legs of a posting.</summary>
public enum PostingKind
{
    Deposit,
    Withdrawal,
    Transfer,
    Reversal,
    /// <summary>A leg of a cross-border payment: settlement, FX conversion or return.</summary>
    Payment,
}

public enum AccountStatus
{
    Open,
    Frozen,
    Closed,
}

/// <summary>Marker for events of the account stream (<c>account-{id}</c>).</summary>
public interface IAccountEvent;

/// <summary>
/// Stored name <c>AccountOpened</c>, schema 1. <paramref name="OverdraftLimit"/> is a non-negative amount in major units.
/// <paramref name="Subject"/> (absent from the stored JSON when null: accounts opened before personal data was sealed, and
/// the institution's own) is the data subject whose key seals <paramref name="Owner"/> (an envelope, see the event store's
/// <c>PersonalData</c>).
/// </summary>
public sealed record AccountOpened(
    string AccountId, string Owner, string Currency, AccountKind Kind, decimal OverdraftLimit, DateTimeOffset At,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    string? Subject = null) : IAccountEvent;

/// <summary>
/// Stored name <c>AccountDebited</c>, schema 1: the debit leg of posting <paramref name="PostingId"/>; the
/// account's balance falls by <paramref name="Amount"/> (major units, positive). The credit leg is an
/// <see cref="AccountCredited"/> with the same posting id on <paramref name="Counterparty"/>'s stream,
/// committed in the same transaction.
/// </summary>
/// <para><paramref name="HoldId"/> (absent from the stored JSON when null) names the hold this debit captures: the
/// hold's amount stops counting against the available balance in the same event (see <see cref="HoldPlaced"/>).</para>
public sealed record AccountDebited(
    string PostingId, decimal Amount, string Currency, string Counterparty, PostingKind Kind,
    string? Reference, string? ReversalOf, DateTimeOffset At,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    string? HoldId = null) : IAccountEvent;

/// <summary>Stored name <c>AccountCredited</c>, schema 1: the credit leg of a posting; the balance rises by <paramref name="Amount"/>.</summary>
public sealed record AccountCredited(
    string PostingId, decimal Amount, string Currency, string Counterparty, PostingKind Kind,
    string? Reference, string? ReversalOf, DateTimeOffset At) : IAccountEvent;

/// <summary>
/// Stored name <c>HoldPlaced</c>, schema 1: <paramref name="Amount"/> (major units, positive) of the account's money is
/// reserved under <paramref name="HoldId"/> (a pending debit, e.g. an initiated payment). The balance does not change;
/// the available balance falls at once. A hold ends either captured by a debit that names it
/// (<see cref="AccountDebited.HoldId"/>) or released (<see cref="HoldReleased"/>).
/// </summary>
public sealed record HoldPlaced(string HoldId, decimal Amount, string Currency, string? Reference, DateTimeOffset At) : IAccountEvent;

/// <summary>Stored name <c>HoldReleased</c>, schema 1: hold <paramref name="HoldId"/> is voided; its amount is available again.</summary>
public sealed record HoldReleased(string HoldId, decimal Amount, string? Reason, DateTimeOffset At) : IAccountEvent;

/// <summary>
/// Stored name <c>AccountDealJoined</c>, schema 1: the account became the buyer or seller of escrow deal
/// <paramref name="DealId"/> (written with the deal's creation). While the deal lives the account cannot be closed,
/// so a refund or release always has an open account to go to.
/// </summary>
public sealed record AccountDealJoined(string DealId, DateTimeOffset At) : IAccountEvent;

/// <summary>Stored name <c>AccountDealLeft</c>, schema 1: deal <paramref name="DealId"/> reached an end state (released, cancelled, expired, resolved).</summary>
public sealed record AccountDealLeft(string DealId, DateTimeOffset At) : IAccountEvent;

/// <summary>Stored name <c>AccountFrozen</c>, schema 1.</summary>
public sealed record AccountFrozen(string? Reason, DateTimeOffset At) : IAccountEvent;

/// <summary>Stored name <c>AccountUnfrozen</c>, schema 1.</summary>
public sealed record AccountUnfrozen(string? Reason, DateTimeOffset At) : IAccountEvent;

/// <summary>Stored name <c>AccountClosed</c>, schema 1.</summary>
public sealed record AccountClosed(DateTimeOffset At) : IAccountEvent;
