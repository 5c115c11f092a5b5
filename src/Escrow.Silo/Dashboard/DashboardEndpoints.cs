using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Escrow.Domain.Accounts;
using Escrow.Domain.Deals;
using Escrow.Domain.Payments;
using Escrow.EventStore;
using Escrow.Projections;
using Escrow.Silo.Cluster;
using Escrow.Silo.Projections;
using Escrow.Silo.Hosting;
using Escrow.Silo.Http;
using Escrow.Silo.Ledger;
using Escrow.Silo.Tenancy;
using Escrow.Silo.Deals;
using NpgsqlTypes;

using SiloStatus = Escrow.Silo.Cluster.SiloStatus;

namespace Escrow.Silo.Dashboard;

/// <summary>
/// <c>/dashboard</c>: one static page (HTML, JS and CSS embedded in this assembly, no build step, no CDN) and the
/// JSON endpoints under <c>/dashboard/api</c> it polls. The page carries no data and needs no key; every API endpoint
/// needs a root or auditor key (401 without one, 403 for a writer), like <c>/silos</c> and <c>/audit</c>. An auditor
/// sees its own institution's streams, timers, rejections and audit records; silos, projections, activations and
/// command rates are the silo's own operational numbers and are shown to both roles.
/// </summary>
public static class DashboardEndpoints
{
    /// <summary>The page and its two assets: the only dashboard paths that answer without a key.</summary>
    public static bool IsPublic(PathString path) =>
        path == "/dashboard" || path == "/dashboard/" || path == "/dashboard/dashboard.js" || path == "/dashboard/dashboard.css";

    // The page's script and style come from this origin only; nothing inline, nothing remote.
    private const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

    public static void MapDashboard(this IEndpointRouteBuilder app)
    {
        app.MapGet("/dashboard", (HttpContext http) => Asset(http, "dashboard.html", "text/html; charset=utf-8"))
            .WithTags("Dashboard").WithSummary("The dashboard page (static HTML; its data comes from /dashboard/api/* with a root or auditor key)")
            .Produces(200, contentType: "text/html");
        app.MapGet("/dashboard/dashboard.js", (HttpContext http) => Asset(http, "dashboard.js", "text/javascript; charset=utf-8")).ExcludeFromDescription();
        app.MapGet("/dashboard/dashboard.css", (HttpContext http) => Asset(http, "dashboard.css", "text/css; charset=utf-8")).ExcludeFromDescription();

        var api = app.MapGroup("/dashboard/api").WithTags("Dashboard").RequireRoles(Role.Root, Role.Auditor)
            .ProducesProblem(401).ProducesProblem(403);
        api.AddEndpointFilter(async (ctx, next) =>
        {
            ctx.HttpContext.RequestServices.GetRequiredService<DashboardSampler>().Touch();
            ctx.HttpContext.Response.Headers.CacheControl = "no-store";
            return await next(ctx).ConfigureAwait(false);
        });

        // The browser's login for both dashboards: the key (already checked by the middleware and the role filter) goes into
        // an HttpOnly cookie that only reads of the dashboards accept (OrleansDashboard.KeyCookie), so the Orleans Dashboard's
        // page, which sends no header of ours, is opened with the same key.
        api.MapPost("/session", (HttpContext http) =>
        {
            var key = ApiKeyAuthenticator.PresentedKey(http.Request)!;
            http.Response.Cookies.Append(OrleansDashboard.KeyCookie, key, new CookieOptions
            {
                HttpOnly = true, SameSite = SameSiteMode.Strict, Secure = http.Request.IsHttps, Path = "/", IsEssential = true,
            });
            var c = http.GetCaller();
            return Results.Ok(new DashboardIdentity(c.KeyId, c.Institution, Caller.RoleName(c.Role)));
        }).WithName("dashboardLogin").WithSummary("Sets the dashboards' login cookie to the key this request sends (HttpOnly, SameSite=Strict, session-only; accepted by GET requests under /dashboard/api and /orleans-dashboard)")
            .Produces<DashboardIdentity>().ExcludeFromDescription();
        api.MapDelete("/session", (HttpContext http) =>
        {
            http.Response.Cookies.Delete(OrleansDashboard.KeyCookie, new CookieOptions { Path = "/", SameSite = SameSiteMode.Strict, Secure = http.Request.IsHttps });
            return Results.NoContent();
        }).WithName("dashboardLogout").WithSummary("Clears the dashboards' login cookie").Produces(204).ExcludeFromDescription();

        api.MapGet("/me", (HttpContext http) =>
        {
            var c = http.GetCaller();
            return Results.Ok(new DashboardIdentity(c.KeyId, c.Institution, Caller.RoleName(c.Role)));
        }).WithName("dashboardMe").WithSummary("The key the dashboard logged in with").Produces<DashboardIdentity>();

        api.MapGet("/overview", async (int? seconds, EscrowMetrics metrics, ClusterView view, [FromKeyedServices(LedgerClock.Key)] TimeProvider clock,
            CancellationToken ct) =>
        {
            var n = seconds ?? 300;
            if (n is < 10 or > RollingWindow.Seconds) throw new BadRequestException("invalid_seconds", $"'seconds' must be between 10 and {RollingWindow.Seconds}");
            var now = clock.GetUtcNow();
            var silos = await view.ListAsync(now, ct);
            var w = metrics.Window;
            var series = w.Series(n);
            // Rates over the last 10 whole seconds (the current second is still filling); latency over the last minute.
            var (secs, cmds, rejs, evts) = w.Recent();
            var (p50, p99, _) = w.Percentiles(60);
            var recent = new DashboardRates(secs, Math.Round(cmds, 2), Math.Round(rejs, 2), Math.Round(evts, 2), p50, p99);
            var siloId = view.SiloId;
            // The cluster: every other alive silo's load as it reported it just now, plus this silo's own from its window.
            var alive = silos.Where(s => s.Status == SiloStatus.Alive && s.SiloId != siloId).ToList();
            // One reading of the counters, so that the cluster total is exactly this silo's total plus the others'.
            var totals = new DashboardTotals(w.TotalCommands, w.TotalRejections, w.TotalEvents);
            var cluster = new DashboardClusterRates(alive.Count + 1,
                Math.Round(cmds + alive.Sum(s => s.CommandsPerSecond), 2), Math.Round(rejs + alive.Sum(s => s.RejectionsPerSecond), 2),
                Math.Round(evts + alive.Sum(s => s.EventsPerSecond), 2), totals.Commands + alive.Sum(s => s.Commands));
            return Results.Ok(new DashboardOverview(now, siloId, silos, silos.Count(s => s.Status == SiloStatus.Alive), silos.Count(s => s.Status == SiloStatus.Dead),
                metrics.Activations(), totals, recent, series, cluster));
        }).WithName("dashboardOverview").WithSummary("Silos, activations, and this silo's command rates and latency over the last seconds (default 300)")
            .Produces<DashboardOverview>().ProducesProblem(400);

        api.MapGet("/projections", async (PgEventStore store, CancellationToken ct) =>
        {
            var pulled = await ProjectionQueues.ListAsync(store.DataSource, ct);
            var list = new List<DashboardProjection>();
            foreach (var p in ProjectionCatalog.All())
            {
                var s = await ProjectionRunner.StatusAsync(store, p.Name, ct);
                var total = s.EventsApplied + s.EventsBehind;
                list.Add(new DashboardProjection(s.Name, s.TransactionId, s.Position, s.EventsApplied, s.EventsBehind, s.LagMilliseconds, s.UpdatedAt,
                    pulled.FirstOrDefault(q => q.Lease == ProjectionQueues.Projection(p.Name))?.SiloId, total == 0 ? 1.0 : Math.Round((double)s.EventsApplied / total, 4), 0));
            }
            return Results.Ok(list);
        }).WithName("dashboardProjections").WithSummary("Each projection's checkpoint, lag, the silo pulling its queue, and rebuild progress").Produces<List<DashboardProjection>>();

        api.MapGet("/timers", async (int? limit, HttpContext http, Npgsql.NpgsqlDataSource dataSource, [FromKeyedServices(LedgerClock.Key)] TimeProvider clock, CancellationToken ct) =>
        {
            var n = limit ?? 20;
            if (n is < 1 or > 200) throw new BadRequestException("invalid_limit", "'limit' must be between 1 and 200");
            var scope = Scope(http);
            var now = clock.GetUtcNow();
            var due = await ExpiryReminders.DueAsync(dataSource, now, scope, ct);
            var (next, pending) = await ExpiryReminders.NextAsync(dataSource, scope, n, ct);
            return Results.Ok(new DashboardTimers(now, due, pending, next));
        }).WithName("dashboardTimers").WithSummary("Deal expiry reminders due now and the next pending ones (Orleans reminders)").Produces<DashboardTimers>().ProducesProblem(400);

        api.MapGet("/rejections", async (int? minutes, HttpContext http, PgEventStore store, [FromKeyedServices(LedgerClock.Key)] TimeProvider clock, CancellationToken ct) =>
        {
            var m = minutes ?? 60;
            if (m is < 1 or > 10_080) throw new BadRequestException("invalid_minutes", "'minutes' must be between 1 and 10080");
            var since = clock.GetUtcNow().AddMinutes(-m);
            var scope = Scope(http);
            // Bounded to the newest 10,000 audit records (a primary-key range), so a poll never scans the whole log.
            await using var cmd = store.DataSource.CreateCommand(
                """
                SELECT coalesce(code, 'http_' || status), outcome, status, count(*), max(at)
                FROM audit_log
                WHERE audit_position > (SELECT coalesce(max(audit_position), 0) - 10000 FROM audit_log)
                  AND outcome IN ('rejected', 'refused') AND at >= $1 AND ($2::text IS NULL OR tenant = $2)
                GROUP BY 1, 2, 3 ORDER BY 4 DESC, 1
                """);
            cmd.Parameters.Add(new() { Value = since.ToUniversalTime(), NpgsqlDbType = NpgsqlDbType.TimestampTz });
            cmd.Parameters.Add(new() { Value = (object?)scope ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
            var counts = new List<RejectionCount>();
            await using (var r = await cmd.ExecuteReaderAsync(ct))
                while (await r.ReadAsync(ct))
                    counts.Add(new RejectionCount(r.GetString(0), r.GetString(1), r.GetInt32(2), r.GetInt64(3), r.GetFieldValue<DateTimeOffset>(4)));
            var recent = await AuditTailAsync(store, scope, 10,
                "AND outcome IN ('rejected', 'refused') AND audit_position > (SELECT coalesce(max(audit_position), 0) - 10000 FROM audit_log)", ct);
            return Results.Ok(new DashboardRejections(since, counts, recent));
        }).WithName("dashboardRejections").WithSummary("Rejected and refused requests by code in the last minutes (default 60), and the newest ten")
            .Produces<DashboardRejections>().ProducesProblem(400);

        api.MapGet("/audit", async (int? limit, HttpContext http, PgEventStore store, CancellationToken ct) =>
        {
            var n = limit ?? 25;
            if (n is < 1 or > 500) throw new BadRequestException("invalid_limit", "'limit' must be between 1 and 500");
            return Results.Ok(await AuditTailAsync(store, Scope(http), n, "", ct));
        }).WithName("dashboardAuditTail").WithSummary("The newest audit records, newest first (the caller's institution unless root)")
            .Produces<List<AuditEntry>>().ProducesProblem(400);

        api.MapGet("/streams", async (string? kind, string? id, HttpContext http, PgEventStore store, CancellationToken ct) =>
        {
            if (string.IsNullOrWhiteSpace(id) || id.Length > 200) throw new BadRequestException("invalid_id", "'id' must be 1-200 characters");
            id = id.Trim();
            // Account and deal ids and UETRs are unique per institution: an id names one stream in the caller's institution (root:
            // the one of X-Escrow-Tenant), or for root without it one per institution holding it. Streams written before ids
            // were per institution are found and shown under their new ids (stream_aliases).
            var institution = Scope(http) ?? (http.Request.Headers[Caller.TenantHeader].ToString() is { Length: > 0 } h ? Tenants.Id(h, Caller.TenantHeader) : null);
            var like = PgEventStore.LikeLiteral(id);
            var (exact, pattern) = kind switch
            {
                "account" => institution is null ? (null, $"{AccountStreams.Prefix}%/{like}") : (AccountStreams.StreamId(institution, id), null),
                "deal" => institution is null ? (null, $"{DealStreams.Prefix}%/{like}") : (DealStreams.StreamId(institution, id), null),
                "payment" => institution is null ? (null, $"{PaymentStreams.Prefix}%-{like}") : (PaymentStreams.StreamId(institution, id), (string?)null),
                null or "" or "stream" => (id, (string?)null),
                _ => throw new BadRequestException("invalid_kind", "'kind' must be account, deal, payment or stream"),
            };
            await using var cmd = store.DataSource.CreateCommand(
                """
                SELECT coalesce(a.alias, s.stream_id) AS id FROM streams s LEFT JOIN stream_aliases a ON a.stream_id = s.stream_id
                WHERE (s.stream_id = $1 OR s.stream_id = (SELECT stream_id FROM stream_aliases WHERE alias = $1)
                       OR ($2::text IS NOT NULL AND (s.stream_id LIKE $2 OR a.alias LIKE $2)))
                  AND ($3::text IS NULL OR s.tenant = $3)
                ORDER BY 1 LIMIT 20
                """);
            cmd.Parameters.Add(new() { Value = (object?)exact ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
            cmd.Parameters.Add(new() { Value = (object?)pattern ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
            cmd.Parameters.Add(new() { Value = (object?)Scope(http) ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
            var ids = new List<string>();
            await using (var r = await cmd.ExecuteReaderAsync(ct))
                while (await r.ReadAsync(ct)) ids.Add(r.GetString(0));
            return Results.Ok(ids);
        }).WithName("dashboardFindStreams").WithSummary("Stream ids the caller may read for an account id, deal id or payment UETR of its institution (root: X-Escrow-Tenant, else every institution), or a stream id (at most 20)")
            .Produces<List<string>>().ProducesProblem(400);

        api.MapGet("/streams/{streamId}", async (string streamId, HttpContext http, PgEventStore store, CancellationToken ct) =>
        {
            streamId = FromRoute(streamId);
            var info = await StreamAsync(store, http, streamId, ct);
            return info is null ? StreamNotFound(streamId) : Results.Ok(info);
        }).WithName("dashboardStream").WithSummary("A stream's head: type, tenant, version, last hash (account-{institution}/{id}, deal-{institution}/{id}, payment-{institution}-{uetr} or payment-{uetr}, ...)")
            .Produces<StreamInfo>().ProducesProblem(404);

        api.MapGet("/streams/{streamId}/events", async (string streamId, long? after, int? limit, HttpContext http, PgEventStore store, CancellationToken ct) =>
        {
            streamId = FromRoute(streamId);
            var n = limit ?? 100;
            if (n is < 1 or > 1000) throw new BadRequestException("invalid_limit", "'limit' must be between 1 and 1000");
            if (await StreamAsync(store, http, streamId, ct) is not { } found) return StreamNotFound(streamId);
            return Results.Ok(await LedgerQueries.StreamAsync(store, found.StreamId, after ?? 0, n, ct));
        }).WithName("dashboardStreamEvents").WithSummary("A stream's events with data, metadata and hashes, in version order").Produces<List<AuditEvent>>().ProducesProblem(400).ProducesProblem(404);

        api.MapGet("/streams/{streamId}/state", async (string streamId, string? at, HttpContext http, PgEventStore store, CancellationToken ct) =>
        {
            streamId = FromRoute(streamId);
            DateTimeOffset? when = null;
            if (!string.IsNullOrEmpty(at))
            {
                if (!DateTimeOffset.TryParse(at, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var t))
                    throw new BadRequestException("invalid_instant", $"'at' must be an ISO 8601 instant such as 2026-11-21T09:00:00Z, got '{at}'");
                when = t;
            }
            var info = await StreamAsync(store, http, streamId, ct);
            if (info is null) return StreamNotFound(streamId);
            if (!Folds.TryGetValue(info.StreamType, out var fold))
                throw new BadRequestException("unknown_stream_type", $"streams of type '{info.StreamType}' cannot be folded here; their events can be read");
            var (state, version) = await fold(store, info.StreamId, when, ct);
            return Results.Ok(new StreamState(info.StreamId, info.StreamType, when, version, state));
        }).WithName("dashboardStreamState").WithSummary("A stream's state folded from its events, now or as of ?at= (occurred_at, inclusive)")
            .Produces<StreamState>().ProducesProblem(400).ProducesProblem(404);

        api.MapGet("/streams/{streamId}/verify", async (string streamId, HttpContext http, PgEventStore store, CancellationToken ct) =>
        {
            streamId = FromRoute(streamId);
            if (await StreamAsync(store, http, streamId, ct) is not { } found) return StreamNotFound(streamId);
            var check = await StreamChainVerifier.VerifyAsync(store, found.StreamId, ct);
            return Results.Ok(new StreamVerification(found.StreamId, check.Ok, check.HeadVersion, check.EventsChecked,
                check.Broken?.Version, check.Broken?.GlobalPosition, check.Broken?.Reason));
        }).WithName("dashboardStreamVerify").WithSummary("Recomputes the stream's SHA-256 hash chain and names the first broken link").Produces<StreamVerification>().ProducesProblem(404);
    }


    /// <summary>The tenant the caller's reads are limited to: null (all) for root, its institution otherwise.</summary>
    /// <summary>
    /// A stream id taken from a route segment: account and deal stream ids contain a '/' (<c>account-{institution}/{id}</c>),
    /// sent encoded as <c>%2F</c>, which the server leaves encoded in the path so that it does not split the segment.
    /// </summary>
    private static string FromRoute(string streamId) => streamId.Replace("%2F", "/", StringComparison.OrdinalIgnoreCase);

    private static string? Scope(HttpContext http) => http.GetCaller() is { IsRoot: false } c ? c.Institution : null;

    private static IResult Asset(HttpContext http, string name, string contentType)
    {
        var stream = typeof(DashboardEndpoints).Assembly.GetManifestResourceStream("dashboard/" + name)
            ?? throw new InvalidOperationException($"embedded dashboard asset '{name}' is missing");
        http.Response.Headers.ContentSecurityPolicy = ContentSecurityPolicy;
        http.Response.Headers.XContentTypeOptions = "nosniff";
        http.Response.Headers["Referrer-Policy"] = "no-referrer";
        http.Response.Headers.CacheControl = "no-cache";
        return Results.Stream(stream, contentType);
    }

    private static async Task<StreamInfo?> StreamAsync(PgEventStore store, HttpContext http, string streamId, CancellationToken ct)
    {
        if (streamId.Length is 0 or > 200) throw new BadRequestException("invalid_stream_id", "'streamId' must be 1-200 characters");
        // A payment's stream is payment-{institution}-{uetr}; "payment-{uetr}" finds it among the streams the caller may see:
        // its own institution's (an exact, indexed lookup), or for root the one of X-Escrow-Tenant, else the first
        // institution holding that UETR (a scan of the payment streams; root only).
        var scope = Scope(http);
        if (IsoParserUetr(streamId) is { } bare && (scope ?? http.Request.Headers[Caller.TenantHeader].ToString()) is { Length: > 0 } tenant)
            streamId = PaymentStreams.StreamId(tenant, bare);
        var rootScan = scope is null && IsoParserUetr(streamId) is not null;
        await using var cmd = store.DataSource.CreateCommand(rootScan
            ? """
              SELECT stream_id, stream_type, tenant, version, last_hash, created_at, updated_at FROM streams
              WHERE stream_type = 'payment' AND right(stream_id, 36) = substr($1, 9) ORDER BY tenant LIMIT 1
              """
            : "SELECT stream_id, stream_type, tenant, version, last_hash, created_at, updated_at FROM streams WHERE stream_id = $1");
        cmd.Parameters.Add(new() { Value = rootScan ? streamId : await store.StoredStreamIdAsync(streamId, ct).ConfigureAwait(false) });
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        if (!await r.ReadAsync(ct).ConfigureAwait(false)) return null;
        var info = new StreamInfo(rootScan ? r.GetString(0) : streamId, r.GetString(1), r.GetString(2), r.GetInt64(3), Convert.ToHexStringLower((byte[])r[4]),
            r.GetFieldValue<DateTimeOffset>(5), r.GetFieldValue<DateTimeOffset>(6));
        // Another institution's stream is answered exactly like a missing one.
        return http.GetCaller().CanSee(info.Tenant) ? info : null;
    }

    /// <summary>The UETR of a bare <c>payment-{uetr}</c> id, else null.</summary>
    private static string? IsoParserUetr(string streamId) =>
        streamId.StartsWith(PaymentStreams.Prefix, StringComparison.Ordinal) && Escrow.Domain.Iso20022.IsoParser.IsUetr(streamId[PaymentStreams.Prefix.Length..])
            ? streamId[PaymentStreams.Prefix.Length..]
            : null;

    private static IResult StreamNotFound(string streamId) => Results.Text(
        Problems.Serialize(Problems.Create(404, "stream_not_found", $"stream '{streamId}' does not exist")), Problems.ContentType, statusCode: 404);

    private delegate Task<(JsonNode? State, long Version)> Fold(PgEventStore store, string streamId, DateTimeOffset? upTo, CancellationToken ct);

    /// <summary>How each stream type folds, keyed by <c>streams.stream_type</c>: the domain's own Evolve functions.</summary>
    private static readonly Dictionary<string, Fold> Folds = new(StringComparer.Ordinal)
    {
        [Account.StreamType] = (s, id, t, ct) => FoldAsync(s, id, t, AccountState.Empty(AccountStreams.TryAccountId(id, out var a) ? a : id), Account.Evolve, ct),
        [Deal.StreamType] = (s, id, t, ct) => FoldAsync(s, id, t, DealState.Empty(DealStreams.TryDealId(id, out var d) ? d : id), Deal.Evolve, ct),
        [Payment.StreamType] = (s, id, t, ct) => FoldAsync(s, id, t,
            PaymentState.Empty(PaymentStreams.TryUetr(id, out var u) ? u : id), Payment.Evolve, ct),
        [Escrow.Domain.Subjects.Subject.StreamType] = (s, id, t, ct) => FoldAsync(s, id, t,
            Escrow.Domain.Subjects.SubjectState.Empty(Escrow.Domain.StreamIds.TryParse(id, Grains.SubjectGrain.StreamPrefix, out _, out var subject) ? subject : id),
            Escrow.Domain.Subjects.Subject.Evolve, ct),
    };

    private static async Task<(JsonNode? State, long Version)> FoldAsync<TState>(
        PgEventStore store, string streamId, DateTimeOffset? upTo, TState state, Func<TState, object, TState> evolve, CancellationToken ct)
    {
        var (folded, version) = await StreamReplay.ReplayAsync(store, streamId, state, evolve, upTo, ct).ConfigureAwait(false);
        return (JsonSerializer.SerializeToNode(folded, EventSerializer.Options), version);
    }

    private static async Task<List<AuditEntry>> AuditTailAsync(PgEventStore store, string? tenant, int limit, string filter, CancellationToken ct)
    {
        await using var cmd = store.DataSource.CreateCommand(
            $"""
            SELECT audit_position, audit_id, at, actor, tenant, operation, outcome, status, code, payload_sha256, stream_ids, correlation_id, idempotency_key
            FROM audit_log WHERE ($1::text IS NULL OR tenant = $1) {filter}
            ORDER BY audit_position DESC LIMIT $2
            """);
        cmd.Parameters.Add(new() { Value = (object?)tenant ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
        cmd.Parameters.Add(new() { Value = limit });
        var rows = new List<AuditEntry>();
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false))
            rows.Add(new AuditEntry(r.GetInt64(0), r.GetGuid(1), r.GetFieldValue<DateTimeOffset>(2), r.GetString(3), r.GetString(4), r.GetString(5),
                r.GetString(6), r.GetInt32(7), r.IsDBNull(8) ? null : r.GetString(8), Convert.ToHexStringLower((byte[])r[9]),
                r.GetFieldValue<string[]>(10), r.GetGuid(11), r.IsDBNull(12) ? null : r.GetString(12)));
        return rows;
    }
}
