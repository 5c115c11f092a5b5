using System.Security.Cryptography;
using Escrow.EventStore;
using Escrow.Testing;
using Npgsql;

namespace Escrow.EventStore.Tests;

/// <summary>Contract tests of the PostgreSQL event log, against a real database per class.</summary>
public class EventLogTests : IClassFixture<PgDatabase>
{
    private readonly PgDatabase _db;
    public EventLogTests(PgDatabase db) => _db = db;

    internal static NewEvent Event(string type = "TestHappened", string json = """{"n":1}""", string tenant = "t1") =>
        new(type, 1, json, new EventMetadata(Guid.NewGuid(), Guid.NewGuid(), null, "tester", tenant, null), new DateTimeOffset(2024, 3, 15, 14, 47, 0, TimeSpan.Zero));

    private static string NewStream() => "test-" + Guid.NewGuid().ToString("N");

    [Fact]
    public async Task Appended_events_read_back_in_version_order_with_a_valid_hash_chain()
    {
        var s = NewStream();
        var heads = await _db.Store.AppendAsync([new StreamAppend(s, "test", "t1", ExpectedVersion.NoStream, HashChain.Genesis,
            [Event(json: """{"n":1,"amount":700.00}"""), Event(json: """{"n":2,"name":"Zürich"}""")])], null, null, default);
        Assert.Equal(2, heads[s].Version);

        var events = await _db.Store.ReadStreamAsync(s, 0, default);
        Assert.Equal([1L, 2L], events.Select(e => e.Version));
        Assert.Equal(HashChain.Genesis, events[0].PrevHash);
        Assert.Equal(events[0].Hash, events[1].PrevHash);
        Assert.Equal(heads[s].LastHash, events[1].Hash);
        Assert.Contains("700.00", events[0].DataJson);   // numeric scale survives jsonb
        foreach (var e in events)
            Assert.Equal(e.Hash, HashChain.Compute(e.PrevHash, e.StreamId, e.Version, e.EventType, e.SchemaVersion, e.OccurredAt, e.DataJson, e.MetadataJson));
    }

    [Fact]
    public async Task A_wrong_expected_version_on_one_stream_fails_the_whole_multi_stream_append_and_names_the_stream()
    {
        var a = NewStream();
        var b = NewStream();
        var head = await _db.Store.AppendAsync([new StreamAppend(a, "test", "t1", ExpectedVersion.NoStream, HashChain.Genesis, [Event()])], null, null, default);

        var ex = await Assert.ThrowsAsync<WrongExpectedVersionException>(() => _db.Store.AppendAsync(
        [
            new StreamAppend(b, "test", "t1", ExpectedVersion.NoStream, HashChain.Genesis, [Event()]),
            new StreamAppend(a, "test", "t1", ExpectedVersion.Exactly(5), head[a].LastHash, [Event()]),
        ], null, null, default));
        Assert.Equal(a, ex.StreamId);
        Assert.Equal(5, ex.Expected);
        Assert.Equal(1, ex.Actual);
        Assert.Contains(a, ex.Message);
        Assert.Empty(await _db.Store.ReadStreamAsync(b, 0, default));          // the other stream got nothing
        Assert.Single(await _db.Store.ReadStreamAsync(a, 0, default));
    }

    [Fact]
    public async Task Of_two_writers_expecting_the_same_version_exactly_one_wins()
    {
        var s = NewStream();
        var head = await _db.Store.AppendAsync([new StreamAppend(s, "test", "t1", ExpectedVersion.NoStream, HashChain.Genesis, [Event()])], null, null, default);
        var attempts = Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            try
            {
                await _db.Store.AppendAsync([new StreamAppend(s, "test", "t1", ExpectedVersion.Exactly(1), head[s].LastHash, [Event()])], null, null, default);
                return true;
            }
            catch (WrongExpectedVersionException ex)
            {
                Assert.Equal(2, ex.Actual);
                return false;
            }
        })).ToArray();
        var results = await Task.WhenAll(attempts);
        Assert.Equal(1, results.Count(r => r));
        Assert.Equal(2, (await _db.Store.ReadStreamAsync(s, 0, default)).Count);
    }

    [Fact]
    public async Task Creating_an_existing_stream_with_no_stream_expected_is_a_conflict()
    {
        var s = NewStream();
        await _db.Store.AppendAsync([new StreamAppend(s, "test", "t1", ExpectedVersion.NoStream, HashChain.Genesis, [Event()])], null, null, default);
        var ex = await Assert.ThrowsAsync<WrongExpectedVersionException>(() =>
            _db.Store.AppendAsync([new StreamAppend(s, "test", "t1", ExpectedVersion.NoStream, HashChain.Genesis, [Event()])], null, null, default));
        Assert.Equal(0, ex.Expected);
        Assert.Equal(1, ex.Actual);
    }

    [Fact]
    public async Task An_idempotency_key_is_stored_with_the_events_and_a_second_use_appends_nothing()
    {
        var s1 = NewStream();
        var s2 = NewStream();
        var key = "key-" + Guid.NewGuid();
        var record = new IdempotencyRecord("t1", key, SHA256.HashData("body"u8), 201, """{"ok":true}""");
        await _db.Store.AppendAsync([new StreamAppend(s1, "test", "t1", ExpectedVersion.NoStream, HashChain.Genesis, [Event()])], record, null, default);
        await Assert.ThrowsAsync<IdempotencyKeyTakenException>(() =>
            _db.Store.AppendAsync([new StreamAppend(s2, "test", "t1", ExpectedVersion.NoStream, HashChain.Genesis, [Event()])], record, null, default));
        Assert.Empty(await _db.Store.ReadStreamAsync(s2, 0, default));
        var stored = await _db.Store.FindIdempotencyAsync("t1", key, default);
        Assert.Equal(201, stored!.StatusCode);
        Assert.Equal("""{"ok":true}""", stored.ResponseBody);
        Assert.Null(await _db.Store.FindIdempotencyAsync("other-tenant", key, default));
    }

    [Theory]
    [InlineData("UPDATE events SET event_type = 'x'")]
    [InlineData("DELETE FROM events")]
    [InlineData("TRUNCATE events")]
    [InlineData("DELETE FROM streams")]
    [InlineData("UPDATE idempotency SET status_code = 200")]
    public async Task The_application_role_cannot_change_or_delete_the_log(string sql)
    {
        await _db.Store.AppendAsync([new StreamAppend(NewStream(), "test", "t1", ExpectedVersion.NoStream, HashChain.Genesis, [Event()])],
            new IdempotencyRecord("t1", Guid.NewGuid().ToString(), [1], 201, "{}"), null, default);
        await using var cmd = _db.DataSource.CreateCommand(sql);
        var ex = await Assert.ThrowsAsync<PostgresException>(() => cmd.ExecuteNonQueryAsync());
        Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, ex.SqlState);
    }

    [Theory]
    [InlineData("UPDATE events SET event_type = 'x'")]
    [InlineData("DELETE FROM events")]
    [InlineData("TRUNCATE events CASCADE")]
    public async Task Even_the_owner_is_refused_by_the_append_only_triggers(string sql)
    {
        await _db.Store.AppendAsync([new StreamAppend(NewStream(), "test", "t1", ExpectedVersion.NoStream, HashChain.Genesis, [Event()])], null, null, default);
        var ex = await Assert.ThrowsAsync<PostgresException>(() => _db.ExecAsOwnerAsync(sql));
        Assert.Contains("append-only", ex.MessageText);
    }

    [Fact]
    public async Task Verify_names_the_first_broken_link_after_a_row_is_altered_behind_the_triggers_back()
    {
        await using var db = new PgDatabase();
        await db.InitializeAsync();
        try
        {
            var s = NewStream();
            var ok = NewStream();
            await db.Store.AppendAsync([new StreamAppend(s, "test", "t1", ExpectedVersion.NoStream, HashChain.Genesis,
                [Event(json: """{"amount":10.00}"""), Event(json: """{"amount":20.00}"""), Event(json: """{"amount":30.00}""")])], null, null, default);
            await db.Store.AppendAsync([new StreamAppend(ok, "test", "t1", ExpectedVersion.NoStream, HashChain.Genesis, [Event()])], null, null, default);
            Assert.Empty(await ToListAsync(ChainVerifier.VerifyAsync(db.Store, null, default)));

            // An attacker with owner rights disables the trigger and changes an amount.
            await db.ExecAsOwnerAsync($$"""
                ALTER TABLE events DISABLE TRIGGER events_no_update_delete;
                UPDATE events SET data = jsonb_set(data, '{amount}', '25.00') WHERE stream_id = '{{s}}' AND version = 2;
                ALTER TABLE events ENABLE TRIGGER events_no_update_delete;
                """);

            var broken = await ToListAsync(ChainVerifier.VerifyAsync(db.Store, null, default));
            var link = Assert.Single(broken);
            Assert.Equal(s, link.StreamId);
            Assert.Equal(2, link.Version);
            Assert.Contains("content", link.Reason);
        }
        finally
        {
            await db.DisposeAsync();
        }
    }

    [Fact]
    public async Task Canonical_json_ignores_key_order_whitespace_and_escaping_but_not_numeric_scale()
    {
        Assert.Equal(HashChain.Canonical("""{"b":1,"a":"é"}"""), HashChain.Canonical("""{ "a" : "\u00e9", "b":1 }"""));
        Assert.NotEqual(HashChain.Canonical("""{"a":1.0}"""), HashChain.Canonical("""{"a":1.00}"""));
        await Task.CompletedTask;
    }

    internal static async Task<List<T>> ToListAsync<T>(IAsyncEnumerable<T> source)
    {
        var list = new List<T>();
        await foreach (var x in source) list.Add(x);
        return list;
    }
}
