using Escrow.Domain;
using Escrow.Domain.Deals;
using Escrow.EventStore;
using Escrow.Grains;
using Escrow.Silo.Hosting;
using Escrow.Silo.Ledger;

namespace Escrow.Silo.Deals;

/// <summary>
/// The command path of escrow deals: the HTTP frontend and the expiry timer call <see cref="ExecuteAsync"/>, which sends the
/// command to the deal's <see cref="IDealGrain"/> (Orleans routes it to the grain's one activation in the cluster) and turns
/// its domain result into the answer the API sends. Deal ids are per institution: grains are keyed <c>{tenant}/{dealId}</c>
/// and streams are <c>deal-{tenant}/{dealId}</c>.
/// </summary>
public sealed class DealService(IGrainFactory grains, PgEventStore store, Dashboard.EscrowMetrics metrics)
{
    /// <summary>The deal's own escrow account id: <c>escrow-{dealId}</c>, an internal ledger account.</summary>
    public static string EscrowAccountOf(string dealId) => LedgerService.EscrowAccountPrefix + dealId;

    /// <summary>
    /// Runs a deal command. <see cref="LedgerService.Now"/> as the command's <c>At</c> means "now", stamped in the deal's turn
    /// as max(clock, last activity of the deal and its accounts). Answers 201 (create) / 200 with the deal, or the rejection
    /// (404 for an unknown deal or account, 409 otherwise).
    /// </summary>
    /// <param name="command">The deal command; <c>At</c> = <see cref="LedgerService.Now"/> for "now".</param>
    /// <param name="context">Caller, tenant and idempotency key.</param>
    /// <param name="ct">Cancellation of the wait (the command itself runs to its outcome).</param>
    /// <param name="refusal">A rule the caller decided against the command before it (a deal template's currency and
    /// amount range): answered, audited and remembered under the idempotency key like the aggregate's own refusals.</param>
    public async Task<CommandOutcome> ExecuteAsync(DealCommand command, CommandContext context, CancellationToken ct, Rejection? refusal = null)
    {
        if (context.Operation is null) context = context with { Operation = command.GetType().Name };   // the audit log's name
        var call = context.ToCall();
        return await metrics.RecordAsync(Deal.StreamType, context.Operation, async () => CommandAnswers.ToOutcome(
            await GrainCalls.RetryAsync(() => grains.GetGrain<IDealGrain>(GrainKeys.Of(context.Tenant, command.DealId)).Execute(command, call, refusal), ct).ConfigureAwait(false))).ConfigureAwait(false);
    }

    /// <summary>Deal <paramref name="dealId"/> of <paramref name="tenant"/> now (through its grain, which first reads its stream's tail), or null.</summary>
    public async Task<DealView?> GetAsync(string tenant, string dealId, CancellationToken ct)
    {
        var s = await GrainCalls.RetryAsync(() => grains.GetGrain<IDealGrain>(GrainKeys.Of(tenant, dealId)).GetState(true), ct).ConfigureAwait(false);
        return s.State.Exists ? DealView.From(s.State, s.Version) : null;
    }

    /// <summary>The deal as of an instant, by replaying its stream up to <paramref name="at"/> (occurred_at, inclusive).</summary>
    public async Task<DealView?> GetAsOfAsync(string tenant, string dealId, DateTimeOffset at, CancellationToken ct)
    {
        var (deal, version) = await StreamReplay.ReplayAsync(store, DealStreams.StreamId(tenant, dealId), DealState.Empty(dealId), Deal.Evolve, at, ct).ConfigureAwait(false);
        return deal.Exists ? DealView.From(deal, version) : null;
    }
}
