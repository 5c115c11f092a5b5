namespace Escrow.Domain.Accounts;

/// <summary>A command on the ledger. <see cref="Streams"/> names every account stream it reads and may write.</summary>
public abstract record AccountCommand(DateTimeOffset At)
{
    public abstract IReadOnlyList<string> Streams { get; }
}

/// <summary>
/// Open an account. <paramref name="Currency"/> is an ISO 4217 code; <paramref name="OverdraftLimit"/> ≥ 0, major units.
/// <paramref name="Subject"/> is the data subject whose key seals <paramref name="Owner"/> (the host seals it before deciding;
/// null for accounts whose owner is not a person: the institution's own, a deal's escrow account).
/// </summary>
public sealed record OpenAccount(
    string AccountId, string Owner, string Currency, AccountKind Kind, decimal OverdraftLimit, DateTimeOffset At, string? Subject = null)
    : AccountCommand(At)
{
    public override IReadOnlyList<string> Streams => [AccountId];
}

/// <summary>
/// Move <paramref name="Amount"/> (major units, positive) from <paramref name="DebitAccount"/> to
/// <paramref name="CreditAccount"/>. Deposits, withdrawals and transfers are all postings: a deposit
/// debits the operator's cash (or clearing) account, a withdrawal credits it, so every currency sums to zero.
/// With <paramref name="HoldId"/> the debit captures that open hold of the debit account (same amount): the money
/// reserved by <see cref="PlaceHold"/> is now debited, even if the account was frozen since the hold was placed.
/// </summary>
public sealed record Post(
    string PostingId, string DebitAccount, string CreditAccount, decimal Amount, string Currency,
    PostingKind Kind, string? Reference, DateTimeOffset At, string? HoldId = null)
    : AccountCommand(At)
{
    public override IReadOnlyList<string> Streams => [DebitAccount, CreditAccount];
}

/// <summary>What the host found in the log about the posting to reverse.</summary>
public sealed record PostingRecord(
    string PostingId, string DebitAccount, string CreditAccount, decimal Amount, string Currency, string? ReversalOf);

/// <summary>
/// Reverse (charge back) posting <paramref name="PostingId"/> as seen from <paramref name="AccountId"/>,
/// one of its two accounts: a new posting <paramref name="ReversalPostingId"/> moves the same amount back.
/// <paramref name="Original"/> is filled by the host from the log (<c>null</c> when no such posting exists).
/// </summary>
public sealed record ReversePosting(
    string AccountId, string PostingId, string ReversalPostingId, PostingRecord? Original, string? Reason, DateTimeOffset At)
    : AccountCommand(At)
{
    public override IReadOnlyList<string> Streams =>
        // The asking account is read too (to refuse a posting that is not its own), so it is always named.
        Original is null ? [AccountId] : new[] { AccountId, Original.DebitAccount, Original.CreditAccount }.Distinct().ToArray();
}

public sealed record FreezeAccount(string AccountId, string? Reason, DateTimeOffset At) : AccountCommand(At)
{
    public override IReadOnlyList<string> Streams => [AccountId];
}

public sealed record UnfreezeAccount(string AccountId, string? Reason, DateTimeOffset At) : AccountCommand(At)
{
    public override IReadOnlyList<string> Streams => [AccountId];
}

public sealed record CloseAccount(string AccountId, DateTimeOffset At) : AccountCommand(At)
{
    public override IReadOnlyList<string> Streams => [AccountId];
}

/// <summary>
/// Reserve <paramref name="Amount"/> (major units, positive, <paramref name="Currency"/> = the account's) on
/// <paramref name="AccountId"/> under <paramref name="HoldId"/>: a pending debit that counts against the available
/// balance at once (docs/http-api.md, ledger rules). Refused like a debit: <c>insufficient_funds</c>, <c>account_frozen</c>,
/// <c>account_closed</c>; a second hold with the same id is <c>hold_exists</c>.
/// </summary>
public sealed record PlaceHold(string AccountId, string HoldId, decimal Amount, string Currency, string? Reference, DateTimeOffset At)
    : AccountCommand(At)
{
    public override IReadOnlyList<string> Streams => [AccountId];
}

/// <summary>Void open hold <paramref name="HoldId"/> of <paramref name="AccountId"/> (<c>hold_not_found</c> when there is none).</summary>
public sealed record ReleaseHold(string AccountId, string HoldId, string? Reason, DateTimeOffset At) : AccountCommand(At)
{
    public override IReadOnlyList<string> Streams => [AccountId];
}
