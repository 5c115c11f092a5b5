namespace Escrow.Silo.Hosting;

/// <summary>
/// Who sends a command and how to recognise its retries. <see cref="RequestHash"/> is the SHA-256 of
/// the canonical request (method, route, canonical JSON body): the same Idempotency-Key with another
/// hash is refused. <see cref="Actor"/> is the API key's id (never its secret) or a system name.
/// The command names ids of <see cref="Tenant"/> only (ids are per institution). <see cref="TenantScoped"/> is set for
/// every key but root's: such a caller may not use the operator's reserved ids (<c>house-…</c>).
/// <see cref="Operation"/> names the command in the audit log.
/// </summary>
public sealed record CommandContext(
    string Tenant, string Actor, string? IdempotencyKey, byte[] RequestHash, Guid CorrelationId, Guid? CausationId = null,
    bool TenantScoped = false, string? Operation = null);

/// <summary>
/// The answer to a command exactly as the client receives it: HTTP status and JSON body. Stored under the
/// idempotency key, so a retry gets the same bytes. <see cref="Replayed"/> marks an answer served from the
/// idempotency record.
/// </summary>
public sealed record CommandOutcome(int Status, string Body, bool Replayed = false, string? RejectionCode = null)
{
    public bool Accepted => Status is >= 200 and < 300;

    /// <summary>Events this answer committed (0 for a rejection or a replayed answer); for metrics, never stored.</summary>
    public int EventsAppended { get; init; }
}

/// <summary>Conversions between the frontend's command context and what travels with a grain call.</summary>
public static class CommandContextExtensions
{
    /// <summary>The caller as a grain sees it.</summary>
    public static Escrow.Grains.CommandCall ToCall(this CommandContext c) =>
        new(c.Tenant, c.Actor, c.IdempotencyKey, c.RequestHash, c.CorrelationId, c.CausationId, c.Operation);
}
