using System.Security.Cryptography;
using System.Text.Json;
using Escrow.EventStore;
using Escrow.Testing;
using Npgsql;

namespace Escrow.EventStore.Tests;

/// <summary>
/// Signed checkpoints against a real log, each test on a database of its own: what the checkpoint saw still verifies
/// after later appends; a superuser's forgery is found and its stream named even with the stored chain recomputed; a
/// deleted event, an inserted one and a changed file or statement are named too.
/// </summary>
public class LogCheckpointTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 7, 9, 0, 0, TimeSpan.Zero);

    private static NewEvent Event(int n) =>
        new("TestHappened", 1, $$"""{"n":{{n}},"name":"Zürich"}""", new EventMetadata(Guid.NewGuid(), Guid.NewGuid(), null, "tester", "t1", null), T0.AddMinutes(n));

    private static async Task<(string A, string B)> SeedAsync(PgDatabase db)
    {
        var (a, b) = ("cp-a-" + Guid.NewGuid().ToString("N")[..8], "cp-b-" + Guid.NewGuid().ToString("N")[..8]);
        var heads = await db.Store.AppendAsync([new StreamAppend(a, "test", "t1", ExpectedVersion.NoStream, HashChain.Genesis, [Event(1), Event(2), Event(3)])], null, null, default);
        await db.Store.AppendAsync([new StreamAppend(b, "test", "t1", ExpectedVersion.NoStream, HashChain.Genesis, [Event(4)])], null, null, default);
        await db.Store.AppendAsync([new StreamAppend(a, "test", "t1", ExpectedVersion.Exactly(3), heads[a].LastHash, [Event(5)])], null, null, default);
        return (a, b);
    }

    private static async Task<(SignedCheckpoint Checkpoint, ECDsa Key)> CheckpointAsync(PgDatabase db)
    {
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var (statement, leaves) = await LogCheckpoints.ComputeAsync(db.Store, T0.AddDays(1), default);
        var signed = LogCheckpoints.Sign(statement, leaves, key);
        // Through the file format and back, as an operator keeps it.
        var json = JsonSerializer.Serialize(signed, LogCheckpoints.FileJson);
        return (JsonSerializer.Deserialize<SignedCheckpoint>(json, LogCheckpoints.FileJson)!, key);
    }

    private static async Task<T> WithDatabaseAsync<T>(Func<PgDatabase, Task<T>> body)
    {
        await using var db = new PgDatabase();
        await db.InitializeAsync();
        try { return await body(db); }
        finally { await db.DisposeAsync(); }
    }

    [Fact]
    public Task A_checkpoint_verifies_after_later_appends_and_only_with_its_signers_key() => WithDatabaseAsync(async db =>
    {
        var (a, _) = await SeedAsync(db);
        var (checkpoint, key) = await CheckpointAsync(db);
        Assert.Equal(2, checkpoint.Statement.Streams);
        Assert.Equal(5, checkpoint.Statement.Events);
        Assert.Equal(4, checkpoint.Leaves.Single(l => l.Stream == a).Version);

        var head = (await db.Store.ReadStreamAsync(a, 0, default))[^1];
        await db.Store.AppendAsync([new StreamAppend(a, "test", "t1", ExpectedVersion.Exactly(4), head.Hash, [Event(6)])], null, null, default);
        var check = await LogCheckpoints.VerifyAsync(db.Store, checkpoint, key, default);
        Assert.True(check.Ok, string.Join("\n", check.Findings));
        Assert.Equal(5, check.EventsChecked);

        using var other = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var refused = await LogCheckpoints.VerifyAsync(db.Store, checkpoint, other, default);
        Assert.False(refused.Ok);
        Assert.Contains(refused.Findings, f => f.Contains("another signer", StringComparison.Ordinal));
        return 0;
    });

    [Fact]
    public Task A_superuser_who_forges_an_event_and_recomputes_its_chain_is_caught_and_the_stream_named() => WithDatabaseAsync(async db =>
    {
        var (a, b) = await SeedAsync(db);
        var (checkpoint, key) = await CheckpointAsync(db);

        // The forger changes a's version 2 and rewrites every later hash of a so that the stored chain holds again.
        var events = await db.Store.ReadStreamAsync(a, 0, default);
        await using (var owner = new NpgsqlConnection(db.OwnerConnectionString))
        {
            await owner.OpenAsync();
            await new NpgsqlCommand("ALTER TABLE events DISABLE TRIGGER events_no_update_delete", owner).ExecuteNonQueryAsync();
            var prev = HashChain.Genesis;
            foreach (var e in events)
            {
                var data = e.Version == 2 ? """{"n":2,"name":"Zug"}""" : e.DataJson;
                var hash = HashChain.Compute(prev, e.StoredStreamId, e.Version, e.EventType, e.SchemaVersion, e.OccurredAt, data, e.MetadataJson);
                await using var update = new NpgsqlCommand("UPDATE events SET data = $3::jsonb, prev_hash = $4, hash = $5 WHERE stream_id = $1 AND version = $2", owner);
                update.Parameters.Add(new() { Value = e.StoredStreamId });
                update.Parameters.Add(new() { Value = e.Version });
                update.Parameters.Add(new() { Value = data });
                update.Parameters.Add(new() { Value = prev });
                update.Parameters.Add(new() { Value = hash });
                await update.ExecuteNonQueryAsync();
                prev = hash;
            }
            await using var streams = new NpgsqlCommand("UPDATE streams SET last_hash = $2 WHERE stream_id = $1", owner);
            streams.Parameters.Add(new() { Value = a });
            streams.Parameters.Add(new() { Value = prev });
            await streams.ExecuteNonQueryAsync();
        }
        // The per-stream chains hold: the database alone cannot tell.
        await foreach (var broken in ChainVerifier.VerifyAsync(db.Store, null, default))
            Assert.Fail($"the chain check found {broken}");

        var check = await LogCheckpoints.VerifyAsync(db.Store, checkpoint, key, default);
        Assert.False(check.Ok);
        var finding = Assert.Single(check.Findings);
        Assert.Contains($"stream {a}: versions 1..4 no longer hash to the head the checkpoint saw", finding);
        Assert.DoesNotContain(check.Findings, f => f.Contains(b, StringComparison.Ordinal));
        return 0;
    });

    [Fact]
    public Task A_deleted_event_an_inserted_stream_and_a_changed_file_are_each_named() => WithDatabaseAsync(async db =>
    {
        var (a, b) = await SeedAsync(db);
        var (checkpoint, key) = await CheckpointAsync(db);

        await db.ExecAsOwnerAsync($"ALTER TABLE events DISABLE TRIGGER events_no_update_delete; DELETE FROM events WHERE stream_id = '{b}'");
        var check = await LogCheckpoints.VerifyAsync(db.Store, checkpoint, key, default);
        Assert.Contains($"stream {b}: the checkpoint saw versions 1..1; the log has none of them (deleted)", check.Findings);

        // A stream slipped in before the checkpoint's position (a row with a low global position and transaction id).
        var first = (await db.Store.ReadStreamAsync(a, 0, default))[0];
        await db.ExecAsOwnerAsync(
            $"""
            INSERT INTO streams (stream_id, stream_type, tenant, version, last_hash) VALUES ('cp-slipped', 'test', 't1', 1, '\x{Convert.ToHexStringLower(first.Hash)}');
            INSERT INTO events (global_position, transaction_id, stream_id, version, event_id, event_type, schema_version, data, metadata, occurred_at, prev_hash, hash)
            OVERRIDING SYSTEM VALUE
            SELECT 0, transaction_id, 'cp-slipped', 1, gen_random_uuid(), event_type, schema_version, data, metadata, occurred_at, prev_hash, hash
            FROM events WHERE stream_id = '{a}' AND version = 1
            """);
        check = await LogCheckpoints.VerifyAsync(db.Store, checkpoint, key, default);
        Assert.Contains(check.Findings, f => f.StartsWith("stream cp-slipped: versions 1..1 lie at or before the checkpoint's position", StringComparison.Ordinal));

        // The file's leaves edited to match, or its statement: the root or the signature gives it away.
        var edited = checkpoint with { Leaves = [.. checkpoint.Leaves.Where(l => l.Stream != b)] };
        Assert.Contains((await LogCheckpoints.VerifyAsync(db.Store, edited, key, default)).Findings,
            f => f.Contains("do not hash to its signed Merkle root", StringComparison.Ordinal));
        var restated = checkpoint with { Statement = checkpoint.Statement with { Events = 4 } };
        Assert.Contains((await LogCheckpoints.VerifyAsync(db.Store, restated, key, default)).Findings,
            f => f.Contains("the signature does not hold", StringComparison.Ordinal));
        return 0;
    });
}
