using Escrow.EventStore;
using Npgsql;
using NpgsqlTypes;

namespace Escrow.Silo.Payments;

/// <summary>
/// A rate an FX provider publishes for one currency pair. <see cref="Rate"/>: units of <see cref="TargetCurrency"/>
/// per unit of <see cref="SourceCurrency"/> (mid rate); <see cref="Spread"/>: the fraction taken off the mid rate for
/// the customer (0.002 = 0.2 %); a quote at this rate is selectable for <see cref="ValidFor"/>.
/// </summary>
public sealed record FxpRate(
    string Tenant, string FxpId, string SourceCurrency, string TargetCurrency, decimal Rate, decimal Spread, TimeSpan ValidFor,
    string PublishedBy, DateTimeOffset PublishedAt)
{
    /// <summary>The customer's rate: mid × (1 − spread), rounded half-to-even to 8 decimals.</summary>
    public decimal CustomerRate => Math.Round(Rate * (1 - Spread), 8, MidpointRounding.ToEven);
}

/// <summary>An entry of the proxy directory: an alias (phone, e-mail, IBAN) that names a creditor at a destination PSP.</summary>
public sealed record ProxyEntry(
    string Tenant, string ProxyType, string ProxyValue, string? CreditorName, string CreditorAccount, string CreditorAgent,
    string RegisteredBy, DateTimeOffset RegisteredAt);

/// <summary>
/// The reference data of payments (sql/010_payment_reference_data.sql): FX providers' rates and the proxy directory,
/// per institution. Insert-only; the newest row for a key wins.
/// </summary>
public sealed class PaymentDirectory(NpgsqlDataSource dataSource)
{
    /// <summary>The INSERT that publishes a rate (a new row; the newest per provider and pair wins), for a caller's batch.</summary>
    public static NpgsqlBatchCommand RateInsert(FxpRate r)
    {
        var cmd = new NpgsqlBatchCommand(
            """
            INSERT INTO fxp_rates (tenant, fxp_id, source_currency, target_currency, rate, spread, valid_seconds, published_by, published_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
            """);
        cmd.Parameters.Add(new() { Value = r.Tenant });
        cmd.Parameters.Add(new() { Value = r.FxpId });
        cmd.Parameters.Add(new() { Value = r.SourceCurrency });
        cmd.Parameters.Add(new() { Value = r.TargetCurrency });
        cmd.Parameters.Add(new() { Value = r.Rate });
        cmd.Parameters.Add(new() { Value = r.Spread });
        cmd.Parameters.Add(new() { Value = (int)r.ValidFor.TotalSeconds });
        cmd.Parameters.Add(new() { Value = r.PublishedBy });
        cmd.Parameters.Add(new() { Value = r.PublishedAt });
        return cmd;
    }

    /// <summary>Publishes a rate in its own transaction (see <see cref="RateInsert"/>).</summary>
    public async Task PublishRateAsync(FxpRate r, CancellationToken ct)
    {
        await OutcomeAwareWrites.ExecuteAsync(dataSource, batch => batch.BatchCommands.Add(RateInsert(r)), ct).ConfigureAwait(false);
    }

    /// <summary>The current rate of every FX provider of <paramref name="tenant"/> for the pair, by provider id; a pair filter of null lists all pairs.</summary>
    public async Task<IReadOnlyList<FxpRate>> RatesAsync(string tenant, string? source, string? target, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(
            """
            SELECT DISTINCT ON (source_currency, target_currency, fxp_id)
                   tenant, fxp_id, source_currency, target_currency, rate, spread, valid_seconds, published_by, published_at
            FROM fxp_rates
            WHERE tenant = $1 AND ($2::text IS NULL OR source_currency = $2) AND ($3::text IS NULL OR target_currency = $3)
            ORDER BY source_currency, target_currency, fxp_id, published_at DESC
            """);
        cmd.Parameters.Add(new() { Value = tenant });
        cmd.Parameters.Add(new() { Value = (object?)source ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
        cmd.Parameters.Add(new() { Value = (object?)target ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
        var list = new List<FxpRate>();
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false))
            list.Add(new FxpRate(r.GetString(0), r.GetString(1), r.GetString(2).Trim(), r.GetString(3).Trim(), r.GetDecimal(4), r.GetDecimal(5),
                TimeSpan.FromSeconds(r.GetInt32(6)), r.GetString(7), r.GetFieldValue<DateTimeOffset>(8)));
        return list;
    }

    /// <summary>The INSERT that registers (or re-points) a proxy: a new row; the newest per type and value wins. For a caller's batch.</summary>
    public static NpgsqlBatchCommand ProxyInsert(ProxyEntry p)
    {
        var cmd = new NpgsqlBatchCommand(
            """
            INSERT INTO proxy_directory (tenant, proxy_type, proxy_value, creditor_name, creditor_account, creditor_agent, registered_by, registered_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
            """);
        cmd.Parameters.Add(new() { Value = p.Tenant });
        cmd.Parameters.Add(new() { Value = p.ProxyType });
        cmd.Parameters.Add(new() { Value = p.ProxyValue });
        cmd.Parameters.Add(new() { Value = (object?)p.CreditorName ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
        cmd.Parameters.Add(new() { Value = p.CreditorAccount });
        cmd.Parameters.Add(new() { Value = p.CreditorAgent });
        cmd.Parameters.Add(new() { Value = p.RegisteredBy });
        cmd.Parameters.Add(new() { Value = p.RegisteredAt });
        return cmd;
    }

    /// <summary>Registers a proxy in its own transaction (see <see cref="ProxyInsert"/>).</summary>
    public async Task RegisterProxyAsync(ProxyEntry p, CancellationToken ct)
    {
        await OutcomeAwareWrites.ExecuteAsync(dataSource, batch => batch.BatchCommands.Add(ProxyInsert(p)), ct).ConfigureAwait(false);
    }

    /// <summary>The current entry for a proxy, or null when the directory has none.</summary>
    public async Task<ProxyEntry?> ResolveAsync(string tenant, string proxyType, string proxyValue, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(
            """
            SELECT tenant, proxy_type, proxy_value, creditor_name, creditor_account, creditor_agent, registered_by, registered_at
            FROM proxy_directory WHERE tenant = $1 AND proxy_type = $2 AND proxy_value = $3
            ORDER BY registered_at DESC LIMIT 1
            """);
        cmd.Parameters.Add(new() { Value = tenant });
        cmd.Parameters.Add(new() { Value = proxyType });
        cmd.Parameters.Add(new() { Value = proxyValue });
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        if (!await r.ReadAsync(ct).ConfigureAwait(false)) return null;
        return new ProxyEntry(r.GetString(0), r.GetString(1), r.GetString(2), r.IsDBNull(3) ? null : r.GetString(3), r.GetString(4), r.GetString(5),
            r.GetString(6), r.GetFieldValue<DateTimeOffset>(7));
    }
}
