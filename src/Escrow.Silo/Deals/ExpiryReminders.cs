using Escrow.Grains;
using Escrow.Silo.Grains;
using Npgsql;
using NpgsqlTypes;

namespace Escrow.Silo.Deals;

/// <summary>A deal's expiry reminder as Orleans's ADO.NET reminder table holds it (<c>orleans_reminders</c>, migration 019).</summary>
/// <param name="Tenant">The deal's institution.</param>
/// <param name="DealId">The deal's id within it.</param>
/// <param name="FirstTick">When the reminder first ticks (UTC): the deal's expiry, or a step towards a far one.</param>
/// <param name="PeriodMilliseconds">How often it ticks again until the deal has expired or can no longer expire.</param>
public sealed record ExpiryReminderRow(string Tenant, string DealId, DateTimeOffset FirstTick, long PeriodMilliseconds);

/// <summary>
/// Reads the deals' expiry reminders (<see cref="DealGrain.ExpiryReminder"/>) for the dashboard and the metrics: the grain id
/// of a deal is <c>deal/{tenant}/{dealId}</c>. A reminder whose first tick has passed belongs to a deal whose expiry is due
/// and not yet decided (the tick removes the reminder once it is).
/// </summary>
public static class ExpiryReminders
{
    private const string Rows = """
        FROM orleans_reminders
        WHERE reminder_name = 'deal-expiry' AND grain_id LIKE 'deal/%'
          AND ($1::text IS NULL OR grain_id LIKE 'deal/' || $1 || '/%')
        """;

    /// <summary>Expiry reminders whose first tick is at or before <paramref name="now"/> (of one institution, or all when null).</summary>
    public static async Task<long> DueAsync(NpgsqlDataSource dataSource, DateTimeOffset now, string? tenant, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand($"SELECT count(*) {Rows} AND start_time <= $2");
        cmd.Parameters.Add(new() { Value = (object?)tenant ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
        cmd.Parameters.Add(new() { Value = now.ToUniversalTime(), NpgsqlDbType = NpgsqlDbType.TimestampTz });
        return (long)(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
    }

    /// <summary>The <paramref name="limit"/> next expiry reminders by first tick, and how many there are in all.</summary>
    public static async Task<(IReadOnlyList<ExpiryReminderRow> Next, long Pending)> NextAsync(NpgsqlDataSource dataSource, string? tenant, int limit, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand($"SELECT grain_id, start_time, period, count(*) OVER () {Rows} ORDER BY start_time, grain_id LIMIT $2");
        cmd.Parameters.Add(new() { Value = (object?)tenant ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
        cmd.Parameters.Add(new() { Value = limit });
        var rows = new List<ExpiryReminderRow>();
        long pending = 0;
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false))
        {
            var (t, id) = GrainKeys.Parse(r.GetString(0)["deal/".Length..]);
            rows.Add(new ExpiryReminderRow(t, id, r.GetFieldValue<DateTimeOffset>(1), r.GetInt64(2)));
            pending = r.GetInt64(3);
        }
        return (rows, pending);
    }
}
