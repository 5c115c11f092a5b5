using System.Globalization;
using System.Text.Json;
using Escrow.Domain;
using Escrow.Domain.Accounts;
using Escrow.Domain.Deals;
using Escrow.Domain.Payments;
using Escrow.Domain.Subjects;
using Escrow.EventStore;
using Npgsql;
using NpgsqlTypes;

namespace Escrow.Silo.Ledger;

/// <summary>What archiving one month did.</summary>
public sealed record ArchivedMonth(DateOnly Month, string Path, long Events, long Streams, long SnapshotsKept, string Sha256);

/// <summary>
/// <c>escrow archive</c>: moves months of the events table older than a retention window out of the database into files
/// (<see cref="EventArchives"/>), oldest first. For each month, as the schema owner:
/// <list type="number">
/// <item>every stream the month holds must have no earlier version left in a later month (a transaction that began before
/// the month ended and committed after another: then the month is refused, as nothing can be cut there);</item>
/// <item>every grain stream (account, deal, payment, data subject) gets a kept snapshot at its last version in the month,
/// folded with the domain's own <c>Evolve</c> from the latest kept snapshot below it and the live events between (an
/// earlier archived month left one at its head, so those events are live): a grain then loads from that snapshot, a balance
/// as of a later instant replays from it, and <c>escrow verify</c> starts its fold there;</item>
/// <item>the month is written to <c>events-YYYY-MM.csv.gz</c> and read back (every event counted);</item>
/// <item>in one transaction: the archive record (file, SHA-256, events, positions), each stream's archived head (last version
/// and hash), then the partition is detached and dropped.</item>
/// </list>
/// Detaching takes a brief exclusive lock on the events table (appends wait for it, milliseconds).
/// </summary>
public static class EventArchiver
{
    /// <summary>How a grain stream type folds and the schema of its snapshots' state.</summary>
    private sealed record Folding(Func<string, object> Empty, Func<object, object, object> Evolve, Type StateType, int SchemaVersion);

    private static readonly Dictionary<string, Folding> Foldings = new(StringComparer.Ordinal)
    {
        [Account.StreamType] = new(id => AccountState.Empty(AccountStreams.TryAccountId(id, out var a) ? a : id["account-".Length..]),
            (s, e) => Account.Evolve((AccountState)s, e), typeof(AccountState), Grains.AccountGrain.StateSchemaVersion),
        [Deal.StreamType] = new(id => DealState.Empty(DealStreams.TryDealId(id, out var d) ? d : id["deal-".Length..]),
            (s, e) => Deal.Evolve((DealState)s, e), typeof(DealState), 1),
        [Payment.StreamType] = new(id => PaymentState.Empty(id[^36..]), (s, e) => Payment.Evolve((PaymentState)s, e), typeof(PaymentState), 1),
        [Subject.StreamType] = new(id => SubjectState.Empty(StreamIds.TryParse(id, Grains.SubjectGrain.StreamPrefix, out _, out var s) ? s : id),
            (s, e) => Subject.Evolve((SubjectState)s, e), typeof(SubjectState), 1),
    };

    /// <summary>
    /// Archives every attached month that ends on or before <paramref name="before"/> (the first day of a month), oldest first,
    /// into <paramref name="directory"/>. <paramref name="owner"/> connects as the schema owner.
    /// </summary>
    public static async Task<IReadOnlyList<ArchivedMonth>> ArchiveBeforeAsync(NpgsqlDataSource owner, DateOnly before, string directory, string actor,
        Action<string>? info, CancellationToken ct)
    {
        Directory.CreateDirectory(directory);
        await using (var cmd = owner.CreateCommand("SELECT date_trunc('month', now() AT TIME ZONE 'UTC')::date"))
        {
            var current = (await cmd.ExecuteScalarAsync(ct)) switch { DateOnly d => d, DateTime t => DateOnly.FromDateTime(t), var other => throw new InvalidOperationException($"month of {other}") };
            if (before > current)
                throw new ArgumentOutOfRangeException(nameof(before), before,
                    $"only months that have ended can be archived: the cutoff may be {current:yyyy-MM} at the latest (the database's clock)");
        }
        var store = new PgEventStore(owner);
        var months = (await store.ListPartitionsAsync(ct)).Where(p => p.To <= new DateTimeOffset(before.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero)).ToList();
        var done = new List<ArchivedMonth>();
        foreach (var p in months)
        {
            var month = DateOnly.FromDateTime(p.From.UtcDateTime);
            info?.Invoke($"archiving {month:yyyy-MM} ({p.Name})");
            done.Add(await ArchiveMonthAsync(owner, store, month, p.Name, directory, actor, ct));
        }
        return done;
    }

    private sealed record Head(string StreamId, string StreamType, long FirstVersion, long LastVersion, byte[] LastHash);

    /// <summary>How long archiving waits for a lock (the month's, then the events table's for the detach) before giving up.</summary>
    public static readonly TimeSpan LockTimeout = TimeSpan.FromSeconds(5);

    private static async Task<ArchivedMonth> ArchiveMonthAsync(NpgsqlDataSource owner, PgEventStore store, DateOnly month, string partition, string directory,
        string actor, CancellationToken ct)
    {
        await using var conn = await owner.OpenConnectionAsync(ct);
        var part = EventArchives.Quote(partition);
        var heads = new List<Head>();
        await using (var cmd = new NpgsqlCommand($"""
            SELECT e.stream_id, s.stream_type, min(e.version), max(e.version), (array_agg(e.hash ORDER BY e.version DESC))[1]
            FROM {part} e JOIN streams s ON s.stream_id = e.stream_id GROUP BY e.stream_id, s.stream_type ORDER BY e.stream_id
            """, conn))
        await using (var r = await cmd.ExecuteReaderAsync(ct))
            while (await r.ReadAsync(ct))
                heads.Add(new Head(r.GetString(0), r.GetString(1), r.GetInt64(2), r.GetInt64(3), (byte[])r[4]));

        // 1. Nothing of these streams up to their heads may live in another partition.
        await using (var cmd = new NpgsqlCommand($"""
            SELECT e.stream_id, e.version, e.tableoid::regclass::text FROM events e
            JOIN unnest($1::text[], $2::bigint[]) AS h(stream_id, last_version) ON e.stream_id = h.stream_id AND e.version <= h.last_version
            WHERE e.tableoid <> '{part}'::regclass LIMIT 1
            """, conn))
        {
            cmd.Parameters.Add(new() { Value = heads.Select(h => h.StreamId).ToArray() });
            cmd.Parameters.Add(new() { Value = heads.Select(h => h.LastVersion).ToArray() });
            await using var r = await cmd.ExecuteReaderAsync(ct);
            if (await r.ReadAsync(ct))
                throw new InvalidOperationException(
                    $"{month:yyyy-MM} cannot be archived: stream {r.GetString(0)} has version {r.GetInt64(1)} in {r.GetString(2)}, below its last version in {partition}");
        }

        // Every projection must be past the month: its read model holds what the archived events did (a projection behind
        // them, or one added later, would never see them).
        await using (var cmd = new NpgsqlCommand($"""
            WITH last AS (SELECT transaction_id, global_position FROM {part} ORDER BY transaction_id DESC, global_position DESC LIMIT 1)
            SELECT p.projection FROM projection_checkpoints p, last
            WHERE (p.transaction_id, p.global_position) < (last.transaction_id, last.global_position) ORDER BY 1 LIMIT 1
            """, conn))
            if (await cmd.ExecuteScalarAsync(ct) is string behind)
                throw new InvalidOperationException($"{month:yyyy-MM} cannot be archived yet: projection '{behind}' has not applied all of its events");

        // 2. A kept snapshot at every grain stream's head.
        long kept = 0;
        foreach (var h in heads)
            if (Foldings.TryGetValue(h.StreamType, out var folding) && await KeepSnapshotAtAsync(conn, store, h, folding, ct))
                kept++;

        // 3.–4. In one transaction that holds the month still (SHARE: nothing can be added to it meanwhile): the file, read
        // back and counted; the record; detach and drop. Waiting longer than LockTimeout for a lock (a long reader of the
        // events table holds off the detach) gives up and changes nothing.
        var path = Path.Combine(directory, EventArchives.FileName(month));
        await using (var tx = await conn.BeginTransactionAsync(ct))
        {
            await using (var lockCmd = new NpgsqlCommand($"SET LOCAL lock_timeout = '{(int)LockTimeout.TotalMilliseconds}ms'; LOCK TABLE {part} IN SHARE MODE", conn, tx))
                await lockCmd.ExecuteNonQueryAsync(ct);
            var (sha, written) = await EventArchives.ExportAsync(conn, partition, path, ct);
            long count, first = 0, last = 0;
            await using (var cmd = new NpgsqlCommand($"SELECT count(*), coalesce(min(global_position), 0), coalesce(max(global_position), 0) FROM {part}", conn, tx))
            await using (var r = await cmd.ExecuteReaderAsync(ct))
            {
                await r.ReadAsync(ct);
                (count, first, last) = (r.GetInt64(0), r.GetInt64(1), r.GetInt64(2));
            }
            if (written != count) throw new InvalidDataException($"{path} holds {written} events, {partition} {count}: nothing was archived");
            await using var batch = new NpgsqlBatch(conn, tx);
            var record = new NpgsqlBatchCommand("""
                INSERT INTO event_archives (month, file_name, file_sha256, events, streams, first_position, last_position, archived_by)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                """);
            foreach (var v in new object[] { month, Path.GetFileName(path), sha, count, (long)heads.Count, count == 0 ? DBNull.Value : first, count == 0 ? DBNull.Value : last, actor })
                record.Parameters.Add(new() { Value = v });
            batch.BatchCommands.Add(record);
            var headRows = new NpgsqlBatchCommand("""
                INSERT INTO archived_stream_heads (stream_id, month, first_version, last_version, last_hash)
                SELECT s, $1, f, l, h FROM unnest($2::text[], $3::bigint[], $4::bigint[], $5::bytea[]) AS t(s, f, l, h)
                """);
            headRows.Parameters.Add(new() { Value = month });
            headRows.Parameters.Add(new() { Value = heads.Select(h => h.StreamId).ToArray() });
            headRows.Parameters.Add(new() { Value = heads.Select(h => h.FirstVersion).ToArray() });
            headRows.Parameters.Add(new() { Value = heads.Select(h => h.LastVersion).ToArray() });
            headRows.Parameters.Add(new() { Value = heads.Select(h => h.LastHash).ToArray() });
            batch.BatchCommands.Add(headRows);
            batch.BatchCommands.Add(new NpgsqlBatchCommand($"ALTER TABLE events DETACH PARTITION {part}"));
            batch.BatchCommands.Add(new NpgsqlBatchCommand($"DROP TABLE {part}"));
            await batch.ExecuteNonQueryAsync(ct);
            await tx.CommitAsync(ct);
            return new ArchivedMonth(month, path, count, heads.Count, kept, Convert.ToHexStringLower(sha));
        }
    }

    /// <summary>
    /// Writes the kept snapshot of <paramref name="h"/>'s stream at its last version in the month (and the latest snapshot,
    /// when that is newer than the one there), unless one is kept there already. Answers whether it wrote one.
    /// </summary>
    private static async Task<bool> KeepSnapshotAtAsync(NpgsqlConnection conn, PgEventStore store, Head h, Folding folding, CancellationToken ct)
    {
        long from = 0;
        object? state = null;
        DateTimeOffset? occurredTo = null;
        await using (var cmd = new NpgsqlCommand("""
            SELECT version, state::text, occurred_to FROM snapshot_history
            WHERE stream_id = $1 AND version <= $2 AND schema_version = $3 ORDER BY version DESC LIMIT 1
            """, conn))
        {
            cmd.Parameters.Add(new() { Value = h.StreamId });
            cmd.Parameters.Add(new() { Value = h.LastVersion });
            cmd.Parameters.Add(new() { Value = folding.SchemaVersion });
            await using var r = await cmd.ExecuteReaderAsync(ct);
            if (await r.ReadAsync(ct))
            {
                if (r.GetInt64(0) == h.LastVersion) return false;
                from = r.GetInt64(0);
                state = JsonSerializer.Deserialize(r.GetString(1), folding.StateType, EventSerializer.Options);
                occurredTo = new DateTimeOffset(r.GetDateTime(2), TimeSpan.Zero);
            }
        }
        var streamId = h.StreamId;
        state ??= folding.Empty(await CurrentIdAsync(conn, streamId, ct));
        var version = from;
        while (version < h.LastVersion)
        {
            var page = await store.ReadStreamAsync(streamId, version, ct, limit: (int)Math.Min(1000, h.LastVersion - version));
            if (page.Count == 0 || page[0].Version != version + 1)
                throw new InvalidOperationException($"stream {streamId}: version {version + 1} is not in the live log; archive the months in order");
            foreach (var e in page)
            {
                state = folding.Evolve(state, EventSerializer.Deserialize(e));
                occurredTo = occurredTo is { } o && o > e.OccurredAt ? o : e.OccurredAt;
                version = e.Version;
            }
        }
        var json = JsonSerializer.Serialize(state, folding.StateType, EventSerializer.Options);
        await using var batch = new NpgsqlBatch(conn);
        var history = new NpgsqlBatchCommand("""
            INSERT INTO snapshot_history (stream_id, version, schema_version, hash, state, occurred_to) VALUES ($1, $2, $3, $4, $5::jsonb, $6)
            ON CONFLICT DO NOTHING
            """);
        var latest = new NpgsqlBatchCommand("""
            INSERT INTO snapshots AS s (stream_id, version, schema_version, hash, state) VALUES ($1, $2, $3, $4, $5::jsonb)
            ON CONFLICT (stream_id) DO UPDATE SET version = EXCLUDED.version, schema_version = EXCLUDED.schema_version, hash = EXCLUDED.hash,
                state = EXCLUDED.state, created_at = now()
            WHERE s.version < EXCLUDED.version
            """);
        foreach (var c in new[] { history, latest })
        {
            c.Parameters.Add(new() { Value = streamId });
            c.Parameters.Add(new() { Value = h.LastVersion });
            c.Parameters.Add(new() { Value = folding.SchemaVersion });
            c.Parameters.Add(new() { Value = h.LastHash });
            c.Parameters.Add(new() { Value = json, NpgsqlDbType = NpgsqlDbType.Text });
        }
        history.Parameters.Add(new() { Value = occurredTo ?? DateTimeOffset.UnixEpoch, NpgsqlDbType = NpgsqlDbType.TimestampTz });
        batch.BatchCommands.Add(history);
        batch.BatchCommands.Add(latest);
        await batch.ExecuteNonQueryAsync(ct);
        return true;
    }

    /// <summary>The id a stored stream id is read under (its alias, for streams written before ids were per institution).</summary>
    private static async Task<string> CurrentIdAsync(NpgsqlConnection conn, string storedId, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("SELECT alias FROM stream_aliases WHERE stream_id = $1", conn);
        cmd.Parameters.Add(new() { Value = storedId });
        return await cmd.ExecuteScalarAsync(ct) as string ?? storedId;
    }

    /// <summary>The first day of the month <paramref name="months"/> before the one <paramref name="now"/> falls in (UTC).</summary>
    public static DateOnly RetentionCutoff(DateTimeOffset now, int months)
    {
        var utc = now.UtcDateTime;
        return new DateOnly(utc.Year, utc.Month, 1).AddMonths(-months);
    }

    /// <summary>Parses <c>YYYY-MM</c>.</summary>
    public static DateOnly ParseMonth(string text) =>
        DateOnly.ParseExact(text + "-01", "yyyy-MM-dd", CultureInfo.InvariantCulture);
}
