using Npgsql;

namespace Escrow.Silo.Deals;

/// <summary>
/// An institution's escrow product: deals made from it are in <see cref="Currency"/> (ISO 4217), between
/// <see cref="MinAmount"/> and <see cref="MaxAmount"/> (major units, inclusive), and expire after
/// <see cref="DefaultExpiry"/> unless the deal says otherwise. Every institution also has the built-in
/// <c>default</c> template: any currency, any amount, 7 days.
/// </summary>
public sealed record DealTemplate(
    string Tenant, string TemplateId, string Name, string Currency, decimal MinAmount, decimal MaxAmount,
    TimeSpan DefaultExpiry, bool RefundAtExpiry, string CreatedBy, DateTimeOffset CreatedAt);

/// <summary>The <c>deal_templates</c> table (sql/007_deal_templates.sql).</summary>
public sealed class DealTemplateStore(NpgsqlDataSource dataSource)
{
    public const string DefaultTemplateId = "default";

    /// <summary>
    /// The template rule of a new deal, decided before its grain sees it (from the HTTP frontend and from an Orleans client's
    /// call alike): <c>template_not_found</c>, <c>template_currency_mismatch</c>, <c>amount_out_of_range</c>, or null when the
    /// deal fits its template <paramref name="t"/> (or uses the default template, which has no limits).
    /// </summary>
    public static Domain.Rejection? Rule(string templateId, DealTemplate? t, string tenant, decimal amount, string currency) =>
        templateId == DefaultTemplateId ? null
        : t is null ? new("template_not_found", $"institution '{tenant}' has no deal template '{templateId}'")
        : t.Currency != currency ? new("template_currency_mismatch", $"template '{templateId}' makes {t.Currency} deals, the deal is in {currency}")
        : amount < t.MinAmount || amount > t.MaxAmount
            ? new("amount_out_of_range", $"template '{templateId}' allows {t.MinAmount}–{t.MaxAmount} {t.Currency}, the deal is {amount}")
        : null;
    public static readonly TimeSpan DefaultExpiry = TimeSpan.FromDays(7);

    /// <summary>
    /// The INSERT of a new template (with its <see cref="DealTemplate.CreatedAt"/>), for a caller's batch; fails with a unique
    /// violation on <c>deal_templates_pkey</c> when the institution already has one with that id.
    /// </summary>
    public static NpgsqlBatchCommand Insert(DealTemplate t)
    {
        var cmd = new NpgsqlBatchCommand(
            """
            INSERT INTO deal_templates (tenant, template_id, name, currency, min_amount, max_amount, default_expiry_seconds, refund_at_expiry, created_by, created_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
            """);
        cmd.Parameters.Add(new() { Value = t.Tenant });
        cmd.Parameters.Add(new() { Value = t.TemplateId });
        cmd.Parameters.Add(new() { Value = t.Name });
        cmd.Parameters.Add(new() { Value = t.Currency });
        cmd.Parameters.Add(new() { Value = t.MinAmount });
        cmd.Parameters.Add(new() { Value = t.MaxAmount });
        cmd.Parameters.Add(new() { Value = (long)t.DefaultExpiry.TotalSeconds });
        cmd.Parameters.Add(new() { Value = t.RefundAtExpiry });
        cmd.Parameters.Add(new() { Value = t.CreatedBy });
        cmd.Parameters.Add(new() { Value = t.CreatedAt });
        return cmd;
    }

    public async Task<DealTemplate?> GetAsync(string tenant, string templateId, CancellationToken ct) =>
        (await QueryAsync(tenant, templateId, ct).ConfigureAwait(false)).FirstOrDefault();

    public Task<IReadOnlyList<DealTemplate>> ListAsync(string? tenant, CancellationToken ct) => QueryAsync(tenant, null, ct);

    private async Task<IReadOnlyList<DealTemplate>> QueryAsync(string? tenant, string? templateId, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(
            """
            SELECT tenant, template_id, name, currency, min_amount, max_amount, default_expiry_seconds, refund_at_expiry, created_by, created_at
            FROM deal_templates WHERE ($1::text IS NULL OR tenant = $1) AND ($2::text IS NULL OR template_id = $2) ORDER BY tenant, template_id
            """);
        cmd.Parameters.Add(new() { Value = (object?)tenant ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
        cmd.Parameters.Add(new() { Value = (object?)templateId ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
        var list = new List<DealTemplate>();
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false))
            list.Add(new DealTemplate(r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetDecimal(4), r.GetDecimal(5),
                TimeSpan.FromSeconds(r.GetInt64(6)), r.GetBoolean(7), r.GetString(8), r.GetFieldValue<DateTimeOffset>(9)));
        return list;
    }
}
