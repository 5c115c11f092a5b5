namespace Escrow.EventStore;

/// <summary>
/// The version a writer expects a stream to be at before its append. Versions count events: a new
/// stream is at 0 (<see cref="NoStream"/>), its first event has version 1.
/// </summary>
public readonly record struct ExpectedVersion(long Value)
{
    public static ExpectedVersion NoStream => new(0);
    public static ExpectedVersion Exactly(long version) =>
        version < 0 ? throw new ArgumentOutOfRangeException(nameof(version)) : new(version);
    public override string ToString() => Value == 0 ? "no stream" : Value.ToString(System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>Who and what caused an event; stored as the event's metadata jsonb.</summary>
public sealed record EventMetadata(
    Guid EventId, Guid CorrelationId, Guid? CausationId, string Actor, string Tenant, string? IdempotencyKey);

/// <summary>An event about to be appended. <see cref="DataJson"/> is the serialized event body.</summary>
public sealed record NewEvent(string EventType, int SchemaVersion, string DataJson, EventMetadata Metadata, DateTimeOffset OccurredAt);

/// <summary>The events one stream receives in an append, with the version and hash the writer saw.</summary>
public sealed record StreamAppend(
    string StreamId, string StreamType, string Tenant, ExpectedVersion Expected, byte[] PrevHash, IReadOnlyList<NewEvent> Events);

/// <summary>The stored answer to a mutating request, keyed by (tenant, Idempotency-Key).</summary>
public sealed record IdempotencyRecord(string Tenant, string Key, byte[] RequestHash, int StatusCode, string ResponseBody);

/// <summary>
/// A snapshot of a stream's folded state at <see cref="Version"/>, with the chain hash at that version. A snapshot handed
/// to <see cref="PgEventStore.AppendAsync"/> at a head that append writes may leave <see cref="Hash"/> empty: the store
/// fills in the head's hash.
/// </summary>
public sealed record Snapshot(string StreamId, long Version, int SchemaVersion, byte[] Hash, string StateJson);

/// <summary>The head of a stream after an append: its version and the hash of its last event.</summary>
public sealed record StreamHead(long Version, byte[] LastHash);

/// <summary>
/// Group commit of <see cref="PgEventStore.AppendAsync"/>: while <see cref="MaxConcurrentBatches"/> append transactions
/// are in flight, further appends queue; when one finishes, its loop takes up to <see cref="MaxBatchSize"/> queued appends
/// and commits them in one transaction (one round trip, one WAL flush, one statement per table). A lone append under
/// light load is committed at once, as before. Guarantees are per command, as without batching: each command's events,
/// idempotency record and audit record commit together or not at all; each stream's expected version is checked;
/// a caller is answered only after its transaction committed; a conflict fails only the command that caused it.
/// </summary>
public sealed record GroupCommitOptions
{
    /// <summary>Most commands in one append transaction (1 turns batching off: every append is its own transaction).</summary>
    public int MaxBatchSize { get; init; } = 64;

    /// <summary>Most append transactions in flight at once from this store (each holds one pooled connection while it runs).</summary>
    public int MaxConcurrentBatches { get; init; } = 2;

    /// <summary>
    /// Optional pool for the append transactions and the wake-up NOTIFY, built on the same server and role with
    /// <c>No Reset On Close=true</c>. These are single implicit transactions that set no session state, take no session
    /// advisory lock and never LISTEN, so the reset Npgsql otherwise sends when a pooled connection is reused (seven
    /// statements: <c>SET SESSION AUTHORIZATION DEFAULT; RESET ALL; CLOSE ALL; UNLISTEN *;
    /// SELECT pg_advisory_unlock_all(); DISCARD SEQUENCES; DISCARD TEMP</c>) is pure overhead there. Null: the
    /// store's own data source, with its reset.
    /// </summary>
    public Npgsql.NpgsqlDataSource? AppendDataSource { get; init; }
}
