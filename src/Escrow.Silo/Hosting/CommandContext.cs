namespace Escrow.Silo.Hosting;

/// <summary>
/// Who sends a command and how to recognise its retries. <see cref="RequestHash"/> is the SHA-256 of
/// the canonical request (method, route, canonical JSON body): the same Idempotency-Key with another
/// hash is refused.
/// </summary>
public sealed record CommandContext(
    string Tenant, string Actor, string? IdempotencyKey, byte[] RequestHash, Guid CorrelationId, Guid? CausationId = null);

/// <summary>
/// The answer to a command exactly as the client receives it: HTTP status and JSON body. Stored under the
/// idempotency key, so a retry gets the same bytes. <see cref="Replayed"/> marks an answer served from the
/// idempotency record.
/// </summary>
public sealed record CommandOutcome(int Status, string Body, bool Replayed = false, string? RejectionCode = null)
{
    public bool Accepted => Status is >= 200 and < 300;
}
