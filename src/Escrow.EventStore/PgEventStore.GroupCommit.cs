using Npgsql;
using NpgsqlTypes;

namespace Escrow.EventStore;

// Group commit: the queue of prepared appends, the flush loops, and the one batch that commits several appends (events, stream heads, idempotency, audit and snapshot rows) in one transaction.
public sealed partial class PgEventStore
{
    // ---------------------------------------------------------------- group commit

    private readonly Lock _queueGate = new();
    private readonly List<PendingAppend> _queue = [];
    private int _flushers;

    private void Enqueue(PendingAppend p)
    {
        bool start;
        lock (_queueGate)
        {
            _queue.Add(p);
            start = _flushers < Math.Max(1, GroupCommit.MaxConcurrentBatches);
            if (start) _flushers++;
        }
        if (start) _ = Task.Run(FlushLoopAsync);
    }

    /// <summary>
    /// One of at most <see cref="GroupCommitOptions.MaxConcurrentBatches"/> loops: takes what is queued, commits it as
    /// one transaction, answers its callers, and repeats until the queue is empty.
    /// </summary>
    private async Task FlushLoopAsync()
    {
        while (true)
        {
            List<PendingAppend> batch;
            lock (_queueGate)
            {
                batch = TakeBatch();
                if (batch.Count == 0)
                {
                    _flushers--;
                    return;
                }
            }
            Interlocked.Increment(ref _batches);
            Interlocked.Add(ref _batchedAppends, batch.Count);
            await CommitAsync(batch).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The oldest queued appends that can share a transaction: no stream and no idempotency key twice (such an
    /// append waits for the next batch, so that its expected version is checked after the first one committed), and
    /// an append with statements of its own (<c>alsoInTransaction</c>) always alone. Called under the queue lock.
    /// </summary>
    private List<PendingAppend> TakeBatch()
    {
        var batch = new List<PendingAppend>(Math.Min(_queue.Count, GroupCommit.MaxBatchSize));
        if (_queue.Count == 0) return batch;
        HashSet<string>? streams = null;
        HashSet<(string, string)>? keys = null;
        for (var i = 0; i < _queue.Count && batch.Count < Math.Max(1, GroupCommit.MaxBatchSize); i++)
        {
            var p = _queue[i];
            if (p.Extras is { Count: > 0 })
            {
                if (batch.Count > 0) continue;
                batch.Add(p);
                _queue.RemoveAt(i);
                return batch;
            }
            streams ??= new HashSet<string>(StringComparer.Ordinal);
            keys ??= [];
            var clash = false;
            foreach (var b in p.Bumps)
                if (streams.Contains(b.StreamId)) { clash = true; break; }
            if (clash || p.Idempotency is { } k && keys.Contains((k.Tenant, k.Key))) continue;
            foreach (var b in p.Bumps) streams.Add(b.StreamId);
            if (p.Idempotency is { } key) keys.Add((key.Tenant, key.Key));
            batch.Add(p);
            _queue.RemoveAt(i--);
        }
        return batch;
    }

    /// <summary>
    /// Commits <paramref name="items"/> in one transaction and answers each. If the transaction fails because of one
    /// command (a wrong expected version names its stream), that command alone gets the error and the others are
    /// committed again without it; any other database error of a multi-command batch commits each command alone,
    /// so each gets exactly the outcome it would have had by itself. Anything else is reported to every caller of the batch:
    /// PostgreSQL unreachable (nothing was sent, nothing written) or <see cref="WriteOutcomeUnknownException"/> (the batch was
    /// sent and its answer lost: it may have committed).
    /// </summary>
    private async Task CommitAsync(List<PendingAppend> items)
    {
        while (items.Count > 0)
        {
            try
            {
                // A batch without an explicit transaction runs as one implicit transaction: any failing
                // statement rolls back every statement before it.
                await OutcomeAwareWrites.ExecuteAsync(GroupCommit.AppendDataSource ?? DataSource, batch => Fill(batch, items), CancellationToken.None)
                    .ConfigureAwait(false);
            }
            catch (PostgresException ex) when (items.Count > 1)
            {
                Interlocked.Increment(ref _batchRetries);
                if (Translate(ex, null) is WrongExpectedVersionException wrong
                    && items.FirstOrDefault(p => p.Bumps.Any(b => b.StreamId == wrong.StreamId)) is { } loser)
                {
                    loser.Done.TrySetException(wrong);
                    items.Remove(loser);
                    continue;
                }
                foreach (var p in items)
                    await CommitAsync([p]).ConfigureAwait(false);
                return;
            }
            catch (PostgresException ex)
            {
                items[0].Done.TrySetException(Translate(ex, items[0].Idempotency));
                return;
            }
            catch (Exception ex)
            {
                foreach (var p in items) p.Done.TrySetException(ex);
                return;
            }
            RequestNotify();
            foreach (var p in items) p.Done.TrySetResult(p.Heads);
            return;
        }
    }

    /// <summary>
    /// The statements of one append transaction for any number of commands: one bump of every stream, one insert of
    /// every event, of every idempotency record and of every audit record, one upsert of every snapshot (each a
    /// multi-row statement over arrays, so the statement texts never change and stay prepared).
    /// </summary>
    private static void Fill(NpgsqlBatch batch, List<PendingAppend> items)
    {
        int streamCount = 0, eventCount = 0, idemCount = 0, auditCount = 0, snapCount = 0, auditStreams = 0;
        foreach (var p in items)
        {
            streamCount += p.Bumps.Length;
            eventCount += p.Events.Length;
            if (p.Idempotency is not null) idemCount++;
            if (p.Audit is not null) { auditCount++; auditStreams += p.Audit.StreamIds.Count; }
            snapCount += p.Snapshots?.Count ?? 0;
        }

        var sIds = new string[streamCount]; var sTypes = new string[streamCount]; var sTenants = new string[streamCount];
        var sExpected = new long[streamCount]; var sNew = new long[streamCount]; var sHashes = new byte[streamCount][];
        var ids = new string[eventCount]; var versions = new long[eventCount]; var eventIds = new Guid[eventCount];
        var types = new string[eventCount]; var schemas = new int[eventCount]; var data = new string[eventCount];
        var metas = new string[eventCount]; var occurred = new DateTimeOffset[eventCount];
        var prevs = new byte[eventCount][]; var hashes = new byte[eventCount][];
        // Streams sorted by id: bump_streams takes their row locks in this order (see sql/013).
        var allBumps = new StreamBump[streamCount];
        int si = 0, ei = 0;
        foreach (var p in items)
            foreach (var b in p.Bumps)
                allBumps[si++] = b;
        Array.Sort(allBumps, static (x, y) => string.CompareOrdinal(x.StreamId, y.StreamId));
        for (si = 0; si < streamCount; si++)
        {
            var b = allBumps[si];
            sIds[si] = b.StreamId; sTypes[si] = b.StreamType; sTenants[si] = b.Tenant;
            sExpected[si] = b.Expected; sNew[si] = b.New; sHashes[si] = b.Hash;
        }
        foreach (var p in items)
        {
            foreach (var e in p.Events)
            {
                ids[ei] = e.StreamId; versions[ei] = e.Version; eventIds[ei] = e.EventId; types[ei] = e.EventType;
                schemas[ei] = e.SchemaVersion; data[ei] = e.Data; metas[ei] = e.Metadata; occurred[ei] = e.OccurredAt;
                prevs[ei] = e.PrevHash; hashes[ei] = e.Hash;
                ei++;
            }
        }

        var bump = new NpgsqlBatchCommand("SELECT bump_streams($1, $2, $3, $4, $5, $6)");
        bump.Parameters.Add(new() { Value = sIds });
        bump.Parameters.Add(new() { Value = sTypes });
        bump.Parameters.Add(new() { Value = sTenants });
        bump.Parameters.Add(new() { Value = sExpected });
        bump.Parameters.Add(new() { Value = sNew });
        bump.Parameters.Add(new() { Value = sHashes });
        batch.BatchCommands.Add(bump);

        var insert = new NpgsqlBatchCommand(
            """
            INSERT INTO events (stream_id, version, event_id, event_type, schema_version, data, metadata, occurred_at, prev_hash, hash)
            SELECT * FROM unnest($1::text[], $2::bigint[], $3::uuid[], $4::text[], $5::int[], $6::jsonb[], $7::jsonb[], $8::timestamptz[], $9::bytea[], $10::bytea[])
            """);
        insert.Parameters.Add(new() { Value = ids });
        insert.Parameters.Add(new() { Value = versions });
        insert.Parameters.Add(new() { Value = eventIds });
        insert.Parameters.Add(new() { Value = types });
        insert.Parameters.Add(new() { Value = schemas });
        insert.Parameters.Add(new() { Value = data, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Jsonb });
        insert.Parameters.Add(new() { Value = metas, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Jsonb });
        insert.Parameters.Add(new() { Value = occurred });
        insert.Parameters.Add(new() { Value = prevs });
        insert.Parameters.Add(new() { Value = hashes });
        batch.BatchCommands.Add(insert);

        if (idemCount > 0)
            batch.BatchCommands.Add(IdempotencyInsert(items.Select(p => p.Idempotency).OfType<IdempotencyRecord>().ToArray()));
        if (auditCount > 0)
            batch.BatchCommands.Add(AuditInsert(items.Select(p => p.Audit).OfType<AuditRecord>().ToArray(), auditStreams));
        if (snapCount > 0)
        {
            var snaps = items.SelectMany(p => p.Snapshots ?? []).ToArray();
            batch.BatchCommands.Add(SnapshotHistoryInsert(snaps, items.SelectMany(p => p.SnapshotSpans ?? []).ToArray()));
            batch.BatchCommands.Add(SnapshotUpsert(snaps.GroupBy(x => x.StreamId, StringComparer.Ordinal).Select(g => g.MaxBy(x => x.Version)!).ToArray()));
        }
        foreach (var p in items)
            foreach (var extra in p.Extras ?? [])
                batch.BatchCommands.Add(extra);
    }

    private static NpgsqlBatchCommand IdempotencyInsert(IdempotencyRecord[] rs)
    {
        var c = new NpgsqlBatchCommand(
            """
            INSERT INTO idempotency (tenant, key, request_hash, status_code, response_body)
            SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::int[], $5::text[])
            """);
        c.Parameters.Add(new() { Value = rs.Select(r => r.Tenant).ToArray() });
        c.Parameters.Add(new() { Value = rs.Select(r => r.Key).ToArray() });
        c.Parameters.Add(new() { Value = rs.Select(r => r.RequestHash).ToArray() });
        c.Parameters.Add(new() { Value = rs.Select(r => r.StatusCode).ToArray() });
        c.Parameters.Add(new() { Value = rs.Select(r => r.ResponseBody).ToArray() });
        return c;
    }

    /// <summary>
    /// Many audit records in one statement. Each record's stream ids are a slice of one flat array
    /// (<c>$10[offset + 1 : offset + count]</c>): PostgreSQL arrays cannot hold rows of different lengths.
    /// </summary>
    private static NpgsqlBatchCommand AuditInsert(AuditRecord[] rs, int streamIdCount)
    {
        var c = new NpgsqlBatchCommand(
            """
            INSERT INTO audit_log (audit_id, at, actor, tenant, operation, outcome, status, code, payload_sha256, stream_ids, correlation_id, idempotency_key)
            SELECT a.audit_id, a.at, a.actor, a.tenant, a.operation, a.outcome, a.status, a.code, a.payload_sha256,
                   coalesce(($10::text[])[a.stream_offset + 1 : a.stream_offset + a.stream_count], '{}'), a.correlation_id, a.idempotency_key
            FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int[], $8::text[], $9::bytea[],
                        $11::int[], $12::int[], $13::uuid[], $14::text[])
                 AS a(audit_id, at, actor, tenant, operation, outcome, status, code, payload_sha256, stream_offset, stream_count, correlation_id, idempotency_key)
            """);
        var flat = new string[streamIdCount];
        var offsets = new int[rs.Length];
        var counts = new int[rs.Length];
        var n = 0;
        for (var i = 0; i < rs.Length; i++)
        {
            offsets[i] = n;
            counts[i] = rs[i].StreamIds.Count;
            foreach (var s in rs[i].StreamIds) flat[n++] = s;
        }
        c.Parameters.Add(new() { Value = rs.Select(a => a.AuditId).ToArray() });
        c.Parameters.Add(new() { Value = rs.Select(a => a.At.ToUniversalTime()).ToArray() });
        c.Parameters.Add(new() { Value = rs.Select(a => a.Actor).ToArray() });
        c.Parameters.Add(new() { Value = rs.Select(a => a.Tenant).ToArray() });
        c.Parameters.Add(new() { Value = rs.Select(a => a.Operation).ToArray() });
        c.Parameters.Add(new() { Value = rs.Select(a => a.Outcome).ToArray() });
        c.Parameters.Add(new() { Value = rs.Select(a => a.Status).ToArray() });
        c.Parameters.Add(new() { Value = rs.Select(a => a.Code).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
        c.Parameters.Add(new() { Value = rs.Select(a => a.PayloadSha256).ToArray() });
        c.Parameters.Add(new() { Value = flat });
        c.Parameters.Add(new() { Value = offsets });
        c.Parameters.Add(new() { Value = counts });
        c.Parameters.Add(new() { Value = rs.Select(a => a.CorrelationId).ToArray() });
        c.Parameters.Add(new() { Value = rs.Select(a => a.IdempotencyKey).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
        return c;
    }

    /// <summary>
    /// Every snapshot also goes to <c>snapshot_history</c> (sql/023), with occurred_to: the running maximum of the stream's
    /// events' occurred_at up to its version, from the previous kept snapshot's value, the events between it and this append
    /// (read here: fewer than a snapshot interval), and this append's own events up to the snapshot (computed when they were
    /// hashed: a bulk append of many intervals does not read its own events back).
    /// </summary>
    private static NpgsqlBatchCommand SnapshotHistoryInsert(Snapshot[] snaps, SnapshotSpan[] spans)
    {
        var sc = new NpgsqlBatchCommand(
            """
            INSERT INTO snapshot_history (stream_id, version, schema_version, hash, state, occurred_to)
            SELECT s.stream_id, s.version, s.schema_version, s.hash, s.state,
                   greatest(p.occurred_to, s.latest_at, (SELECT max(e.occurred_at) FROM events e
                                                         WHERE e.stream_id = s.stream_id AND e.version > coalesce(p.version, 0) AND e.version < s.append_from))
            FROM unnest($1::text[], $2::bigint[], $3::int[], $4::bytea[], $5::jsonb[], $6::bigint[], $7::timestamptz[])
                 AS s (stream_id, version, schema_version, hash, state, append_from, latest_at)
            LEFT JOIN LATERAL (SELECT h.version, h.occurred_to FROM snapshot_history h
                               WHERE h.stream_id = s.stream_id AND h.version < s.append_from ORDER BY h.version DESC LIMIT 1) p ON true
            ON CONFLICT (stream_id, version) DO NOTHING
            """);
        AddSnapshotParameters(sc, snaps);
        sc.Parameters.Add(new() { Value = spans.Select(x => x.AppendFrom).ToArray() });
        sc.Parameters.Add(new() { Value = spans.Select(x => x.LatestAt).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.TimestampTz });
        return sc;
    }

    private static void AddSnapshotParameters(NpgsqlBatchCommand sc, Snapshot[] snaps)
    {
        sc.Parameters.Add(new() { Value = snaps.Select(s => s.StreamId).ToArray() });
        sc.Parameters.Add(new() { Value = snaps.Select(s => s.Version).ToArray() });
        sc.Parameters.Add(new() { Value = snaps.Select(s => s.SchemaVersion).ToArray() });
        sc.Parameters.Add(new() { Value = snaps.Select(s => s.Hash).ToArray() });
        sc.Parameters.Add(new() { Value = snaps.Select(s => s.StateJson).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Jsonb });
    }

    private static NpgsqlBatchCommand SnapshotUpsert(Snapshot[] snaps)
    {
        var sc = new NpgsqlBatchCommand(
            """
            INSERT INTO snapshots (stream_id, version, schema_version, hash, state)
            SELECT * FROM unnest($1::text[], $2::bigint[], $3::int[], $4::bytea[], $5::jsonb[])
            ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version, schema_version = excluded.schema_version,
                hash = excluded.hash, state = excluded.state, created_at = now()
            WHERE snapshots.version < excluded.version
            """);
        AddSnapshotParameters(sc, snaps);
        return sc;
    }
}
