using System.Text.Json;
using System.Text.Json.Serialization;

namespace Escrow.Client;

/// <summary>What kind of ledger account: decides whether it has a floor.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<AccountKind>))]
public enum AccountKind
{
    /// <summary>A customer's account: never below zero, or below minus its overdraft limit.</summary>
    Customer,
    /// <summary>The operator's own book account (cash, fee income): no floor.</summary>
    Internal,
    /// <summary>A mirror of money held elsewhere (a partner bank's clearing account): no floor.</summary>
    External,
}

/// <summary>Lifecycle state of an account.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<AccountStatus>))]
public enum AccountStatus
{
    /// <summary>Accepts debits and credits.</summary>
    Open,
    /// <summary>Refuses debits (409 <c>account_frozen</c>), still accepts credits.</summary>
    Frozen,
    /// <summary>Refuses every posting (409 <c>account_closed</c>); closed only at zero balance.</summary>
    Closed,
}

/// <summary>Where a balance as of an instant is read from.</summary>
public enum BalanceSource
{
    /// <summary>The silo decides: now from the account's activation; as of an instant from the statement read model when it has caught up, else by replaying the stream.</summary>
    Default,
    /// <summary>Replay the account's event stream from its last kept snapshot at or before the instant (<c>?source=events</c>).</summary>
    Events,
    /// <summary>Replay the account's event stream from its first event, ignoring snapshots (the audit path, <c>?source=genesis</c>; time grows with the stream).</summary>
    Genesis,
}

/// <summary>
/// Body of <c>POST /accounts</c>: opens an account.
/// </summary>
/// <param name="AccountId">1–64 letters, digits, '.', '_' or '-', starting with a letter or digit; ids are global across institutions, so prefix them (e.g. <c>acme-alice</c>). Ids starting with <c>house-</c> are reserved for root.</param>
/// <param name="Owner">Display name of the owner; required.</param>
/// <param name="Currency">ISO 4217 alphabetic code, e.g. <c>EUR</c>.</param>
/// <param name="Kind">Customer (default), internal or external.</param>
/// <param name="OverdraftLimit">Major units, ≥ 0, at most the currency's minor-unit decimals; a customer account may go down to minus this.</param>
/// <param name="Subject">The data subject whose key seals <paramref name="Owner"/> (your opaque customer reference, 1–128 of
/// <c>A-Z a-z 0-9 . _ : -</c>; default <c>account:{AccountId}</c>); erasing it (<c>POST /subjects/{id}/erasure</c>) erases the owner's name
/// everywhere (docs/compliance.md). 409 <c>subject_erased</c> for a subject already erased.</param>
public sealed record OpenAccountRequest(
    string AccountId,
    string Owner,
    string Currency,
    AccountKind Kind = AccountKind.Customer,
    decimal OverdraftLimit = 0m,
    string? Subject = null);

/// <summary>Body of a deposit (<c>POST /accounts/{id}/deposits</c>) or withdrawal (<c>…/withdrawals</c>).</summary>
/// <param name="Amount">Major units, &gt; 0, at most the currency's ISO 4217 minor-unit decimals (EUR: 2, JPY: 0), at most 10^15.</param>
/// <param name="Currency">ISO 4217 code; must be the account's currency (409 <c>currency_mismatch</c>).</param>
/// <param name="Reference">Free text kept on the posting (statement line).</param>
/// <param name="Counterparty">The other leg's account; default the institution's cash account <c>house-cash-{tenant}-{CUR}</c>.</param>
public sealed record MoneyRequest(decimal Amount, string Currency, string? Reference = null, string? Counterparty = null);

/// <summary>Body of <c>POST /transfers</c>: both legs in one transaction.</summary>
/// <param name="From">Debited account id.</param>
/// <param name="To">Credited account id (not <paramref name="From"/>: 409 <c>same_account</c>).</param>
/// <param name="Amount">Major units, &gt; 0, at most the currency's minor-unit decimals.</param>
/// <param name="Currency">ISO 4217 code of both accounts.</param>
/// <param name="Reference">Free text kept on both statement lines.</param>
public sealed record TransferRequest(string From, string To, decimal Amount, string Currency, string? Reference = null);

/// <summary>An account as the silo answers it (from its activation: current, not a read model).</summary>
/// <param name="AccountId">The account id.</param>
/// <param name="Owner">Owner's display name.</param>
/// <param name="Currency">ISO 4217 code.</param>
/// <param name="Kind">Customer, internal or external.</param>
/// <param name="Status">Open, frozen or closed.</param>
/// <param name="Balance">Major units; negative only for internal/external accounts or within an overdraft.</param>
/// <param name="Available">What may still be debited (balance + overdraft limit) for a customer account; null for accounts without a floor.</param>
/// <param name="OverdraftLimit">Major units, ≥ 0.</param>
/// <param name="Version">The account stream's version (number of events).</param>
/// <param name="OpenedAt">When the account was opened (UTC).</param>
/// <param name="LastActivityAt">Time of the last posting or lifecycle change (UTC); postings are never back-dated before it.</param>
/// <param name="Held">Major units reserved by open holds (an initiated outgoing payment); already taken off <paramref name="Available"/>.</param>
public sealed record Account(
    string AccountId, string Owner, string Currency, AccountKind Kind, AccountStatus Status,
    decimal Balance, decimal? Available, decimal OverdraftLimit, long Version, DateTimeOffset? OpenedAt, DateTimeOffset? LastActivityAt,
    decimal Held = 0m);

/// <summary>One account after a posting.</summary>
/// <param name="AccountId">The account id.</param>
/// <param name="Balance">Balance after the posting, major units.</param>
/// <param name="Available">Available after the posting (null: no floor).</param>
/// <param name="Status">Status after the posting.</param>
public sealed record AccountSummary(string AccountId, decimal Balance, decimal? Available, AccountStatus Status);

/// <summary>The answer to a deposit, withdrawal, transfer or reversal.</summary>
/// <param name="PostingId">The posting's id (a UUIDv7 string); reverse it with <see cref="AccountsClient.ReverseAsync"/>.</param>
/// <param name="ReversalOf">For a reversal: the posting it charges back.</param>
/// <param name="Accounts">Both accounts after the posting (debit leg and credit leg).</param>
public sealed record PostingResult(string PostingId, string? ReversalOf, IReadOnlyList<AccountSummary> Accounts);

/// <summary>Balance of an account now or as of an instant.</summary>
/// <param name="AccountId">The account id.</param>
/// <param name="Currency">ISO 4217 code.</param>
/// <param name="Balance">Major units, including every posting that occurred at or before <paramref name="At"/>.</param>
/// <param name="At">The instant asked for (UTC), or null for now.</param>
/// <param name="Version">Stream version the answer reflects.</param>
/// <param name="Source">Who answered: <c>aggregate</c> (now), <c>statement</c> (read model index) or <c>events</c> (replay).</param>
/// <param name="FromSnapshot">For <c>events</c>: the version of the kept snapshot the replay started from; null when it started at the first event.</param>
public sealed record AccountBalance(string AccountId, string Currency, decimal Balance, DateTimeOffset? At, long Version, string Source, long? FromSnapshot = null);

/// <summary>One posting leg on an account's statement (read model <c>account_statement</c>).</summary>
/// <param name="Version">The account stream's version of this leg; pages are ordered by it.</param>
/// <param name="GlobalPosition">Position in the global event log.</param>
/// <param name="PostingId">The posting id.</param>
/// <param name="Kind">Deposit, Withdrawal, Transfer, Reversal, …</param>
/// <param name="Counterparty">The other leg's account id.</param>
/// <param name="Reference">Free text of the posting.</param>
/// <param name="ReversalOf">For a reversal leg: the posting it charges back.</param>
/// <param name="Amount">Signed major units: positive credits, negative debits this account.</param>
/// <param name="BalanceAfter">Running balance after this leg, major units.</param>
/// <param name="OccurredAt">When the posting happened (UTC).</param>
public sealed record StatementLine(
    long Version, long GlobalPosition, string PostingId, string Kind, string Counterparty, string? Reference, string? ReversalOf,
    decimal Amount, decimal BalanceAfter, DateTimeOffset OccurredAt);

/// <summary>A page of a statement.</summary>
/// <param name="AccountId">The account id.</param>
/// <param name="Lines">Up to the requested limit of lines, ordered by version.</param>
/// <param name="NextAfterVersion">Pass as <c>afterVersion</c> for the next page; null on the last page.</param>
public sealed record StatementPage(string AccountId, IReadOnlyList<StatementLine> Lines, long? NextAfterVersion);

/// <summary>One stored event of a stream with its metadata and hash chain (the audit view).</summary>
/// <param name="GlobalPosition">Position in the global log.</param>
/// <param name="Version">Version within its stream (1-based).</param>
/// <param name="EventType">Stored event name, e.g. <c>AccountOpened</c>, <c>Debited</c>, <c>DealFunded</c>.</param>
/// <param name="SchemaVersion">Schema version of <paramref name="Data"/>.</param>
/// <param name="Data">The event's JSON payload.</param>
/// <param name="Metadata">Event id, correlation and causation ids, actor, tenant, idempotency key.</param>
/// <param name="OccurredAt">Business time (UTC).</param>
/// <param name="RecordedAt">Commit time (UTC).</param>
/// <param name="PrevHash">SHA-256 of the previous event of the stream, lower-case hex.</param>
/// <param name="Hash">SHA-256 of this event chained to <paramref name="PrevHash"/>, lower-case hex.</param>
public sealed record StreamEvent(
    long GlobalPosition, long Version, string EventType, int SchemaVersion, JsonElement Data, JsonElement Metadata,
    DateTimeOffset OccurredAt, DateTimeOffset RecordedAt, string PrevHash, string Hash);
