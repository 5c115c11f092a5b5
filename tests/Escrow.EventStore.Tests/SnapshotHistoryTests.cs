using Escrow.EventStore;
using Escrow.Testing;
using Npgsql;

namespace Escrow.EventStore.Tests;

/// <summary>Kept snapshots (sql/023): every snapshot written with its events, and the one a replay as of an instant may start from.</summary>
public class SnapshotHistoryTests : IClassFixture<PgDatabase>
{
    private readonly PgDatabase _db;
    public SnapshotHistoryTests(PgDatabase db) => _db = db;

    private static readonly DateTimeOffset T0 = new(2024, 3, 15, 14, 0, 0, TimeSpan.Zero);

    private static NewEvent At(int minute, int n) =>
        new("TestHappened", 1, $$"""{"n":{{n}}}""", new EventMetadata(Guid.NewGuid(), Guid.NewGuid(), null, "tester", "t1", null), T0.AddMinutes(minute));

    private static string NewStream() => "snap-" + Guid.NewGuid().ToString("N");

    [Fact]
    public async Task One_append_may_carry_snapshots_at_inner_versions_each_kept_with_its_events_hash_and_the_latest_one_loaded()
    {
        var s = NewStream();
        var events = Enumerable.Range(1, 10).Select(i => At(i, i)).ToList();
        var heads = await _db.Store.AppendAsync([new StreamAppend(s, "test", "t1", ExpectedVersion.NoStream, HashChain.Genesis, events)], null,
            [new Snapshot(s, 4, 1, [], """{"upTo":4}"""), new Snapshot(s, 8, 1, [], """{"upTo":8}""")], default);
        Assert.Equal(10, heads[s].Version);
        var stored = await _db.Store.ReadStreamAsync(s, 0, default);

        var latest = await _db.Store.ReadSnapshotAsync(s, default);
        Assert.NotNull(latest);
        Assert.Equal(8, latest.Version);
        Assert.Equal(stored[7].Hash, latest.Hash);

        // As of minute 6: events 1..4 all occurred by then, 1..8 did not.
        var at6 = await _db.Store.ReadSnapshotAtAsync(s, 1, T0.AddMinutes(6), default);
        Assert.NotNull(at6);
        Assert.Equal(4, at6.Version);
        Assert.Equal(stored[3].Hash, at6.Hash);
        Assert.Contains("\"upTo\": 4", at6.StateJson);
        Assert.Equal(8, (await _db.Store.ReadSnapshotAtAsync(s, 1, T0.AddMinutes(8), default))?.Version);
        Assert.Null(await _db.Store.ReadSnapshotAtAsync(s, 1, T0.AddMinutes(3), default));   // before the first snapshot's events
        Assert.Null(await _db.Store.ReadSnapshotAtAsync(s, 2, T0.AddMinutes(60), default));  // another state schema
    }

    [Fact]
    public async Task A_snapshot_stands_in_only_when_every_event_up_to_it_occurred_by_the_instant_even_out_of_version_order()
    {
        var s = NewStream();
        // Event 2 occurred at minute 30, after events 3..5 (a clock that ran ahead on one silo).
        var first = await _db.Store.AppendAsync([new StreamAppend(s, "test", "t1", ExpectedVersion.NoStream, HashChain.Genesis,
            [At(1, 1), At(30, 2), At(3, 3)])], null, [new Snapshot(s, 3, 1, [], """{"upTo":3}""")], default);
        // The next snapshot's events (4, 5) are early too, but the running maximum keeps event 2's minute.
        await _db.Store.AppendAsync([new StreamAppend(s, "test", "t1", ExpectedVersion.Exactly(3), first[s].LastHash,
            [At(4, 4), At(5, 5)])], null, [new Snapshot(s, 5, 1, [], """{"upTo":5}""")], default);

        Assert.Null(await _db.Store.ReadSnapshotAtAsync(s, 1, T0.AddMinutes(10), default));
        Assert.Equal(5, (await _db.Store.ReadSnapshotAtAsync(s, 1, T0.AddMinutes(30), default))?.Version);
        await using var cmd = _db.DataSource.CreateCommand("SELECT version, occurred_to FROM snapshot_history WHERE stream_id = $1 ORDER BY version");
        cmd.Parameters.Add(new() { Value = s });
        await using var r = await cmd.ExecuteReaderAsync();
        var rows = new List<(long, DateTimeOffset)>();
        while (await r.ReadAsync()) rows.Add((r.GetInt64(0), r.GetFieldValue<DateTimeOffset>(1)));
        Assert.Equal([(3L, T0.AddMinutes(30)), (5L, T0.AddMinutes(30))], rows);
    }

    [Fact]
    public async Task A_kept_snapshot_whose_hash_is_not_its_events_is_passed_over_and_the_application_cannot_change_one()
    {
        var s = NewStream();
        await _db.Store.AppendAsync([new StreamAppend(s, "test", "t1", ExpectedVersion.NoStream, HashChain.Genesis,
            Enumerable.Range(1, 6).Select(i => At(i, i)).ToList())], null,
            [new Snapshot(s, 3, 1, [], """{"upTo":3}"""), new Snapshot(s, 6, 1, [], """{"upTo":6}""")], default);

        // The schema owner (not the application) slips in a snapshot at version 5 with a made-up hash.
        await using (var owner = new NpgsqlConnection(_db.OwnerConnectionString))
        {
            await owner.OpenAsync();
            await using var forge = new NpgsqlCommand(
                "INSERT INTO snapshot_history (stream_id, version, schema_version, hash, state, occurred_to) VALUES ($1, 5, 1, $2, '{\"upTo\":999}', $3)", owner);
            forge.Parameters.Add(new() { Value = s });
            forge.Parameters.Add(new() { Value = new byte[32] });
            forge.Parameters.Add(new() { Value = T0.AddMinutes(5) });
            await forge.ExecuteNonQueryAsync();
        }
        Assert.Equal(3, (await _db.Store.ReadSnapshotAtAsync(s, 1, T0.AddMinutes(5), default))?.Version);

        await using var app = _db.DataSource.CreateCommand("UPDATE snapshot_history SET state = '{}' WHERE stream_id = $1");
        app.Parameters.Add(new() { Value = s });
        await Assert.ThrowsAnyAsync<PostgresException>(() => app.ExecuteNonQueryAsync());
    }
}
