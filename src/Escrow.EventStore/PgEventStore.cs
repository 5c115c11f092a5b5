using System.Text.Json;
using Npgsql;

namespace Escrow.EventStore;

/// <summary>
/// The PostgreSQL event log. Thread-safe; one instance per data source. Connects as the application
/// role (INSERT and SELECT on events only). Every method takes a <see cref="CancellationToken"/>.
/// Appends are group-committed (<see cref="GroupCommitOptions"/>; the defaults apply when <c>groupCommit</c> is null).
/// </summary>
public sealed partial class PgEventStore(NpgsqlDataSource dataSource, GroupCommitOptions? groupCommit = null)
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
        var aliases = await AliasesAsync(ct).ConfigureAwait(false);
        if (!aliases.IsEmpty)
        {
            streams = [.. streams.Select(s => s with { StreamId = aliases.Stored(s.StreamId) })];
            if (snapshots is not null) snapshots = [.. snapshots.Select(s => s with { StreamId = aliases.Stored(s.StreamId) })];
        }
        var pending = Prepare(streams, idempotency, snapshots, audit, alsoInTransaction);
        if (pending.Events.Length == 0) return pending.Heads;
        ct.ThrowIfCancellationRequested();
        Enqueue(pending);
        if (aliases.IsEmpty) return await pending.Done.Task.ConfigureAwait(false);
        try
        {
            var heads = await pending.Done.Task.ConfigureAwait(false);
            return heads.ToDictionary(kv => aliases.TryCurrent(kv.Key, out var current) ? current : kv.Key, kv => kv.Value, StringComparer.Ordinal);
        }
        catch (WrongExpectedVersionException conflict) when (aliases.TryCurrent(conflict.StreamId, out var current))
        {
            throw new WrongExpectedVersionException(current, conflict.Expected, conflict.Actual);
        }
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

    /// <summary>Of a snapshot's stream in one append: the first version the append writes, and the latest occurred_at among its events up to the snapshot (null: none of them).</summary>
    private readonly record struct SnapshotSpan(long AppendFrom, DateTimeOffset? LatestAt);

    private readonly record struct StreamBump(string StreamId, string StreamType, string Tenant, long Expected, long New, byte[] Hash);

    private readonly record struct EventRow(
        string StreamId, long Version, Guid EventId, string EventType, int SchemaVersion, string Data, string Metadata,
        DateTimeOffset OccurredAt, byte[] PrevHash, byte[] Hash);

    /// <summary>One command's append, hashed and ready to be written, waiting for its batch.</summary>
    private sealed class PendingAppend(
        StreamBump[] bumps, EventRow[] events, Dictionary<string, StreamHead> heads, IdempotencyRecord? idempotency,
        AuditRecord? audit, IReadOnlyList<Snapshot>? snapshots, IReadOnlyList<NpgsqlBatchCommand>? extras, SnapshotSpan[]? snapshotSpans = null)
    {
        public readonly StreamBump[] Bumps = bumps;
        public readonly EventRow[] Events = events;
        public readonly Dictionary<string, StreamHead> Heads = heads;
        public readonly IdempotencyRecord? Idempotency = idempotency;
        public readonly AuditRecord? Audit = audit;
        public readonly IReadOnlyList<Snapshot>? Snapshots = snapshots;

        /// <summary>For each of <see cref="Snapshots"/>: where this append's events of its stream begin, and the latest occurred_at among them up to the snapshot.</summary>
        public readonly SnapshotSpan[]? SnapshotSpans = snapshotSpans;
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
        // Snapshots at a version below the head this append writes (a bulk append of many snapshot intervals) take that
        // version's hash; the head's is in heads.
        HashSet<(string, long)>? wanted = snapshots is { Count: > 0 } ? [.. snapshots.Select(x => (x.StreamId, x.Version))] : null;
        Dictionary<(string, long), (byte[] Hash, long From, DateTimeOffset LatestAt)>? inner = null;
        foreach (var s in streams)
        {
            if (s.Events.Count == 0) continue;
            var prev = s.PrevHash;
            var version = s.Expected.Value;
            var latestAt = DateTimeOffset.MinValue;
            foreach (var e in s.Events)
            {
                version++;
                var meta = SerializeMetadata(e.Metadata);
                var at = HashChain.ToStoredPrecision(e.OccurredAt);
                var hash = HashChain.Compute(prev, s.StreamId, version, e.EventType, e.SchemaVersion, at, e.DataJson, meta);
                events[i++] = new EventRow(s.StreamId, version, e.Metadata.EventId, e.EventType, e.SchemaVersion, e.DataJson, meta, at, prev, hash);
                prev = hash;
                if (at > latestAt) latestAt = at;
                if (wanted is not null && wanted.Contains((s.StreamId, version))) (inner ??= [])[(s.StreamId, version)] = (hash, s.Expected.Value + 1, latestAt);
            }
            heads[s.StreamId] = new StreamHead(version, prev);
            bumps.Add(new StreamBump(s.StreamId, s.StreamType, s.Tenant, s.Expected.Value, version, prev));
        }
        // A snapshot taken at a version this append writes carries that version's hash (computed here, with the stored id),
        // and the span of this append's events before it (snapshot_history's occurred_to needs the latest occurred_at).
        SnapshotSpan[]? spans = null;
        if (snapshots is { Count: > 0 })
        {
            spans = new SnapshotSpan[snapshots.Count];
            var hashed = new List<Snapshot>(snapshots.Count);
            for (var k = 0; k < snapshots.Count; k++)
            {
                var s = snapshots[k];
                if (inner is not null && inner.TryGetValue((s.StreamId, s.Version), out var written))
                {
                    hashed.Add(s with { Hash = written.Hash });
                    spans[k] = new SnapshotSpan(written.From, written.LatestAt);
                }
                else if (s.Hash.Length == 32)
                {
                    hashed.Add(s);
                    spans[k] = new SnapshotSpan(s.Version + 1, null);   // events written earlier: the database finds their latest instant
                }
                else
                    throw new ArgumentException($"the snapshot of '{s.StreamId}' at {s.Version} has no hash and is not at a version this append writes", nameof(snapshots));
            }
            snapshots = hashed;
        }
        return new PendingAppend([.. bumps], events, heads, idempotency, audit, snapshots, extras, spans);
    }
}
