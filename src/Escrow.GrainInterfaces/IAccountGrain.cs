using Escrow.Domain.Accounts;
using Orleans.Concurrency;

namespace Escrow.Grains;

/// <summary>
/// One ledger account: a journaled grain over the account's stream in the PostgreSQL event log, keyed by the account id.
/// Its one activation in the cluster decides the account's own commands and every posting (or reversal) between it and an
/// account whose id sorts after it (ordinal), and commits the events of both accounts in one PostgreSQL transaction, with
/// each stream's expected version. Send a command to the grain the silo's <c>AccountGrain.ExecutorOf</c> names.
/// </summary>
public interface IAccountGrain : IGrainWithStringKey
{
    /// <summary>
    /// Decides and commits <paramref name="command"/> (its <c>At</c> = <see cref="DateTimeOffset.MinValue"/> means "now", stamped
    /// in the turn as max(clock, last activity of every touched account)). Refusals: every rule of <see cref="Account.Decide"/>,
    /// <c>escrow_account_protected</c> for a deal's escrow account unless <paramref name="allowEscrowAccounts"/>, a
    /// <c>*_not_found</c> for another tenant's account when the call is tenant-scoped, <c>concurrency_conflict</c> after the
    /// configured number of lost races, <c>idempotency_key_reused</c>. Throws when PostgreSQL cannot be reached: then nothing
    /// was acknowledged, and whether the transaction committed is unknown until the key is retried.
    /// </summary>
    Task<CommandResult<AccountAnswer>> Execute(AccountCommand command, CommandCall call, bool allowEscrowAccounts);

    /// <summary>
    /// Runs a posting that the grain of its other account handed over after losing a race on this account's stream (that
    /// grain waits for the answer): decided and committed here exactly as <see cref="Execute"/> would, in this grain's turns,
    /// so it no longer races this account's other writers. Not for clients: send commands to <see cref="Execute"/>.
    /// </summary>
    Task<CommandResult<AccountAnswer>> TakeOver(AccountCommand command, CommandCall call, bool allowEscrowAccounts);

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
