namespace Escrow.EventStore;

/// <summary>An event as read back from the log.</summary>
public sealed record StoredEvent(
    long GlobalPosition,
    ulong TransactionId,
    string StreamId,
    long Version,
    string EventType,
    int SchemaVersion,
    string DataJson,
    string MetadataJson,
    DateTimeOffset OccurredAt,
    DateTimeOffset RecordedAt,
    byte[] PrevHash,
    byte[] Hash)
{
    /// <summary>The position of this event in the commit-safe global order.</summary>
    public GlobalCheckpoint Checkpoint => new(TransactionId, GlobalPosition);

    /// <summary>
    /// The stream id the event was written under, which its hash covers: <see cref="StreamId"/> itself, except for a stream
    /// written before ids were per institution, which is read under its new id (see <see cref="PgEventStore.StoredStreamIdAsync"/>).
    /// </summary>
    public string StoredStreamId { get; init; } = StreamId;
}

/// <summary>
/// A position in the commit-safe global order: (writing transaction id, global position). Events are
/// delivered in ascending order of this pair; see <see cref="PgEventStore.ReadAllAsync(GlobalCheckpoint, int, CancellationToken, Npgsql.NpgsqlConnection?, Npgsql.NpgsqlTransaction?)"/>.
/// </summary>
public readonly record struct GlobalCheckpoint(ulong TransactionId, long Position) : IComparable<GlobalCheckpoint>
{
    public static GlobalCheckpoint Start => default;
    public int CompareTo(GlobalCheckpoint other) =>
        TransactionId != other.TransactionId ? TransactionId.CompareTo(other.TransactionId) : Position.CompareTo(other.Position);
}
