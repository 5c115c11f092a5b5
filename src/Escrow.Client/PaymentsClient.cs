using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using static Escrow.Client.EscrowTransport;

namespace Escrow.Client;

/// <summary>
/// Cross-border payments keyed by UETR (<c>/payments</c>, <c>/fxps</c>, <c>/proxies</c>): ISO 20022 messages in, the
/// quote → select → resolve proxy → initiate flow, generated messages out, FX providers' rates, the proxy directory
/// and the payment read models (status, timeline, list, corridors). Commands need a writer or root key; reads also accept an auditor key. An unknown UETR, or
/// one of another institution, throws <see cref="EscrowNotFoundException"/>; a malformed one
/// <see cref="EscrowBadRequestException"/> (<c>invalid_uetr</c>). Payment commands take an optional
/// <c>idempotencyKey</c> (default a new GUID per call, reused by its retries).
/// </summary>
public sealed class PaymentsClient
{
    private readonly EscrowTransport _t;

    internal PaymentsClient(EscrowTransport transport) => _t = transport;

    /// <summary>
    /// Imports one ISO 20022 message (<c>POST /payments/messages</c>, <c>application/xml</c>): pacs.008, pacs.002,
    /// pacs.004, camt.056, camt.029, camt.054 (with or without a head.001 header). A message re-delivered under a
    /// new key is still recognised by the payment (an identical pacs.008 appends nothing: <see cref="Payment.Changed"/> false).
    /// </summary>
    /// <param name="xml">The message, UTF-8.</param>
    /// <param name="idempotencyKey">Optional key of this logical call; default a new GUID.</param>
    /// <param name="cancellationToken">Cancels the call (and its retries).</param>
    /// <returns>The payment the message was about, or the report of a message about several or none.</returns>
    /// <exception cref="EscrowBadRequestException"><c>malformed_xml</c>, <c>unknown_message_type</c>, <c>missing_uetr</c>, a schema violation.</exception>
    /// <exception cref="EscrowNotFoundException">A status or return for an unknown payment.</exception>
    /// <exception cref="EscrowConflictException">The message conflicts with the payment's state (<c>uetr_conflict</c>, an invalid transition).</exception>
    public Task<PaymentMessageResult> ImportMessageAsync(string xml, string? idempotencyKey = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(xml);
        return _t.SendAsync(HttpMethod.Post, "payments/messages", new RawBody(Encoding.UTF8.GetBytes(xml), "application/xml"),
            idempotencyKey ?? Guid.NewGuid().ToString(), Repeat.Safe, cancellationToken, readText: static (response, text) =>
            {
                using var doc = JsonDocument.Parse(text);
                return doc.RootElement.TryGetProperty("uetr", out _)
                    ? new PaymentMessageResult(doc.RootElement.Deserialize<Payment>(Json), null)
                    : new PaymentMessageResult(null, doc.RootElement.Deserialize<ImportReport>(Json));
            });
    }

    /// <summary>Requests quotes from every FX provider of the institution for a currency pair (<c>POST /payments/quotes</c>, 201).</summary>
    /// <param name="request">Source and target currency, amount (major units of the source), optional UETR.</param>
    /// <param name="idempotencyKey">Optional key of this logical call; default a new GUID.</param>
    /// <param name="cancellationToken">Cancels the call (and its retries).</param>
    /// <returns>The payment with its <see cref="Payment.Quotes"/>.</returns>
    /// <exception cref="EscrowBadRequestException"><c>same_currency</c>, <c>unknown_currency</c>, <c>invalid_amount</c>, <c>invalid_uetr</c>.</exception>
    /// <exception cref="EscrowConflictException"><c>no_fxp_for_pair</c>, a UETR already in use.</exception>
    public Task<Payment> RequestQuotesAsync(QuoteRequest request, string? idempotencyKey = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return _t.CommandAsync<Payment>("payments/quotes", request, idempotencyKey, cancellationToken);
    }

    /// <summary>Selects one of the payment's quotes (<c>POST /payments/{uetr}/quote-selection</c>); refused once it expired.</summary>
    /// <param name="uetr">The payment.</param>
    /// <param name="quoteId">A <see cref="PaymentQuote.QuoteId"/>.</param>
    /// <param name="idempotencyKey">Optional key of this logical call; default a new GUID.</param>
    /// <param name="cancellationToken">Cancels the call (and its retries).</param>
    /// <returns>The payment with its <see cref="Payment.SelectedQuote"/>.</returns>
    /// <exception cref="EscrowNotFoundException">Unknown payment or quote.</exception>
    /// <exception cref="EscrowConflictException">The quote expired, or the state does not allow it.</exception>
    public Task<Payment> SelectQuoteAsync(string uetr, string quoteId, string? idempotencyKey = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(quoteId);
        return _t.CommandAsync<Payment>($"payments/{Seg(uetr, nameof(uetr))}/quote-selection", new SelectQuoteBody(quoteId), idempotencyKey, cancellationToken);
    }

    /// <summary>Resolves a proxy (phone, e-mail, IBAN…) to the creditor's account in the institution's directory (<c>POST /payments/{uetr}/proxy-resolution</c>). An unknown proxy is recorded as a failed resolution, not thrown.</summary>
    /// <param name="uetr">The payment (new or quoted).</param>
    /// <param name="proxyType">Proxy type, e.g. <c>MOBL</c>.</param>
    /// <param name="proxyValue">The alias.</param>
    /// <param name="idempotencyKey">Optional key of this logical call; default a new GUID.</param>
    /// <param name="cancellationToken">Cancels the call (and its retries).</param>
    /// <returns>The payment with <see cref="Payment.ResolvedCreditorAccount"/> or <see cref="Payment.ProxyFailureReason"/>.</returns>
    public Task<Payment> ResolveProxyAsync(string uetr, string proxyType, string proxyValue, string? idempotencyKey = null, CancellationToken cancellationToken = default) =>
        _t.CommandAsync<Payment>($"payments/{Seg(uetr, nameof(uetr))}/proxy-resolution", new ProxyResolutionBody(proxyType, proxyValue), idempotencyKey, cancellationToken);

    /// <summary>Initiates a payment from a customer account (<c>POST /payments/{uetr}/initiation</c>): writes a schema-valid pacs.008, holds the amount on the debtor's account, validates and forwards.</summary>
    /// <param name="uetr">The payment (a new UETR, or one quoted / resolved before).</param>
    /// <param name="request">Debtor account, amount, creditor (unless resolved from a proxy).</param>
    /// <param name="idempotencyKey">Optional key of this logical call; default a new GUID.</param>
    /// <param name="cancellationToken">Cancels the call (and its retries).</param>
    /// <returns>The payment, forwarded (or failed validation).</returns>
    /// <exception cref="EscrowBadRequestException"><c>missing_field</c> (no creditor), <c>invalid_amount</c>, <c>invalid_uetr</c>.</exception>
    /// <exception cref="EscrowNotFoundException"><c>account_not_found</c>: the debtor is not an open customer account of the institution in that currency.</exception>
    /// <exception cref="EscrowConflictException"><c>insufficient_funds</c> for the hold, or the state does not allow it.</exception>
    public Task<Payment> InitiateAsync(string uetr, InitiationRequest request, string? idempotencyKey = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return _t.CommandAsync<Payment>($"payments/{Seg(uetr, nameof(uetr))}/initiation", request, idempotencyKey, cancellationToken);
    }

    /// <summary>The payment now, or as of an instant (<c>GET /payments/{uetr}?at=</c>, replayed from its events).</summary>
    /// <param name="uetr">The payment.</param>
    /// <param name="at">The instant (sent as UTC), or null for now.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The payment.</returns>
    /// <exception cref="EscrowNotFoundException"><c>unknown_uetr</c>.</exception>
    public Task<Payment> GetAsync(string uetr, DateTimeOffset? at = null, CancellationToken cancellationToken = default) =>
        _t.GetAsync<Payment>($"payments/{Seg(uetr, nameof(uetr))}" + Query(("at", at)), cancellationToken);

    /// <summary>One page of the payment's event stream with metadata and hash chain (<c>GET /payments/{uetr}/events</c>).</summary>
    /// <param name="uetr">The payment.</param>
    /// <param name="afterVersion">Events after this version; null from the start.</param>
    /// <param name="limit">Events per page, 1–1000 (default 100).</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>Events in version order.</returns>
    /// <exception cref="EscrowNotFoundException"><c>unknown_uetr</c>.</exception>
    public Task<IReadOnlyList<StreamEvent>> GetEventsPageAsync(string uetr, long? afterVersion = null, int? limit = null, CancellationToken cancellationToken = default) =>
        _t.GetAsync<IReadOnlyList<StreamEvent>>($"payments/{Seg(uetr, nameof(uetr))}/events" + Query(("after", afterVersion), ("limit", limit)), cancellationToken);

    /// <summary>Every event of the payment's stream, in pages of <paramref name="pageSize"/>.</summary>
    /// <param name="uetr">The payment.</param>
    /// <param name="pageSize">Events per request, 1–1000.</param>
    /// <param name="cancellationToken">Cancels the enumeration.</param>
    /// <returns>The events in version order.</returns>
    public IAsyncEnumerable<StreamEvent> GetEventsAsync(string uetr, int pageSize = 100, CancellationToken cancellationToken = default) =>
        Pages.ByVersion((after, ct) => GetEventsPageAsync(uetr, after, pageSize, ct), pageSize, cancellationToken);

    /// <summary>One of the payment's messages as ISO 20022 XML (<c>GET /payments/{uetr}/messages/{definition}</c>): <c>pacs.008</c> once initiated, <c>pacs.002</c> once accepted or rejected, <c>camt.054</c> once settled.</summary>
    /// <param name="uetr">The payment.</param>
    /// <param name="definition"><c>pacs.008</c>, <c>pacs.002</c> or <c>camt.054</c>.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The XML text.</returns>
    /// <exception cref="EscrowNotFoundException"><c>unknown_uetr</c>, <c>message_not_available</c>.</exception>
    public Task<string> GetMessageAsync(string uetr, string definition, CancellationToken cancellationToken = default) =>
        _t.SendAsync(HttpMethod.Get, $"payments/{Seg(uetr, nameof(uetr))}/messages/{Seg(definition, nameof(definition))}", null, null, Repeat.Safe,
            cancellationToken, "application/xml", static (_, text) => text);

    /// <summary>Publishes an FX provider's rate for a currency pair (<c>POST /fxps/{fxpId}/rates</c>, 201). Deduplicated by the silo under the call's Idempotency-Key, so retried safely.</summary>
    /// <param name="fxpId">The provider (account-id syntax).</param>
    /// <param name="request">Pair, mid rate, spread, validity.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The published rate.</returns>
    /// <exception cref="EscrowBadRequestException"><c>invalid_rate</c>, <c>invalid_spread</c>, <c>invalid_validity</c>, <c>same_currency</c>.</exception>
    public Task<FxpRate> PublishFxpRateAsync(string fxpId, FxpRateRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return _t.CommandAsync<FxpRate>($"fxps/{Seg(fxpId, nameof(fxpId))}/rates", request, null, cancellationToken);
    }

    /// <summary>Current rates of the institution's FX providers (<c>GET /fxps/rates</c>).</summary>
    /// <param name="sourceCurrency">Only this source currency.</param>
    /// <param name="targetCurrency">Only this target currency.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The rates.</returns>
    public Task<IReadOnlyList<FxpRate>> ListFxpRatesAsync(string? sourceCurrency = null, string? targetCurrency = null, CancellationToken cancellationToken = default) =>
        _t.GetAsync<IReadOnlyList<FxpRate>>("fxps/rates" + Query(("source", sourceCurrency), ("target", targetCurrency)), cancellationToken);

    /// <summary>Registers a proxy in the institution's directory (<c>POST /proxies</c>, 201). Deduplicated by the silo under the call's Idempotency-Key, so retried safely.</summary>
    /// <param name="request">Proxy type and value, the creditor it names.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The entry.</returns>
    public Task<ProxyEntry> RegisterProxyAsync(ProxyRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return _t.CommandAsync<ProxyEntry>("proxies", request, null, cancellationToken);
    }

    /// <summary>Looks a proxy up in the institution's directory (<c>GET /proxies/{type}/{value}</c>).</summary>
    /// <param name="proxyType">Proxy type.</param>
    /// <param name="proxyValue">The alias.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The entry.</returns>
    /// <exception cref="EscrowNotFoundException"><c>proxy_not_found</c>.</exception>
    public Task<ProxyEntry> LookupProxyAsync(string proxyType, string proxyValue, CancellationToken cancellationToken = default) =>
        _t.GetAsync<ProxyEntry>($"proxies/{Seg(proxyType, nameof(proxyType))}/{Seg(proxyValue, nameof(proxyValue))}", cancellationToken);

    /// <summary>The payment's row of the read model <c>payment_status</c> (<c>GET /payments/{uetr}/status</c>; may trail by the projection lag).</summary>
    /// <param name="uetr">The payment.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The row.</returns>
    /// <exception cref="EscrowNotFoundException"><c>unknown_uetr</c>.</exception>
    public Task<PaymentStatusSummary> GetStatusAsync(string uetr, CancellationToken cancellationToken = default) =>
        _t.GetAsync<PaymentStatusSummary>($"payments/{Seg(uetr, nameof(uetr))}/status", cancellationToken);

    /// <summary>Every event of the payment in order (<c>GET /payments/{uetr}/timeline</c>, read model <c>payment_timeline</c>).</summary>
    /// <param name="uetr">The payment.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The entries by sequence.</returns>
    /// <exception cref="EscrowNotFoundException"><c>unknown_uetr</c>.</exception>
    public Task<IReadOnlyList<PaymentTimelineEntry>> GetTimelineAsync(string uetr, CancellationToken cancellationToken = default) =>
        _t.GetAsync<IReadOnlyList<PaymentTimelineEntry>>($"payments/{Seg(uetr, nameof(uetr))}/timeline", cancellationToken);

    /// <summary>Per-corridor statistics of the institution's payments (<c>GET /payments/corridors</c>).</summary>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>One row per corridor.</returns>
    public Task<IReadOnlyList<PaymentCorridorStats>> GetCorridorsAsync(CancellationToken cancellationToken = default) =>
        _t.GetAsync<IReadOnlyList<PaymentCorridorStats>>("payments/corridors", cancellationToken);

    /// <summary>One page of the institution's payments by UETR (<c>GET /payments</c>, read model <c>payment_status</c>).</summary>
    /// <param name="status">Only this status (e.g. <c>Completed</c>).</param>
    /// <param name="corridor">Only this corridor, <c>SRC-DST</c> (e.g. <c>USD-EUR</c>).</param>
    /// <param name="after">UETRs after this (the previous page's <see cref="PaymentPage.NextAfter"/>).</param>
    /// <param name="limit">Rows per page, 1–1000 (default 100).</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The page.</returns>
    /// <exception cref="EscrowBadRequestException"><c>invalid_status</c>, <c>invalid_corridor</c>, <c>invalid_limit</c>.</exception>
    public Task<PaymentPage> ListPageAsync(string? status = null, string? corridor = null, string? after = null, int? limit = null, CancellationToken cancellationToken = default) =>
        _t.GetAsync<PaymentPage>("payments" + Query(("status", status), ("corridor", corridor), ("after", after), ("limit", limit)), cancellationToken);

    /// <summary>Every payment (of <paramref name="status"/>, in <paramref name="corridor"/>), fetching pages as the enumeration proceeds.</summary>
    /// <param name="status">Only this status.</param>
    /// <param name="corridor">Only this corridor.</param>
    /// <param name="pageSize">Rows per request, 1–1000.</param>
    /// <param name="cancellationToken">Cancels the enumeration.</param>
    /// <returns>Payments by UETR.</returns>
    public async IAsyncEnumerable<PaymentStatusSummary> ListAsync(string? status = null, string? corridor = null, int pageSize = 100,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        string? after = null;
        while (true)
        {
            var page = await ListPageAsync(status, corridor, after, pageSize, cancellationToken).ConfigureAwait(false);
            foreach (var p in page.Payments) yield return p;
            if (page.NextAfter is not { } next) yield break;
            after = next;
        }
    }

    private sealed record SelectQuoteBody(string QuoteId);

    private sealed record ProxyResolutionBody(string ProxyType, string ProxyValue);
}
