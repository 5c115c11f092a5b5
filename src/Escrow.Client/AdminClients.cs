using System.Globalization;
using System.Runtime.CompilerServices;
using static Escrow.Client.EscrowTransport;

namespace Escrow.Client;

/// <summary>
/// Institutions (tenants) and their API keys (<c>/institutions</c>): root key only, anything else throws
/// <see cref="EscrowForbiddenException"/>. Each write carries an Idempotency-Key (the caller's, or a new one per logical
/// call) that the silo deduplicates, so a transient failure is retried safely.
/// </summary>
public sealed class InstitutionsClient
{
    private readonly EscrowTransport _t;

    internal InstitutionsClient(EscrowTransport transport) => _t = transport;

    /// <summary>Creates an institution (<c>POST /institutions</c>, 201).</summary>
    /// <param name="institutionId">1–32 of <c>a-z0-9-</c>, starting with a letter or digit.</param>
    /// <param name="name">Display name (default: the id).</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The institution (no keys yet).</returns>
    /// <exception cref="EscrowBadRequestException"><c>invalid_institution_id</c>.</exception>
    /// <param name="idempotencyKey">Optional key for the logical call (default: a new GUID reused by every retry of this call).</param>
    /// <exception cref="EscrowConflictException"><c>institution_exists</c>.</exception>
    public Task<Institution> CreateAsync(string institutionId, string? name = null, string? idempotencyKey = null, CancellationToken cancellationToken = default) =>
        _t.CommandAsync<Institution>("institutions", new CreateInstitutionBody(institutionId, name), idempotencyKey, cancellationToken);

    /// <summary>Every institution with its number of keys (<c>GET /institutions</c>).</summary>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The institutions.</returns>
    public Task<IReadOnlyList<Institution>> ListAsync(CancellationToken cancellationToken = default) =>
        _t.GetAsync<IReadOnlyList<Institution>>("institutions", cancellationToken);

    /// <summary>Creates an API key for an institution (<c>POST /institutions/{id}/keys</c>, 201). The secret is in the answer only: keep it.</summary>
    /// <param name="institutionId">The institution.</param>
    /// <param name="role">Writer, auditor or root.</param>
    /// <param name="name">Optional label.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The key with its secret <see cref="CreatedApiKey.ApiKey"/>.</returns>
    /// <exception cref="EscrowNotFoundException"><c>institution_not_found</c>.</exception>
    /// <param name="idempotencyKey">Optional key for the logical call (default: a new GUID reused by every retry of this call).</param>
    /// <exception cref="EscrowBadRequestException"><c>invalid_role</c>, <c>invalid_institution_id</c>.</exception>
    /// <exception cref="EscrowConflictException"><c>api_key_already_created</c>: this call's key already created a key (named in the
    /// problem) whose answer was lost; the silo never stores a secret, so create a new key and stop using that one.</exception>
    public Task<CreatedApiKey> CreateKeyAsync(string institutionId, ApiKeyRole role, string? name = null, string? idempotencyKey = null,
        CancellationToken cancellationToken = default) =>
        _t.CommandAsync<CreatedApiKey>($"institutions/{Seg(institutionId, nameof(institutionId))}/keys", new CreateKeyBody(role, name), idempotencyKey, cancellationToken);

    /// <summary>Revokes an API key (<c>POST /institutions/{id}/keys/{keyId}/revocation</c>, 200): it stops authenticating.</summary>
    /// <param name="institutionId">The key's institution.</param>
    /// <param name="keyId">The key's public id (<c>key_…</c>).</param>
    /// <param name="reason">Optional reason (at most 500 characters), kept with the revocation.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <param name="idempotencyKey">Optional key for the logical call (default: a new GUID reused by every retry of this call).</param>
    /// <returns>The revocation.</returns>
    /// <exception cref="EscrowNotFoundException"><c>key_not_found</c>.</exception>
    /// <exception cref="EscrowConflictException"><c>key_already_revoked</c>.</exception>
    public Task<RevokedApiKey> RevokeKeyAsync(string institutionId, string keyId, string? reason = null, string? idempotencyKey = null,
        CancellationToken cancellationToken = default) =>
        _t.CommandAsync<RevokedApiKey>($"institutions/{Seg(institutionId, nameof(institutionId))}/keys/{Seg(keyId, nameof(keyId))}/revocation",
            new RevokeKeyBody(reason), idempotencyKey, cancellationToken);

    private sealed record RevokeKeyBody(string? Reason);

    private sealed record CreateInstitutionBody(string InstitutionId, string? Name);

    private sealed record CreateKeyBody(ApiKeyRole Role, string? Name);
}

/// <summary>
/// The write-once audit log (<c>/audit</c>): root sees every tenant (or <see cref="AuditQuery.Tenant"/>), an
/// auditor only its own whatever it asks; a writer gets <see cref="EscrowForbiddenException"/>.
/// </summary>
public sealed class AuditClient
{
    private readonly EscrowTransport _t;

    internal AuditClient(EscrowTransport transport) => _t = transport;

    /// <summary>One page of audit records in log order (<c>GET /audit</c>).</summary>
    /// <param name="query">Filters; null for none.</param>
    /// <param name="after">Records after this position (the previous page's <see cref="AuditPage.NextAfter"/>).</param>
    /// <param name="limit">Records per page, 1–1000 (default 100).</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The page.</returns>
    /// <exception cref="EscrowBadRequestException"><c>invalid_limit</c>, <c>invalid_instant</c>, <c>invalid_outcome</c>.</exception>
    public Task<AuditPage> QueryPageAsync(AuditQuery? query = null, long? after = null, int? limit = null, CancellationToken cancellationToken = default) =>
        _t.GetAsync<AuditPage>("audit" + AuditQueryString(query, after, limit), cancellationToken);

    /// <summary>Every matching audit record, fetching pages of <paramref name="pageSize"/> as the enumeration proceeds.</summary>
    /// <param name="query">Filters; null for none.</param>
    /// <param name="pageSize">Records per request, 1–1000.</param>
    /// <param name="cancellationToken">Cancels the enumeration.</param>
    /// <returns>Records in log order.</returns>
    public async IAsyncEnumerable<AuditEntry> QueryAsync(AuditQuery? query = null, int pageSize = 100, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        long? after = null;
        while (true)
        {
            var page = await QueryPageAsync(query, after, pageSize, cancellationToken).ConfigureAwait(false);
            foreach (var r in page.Records) yield return r;
            if (page.NextAfter is not { } next) yield break;
            after = next;
        }
    }

    /// <summary>One page of the audit log as RFC 4180 CSV (<c>GET /audit.csv</c>); the next page's position comes from <c>X-Next-After</c>.</summary>
    /// <param name="query">Filters; null for none.</param>
    /// <param name="after">Records after this position.</param>
    /// <param name="limit">Records per page, 1–100,000 (default 10,000).</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The CSV text and the next position.</returns>
    public Task<AuditCsvPage> GetCsvPageAsync(AuditQuery? query = null, long? after = null, int? limit = null, CancellationToken cancellationToken = default) =>
        _t.SendAsync(HttpMethod.Get, "audit.csv" + AuditQueryString(query, after, limit), null, null, Repeat.Safe, cancellationToken, "text/csv",
            static (response, text) => new AuditCsvPage(text,
                response.Headers.TryGetValues("X-Next-After", out var v) && long.TryParse(v.FirstOrDefault(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : null));

    private static string AuditQueryString(AuditQuery? q, long? after, int? limit) => Query(
        ("actor", q?.Actor), ("from", q?.From), ("to", q?.To), ("stream", q?.Stream), ("deal", q?.Deal), ("tenant", q?.Tenant), ("outcome", q?.Outcome),
        ("after", after), ("limit", limit));
}

/// <summary>The silo's own state: health, projections, membership.</summary>
public sealed class ClusterClient
{
    private readonly EscrowTransport _t;

    internal ClusterClient(EscrowTransport transport) => _t = transport;

    /// <summary>True when the silo answers <c>GET /health</c> with 200 (no key needed). Transient failures are retried; a silo that stays down throws <see cref="HttpRequestException"/> or <see cref="EscrowProblemException"/>.</summary>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>Whether the silo reported <c>ok</c>.</returns>
    public async Task<bool> IsHealthyAsync(CancellationToken cancellationToken = default) =>
        (await _t.GetAsync<HealthBody>("health", cancellationToken).ConfigureAwait(false)).Status == "ok";

    /// <summary>Every projection's checkpoint, events behind and lag (<c>GET /projections</c>).</summary>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>One status per projection.</returns>
    public Task<IReadOnlyList<ProjectionStatus>> GetProjectionsAsync(CancellationToken cancellationToken = default) =>
        _t.GetAsync<IReadOnlyList<ProjectionStatus>>("projections", cancellationToken);

    /// <summary>Every silo seen in the last hour, newest first (<c>GET /silos</c>; root or auditor).</summary>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The membership.</returns>
    /// <exception cref="EscrowForbiddenException">A writer key.</exception>
    public Task<IReadOnlyList<SiloInfo>> GetSilosAsync(CancellationToken cancellationToken = default) =>
        _t.GetAsync<IReadOnlyList<SiloInfo>>("silos", cancellationToken);

    /// <summary>
    /// Polls <see cref="GetProjectionsAsync"/> until every projection has no event behind (read models such as
    /// the statement, the deal list and the timeline then include every command acknowledged before the call).
    /// </summary>
    /// <param name="pollInterval">Time between polls (default 50 ms).</param>
    /// <param name="cancellationToken">Cancels the wait (use a timeout token to bound it).</param>
    /// <returns>The statuses once caught up.</returns>
    public async Task<IReadOnlyList<ProjectionStatus>> WaitForProjectionsAsync(TimeSpan? pollInterval = null, CancellationToken cancellationToken = default)
    {
        while (true)
        {
            var list = await GetProjectionsAsync(cancellationToken).ConfigureAwait(false);
            if (list.All(p => p.EventsBehind == 0)) return list;
            await Task.Delay(pollInterval ?? TimeSpan.FromMilliseconds(50), cancellationToken).ConfigureAwait(false);
        }
    }

    private sealed record HealthBody(string Status);
}
