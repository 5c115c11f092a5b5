using Escrow.Domain.Accounts;
using Orleans.Concurrency;

namespace Escrow.Grains;

/// <summary>
/// One ledger account: a journaled grain over the account's stream in the PostgreSQL event log, keyed <c>{institution}/{accountId}</c>
/// (<see cref="GrainKeys"/>); the account ids in its commands are of the same institution.
/// A posting (or reversal) between two accounts is sent to the grain of the account whose id sorts first (ordinal; the
/// silo's <c>AccountGrain.ExecutorOf</c>), which has the other account's grain decide and commit it (<see cref="CoSign"/>);
/// both accounts' events commit in one PostgreSQL transaction, with each stream's expected version.
/// </summary>
public interface IAccountGrain : IGrainWithStringKey
{
    /// <summary>
    /// Decides and commits <paramref name="command"/> (its <c>At</c> = <see cref="DateTimeOffset.MinValue"/> means "now", stamped
    /// in the turn as max(clock, last activity of every touched account)). Refusals: every rule of <see cref="Account.Decide"/>,
    /// <c>escrow_account_protected</c> for a deal's escrow account unless <paramref name="allowEscrowAccounts"/>, a
    /// <c>*_not_found</c> when the call acts for another institution than the grain's, <c>concurrency_conflict</c> after the
    /// configured number of lost races, <c>idempotency_key_reused</c>. Throws when PostgreSQL cannot be reached: then nothing
    /// was acknowledged, and whether the transaction committed is unknown until the key is retried.
    /// </summary>
    Task<CommandResult<AccountAnswer>> Execute(AccountCommand command, CommandCall call, bool allowEscrowAccounts);

    /// <summary>
    /// Decides and commits a posting between this account and the calling grain's account (whose id sorts before this one),
    /// in this grain's turn, while the caller's turn waits: <paramref name="caller"/> is the caller's state, fresh because
    /// nothing else writes its stream meanwhile. Returns the result and the caller's state after the commit (null when nothing
    /// was written to it). Grains call this; clients send commands to <see cref="Execute"/>.
    /// </summary>
    Task<CoSigned> CoSign(AccountCommand command, CommandCall call, bool allowEscrowAccounts, StreamSnapshot<AccountState> caller);

    /// <summary>
    /// The account's confirmed state. With <paramref name="refresh"/> the grain first reads its stream's tail (events another
    /// grain appended for it). Interleaves with a running command, so grains that read each other never deadlock.
    /// </summary>
    [AlwaysInterleave]
    Task<StreamSnapshot<AccountState>> GetState(bool refresh);

    /// <summary>Tells the grain that another grain committed events to its stream up to <paramref name="version"/>.</summary>
    [OneWay]
    Task Appended(long version);
}

/// <summary>A posting decided by <see cref="IAccountGrain.CoSign"/>: its result and the calling account's state after it.</summary>
[GenerateSerializer, Immutable]
public sealed record CoSigned([property: Id(0)] CommandResult<AccountAnswer> Result, [property: Id(1)] StreamSnapshot<AccountState>? Caller);
