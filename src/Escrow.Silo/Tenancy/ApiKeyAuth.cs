using Escrow.Domain.Accounts;
using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Escrow.EventStore;
using Escrow.Silo.Hosting;
using Escrow.Silo.Http;
using Microsoft.Extensions.Options;

namespace Escrow.Silo.Tenancy;

/// <summary>
/// Resolves an API key to its <see cref="Caller"/>. The root key comes from configuration
/// (<c>Escrow:RootApiKey</c>, env <c>Escrow__RootApiKey</c>); every other key from <c>api_keys</c> by the
/// SHA-256 of the presented secret. Found keys are cached for <see cref="SiloOptions.KeyCacheSeconds"/>; unknown keys are
/// never cached. A revocation drops the key from every silo's cache as soon as it commits: the revoking silo calls
/// <see cref="Forget"/>, and every silo's <see cref="KeyRevocationListener"/> does on the database's notification
/// (migration 018). The expiry stays as the backstop for a notification lost with a broken connection.
/// </summary>
public sealed class ApiKeyAuthenticator(TenancyStore store, IOptions<SiloOptions> options, [FromKeyedServices(LedgerClock.Key)] TimeProvider clock)
{
    private readonly ConcurrentDictionary<string, (Caller Caller, long At)> _cache = new(StringComparer.Ordinal);
    // Bumped by every Forget: a lookup that overlapped a revocation may have read the key as valid, so it is not cached.
    private readonly Lock _gate = new();
    private long _epoch;
    private readonly byte[]? _rootHash = string.IsNullOrEmpty(options.Value.RootApiKey) ? null : TenancyStore.Hash(options.Value.RootApiKey);

    /// <summary>
    /// The key a request presents: <c>Authorization: Bearer &lt;key&gt;</c> or <c>X-Api-Key: &lt;key&gt;</c>; for a read of a
    /// dashboard (<see cref="Dashboard.OrleansDashboard.AcceptsKeyCookie"/>) also the dashboard's login cookie.
    /// </summary>
    public static string? PresentedKey(HttpRequest request)
    {
        var auth = request.Headers.Authorization.ToString();
        if (auth.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
            return auth["Bearer ".Length..].Trim() is { Length: > 0 } k ? k : null;
        if (request.Headers["X-Api-Key"].ToString().Trim() is { Length: > 0 } x) return x;
        return Dashboard.OrleansDashboard.AcceptsKeyCookie(request) && request.Cookies[Dashboard.OrleansDashboard.KeyCookie] is { Length: > 0 } c ? c : null;
    }

    public async Task<Caller?> AuthenticateAsync(string key, CancellationToken ct)
    {
        if (key.Length > 200) return null;
        var hash = TenancyStore.Hash(key);
        if (_rootHash is not null && CryptographicOperations.FixedTimeEquals(hash, _rootHash))
            return new Caller(Caller.RootKeyId, Caller.OperatorInstitution, Role.Root);
        var cacheKey = Convert.ToHexString(hash);
        var ttl = TimeSpan.FromSeconds(options.Value.KeyCacheSeconds);
        if (_cache.TryGetValue(cacheKey, out var hit) && clock.GetElapsedTime(hit.At) < ttl)
            return hit.Caller;
        var epoch = Volatile.Read(ref _epoch);
        var caller = await store.FindKeyAsync(hash, ct).ConfigureAwait(false);
        if (caller is not null)
            lock (_gate)
                if (_epoch == epoch) _cache[cacheKey] = (caller, clock.GetTimestamp());
        return caller;
    }

    /// <summary>Drops <paramref name="keyId"/> from this silo's cache (after its revocation committed): its next request is
    /// checked against the database, which refuses it.</summary>
    public void Forget(string keyId)
    {
        lock (_gate)
        {
            _epoch++;
            foreach (var (hash, entry) in _cache)
                if (string.Equals(entry.Caller.KeyId, keyId, StringComparison.Ordinal))
                    _cache.TryRemove(hash, out _);
        }
    }

    /// <summary>Drops every cached key (revocations may have been missed while no notification could arrive).</summary>
    public void ForgetAll()
    {
        lock (_gate)
        {
            _epoch++;
            _cache.Clear();
        }
    }
}

/// <summary>Writes audit records of refusals (401, 403, and 400 of mutating requests): nothing else records them.</summary>
public sealed class RefusalAudit(PgEventStore store, [FromKeyedServices(LedgerClock.Key)] TimeProvider clock, ILogger<RefusalAudit> logger)
{
    public const string PayloadItem = "escrow.payload";

    /// <summary>SHA-256 of the canonical request when a command was read, else of "METHOD path\n".</summary>
    public static byte[] Payload(HttpContext http) =>
        http.Items.TryGetValue(PayloadItem, out var p) && p is byte[] b ? b : SHA256.HashData(Encoding.UTF8.GetBytes($"{http.Request.Method} {http.Request.Path}\n"));

    public async Task RecordAsync(HttpContext http, int status, string code, CancellationToken ct)
    {
        var caller = http.FindCaller();
        var correlation = Guid.TryParse(http.Request.Headers["X-Correlation-Id"].ToString(), out var c) ? c : Guid.CreateVersion7(clock.GetUtcNow());
        var streams = caller is not null && http.Request.RouteValues.TryGetValue("id", out var id) && id is string s && http.Request.Path.StartsWithSegments("/accounts")
            ? new[] { AccountStreams.StreamId(caller.ActingTenant(http.Request), s) } : [];
        var record = new AuditRecord(Guid.CreateVersion7(clock.GetUtcNow()), clock.GetUtcNow(),
            caller?.KeyId ?? "anonymous", caller?.Institution ?? "unknown",
            $"{http.Request.Method} {http.Request.Path}", AuditRecord.Refused, status, code, Payload(http), streams, correlation,
            http.Request.Headers["Idempotency-Key"].ToString() is { Length: > 0 and <= 200 } k ? k : null);
        try
        {
            await store.AppendAuditAsync(record, ct).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is Npgsql.NpgsqlException or OperationCanceledException)
        {
            // A refusal changes nothing; failing to record it must not turn it into a 500.
            logger.LogWarning(ex, "could not write the audit record of a {Status} refusal", status);
        }
    }
}

public static class Authorization
{
    /// <summary>Routes anyone may call without a key.</summary>
    public static bool IsPublic(PathString path) => path == "/health" || path.StartsWithSegments("/openapi") || Dashboard.DashboardEndpoints.IsPublic(path);

    /// <summary>
    /// Middleware: every route but the public ones needs a valid key; otherwise 401 problem+json
    /// (<c>api_key_required</c> / <c>api_key_invalid</c>), audited.
    /// </summary>
    public static async Task AuthenticateAsync(HttpContext http, RequestDelegate next)
    {
        if (IsPublic(http.Request.Path))
        {
            await next(http).ConfigureAwait(false);
            return;
        }
        var key = ApiKeyAuthenticator.PresentedKey(http.Request);
        var caller = key is null ? null
            : await http.RequestServices.GetRequiredService<ApiKeyAuthenticator>().AuthenticateAsync(key, http.RequestAborted).ConfigureAwait(false);
        if (caller is null)
        {
            var (code, detail) = key is null
                ? ("api_key_required", "send an API key as 'Authorization: Bearer <key>' or 'X-Api-Key: <key>'")
                : ("api_key_invalid", "the API key is not known");
            await http.RequestServices.GetRequiredService<RefusalAudit>().RecordAsync(http, 401, code, http.RequestAborted).ConfigureAwait(false);
            http.Response.Headers.WWWAuthenticate = "Bearer";
            await WriteProblemAsync(http, 401, code, detail).ConfigureAwait(false);
            return;
        }
        http.SetCaller(caller);
        await next(http).ConfigureAwait(false);
    }

    public static async Task WriteProblemAsync(HttpContext http, int status, string code, string detail)
    {
        http.Response.StatusCode = status;
        http.Response.ContentType = Problems.ContentType;
        await http.Response.WriteAsync(Problems.Serialize(Problems.Create(status, code, detail)), http.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>Endpoint filter: only <paramref name="roles"/> may call; anyone else gets an audited 403 <c>forbidden</c>.</summary>
    public static TBuilder RequireRoles<TBuilder>(this TBuilder builder, params Role[] roles) where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new RequiredRolesMetadata(roles)).Problems(403).AddEndpointFilter(async (ctx, next) =>
        {
            var http = ctx.HttpContext;
            var caller = http.GetCaller();
            if (roles.Contains(caller.Role)) return await next(ctx).ConfigureAwait(false);
            await http.RequestServices.GetRequiredService<RefusalAudit>().RecordAsync(http, 403, "forbidden", http.RequestAborted).ConfigureAwait(false);
            var allowed = string.Join(" or ", roles.Select(Caller.RoleName));
            return Results.Text(Problems.Serialize(Problems.Create(403, "forbidden",
                $"a {Caller.RoleName(caller.Role)} key may not call {http.Request.Method} {http.Request.Path}; it needs a {allowed} key")),
                Problems.ContentType, statusCode: 403);
        });
}
