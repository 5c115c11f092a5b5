using Escrow.EventStore;
using Escrow.Testing;
using Npgsql;

namespace Escrow.EventStore.Tests;

/// <summary>
/// Group commit: appends queued behind an append in flight commit together in one transaction, and each command
/// still gets exactly its own outcome. The tests make a batch deterministically: a store with one batch in flight at a
/// time, whose first append waits on a row lock held by the test; everything appended meanwhile queues, and forms
/// the next batch when the test releases the lock. Sharing a transaction is observed through the events'
/// transaction ids.
/// </summary>
public class GroupCommitTests : IClassFixture<PgDatabase>
{
    private readonly PgDatabase _db;
    public GroupCommitTests(PgDatabase db) => _db = db;

    private static string NewStream() => "gc-" + Guid.NewGuid().ToString("N");

    private static StreamAppend New(string stream, params NewEvent[] events) =>
        new(stream, "test", "t1", ExpectedVersion.NoStream, HashChain.Genesis, events.Length == 0 ? [EventLogTests.Event()] : events);

    private static IdempotencyRecord Key(string key) => new("t1", key, [1, 2, 3], 201, """{"ok":true}""");

    private static AuditRecord Audit(params string[] streams) => new(
        Guid.NewGuid(), DateTimeOffset.UtcNow, "tester", "t1", "test", AuditRecord.Accepted, 201, null, [9], streams, Guid.NewGuid(), null);

    /// <summary>
    /// Holds a row lock on a fresh stream and starts an append to it through <paramref name="store"/>, which then
    /// waits in PostgreSQL; returns when it waits, with the lock holder to release and the blocked append.
    /// </summary>
    private async Task<(NpgsqlConnection Conn, NpgsqlTransaction Tx, Task<IReadOnlyDictionary<string, StreamHead>> Blocked)> BlockAsync(PgEventStore store)
    {
        var gate = NewStream();
        var head = await store.AppendAsync([New(gate)], null, null, default);
        var conn = await _db.DataSource.OpenConnectionAsync();
        var tx = await conn.BeginTransactionAsync();
        await using (var lockRow = new NpgsqlCommand("SELECT version FROM streams WHERE stream_id = $1 FOR UPDATE", conn, tx))
        {
            lockRow.Parameters.Add(new() { Value = gate });
            await lockRow.ExecuteScalarAsync();
        }
        var blocked = store.AppendAsync(
            [new StreamAppend(gate, "test", "t1", ExpectedVersion.Exactly(1), head[gate].LastHash, [EventLogTests.Event()])], null, null, default);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (await _db.ScalarAsync<long>(
                   $"SELECT count(*) FROM pg_stat_activity WHERE datname = '{_db.Name}' AND wait_event_type = 'Lock'") == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "the first append never waited on the row lock");
            Assert.False(blocked.IsCompleted, "the first append did not wait on the row lock");
            await Task.Delay(5);
        }
        return (conn, tx, blocked);
    }

    private static PgEventStore OneBatchAtATime(NpgsqlDataSource ds) => new(ds, new GroupCommitOptions { MaxConcurrentBatches = 1 });

    private async Task<ulong> TransactionOfAsync(string stream) =>
        (await _db.Store.ReadStreamAsync(stream, 0, default))[0].TransactionId;

    private static async Task ReleaseAsync((NpgsqlConnection Conn, NpgsqlTransaction Tx, Task<IReadOnlyDictionary<string, StreamHead>> Blocked) b)
    {
        await b.Tx.CommitAsync();
        await b.Conn.DisposeAsync();
        await b.Blocked;
    }

    [Fact]
    public async Task Appends_queued_behind_one_in_flight_commit_together_in_one_transaction_with_their_audit_records()
    {
        var store = OneBatchAtATime(_db.DataSource);
        var block = await BlockAsync(store);
        var streams = Enumerable.Range(0, 5).Select(_ => NewStream()).ToArray();
        var audits = streams.Select((s, i) => i % 2 == 0 ? Audit(s) : Audit(s, "other-" + i, "third-" + i)).ToArray();
        var appends = streams.Select((s, i) => store.AppendAsync([New(s)], Key("batch-" + s), null, default, audits[i])).ToArray();
        Assert.All(appends, a => Assert.False(a.IsCompleted));   // nothing is answered before its commit

        await ReleaseAsync(block);
        await Task.WhenAll(appends);

        var txs = new HashSet<ulong>();
        foreach (var s in streams) txs.Add(await TransactionOfAsync(s));
        Assert.Single(txs);
        for (var i = 0; i < streams.Length; i++)
        {
            Assert.Equal(1, (await appends[i])[streams[i]].Version);
            var stored = await _db.ScalarAsync<string[]>($"SELECT stream_ids FROM audit_log WHERE audit_id = '{audits[i].AuditId}'");
            Assert.Equal(audits[i].StreamIds, stored);
            Assert.NotNull(await _db.Store.FindIdempotencyAsync("t1", "batch-" + streams[i], default));
        }
    }

    [Fact]
    public async Task A_conflicting_command_in_a_batch_fails_alone_and_the_others_commit()
    {
        var store = OneBatchAtATime(_db.DataSource);
        var taken = NewStream();
        await store.AppendAsync([New(taken)], null, null, default);   // at version 1

        var block = await BlockAsync(store);
        var (a, c) = (NewStream(), NewStream());
        var first = store.AppendAsync([New(a)], Key("ok-" + a), null, default, Audit(a));
        var loser = store.AppendAsync([New(c), New(taken)], Key("lose-" + c), null, default, Audit(c, taken));   // expects no stream
        var last = store.AppendAsync([New(NewStream())], null, null, default);
        await ReleaseAsync(block);

        var ex = await Assert.ThrowsAsync<WrongExpectedVersionException>(() => loser);
        Assert.Equal(taken, ex.StreamId);
        Assert.Equal(0, ex.Expected);
        Assert.Equal(1, ex.Actual);
        Assert.Equal(1, (await first)[a].Version);
        await last;
        // All or nothing for the loser: no event on its other stream, no idempotency record, no audit record.
        Assert.Empty(await _db.Store.ReadStreamAsync(c, 0, default));
        Assert.Single(await _db.Store.ReadStreamAsync(taken, 0, default));
        Assert.Null(await _db.Store.FindIdempotencyAsync("t1", "lose-" + c, default));
        Assert.Equal(0L, await _db.ScalarAsync<long>($"SELECT count(*) FROM audit_log WHERE '{c}' = ANY (stream_ids)"));
        Assert.Equal(1L, await _db.ScalarAsync<long>($"SELECT count(*) FROM audit_log WHERE '{a}' = ANY (stream_ids)"));
        Assert.NotNull(await _db.Store.FindIdempotencyAsync("t1", "ok-" + a, default));
        Assert.True(store.BatchRetries >= 1);
    }

    [Fact]
    public async Task An_idempotency_key_already_committed_fails_only_its_command_in_a_batch()
    {
        var store = OneBatchAtATime(_db.DataSource);
        var key = "retry-" + Guid.NewGuid().ToString("N");
        var original = NewStream();
        await store.AppendAsync([New(original)], Key(key), null, default);

        var block = await BlockAsync(store);
        var (a, retry, b) = (NewStream(), NewStream(), NewStream());
        var first = store.AppendAsync([New(a)], Key("k-" + a), null, default);
        var retried = store.AppendAsync([New(retry)], Key(key), null, default, Audit(retry));
        var last = store.AppendAsync([New(b)], Key("k-" + b), null, default);
        await ReleaseAsync(block);

        var ex = await Assert.ThrowsAsync<IdempotencyKeyTakenException>(() => retried);
        Assert.Equal(key, ex.Key);
        await first;
        await last;
        Assert.Empty(await _db.Store.ReadStreamAsync(retry, 0, default));
        Assert.Single(await _db.Store.ReadStreamAsync(a, 0, default));
        Assert.Single(await _db.Store.ReadStreamAsync(b, 0, default));
        Assert.Equal(0L, await _db.ScalarAsync<long>($"SELECT count(*) FROM audit_log WHERE '{retry}' = ANY (stream_ids)"));
    }

    [Fact]
    public async Task The_same_idempotency_key_twice_in_the_queue_commits_once()
    {
        var store = OneBatchAtATime(_db.DataSource);
        var key = "twice-" + Guid.NewGuid().ToString("N");
        var block = await BlockAsync(store);
        var (a, b) = (NewStream(), NewStream());
        var first = store.AppendAsync([New(a)], Key(key), null, default);
        var second = store.AppendAsync([New(b)], Key(key), null, default);
        await ReleaseAsync(block);

        await first;
        await Assert.ThrowsAsync<IdempotencyKeyTakenException>(() => second);
        Assert.Single(await _db.Store.ReadStreamAsync(a, 0, default));
        Assert.Empty(await _db.Store.ReadStreamAsync(b, 0, default));
    }

    [Fact]
    public async Task A_stream_appended_twice_while_queued_goes_to_the_next_batch_and_its_expected_version_is_checked_there()
    {
        var store = OneBatchAtATime(_db.DataSource);
        var block = await BlockAsync(store);
        var (s, other) = (NewStream(), NewStream());
        var e1 = EventLogTests.Event();
        var e2 = EventLogTests.Event();
        // The second append continues the chain the first one will write: expected version 1, the first's head hash.
        var head1 = HashChain.Compute(HashChain.Genesis, s, 1, e1.EventType, e1.SchemaVersion, e1.OccurredAt, e1.DataJson,
            PgEventStore.SerializeMetadata(e1.Metadata));
        var first = store.AppendAsync([New(s, e1)], null, null, default);
        var racing = store.AppendAsync([New(s)], null, null, default);   // also expects no stream: must lose
        var second = store.AppendAsync([new StreamAppend(s, "test", "t1", ExpectedVersion.Exactly(1), head1, [e2])], null, null, default);
        var unrelated = store.AppendAsync([New(other)], null, null, default);
        await ReleaseAsync(block);

        Assert.Equal(1, (await first)[s].Version);
        await Assert.ThrowsAsync<WrongExpectedVersionException>(() => racing);
        Assert.Equal(2, (await second)[s].Version);
        await unrelated;
        var events = await _db.Store.ReadStreamAsync(s, 0, default);
        Assert.Equal([1L, 2L], events.Select(e => e.Version));
        Assert.Equal([e1.Metadata.EventId, e2.Metadata.EventId], events.Select(e => EventIdOf(e)));
        Assert.Equal(events[0].Hash, events[1].PrevHash);
        // The first and the unrelated append shared a transaction; the second came after it.
        Assert.Equal(events[0].TransactionId, await TransactionOfAsync(other));
        Assert.True(events[1].TransactionId > events[0].TransactionId);
    }

    private static Guid EventIdOf(StoredEvent e)
    {
        using var doc = System.Text.Json.JsonDocument.Parse(e.MetadataJson);
        return doc.RootElement.GetProperty("eventId").GetGuid();
    }

    [Fact]
    public async Task Sixteen_writers_on_four_streams_through_the_batching_store_keep_every_chain_intact()
    {
        // Many writers on few streams through the default store: conflicts are retried by the writers, every
        // committed event is in its stream exactly once and every chain is intact.
        var streams = Enumerable.Range(0, 4).Select(_ => NewStream()).ToArray();
        var heads = streams.ToDictionary(s => s, _ => (Version: 0L, Hash: HashChain.Genesis));
        var gate = new object();
        var committed = 0;
        await Task.WhenAll(Enumerable.Range(0, 16).Select(w => Task.Run(async () =>
        {
            for (var i = 0; i < 25; i++)
            {
                var s = streams[(w + i) % streams.Length];
                while (true)
                {
                    (long Version, byte[] Hash) h;
                    lock (gate) h = heads[s];
                    try
                    {
                        var r = await _db.Store.AppendAsync(
                            [new StreamAppend(s, "test", "t1", h.Version == 0 ? ExpectedVersion.NoStream : ExpectedVersion.Exactly(h.Version), h.Hash, [EventLogTests.Event()])],
                            null, null, default);
                        lock (gate) if (heads[s].Version < r[s].Version) heads[s] = (r[s].Version, r[s].LastHash);
                        Interlocked.Increment(ref committed);
                        break;
                    }
                    catch (WrongExpectedVersionException)
                    {
                        var tail = await _db.Store.ReadStreamAsync(s, 0, default);
                        lock (gate) if (tail.Count > 0 && heads[s].Version < tail[^1].Version) heads[s] = (tail[^1].Version, tail[^1].Hash);
                    }
                }
            }
        })));
        Assert.Equal(16 * 25, committed);
        foreach (var s in streams)
        {
            var events = await _db.Store.ReadStreamAsync(s, 0, default);
            Assert.Equal(Enumerable.Range(1, events.Count).Select(v => (long)v), events.Select(e => e.Version));
            for (var i = 1; i < events.Count; i++) Assert.Equal(events[i - 1].Hash, events[i].PrevHash);
        }
        var total = 0;
        foreach (var s in streams) total += (await _db.Store.ReadStreamAsync(s, 0, default)).Count;
        Assert.Equal(16 * 25, total);
    }
}
