using Escrow.Domain;
using Escrow.Domain.Payments;
using Escrow.EventStore;
using Escrow.Projections;
using Escrow.Silo.Hosting;
using Escrow.Silo.Tenancy;

namespace Escrow.Silo.Http;

/// <summary>
/// The payments' read side over HTTP: <c>GET /payments</c>, <c>GET /payments/{uetr}/status</c>,
/// <c>GET /payments/{uetr}/timeline</c>, <c>GET /payments/corridors</c>, answered from the <c>payments</c> projection
/// (<c>payment_status</c>, <c>payment_timeline</c>), so they trail the payment streams by the projection lag
/// (<c>GET /projections</c>). A UETR is unique per institution (streams <c>payment-{institution}-{uetr}</c>), so a payment is
/// looked up in the caller's institution: writers and auditors their own (another institution's UETR answers 404
/// <c>unknown_uetr</c>, exactly like an unknown one, as <c>GET /payments/{uetr}</c> does); root in <c>X-Escrow-Tenant</c>
/// (default <c>default</c>). The list and the corridors of root span every tenant unless the header names one. Errors:
/// 400 <c>invalid_uetr</c> (not a lower-case UUIDv4), <c>invalid_status</c>, <c>invalid_corridor</c>, <c>invalid_limit</c>,
/// <c>invalid_institution_id</c> (a malformed tenant header).
/// </summary>
public static class PaymentQueryEndpoints
{
    public static void MapPaymentQueries(this IEndpointRouteBuilder app)
    {
        var payments = app.MapGroup("/payments").WithTags("Payments");

        payments.MapGet("/", async (string? status, string? corridor, string? after, int? limit, HttpContext http, PgEventStore store, CancellationToken ct) =>
        {
            var tenant = ReadTenant(http);
            var s = Status(status);
            var (source, destination) = Corridor(corridor);
            var n = limit is null ? 100 : limit is < 1 or > 1000 ? throw new BadRequestException("invalid_limit", "'limit' must be between 1 and 1000") : limit.Value;
            return Results.Ok(await PaymentQueries.ListAsync(store.DataSource, tenant, s, source, destination, after, n, ct));
        })
        .Doc("listPayments", "Payments of the caller's institution, by UETR, optionally of one status and one corridor",
             "Query: status (a PaymentStatus name such as Initiated, Accepted, Completed, Rejected, PartiallyReturned; " +
                         "PARTIALLY_RETURNED is accepted too), corridor (SRC-DST ISO 4217 codes, e.g. USD-EUR), after (the nextAfter of the " +
                         "previous page), limit (1-1000, default 100). From the read model payment_status.")
        .Produces<PaymentPage>().Problems(400);

        payments.MapGet("/corridors", async (HttpContext http, PgEventStore store, CancellationToken ct) =>
            Results.Ok(await PaymentQueries.CorridorsAsync(store.DataSource, ReadTenant(http), ct)))
        .Doc("getPaymentCorridors", "Per-corridor statistics: payments, settled, failed, in flight, success rate, p50/p95 duration in seconds",
             "A corridor is the pair (source currency, destination currency), named SRC-DST. Success rate = settled ÷ (settled + failed); " +
                         "the percentiles (percentile_cont) are over the initiated → completed durations of the completed payments.")
        .Produces<List<PaymentCorridorStats>>().Problems(400);

        payments.MapGet("/{uetr}/status", async (string uetr, HttpContext http, PgEventStore store, CancellationToken ct) =>
        {
            var id = Uetr(uetr);
            var row = await PaymentQueries.StatusAsync(store.DataSource, http.GetCaller().ActingTenant(http.Request), id, ct);
            return row is not null ? Results.Ok(PaymentStatusView.From(row)) : NotFound(id);
        })
        .Doc("getPaymentStatus", "The payment's row of payment_status: status, agents, currencies, amounts, rate, quote, FXP, times, duration")
        .Produces<PaymentStatusView>().Problems(400, 404);

        payments.MapGet("/{uetr}/timeline", async (string uetr, HttpContext http, PgEventStore store, CancellationToken ct) =>
        {
            var id = Uetr(uetr);
            var tenant = http.GetCaller().ActingTenant(http.Request);
            if (await PaymentQueries.StatusAsync(store.DataSource, tenant, id, ct) is null) return NotFound(id);
            return Results.Ok(await PaymentQueries.TimelineAsync(store.DataSource, tenant, id, ct));
        })
        .Doc("getPaymentTimeline", "Every event of the payment in order: sequence, event type, status after it, time, actor, details")
        .Produces<List<PaymentTimelineEntry>>().Problems(400, 404);
    }

    /// <summary>The tenant whose payments a query reads: the caller's institution; for root the tenant header, else every tenant (null).</summary>
    private static string? ReadTenant(HttpContext http)
    {
        var caller = http.GetCaller();
        if (!caller.IsRoot) return caller.Institution;
        var header = http.Request.Headers[Caller.TenantHeader].ToString();
        return header.Length == 0 ? null : Tenants.Id(header, Caller.TenantHeader);
    }

    /// <summary>A UETR as the streams are keyed (a lower-case UUIDv4, ISO 20022 UUIDv4Identifier); anything else is 400 <c>invalid_uetr</c>.</summary>
    private static string Uetr(string value) => PaymentReadModel.IsUetr(value)
        ? value
        : throw new BadRequestException(PaymentRejectionCodes.InvalidUetr, $"'{value}' is not a UETR (a lower-case UUIDv4, ISO 20022 UUIDv4Identifier)");

    private static string? Status(string? value)
    {
        if (string.IsNullOrEmpty(value)) return null;
        return Enum.TryParse<PaymentStatus>(value.Replace("_", "", StringComparison.Ordinal), ignoreCase: true, out var s)
               && s != PaymentStatus.None && Enum.IsDefined(s) && !value.Any(char.IsDigit)
            ? s.ToString()
            : throw new BadRequestException("invalid_status",
                $"'status' must be one of {string.Join(", ", Enum.GetNames<PaymentStatus>().Where(n => n != nameof(PaymentStatus.None)))}, got '{value}'");
    }

    private static (string? Source, string? Destination) Corridor(string? value)
    {
        if (string.IsNullOrEmpty(value)) return (null, null);
        var parts = value.ToUpperInvariant().Split('-');
        return parts.Length == 2 && Currency.TryParse(parts[0], out var s) && Currency.TryParse(parts[1], out var d)
            ? (s.Value.Code, d.Value.Code)
            : throw new BadRequestException("invalid_corridor", $"'corridor' must be two ISO 4217 codes as SRC-DST (e.g. USD-EUR), got '{value}'");
    }

    private static IResult NotFound(string uetr) => Results.Text(
        Problems.Serialize(Problems.Create(404, PaymentRejectionCodes.UnknownUetr, $"no payment with UETR {uetr}")), Problems.ContentType, statusCode: 404);
}
