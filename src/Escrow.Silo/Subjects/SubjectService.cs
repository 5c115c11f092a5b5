using Escrow.Domain.Deals;
using Escrow.Domain.Subjects;
using Escrow.EventStore;
using Escrow.Grains;
using Escrow.Silo.Hosting;

namespace Escrow.Silo.Subjects;

/// <summary>
/// The command path of data subjects (legal holds, erasure): sends each command to the subject's <see cref="ISubjectGrain"/>
/// and turns its result into the answer the API sends. Before an erasure it looks up the deals that name the subject and
/// are in dispute now (asking each deal's grain, not a read model), which the subject aggregate refuses to erase under.
/// </summary>
public sealed class SubjectService(IGrainFactory grains, PgEventStore store)
{
    /// <summary>Runs a subject command: 200 with the subject, or the rejection (409).</summary>
    public async Task<CommandOutcome> ExecuteAsync(SubjectCommand command, CommandContext context, CancellationToken ct)
    {
        if (context.Operation is null) context = context with { Operation = command.GetType().Name };
        if (command is EraseSubject erase)
            command = erase with { OpenDisputes = await OpenDisputesAsync(context.Tenant, command.Subject, ct).ConfigureAwait(false) };
        var call = context.ToCall();
        return CommandAnswers.ToOutcome(await GrainCalls.RetryAsync(
            () => grains.GetGrain<ISubjectGrain>(GrainKeys.Of(context.Tenant, command.Subject)).Execute(command, call), ct).ConfigureAwait(false));
    }

    /// <summary>The subject now.</summary>
    public Task<SubjectView> GetAsync(string tenant, string subject, CancellationToken ct) =>
        GrainCalls.RetryAsync(() => grains.GetGrain<ISubjectGrain>(GrainKeys.Of(tenant, subject)).Get(), ct);

    /// <summary>
    /// Ids of <paramref name="tenant"/>'s deals that name <paramref name="subject"/> and are disputed now (read from each deal's
    /// grain). A deal names its subjects in <see cref="DealCreated"/>; one created before deals named them names its buyer's
    /// and seller's default subjects (<c>account:{id}</c>); a deal created in an archived month is found by the snapshot the
    /// archive step kept at its head. Scans the deals' creation events: erasures are rare.
    /// </summary>
    public async Task<IReadOnlyList<string>> OpenDisputesAsync(string tenant, string subject, CancellationToken ct)
    {
        await using var cmd = store.DataSource.CreateCommand("""
            SELECT stream_id FROM events
            WHERE event_type = 'DealCreated' AND stream_id LIKE $1
              AND (data -> 'subjects' ? $2
                   OR (NOT data ? 'subjects' AND $2 IN ('account:' || (data ->> 'buyerAccount'), 'account:' || (data ->> 'sellerAccount'))))
            UNION
            SELECT stream_id FROM snapshots WHERE stream_id LIKE $1 AND state -> 'subjects' ? $2
            """);
        cmd.Parameters.Add(new() { Value = DealStreams.StreamId(tenant, "%") });
        cmd.Parameters.Add(new() { Value = subject });
        var deals = new List<string>();
        await using (var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false))
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
                if (DealStreams.TryDealId(reader.GetString(0), out var id)) deals.Add(id);
        var disputed = new List<string>();
        foreach (var id in deals)
        {
            var deal = await GrainCalls.RetryAsync(() => grains.GetGrain<IDealGrain>(GrainKeys.Of(tenant, id)).GetState(true), ct).ConfigureAwait(false);
            if (deal.State.Status == DealStatus.Disputed) disputed.Add(id);
        }
        return disputed;
    }
}
