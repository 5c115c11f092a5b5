using System.Text.Json;
using Npgsql;
using NpgsqlTypes;

namespace Escrow.Projections;

/// <summary>
/// A payment as <c>payment_status</c> holds it (read model: it may trail the payment's stream by the projection
/// lag). Amounts in major units of their currency (ISO 4217); instants UTC; <see cref="DurationSeconds"/> is
/// <see cref="CompletedAt"/> − <see cref="InitiatedAt"/>.
/// </summary>
public sealed record PaymentStatusView(
    string Uetr, string Tenant, string Status, string? SourceAgent, string? DestinationAgent, string? SourceCurrency,
    string? DestinationCurrency, decimal? SourceAmount, decimal? DestinationAmount, decimal? Rate, string? QuoteId, string? FxpId,
    string? RejectionReason, decimal ReturnedAmount, DateTimeOffset? InitiatedAt, DateTimeOffset? SettledAt, DateTimeOffset? CompletedAt,
    decimal? DurationSeconds, long Version, DateTimeOffset UpdatedAt)
{
    public static PaymentStatusView From(PaymentStatusRow r) => new(
        r.Uetr, r.Tenant, r.Status, r.SourceAgent, r.DestinationAgent, r.SourceCurrency, r.DestinationCurrency, r.SourceAmount,
        r.DestinationAmount, r.Rate, r.QuoteId, r.FxpId, r.RejectionReason, r.ReturnedAmount, r.InitiatedAt, r.SettledAt, r.CompletedAt,
        r.DurationSeconds, r.Version, r.UpdatedAt);
}

/// <summary>
/// A page of payments in UETR order (then tenant); <see cref="NextAfter"/> is the <c>after</c> of the next page (null at
/// the end): the last UETR, followed by <c>/{tenant}</c> when the list spans every tenant (a UETR is unique per institution only).
/// </summary>
public sealed record PaymentPage(IReadOnlyList<PaymentStatusView> Payments, string? NextAfter);

/// <summary>A row of <c>payment_timeline</c>: <see cref="Sequence"/> is the event's version in the payment's stream.</summary>
public sealed record PaymentTimelineEntry(long Sequence, string EventType, string Status, DateTimeOffset OccurredAt, string Actor, JsonElement Details);

/// <summary>
/// Statistics of one corridor (source currency → destination currency, see <see cref="PaymentQueries.CorridorsAsync"/>).
/// <see cref="Settled"/>: settlement confirmed (pacs.002 ACSC/ACCC or later, returned ones included);
/// <see cref="Failed"/>: rejected, failed validation or proxy resolution; <see cref="InFlight"/>: neither yet.
/// <see cref="SuccessRate"/> = settled ÷ (settled + failed), null while none has an outcome. The percentiles are
/// PostgreSQL <c>percentile_cont</c> (linear interpolation) over the durations (initiated → completed, seconds) of
/// the <see cref="Completed"/> payments: settled and then completed (PaymentCompleted).
/// </summary>
public sealed record PaymentCorridorStats(
    string Corridor, string SourceCurrency, string DestinationCurrency, long Payments, long Settled, long Failed, long InFlight,
    long Returned, double? SuccessRate, long Completed, double? P50DurationSeconds, double? P95DurationSeconds);

/// <summary>
/// Queries over the payment read models. Rows are keyed by (tenant, UETR): a UETR is unique per institution, not
/// cluster-wide. In the list and the corridors <c>tenant</c> null means every tenant (root only).
/// </summary>
public static class PaymentQueries
{
    /// <summary>The row of <paramref name="tenant"/>'s payment <paramref name="uetr"/>, or null when the read model has none (unknown, or not projected yet).</summary>
    public static async Task<PaymentStatusRow?> StatusAsync(NpgsqlDataSource db, string tenant, string uetr, CancellationToken ct)
    {
        var cmd = db.CreateCommand($"SELECT {PaymentsProjection.SelectList} FROM payment_status WHERE tenant = $1 AND uetr = $2");
        await using var cmdScope = cmd.ConfigureAwait(false);
        cmd.Parameters.Add(new() { Value = tenant });
        cmd.Parameters.Add(new() { Value = uetr });
        var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        await using var rScope = r.ConfigureAwait(false);
        return await r.ReadAsync(ct).ConfigureAwait(false) ? PaymentsProjection.Read(r) : null;
    }

    /// <summary>The timeline of <paramref name="tenant"/>'s payment <paramref name="uetr"/> in sequence order (empty for an unknown UETR).</summary>
    public static async Task<List<PaymentTimelineEntry>> TimelineAsync(NpgsqlDataSource db, string tenant, string uetr, CancellationToken ct)
    {
        var cmd = db.CreateCommand(
            "SELECT sequence, event_type, status, occurred_at, actor, details::text FROM payment_timeline WHERE tenant = $1 AND uetr = $2 ORDER BY sequence");
        await using var cmdScope = cmd.ConfigureAwait(false);
        cmd.Parameters.Add(new() { Value = tenant });
        cmd.Parameters.Add(new() { Value = uetr });
        var list = new List<PaymentTimelineEntry>();
        var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        await using var rScope = r.ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false))
        {
            using var doc = JsonDocument.Parse(r.GetString(5));
            list.Add(new PaymentTimelineEntry(r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetFieldValue<DateTimeOffset>(3), r.GetString(4),
                doc.RootElement.Clone()));
        }
        return list;
    }

    /// <summary>
    /// Payments of <paramref name="tenant"/> (null: every tenant) in (UETR, tenant) order after <paramref name="after"/> (a
    /// <see cref="PaymentPage.NextAfter"/>: <c>uetr</c> or <c>uetr/tenant</c>), optionally of one <paramref name="status"/>
    /// (a <c>PaymentStatus</c> name) and one corridor (source and destination currency).
    /// </summary>
    public static async Task<PaymentPage> ListAsync(NpgsqlDataSource db, string? tenant, string? status, string? sourceCurrency,
        string? destinationCurrency, string? after, int limit, CancellationToken ct)
    {
        var cmd = db.CreateCommand(
            $"""
            SELECT {PaymentsProjection.SelectList} FROM payment_status
            WHERE ($1::text IS NULL OR tenant = $1) AND ($2::text IS NULL OR status = $2)
              AND ($3::text IS NULL OR source_currency = $3) AND ($4::text IS NULL OR destination_currency = $4)
              AND (uetr > $5 OR (uetr = $5 AND tenant > $6))
            ORDER BY uetr, tenant LIMIT $7
            """);
        await using var cmdScope = cmd.ConfigureAwait(false);
        cmd.Parameters.Add(new() { Value = (object?)tenant ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
        cmd.Parameters.Add(new() { Value = (object?)status ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
        cmd.Parameters.Add(new() { Value = (object?)sourceCurrency ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
        cmd.Parameters.Add(new() { Value = (object?)destinationCurrency ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
        // "uetr" alone continues after every tenant's row of that UETR (tenant > NULL is never true); "uetr/tenant" after that row.
        var cut = (after ?? "").Split('/', 2);
        cmd.Parameters.Add(new() { Value = cut[0] });
        cmd.Parameters.Add(new() { Value = cut.Length == 2 ? cut[1] : (object)DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
        cmd.Parameters.Add(new() { Value = limit + 1 });
        var rows = new List<PaymentStatusView>();
        var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        await using (r.ConfigureAwait(false))
            while (await r.ReadAsync(ct).ConfigureAwait(false))
                rows.Add(PaymentStatusView.From(PaymentsProjection.Read(r)));
        string? next = null;
        if (rows.Count > limit)
        {
            rows.RemoveAt(rows.Count - 1);
            next = tenant is null ? $"{rows[^1].Uetr}/{rows[^1].Tenant}" : rows[^1].Uetr;
        }
        return new PaymentPage(rows, next);
    }

    /// <summary>
    /// Per-corridor statistics of <paramref name="tenant"/>'s payments. A corridor is the pair (source currency,
    /// destination currency) of <c>payment_status</c>, named <c>SRC-DST</c> (<c>USD-EUR</c>; <c>USD-USD</c> without FX);
    /// payments with no currency yet (a proxy resolution only) belong to none. Computed on each call from
    /// <c>payment_status</c> (index <c>payment_status_by_tenant_corridor</c> covers it), so it is exactly as fresh as the projection.
    /// </summary>
    public static async Task<List<PaymentCorridorStats>> CorridorsAsync(NpgsqlDataSource db, string? tenant, CancellationToken ct)
    {
        var cmd = db.CreateCommand(
            """
            SELECT source_currency, destination_currency, count(*),
                   count(*) FILTER (WHERE settled_at IS NOT NULL),
                   count(*) FILTER (WHERE settled_at IS NULL AND completed_at IS NOT NULL),
                   count(*) FILTER (WHERE settled_at IS NULL AND completed_at IS NULL),
                   count(*) FILTER (WHERE returned_amount > 0),
                   count(duration_seconds) FILTER (WHERE settled_at IS NOT NULL),
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_seconds::float8) FILTER (WHERE settled_at IS NOT NULL),
                   percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_seconds::float8) FILTER (WHERE settled_at IS NOT NULL)
            FROM payment_status
            WHERE ($1::text IS NULL OR tenant = $1) AND source_currency IS NOT NULL AND destination_currency IS NOT NULL
            GROUP BY source_currency, destination_currency
            ORDER BY source_currency, destination_currency
            """);
        await using var cmdScope = cmd.ConfigureAwait(false);
        cmd.Parameters.Add(new() { Value = (object?)tenant ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
        var list = new List<PaymentCorridorStats>();
        var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        await using var rScope = r.ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false))
        {
            string src = r.GetString(0), dst = r.GetString(1);
            long settled = r.GetInt64(3), failed = r.GetInt64(4);
            list.Add(new PaymentCorridorStats($"{src}-{dst}", src, dst, r.GetInt64(2), settled, failed, r.GetInt64(5), r.GetInt64(6),
                settled + failed == 0 ? null : (double)settled / (settled + failed), r.GetInt64(7),
                r.IsDBNull(8) ? null : r.GetDouble(8), r.IsDBNull(9) ? null : r.GetDouble(9)));
        }
        return list;
    }
}
