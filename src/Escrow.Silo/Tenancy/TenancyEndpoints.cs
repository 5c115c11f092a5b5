using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Escrow.EventStore;
using Escrow.Silo.Hosting;
using Escrow.Silo.Http;
using Npgsql;
using NpgsqlTypes;
using Escrow.Domain.Deals;

namespace Escrow.Silo.Tenancy;

/// <summary>Body of <c>POST /institutions</c>.</summary>
public sealed record CreateInstitutionRequest(string? InstitutionId, string? Name);

/// <summary>Body of <c>POST /institutions/{id}/keys</c>: <c>role</c> writer | auditor | root.</summary>
public sealed record CreateKeyRequest(string? Role, string? Name);

/// <summary>The body of a key revocation (optional): why, at most 500 characters.</summary>
public sealed record RevokeKeyRequest(string? Reason);

/// <summary>One audit record as the API shows it.</summary>
public sealed record AuditEntry(
    long Position, Guid AuditId, DateTimeOffset At, string Actor, string Tenant, string Operation, string Outcome, int Status,
    string? Code, string PayloadSha256, IReadOnlyList<string> StreamIds, Guid CorrelationId, string? IdempotencyKey);

public sealed record AuditPage(IReadOnlyList<AuditEntry> Records, long? NextAfter);

/// <summary>Admin (institutions, keys: root only) and audit-log (root: all tenants; auditor: its own) routes.</summary>
public static class TenancyEndpoints
{
    public static void MapTenancy(this IEndpointRouteBuilder app)
    {
        var admin = app.MapGroup("/institutions").WithTags("Admin").RequireRoles(Role.Root);

        admin.MapPost("/", async (HttpContext http, TenancyStore tenancy, PgEventStore store, [FromKeyedServices(LedgerClock.Key)] TimeProvider clock, CancellationToken ct) =>
        {
            var (b, ctx) = await CommandRequests.ReadAsync<CreateInstitutionRequest>(http.Request, false, ct, keyRequired: false);
            var id = Tenants.Id(b.InstitutionId);
            var name = string.IsNullOrWhiteSpace(b.Name) ? id : b.Name.Trim();
            var caller = http.GetCaller();
            var at = HashChain.ToStoredPrecision(clock.GetUtcNow());
            var audit = Audit(http, clock, id, "CreateInstitution", AuditRecord.Accepted, 201, null, ctx.RequestHash, ["institution-" + id])
                with { CorrelationId = ctx.CorrelationId, IdempotencyKey = ctx.IdempotencyKey };
            return await IdempotentWrites.RunAsync(http, store, ctx, audit, [tenancy.InstitutionInsert(id, name, caller.KeyId, at)],
                201, new Institution(id, name, at, caller.KeyId, 0),
                ex => ex.SqlState == PostgresErrorCodes.UniqueViolation && ex.ConstraintName == "institutions_pkey"
                    ? Problems.Outcome(409, "institution_exists", $"institution '{id}' already exists") : null, ct: ct);
        }).Accepts<CreateInstitutionRequest>("application/json").Produces<Institution>(201).IdempotentCommand(keyRequired: false).Problems(409)
          .Doc("createInstitution", "Create an institution (tenant); root only. With an Idempotency-Key, a retry gets the first answer");

        admin.MapGet("/", async (TenancyStore tenancy, CancellationToken ct) => Results.Ok(await tenancy.ListInstitutionsAsync(ct)))
            .Produces<IReadOnlyList<Institution>>().Doc("listInstitutions", "Every institution with its number of keys; root only");

        admin.MapPost("/{id}/keys", async (string id, HttpContext http, TenancyStore tenancy, PgEventStore store, [FromKeyedServices(LedgerClock.Key)] TimeProvider clock, CancellationToken ct) =>
        {
            var (b, ctx) = await CommandRequests.ReadAsync<CreateKeyRequest>(http.Request, false, ct, keyRequired: false);
            Tenants.Id(id, "id");
            if (!Caller.TryParseRole(b.Role, out var role))
                throw new BadRequestException("invalid_role", "'role' must be writer, auditor or root");
            var (key, insert) = tenancy.NewKey(id, role, string.IsNullOrWhiteSpace(b.Name) ? null : b.Name.Trim(), http.GetCaller().KeyId);
            var audit = Audit(http, clock, id, $"CreateApiKey.{Caller.RoleName(role)}", AuditRecord.Accepted, 201, null, ctx.RequestHash, ["institution-" + id])
                with { CorrelationId = ctx.CorrelationId, IdempotencyKey = ctx.IdempotencyKey };
            return await IdempotentWrites.RunAsync(http, store, ctx, audit, [insert], 201, key,
                ex => ex.SqlState == PostgresErrorCodes.ForeignKeyViolation
                    ? Problems.Outcome(404, "institution_not_found", $"institution '{id}' does not exist") : null,
                // The secret is stored only as its SHA-256, never in an idempotency record: a retry learns which key its first
                // request created, not the secret.
                retryAnswer: Problems.Outcome(409, "api_key_already_created",
                    $"this Idempotency-Key already created key '{key.KeyId}' of institution '{id}'; its secret was shown only in that first answer " +
                    "and is stored nowhere (only its SHA-256), so if that answer was lost nobody can use the key: create a new one " +
                    $"(and revoke this one: POST /institutions/{id}/keys/{key.KeyId}/revocation)"),
                // Only the committed key is named in the audit log (a replay's or a refusal's record names no key).
                acceptedStreams: ["institution-" + id, key.KeyId], ct: ct);
        }).Accepts<CreateKeyRequest>("application/json").Produces<CreatedKey>(201).IdempotentCommand(keyRequired: false).Problems(404, 409)
          .Doc("createApiKey", "Create an API key (writer, auditor or root) for an institution; the secret is shown only in this answer " +
               "(a retry under the same Idempotency-Key gets 409 api_key_already_created with the key's id, never the secret)");

        admin.MapPost("/{id}/keys/{keyId}/revocation", async (string id, string keyId, HttpContext http, TenancyStore tenancy, PgEventStore store,
            ApiKeyAuthenticator keys, [FromKeyedServices(LedgerClock.Key)] TimeProvider clock, CancellationToken ct) =>
        {
            var (b, ctx) = await CommandRequests.ReadAsync<RevokeKeyRequest>(http.Request, true, ct, keyRequired: false);
            Tenants.Id(id, "id");
            var caller = http.GetCaller();
            var audit = Audit(http, clock, id, "RevokeApiKey", AuditRecord.Accepted, 200, null, ctx.RequestHash, ["institution-" + id, keyId])
                with { CorrelationId = ctx.CorrelationId, IdempotencyKey = ctx.IdempotencyKey };
            var reason = string.IsNullOrWhiteSpace(b.Reason) ? null : b.Reason.Trim();
            if (reason is { Length: > 500 }) throw new BadRequestException("reason_too_long", "'reason' is at most 500 characters");
            // Keys are never deleted, so this check cannot go stale; an unknown key (or another institution's) is 404.
            if (!await tenancy.KeyExistsAsync(id, keyId, ct))
            {
                await store.AppendAuditAsync(audit with { Outcome = AuditRecord.Rejected, Status = 404, Code = "key_not_found" }, ct);
                return Problem(404, "key_not_found", $"institution '{id}' has no key '{keyId}'");
            }
            var at = HashChain.ToStoredPrecision(clock.GetUtcNow());
            var result = await IdempotentWrites.RunAsync(http, store, ctx, audit, [TenancyStore.RevocationInsert(keyId, at, caller.KeyId, reason)],
                200, new RevokedKey(keyId, id, at, caller.KeyId, reason),
                ex => ex.SqlState == PostgresErrorCodes.UniqueViolation && ex.ConstraintName == "api_key_revocations_pkey"
                    ? Problems.Outcome(409, "key_already_revoked", $"key '{keyId}' is already revoked") : null, ct: ct);
            keys.Forget(keyId);
            return result;
        }).Accepts<RevokeKeyRequest>("application/json").Produces<RevokedKey>().IdempotentCommand(keyRequired: false).Problems(404, 409)
          .Doc("revokeApiKey", "Revoke an institution's API key (root only): it stops authenticating on every silo as soon as the revocation " +
               "commits (NOTIFY escrow_key_revoked); the key row stays, the revocation is a row of its own");

        // ?deal=<id> is shorthand for ?stream=deal-{institution}/<id> (a deal's audit trail): the auditor's institution, root's tenant=
        // (else X-Escrow-Tenant, else default).
        app.MapGet("/audit", async (HttpContext http, string? actor, string? from, string? to, string? stream, string? deal, string? tenant, string? outcome,
                long? after, int? limit, PgEventStore store, CancellationToken ct) =>
        {
            var csv = http.Request.Headers.Accept.ToString().Contains("text/csv", StringComparison.OrdinalIgnoreCase);
            return await AuditAsync(http, store, actor, from, to, stream ?? DealStream(http, deal, tenant), tenant, outcome, after, limit, csv, ct);
        }).WithTags("Audit").RequireRoles(Role.Root, Role.Auditor).Produces<AuditPage>().Problems(400)
          .Doc("queryAudit", "Audit records in log order, filtered and paged", "Root: every tenant (or tenant=); auditor: its own. deal= is stream=deal-{institution}/{id}. Pass nextAfter as after. With 'Accept: text/csv' the same page as CSV (see getAuditCsv).");

        app.MapGet("/audit.csv", (HttpContext http, string? actor, string? from, string? to, string? stream, string? deal, string? tenant, string? outcome,
                long? after, int? limit, PgEventStore store, CancellationToken ct) =>
            AuditAsync(http, store, actor, from, to, stream ?? DealStream(http, deal, tenant), tenant, outcome, after, limit, true, ct))
            .WithTags("Audit").RequireRoles(Role.Root, Role.Auditor).Produces<string>(200, "text/csv").Problems(400)
            .Doc("getAuditCsv", "Audit records as RFC 4180 CSV", "Header row, CRLF; limit up to 100,000 (default 10,000); the next page's after is in the X-Next-After header.");
    }

    private static string? DealStream(HttpContext http, string? deal, string? tenant)
    {
        if (string.IsNullOrEmpty(deal)) return null;
        var caller = http.GetCaller();
        return DealStreams.StreamId(caller.IsRoot && !string.IsNullOrEmpty(tenant) ? tenant : caller.ActingTenant(http.Request), deal);
    }

    private static AuditRecord Audit(HttpContext http, [FromKeyedServices(LedgerClock.Key)] TimeProvider clock, string tenant, string operation, string outcome, int status, string? code,
        byte[] digest, string[] streams) =>
        new(Guid.CreateVersion7(clock.GetUtcNow()), clock.GetUtcNow(), http.GetCaller().KeyId, tenant, operation, outcome, status, code, digest, streams,
            Guid.TryParse(http.Request.Headers[CommandRequests.CorrelationHeader].ToString(), out var c) ? c : Guid.CreateVersion7(clock.GetUtcNow()), null);

    private static IResult Problem(int status, string code, string detail) =>
        Results.Text(Problems.Serialize(Problems.Create(status, code, detail)), Problems.ContentType, statusCode: status);

    private static DateTimeOffset? Instant(string? text, string field)
    {
        if (string.IsNullOrEmpty(text)) return null;
        return DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var t)
            ? t
            : throw new BadRequestException("invalid_instant", $"'{field}' must be an ISO 8601 instant such as 2026-11-21T09:00:00Z, got '{text}'");
    }

    private static async Task<IResult> AuditAsync(HttpContext http, PgEventStore store, string? actor, string? from, string? to, string? stream,
        string? tenant, string? outcome, long? after, int? limit, bool csv, CancellationToken ct)
    {
        var caller = http.GetCaller();
        var max = csv ? 100_000 : 1000;
        var n = limit ?? (csv ? 10_000 : 100);
        if (n < 1 || n > max) throw new BadRequestException("invalid_limit", $"'limit' must be between 1 and {max}");
        var fromT = Instant(from, "from");
        var toT = Instant(to, "to");
        if (outcome is not null && outcome is not (AuditRecord.Accepted or AuditRecord.Rejected or AuditRecord.Replayed or AuditRecord.Refused))
            throw new BadRequestException("invalid_outcome", "'outcome' must be accepted, rejected, replayed or refused");
        // An auditor sees its own tenant only, whatever it asks for; root sees all, or one tenant with ?tenant=.
        var scope = caller.IsRoot ? (string.IsNullOrEmpty(tenant) ? null : tenant) : caller.Institution;

        await using var cmd = store.DataSource.CreateCommand(
            """
            SELECT audit_position, audit_id, at, actor, tenant, operation, outcome, status, code, payload_sha256, stream_ids, correlation_id, idempotency_key
            FROM audit_log
            WHERE audit_position > $1
              AND ($2::text IS NULL OR tenant = $2)
              AND ($3::text IS NULL OR actor = $3)
              AND ($4::timestamptz IS NULL OR at >= $4)
              AND ($5::timestamptz IS NULL OR at <= $5)
              AND ($6::text IS NULL OR stream_ids @> ARRAY[$6::text] OR stream_ids @> ARRAY[$9::text])
              AND ($7::text IS NULL OR outcome = $7)
            ORDER BY audit_position
            LIMIT $8
            """);
        cmd.Parameters.Add(new() { Value = after ?? 0L });
        cmd.Parameters.Add(new() { Value = (object?)scope ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
        cmd.Parameters.Add(new() { Value = string.IsNullOrEmpty(actor) ? DBNull.Value : actor, NpgsqlDbType = NpgsqlDbType.Text });
        cmd.Parameters.Add(new() { Value = fromT.HasValue ? fromT.Value : DBNull.Value, NpgsqlDbType = NpgsqlDbType.TimestampTz });
        cmd.Parameters.Add(new() { Value = toT.HasValue ? toT.Value : DBNull.Value, NpgsqlDbType = NpgsqlDbType.TimestampTz });
        cmd.Parameters.Add(new() { Value = string.IsNullOrEmpty(stream) ? DBNull.Value : stream, NpgsqlDbType = NpgsqlDbType.Text });
        cmd.Parameters.Add(new() { Value = (object?)outcome ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
        cmd.Parameters.Add(new() { Value = n + 1 });
        // A stream written before ids were per institution is named in older audit records by its stored id.
        cmd.Parameters.Add(new() { Value = string.IsNullOrEmpty(stream) ? DBNull.Value : await store.StoredStreamIdAsync(stream, ct), NpgsqlDbType = NpgsqlDbType.Text });
        var rows = new List<AuditEntry>();
        await using (var r = await cmd.ExecuteReaderAsync(ct))
            while (await r.ReadAsync(ct))
                rows.Add(new AuditEntry(r.GetInt64(0), r.GetGuid(1), r.GetFieldValue<DateTimeOffset>(2), r.GetString(3), r.GetString(4), r.GetString(5),
                    r.GetString(6), r.GetInt32(7), r.IsDBNull(8) ? null : r.GetString(8), Convert.ToHexStringLower((byte[])r[9]),
                    r.GetFieldValue<string[]>(10), r.GetGuid(11), r.IsDBNull(12) ? null : r.GetString(12)));
        long? next = null;
        if (rows.Count > n)
        {
            rows.RemoveAt(rows.Count - 1);
            next = rows[^1].Position;
        }
        if (!csv) return Results.Ok(new AuditPage(rows, next));
        if (next is { } nx) http.Response.Headers["X-Next-After"] = nx.ToString(CultureInfo.InvariantCulture);
        return Results.Text(Csv(rows), "text/csv; charset=utf-8");
    }

    public static readonly string[] CsvColumns =
        ["position", "audit_id", "at", "actor", "tenant", "operation", "outcome", "status", "code", "payload_sha256", "stream_ids", "correlation_id", "idempotency_key"];

    /// <summary>RFC 4180 CSV: a header row, CRLF line ends, fields quoted when they hold a comma, quote or line break; stream ids space-separated.</summary>
    public static string Csv(IEnumerable<AuditEntry> rows)
    {
        var sb = new StringBuilder();
        sb.Append(string.Join(',', CsvColumns)).Append("\r\n");
        foreach (var e in rows)
        {
            string[] f =
            [
                e.Position.ToString(CultureInfo.InvariantCulture), e.AuditId.ToString(), e.At.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.ffffffZ", CultureInfo.InvariantCulture),
                e.Actor, e.Tenant, e.Operation, e.Outcome, e.Status.ToString(CultureInfo.InvariantCulture), e.Code ?? "", e.PayloadSha256,
                string.Join(' ', e.StreamIds), e.CorrelationId.ToString(), e.IdempotencyKey ?? "",
            ];
            sb.Append(string.Join(',', f.Select(Field))).Append("\r\n");
        }
        return sb.ToString();
    }

    private static string Field(string v) =>
        v.AsSpan().IndexOfAny(",\"\r\n") >= 0 ? "\"" + v.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : v;

    /// <summary>SHA-256 of the canonical request: "METHOD path\n" and the canonical JSON body.</summary>
    public static byte[] RequestDigest(string method, string path, byte[] canonicalBody)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(Encoding.UTF8.GetBytes($"{method} {path}\n"));
        sha.AppendData(canonicalBody);
        return sha.GetHashAndReset();
    }
}
