using Escrow.Projections;
using Escrow.Testing;
using Npgsql;

namespace Escrow.EventStore.Tests;

/// <summary>
/// The projection grains get the log in batches from an Orleans stream, which may lose a batch (given up after its retries),
/// repeat one (redelivered after a timeout) or bring one late (a queue that moved silos). <see cref="ProjectionRunner.ApplyDeliveredAsync"/>
/// applies a batch only from the checkpoint on, so every event of the log is applied exactly once whatever order they come in.
/// </summary>
public class DeliveredBatchTests(PgDatabase db) : IClassFixture<PgDatabase>
{
    private sealed class Recording(string name) : IProjection
    {
        public readonly List<StoredEvent> Seen = [];
        public bool FailNext;
        public string Name => name;
        public Task ApplyAsync(NpgsqlConnection c, NpgsqlTransaction t, IReadOnlyList<StoredEvent> events, CancellationToken ct)
        {
            if (FailNext)
            {
                FailNext = false;
                throw new InvalidOperationException("the read model's write failed");
            }
            Seen.AddRange(events);
            return Task.CompletedTask;
        }
        public Task ResetAsync(NpgsqlConnection c, NpgsqlTransaction t, CancellationToken ct) => Task.CompletedTask;
    }

    private sealed record Batch(GlobalCheckpoint From, GlobalCheckpoint To, List<StoredEvent> Events);

    /// <summary>Appends <paramref name="n"/> events and cuts the whole log (every test's events) into three consecutive batches.</summary>
    private async Task<(List<StoredEvent> All, Batch[] Batches)> LogInThreeBatchesAsync(int n)
    {
        var run = Guid.NewGuid().ToString("N")[..8];
        var ids = new List<Guid>();
        for (var i = 0; i < n; i++) ids.Add(await TestLog.AppendAsync(db, $"delivered-{run}-{i}"));
        var all = new List<StoredEvent>();
        var cp = GlobalCheckpoint.Start;
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!ids.All(id => all.Any(e => TestLog.IdOf(e) == id)) && DateTime.UtcNow < deadline)
        {
            var page = await db.Store.ReadAllAsync(cp, 1000, default);
            all.AddRange(page);
            if (page.Count > 0) cp = page[^1].Checkpoint; else await Task.Delay(10);
        }
        var (k1, k2) = (all.Count / 3, 2 * all.Count / 3);
        Batch Cut(int from, int to) => new(from == 0 ? GlobalCheckpoint.Start : all[from - 1].Checkpoint, all[to - 1].Checkpoint, all[from..to]);
        return (all, [Cut(0, k1), Cut(k1, k2), Cut(k2, all.Count)]);
    }

    private static Task<DeliveryOutcome> DeliverAsync(ProjectionRunner runner, Batch b) =>
        runner.ApplyDeliveredAsync(b.From, b.To, b.Events.Count, b.Events, TimeSpan.FromSeconds(30), default);

    [Fact]
    public async Task Batches_lost_repeated_and_late_still_apply_every_event_exactly_once_in_commit_order()
    {
        var (all, b) = await LogInThreeBatchesAsync(12);
        var projection = new Recording($"delivered-{Guid.NewGuid():N}"[..24]);
        // Batch size 1: reading a gap from the log stops exactly at the end of the batch that revealed it.
        var runner = new ProjectionRunner(db.Store, projection, new ProjectionRunnerOptions { BatchSize = 1 });

        // The first batch is lost: the second reveals the gap, and the runner reads it from the log.
        Assert.Equal(DeliveryOutcome.CaughtUpFromLog, await DeliverAsync(runner, b[1]));
        Assert.Equal(b[1].To, await runner.CheckpointAsync(default));
        // The lost batch arrives late, and the second comes again: both were applied already.
        Assert.Equal(DeliveryOutcome.AlreadyApplied, await DeliverAsync(runner, b[0]));
        Assert.Equal(DeliveryOutcome.AlreadyApplied, await DeliverAsync(runner, b[1]));
        // The third starts at the checkpoint: applied as delivered.
        Assert.Equal(DeliveryOutcome.Applied, await DeliverAsync(runner, b[2]));

        Assert.Equal(all.Select(TestLog.IdOf), projection.Seen.Select(TestLog.IdOf));
        Assert.Equal(all.Count, await db.ScalarAsync<long>($"SELECT events_applied FROM projection_checkpoints WHERE projection = '{projection.Name}'"));
    }

    [Fact]
    public async Task A_batch_whose_apply_fails_leaves_the_checkpoint_and_applies_whole_when_delivered_again()
    {
        var (all, b) = await LogInThreeBatchesAsync(6);
        var projection = new Recording($"delivered-{Guid.NewGuid():N}"[..24]);
        var runner = new ProjectionRunner(db.Store, projection, new ProjectionRunnerOptions());

        Assert.Equal(DeliveryOutcome.Applied, await DeliverAsync(runner, b[0]));
        projection.FailNext = true;
        await Assert.ThrowsAsync<InvalidOperationException>(() => DeliverAsync(runner, b[1]));
        Assert.Equal(b[0].To, await runner.CheckpointAsync(default));
        // The stream retries the delivery: the same batch now applies from the unchanged checkpoint.
        Assert.Equal(DeliveryOutcome.Applied, await DeliverAsync(runner, b[1]));
        Assert.Equal(DeliveryOutcome.Applied, await DeliverAsync(runner, b[2]));
        Assert.Equal(all.Select(TestLog.IdOf), projection.Seen.Select(TestLog.IdOf));
    }
}
