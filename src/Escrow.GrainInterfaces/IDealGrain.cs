using Escrow.Domain;
using Escrow.Domain.Deals;
using Orleans.Concurrency;
using Escrow.Domain.Accounts;

namespace Escrow.Grains;

/// <summary>
/// One escrow deal: a journaled grain over the deal's stream in the PostgreSQL event log, keyed <c>{institution}/{dealId}</c>. Decides
/// every command of the deal with <see cref="Deal.Decide"/> and commits the deal event, the posting legs on the buyer's,
/// seller's and escrow accounts and the deal's expiry timer in one PostgreSQL transaction, with each stream's expected
/// version; the accounts are read from their grains with an interleaving call.
/// </summary>
public interface IDealGrain : IGrainWithStringKey
{
    /// <summary>
    /// Decides and commits <paramref name="command"/> (its <c>At</c> = <see cref="DateTimeOffset.MinValue"/> means "now",
    /// stamped in the turn as max(clock, last activity of the deal and its accounts)). <paramref name="refusal"/> is a rule the
    /// caller already decided against the command (a deal template's currency or amount range): it is answered, audited and
    /// stored under the idempotency key like the aggregate's own refusals, unless the key already holds an answer.
    /// Refusals: every rule of <see cref="Deal.Decide"/> (<see cref="DealRejectionCodes"/> and the ledger's
    /// <see cref="AccountRejectionCodes"/>), <c>deal_not_found</c> when the call acts for
    /// another institution than the grain's, <c>concurrency_conflict</c>, <c>idempotency_key_reused</c>. Throws
    /// when PostgreSQL cannot be reached (nothing acknowledged).
    /// </summary>
    Task<CommandResult<DealView>> Execute(DealCommand command, CommandCall call, Rejection? refusal);

    /// <summary>
    /// What the deal's expiry reminder does at each tick (the deal grain registers it before its create commits and removes it
    /// once the deal can no longer expire): re-reads the deal; if its expiry is due by the ledger clock, runs <c>ExpireDeal</c>
    /// under the idempotency key <c>timer:deal-expiry:{tenant}/{dealId}</c> and answers its result (a tick repeated after a
    /// crash or on another silo replays that answer); if the expiry lies ahead, registers the reminder for it and answers null;
    /// if the deal cannot expire, removes the reminder and answers null. Operators and tests driven by a fake clock call it
    /// directly: the reminder ticks by real time, which such a clock does not follow.
    /// </summary>
    Task<CommandResult<DealView>?> ExpireIfDue();

    /// <summary>The deal's confirmed state; with <paramref name="refresh"/> the grain first reads its stream's tail.</summary>
    [AlwaysInterleave]
    Task<StreamSnapshot<DealState>> GetState(bool refresh);
}
