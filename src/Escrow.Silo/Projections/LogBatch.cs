using Escrow.EventStore;
using Orleans.Streams;

namespace Escrow.Silo.Projections;

/// <summary>
/// A position in the event log's commit order as an Orleans stream sequence token: the event's
/// <see cref="GlobalCheckpoint"/> (writing transaction id, global position), plus <see cref="Beat"/>, which orders the
/// empty heartbeat batches a receiver sends at one position. Tokens mean the same on every silo, so a queue that moves to
/// another silo resumes in the same order.
/// </summary>
[GenerateSerializer, Immutable]
public sealed class LogSequenceToken : StreamSequenceToken
{
    public LogSequenceToken(ulong transactionId, long position, int beat)
    {
        TransactionId = transactionId;
        Position = position;
        Beat = beat;
    }

    [Id(0)] public ulong TransactionId { get; }
    [Id(1)] public long Position { get; }
    [Id(2)] public int Beat { get; }

    /// <summary>The event's global position (not ordered by commit on its own; <see cref="CompareTo"/> uses the transaction id first).</summary>
    public override long SequenceNumber { get => Position; protected set => throw new NotSupportedException(); }
    public override int EventIndex { get => Beat; protected set => throw new NotSupportedException(); }

    public GlobalCheckpoint Checkpoint => new(TransactionId, Position);

    public override bool Equals(StreamSequenceToken? other) =>
        other is LogSequenceToken t && t.TransactionId == TransactionId && t.Position == Position && t.Beat == Beat;

    public override bool Equals(object? obj) => obj is StreamSequenceToken t && Equals(t);
    public override int GetHashCode() => HashCode.Combine(TransactionId, Position, Beat);

    public override int CompareTo(StreamSequenceToken? other)
    {
        if (other is not LogSequenceToken t) throw new ArgumentException($"a {nameof(LogSequenceToken)} compares only with another", nameof(other));
        var c = Checkpoint.CompareTo(t.Checkpoint);
        return c != 0 ? c : Beat.CompareTo(t.Beat);
    }

    public override string ToString() => $"{TransactionId}/{Position}" + (Beat == 0 ? "" : $"+{Beat}");
}

/// <summary>
/// One message of a projection's queue: the projection's events of the log in commit order after <see cref="From"/> up to
/// and including <see cref="To"/> (<see cref="Scanned"/> log events in that range, of which <see cref="Events"/> are the
/// ones the projection reads), as one item of its stream. An empty batch with <see cref="From"/> = <see cref="To"/> is a
/// heartbeat: it lets the projection grain notice that its checkpoint fell behind what was delivered (a batch given up
/// after a long outage, a reset read model) while no new event arrives. Immutable: delivered within a silo as it is.
/// </summary>
[GenerateSerializer, Immutable]
public sealed class LogBatch(StreamId streamId, LogSequenceToken from, LogSequenceToken to, int scanned, StoredEvent[] events) : IBatchContainer
{
    [Id(0)] public StreamId StreamId { get; } = streamId;
    [Id(1)] public LogSequenceToken From { get; } = from;
    [Id(2)] public LogSequenceToken To { get; } = to;
    [Id(3)] public int Scanned { get; } = scanned;
    [Id(4)] public StoredEvent[] Events { get; } = events;

    public StreamSequenceToken SequenceToken => To;

    /// <summary>The batch itself is the stream's one item (a projection applies a batch in one transaction).</summary>
    public IEnumerable<Tuple<T, StreamSequenceToken>> GetEvents<T>() =>
        this is T item ? [Tuple.Create(item, (StreamSequenceToken)To)] : [];

    public bool ImportRequestContext() => false;
}

/// <summary>How a <see cref="StoredEvent"/> (a type of the Orleans-free event store) travels between silos inside a <see cref="LogBatch"/>.</summary>
[GenerateSerializer]
public struct StoredEventSurrogate
{
    [Id(0)] public long GlobalPosition;
    [Id(1)] public ulong TransactionId;
    [Id(2)] public string StreamId;
    [Id(3)] public long Version;
    [Id(4)] public string EventType;
    [Id(5)] public int SchemaVersion;
    [Id(6)] public string? DataJson;
    [Id(7)] public string? MetadataJson;
    [Id(8)] public DateTimeOffset OccurredAt;
    [Id(9)] public DateTimeOffset RecordedAt;
    [Id(10)] public byte[] PrevHash;
    [Id(11)] public byte[] Hash;
    [Id(12)] public string StoredStreamId;
}

/// <summary>Converts <see cref="StoredEvent"/> to and from <see cref="StoredEventSurrogate"/> for Orleans's serializer.</summary>
[RegisterConverter]
public sealed class StoredEventConverter : IConverter<StoredEvent, StoredEventSurrogate>
{
    public StoredEvent ConvertFromSurrogate(in StoredEventSurrogate s) =>
        new(s.GlobalPosition, s.TransactionId, s.StreamId, s.Version, s.EventType, s.SchemaVersion, s.DataJson!, s.MetadataJson!,
            s.OccurredAt, s.RecordedAt, s.PrevHash, s.Hash) { StoredStreamId = s.StoredStreamId };

    public StoredEventSurrogate ConvertToSurrogate(in StoredEvent e) => new()
    {
        GlobalPosition = e.GlobalPosition, TransactionId = e.TransactionId, StreamId = e.StreamId, Version = e.Version,
        EventType = e.EventType, SchemaVersion = e.SchemaVersion, DataJson = e.DataJson, MetadataJson = e.MetadataJson,
        OccurredAt = e.OccurredAt, RecordedAt = e.RecordedAt, PrevHash = e.PrevHash, Hash = e.Hash, StoredStreamId = e.StoredStreamId,
    };
}
