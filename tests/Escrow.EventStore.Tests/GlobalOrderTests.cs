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
        return (conn, tx, await TestLog.AppendAsync(_db, stream, conn, tx));
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
        // The horizon is cluster-wide: a transaction of another database that started between A and B can
        // hold B back for a moment (lag, not loss), so poll; what arrives must be A then B, nothing else.
        var seen = new List<StoredEvent>();
        var cp = start;
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (seen.Count < 2 && DateTime.UtcNow < deadline)
        {
            var page = await _db.Store.ReadAllAsync(cp, 100, default);
            seen.AddRange(page);
            if (page.Count > 0) cp = page[^1].Checkpoint; else await Task.Delay(10);
        }
        Assert.Equal([a.EventId, b.EventId], seen.Select(IdOf));
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
                    cp = e.Checkpoint;
                    // Only this test's streams: an earlier test's events can arrive after our start checkpoint
                    // when the cluster-wide horizon held them back while we took it (lag, not loss).
                    if (!e.StreamId.StartsWith("order-", StringComparison.Ordinal)) continue;
                    seen.Add(IdOf(e));
                    order.Add(e.Checkpoint);
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
        var dupes = seen.Select((id, i) => (id, cp: order[i])).GroupBy(x => x.id).Where(g => g.Count() > 1)
            .Select(g => $"{g.Key}: {string.Join(" / ", g.Select(x => $"tx {x.cp.TransactionId} pos {x.cp.Position}"))}").ToList();
        Assert.True(dupes.Count == 0, "seen more than once: " + string.Join("; ", dupes.Take(5)));   // exactly once
        var missing = committed.Except(seen).ToList();
        var extra = seen.Except(committed).ToList();
        Assert.True(missing.Count == 0 && extra.Count == 0,
            $"missing {missing.Count} (first at {await WhereAsync(missing.FirstOrDefault())}), extra {extra.Count}; reader stopped at tx {order.LastOrDefault().TransactionId} pos {order.LastOrDefault().Position}");
        Assert.Empty(seen.Intersect(rolledBack));
        Assert.True(order.Zip(order.Skip(1)).All(p => p.First.CompareTo(p.Second) < 0), "checkpoints must strictly increase");
    }

    /// <summary>
    /// Regression: ORDER BY once sorted transaction ids as text, so "100003" came before "99999" and the
    /// reader's cursor skipped or repeated events at every power of ten. Burn transaction ids up to a
    /// boundary, hold one transaction open below it, commit another above it, then commit the first.
    /// </summary>
    [Fact]
    public async Task Pages_follow_numeric_transaction_order_across_a_power_of_ten()
    {
        var start = await HeadAsync();
        var now = await CurrentXidAsync();
        var boundary = 10UL;
        while (boundary <= now + 2000) boundary *= 10;
        Assert.True(boundary - now < 20_000_000, $"test cluster too old to reach xid {boundary} quickly; run on a fresh one (deploy/test.sh)");
        await BurnXidsAsync((long)(boundary - now - 1000));

        var a = await OpenAppendAsync("digits-a-" + Guid.NewGuid());            // xid just below the boundary
        await BurnXidsAsync(Math.Max(0, (long)(boundary - await CurrentXidAsync()) + 5));
        var b = await OpenAppendAsync("digits-b-" + Guid.NewGuid());            // xid above it
        await b.Tx.CommitAsync();
        await a.Tx.CommitAsync();
        await a.Conn.DisposeAsync();
        await b.Conn.DisposeAsync();

        var seen = new List<StoredEvent>();
        var cp = start;
        var deadline = DateTime.UtcNow.AddSeconds(30);
        // Other test classes' short transactions can hold the horizon back for a moment (lag, not loss): poll.
        while (seen.Count(e => e.StreamId.StartsWith("digits-", StringComparison.Ordinal)) < 2 && DateTime.UtcNow < deadline)
        {
            var page = await _db.Store.ReadAllAsync(cp, 1, default);   // pages of one: every step moves the cursor
            if (page.Count == 0) { await Task.Delay(10); continue; }
            seen.AddRange(page);
            cp = page[^1].Checkpoint;
        }
        var ours = seen.Where(e => e.StreamId.StartsWith("digits-", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, ours.Count);
        Assert.True(ours[0].TransactionId < boundary && ours[1].TransactionId >= boundary,
            $"expected one transaction id each side of {boundary}: {ours[0].TransactionId}, {ours[1].TransactionId}");
        Assert.Equal([a.EventId, b.EventId], ours.Select(IdOf));
        Assert.True(seen.Zip(seen.Skip(1)).All(p => p.First.Checkpoint.CompareTo(p.Second.Checkpoint) < 0));
    }

    private async Task<string> WhereAsync(Guid eventId)
    {
        await using var cmd = _db.DataSource.CreateCommand("SELECT transaction_id::text || ' pos ' || global_position FROM events WHERE event_id = $1");
        cmd.Parameters.Add(new() { Value = eventId });
        return (await cmd.ExecuteScalarAsync()) as string ?? "nowhere";
    }

    private async Task<ulong> CurrentXidAsync()
    {
        await using var ds = _db.OwnerDataSource();
        await using var cmd = ds.CreateCommand("SELECT pg_current_xact_id()::text");
        return ulong.Parse((string)(await cmd.ExecuteScalarAsync())!, System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Consumes transaction ids fast: each subtransaction that writes takes one (about 150,000 a second).</summary>
    private async Task BurnXidsAsync(long count)
    {
        await using var ds = _db.OwnerDataSource();
        await using var conn = await ds.OpenConnectionAsync();
        await using (var create = new NpgsqlCommand("CREATE TEMP TABLE IF NOT EXISTS burn (x int)", conn))
            await create.ExecuteNonQueryAsync();
        while (count > 0)
        {
            var n = Math.Min(count, 200_000);
            await using var burn = new NpgsqlCommand(
                $"DO $$ BEGIN FOR i IN 1..{n} LOOP BEGIN INSERT INTO burn VALUES (i); EXCEPTION WHEN others THEN NULL; END; END LOOP; END $$", conn);
            burn.CommandTimeout = 300;
            await burn.ExecuteNonQueryAsync();
            count -= n;
        }
    }

    private async Task<long> CommittedBeyondAsync(GlobalCheckpoint cp)
    {
        await using var cmd = _db.DataSource.CreateCommand(
            "SELECT count(*) FROM events WHERE (transaction_id, global_position) > ($1::text::xid8, $2) AND stream_id LIKE 'order-%'");
        cmd.Parameters.Add(new() { Value = cp.TransactionId.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        cmd.Parameters.Add(new() { Value = cp.Position });
        return (long)(await cmd.ExecuteScalarAsync())!;
    }

    private Task<GlobalCheckpoint> HeadAsync() => TestLog.HeadAsync(_db.Store);

    private static Guid IdOf(StoredEvent e) => TestLog.IdOf(e);
}
