using System.Diagnostics;
using Escrow.EventStore;
using Escrow.Grains;
using Escrow.Projections;
using Escrow.Silo.Projections;
using Microsoft.Extensions.Options;
using Orleans.Placement;
using Orleans.Streams;
using Orleans.Streams.Core;

namespace Escrow.Silo.Grains;

/// <summary>
/// Keeps one read model (<see cref="IProjectionGrain"/>; key = the projection's name) from the batches of the event-log
/// stream (<see cref="EventLogStreams"/>), to which it is implicitly subscribed. Each batch goes through
/// <see cref="ProjectionRunner.ApplyDeliveredAsync"/>: applied with the checkpoint in one transaction if it starts at the
/// checkpoint, skipped if already applied, and a gap (a batch given up, a reset read model) filled from the log, so the
/// read model never misses or doubles an event whatever the stream does. Placed on the silo whose pulling agent
/// activates it (the batch does not cross the network); it keeps nothing in memory that the database does not hold.
/// </summary>
[ImplicitStreamSubscription(EventLogStreams.Namespace)]
[PreferLocalPlacement]
public sealed class ProjectionGrain(PgEventStore store, IOptions<SiloOptions> options, ILogger<ProjectionGrain> logger)
    : Grain, IProjectionGrain, IStreamSubscriptionObserver, IAsyncObserver<LogBatch>
{
    /// <summary>Most time one delivery spends reading a gap from the log; the rest is read at the next batch or heartbeat.</summary>
    private static readonly TimeSpan GapBudget = TimeSpan.FromSeconds(5);

    private ProjectionRunner? _runner;

    private ProjectionRunner Runner => _runner ??= new ProjectionRunner(store,
        ProjectionCatalog.All().FirstOrDefault(p => p.Name == this.GetPrimaryKeyString())
            ?? throw new InvalidOperationException($"no projection is named '{this.GetPrimaryKeyString()}'"),
        new ProjectionRunnerOptions { BatchSize = options.Value.ProjectionBatchSize });

    public async Task OnSubscribed(IStreamSubscriptionHandleFactory handleFactory) =>
        await handleFactory.Create<LogBatch>().ResumeAsync(this);

    public async Task OnNextAsync(LogBatch batch, StreamSequenceToken? token = null)
    {
        var start = Stopwatch.GetTimestamp();
        var outcome = await Runner.ApplyDeliveredAsync(batch.From.Checkpoint, batch.To.Checkpoint, batch.Scanned, batch.Events, GapBudget, CancellationToken.None);
        if (outcome == DeliveryOutcome.CaughtUpFromLog)
            logger.LogInformation("projection {Projection}: a batch did not start at the checkpoint; read the log up to {To} in {Ms} ms",
                Runner.Projection.Name, batch.To, (long)Stopwatch.GetElapsedTime(start).TotalMilliseconds);
    }

    public Task OnCompletedAsync() => Task.CompletedTask;

    public Task OnErrorAsync(Exception ex)
    {
        logger.LogWarning(ex, "projection {Projection}: the stream reported an error", this.GetPrimaryKeyString());
        return Task.CompletedTask;
    }
}
