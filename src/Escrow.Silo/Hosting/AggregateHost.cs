using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using Escrow.Domain;
using Escrow.EventStore;

namespace Escrow.Silo.Hosting;

/// <summary>
/// How an aggregate type folds: the pure functions the host needs. <paramref name="TypeOf"/> names the stream type
/// recorded for a new stream when a host folds streams of several types (default: <paramref name="StreamType"/>).
/// </summary>
public sealed record AggregateDefinition<TState>(
    string StreamType,
    Func<string, TState> Empty,
    Func<TState, object, TState> Evolve,
    int SnapshotSchemaVersion,
    Func<string, string>? TypeOf = null) where TState : class;

public sealed record AggregateHostOptions
{
    /// <summary>Write a snapshot every N events of a stream (0 disables snapshots).</summary>
    public int SnapshotEvery { get; init; } = 50;
    /// <summary>Drop an activation unused for this long.</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromMinutes(5);
    /// <summary>How many times a turn reloads and decides again after losing a concurrency race before answering 409.</summary>
    public int MaxConcurrencyRetries { get; init; } = 20;
}

/// <summary>
/// The Orleans activation model, built on the event log. One in-memory activation per stream id per
/// silo, created on first use and loaded from the newest snapshot plus the tail. A command takes the
/// turns of every stream it touches, one command at a time per activation, in ordinal order of stream
/// id so two commands touching the same pair can never deadlock. It decides, appends with the expected
/// versions and the idempotency record in one transaction, and only then updates the cached state and
/// answers. If another silo wrote first, the append fails, the activation reloads the tail and decides
/// again, up to <see cref="AggregateHostOptions.MaxConcurrencyRetries"/> times.
/// </summary>
public sealed class AggregateHost<TState>(
    PgEventStore store, AggregateDefinition<TState> definition, AggregateHostOptions options, TimeProvider clock)
    where TState : class
{
    private sealed class Activation(string streamId)
    {
        public readonly string StreamId = streamId;
        public readonly SemaphoreSlim Turn = new(1, 1);
        public TState? State;
        public long Version;
        public byte[] LastHash = HashChain.Genesis;
        public bool Loaded;
        public bool Deactivated;
        public long LastUsed;
        public string? Tenant;
    }

    private readonly ConcurrentDictionary<string, Activation> _activations = new(StringComparer.Ordinal);
    private long _commands, _conflicts, _rejections;

    private readonly Dashboard.EscrowMetrics? _metrics;

    public int ActivationCount => _activations.Count;

    /// <summary>Where this host records each command (count, outcome, duration, events) and reports its activations; optional.</summary>
    public Dashboard.EscrowMetrics? Metrics
    {
        get => _metrics;
        init
        {
            _metrics = value;
            value?.AddActivationSource(definition.StreamType, ActivationsByType);
        }
    }

    /// <summary>Activations by aggregate type: the stream id's prefix before its first '-' (account, deal, ...). O(activations).</summary>
    public IReadOnlyDictionary<string, int> ActivationsByType()
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var id in _activations.Keys)
        {
            var dash = id.IndexOf('-', StringComparison.Ordinal);
            var type = dash > 0 ? id[..dash] : id;
            counts[type] = counts.GetValueOrDefault(type) + 1;
        }
        return counts;
    }
    public long CommandsExecuted => Interlocked.Read(ref _commands);
    public long ConcurrencyConflicts => Interlocked.Read(ref _conflicts);
    public long Rejections => Interlocked.Read(ref _rejections);

    /// <summary>
    /// Runs one command. <paramref name="decide"/> sees the current state of every stream in
    /// <paramref name="streamIds"/> (missing streams as the empty state); <paramref name="respond"/> builds the
    /// success body from the states after the events. Returns 2xx with that body, 409 with the rejection, 409
    /// <c>concurrency_conflict</c> after exhausting retries, or the stored answer / 422 for a known idempotency key.
    /// </summary>
    public async Task<CommandOutcome> ExecuteAsync(
        CommandContext context,
        IReadOnlyList<string> streamIds,
        Func<IReadOnlyDictionary<string, TState>, Decision> decide,
        Func<IReadOnlyDictionary<string, TState>, IReadOnlyDictionary<string, long>, Decision, (int Status, object Body)> respond,
        CancellationToken ct,
        Func<string, CommandOutcome>? foreign = null,
        Func<IReadOnlyDictionary<string, TState>, IReadOnlyList<Npgsql.NpgsqlBatchCommand>>? alsoInTransaction = null)
    {
        if (_metrics is not { } metrics) return await ExecuteCoreAsync(context, streamIds, decide, respond, ct, foreign, alsoInTransaction).ConfigureAwait(false);
        var start = Dashboard.EscrowMetrics.Start();
        CommandOutcome outcome;
        try
        {
            outcome = await ExecuteCoreAsync(context, streamIds, decide, respond, ct, foreign, alsoInTransaction).ConfigureAwait(false);
        }
        catch
        {
            metrics.RecordCommand(definition.StreamType, context.Operation ?? definition.StreamType, Dashboard.EscrowMetrics.Error, "exception", 0,
                Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            throw;
        }
        metrics.RecordCommand(definition.StreamType, context.Operation ?? definition.StreamType, outcome, outcome.EventsAppended, start);
        return outcome;
    }

    private async Task<CommandOutcome> ExecuteCoreAsync(
        CommandContext context,
        IReadOnlyList<string> streamIds,
        Func<IReadOnlyDictionary<string, TState>, Decision> decide,
        Func<IReadOnlyDictionary<string, TState>, IReadOnlyDictionary<string, long>, Decision, (int Status, object Body)> respond,
        CancellationToken ct,
        Func<string, CommandOutcome>? foreign,
        Func<IReadOnlyDictionary<string, TState>, IReadOnlyList<Npgsql.NpgsqlBatchCommand>>? alsoInTransaction)
    {
        // No idempotency read up front: the key's primary key inside the append transaction decides.
        // A retry decides again, its append (or the rejection's record) hits the key, and the stored
        // answer is returned below (IdempotencyKeyTakenException): one round trip saved on every command.
        var ordered = streamIds.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray();
        var held = await AcquireAsync(ordered, ct).ConfigureAwait(false);
        try
        {
            var refreshed = false;
            for (var attempt = 0; ; attempt++)
            {
                foreach (var a in held)
                    if (!a.Loaded) await LoadAsync(a, ct).ConfigureAwait(false);

                // Tenancy: a scoped caller never learns that another tenant's stream exists. Decided inside the
                // turn, so it cannot race with the stream's creation; a stream's tenant never changes.
                if (context.TenantScoped && held.FirstOrDefault(a => a.Version > 0 && !string.Equals(a.Tenant, context.Tenant, StringComparison.Ordinal)) is { } other)
                {
                    Interlocked.Increment(ref _rejections);
                    var refusal = foreign?.Invoke(other.StreamId) ?? Problems.Outcome(404, "not_found", $"'{other.StreamId}' does not exist");
                    return await RememberRejectionAsync(context, refusal, ordered, ct).ConfigureAwait(false);
                }

                var states = held.ToDictionary(a => a.StreamId, a => a.State!, StringComparer.Ordinal);
                var decision = decide(states);
                if (decision.Rejection is not null && !refreshed)
                {
                    // A cached state may be stale if another silo wrote since: never refuse on a stale view.
                    // One cheap tail read per stream; decide again only if something changed.
                    refreshed = true;
                    var versionsBefore = held.Select(a => a.Version).ToArray();
                    foreach (var a in held) await RefreshAsync(a, ct).ConfigureAwait(false);
                    if (!held.Select(a => a.Version).SequenceEqual(versionsBefore)) continue;
                }
                if (decision.Rejection is { } rejection)
                {
                    Interlocked.Increment(ref _rejections);
                    var outcome = Problems.Outcome(Problems.StatusFor(rejection.Code), rejection.Code, rejection.Message);
                    return await RememberRejectionAsync(context, outcome, ordered, ct).ConfigureAwait(false);
                }

                var after = new Dictionary<string, TState>(states, StringComparer.Ordinal);
                foreach (var pe in decision.Events)
                {
                    if (!after.ContainsKey(pe.StreamId))
                        throw new InvalidOperationException($"decide wrote to stream '{pe.StreamId}' that the command did not declare");
                    after[pe.StreamId] = definition.Evolve(after[pe.StreamId], pe.Event);
                }
                var versions = held.ToDictionary(a => a.StreamId,
                    a => a.Version + decision.Events.Count(e => e.StreamId == a.StreamId), StringComparer.Ordinal);
                var (status, body) = respond(after, versions, decision);
                var bodyJson = JsonSerializer.Serialize(body, EventSerializer.Options);

                var appends = new List<StreamAppend>();
                var snapshots = new List<Snapshot>();
                foreach (var a in held)
                {
                    var mine = decision.Events.Where(e => e.StreamId == a.StreamId).ToList();
                    if (mine.Count == 0) continue;
                    var newEvents = mine.Select(pe =>
                    {
                        var (type, schema, json) = EventSerializer.Serialize(pe.Event);
                        return new NewEvent(type, schema, json,
                            new EventMetadata(Guid.CreateVersion7(clock.GetUtcNow()), context.CorrelationId, context.CausationId,
                                context.Actor, context.Tenant, context.IdempotencyKey),
                            OccurredAt(pe.Event));
                    }).ToList();
                    appends.Add(new StreamAppend(a.StreamId, definition.TypeOf?.Invoke(a.StreamId) ?? definition.StreamType, a.Version > 0 && a.Tenant is not null ? a.Tenant : context.Tenant,
                        ExpectedVersion.Exactly(a.Version), a.LastHash, newEvents));
                }

                var idem = context.IdempotencyKey is { } k
                    ? new IdempotencyRecord(context.Tenant, k, context.RequestHash, status, bodyJson)
                    : null;
                IReadOnlyDictionary<string, StreamHead> heads;
                try
                {
                    var audit = Audit(context, AuditRecord.Accepted, status, null, appends.Select(s => s.StreamId).ToArray());
                    heads = await store.AppendAsync(appends, idem, SnapshotsFor(appends, after), ct, audit, alsoInTransaction?.Invoke(after)).ConfigureAwait(false);
                }
                catch (WrongExpectedVersionException) when (attempt < options.MaxConcurrencyRetries)
                {
                    Interlocked.Increment(ref _conflicts);
                    foreach (var a in held) a.Loaded = false;   // reload every touched stream's tail
                    // Another silo is writing the same streams: back off a little, with jitter, so two silos
                    // hammering one account do not keep invalidating each other in lockstep.
                    await Task.Delay(TimeSpan.FromMilliseconds(Random.Shared.Next(1, 2 << Math.Min(attempt, 4))), clock, ct).ConfigureAwait(false);
                    continue;
                }
                catch (WrongExpectedVersionException ex)
                {
                    Interlocked.Increment(ref _conflicts);
                    foreach (var a in held) a.Loaded = false;
                    var conflict = Problems.Outcome(409, "concurrency_conflict",
                        $"stream '{ex.StreamId}' kept changing under this command ({ex.Expected} expected, {ex.Actual} found) after {attempt + 1} attempts; retry");
                    await AuditAloneAsync(context, conflict, ordered, ct).ConfigureAwait(false);
                    return conflict;
                }
                catch (IdempotencyKeyTakenException)
                {
                    foreach (var a in held) a.Loaded = false;
                    var known = await store.FindIdempotencyAsync(context.Tenant, context.IdempotencyKey!, ct).ConfigureAwait(false);
                    var replay = Replay(known!, context);
                    await AuditAloneAsync(context, replay, ordered, ct).ConfigureAwait(false);
                    return replay;
                }

                foreach (var a in held)
                {
                    a.State = after[a.StreamId];
                    if (heads.TryGetValue(a.StreamId, out var head))
                    {
                        a.Version = head.Version;
                        a.LastHash = head.LastHash;
                        a.Tenant ??= context.Tenant;
                    }
                }
                Interlocked.Increment(ref _commands);
                return new CommandOutcome(status, bodyJson) { EventsAppended = decision.Events.Count };
            }
        }
        catch
        {
            // The outcome of a failed append is unknown to this activation: reload before the next turn.
            foreach (var a in held) a.Loaded = false;
            throw;
        }
        finally
        {
            Release(held);
        }
    }

    private List<Snapshot>? SnapshotsFor(List<StreamAppend> appends, Dictionary<string, TState> after)
    {
        if (options.SnapshotEvery <= 0) return null;
        List<Snapshot>? list = null;
        foreach (var s in appends)
        {
            var from = s.Expected.Value;
            var to = from + s.Events.Count;
            if (to / options.SnapshotEvery == from / options.SnapshotEvery) continue;
            // Recompute the chain head for the snapshot (cheap: the same SHA-256 the append does).
            var prev = s.PrevHash;
            var v = from;
            foreach (var e in s.Events)
            {
                v++;
                prev = HashChain.Compute(prev, s.StreamId, v, e.EventType, e.SchemaVersion, e.OccurredAt, e.DataJson, PgEventStore.SerializeMetadata(e.Metadata));
            }
            (list ??= []).Add(new Snapshot(s.StreamId, to, definition.SnapshotSchemaVersion, prev,
                JsonSerializer.Serialize(after[s.StreamId], EventSerializer.Options)));
        }
        return list;
    }

    private static DateTimeOffset OccurredAt(object e) =>
        e.GetType().GetProperty("At")?.GetValue(e) is DateTimeOffset at ? at : throw new InvalidOperationException($"{e.GetType().Name} has no At");

    private CommandOutcome Replay(IdempotencyRecord known, CommandContext context)
    {
        if (!known.RequestHash.AsSpan().SequenceEqual(context.RequestHash))
            return Problems.Outcome(422, "idempotency_key_reused",
                $"Idempotency-Key '{known.Key}' was already used with a different request; use a new key for a new request");
        return new CommandOutcome(known.StatusCode, known.ResponseBody, Replayed: true);
    }

    private AuditRecord Audit(CommandContext context, string outcome, int status, string? code, IReadOnlyList<string> streams) => new(
        Guid.CreateVersion7(clock.GetUtcNow()), clock.GetUtcNow(), context.Actor, context.Tenant, context.Operation ?? definition.StreamType,
        outcome, status, code, context.RequestHash, streams, context.CorrelationId, context.IdempotencyKey);

    private AuditRecord Audit(CommandContext context, CommandOutcome o, IReadOnlyList<string> streams) =>
        Audit(context, o.Replayed ? AuditRecord.Replayed : o.Accepted ? AuditRecord.Accepted : AuditRecord.Rejected, o.Status, o.RejectionCode, streams);

    /// <summary>An audit record in its own transaction: replays, 422s and lost races write nothing else.</summary>
    private Task AuditAloneAsync(CommandContext context, CommandOutcome o, IReadOnlyList<string> streams, CancellationToken ct) =>
        store.AppendAuditAsync(Audit(context, o, streams), ct);

    /// <summary>Stores a rejection under the idempotency key (if any) with its audit record, in one transaction of their own.</summary>
    private async Task<CommandOutcome> RememberRejectionAsync(CommandContext context, CommandOutcome outcome, IReadOnlyList<string> streams, CancellationToken ct)
    {
        var audit = Audit(context, outcome, streams);
        if (context.IdempotencyKey is not { } key)
        {
            await store.AppendAuditAsync(audit, ct).ConfigureAwait(false);
            return outcome;
        }
        try
        {
            await store.SaveIdempotencyAsync(new IdempotencyRecord(context.Tenant, key, context.RequestHash, outcome.Status, outcome.Body), ct, audit).ConfigureAwait(false);
            return outcome;
        }
        catch (IdempotencyKeyTakenException)
        {
            var known = await store.FindIdempotencyAsync(context.Tenant, key, ct).ConfigureAwait(false);
            var replay = Replay(known!, context);
            await AuditAloneAsync(context, replay, streams, ct).ConfigureAwait(false);
            return replay;
        }
    }

    /// <summary>The current state and version of a stream, through its activation (consistent with this silo's writes).</summary>
    public async Task<(TState State, long Version)> GetAsync(string streamId, CancellationToken ct)
    {
        var (state, version, _) = await GetWithTenantAsync(streamId, ct).ConfigureAwait(false);
        return (state, version);
    }

    /// <summary>Like <see cref="GetAsync"/>, with the tenant the stream belongs to (null for a stream that does not exist).</summary>
    public async Task<(TState State, long Version, string? Tenant)> GetWithTenantAsync(string streamId, CancellationToken ct)
    {
        var held = await AcquireAsync([streamId], ct).ConfigureAwait(false);
        try
        {
            var a = held[0];
            if (!a.Loaded) await LoadAsync(a, ct).ConfigureAwait(false);
            else await RefreshAsync(a, ct).ConfigureAwait(false);
            if (a.Version == 0)
            {
                // A read of a stream with no events (an unknown id) keeps no activation: probing ids must not fill the
                // silo's memory until the idle timeout. A command waiting for this turn sees Deactivated and takes a new one.
                a.Deactivated = true;
                _activations.TryRemove(new KeyValuePair<string, Activation>(streamId, a));
            }
            return (a.State!, a.Version, a.Version > 0 ? a.Tenant : null);
        }
        finally
        {
            Release(held);
        }
    }

    /// <summary>Folds a stream from its first event up to <paramref name="upTo"/> (occurred_at, inclusive), ignoring snapshots: the audit path.</summary>
    public async Task<(TState State, long Version)> ReplayAsync(string streamId, DateTimeOffset? upTo, CancellationToken ct)
    {
        var state = definition.Empty(streamId);
        long version = 0;
        while (true)
        {
            var page = await store.ReadStreamAsync(streamId, version, ct, upTo, 1000).ConfigureAwait(false);
            if (page.Count == 0) break;
            foreach (var e in page) state = definition.Evolve(state, EventSerializer.Deserialize(e));
            version = page[^1].Version;
        }
        return (state, version);
    }

    private async Task<List<Activation>> AcquireAsync(string[] ordered, CancellationToken ct)
    {
        var held = new List<Activation>(ordered.Length);
        try
        {
            foreach (var id in ordered)
            {
                while (true)
                {
                    var a = _activations.GetOrAdd(id, static i => new Activation(i));
                    await a.Turn.WaitAsync(ct).ConfigureAwait(false);
                    if (a.Deactivated)
                    {
                        a.Turn.Release();
                        continue;   // evicted while we waited: take the fresh activation
                    }
                    a.LastUsed = clock.GetTimestamp();
                    held.Add(a);
                    break;
                }
            }
            return held;
        }
        catch
        {
            Release(held);
            throw;
        }
    }

    private static void Release(List<Activation> held)
    {
        for (var i = held.Count - 1; i >= 0; i--) held[i].Turn.Release();
    }

    private async Task LoadAsync(Activation a, CancellationToken ct)
    {
        if (a.State is null || !a.Loaded && a.Version == 0)
        {
            a.State = definition.Empty(a.StreamId);
            a.Version = 0;
            a.LastHash = HashChain.Genesis;
            if (options.SnapshotEvery > 0)
            {
                var snap = await store.ReadSnapshotAsync(a.StreamId, ct).ConfigureAwait(false);
                if (snap is not null && snap.SchemaVersion == definition.SnapshotSchemaVersion)
                {
                    a.State = JsonSerializer.Deserialize<TState>(snap.StateJson, EventSerializer.Options)!;
                    a.Version = snap.Version;
                    a.LastHash = snap.Hash;
                }
            }
        }
        await RefreshAsync(a, ct).ConfigureAwait(false);
        // Loaded from a snapshot with no tail: the tenant comes from the stream's row.
        if (a.Version > 0 && a.Tenant is null)
            a.Tenant = await store.ReadStreamTenantAsync(a.StreamId, ct).ConfigureAwait(false);
        a.Loaded = true;
    }

    /// <summary>Applies events appended after the cached version (by another silo, or by a lost race).</summary>
    private async Task RefreshAsync(Activation a, CancellationToken ct)
    {
        while (true)
        {
            var tail = await store.ReadStreamAsync(a.StreamId, a.Version, ct, limit: 1000).ConfigureAwait(false);
            if (tail.Count == 0) return;
            foreach (var e in tail)
            {
                a.State = definition.Evolve(a.State!, EventSerializer.Deserialize(e));
                a.Version = e.Version;
                a.LastHash = e.Hash;
                if (a.Tenant is null)
                {
                    using var meta = JsonDocument.Parse(e.MetadataJson);
                    a.Tenant = meta.RootElement.GetProperty("tenant").GetString();
                }
            }
        }
    }

    /// <summary>Drops activations idle for longer than the configured timeout; returns how many were dropped.</summary>
    public int DeactivateIdle()
    {
        var dropped = 0;
        foreach (var (id, a) in _activations)
        {
            if (clock.GetElapsedTime(a.LastUsed) < options.IdleTimeout) continue;
            if (!a.Turn.Wait(0)) continue;  // busy: not idle
            try
            {
                if (clock.GetElapsedTime(a.LastUsed) < options.IdleTimeout) continue;
                a.Deactivated = true;
                _activations.TryRemove(new KeyValuePair<string, Activation>(id, a));
                dropped++;
            }
            finally
            {
                a.Turn.Release();
            }
        }
        return dropped;
    }

    internal static long Now() => Stopwatch.GetTimestamp();
}
