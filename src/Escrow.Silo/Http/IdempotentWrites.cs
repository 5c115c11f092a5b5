using Escrow.EventStore;
using Escrow.Silo.Hosting;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Escrow.Silo.Http;

/// <summary>
/// Writes that are not aggregate commands (institutions, API keys, deal templates, FX rates, proxies) under the request's
/// <c>Idempotency-Key</c>, with the contract of the aggregate commands (docs/design.md, idempotency): the write, its audit
/// record and the answer stored under the key commit in one transaction; a retry with the same key and request gets the
/// stored answer (same status and body) and writes nothing; the same key with another request is refused with 422
/// <c>idempotency_key_reused</c>. A refusal (the id is taken, the institution is unknown) is stored under the key too, so
/// a retry gets the same refusal. Two requests with one key in flight at once: the second waits on the first's key row
/// and then gets its answer.
/// </summary>
internal static class IdempotentWrites
{
    /// <summary>The audit record of such a write by <paramref name="context"/>'s caller at <paramref name="at"/>, as accepted
    /// (201); <see cref="RunAsync"/> sets its final outcome and status.</summary>
    public static AuditRecord Audit(CommandContext context, DateTimeOffset at, string operation, string[] streams) =>
        new(Guid.CreateVersion7(at), at, context.Actor, context.Tenant, operation, AuditRecord.Accepted, 201, null, context.RequestHash, streams,
            context.CorrelationId, context.IdempotencyKey);

    /// <summary>
    /// Runs <paramref name="writes"/> with <paramref name="audit"/> (its outcome and status are set here) and the answer
    /// under <paramref name="context"/>'s key, if it has one.
    /// </summary>
    /// <param name="http">The request (its JSON options serialize <paramref name="body"/>; the Location header goes on its response).</param>
    /// <param name="store">The event store: its pool, idempotency records and audit log.</param>
    /// <param name="context">The caller, tenant, request hash and key (none: the write runs without deduplication).</param>
    /// <param name="audit">The audit record of the request, committed with the write (outcome and status set here).</param>
    /// <param name="writes">The write's statements, in one transaction with the key's record and the audit record.</param>
    /// <param name="status">The status of success (201).</param>
    /// <param name="body">The answer of success, serialized like <c>Results.Json</c> would.</param>
    /// <param name="refusal">Maps a database error of the writes to a refusal (4xx problem); null rethrows it.</param>
    /// <param name="retryAnswer">What a retry gets when it must differ from the first answer (an API key's secret is never stored).</param>
    /// <param name="ct">Cancels the request.</param>
    /// <param name="location">The <c>Location</c> header of a 201 (first answer or its replay).</param>
    /// <param name="acceptedStreams">The audit record's stream ids when the write commits (e.g. with the new key's id), if they
    /// differ from <paramref name="audit"/>'s: replays, 422s and refusals name only what exists.</param>
    /// <param name="storeRefusals">False when the only refusal is a transient race ("publish again"): it is audited but not
    /// stored under the key, so a retry with the same key runs again.</param>
    public static async Task<IResult> RunAsync(
        HttpContext http, PgEventStore store, CommandContext context, AuditRecord audit, IReadOnlyList<NpgsqlBatchCommand> writes,
        int status, object body, Func<PostgresException, CommandOutcome?> refusal, CommandOutcome? retryAnswer = null,
        string? location = null, IReadOnlyList<string>? acceptedStreams = null, bool storeRefusals = true, CancellationToken ct = default)
    {
        var result = await RunCoreAsync(http, store, context, audit, writes, status, body, refusal, retryAnswer, acceptedStreams, storeRefusals, ct)
            .ConfigureAwait(false);
        if (location is not null && result.Status == 201) http.Response.Headers.Location = location;
        return LedgerEndpoints.Result(result);
    }

    private static async Task<CommandOutcome> RunCoreAsync(
        HttpContext http, PgEventStore store, CommandContext context, AuditRecord audit, IReadOnlyList<NpgsqlBatchCommand> writes,
        int status, object body, Func<PostgresException, CommandOutcome?> refusal, CommandOutcome? retryAnswer,
        IReadOnlyList<string>? acceptedStreams, bool storeRefusals, CancellationToken ct)
    {
        var json = System.Text.Json.JsonSerializer.Serialize(body, body.GetType(),
            http.RequestServices.GetRequiredService<IOptions<Microsoft.AspNetCore.Http.Json.JsonOptions>>().Value.SerializerOptions);
        var answer = new CommandOutcome(status, json);
        var key = context.IdempotencyKey;
        if (key is not null && await store.FindIdempotencyAsync(context.Tenant, key, ct).ConfigureAwait(false) is { } known)
            return await ReplayAsync(store, context, audit, known, ct).ConfigureAwait(false);

        var stored = retryAnswer ?? answer;
        var record = key is null ? null : new IdempotencyRecord(context.Tenant, key, context.RequestHash, stored.Status, stored.Body);
        try
        {
            await OutcomeAwareWrites.ExecuteAsync(store.DataSource, batch =>
            {
                foreach (var w in writes) batch.BatchCommands.Add(w);
                if (record is not null) batch.BatchCommands.Add(PgEventStore.IdempotencyInsert(record));
                batch.BatchCommands.Add(PgEventStore.AuditInsert(audit with
                {
                    Outcome = AuditRecord.Accepted, Status = status, Code = null, StreamIds = acceptedStreams ?? audit.StreamIds,
                }));
            }, ct).ConfigureAwait(false);
            return answer;
        }
        catch (PostgresException ex) when (record is not null && ex.SqlState == PostgresErrorCodes.UniqueViolation && ex.ConstraintName == "idempotency_pkey")
        {
            // Another request with this key committed first (or was in flight and has now committed): its answer.
            var first = await store.FindIdempotencyAsync(context.Tenant, record.Key, ct).ConfigureAwait(false);
            return await ReplayAsync(store, context, audit, first!, ct).ConfigureAwait(false);
        }
        catch (PostgresException ex) when (refusal(ex) is { } refused)
        {
            var rejected = audit with { Outcome = AuditRecord.Rejected, Status = refused.Status, Code = refused.RejectionCode };
            if (record is null || !storeRefusals)
            {
                // The row this write collided with may be a concurrent request's under the same key (same instant): that
                // request has committed, and its answer is this one's. (A stored refusal finds it below, as the key taken.)
                if (record is not null && await store.FindIdempotencyAsync(context.Tenant, record.Key, ct).ConfigureAwait(false) is { } winner)
                    return await ReplayAsync(store, context, audit, winner, ct).ConfigureAwait(false);
                await store.AppendAuditAsync(rejected, ct).ConfigureAwait(false);
                return refused;
            }
            try
            {
                await store.SaveIdempotencyAsync(record with { StatusCode = refused.Status, ResponseBody = refused.Body }, ct, rejected).ConfigureAwait(false);
                return refused;
            }
            catch (IdempotencyKeyTakenException)
            {
                var first = await store.FindIdempotencyAsync(context.Tenant, record.Key, ct).ConfigureAwait(false);
                return await ReplayAsync(store, context, audit, first!, ct).ConfigureAwait(false);
            }
        }
    }

    /// <summary>The stored answer for the same request (audited as replayed), or 422 for another request under the key.</summary>
    private static async Task<CommandOutcome> ReplayAsync(PgEventStore store, CommandContext context, AuditRecord audit, IdempotencyRecord known, CancellationToken ct)
    {
        CommandOutcome outcome;
        AuditRecord record;
        if (!known.RequestHash.AsSpan().SequenceEqual(context.RequestHash))
        {
            outcome = Problems.Outcome(422, "idempotency_key_reused",
                $"Idempotency-Key '{known.Key}' was already used with a different request; use a new key for a new request");
            record = audit with { Outcome = AuditRecord.Rejected, Status = 422, Code = "idempotency_key_reused" };
        }
        else
        {
            outcome = new CommandOutcome(known.StatusCode, known.ResponseBody, Replayed: true);
            record = audit with { Outcome = AuditRecord.Replayed, Status = known.StatusCode, Code = null };
        }
        await store.AppendAuditAsync(record, ct).ConfigureAwait(false);
        return outcome;
    }
}
