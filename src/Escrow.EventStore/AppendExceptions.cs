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

/// <summary>
/// Thrown when a write transaction was sent to PostgreSQL but its answer never came back (the connection broke, the
/// server went away mid-commit): it may or may not have committed. Nothing tells which until the request is repeated with
/// the same idempotency key, which then applies it once or answers what it did. A write that could not even be sent
/// (PostgreSQL unreachable) throws the driver's own <see cref="Npgsql.NpgsqlException"/> instead: then nothing was written.
/// </summary>
public sealed class WriteOutcomeUnknownException(Exception inner)
    : Exception("PostgreSQL's answer to a write transaction was lost: it may or may not have committed", inner);
