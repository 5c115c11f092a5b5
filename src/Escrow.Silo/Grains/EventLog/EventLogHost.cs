using Escrow.EventStore;
using Npgsql;

namespace Escrow.Silo.Grains.EventLog;

/// <summary>
/// A grain state for the event-log provider: the aggregate's immutable state, replaced (never mutated) by each event.
/// The provider copies a view by copying <see cref="Value"/>, which is how it folds events for a snapshot before they commit.
/// </summary>
public interface IStreamView
{
    /// <summary>The aggregate's state (for example an <c>AccountState</c>); null until the provider loads the stream.</summary>
    object? Value { get; set; }
}

/// <summary>What a grain on the <see cref="EventLogProvider"/> tells its adaptor about its stream and its next write.</summary>
public interface IEventLogHost
{
    /// <summary>The grain's stream in the event log (for example <c>account-berka-576</c>).</summary>
    string StreamId { get; }

    /// <summary>The stream type recorded for a new stream (<c>account</c>, <c>deal</c>, <c>payment</c>).</summary>
    string StreamType { get; }

    /// <summary>The state of the stream before its first event.</summary>
    object EmptyState();

    /// <summary>The CLR type of the state, for reading a snapshot.</summary>
    Type StateType { get; }

    /// <summary>Version of the state's snapshot format; a snapshot of another version is ignored (the stream is replayed).</summary>
    int SnapshotSchemaVersion { get; }

    /// <summary>
    /// Everything the next <c>RaiseConditionalEvents</c> commits with the grain's own events, in the same transaction; taken
    /// (and cleared) by the adaptor when it writes. Null: the grain raised events without preparing a write (a bug).
    /// </summary>
    PendingWrite? TakePendingWrite();

    /// <summary>Called once by the provider with the adaptor it made for this grain (what the grain may ask of its stream).</summary>
    void Attach(IEventLogStream stream);
}

/// <summary>What a grain may read of its stream beyond the journaled state and version.</summary>
public interface IEventLogStream
{
    /// <summary>The institution that owns the stream (from its first event), null while it has none.</summary>
    string? Tenant { get; }

    /// <summary>The chain hash of the stream's last confirmed event.</summary>
    byte[] LastHash { get; }

    /// <summary>True until the stream is loaded, and after a write whose outcome is unknown: the next read reloads the tail.</summary>
    bool Stale { get; }

    /// <summary>
    /// Takes the state of the stream at <paramref name="version"/> (with its chain head) that another grain committed for it
    /// while this grain's turn was held: no tail read needed. Ignored unless it is newer than the confirmed state.
    /// </summary>
    void Adopt(object state, long version, byte[] lastHash, string tenant);

    /// <summary>A write made for this stream elsewhere has an unknown outcome: read the tail before the next decision.</summary>
    void MarkStale();
}

/// <summary>
/// One command's write beside the grain's own events: the metadata of every event, the other streams it appends to (each
/// with its expected version and previous hash), the idempotency record, the audit record and further statements
/// (a deal's timer). After the write the adaptor fills <see cref="Heads"/> (success) or <see cref="Conflict"/> (a stream
/// had moved: nothing was written).
/// </summary>
public sealed class PendingWrite(
    EventMetadataTemplate metadata, IReadOnlyList<StreamAppend> otherStreams, IdempotencyRecord? idempotency, AuditRecord? audit,
    IReadOnlyList<NpgsqlBatchCommand>? alsoInTransaction, IReadOnlyList<Snapshot>? otherSnapshots = null)
{
    /// <summary>Snapshots of the other streams (an account that only receives credits still gets one every interval).</summary>
    public IReadOnlyList<Snapshot> OtherSnapshots { get; } = otherSnapshots ?? [];

    public EventMetadataTemplate Metadata { get; } = metadata;
    public IReadOnlyList<StreamAppend> OtherStreams { get; } = otherStreams;
    public IdempotencyRecord? Idempotency { get; } = idempotency;
    public AuditRecord? Audit { get; } = audit;
    public IReadOnlyList<NpgsqlBatchCommand>? AlsoInTransaction { get; } = alsoInTransaction;

    /// <summary>Every written stream's head after the commit.</summary>
    public IReadOnlyDictionary<string, StreamHead>? Heads { get; set; }

    /// <summary>The stream whose expected version did not match, when the write lost a race.</summary>
    public WrongExpectedVersionException? Conflict { get; set; }
}

/// <summary>The metadata every event of one command carries (each event gets its own id).</summary>
public sealed record EventMetadataTemplate(Guid CorrelationId, Guid? CausationId, string Actor, string Tenant, string? IdempotencyKey)
{
    /// <summary>Serializes <paramref name="event"/> as a new event of this command, with a fresh UUIDv7 id from <paramref name="clock"/>.</summary>
    public NewEvent ToNew(object @event, TimeProvider clock)
    {
        var (type, schema, json) = EventSerializer.Serialize(@event);
        return new NewEvent(type, schema, json,
            new EventMetadata(Guid.CreateVersion7(clock.GetUtcNow()), CorrelationId, CausationId, Actor, Tenant, IdempotencyKey),
            OccurredAt(@event));
    }

    /// <summary>An event's business instant: its <c>At</c> property (every domain event has one).</summary>
    public static DateTimeOffset OccurredAt(object e) =>
        e.GetType().GetProperty("At")?.GetValue(e) is DateTimeOffset at ? at : throw new InvalidOperationException($"{e.GetType().Name} has no At");
}
