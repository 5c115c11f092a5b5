using Escrow.EventStore;
using Escrow.Projections;
using Escrow.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace Escrow.EventStore.Tests;

/// <summary>
/// A projection that declares <see cref="IProjection.StreamPrefixes"/> reads the same commit-safe log, but only its
/// streams' events come back with their data; the others only move its checkpoint.
/// </summary>
public class FilteredReadTests : IClassFixture<PgDatabase>
{
    private readonly PgDatabase _db;
    public FilteredReadTests(PgDatabase db) => _db = db;

    private sealed class Recording(string name, IReadOnlyList<string> prefixes) : IProjection
    {
        public readonly List<StoredEvent> Seen = [];
        public string Name => name;
        public IReadOnlyList<string>? StreamPrefixes => prefixes;
        public Task ApplyAsync(NpgsqlConnection c, NpgsqlTransaction t, IReadOnlyList<StoredEvent> events, CancellationToken ct)
        {
            Seen.AddRange(events);
            return Task.CompletedTask;
        }
        public Task ResetAsync(NpgsqlConnection c, NpgsqlTransaction t, CancellationToken ct) => Task.CompletedTask;
    }

    private Task<Guid> AppendAsync(string stream) => TestLog.AppendAsync(_db, stream);

    private async Task<(NpgsqlConnection, NpgsqlTransaction)> BeginAsync()
    {
        var conn = await _db.DataSource.OpenConnectionAsync();
        return (conn, await conn.BeginTransactionAsync());
    }

    [Fact]
    public async Task Only_matching_streams_come_back_whole_and_the_checkpoint_passes_every_scanned_event()
    {
        var run = Guid.NewGuid().ToString("N")[..8];
        // '_' is a LIKE wildcard: the prefix "fx_a-" must not match "fxza-".
        var streams = new[] { $"fx_a-{run}-1", $"fxza-{run}-2", $"other-{run}-3", $"fx_a-{run}-4", $"fxza-{run}-5" };
        var start = await HeadAsync();
        var ids = new List<Guid>();
        foreach (var s in streams) ids.Add(await AppendAsync(s));

        // Every event of ours, as the unfiltered reader sees it (polled: the horizon is cluster-wide).
        var all = new List<StoredEvent>();
        var cp = start;
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (all.Count(e => e.StreamId.Contains(run, StringComparison.Ordinal)) < streams.Length && DateTime.UtcNow < deadline)
        {
            var page = await _db.Store.ReadAllAsync(cp, 100, default);
            all.AddRange(page);
            if (page.Count > 0) cp = page[^1].Checkpoint; else await Task.Delay(10);
        }
        Assert.Equal(streams, all.Where(e => e.StreamId.Contains(run, StringComparison.Ordinal)).Select(e => e.StreamId));

        var (conn, tx) = await BeginAsync();
        await using (conn)
        {
            var (events, last, scanned) = await _db.Store.ReadAllAsync(start, all.Count, ["fx_a-"], conn, tx, default);
            Assert.Equal(all.Count, scanned);
            Assert.Equal(all[^1].Checkpoint, last);
            Assert.Equal(all.Where(e => e.StreamId.StartsWith("fx_a-", StringComparison.Ordinal)).Select(e => e.GlobalPosition),
                events.Select(e => e.GlobalPosition));
            Assert.Equal([ids[0], ids[3]], events.Where(e => e.StreamId.Contains(run, StringComparison.Ordinal)).Select(IdOf));
            // The matching events are whole: the same row as the unfiltered read.
            foreach (var e in events)
            {
                var same = all.Single(a => a.GlobalPosition == e.GlobalPosition);
                Assert.Equal(same.DataJson, e.DataJson);
                Assert.Equal(same.MetadataJson, e.MetadataJson);
                Assert.Equal(same.Hash, e.Hash);
            }

            // Two prefixes; a page that ends on a non-matching event still moves Last to it.
            var (two, lastTwo, scannedTwo) = await _db.Store.ReadAllAsync(start, all.Count - 1, ["fx_a-", "other-"], conn, tx, default);
            Assert.Equal(all.Count - 1, scannedTwo);
            Assert.Equal(all[^2].Checkpoint, lastTwo);
            Assert.Equal(all.Take(all.Count - 1).Where(e => e.StreamId.StartsWith("fx_a-", StringComparison.Ordinal) || e.StreamId.StartsWith("other-", StringComparison.Ordinal))
                .Select(e => e.GlobalPosition), two.Select(e => e.GlobalPosition));

            // Nothing beyond the head: nothing scanned, Last stays put.
            var (none, lastNone, scannedNone) = await _db.Store.ReadAllAsync(all[^1].Checkpoint, 10, ["fx_a-"], conn, tx, default);
            Assert.Equal(0, scannedNone);
            Assert.Empty(none);
            Assert.Equal(all[^1].Checkpoint, lastNone);
            await tx.RollbackAsync();
        }
    }

    [Fact]
    public async Task A_runner_with_stream_prefixes_applies_only_its_streams_and_reaches_the_head()
    {
        var run = Guid.NewGuid().ToString("N")[..8];
        var mine = new[] { $"mine-{run}-1", $"mine-{run}-2", $"mine-{run}-3" };
        var ids = new List<Guid>();
        for (var i = 0; i < mine.Length; i++)
        {
            await AppendAsync($"theirs-{run}-{i}a");
            ids.Add(await AppendAsync(mine[i]));
            await AppendAsync($"theirs-{run}-{i}b");
        }
        var projection = new Recording($"filtered-{run}", ["mine-"]);
        // Batches of 2 over a log that is two-thirds foreign: some batches hold no event of ours at all.
        var runner = new ProjectionRunner(_db.Store, projection, new ProjectionRunnerOptions { BatchSize = 2 });
        await runner.CatchUpToHeadAsync(TimeSpan.FromSeconds(30), null, default);

        Assert.All(projection.Seen, e => Assert.StartsWith("mine-", e.StreamId, StringComparison.Ordinal));
        Assert.Equal(ids, projection.Seen.Where(e => e.StreamId.Contains(run, StringComparison.Ordinal)).Select(IdOf));
        var status = await ProjectionRunner.StatusAsync(_db.Store, projection.Name, default);
        Assert.Equal(0, status.EventsBehind);
        // The checkpoint counts every event it passed, foreign ones included, while Apply saw only ours.
        Assert.True(status.EventsApplied >= 9, $"checkpoint passed {status.EventsApplied} events");
        Assert.True(status.EventsApplied > projection.Seen.Count);
    }

    private Task<GlobalCheckpoint> HeadAsync() => TestLog.HeadAsync(_db.Store);

    private static Guid IdOf(StoredEvent e) => TestLog.IdOf(e);
}
