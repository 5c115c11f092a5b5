using System.Text.Json;
using Npgsql;
using NpgsqlTypes;

namespace Escrow.EventStore;

/// <summary>
/// The PostgreSQL event log. Thread-safe; one instance per data source. Connects as the application
/// role (INSERT and SELECT on events only). Every method takes a <see cref="CancellationToken"/>.
/// Appends are group-committed (<see cref="GroupCommitOptions"/>; the defaults apply when <c>groupCommit</c> is null).
/// </summary>
public sealed class PgEventStore(NpgsqlDataSource dataSource, GroupCommitOptions? groupCommit = null)
{
    /// <summary>The LISTEN/NOTIFY channel that every append notifies on commit.</summary>
    public const string NotifyChannel = "escrow_events";

    private static readonly JsonSerializerOptions MetaJson = new(JsonSerializerDefaults.Web);

    public NpgsqlDataSource DataSource { get; } = dataSource;

    public static string SerializeMetadata(EventMetadata m) => JsonSerializer.Serialize(m, MetaJson);

    /// <summary>
    /// Appends events to one or more streams in one transaction, with the idempotency record and any
    /// snapshots, and notifies readers on commit. All or nothing: a wrong expected version on any stream
    /// throws <see cref="WrongExpectedVersionException"/>; an idempotency key committed concurrently throws
    /// <see cref="IdempotencyKeyTakenException"/>. With <paramref name="audit"/>, the audit record commits in the
    /// same transaction as the events (and only with them). <paramref name="alsoInTransaction"/> are further
    /// statements that must commit with the events or not at all (a durable timer the event arms).
    /// <para>
    /// Group commit: appends that arrive while <see cref="GroupCommitOptions.MaxConcurrentBatches"/> transactions
    /// are already in flight wait and then commit together, in one transaction and one round trip (see
    /// <see cref="GroupCommitOptions"/>). Each caller still gets exactly its own outcome: the task completes only
    /// after the transaction holding its events committed, and a conflict of one command fails that command alone
    /// (the others are committed again without it). Cancelling <paramref name="ct"/> before the append is queued
    /// throws <see cref="OperationCanceledException"/>; once queued, the append runs to its outcome.
    /// </para>
    /// </summary>
    public async Task<IReadOnlyDictionary<string, StreamHead>> AppendAsync(
        IReadOnlyList<StreamAppend> streams, IdempotencyRecord? idempotency, IReadOnlyList<Snapshot>? snapshots, CancellationToken ct,
        AuditRecord? audit = null, IReadOnlyList<NpgsqlBatchCommand>? alsoInTransaction = null)
    {
        var pending = Prepare(streams, idempotency, snapshots, audit, alsoInTransaction);
        if (pending.Events.Length == 0) return pending.Heads;
        ct.ThrowIfCancellationRequested();
        Enqueue(pending);
        return await pending.Done.Task.ConfigureAwait(false);
    }

    /// <summary>The group-commit settings this store runs with.</summary>
    public GroupCommitOptions GroupCommit { get; } = groupCommit ?? new GroupCommitOptions();

    private long _batches, _batchedAppends, _batchRetries;

    /// <summary>Append transactions committed or attempted (diagnostics: appends ÷ batches is the mean group size).</summary>
    public long AppendBatches => Interlocked.Read(ref _batches);

    /// <summary>Appends that went through the group-commit queue.</summary>
    public long AppendsBatched => Interlocked.Read(ref _batchedAppends);

    /// <summary>Batches that failed because of one command and were committed again without it.</summary>
    public long BatchRetries => Interlocked.Read(ref _batchRetries);

    private readonly record struct StreamBump(string StreamId, string StreamType, string Tenant, long Expected, long New, byte[] Hash);

    private readonly record struct EventRow(
        string StreamId, long Version, Guid EventId, string EventType, int SchemaVersion, string Data, string Metadata,
        DateTimeOffset OccurredAt, byte[] PrevHash, byte[] Hash);

    /// <summary>One command's append, hashed and ready to be written, waiting for its batch.</summary>
    private sealed class PendingAppend(
        StreamBump[] bumps, EventRow[] events, Dictionary<string, StreamHead> heads, IdempotencyRecord? idempotency,
        AuditRecord? audit, IReadOnlyList<Snapshot>? snapshots, IReadOnlyList<NpgsqlBatchCommand>? extras)
    {
        public readonly StreamBump[] Bumps = bumps;
        public readonly EventRow[] Events = events;
        public readonly Dictionary<string, StreamHead> Heads = heads;
        public readonly IdempotencyRecord? Idempotency = idempotency;
        public readonly AuditRecord? Audit = audit;
        public readonly IReadOnlyList<Snapshot>? Snapshots = snapshots;
        public readonly IReadOnlyList<NpgsqlBatchCommand>? Extras = extras;
        public readonly TaskCompletionSource<IReadOnlyDictionary<string, StreamHead>> Done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>Computes the hash chain links and the new stream heads (on the caller's thread, in parallel with other callers).</summary>
    private static PendingAppend Prepare(IReadOnlyList<StreamAppend> streams, IdempotencyRecord? idempotency, IReadOnlyList<Snapshot>? snapshots,
        AuditRecord? audit, IReadOnlyList<NpgsqlBatchCommand>? extras)
    {
        var heads = new Dictionary<string, StreamHead>(StringComparer.Ordinal);
        var total = 0;
        foreach (var s in streams) total += s.Events.Count;
        var events = new EventRow[total];
        var bumps = new List<StreamBump>(streams.Count);
        var i = 0;
        foreach (var s in streams)
        {
            if (s.Events.Count == 0) continue;
            var prev = s.PrevHash;
            var version = s.Expected.Value;
            foreach (var e in s.Events)
            {
                version++;
                var meta = SerializeMetadata(e.Metadata);
                var at = HashChain.ToStoredPrecision(e.OccurredAt);
                var hash = HashChain.Compute(prev, s.StreamId, version, e.EventType, e.SchemaVersion, at, e.DataJson, meta);
                events[i++] = new EventRow(s.StreamId, version, e.Metadata.EventId, e.EventType, e.SchemaVersion, e.DataJson, meta, at, prev, hash);
                prev = hash;
            }
            heads[s.StreamId] = new StreamHead(version, prev);
            bumps.Add(new StreamBump(s.StreamId, s.StreamType, s.Tenant, s.Expected.Value, version, prev));
        }
        return new PendingAppend([.. bumps], events, heads, idempotency, audit, snapshots, extras);
    }

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
    /// so each gets exactly the outcome it would have had by itself. Anything else (the connection broke: the outcome
    /// is unknown) is reported to every caller of the batch.
    /// </summary>
    private async Task CommitAsync(List<PendingAppend> items)
    {
        while (items.Count > 0)
        {
            try
            {
                await using var batch = BuildBatch(items);
                // A batch without an explicit transaction runs as one implicit transaction: any failing
                // statement rolls back every statement before it.
                await batch.ExecuteNonQueryAsync(CancellationToken.None).ConfigureAwait(false);
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
    private NpgsqlBatch BuildBatch(List<PendingAppend> items)
    {
        var batch = (GroupCommit.AppendDataSource ?? DataSource).CreateBatch();
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
            batch.BatchCommands.Add(SnapshotUpsert(items.SelectMany(p => p.Snapshots ?? []).ToArray()));
        foreach (var p in items)
            foreach (var extra in p.Extras ?? [])
                batch.BatchCommands.Add(extra);
        return batch;
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
        sc.Parameters.Add(new() { Value = snaps.Select(s => s.StreamId).ToArray() });
        sc.Parameters.Add(new() { Value = snaps.Select(s => s.Version).ToArray() });
        sc.Parameters.Add(new() { Value = snaps.Select(s => s.SchemaVersion).ToArray() });
        sc.Parameters.Add(new() { Value = snaps.Select(s => s.Hash).ToArray() });
        sc.Parameters.Add(new() { Value = snaps.Select(s => s.StateJson).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Jsonb });
        return sc;
    }

    // Why the NOTIFY is not inside the append: PostgreSQL serializes the commits of every transaction
    // that issued NOTIFY behind one cluster-wide lock held through the WAL flush, so notifying appends
    // cannot share an fsync (group commit). Measured: 797 transfers/s with NOTIFY in the append. Instead,
    // after each commit we ask for one NOTIFY in its own tiny transaction, coalescing the requests that
    // arrive while one is being sent. The notify always starts after the commit it announces; if it is
    // lost, the runners' poll interval picks the events up.
    private int _notifyPending, _notifyRunning;

    private void RequestNotify()
    {
        Volatile.Write(ref _notifyPending, 1);
        if (Interlocked.CompareExchange(ref _notifyRunning, 1, 0) == 0)
            _ = Task.Run(NotifyLoopAsync);
    }

    private async Task NotifyLoopAsync()
    {
        while (true)
        {
            while (Interlocked.Exchange(ref _notifyPending, 0) == 1)
            {
                try
                {
                    await using var cmd = (GroupCommit.AppendDataSource ?? DataSource).CreateCommand($"SELECT pg_notify('{NotifyChannel}', '')");
                    await cmd.ExecuteNonQueryAsync().ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is NpgsqlException or ObjectDisposedException)
                {
                    // The projection runners poll as a fallback; a lost wake-up only delays them.
                    LastNotifyError = ex;
                }
            }
            Volatile.Write(ref _notifyRunning, 0);
            // A request that raced with the reset above must not be stranded.
            if (Volatile.Read(ref _notifyPending) == 0 || Interlocked.CompareExchange(ref _notifyRunning, 1, 0) != 0)
                return;
        }
    }

    /// <summary>The last failure to send a wake-up NOTIFY (diagnostics; the runners' polling covers it).</summary>
    public Exception? LastNotifyError { get; private set; }

    /// <summary>
    /// The INSERT of one idempotency record, for a batch of the caller's: with the write it answers for, so both commit or
    /// neither. A second record for the same (tenant, key) fails the batch with a unique violation on <c>idempotency_pkey</c>
    /// (an in-flight first one is waited for).
    /// </summary>
    public static NpgsqlBatchCommand IdempotencyInsert(IdempotencyRecord r)
    {
        var c = new NpgsqlBatchCommand(
            "INSERT INTO idempotency (tenant, key, request_hash, status_code, response_body) VALUES ($1, $2, $3, $4, $5)");
        c.Parameters.Add(new() { Value = r.Tenant });
        c.Parameters.Add(new() { Value = r.Key });
        c.Parameters.Add(new() { Value = r.RequestHash });
        c.Parameters.Add(new() { Value = r.StatusCode });
        c.Parameters.Add(new() { Value = r.ResponseBody });
        return c;
    }

    /// <summary>The INSERT of one audit record, for a batch (the append's, or one of its own).</summary>
    public static NpgsqlBatchCommand AuditInsert(AuditRecord a)
    {
        var c = new NpgsqlBatchCommand(
            """
            INSERT INTO audit_log (audit_id, at, actor, tenant, operation, outcome, status, code, payload_sha256, stream_ids, correlation_id, idempotency_key)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
            """);
        c.Parameters.Add(new() { Value = a.AuditId });
        c.Parameters.Add(new() { Value = a.At.ToUniversalTime() });
        c.Parameters.Add(new() { Value = a.Actor });
        c.Parameters.Add(new() { Value = a.Tenant });
        c.Parameters.Add(new() { Value = a.Operation });
        c.Parameters.Add(new() { Value = a.Outcome });
        c.Parameters.Add(new() { Value = a.Status });
        c.Parameters.Add(new() { Value = (object?)a.Code ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
        c.Parameters.Add(new() { Value = a.PayloadSha256 });
        c.Parameters.Add(new() { Value = a.StreamIds.ToArray() });
        c.Parameters.Add(new() { Value = a.CorrelationId });
        c.Parameters.Add(new() { Value = (object?)a.IdempotencyKey ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
        return c;
    }

    /// <summary>Writes one audit record in its own transaction (rejections without a key, refusals, replays).</summary>
    public async Task AppendAuditAsync(AuditRecord audit, CancellationToken ct)
    {
        await using var batch = DataSource.CreateBatch();
        batch.BatchCommands.Add(AuditInsert(audit));
        await batch.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    private static Exception Translate(PostgresException ex, IdempotencyRecord? idem)
    {
        if (ex.SqlState == "ES409")
        {
            // Npgsql redacts DETAIL unless "Include Error Detail" is on, so the message text carries the facts.
            var m = System.Text.RegularExpressions.Regex.Match(ex.MessageText, @"^wrong expected version for stream (.*): expected (\d+), actual (\d+)$");
            if (m.Success)
                return new WrongExpectedVersionException(m.Groups[1].Value,
                    long.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture),
                    long.Parse(m.Groups[3].Value, System.Globalization.CultureInfo.InvariantCulture));
        }
        if (ex.SqlState == PostgresErrorCodes.UniqueViolation && ex.ConstraintName == "idempotency_pkey" && idem is not null)
            return new IdempotencyKeyTakenException(idem.Tenant, idem.Key);
        return ex;
    }

    /// <summary>
    /// Stores the answer to a rejected command under its idempotency key, in its own transaction, with its
    /// audit record when given (both or neither).
    /// </summary>
    public async Task SaveIdempotencyAsync(IdempotencyRecord record, CancellationToken ct, AuditRecord? audit = null)
    {
        await using var batch = DataSource.CreateBatch();
        batch.BatchCommands.Add(IdempotencyInsert(record));
        if (audit is not null) batch.BatchCommands.Add(AuditInsert(audit));
        try
        {
            await batch.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
        catch (PostgresException ex)
        {
            throw Translate(ex, record);
        }
    }

    public async Task<IdempotencyRecord?> FindIdempotencyAsync(string tenant, string key, CancellationToken ct)
    {
        await using var cmd = DataSource.CreateCommand(
            "SELECT request_hash, status_code, response_body FROM idempotency WHERE tenant = $1 AND key = $2");
        cmd.Parameters.Add(new() { Value = tenant });
        cmd.Parameters.Add(new() { Value = key });
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        if (!await r.ReadAsync(ct).ConfigureAwait(false)) return null;
        return new IdempotencyRecord(tenant, key, (byte[])r[0], r.GetInt32(1), r.GetString(2));
    }

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
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
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
        await using var cmd = DataSource.CreateCommand(
            $"SELECT {EventColumns} FROM events e WHERE e.stream_id = $1 AND e.version > $2 AND ($3::timestamptz IS NULL OR e.occurred_at <= $3) ORDER BY e.version LIMIT $4");
        cmd.Parameters.Add(new() { Value = streamId });
        cmd.Parameters.Add(new() { Value = afterVersion });
        cmd.Parameters.Add(new() { Value = occurredUpTo.HasValue ? occurredUpTo.Value.ToUniversalTime() : DBNull.Value, NpgsqlDbType = NpgsqlDbType.TimestampTz });
        cmd.Parameters.Add(new() { Value = limit.HasValue ? limit.Value : DBNull.Value, NpgsqlDbType = NpgsqlDbType.Integer });
        return await ReadEventsAsync(cmd, ct).ConfigureAwait(false);
    }

    /// <summary>The tenant a stream belongs to; null when the stream does not exist.</summary>
    public async Task<string?> ReadStreamTenantAsync(string streamId, CancellationToken ct)
    {
        await using var cmd = DataSource.CreateCommand("SELECT tenant FROM streams WHERE stream_id = $1");
        cmd.Parameters.Add(new() { Value = streamId });
        return await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false) as string;
    }

    public async Task<Snapshot?> ReadSnapshotAsync(string streamId, CancellationToken ct)
    {
        await using var cmd = DataSource.CreateCommand("SELECT version, schema_version, hash, state::text FROM snapshots WHERE stream_id = $1");
        cmd.Parameters.Add(new() { Value = streamId });
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
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
        await using var cmd = connection is null ? DataSource.CreateCommand(sql) : new NpgsqlCommand(sql, connection, transaction);
        cmd.Parameters.Add(new() { Value = after.TransactionId.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        cmd.Parameters.Add(new() { Value = after.Position });
        cmd.Parameters.Add(new() { Value = max });
        return await ReadEventsAsync(cmd, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// One batch of the global log in commit-safe order, like <see cref="ReadAllAsync(GlobalCheckpoint, int, CancellationToken, NpgsqlConnection?, NpgsqlTransaction?)"/>,
    /// for a reader interested only in streams whose id starts with one of <paramref name="streamPrefixes"/>: up to
    /// <paramref name="max"/> events are scanned; those of matching streams come back whole, the others only move
    /// <c>Last</c> (their data and metadata are not converted to text nor sent). <c>Scanned</c> is 0 when nothing lies
    /// beyond <paramref name="after"/> below the horizon.
    /// </summary>
    public async Task<(IReadOnlyList<StoredEvent> Events, GlobalCheckpoint Last, int Scanned)> ReadAllAsync(
        GlobalCheckpoint after, int max, IReadOnlyList<string> streamPrefixes, CancellationToken ct, NpgsqlConnection connection, NpgsqlTransaction? transaction = null)
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
        await using var cmd = new NpgsqlCommand(sql, connection, transaction);
        cmd.Parameters.Add(new() { Value = after.TransactionId.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        cmd.Parameters.Add(new() { Value = after.Position });
        cmd.Parameters.Add(new() { Value = max });
        cmd.Parameters.Add(new() { Value = streamPrefixes.Select(LikePrefix).ToArray() });
        var list = new List<StoredEvent>();
        var last = after;
        var scanned = 0;
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
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
        return (list, last, scanned);
    }

    /// <summary>A LIKE pattern matching ids that start with <paramref name="prefix"/> (its wildcards escaped).</summary>
    private static string LikePrefix(string prefix) =>
        prefix.Replace(@"\", @"\\", StringComparison.Ordinal).Replace("%", @"\%", StringComparison.Ordinal).Replace("_", @"\_", StringComparison.Ordinal) + "%";

    /// <summary>Every stream id with its type, version and tenant, in id order (for verification).</summary>
    public async IAsyncEnumerable<(string StreamId, string StreamType, long Version, byte[] LastHash)> ListStreamsAsync(
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        await using var cmd = DataSource.CreateCommand("SELECT stream_id, stream_type, version, last_hash FROM streams ORDER BY stream_id");
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false))
            yield return (r.GetString(0), r.GetString(1), r.GetInt64(2), (byte[])r[3]);
    }

    /// <summary>The first event that carries <c>data.postingId = postingId</c>, if any (indexed).</summary>
    public async Task<IReadOnlyList<StoredEvent>> FindByPostingIdAsync(string postingId, CancellationToken ct)
    {
        await using var cmd = DataSource.CreateCommand(
            $"SELECT {EventColumns} FROM events e WHERE e.data ? 'postingId' AND e.data ->> 'postingId' = $1 ORDER BY e.global_position");
        cmd.Parameters.Add(new() { Value = postingId });
        return await ReadEventsAsync(cmd, ct).ConfigureAwait(false);
    }
}
