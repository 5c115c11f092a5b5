using System.Runtime.CompilerServices;
using static Escrow.Client.EscrowTransport;

namespace Escrow.Client;

/// <summary>
/// Escrow deals (<c>/deals</c>) and deal templates (<c>/templates</c>). Commands need a writer or root key;
/// reads also accept an auditor key. Another institution's deal is answered like a missing one
/// (<see cref="EscrowNotFoundException"/>, <c>deal_not_found</c>). A command the current state does not
/// allow throws <see cref="EscrowConflictException"/> with <c>invalid_transition</c>. Every deal command takes
/// an optional <c>idempotencyKey</c> (default a new GUID per call, reused by its retries).
/// </summary>
public sealed class DealsClient
{
    private readonly EscrowTransport _t;

    internal DealsClient(EscrowTransport transport) => _t = transport;

    /// <summary>
    /// Creates an escrow product of the caller's institution (<c>POST /templates</c>, 201). Templates never
    /// change; the call carries an Idempotency-Key that the silo deduplicates, so a retry after a lost answer
    /// gets the first answer (not 409 <c>template_exists</c>).
    /// </summary>
    /// <param name="request">Id, currency, amount range (major units), default expiry, refund at expiry.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The template.</returns>
    /// <exception cref="EscrowBadRequestException"><c>reserved_template</c>, <c>invalid_range</c>, <c>invalid_expiry</c>, <c>unknown_currency</c>.</exception>
    /// <exception cref="EscrowConflictException"><c>template_exists</c>.</exception>
    public Task<DealTemplate> CreateTemplateAsync(DealTemplateRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        // Deduplicated by the silo under the Idempotency-Key: a retry gets the first answer.
        return _t.CommandAsync<DealTemplate>("templates", request, null, cancellationToken);
    }

    /// <summary>The caller's institution's templates (root: every institution's), <c>GET /templates</c>. The built-in <c>default</c> template is not listed.</summary>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>Templates ordered by tenant and id.</returns>
    public Task<IReadOnlyList<DealTemplate>> ListTemplatesAsync(CancellationToken cancellationToken = default) =>
        _t.GetAsync<IReadOnlyList<DealTemplate>>("templates", cancellationToken);

    /// <summary>Creates a deal (<c>POST /deals</c>, 201) in state CREATED, with its escrow account <c>escrow-{dealId}</c>.</summary>
    /// <param name="request">Buyer, seller, amount (major units), currency, optional id, template, expiry, terms.</param>
    /// <param name="idempotencyKey">Optional key of this logical call; default a new GUID.</param>
    /// <param name="cancellationToken">Cancels the call (and its retries).</param>
    /// <returns>The new deal.</returns>
    /// <exception cref="EscrowBadRequestException"><c>invalid_deal_id</c>, <c>invalid_amount</c>, <c>unknown_currency</c>.</exception>
    /// <exception cref="EscrowNotFoundException"><c>account_not_found</c>, <c>template_not_found</c>.</exception>
    /// <exception cref="EscrowConflictException"><c>deal_exists</c>, <c>template_currency_mismatch</c>, <c>amount_out_of_range</c>, <c>currency_mismatch</c>.</exception>
    public Task<Deal> CreateAsync(CreateDealRequest request, string? idempotencyKey = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return _t.CommandAsync<Deal>("deals", request, idempotencyKey, cancellationToken);
    }

    /// <summary>Funds a CREATED deal (<c>POST /deals/{id}/fund</c>): the whole amount buyer → escrow.</summary>
    /// <param name="dealId">The deal.</param>
    /// <param name="idempotencyKey">Optional key of this logical call; default a new GUID.</param>
    /// <param name="cancellationToken">Cancels the call (and its retries).</param>
    /// <returns>The deal, FUNDED.</returns>
    /// <exception cref="EscrowNotFoundException"><c>deal_not_found</c>.</exception>
    /// <exception cref="EscrowConflictException"><c>invalid_transition</c>, <c>deal_expired</c>, <c>insufficient_funds</c>.</exception>
    public Task<Deal> FundAsync(string dealId, string? idempotencyKey = null, CancellationToken cancellationToken = default) =>
        _t.CommandAsync<Deal>($"deals/{Seg(dealId, nameof(dealId))}/fund", new ReasonBody(null), idempotencyKey, cancellationToken);

    /// <summary>Releases money escrow → seller (<c>POST /deals/{id}/release</c>): all that is held (RELEASED) or part (PARTIALLY_RELEASED).</summary>
    /// <param name="dealId">The deal.</param>
    /// <param name="amount">Major units, 0 &lt; amount ≤ held.</param>
    /// <param name="idempotencyKey">Optional key of this logical call; default a new GUID.</param>
    /// <param name="cancellationToken">Cancels the call (and its retries).</param>
    /// <returns>The deal after the release.</returns>
    /// <exception cref="EscrowBadRequestException"><c>invalid_amount</c>, <c>amount_precision</c>.</exception>
    /// <exception cref="EscrowNotFoundException"><c>deal_not_found</c>.</exception>
    /// <exception cref="EscrowConflictException"><c>invalid_transition</c>, <c>amount_exceeds_held</c>.</exception>
    public Task<Deal> ReleaseAsync(string dealId, decimal amount, string? idempotencyKey = null, CancellationToken cancellationToken = default) =>
        _t.CommandAsync<Deal>($"deals/{Seg(dealId, nameof(dealId))}/release", new ReleaseBody(amount), idempotencyKey, cancellationToken);

    /// <summary>Cancels a funded deal (<c>POST /deals/{id}/cancel</c>): what is held goes back to the buyer.</summary>
    /// <param name="dealId">The deal.</param>
    /// <param name="reason">Optional reason.</param>
    /// <param name="idempotencyKey">Optional key of this logical call; default a new GUID.</param>
    /// <param name="cancellationToken">Cancels the call (and its retries).</param>
    /// <returns>The deal, CANCELLED.</returns>
    /// <exception cref="EscrowNotFoundException"><c>deal_not_found</c>.</exception>
    /// <exception cref="EscrowConflictException"><c>invalid_transition</c>.</exception>
    public Task<Deal> CancelAsync(string dealId, string? reason = null, string? idempotencyKey = null, CancellationToken cancellationToken = default) =>
        _t.CommandAsync<Deal>($"deals/{Seg(dealId, nameof(dealId))}/cancel", new ReasonBody(reason), idempotencyKey, cancellationToken);

    /// <summary>Opens a dispute on a funded deal (<c>POST /deals/{id}/disputes</c>): DISPUTED, expiry paused.</summary>
    /// <param name="dealId">The deal.</param>
    /// <param name="by">The party that disputes.</param>
    /// <param name="reason">Why; required.</param>
    /// <param name="idempotencyKey">Optional key of this logical call; default a new GUID.</param>
    /// <param name="cancellationToken">Cancels the call (and its retries).</param>
    /// <returns>The deal, DISPUTED.</returns>
    /// <exception cref="EscrowNotFoundException"><c>deal_not_found</c>.</exception>
    /// <exception cref="EscrowConflictException"><c>invalid_transition</c>.</exception>
    public Task<Deal> OpenDisputeAsync(string dealId, DealParty by, string reason, string? idempotencyKey = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(reason);
        return _t.CommandAsync<Deal>($"deals/{Seg(dealId, nameof(dealId))}/disputes", new DisputeBody(by, reason), idempotencyKey, cancellationToken);
    }

    /// <summary>Submits evidence to a disputed deal (<c>POST /deals/{id}/evidence</c>); append-only.</summary>
    /// <param name="dealId">The deal.</param>
    /// <param name="request">Evidence id, type, inline content or reference + SHA-256.</param>
    /// <param name="idempotencyKey">Optional key of this logical call; default a new GUID.</param>
    /// <param name="cancellationToken">Cancels the call (and its retries).</param>
    /// <returns>The deal with <see cref="Deal.EvidenceCount"/> one higher.</returns>
    /// <exception cref="EscrowBadRequestException"><c>invalid_evidence</c>, <c>invalid_content_hash</c>, <c>missing_field</c>.</exception>
    /// <exception cref="EscrowNotFoundException"><c>deal_not_found</c>.</exception>
    /// <exception cref="EscrowConflictException"><c>invalid_transition</c> (not disputed), a reused evidence id.</exception>
    public Task<Deal> SubmitEvidenceAsync(string dealId, EvidenceRequest request, string? idempotencyKey = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return _t.CommandAsync<Deal>($"deals/{Seg(dealId, nameof(dealId))}/evidence", request, idempotencyKey, cancellationToken);
    }

    /// <summary>Resolves a dispute (<c>POST /deals/{id}/resolve</c>): splits what is held between buyer and seller; RESOLVED.</summary>
    /// <param name="dealId">The deal.</param>
    /// <param name="buyerShare">Major units back to the buyer, ≥ 0.</param>
    /// <param name="sellerShare">Major units to the seller, ≥ 0; the shares must add up to what is held (409 <c>split_mismatch</c>).</param>
    /// <param name="note">Optional note of the decision.</param>
    /// <param name="idempotencyKey">Optional key of this logical call; default a new GUID.</param>
    /// <param name="cancellationToken">Cancels the call (and its retries).</param>
    /// <returns>The deal, RESOLVED.</returns>
    /// <exception cref="EscrowNotFoundException"><c>deal_not_found</c>.</exception>
    /// <exception cref="EscrowConflictException"><c>invalid_transition</c>, <c>split_mismatch</c>.</exception>
    public Task<Deal> ResolveAsync(string dealId, decimal buyerShare, decimal sellerShare, string? note = null, string? idempotencyKey = null, CancellationToken cancellationToken = default) =>
        _t.CommandAsync<Deal>($"deals/{Seg(dealId, nameof(dealId))}/resolve", new ResolveBody(buyerShare, sellerShare, note), idempotencyKey, cancellationToken);

    /// <summary>The deal now, or as of an instant (<c>GET /deals/{id}?at=</c>, replayed from its events).</summary>
    /// <param name="dealId">The deal.</param>
    /// <param name="at">The instant (sent as UTC), or null for now.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The deal.</returns>
    /// <exception cref="EscrowNotFoundException"><c>deal_not_found</c> (also when it did not exist yet at <paramref name="at"/>).</exception>
    public Task<Deal> GetAsync(string dealId, DateTimeOffset? at = null, CancellationToken cancellationToken = default) =>
        _t.GetAsync<Deal>($"deals/{Seg(dealId, nameof(dealId))}" + Query(("at", at)), cancellationToken);

    /// <summary>Every transition of the deal with actor and time (<c>GET /deals/{id}/timeline</c>; read model, may trail by the projection lag).</summary>
    /// <param name="dealId">The deal.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>Transitions in version order.</returns>
    /// <exception cref="EscrowNotFoundException"><c>deal_not_found</c>.</exception>
    public Task<IReadOnlyList<DealTimelineEntry>> GetTimelineAsync(string dealId, CancellationToken cancellationToken = default) =>
        _t.GetAsync<IReadOnlyList<DealTimelineEntry>>($"deals/{Seg(dealId, nameof(dealId))}/timeline", cancellationToken);

    /// <summary>One page of the deal's raw event stream (<c>GET /deals/{id}/events</c>): data, metadata and hash chain.</summary>
    /// <param name="dealId">The deal.</param>
    /// <param name="afterVersion">Events after this version; null from the start.</param>
    /// <param name="limit">Events per page, 1–1000 (default 100).</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>Events in version order.</returns>
    /// <exception cref="EscrowNotFoundException"><c>deal_not_found</c>.</exception>
    public Task<IReadOnlyList<StreamEvent>> GetEventsPageAsync(string dealId, long? afterVersion = null, int? limit = null, CancellationToken cancellationToken = default) =>
        _t.GetAsync<IReadOnlyList<StreamEvent>>($"deals/{Seg(dealId, nameof(dealId))}/events" + Query(("after", afterVersion), ("limit", limit)), cancellationToken);

    /// <summary>Every event of the deal's stream, in pages of <paramref name="pageSize"/>.</summary>
    /// <param name="dealId">The deal.</param>
    /// <param name="pageSize">Events per request, 1–1000.</param>
    /// <param name="cancellationToken">Cancels the enumeration.</param>
    /// <returns>The events in version order.</returns>
    /// <exception cref="EscrowNotFoundException"><c>deal_not_found</c>.</exception>
    public IAsyncEnumerable<StreamEvent> GetEventsAsync(string dealId, int pageSize = 100, CancellationToken cancellationToken = default) =>
        Pages.ByVersion((after, ct) => GetEventsPageAsync(dealId, after, pageSize, ct), pageSize, cancellationToken);

    /// <summary>One page of the caller's institution's deals (<c>GET /deals?state=&amp;after=&amp;limit=</c>; read model <c>deal_status</c>), ordered by deal id. Root sees every institution, ordered by institution and deal id with the cursor <c>{institution}/{dealId}</c> (or the one of <see cref="EscrowClientOptions.Tenant"/>).</summary>
    /// <param name="state">Only deals in this state (one of <see cref="DealStates"/>); null for all.</param>
    /// <param name="after">Deals with an id after this (the previous page's <see cref="DealPage.NextAfter"/>).</param>
    /// <param name="limit">Rows per page, 1–1000 (default 100).</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The page.</returns>
    /// <exception cref="EscrowBadRequestException"><c>invalid_limit</c>.</exception>
    public Task<DealPage> ListPageAsync(string? state = null, string? after = null, int? limit = null, CancellationToken cancellationToken = default) =>
        _t.GetAsync<DealPage>("deals" + Query(("state", state), ("after", after), ("limit", limit)), cancellationToken);

    /// <summary>Every deal (in <paramref name="state"/>), fetching pages of <paramref name="pageSize"/> as the enumeration proceeds.</summary>
    /// <param name="state">Only deals in this state; null for all.</param>
    /// <param name="pageSize">Rows per request, 1–1000.</param>
    /// <param name="cancellationToken">Cancels the enumeration.</param>
    /// <returns>Deals ordered by id.</returns>
    public async IAsyncEnumerable<DealSummary> ListAsync(string? state = null, int pageSize = 100, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        string? after = null;
        while (true)
        {
            var page = await ListPageAsync(state, after, pageSize, cancellationToken).ConfigureAwait(false);
            foreach (var d in page.Deals) yield return d;
            if (page.NextAfter is not { } next) yield break;
            after = next;
        }
    }

    private sealed record ReleaseBody(decimal Amount);

    private sealed record DisputeBody(DealParty By, string Reason);

    private sealed record ResolveBody(decimal BuyerShare, decimal SellerShare, string? Note);
}
