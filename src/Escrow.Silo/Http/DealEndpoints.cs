using Escrow.Grains;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Escrow.Domain.Deals;
using Escrow.EventStore;
using Escrow.Silo.Deals;
using Escrow.Silo.Hosting;
using Escrow.Silo.Ledger;
using Escrow.Silo.Tenancy;
using Npgsql;

namespace Escrow.Silo.Http;

/// <summary>Body of <c>POST /deals</c>: amount in major units; <c>expiresAt</c> an ISO 8601 instant.</summary>
public sealed record CreateDealRequest(
    string? DealId, string? TemplateId, string? BuyerAccount, string? SellerAccount, decimal? Amount, string? Currency,
    DateTimeOffset? ExpiresAt, bool? RefundAtExpiry, string? ExternalReference, string? Terms);

public sealed record ReleaseRequest(decimal? Amount);

/// <summary>Body of <c>POST /templates</c>: an escrow product of the caller's institution. Amounts in major units.</summary>
public sealed record TemplateRequest(string? TemplateId, string? Name, string? Currency, decimal? MinAmount, decimal? MaxAmount, int? DefaultExpiryDays, bool? RefundAtExpiry);

/// <summary><c>by</c>: buyer or seller.</summary>
public sealed record DisputeRequest(string? By, string? Reason);

/// <summary>
/// Evidence: inline <c>content</c> (the server computes its SHA-256) or a <c>contentReference</c> with the
/// document's <c>sha256</c> (64 hex digits). Evidence is append-only and can never be changed.
/// </summary>
public sealed record EvidenceRequest(string? EvidenceId, string? Type, string? Content, string? ContentReference, string? Sha256);

public sealed record ResolveRequest(decimal? BuyerShare, decimal? SellerShare, string? Note);

/// <summary>A row of <c>deal_timeline</c>.</summary>
public sealed record DealTimelineEntry(long Version, string EventType, string FromStatus, string ToStatus, string Actor, decimal? Amount, DateTimeOffset OccurredAt);

/// <summary>A row of <c>deal_status</c> (read model; may trail the deal's stream by the projection lag).</summary>
public sealed record DealSummary(string DealId, string Tenant, string Status, string Currency, decimal Amount, decimal Funded, decimal Released,
    decimal Refunded, decimal Held, DateTimeOffset ExpiresAt, DateTimeOffset LastActivityAt);

public sealed record DealPage(IReadOnlyList<DealSummary> Deals, string? NextAfter);

/// <summary>Escrow deals over HTTP. Commands need a writer (or root) key; queries are tenant-scoped.</summary>
public static partial class DealEndpoints
{
    [GeneratedRegex("^[0-9a-fA-F]{64}$")]
    private static partial Regex Sha256Hex();

    public static void MapDeals(this IEndpointRouteBuilder app)
    {
        var deals = app.MapGroup("/deals").WithTags("Deals");

        deals.MapPost("/", async (HttpContext http, DealService service, DealTemplateStore templates, [FromKeyedServices(LedgerClock.Key)] TimeProvider clock, CancellationToken ct) =>
        {
            var (b, ctx) = await CommandRequests.ReadAsync<CreateDealRequest>(http.Request, false, ct);
            var id = b.DealId is null ? "d-" + Guid.CreateVersion7(clock.GetUtcNow()).ToString("N") : CommandRequests.AccountId(b.DealId, "dealId");
            // The deal's escrow account is escrow-{id} and account ids are at most 64 characters.
            if (id.Length > 57) throw new BadRequestException("invalid_deal_id", "'dealId' must be at most 57 characters");
            var buyer = CommandRequests.AccountId(b.BuyerAccount, "buyerAccount");
            var seller = CommandRequests.AccountId(b.SellerAccount, "sellerAccount");
            var currency = CommandRequests.Currency(b.Currency);
            var amount = CommandRequests.Amount(b.Amount, currency);
            var templateId = b.TemplateId is null ? DealTemplateStore.DefaultTemplateId : CommandRequests.AccountId(b.TemplateId, "templateId");
            var template = templateId == DealTemplateStore.DefaultTemplateId ? null : await templates.GetAsync(ctx.Tenant, templateId, ct);
            var expires = b.ExpiresAt ?? clock.GetUtcNow() + (template?.DefaultExpiry ?? DealTemplateStore.DefaultExpiry);
            var cmd = new CreateDeal(id, ctx.Tenant, templateId, buyer, seller, DealService.EscrowAccountOf(id), amount, currency.Code,
                expires, b.RefundAtExpiry ?? template?.RefundAtExpiry ?? false, b.ExternalReference, b.Terms, LedgerService.Now);
            return LedgerEndpoints.Result(await service.ExecuteAsync(cmd, ctx, ct, DealTemplateStore.Rule(templateId, template, ctx.Tenant, amount, currency.Code)));
        }).RequireRoles(Role.Root, Role.Writer).Accepts<CreateDealRequest>("application/json").Produces<DealView>(201).IdempotentCommand().Problems(404, 409)
          .Doc("createDeal", "Create an escrow deal (CREATED) with its escrow account escrow-{dealId}");

        var templatesGroup = app.MapGroup("/templates").WithTags("Deals");
        templatesGroup.MapPost("/", async (HttpContext http, PgEventStore store, [FromKeyedServices(LedgerClock.Key)] TimeProvider clock, CancellationToken ct) =>
        {
            var (b, ctx) = await CommandRequests.ReadAsync<TemplateRequest>(http.Request, false, ct);
            var id = CommandRequests.AccountId(b.TemplateId, "templateId");
            if (id == DealTemplateStore.DefaultTemplateId)
                throw new BadRequestException("reserved_template", "'default' is the built-in template");
            var currency = CommandRequests.Currency(b.Currency);
            var min = CommandRequests.Amount(b.MinAmount, currency);
            var max = CommandRequests.Amount(b.MaxAmount, currency);
            if (max < min) throw new BadRequestException("invalid_range", "'maxAmount' must be at least 'minAmount'");
            var days = b.DefaultExpiryDays ?? 7;
            if (days is <= 0 or > 3650) throw new BadRequestException("invalid_expiry", "'defaultExpiryDays' must be between 1 and 3650");
            var at = HashChain.ToStoredPrecision(clock.GetUtcNow());
            var t = new DealTemplate(ctx.Tenant, id, b.Name ?? id, currency.Code, min, max, TimeSpan.FromDays(days), b.RefundAtExpiry ?? false, ctx.Actor, at);
            var audit = IdempotentWrites.Audit(ctx, at, "CreateTemplate", ["template-" + id]);
            return await IdempotentWrites.RunAsync(http, store, ctx, audit, [DealTemplateStore.Insert(t)], 201, t,
                ex => ex.SqlState == PostgresErrorCodes.UniqueViolation && ex.ConstraintName == "deal_templates_pkey"
                    ? Problems.Outcome(409, "template_exists", $"template '{id}' exists; templates never change, create a new id") : null,
                location: $"/templates/{id}", ct: ct);
        }).RequireRoles(Role.Root, Role.Writer).Accepts<TemplateRequest>("application/json").Produces<DealTemplate>(201).IdempotentCommand().Problems(409)
          .Doc("createTemplate", "Create a deal template (an escrow product of the caller's institution); never changed (409 template_exists)");
        templatesGroup.MapGet("/", async (HttpContext http, DealTemplateStore store, CancellationToken ct) =>
        {
            var caller = http.GetCaller();
            return Results.Ok(await store.ListAsync(caller.IsRoot ? null : caller.Institution, ct));
        }).Produces<IReadOnlyList<DealTemplate>>().Doc("listTemplates", "The caller's institution's deal templates (root: every institution's)");

        deals.MapPost("/{id}/fund", (string id, HttpContext http, DealService s, CancellationToken ct) =>
            CommandAsync<ReasonRequest>(id, http, s, true, (_, _) => new FundDeal(id, LedgerService.Now), ct))
            .RequireRoles(Role.Root, Role.Writer).Accepts<ReasonRequest>(true, "application/json").Produces<DealView>().IdempotentCommand().Problems(404, 409)
            .Doc("fundDeal", "Fund a CREATED deal: the whole amount buyer → escrow (the optional body's reason is not kept)");

        deals.MapPost("/{id}/release", (string id, HttpContext http, DealService s, CancellationToken ct) =>
            CommandAsync<ReleaseRequest>(id, http, s, false, (b, _) => new ReleaseDeal(id, PositiveAmount(b.Amount, "amount"), LedgerService.Now), ct))
            .RequireRoles(Role.Root, Role.Writer).Accepts<ReleaseRequest>("application/json").Produces<DealView>().IdempotentCommand().Problems(404, 409)
            .Doc("releaseDeal", "Release escrow → seller: all that is held (RELEASED) or part (PARTIALLY_RELEASED)");

        deals.MapPost("/{id}/cancel", (string id, HttpContext http, DealService s, CancellationToken ct) =>
            CommandAsync<ReasonRequest>(id, http, s, true, (b, _) => new CancelDeal(id, b.Reason, LedgerService.Now), ct))
            .RequireRoles(Role.Root, Role.Writer).Accepts<ReasonRequest>(true, "application/json").Produces<DealView>().IdempotentCommand().Problems(404, 409)
            .Doc("cancelDeal", "Cancel a funded deal: what is held goes back to the buyer");

        deals.MapPost("/{id}/disputes", (string id, HttpContext http, DealService s, CancellationToken ct) =>
            CommandAsync<DisputeRequest>(id, http, s, false, (b, _) => new OpenDispute(id, b.By?.ToLowerInvariant() switch
            {
                "buyer" => DealParty.Buyer,
                "seller" => DealParty.Seller,
                _ => throw new BadRequestException("invalid_party", "'by' must be buyer or seller"),
            }, b.Reason ?? throw new BadRequestException("missing_field", "'reason' is required"), LedgerService.Now), ct))
            .RequireRoles(Role.Root, Role.Writer).Accepts<DisputeRequest>("application/json").Produces<DealView>().IdempotentCommand().Problems(404, 409)
            .Doc("openDispute", "Open a dispute (by buyer or seller, with a reason); pauses expiry");

        deals.MapPost("/{id}/evidence", (string id, HttpContext http, DealService s, CancellationToken ct) =>
            CommandAsync<EvidenceRequest>(id, http, s, false, (b, ctx) =>
            {
                if ((b.Content is null) == (b.ContentReference is null))
                    throw new BadRequestException("invalid_evidence", "give exactly one of 'content' and 'contentReference'");
                string sha;
                if (b.Content is not null)
                    sha = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(b.Content)));   // computed by the server
                else if (b.Sha256 is { } given && Sha256Hex().IsMatch(given))
                    sha = given.ToLowerInvariant();
                else
                    throw new BadRequestException("invalid_content_hash", "a 'contentReference' needs the document's 'sha256' (64 hex digits)");
                return new SubmitEvidence(id, b.EvidenceId ?? throw new BadRequestException("missing_field", "'evidenceId' is required"),
                    b.Type ?? throw new BadRequestException("missing_field", "'type' is required"), b.Content, b.ContentReference, sha, ctx.Actor, LedgerService.Now);
            }, ct))
            .RequireRoles(Role.Root, Role.Writer).Accepts<EvidenceRequest>("application/json").Produces<DealView>().IdempotentCommand().Problems(404, 409)
            .Doc("submitEvidence", "Submit evidence to a disputed deal (append-only; inline content or reference + SHA-256)");

        deals.MapPost("/{id}/resolve", (string id, HttpContext http, DealService s, CancellationToken ct) =>
            CommandAsync<ResolveRequest>(id, http, s, false, (b, ctx) => new ResolveDispute(id, ctx.Actor,
                Share(b.BuyerShare, "buyerShare"), Share(b.SellerShare, "sellerShare"), b.Note, LedgerService.Now), ct))
            .RequireRoles(Role.Root, Role.Writer).Accepts<ResolveRequest>("application/json").Produces<DealView>().IdempotentCommand().Problems(404, 409)
            .Doc("resolveDispute", "Resolve a dispute: buyer share + seller share = held");

        deals.MapGet("/{id}", async (string id, string? at, HttpContext http, DealService s, CancellationToken ct) =>
        {
            CommandRequests.AccountId(id, "id");
            DealView? view;
            if (!string.IsNullOrEmpty(at))
            {
                if (!DateTimeOffset.TryParse(at, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var t))
                    throw new BadRequestException("invalid_instant", $"'at' must be an ISO 8601 instant, got '{at}'");
                view = await s.GetAsOfAsync(LedgerEndpoints.ReadTenant(http), id, t, ct);
            }
            else view = await s.GetAsync(LedgerEndpoints.ReadTenant(http), id, ct);
            return view is not null ? Results.Ok(view) : NotFound(id);
        }).Produces<DealView>().Problems(400, 404).Doc("getDeal", "The deal now, or as of an instant (?at=ISO 8601), replayed from its events");

        deals.MapGet("/{id}/timeline", async (string id, HttpContext http, DealService s, PgEventStore store, CancellationToken ct) =>
        {
            var tenant = LedgerEndpoints.ReadTenant(http);
            if (await s.GetAsync(tenant, CommandRequests.AccountId(id, "id"), ct) is null) return NotFound(id);
            await using var cmd = store.DataSource.CreateCommand(
                "SELECT version, event_type, from_status, to_status, actor, amount, occurred_at FROM deal_timeline WHERE tenant = $2 AND deal_id = $1 ORDER BY version");
            cmd.Parameters.Add(new() { Value = id });
            cmd.Parameters.Add(new() { Value = tenant });
            var list = new List<DealTimelineEntry>();
            await using var r = await cmd.ExecuteReaderAsync(ct);
            while (await r.ReadAsync(ct))
                list.Add(new DealTimelineEntry(r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetString(4),
                    r.IsDBNull(5) ? null : r.GetDecimal(5), r.GetFieldValue<DateTimeOffset>(6)));
            return Results.Ok(list);
        }).Produces<List<DealTimelineEntry>>().Problems(400, 404).Doc("getDealTimeline", "Every transition of the deal with actor and time (read model deal_timeline)");

        deals.MapGet("/{id}/events", async (string id, long? after, int? limit, HttpContext http, DealService s, PgEventStore store, CancellationToken ct) =>
        {
            var tenant = LedgerEndpoints.ReadTenant(http);
            if (await s.GetAsync(tenant, CommandRequests.AccountId(id, "id"), ct) is null) return NotFound(id);
            var n = limit is null ? 100 : limit is < 1 or > 1000 ? throw new BadRequestException("invalid_limit", "'limit' must be between 1 and 1000") : limit.Value;
            return Results.Ok(await LedgerQueries.StreamAsync(store, DealStreams.StreamId(tenant, id), after ?? 0, n, ct));
        }).Produces<IReadOnlyList<AuditEvent>>().Problems(400, 404)
          .Doc("getDealEvents", "The deal's raw event stream with metadata and hash chain", "Events after version 'after', at most 'limit' (1-1000, default 100).");

        deals.MapGet("/", async (string? state, string? after, int? limit, HttpContext http, PgEventStore store, CancellationToken ct) =>
        {
            var caller = http.GetCaller();
            var tenant = caller.IsRoot ? http.Request.Headers[Caller.TenantHeader].ToString() is { Length: > 0 } h ? h : null : caller.Institution;
            var n = limit is null ? 100 : limit is < 1 or > 1000 ? throw new BadRequestException("invalid_limit", "'limit' must be between 1 and 1000") : limit.Value;
            // One institution's deals page by deal id; root's list of every institution pages by (tenant, deal id), its cursor
            // written {tenant}/{dealId} (deal ids never contain '/').
            var (afterTenant, afterId) = tenant is null && after is { } a && a.Contains('/', StringComparison.Ordinal) ? GrainKeys.Parse(a) : ("", after ?? "");
            await using var cmd = store.DataSource.CreateCommand(
                """
                SELECT deal_id, tenant, status, currency, amount, funded, released, refunded, held, expires_at, last_activity_at
                FROM deal_status WHERE ($1::text IS NULL OR tenant = $1) AND ($2::text IS NULL OR status = $2)
                  AND CASE WHEN $1::text IS NULL THEN (tenant, deal_id) > ($5, $3) ELSE deal_id > $3 END
                ORDER BY tenant, deal_id LIMIT $4
                """);
            cmd.Parameters.Add(new() { Value = (object?)tenant ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
            cmd.Parameters.Add(new() { Value = (object?)state?.ToUpperInvariant() ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
            cmd.Parameters.Add(new() { Value = afterId });
            cmd.Parameters.Add(new() { Value = n + 1 });
            cmd.Parameters.Add(new() { Value = afterTenant });
            var rows = new List<DealSummary>();
            await using (var r = await cmd.ExecuteReaderAsync(ct))
                while (await r.ReadAsync(ct))
                    rows.Add(new DealSummary(r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetDecimal(4), r.GetDecimal(5),
                        r.GetDecimal(6), r.GetDecimal(7), r.GetDecimal(8), r.GetFieldValue<DateTimeOffset>(9), r.GetFieldValue<DateTimeOffset>(10)));
            string? next = null;
            if (rows.Count > n) { rows.RemoveAt(rows.Count - 1); next = tenant is null ? GrainKeys.Of(rows[^1].Tenant, rows[^1].DealId) : rows[^1].DealId; }
            return Results.Ok(new DealPage(rows, next));
        }).Produces<DealPage>().Problems(400)
          .Doc("listDeals", "The caller's institution's deals by state (read model deal_status), paged by deal id", "state: one of CREATED … RESOLVED; pass nextAfter as after; limit 1-1000 (default 100). Root: every institution (ordered by institution, cursor {institution}/{dealId}), or X-Escrow-Tenant.");
    }

    // Malformed amounts are refused at the edge (400) and never reach the aggregate. The deal's currency is
    // not known here, so the minor-unit check is the aggregate's (409 amount_precision); at most 4 decimals
    // (the largest ISO 4217 minor unit) is checked here.
    private static decimal PositiveAmount(decimal? amount, string field)
    {
        var a = amount ?? throw new BadRequestException("missing_field", $"'{field}' is required");
        if (a <= 0 || a > Domain.Money.MaxAmount)
            throw new BadRequestException("invalid_amount", $"'{field}' must be greater than zero and at most {Domain.Money.MaxAmount}, got {a}");
        if (decimal.Round(a, 4) != a)
            throw new BadRequestException("amount_precision", $"'{field}' has more decimals than any ISO 4217 currency allows");
        return a;
    }

    private static decimal Share(decimal? amount, string field)
    {
        var a = amount ?? throw new BadRequestException("missing_field", $"'{field}' is required");
        if (a < 0 || a > Domain.Money.MaxAmount)
            throw new BadRequestException("invalid_amount", $"'{field}' must be between 0 and {Domain.Money.MaxAmount}, got {a}");
        if (decimal.Round(a, 4) != a)
            throw new BadRequestException("amount_precision", $"'{field}' has more decimals than any ISO 4217 currency allows");
        return a;
    }

    /// <summary>A deal made from a template must be in its currency and within its amount range (inclusive).</summary>
    private static async Task<IResult> CommandAsync<T>(string id, HttpContext http, DealService service, bool optionalBody,
        Func<T, CommandContext, DealCommand> make, CancellationToken ct) where T : class
    {
        var (b, ctx) = await CommandRequests.ReadAsync<T>(http.Request, optionalBody, ct);
        CommandRequests.AccountId(id, "id");
        return LedgerEndpoints.Result(await service.ExecuteAsync(make(b, ctx), ctx, ct));
    }

    private static IResult NotFound(string id) => Results.Text(
        Problems.Serialize(Problems.Create(404, DealRejectionCodes.DealNotFound, $"deal '{id}' does not exist")), Problems.ContentType, statusCode: 404);
}
