namespace Escrow.EventStore;

/// <summary>
/// One line of the write-once audit log: who (the API key's id, never its secret) asked what of which
/// tenant, and what came of it. <see cref="Outcome"/> is accepted, rejected (by a business rule or a
/// conflict), replayed (an idempotent retry served from the stored answer) or refused (authentication,
/// authorisation or a malformed request; nothing reached the aggregate). <see cref="PayloadSha256"/> is
/// the SHA-256 of the canonical request (method, path, canonical JSON body).
/// </summary>
public sealed record AuditRecord(
    Guid AuditId,
    DateTimeOffset At,
    string Actor,
    string Tenant,
    string Operation,
    string Outcome,
    int Status,
    string? Code,
    byte[] PayloadSha256,
    IReadOnlyList<string> StreamIds,
    Guid CorrelationId,
    string? IdempotencyKey)
{
    public const string Accepted = "accepted";
    public const string Rejected = "rejected";
    public const string Replayed = "replayed";
    public const string Refused = "refused";
}
