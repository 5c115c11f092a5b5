namespace Escrow.Grains;

/// <summary>
/// Who sends a command to a grain and how to recognise its retries; travels with every command call.
/// </summary>
/// <param name="Tenant">The institution the caller acts for. It must be the grain's own (the first part of its key,
/// <see cref="GrainKeys"/>): a grain answers a call acting for another institution exactly as if the id did not exist.</param>
/// <param name="Actor">The API key's id (never its secret) or a system name (<c>timer</c>, <c>berka-import</c>).</param>
/// <param name="IdempotencyKey">The caller's key for this command, or null: the same key with the same <paramref name="RequestHash"/>
/// gets the first answer, with another hash the rejection <c>idempotency_key_reused</c>.</param>
/// <param name="RequestHash">SHA-256 of the canonical request (32 bytes).</param>
/// <param name="CorrelationId">Stamped on every event and audit record of the command.</param>
/// <param name="CausationId">The event or request that caused this command, if any.</param>
/// <param name="Operation">The command's name in the audit log.</param>
// Id(6) was a "tenant-scoped" flag, gone with per-institution keys (every call is scoped to the grain's institution).
[GenerateSerializer, Immutable]
public sealed record CommandCall(
    [property: Id(0)] string Tenant,
    [property: Id(1)] string Actor,
    [property: Id(2)] string? IdempotencyKey,
    [property: Id(3)] byte[] RequestHash,
    [property: Id(4)] Guid CorrelationId,
    [property: Id(5)] Guid? CausationId = null,
    [property: Id(7)] string? Operation = null);
