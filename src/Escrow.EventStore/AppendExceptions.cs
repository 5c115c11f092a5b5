namespace Escrow.EventStore;

/// <summary>Thrown when an append's expected version does not match the stream; nothing was written.</summary>
public sealed class WrongExpectedVersionException(string streamId, long expected, long actual)
    : Exception($"stream '{streamId}' is at version {actual}, the append expected {expected}")
{
    public string StreamId { get; } = streamId;
    public long Expected { get; } = expected;
    public long Actual { get; } = actual;
}

/// <summary>Thrown when another request committed the same idempotency key first; nothing was written.</summary>
public sealed class IdempotencyKeyTakenException(string tenant, string key)
    : Exception($"idempotency key '{key}' of tenant '{tenant}' was committed by a concurrent request")
{
    public string Tenant { get; } = tenant;
    public string Key { get; } = key;
}
