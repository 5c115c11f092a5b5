using System.Text.Json;
using Escrow.EventStore;
using Orleans.EventSourcing;

namespace Escrow.Silo.Grains.EventLog;

/// <summary>
/// One grain's view of its stream. Loads the newest snapshot and the tail on activation; <c>RaiseConditionalEvents</c>
/// commits the grain's events with its expected version together with the command's <see cref="PendingWrite"/> (other
/// streams, idempotency and audit records) in one transaction of the group commit, and writes a snapshot in that
/// transaction whenever the stream crosses a multiple of the snapshot interval. Unconditional <c>RaiseEvent</c> is refused:
/// an event confirmed later could rest on a decision made on a stale state.
/// <para>Runs on the grain's scheduler: its awaits keep the grain's context (no <c>ConfigureAwait(false)</c>), so a read
/// interleaved by an <c>[AlwaysInterleave]</c> call and the continuation of a write never run on two threads at once.</para>
/// </summary>
internal sealed class EventLogAdaptor<TView, TEntry>(
    ILogViewAdaptorHost<TView, TEntry> grain, IEventLogHost host, PgEventStore store, int snapshotEvery) : ILogViewAdaptor<TView, TEntry>, IEventLogStream
    where TView : class, new()
    where TEntry : class
{
    private TView _confirmed = new();
    private long _version;
    private byte[] _lastHash = HashChain.Genesis;
    private bool _loaded;

    /// <summary>The institution that owns the stream (from its first event), null while the stream has none.</summary>
    public string? Tenant { get; private set; }

    /// <summary>The chain hash of the stream's last confirmed event.</summary>
    public byte[] LastHash => _lastHash;

    /// <summary>True after a write whose outcome is unknown (the connection failed): the next read reloads the tail.</summary>
    public bool Stale { get; private set; } = true;

    public TView TentativeView => _confirmed;
    public TView ConfirmedView => _confirmed;
    public int ConfirmedVersion => checked((int)_version);
    public IEnumerable<TEntry> UnconfirmedSuffix => [];

    public void Adopt(object state, long version, byte[] lastHash, string tenant)
    {
        if (!_loaded || version <= _version) return;
        var view = new TView();
        ((IStreamView)view).Value = state;
        _confirmed = view;
        _version = version;
        _lastHash = lastHash;
        Tenant ??= tenant;
        Stale = false;
        grain.OnViewChanged(false, true);
    }

    public void MarkStale() => Stale = true;

    public Task PreOnActivate() => Task.CompletedTask;
    public Task PostOnActivate() => Task.CompletedTask;
    public Task PostOnDeactivate() => Task.CompletedTask;

    public void Submit(TEntry entry) => throw Unconditional();
    public void SubmitRange(IEnumerable<TEntry> entries) => throw Unconditional();
    public Task ConfirmSubmittedEntries() => Task.CompletedTask;

    private static NotSupportedException Unconditional() =>
        new("the event-log provider appends only with RaiseConditionalEvent(s): each write checks the version its decision saw");

    public Task<bool> TryAppend(TEntry entry) => TryAppendRange([entry]);

    /// <summary>Loads the stream (first call) or reads its tail.</summary>
    public async Task Synchronize()
    {
        if (!_loaded) await LoadAsync();
        else await RefreshAsync();
    }

    public async Task<bool> TryAppendRange(IEnumerable<TEntry> entries)
    {
        var write = host.TakePendingWrite()
            ?? throw new InvalidOperationException($"{host.StreamId}: events raised without a prepared write");
        if (Stale || !_loaded)
        {
            // The grain decided on a state this adaptor no longer trusts: read the tail, let it decide again.
            await Synchronize();
            write.Conflict = new WrongExpectedVersionException(host.StreamId, _version, _version);
            return false;
        }
        var own = entries.Cast<object>().ToList();
        var tenant = Tenant ?? write.Metadata.Tenant;
        var appends = new List<StreamAppend>(write.OtherStreams.Count + 1);
        var after = _confirmed;
        IReadOnlyList<Snapshot>? snapshots = null;
        if (own.Count > 0)
        {
            var clock = TimeProvider.System;
            var events = own.Select(e => write.Metadata.ToNew(e, clock)).ToList();
            var append = new StreamAppend(host.StreamId, host.StreamType, tenant, ExpectedVersion.Exactly(_version), _lastHash, events);
            appends.Add(append);
            after = new TView();
            ((IStreamView)after).Value = ((IStreamView)_confirmed).Value;
            foreach (var e in own) grain.UpdateView(after, (TEntry)e);
            if (SnapshotOf(append, after) is { } snapshot) snapshots = [snapshot];
        }
        if (write.OtherSnapshots.Count > 0) snapshots = [.. snapshots ?? [], .. write.OtherSnapshots];
        appends.AddRange(write.OtherStreams);
        IReadOnlyDictionary<string, StreamHead> heads;
        try
        {
            heads = await store.AppendAsync(appends, write.Idempotency, snapshots, CancellationToken.None, write.Audit, write.AlsoInTransaction)
                ;
        }
        catch (WrongExpectedVersionException conflict)
        {
            write.Conflict = conflict;
            await RefreshAsync();
            return false;
        }
        catch (IdempotencyKeyTakenException)
        {
            throw;   // nothing was written; the grain answers with the stored answer
        }
        catch
        {
            Stale = true;   // the commit's outcome is unknown: never decide again on this view without reading the tail
            throw;
        }
        write.Heads = heads;
        if (own.Count > 0 && heads.TryGetValue(host.StreamId, out var head) && head.Version > _version)
        {
            _confirmed = after;
            _version = head.Version;
            _lastHash = head.LastHash;
            Tenant ??= tenant;
            grain.OnViewChanged(false, true);
        }
        return true;
    }

    private Snapshot? SnapshotOf(StreamAppend append, TView after) =>
        StreamSnapshots.Of(append, snapshotEvery, host.SnapshotSchemaVersion,
            () => JsonSerializer.Serialize(((IStreamView)after).Value, host.StateType, EventSerializer.Options));

    private async Task LoadAsync()
    {
        var view = new TView();
        ((IStreamView)view).Value = host.EmptyState();
        _version = 0;
        _lastHash = HashChain.Genesis;
        Tenant = null;
        if (snapshotEvery > 0 && await store.ReadSnapshotAsync(host.StreamId, CancellationToken.None) is { } snap
            && snap.SchemaVersion == host.SnapshotSchemaVersion)
        {
            ((IStreamView)view).Value = JsonSerializer.Deserialize(snap.StateJson, host.StateType, EventSerializer.Options);
            _version = snap.Version;
            _lastHash = snap.Hash;
            Tenant = await store.ReadStreamTenantAsync(host.StreamId, CancellationToken.None);
        }
        _confirmed = view;
        _loaded = true;
        await RefreshAsync();
    }

    /// <summary>Applies every event after the confirmed version, in order (events another grain appended, or a lost race).</summary>
    private async Task RefreshAsync()
    {
        var changed = false;
        while (true)
        {
            var tail = await store.ReadStreamAsync(host.StreamId, _version, CancellationToken.None, limit: 1000);
            foreach (var e in tail)
            {
                if (e.Version <= _version) continue;   // already applied by an interleaved read
                if (e.Version != _version + 1)
                    throw new InvalidOperationException(
                        $"{host.StreamId}: versions {_version + 1}..{e.Version - 1} are not in the event log (archived months: escrow archive keeps a " +
                        "snapshot at each stream's archived head, which this grain did not load: snapshots switched off, or of another schema)");
                grain.UpdateView(_confirmed, (TEntry)EventSerializer.Deserialize(e));
                _version = e.Version;
                _lastHash = e.Hash;
                if (Tenant is null)
                {
                    using var meta = JsonDocument.Parse(e.MetadataJson);
                    Tenant = meta.RootElement.GetProperty("tenant").GetString();
                }
                changed = true;
            }
            if (tail.Count < 1000) break;
        }
        Stale = false;
        if (changed) grain.OnViewChanged(false, true);
    }

    public async Task<IReadOnlyList<TEntry>> RetrieveLogSegment(int fromVersion, int toVersion)
    {
        var events = await store.ReadStreamAsync(host.StreamId, fromVersion, CancellationToken.None, limit: toVersion - fromVersion);
        return events.Select(e => (TEntry)EventSerializer.Deserialize(e)).ToList();
    }

    public void EnableStatsCollection() { }
    public void DisableStatsCollection() { }
    public LogConsistencyStatistics? GetStats() => null;
}

/// <summary>When an append crosses a multiple of the snapshot interval, the snapshot of the stream at its new head (the store adds the head's hash).</summary>
internal static class StreamSnapshots
{
    public static Snapshot? Of(StreamAppend append, int every, int schemaVersion, Func<string> stateJson)
    {
        if (every <= 0) return null;
        var from = append.Expected.Value;
        var to = from + append.Events.Count;
        return to / every == from / every ? null : new Snapshot(append.StreamId, to, schemaVersion, [], stateJson());
    }
}
