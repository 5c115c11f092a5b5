using NpgsqlTypes;

namespace Escrow.EventStore;

/// <summary>One monthly partition of the events table (migration 025): <c>events_YYYY_MM</c> holds [From, To) of recorded_at.</summary>
public sealed record EventPartition(string Name, DateTimeOffset From, DateTimeOffset To);

/// <summary>Where the live part of a stream begins after archived months: its last archived version and that event's hash.</summary>
public sealed record ArchivedHead(string StreamId, long Version, byte[] Hash);

public sealed partial class PgEventStore
{
    /// <summary>
    /// Makes the monthly partitions of the events table from the current month (by the database's clock) through three
    /// months after <paramref name="through"/> (a silo's ledger clock); answers how many it made (0 when they all exist).
    /// </summary>
    public async Task<int> EnsurePartitionsAsync(DateTimeOffset through, CancellationToken ct)
    {
        var cmd = DataSource.CreateCommand("SELECT ensure_event_partitions($1)");
        await using var cmdScope = cmd.ConfigureAwait(false);
        cmd.Parameters.Add(new() { Value = through, NpgsqlDbType = NpgsqlDbType.TimestampTz });
        return (int)(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
    }

    /// <summary>The attached monthly partitions of the events table, oldest first.</summary>
    public async Task<IReadOnlyList<EventPartition>> ListPartitionsAsync(CancellationToken ct)
    {
        var cmd = DataSource.CreateCommand("""
            SELECT c.relname::text, pg_get_expr(c.relpartbound, c.oid)
            FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = 'events'::regclass ORDER BY c.relname
            """);
        await using var cmdScope = cmd.ConfigureAwait(false);
        var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        await using var readerScope = reader.ConfigureAwait(false);
        var list = new List<EventPartition>();
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            // FOR VALUES FROM ('2026-12-01 00:00:00+00') TO ('2027-01-01 00:00:00+00')
            var bound = reader.GetString(1).Split('\'');
            list.Add(new EventPartition(reader.GetString(0), DateTimeOffset.Parse(bound[1], System.Globalization.CultureInfo.InvariantCulture),
                DateTimeOffset.Parse(bound[3], System.Globalization.CultureInfo.InvariantCulture)));
        }
        return list;
    }

    /// <summary>
    /// Each stream's last archived head (table <c>archived_stream_heads</c>): the stream's events up to that version were
    /// archived (escrow archive) and its live part continues from there. Empty when no month was archived.
    /// </summary>
    public async Task<IReadOnlyDictionary<string, ArchivedHead>> ArchivedHeadsAsync(CancellationToken ct)
    {
        var cmd = DataSource.CreateCommand("""
            SELECT DISTINCT ON (stream_id) stream_id, last_version, last_hash FROM archived_stream_heads ORDER BY stream_id, last_version DESC
            """);
        await using var cmdScope = cmd.ConfigureAwait(false);
        var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        await using var readerScope = reader.ConfigureAwait(false);
        var heads = new Dictionary<string, ArchivedHead>(StringComparer.Ordinal);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
            heads[reader.GetString(0)] = new ArchivedHead(reader.GetString(0), reader.GetInt64(1), (byte[])reader[2]);
        return heads;
    }

    /// <summary>One stream's last archived head, or null when none of its events was archived.</summary>
    public async Task<ArchivedHead?> ArchivedHeadAsync(string streamId, CancellationToken ct)
    {
        var stored = await StoredStreamIdAsync(streamId, ct).ConfigureAwait(false);
        var cmd = DataSource.CreateCommand("SELECT last_version, last_hash FROM archived_stream_heads WHERE stream_id = $1 ORDER BY last_version DESC LIMIT 1");
        await using var cmdScope = cmd.ConfigureAwait(false);
        cmd.Parameters.Add(new() { Value = stored });
        var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        await using var readerScope = reader.ConfigureAwait(false);
        return await reader.ReadAsync(ct).ConfigureAwait(false) ? new ArchivedHead(stored, reader.GetInt64(0), (byte[])reader[1]) : null;
    }
}
