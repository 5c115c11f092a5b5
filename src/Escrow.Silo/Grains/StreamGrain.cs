using System.Text.Json;
using Escrow.Domain;
using Escrow.Domain.Accounts;
using Escrow.EventStore;
using Escrow.Grains;
using Escrow.Silo.Grains.EventLog;
using Escrow.Silo.Hosting;
using Microsoft.Extensions.Options;
using Npgsql;
using Orleans.EventSourcing;

namespace Escrow.Silo.Grains;

/// <summary>The grain state of every escrow grain: the aggregate's immutable state, replaced by each event.</summary>
public sealed class StreamView<TState> : IStreamView where TState : class
{
    public TState State { get; set; } = null!;

    object? IStreamView.Value
    {
        get => State;
        set => State = (TState)value!;
    }
}

/// <summary>
/// What the account, deal and payment grains share: a journaled grain over one stream of the event log whose commands may
/// also append to account streams (a transfer's credit leg, a deal's escrow posting) in the same transaction.
/// <para>A command runs in the grain's turn: it reads the other accounts' states from their grains (an interleaving read,
/// so two grains that read each other never deadlock), stamps "now", decides with the pure <c>Decide</c>, and raises its
/// events with <c>RaiseConditionalEvents</c>; the <see cref="EventLogProvider"/> commits them together with the other
/// streams' events (each with the version the decision saw), the idempotency record and the audit record. If any stream
/// moved meanwhile, nothing is written: the grain re-reads and decides again, up to
/// <see cref="SiloOptions.MaxConcurrencyRetries"/> times, then refuses with <c>concurrency_conflict</c>. A refusal is
/// decided only on fresh states (the grain re-reads every touched stream once before refusing).</para>
/// </summary>
public abstract class StreamGrain<TState>(PgEventStore store, TimeProvider clock, IOptions<SiloOptions> options, Dashboard.EscrowMetrics metrics)
    : JournaledGrain<StreamView<TState>, object>, IEventLogHost
    where TState : class
{
    private PendingWrite? _pending;

    protected PgEventStore Store => store;
    protected TimeProvider Clock => clock;

    private (string Tenant, string Id)? _key;

    /// <summary>The institution this grain belongs to: the first part of its key (<see cref="GrainKeys"/>).</summary>
    protected string KeyTenant => (_key ??= GrainKeys.Parse(this.GetPrimaryKeyString())).Tenant;

    /// <summary>The aggregate's id within its institution: the second part of the grain's key.</summary>
    protected string KeyId => (_key ??= GrainKeys.Parse(this.GetPrimaryKeyString())).Id;

    /// <summary>The stream id of account <paramref name="accountId"/> of this grain's institution.</summary>
    protected string AccountStream(string accountId) => AccountStreams.StreamId(KeyTenant, accountId);

    /// <summary>The grain of account <paramref name="accountId"/> of this grain's institution.</summary>
    protected IAccountGrain AccountGrainOf(string accountId) => GrainFactory.GetGrain<IAccountGrain>(GrainKeys.Of(KeyTenant, accountId));

    public abstract string StreamId { get; }
    public abstract string StreamType { get; }
    public Type StateType => typeof(TState);
    public virtual int SnapshotSchemaVersion => 1;
    object IEventLogHost.EmptyState() => Empty();
    PendingWrite? IEventLogHost.TakePendingWrite() => Interlocked.Exchange(ref _pending, null);

    /// <summary>The aggregate's state before its first event.</summary>
    protected abstract TState Empty();

    /// <summary>The aggregate's pure <c>Evolve</c>.</summary>
    protected abstract TState Evolve(TState state, object @event);

    protected sealed override void TransitionState(StreamView<TState> state, object @event) => state.State = Evolve(state.State, @event);

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        metrics.GrainActivation(StreamType, +1);
        return base.OnActivateAsync(cancellationToken);
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        metrics.GrainActivation(StreamType, -1);
        return base.OnDeactivateAsync(reason, cancellationToken);
    }

    private IEventLogStream? _stream;
    void IEventLogHost.Attach(IEventLogStream stream) => _stream = stream;
    private IEventLogStream Adaptor => _stream ?? throw new InvalidOperationException($"{GetType().Name} runs without the {EventLogProvider.Name} provider");

    /// <summary>The tenant owning this stream (null while it has no events).</summary>
    protected string? Tenant => Adaptor.Tenant;

    /// <summary>The confirmed state with its version, chain head and tenant; re-reads the tail first when asked.</summary>
    protected async Task<StreamSnapshot<TState>> SnapshotAsync(bool refresh)
    {
        if (refresh || Adaptor.Stale) await RefreshNow();
        return new StreamSnapshot<TState>(State.State, Version, Adaptor.LastHash, Tenant);
    }

    private IGrainTimer? _forget;

    /// <summary>How long an activation read for an id with no events lives before it is deactivated.</summary>
    protected static readonly TimeSpan ForgetEmptyAfter = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// Reading an unknown id keeps no activation for long: probing ids must not fill the silo's memory until the idle
    /// timeout. The deactivation waits <see cref="ForgetEmptyAfter"/> (and is skipped if the stream got events meanwhile): at
    /// once, calls already queued for this id (the open that usually follows a "does it exist?") would be forwarded to a
    /// new activation, which may deactivate again, until Orleans refuses to forward them any further.
    /// </summary>
    protected void ForgetSoonIfEmpty() =>
        _forget ??= this.RegisterGrainTimer(() =>
        {
            _forget?.Dispose();
            _forget = null;
            if (Version == 0) DeactivateOnIdle();
            return Task.CompletedTask;
        }, ForgetEmptyAfter, Timeout.InfiniteTimeSpan);

    /// <summary>Takes this stream's state as another grain committed it while this grain waited for that grain.</summary>
    protected void Adopt(StreamSnapshot<TState> after) => Adaptor.Adopt(after.State, after.Version, after.LastHash, after.Tenant!);

    /// <summary>A write for this stream made elsewhere has an unknown outcome: read the tail before the next decision.</summary>
    protected void MarkStale() => Adaptor.MarkStale();

    /// <summary>Another grain appended to this stream: catch up now rather than at the next conflict.</summary>
    protected async Task CatchUpAsync(long version)
    {
        if (version > Version) await RefreshNow();
    }

    /// <summary>A decision on this stream and the account streams named by the command.</summary>
    /// <param name="Own">This grain's state.</param>
    /// <param name="Accounts">The other accounts' states by account id, all of this grain's institution (absent accounts as their empty state).</param>
    protected sealed record Inputs(TState Own, IReadOnlyDictionary<string, AccountState> Accounts);

    /// <summary>
    /// Runs one command. <paramref name="accounts"/> names the account ids of this grain's institution (other than this
    /// grain's own stream) the command reads and may append to; <paramref name="decide"/> returns the events by stream id (this
    /// grain's stream id and <see cref="AccountStream"/>'s); <paramref name="respond"/> builds the accepted view from the states
    /// after the events and this stream's new version; <paramref name="foreign"/> is the refusal when the call acts for
    /// another institution than the grain's (identical to "does not exist"). <paramref name="alsoInTransaction"/> adds statements to the commit.
    /// <paramref name="readAccount"/> reads another account's state (default: from its grain, refreshed when asked);
    /// <paramref name="legCommitted"/> is told each other account's state after the commit and returns whether it passes it on
    /// itself (default: the account's grain is told to catch up).
    /// </summary>
    protected async Task<CommandResult<TView>> RunAsync<TView>(
        CommandCall call,
        IReadOnlyList<string> accounts,
        Func<Inputs, Decision> decide,
        Func<TState, IReadOnlyDictionary<string, AccountState>, long, Decision, (TView View, bool Created)> respond,
        Func<string, Rejection> foreign,
        Func<TState, IReadOnlyList<NpgsqlBatchCommand>>? alsoInTransaction = null,
        Func<string, bool, Task<StreamSnapshot<AccountState>>>? readAccount = null,
        Func<string, StreamSnapshot<AccountState>, bool>? legCommitted = null) where TView : class
    {
        if (Adaptor.Stale) await RefreshNow();
        var others = accounts.Where(a => AccountStream(a) != StreamId).Distinct(StringComparer.Ordinal).ToArray();
        var refreshOthers = false;
        var refreshedBeforeRefusal = false;
        var touched = new[] { StreamId }.Concat(others.Select(AccountStream)).ToArray();
        // Tenancy: ids are per institution, so a call acting for another institution names nothing here; it never learns
        // whether the id exists in this one.
        if (call.Tenant != KeyTenant)
            return await RefuseAsync<TView>(call, foreign(StreamId), [StreamId]);
        for (var attempt = 0; ; attempt++)
        {
            readAccount ??= (a, refresh) => AccountGrainOf(a).GetState(refresh);
            var reads = await Task.WhenAll(others.Select(a => readAccount(a, refreshOthers)));
            var byId = new Dictionary<string, StreamSnapshot<AccountState>>(StringComparer.Ordinal);
            for (var i = 0; i < others.Length; i++) byId[others[i]] = reads[i];

            var decision = decide(new Inputs(State.State, byId.ToDictionary(kv => kv.Key, kv => kv.Value.State, StringComparer.Ordinal)));
            if (decision.Rejection is { } rejection)
            {
                if (!refreshedBeforeRefusal)
                {
                    // Never refuse on a stale view: one tail read of every touched stream, decide again if one moved.
                    refreshedBeforeRefusal = true;
                    var before = Version;
                    await RefreshNow();
                    var fresh = await Task.WhenAll(others.Select(a => readAccount(a, true)));
                    if (before != Version || fresh.Where((s, i) => s.Version != reads[i].Version).Any())
                    {
                        refreshOthers = false;   // just read
                        continue;
                    }
                }
                return await RefuseAsync<TView>(call, rejection, touched);
            }

            // Fold the decision: this stream's events, then each account's.
            var own = new List<object>();
            var ownAfter = State.State;
            var otherEvents = new Dictionary<string, List<object>>(StringComparer.Ordinal);
            foreach (var pe in decision.Events)
            {
                if (pe.StreamId == StreamId)
                {
                    own.Add(pe.Event);
                    ownAfter = Evolve(ownAfter, pe.Event);
                }
                else if (AccountStreams.TryParse(pe.StreamId, out var tenant, out var account) && tenant == KeyTenant && byId.ContainsKey(account))
                    (otherEvents.TryGetValue(account, out var list) ? list : otherEvents[account] = []).Add(pe.Event);
                else
                    throw new InvalidOperationException($"{StreamId}: the decision wrote to stream '{pe.StreamId}' that the command did not name");
            }
            var accountsAfter = byId.ToDictionary(kv => kv.Key,
                kv => otherEvents.TryGetValue(kv.Key, out var es) ? es.Aggregate(kv.Value.State, Account.Evolve) : kv.Value.State, StringComparer.Ordinal);
            var (view, created) = respond(ownAfter, accountsAfter, Version + own.Count, decision);
            var result = CommandResult<TView>.Accept(view, created, decision.Events.Count);
            // Accepted with nothing to write (an erasure of an erased subject, a release with no hold): still audited and
            // remembered under the key, like a refusal.
            if (decision.Events.Count == 0) return await AnswerWithoutEventsAsync(call, result, AuditRecord.Accepted, [StreamId]);

            var meta = new EventMetadataTemplate(call.CorrelationId, call.CausationId, call.Actor, call.Tenant, call.IdempotencyKey);
            var appends = otherEvents.Select(kv =>
            {
                var s = byId[kv.Key];
                return new StreamAppend(AccountStream(kv.Key), Account.StreamType, KeyTenant,
                    ExpectedVersion.Exactly(s.Version), s.LastHash, kv.Value.Select(e => meta.ToNew(e, clock)).ToList());
            }).ToList();
            var written = new[] { StreamId }.Where(_ => own.Count > 0).Concat(appends.Select(a => a.StreamId)).ToArray();
            var write = new PendingWrite(meta, appends,
                call.IdempotencyKey is { } key ? new IdempotencyRecord(call.Tenant, key, call.RequestHash, StoredResult, Serialize(result)) : null,
                Audit(call, AuditRecord.Accepted, result, written),
                alsoInTransaction?.Invoke(ownAfter),
                appends.Select(a => StreamSnapshots.Of(a, options.Value.SnapshotEvery, 1,
                        () => JsonSerializer.Serialize(accountsAfter[AccountStreams.TryAccountId(a.StreamId, out var id) ? id : a.StreamId], EventSerializer.Options)))
                    .OfType<Snapshot>().ToList());
            _pending = write;
            bool committed;
            try
            {
                committed = await RaiseConditionalEvents(own);
            }
            catch (IdempotencyKeyTakenException)
            {
                return await ReplayAsync<TView>(call, touched);
            }
            finally
            {
                _pending = null;
            }
            if (committed)
            {
                foreach (var a in appends)
                    if (write.Heads?.TryGetValue(a.StreamId, out var head) == true && AccountStreams.TryAccountId(a.StreamId, out var id)
                        && legCommitted?.Invoke(id, new StreamSnapshot<AccountState>(accountsAfter[id], head.Version, head.LastHash, a.Tenant)) != true)
                        _ = AccountGrainOf(id).Appended(head.Version);
                return result;
            }
            refreshOthers = true;
            if (attempt >= options.Value.MaxConcurrencyRetries)
            {
                var c = write.Conflict;
                var conflict = new Rejection(StreamGrainCodes.ConcurrencyConflict,
                    $"stream '{c?.StreamId}' kept changing under this command ({c?.Expected} expected, {c?.Actual} found) after {attempt + 1} attempts; retry");
                await store.AppendAuditAsync(Audit(call, AuditRecord.Rejected, CommandResult<TView>.Refuse(conflict), touched), default);
                return CommandResult<TView>.Refuse(conflict);
            }
            // Another writer is on the same streams: back off a little, with jitter, so two grains do not keep invalidating each other.
            await Task.Delay(TimeSpan.FromMilliseconds(Random.Shared.Next(1, 2 << Math.Min(attempt, 4))), clock);
        }
    }

    /// <summary>The status column of an idempotency record that holds a <see cref="CommandResult{TView}"/> (older records hold an HTTP status).</summary>
    public const int StoredResult = 0;

    private static string Serialize<TView>(CommandResult<TView> result) where TView : class =>
        JsonSerializer.Serialize(result with { Replayed = false }, EventSerializer.Options);

    /// <summary>Stores a refusal under the idempotency key (if any) with its audit record, in one transaction of their own.</summary>
    protected Task<CommandResult<TView>> RefuseAsync<TView>(CommandCall call, Rejection rejection, IReadOnlyList<string> streams) where TView : class =>
        AnswerWithoutEventsAsync(call, CommandResult<TView>.Refuse(rejection), AuditRecord.Rejected, streams);

    /// <summary>Stores an answer that wrote no event under the idempotency key (if any) with its audit record, in one transaction of their own.</summary>
    private async Task<CommandResult<TView>> AnswerWithoutEventsAsync<TView>(CommandCall call, CommandResult<TView> result, string outcome,
        IReadOnlyList<string> streams) where TView : class
    {
        var audit = Audit(call, outcome, result, streams);
        if (call.IdempotencyKey is not { } key)
        {
            await store.AppendAuditAsync(audit, default);
            return result;
        }
        try
        {
            await store.SaveIdempotencyAsync(new IdempotencyRecord(call.Tenant, key, call.RequestHash, StoredResult, Serialize(result)), default, audit);
            return result;
        }
        catch (IdempotencyKeyTakenException)
        {
            return await ReplayAsync<TView>(call, streams);
        }
    }

    /// <summary>The answer stored under the call's idempotency key (or <c>idempotency_key_reused</c> for another request), audited.</summary>
    private async Task<CommandResult<TView>> ReplayAsync<TView>(CommandCall call, IReadOnlyList<string> streams) where TView : class
    {
        var known = await store.FindIdempotencyAsync(call.Tenant, call.IdempotencyKey!, default)
            ?? throw new InvalidOperationException($"idempotency key '{call.IdempotencyKey}' was taken but is not stored");
        CommandResult<TView> result;
        if (!known.RequestHash.AsSpan().SequenceEqual(call.RequestHash))
            result = CommandResult<TView>.Refuse(new Rejection(StreamGrainCodes.IdempotencyKeyReused,
                $"Idempotency-Key '{known.Key}' was already used with a different request; use a new key for a new request"));
        else if (known.StatusCode == StoredResult)
            result = JsonSerializer.Deserialize<CommandResult<TView>>(known.ResponseBody, EventSerializer.Options)! with { Replayed = true, EventsAppended = 0 };
        else
            result = new CommandResult<TView>(known.StatusCode is >= 200 and < 300, false, null, null, 0, true, new StoredAnswer(known.StatusCode, known.ResponseBody));
        await store.AppendAuditAsync(Audit(call, result.Replayed ? AuditRecord.Replayed : AuditRecord.Rejected, result, streams), default);
        return result;
    }


    private AuditRecord Audit<TView>(CommandCall call, string outcome, CommandResult<TView> result, IReadOnlyList<string> streams) where TView : class => new(
        Guid.CreateVersion7(clock.GetUtcNow()), clock.GetUtcNow(), call.Actor, call.Tenant, call.Operation ?? StreamType, outcome,
        CommandAnswers.Status(result), result.Rejection?.Code, call.RequestHash, streams, call.CorrelationId, call.IdempotencyKey);

    /// <summary>"Now" for a command: max(clock, the latest activity among the touched streams), so every stream's times only grow.</summary>
    protected DateTimeOffset LiveInstant(IEnumerable<DateTimeOffset?> lastActivities)
    {
        var now = clock.GetUtcNow();
        foreach (var last in lastActivities)
            if (last is { } l && l > now) now = l;
        return now;
    }
}

/// <summary>Refusals every grain can give, whatever its aggregate.</summary>
public static class StreamGrainCodes
{
    /// <summary>The same Idempotency-Key was used with another request.</summary>
    public const string IdempotencyKeyReused = "idempotency_key_reused";

    /// <summary>The streams kept changing under the command for every allowed attempt.</summary>
    public const string ConcurrencyConflict = "concurrency_conflict";
}
