using Escrow.Testing;
using Npgsql;

namespace Escrow.EventStore.Tests;

/// <summary>Raw test events on the global log: one-event streams written below the store's API, the head, event ids.</summary>
internal static class TestLog
{
    /// <summary>
    /// Appends one event (version 1, type TestHappened, <c>data.n</c> = the stream id, <c>metadata.eventId</c>) to a new
    /// stream, in <paramref name="tx"/> when given (left open for the caller), else committed at once. Returns the event id.
    /// </summary>
    public static async Task<Guid> AppendAsync(PgDatabase db, string stream, NpgsqlConnection? conn = null, NpgsqlTransaction? tx = null)
    {
        var id = Guid.NewGuid();
        await using var batch = conn is null ? db.DataSource.CreateBatch() : new NpgsqlBatch(conn, tx);
        var bump = new NpgsqlBatchCommand("SELECT bump_stream($1, 'test', 't1', 0, 1, $2)");
        bump.Parameters.Add(new() { Value = stream });
        bump.Parameters.Add(new() { Value = new byte[32] });
        var insert = new NpgsqlBatchCommand(
            """
            INSERT INTO events (stream_id, version, event_id, event_type, schema_version, data, metadata, occurred_at, prev_hash, hash)
            VALUES ($1, 1, $2, 'TestHappened', 1, jsonb_build_object('n', $1), jsonb_build_object('eventId', $2::uuid), now(), $3, $3)
            """);
        insert.Parameters.Add(new() { Value = stream });
        insert.Parameters.Add(new() { Value = id });
        insert.Parameters.Add(new() { Value = new byte[32] });
        batch.BatchCommands.Add(bump);
        batch.BatchCommands.Add(insert);
        await batch.ExecuteNonQueryAsync();
        return id;
    }

    /// <summary>The checkpoint after every event a commit-safe reader sees now.</summary>
    public static async Task<GlobalCheckpoint> HeadAsync(PgEventStore store)
    {
        var cp = GlobalCheckpoint.Start;
        while (true)
        {
            var page = await store.ReadAllAsync(cp, 1000, default);
            if (page.Count == 0) return cp;
            cp = page[^1].Checkpoint;
        }
    }

    /// <summary>The event id from an event's metadata.</summary>
    public static Guid IdOf(StoredEvent e)
    {
        using var doc = System.Text.Json.JsonDocument.Parse(e.MetadataJson);
        return doc.RootElement.GetProperty("eventId").GetGuid();
    }
}
