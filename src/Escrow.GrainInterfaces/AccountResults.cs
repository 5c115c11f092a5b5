using Escrow.Domain.Accounts;

namespace Escrow.Grains;

/// <summary>
/// An account now. Amounts in major units of <see cref="Currency"/> (ISO 4217): <see cref="Held"/> is the sum of open holds
/// (pending debits, e.g. initiated payments), <see cref="Available"/> = balance − held − floor (null for accounts without a
/// floor). <see cref="Version"/> counts the events of the account's stream.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record AccountView(
    [property: Id(0)] string AccountId, [property: Id(1)] string Owner, [property: Id(2)] string Currency, [property: Id(3)] AccountKind Kind,
    [property: Id(4)] AccountStatus Status, [property: Id(5)] decimal Balance, [property: Id(6)] decimal? Available,
    [property: Id(7)] decimal OverdraftLimit, [property: Id(8)] long Version, [property: Id(9)] DateTimeOffset? OpenedAt,
    [property: Id(10)] DateTimeOffset? LastActivityAt, [property: Id(11)] decimal Held = 0)
{
    /// <summary>The view of an account state <paramref name="s"/> at stream version <paramref name="version"/>.</summary>
    public static AccountView From(AccountState s, long version) => new(
        s.AccountId, s.Owner, s.Currency, s.Kind, s.Status, s.Balance, s.Available, s.OverdraftLimit, version, s.OpenedAt, s.LastActivityAt, s.Held);
}

/// <summary>The answer to a posting (transfer, deposit, withdrawal, reversal): its id and both accounts after it.</summary>
[GenerateSerializer, Immutable]
public sealed record PostingResult(
    [property: Id(0)] string PostingId, [property: Id(1)] string? ReversalOf, [property: Id(2)] IReadOnlyList<AccountSummary> Accounts);

/// <summary>One account of a posting after it (amounts in major units).</summary>
[GenerateSerializer, Immutable]
public sealed record AccountSummary(
    [property: Id(0)] string AccountId, [property: Id(1)] decimal Balance, [property: Id(2)] decimal? Available, [property: Id(3)] AccountStatus Status);

/// <summary>What an accepted account command yields: the account (open, freeze, hold, …) or the posting (exactly one is set).</summary>
[GenerateSerializer, Immutable]
public sealed record AccountAnswer([property: Id(0)] AccountView? Account, [property: Id(1)] PostingResult? Posting)
{
    /// <summary>The one view that is set, as the API answers it.</summary>
    public object Body => (object?)Posting ?? Account!;
}
