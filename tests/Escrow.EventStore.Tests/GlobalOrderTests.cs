using System.Collections.Concurrent;
using Escrow.EventStore;
using Escrow.Testing;
using Npgsql;

namespace Escrow.EventStore.Tests;

/// <summary>
/// The global log must be read in commit-safe order: a reader following it never skips an event whose
/// transaction commits after a higher position's, and never sees one that rolled back.
/// </summary>
public class GlobalOrderTests : IClassFixture<PgDatabase>
{
    private readonly PgDatabase _db;
    public GlobalOrderTests(PgDatabase db) => _db = db;

    /// <summary>Starts a transaction that appends one event and leaves it open; returns the event id.</summary>
    private async Task<(NpgsqlConnection Conn, NpgsqlTransaction Tx, Guid EventId)> OpenAppendAsync(string stream)
    {
        var conn = await _db.DataSource.OpenConnectionAsync();
        var tx = await conn.BeginTransactionAsync();
        var id = Guid.NewGuid();
        await using var batch = new NpgsqlBatch(conn, tx);
        var bump = new NpgsqlBatchCommand("SELECT bump_stream($1, 'test', 't1', 0, 1, $2)");
        bump.Parameters.Add(new() { Value = stream });
        bump.Parameters.Add(new() { Value = new byte[32] });
        var insert = new NpgsqlBatchCommand(
            """
            INSERT INTO events (stream_id, version, event_id, event_type, schema_version, data, metadata, occurred_at, prev_hash, hash)
            VALUES ($1, 1, $2, 'TestHappened', 1, '{}', jsonb_build_object('eventId', $2::uuid), now(), $3, $3)
            """);
        insert.Parameters.Add(new() { Value = stream });
        insert.Parameters.Add(new() { Value = id });
        insert.Parameters.Add(new() { Value = new byte[32] });
        batch.BatchCommands.Add(bump);
        batch.BatchCommands.Add(insert);
        await batch.ExecuteNonQueryAsync();
        return (conn, tx, id);
    }

    [Fact]
    public async Task A_lower_position_committing_after_a_higher_one_is_not_skipped()
    {
        var start = await HeadAsync();
        var a = await OpenAppendAsync("order-a-" + Guid.NewGuid());   // takes position p
        var b = await OpenAppendAsync("order-b-" + Guid.NewGuid());   // takes position p + 1
        await b.Tx.CommitAsync();                                     // p + 1 commits first

        // A reader that followed global_position alone would now see p + 1 and move past p forever.
        await using (var naive = _db.DataSource.CreateCommand("SELECT count(*) FROM events WHERE event_id = $1"))
        {
            naive.Parameters.Add(new() { Value = b.EventId });
            Assert.Equal(1L, await naive.ExecuteScalarAsync());
        }
        // The commit-safe reader holds back until A finishes.
        Assert.DoesNotContain((await _db.Store.ReadAllAsync(start, 100, default)).Select(e => e.Checkpoint), c => true);

        await a.Tx.CommitAsync();
        var seen = await _db.Store.ReadAllAsync(start, 100, default);
        Assert.Equal(new[] { a.EventId, b.EventId }.Order(), seen.Select(e => IdOf(e)).Order());
        await a.Conn.DisposeAsync();
        await b.Conn.DisposeAsync();
    }

    [Fact]
    public async Task Sixteen_concurrent_writers_with_rollbacks_every_committed_event_is_seen_exactly_once()
    {
        const int writers = 16, perWriter = 40;
        var start = await HeadAsync();
        var committed = new ConcurrentBag<Guid>();
        var rolledBack = new ConcurrentBag<Guid>();
        using var stop = new CancellationTokenSource();

        var seen = new List<Guid>();
        var order = new List<GlobalCheckpoint>();
        var reader = Task.Run(async () =>
        {
            var cp = start;
            while (true)
            {
                var page = await _db.Store.ReadAllAsync(cp, 50, default);
                foreach (var e in page)
                {
                    seen.Add(IdOf(e));
                    order.Add(e.Checkpoint);
                    cp = e.Checkpoint;
                }
                if (page.Count > 0) continue;
                // Done only when the writers are finished and no committed row lies beyond the checkpoint.
                // (The xmin horizon is cluster-wide: a transaction in another database may hold it back for a while;
                // that is lag, never loss, so keep polling.)
                if (stop.IsCancellationRequested && await CommittedBeyondAsync(cp) == 0) return;
                await Task.Delay(2);
            }
        });

        var tasks = Enumerable.Range(0, writers).Select(w => Task.Run(async () =>
        {
            var rnd = new Random(w * 7919);
            for (var i = 0; i < perWriter; i++)
            {
                var (conn, tx, id) = await OpenAppendAsync($"order-{w}-{i}-{Guid.NewGuid():N}");
                // Hold the transaction open for a random while so commits land out of position order.
                await Task.Delay(rnd.Next(0, 6));
                if (rnd.Next(4) == 0)
                {
                    await tx.RollbackAsync();
                    rolledBack.Add(id);
                }
                else
                {
                    await tx.CommitAsync();
                    committed.Add(id);
                }
                await conn.DisposeAsync();
            }
        })).ToArray();
        await Task.WhenAll(tasks);
        await stop.CancelAsync();
        await reader.WaitAsync(TimeSpan.FromSeconds(60));

        Assert.True(rolledBack.Count > 0, "the test must include rollbacks");
        Assert.Equal(seen.Count, seen.Distinct().Count());                    // exactly once
        Assert.Equal(committed.Order(), seen.Order());                          // every committed one, nothing else
        Assert.Empty(seen.Intersect(rolledBack));
        Assert.True(order.Zip(order.Skip(1)).All(p => p.First.CompareTo(p.Second) < 0), "checkpoints must strictly increase");
    }

    private async Task<long> CommittedBeyondAsync(GlobalCheckpoint cp)
    {
        await using var cmd = _db.DataSource.CreateCommand(
            "SELECT count(*) FROM events WHERE (transaction_id, global_position) > ($1::text::xid8, $2) AND stream_id LIKE 'order-%'");
        cmd.Parameters.Add(new() { Value = cp.TransactionId.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        cmd.Parameters.Add(new() { Value = cp.Position });
        return (long)(await cmd.ExecuteScalarAsync())!;
    }

    private async Task<GlobalCheckpoint> HeadAsync()
    {
        var cp = GlobalCheckpoint.Start;
        while (true)
        {
            var page = await _db.Store.ReadAllAsync(cp, 1000, default);
            if (page.Count == 0) return cp;
            cp = page[^1].Checkpoint;
        }
    }

    private static Guid IdOf(StoredEvent e)
    {
        using var doc = System.Text.Json.JsonDocument.Parse(e.MetadataJson);
        return doc.RootElement.GetProperty("eventId").GetGuid();
    }
}
