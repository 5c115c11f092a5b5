using Npgsql;
using NpgsqlTypes;

namespace Escrow.EventStore;

// Reads: a stream, its tenant and snapshot, the global log in commit-safe order, the streams table. Every event comes
// back under its stream's current id (see PgEventStore.Aliases.cs).
public sealed partial class PgEventStore
{
    // The text casts get their own names on purpose: a cast keeps the column's name, and ORDER BY prefers
    // an output column over a table column of the same name. With "transaction_id::text" unaliased,
    // "ORDER BY transaction_id" sorted the ids as text ("999" after "1000"), so a reader's cursor jumped
    // back at every power of ten and re-delivered events (found by the 16-writer test on a fresh cluster).
    private const string EventColumns =
        "e.global_position, e.transaction_id::text AS transaction_id_text, e.stream_id, e.version, e.event_type, e.schema_version, " +
        "e.data::text AS data_text, e.metadata::text AS metadata_text, e.occurred_at, e.recorded_at, e.prev_hash, e.hash";

    private static StoredEvent ReadEvent(NpgsqlDataReader r) => new(
        r.GetInt64(0), ulong.Parse(r.GetString(1), System.Globalization.CultureInfo.InvariantCulture), r.GetString(2), r.GetInt64(3),
        r.GetString(4), r.GetInt32(5), r.GetString(6), r.GetString(7),
        r.GetFieldValue<DateTimeOffset>(8), r.GetFieldValue<DateTimeOffset>(9), (byte[])r[10], (byte[])r[11]);

    private static async Task<List<StoredEvent>> ReadEventsAsync(NpgsqlCommand cmd, CancellationToken ct)
    {
        var list = new List<StoredEvent>();
        var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        await using var rScope = r.ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false))
            list.Add(ReadEvent(r));
        return list;
    }

    /// <summary>
    /// Reads a stream's events with version greater than <paramref name="afterVersion"/>, in version order;
    /// with <paramref name="occurredUpTo"/>, only events whose occurred_at is at or before that instant (UTC).
    /// </summary>
    public async Task<IReadOnlyList<StoredEvent>> ReadStreamAsync(
        string streamId, long afterVersion, CancellationToken ct, DateTimeOffset? occurredUpTo = null, int? limit = null)
    {
        var cmd = DataSource.CreateCommand(
            $"SELECT {EventColumns} FROM events e WHERE e.stream_id = $1 AND e.version > $2 AND ($3::timestamptz IS NULL OR e.occurred_at <= $3) ORDER BY e.version LIMIT $4");
        await using var cmdScope = cmd.ConfigureAwait(false);
        cmd.Parameters.Add(new() { Value = await StoredStreamIdAsync(streamId, ct).ConfigureAwait(false) });
        cmd.Parameters.Add(new() { Value = afterVersion });
        cmd.Parameters.Add(new() { Value = occurredUpTo.HasValue ? occurredUpTo.Value.ToUniversalTime() : DBNull.Value, NpgsqlDbType = NpgsqlDbType.TimestampTz });
        cmd.Parameters.Add(new() { Value = limit.HasValue ? limit.Value : DBNull.Value, NpgsqlDbType = NpgsqlDbType.Integer });
        return await ToCurrentAsync(await ReadEventsAsync(cmd, ct).ConfigureAwait(false), ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Reads a stream's events with version in (<paramref name="afterVersion"/>, <paramref name="toVersion"/>] whose
    /// occurred_at is at or before <paramref name="occurredUpTo"/>, in version order. Both bounds are in the index condition
    /// whatever plan PostgreSQL keeps for the prepared statement (an optional bound written as "$n IS NULL OR …" is not, and a
    /// generic plan then walks the rest of the stream).
    /// </summary>
    public async Task<IReadOnlyList<StoredEvent>> ReadStreamRangeAsync(
        string streamId, long afterVersion, long toVersion, DateTimeOffset occurredUpTo, CancellationToken ct)
    {
        var cmd = DataSource.CreateCommand(
            $"SELECT {EventColumns} FROM events e WHERE e.stream_id = $1 AND e.version > $2 AND e.version <= $3 AND e.occurred_at <= $4 ORDER BY e.version");
        await using var cmdScope = cmd.ConfigureAwait(false);
        cmd.Parameters.Add(new() { Value = await StoredStreamIdAsync(streamId, ct).ConfigureAwait(false) });
        cmd.Parameters.Add(new() { Value = afterVersion });
        cmd.Parameters.Add(new() { Value = toVersion });
        cmd.Parameters.Add(new() { Value = occurredUpTo.ToUniversalTime() });
        return await ToCurrentAsync(await ReadEventsAsync(cmd, ct).ConfigureAwait(false), ct).ConfigureAwait(false);
    }

    /// <summary>
    /// The stream's last kept snapshot (sql/023's <c>snapshot_history</c>) of schema <paramref name="schemaVersion"/> that may
    /// stand in for its events up to <paramref name="occurredUpTo"/>: every event up to the snapshot's version occurred at or
    /// before that instant. Only a snapshot whose hash is the stored event's hash at its version is taken (the chain anchors
    /// it, or, for a version whose event was archived, the stream's archived head at that version), the latest such of the
    /// four latest candidates. Null when there is none (a short stream, an instant before its first
    /// snapshot, or kept snapshots that are not the log's). The candidates are read apart from the hash check (a materialized
    /// CTE): joined in one query, the planner may scan every kept snapshot of the stream before it sorts.
    /// </summary>
    public async Task<Snapshot?> ReadSnapshotAtAsync(string streamId, int schemaVersion, DateTimeOffset occurredUpTo, CancellationToken ct)
    {
        var cmd = DataSource.CreateCommand(
            """
            WITH candidates AS MATERIALIZED (
                SELECT h.version, h.schema_version, h.hash, h.state FROM snapshot_history h
                WHERE h.stream_id = $1 AND h.occurred_to <= $2 AND h.schema_version = $3
                ORDER BY h.occurred_to DESC, h.version DESC LIMIT 4)
            SELECT c.version, c.schema_version, c.hash, c.state::text
            FROM candidates c
            WHERE EXISTS (SELECT FROM events e WHERE e.stream_id = $1 AND e.version = c.version AND e.hash = c.hash)
               OR EXISTS (SELECT FROM archived_stream_heads a WHERE a.stream_id = $1 AND a.last_version = c.version AND a.last_hash = c.hash)
            ORDER BY c.version DESC LIMIT 1
            """);
        await using var cmdScope = cmd.ConfigureAwait(false);
        var stored = await StoredStreamIdAsync(streamId, ct).ConfigureAwait(false);
        cmd.Parameters.Add(new() { Value = stored });
        cmd.Parameters.Add(new() { Value = occurredUpTo.ToUniversalTime() });
        cmd.Parameters.Add(new() { Value = schemaVersion });
        var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        await using var rScope = r.ConfigureAwait(false);
        if (!await r.ReadAsync(ct).ConfigureAwait(false)) return null;
        return new Snapshot(streamId, r.GetInt64(0), r.GetInt32(1), (byte[])r[2], r.GetString(3));
    }

    /// <summary>The tenant a stream belongs to; null when the stream does not exist.</summary>
    public async Task<string?> ReadStreamTenantAsync(string streamId, CancellationToken ct)
    {
        var cmd = DataSource.CreateCommand("SELECT tenant FROM streams WHERE stream_id = $1");
        await using var cmdScope = cmd.ConfigureAwait(false);
        cmd.Parameters.Add(new() { Value = await StoredStreamIdAsync(streamId, ct).ConfigureAwait(false) });
        return await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false) as string;
    }

    public async Task<Snapshot?> ReadSnapshotAsync(string streamId, CancellationToken ct)
    {
        var cmd = DataSource.CreateCommand("SELECT version, schema_version, hash, state::text FROM snapshots WHERE stream_id = $1");
        await using var cmdScope = cmd.ConfigureAwait(false);
        cmd.Parameters.Add(new() { Value = await StoredStreamIdAsync(streamId, ct).ConfigureAwait(false) });
        var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        await using var rScope = r.ConfigureAwait(false);
        if (!await r.ReadAsync(ct).ConfigureAwait(false)) return null;
        return new Snapshot(streamId, r.GetInt64(0), r.GetInt32(1), (byte[])r[2], r.GetString(3));
    }

    /// <summary>
    /// Reads up to <paramref name="max"/> events after <paramref name="after"/> in commit-safe global order.
    /// <para>
    /// Why not simply <c>global_position &gt; checkpoint</c>: an identity value is taken when the row is
    /// inserted, not when its transaction commits. Transaction A takes position 10, transaction B takes
    /// 11 and commits first; a reader at that moment sees 11, moves its checkpoint past 10, and never
    /// sees A's event when A commits. (Waiting for gaps to fill fails too: a rolled-back transaction leaves
    /// a gap that never fills.)
    /// </para>
    /// <para>
    /// The technique: every event row records the id of the transaction that wrote it. The reader only
    /// returns rows whose transaction id is below <c>pg_snapshot_xmin(pg_current_snapshot())</c>, the oldest
    /// transaction still running. Every transaction below that horizon has finished: committed (its rows
    /// are visible now and forever) or rolled back (its rows never will be). Any transaction that writes
    /// later gets an id at or above the horizon, so it sorts after everything already delivered. Ordering
    /// by (transaction id, position) therefore yields a sequence that only ever grows at its end: a
    /// checkpoint never passes an event that becomes visible later, and rollbacks leave nothing to wait
    /// for. The cost: a long-running write transaction holds the horizon back, which shows up as lag,
    /// never as a lost event.
    /// </para>
    /// </summary>
    public async Task<IReadOnlyList<StoredEvent>> ReadAllAsync(GlobalCheckpoint after, int max, CancellationToken ct, NpgsqlConnection? connection = null, NpgsqlTransaction? transaction = null)
        => await ReadAllAsync(after, max, untilHorizon: true, ct, connection, transaction).ConfigureAwait(false);

    /// <summary>
    /// Like <see cref="ReadAllAsync(GlobalCheckpoint, int, CancellationToken, NpgsqlConnection?, NpgsqlTransaction?)"/>;
    /// with <paramref name="untilHorizon"/> false it returns everything the caller's snapshot sees, in the same
    /// order. Only for a reader that works inside one REPEATABLE READ snapshot (the auditor's verify): there
    /// nothing can appear later below its position, so it need not wait for the horizon and sees every
    /// committed event.
    /// </summary>
    public async Task<IReadOnlyList<StoredEvent>> ReadAllAsync(GlobalCheckpoint after, int max, bool untilHorizon, CancellationToken ct,
        NpgsqlConnection? connection = null, NpgsqlTransaction? transaction = null)
    {
        var sql = $"""
            SELECT {EventColumns} FROM events e
            WHERE (e.transaction_id, e.global_position) > ($1::text::xid8, $2)
              {(untilHorizon ? "AND e.transaction_id < pg_snapshot_xmin(pg_current_snapshot())" : "")}
            ORDER BY e.transaction_id, e.global_position
            LIMIT $3
            """;
        var cmd = connection is null ? DataSource.CreateCommand(sql) : new NpgsqlCommand(sql, connection, transaction);
        await using var cmdScope = cmd.ConfigureAwait(false);
        cmd.Parameters.Add(new() { Value = after.TransactionId.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        cmd.Parameters.Add(new() { Value = after.Position });
        cmd.Parameters.Add(new() { Value = max });
        return await ToCurrentAsync(await ReadEventsAsync(cmd, ct).ConfigureAwait(false), ct).ConfigureAwait(false);
    }

    /// <summary>
    /// One batch of the global log in commit-safe order, like <see cref="ReadAllAsync(GlobalCheckpoint, int, CancellationToken, NpgsqlConnection?, NpgsqlTransaction?)"/>,
    /// for a reader interested only in streams whose id starts with one of <paramref name="streamPrefixes"/>: up to
    /// <paramref name="max"/> events are scanned; those of matching streams come back whole, the others only move
    /// <c>Last</c> (their data and metadata are not converted to text nor sent). <c>Scanned</c> is 0 when nothing lies
    /// beyond <paramref name="after"/> below the horizon.
    /// </summary>
    public async Task<(IReadOnlyList<StoredEvent> Events, GlobalCheckpoint Last, int Scanned)> ReadAllAsync(
        GlobalCheckpoint after, int max, IReadOnlyList<string> streamPrefixes, NpgsqlConnection connection, NpgsqlTransaction? transaction, CancellationToken ct)
    {
        const string sql = """
            SELECT e.global_position, e.transaction_id::text AS transaction_id_text, e.stream_id, e.version, e.event_type, e.schema_version,
                   CASE WHEN f.wanted THEN e.data::text END, CASE WHEN f.wanted THEN e.metadata::text END,
                   e.occurred_at, e.recorded_at, e.prev_hash, e.hash
            FROM events e CROSS JOIN LATERAL (SELECT e.stream_id LIKE ANY ($4::text[]) AS wanted) f
            WHERE (e.transaction_id, e.global_position) > ($1::text::xid8, $2)
              AND e.transaction_id < pg_snapshot_xmin(pg_current_snapshot())
            ORDER BY e.transaction_id, e.global_position
            LIMIT $3
            """;
        var cmd = new NpgsqlCommand(sql, connection, transaction);
        await using var cmdScope = cmd.ConfigureAwait(false);
        cmd.Parameters.Add(new() { Value = after.TransactionId.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        cmd.Parameters.Add(new() { Value = after.Position });
        cmd.Parameters.Add(new() { Value = max });
        cmd.Parameters.Add(new() { Value = streamPrefixes.Select(LikePrefix).ToArray() });
        var list = new List<StoredEvent>();
        var last = after;
        var scanned = 0;
        var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        await using var rScope = r.ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false))
        {
            scanned++;
            if (r.IsDBNull(6))
                last = new GlobalCheckpoint(ulong.Parse(r.GetString(1), System.Globalization.CultureInfo.InvariantCulture), r.GetInt64(0));
            else
            {
                var e = ReadEvent(r);
                list.Add(e);
                last = e.Checkpoint;
            }
        }
        return (await ToCurrentAsync(list, ct).ConfigureAwait(false), last, scanned);
    }

    /// <summary>A LIKE pattern matching ids that start with <paramref name="prefix"/> (its wildcards escaped).</summary>
    private static string LikePrefix(string prefix) => LikeLiteral(prefix) + "%";

    /// <summary><paramref name="text"/> as part of a LIKE pattern that matches itself: its wildcards and backslashes escaped.</summary>
    public static string LikeLiteral(string text) =>
        text.Replace(@"\", @"\\", StringComparison.Ordinal).Replace("%", @"\%", StringComparison.Ordinal).Replace("_", @"\_", StringComparison.Ordinal);

    /// <summary>Every stream's stored id (the one its hashes cover) with its type, version and last hash, in id order (for verification).</summary>
    public async IAsyncEnumerable<(string StreamId, string StreamType, long Version, byte[] LastHash)> ListStreamsAsync(
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        var cmd = DataSource.CreateCommand("SELECT stream_id, stream_type, version, last_hash FROM streams ORDER BY stream_id");
        await using var cmdScope = cmd.ConfigureAwait(false);
        var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        await using var rScope = r.ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false))
            yield return (r.GetString(0), r.GetString(1), r.GetInt64(2), (byte[])r[3]);
    }

    /// <summary>
    /// The events matching <paramref name="predicate"/>, a SQL condition over the events table aliased <c>e</c> with
    /// parameters <c>$1</c>… bound to <paramref name="parameters"/>, in global order. For lookups that belong to a
    /// caller (the ledger's posting legs), over an index the caller's migration creates.
    /// </summary>
    public async Task<IReadOnlyList<StoredEvent>> ReadEventsWhereAsync(string predicate, IReadOnlyList<object> parameters, CancellationToken ct)
    {
        var cmd = DataSource.CreateCommand($"SELECT {EventColumns} FROM events e WHERE {predicate} ORDER BY e.global_position");
        await using var cmdScope = cmd.ConfigureAwait(false);
        foreach (var value in parameters) cmd.Parameters.Add(new() { Value = value });
        return await ToCurrentAsync(await ReadEventsAsync(cmd, ct).ConfigureAwait(false), ct).ConfigureAwait(false);
    }
}
