using Microsoft.Extensions.Logging;
using Npgsql;
using NpgsqlTypes;

namespace Escrow.Silo.Cluster;

public enum SiloStatus
{
    Alive,
    Dead,
    Stopped,
}

/// <summary>
/// One silo as the membership table sees it. Times are UTC by the silos' injected clocks. <see cref="Leases"/>:
/// the cluster-wide jobs it leads right now (<c>projection:{name}</c>, <c>timer-firer</c>), from pg_locks.
/// <see cref="CommandsPerSecond"/>, <see cref="RejectionsPerSecond"/> and <see cref="EventsPerSecond"/>: the silo's last 10
/// whole seconds as of its last beat; <see cref="Commands"/>: commands since it started.
/// </summary>
public sealed record SiloInfo(
    Guid SiloId, string Address, string Version, DateTimeOffset StartedAt, DateTimeOffset LastBeat, int Activations,
    DateTimeOffset? StoppedAt, SiloStatus Status, IReadOnlyList<string> Leases,
    double CommandsPerSecond = 0, double RejectionsPerSecond = 0, double EventsPerSecond = 0, long Commands = 0);

/// <summary>What a silo reports with each heartbeat: activations, its recent rates (per second) and its command total.</summary>
public sealed record SiloLoad(int Activations, double CommandsPerSecond, double RejectionsPerSecond, double EventsPerSecond, long Commands);

/// <summary>The <c>silos</c> table (sql/006_membership.sql).</summary>
public sealed class MembershipTable(NpgsqlDataSource dataSource)
{
    /// <summary>
    /// Every silo seen in the last <paramref name="window"/>, newest first, with its status at <paramref name="now"/>:
    /// stopped (clean shutdown), dead (no beat for <paramref name="deadAfter"/>), or alive.
    /// </summary>
    public async Task<IReadOnlyList<SiloInfo>> ListAsync(DateTimeOffset now, TimeSpan deadAfter, TimeSpan window, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(
            "SELECT silo_id, address, version, started_at, last_beat, activations, stopped_at, commands_per_second, rejections_per_second, events_per_second, commands_total " +
            "FROM silos WHERE last_beat >= $1 ORDER BY started_at DESC, silo_id");
        cmd.Parameters.Add(new() { Value = (now - window).ToUniversalTime(), NpgsqlDbType = NpgsqlDbType.TimestampTz });
        var leases = (await ClusterLeases.ListAsync(dataSource, ct).ConfigureAwait(false)).ToLookup(l => l.SiloId);
        var list = new List<SiloInfo>();
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false))
        {
            var lastBeat = r.GetFieldValue<DateTimeOffset>(4);
            DateTimeOffset? stopped = r.IsDBNull(6) ? null : r.GetFieldValue<DateTimeOffset>(6);
            var status = stopped is not null ? SiloStatus.Stopped : now - lastBeat > deadAfter ? SiloStatus.Dead : SiloStatus.Alive;
            var id = r.GetGuid(0);
            list.Add(new SiloInfo(id, r.GetString(1), r.GetString(2), r.GetFieldValue<DateTimeOffset>(3), lastBeat, r.GetInt32(5), stopped, status,
                leases[id].Select(l => l.Lease).ToList(), r.GetDouble(7), r.GetDouble(8), r.GetDouble(9), r.GetInt64(10)));
        }
        return list;
    }

    internal async Task JoinAsync(Guid id, string address, string version, DateTimeOffset at, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand("INSERT INTO silos (silo_id, address, version, started_at, last_beat) VALUES ($1, $2, $3, $4, $4)");
        cmd.Parameters.Add(new() { Value = id });
        cmd.Parameters.Add(new() { Value = address });
        cmd.Parameters.Add(new() { Value = version });
        cmd.Parameters.Add(new() { Value = at.ToUniversalTime(), NpgsqlDbType = NpgsqlDbType.TimestampTz });
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    internal async Task BeatAsync(Guid id, SiloLoad load, DateTimeOffset at, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(
            "UPDATE silos SET last_beat = $2, activations = $3, commands_per_second = $4, rejections_per_second = $5, events_per_second = $6, commands_total = $7 " +
            "WHERE silo_id = $1 AND stopped_at IS NULL");
        cmd.Parameters.Add(new() { Value = id });
        cmd.Parameters.Add(new() { Value = at.ToUniversalTime(), NpgsqlDbType = NpgsqlDbType.TimestampTz });
        cmd.Parameters.Add(new() { Value = load.Activations });
        cmd.Parameters.Add(new() { Value = load.CommandsPerSecond });
        cmd.Parameters.Add(new() { Value = load.RejectionsPerSecond });
        cmd.Parameters.Add(new() { Value = load.EventsPerSecond });
        cmd.Parameters.Add(new() { Value = load.Commands });
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    internal async Task LeaveAsync(Guid id, DateTimeOffset at, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand("UPDATE silos SET stopped_at = $2, last_beat = $2 WHERE silo_id = $1");
        cmd.Parameters.Add(new() { Value = id });
        cmd.Parameters.Add(new() { Value = at.ToUniversalTime(), NpgsqlDbType = NpgsqlDbType.TimestampTz });
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }
}

public sealed record MembershipOptions
{
    public TimeSpan BeatInterval { get; init; } = TimeSpan.FromSeconds(2);
    /// <summary>A silo that misses beats for this long is shown dead.</summary>
    public TimeSpan DeadAfter { get; init; } = TimeSpan.FromSeconds(10);
}

/// <summary>
/// This silo's membership: joins with a fresh id (so a restarted process is a new member), beats with its
/// activation count (and, with <c>load</c>, its recent rates and command total), and leaves on a clean stop. A crashed silo
/// simply stops beating and turns dead.
/// </summary>
public sealed class SiloMembership(
    MembershipTable table, string address, Func<int> activations, TimeProvider clock, MembershipOptions options, ILogger logger, Guid? siloId = null,
    Func<SiloLoad>? load = null)
{
    /// <summary>This member's id: the process's <see cref="SiloIdentity.Id"/>, or a fresh UUIDv7.</summary>
    public Guid SiloId { get; } = siloId ?? Guid.CreateVersion7();
    public static string Version { get; } = typeof(SiloMembership).Assembly.GetName().Version?.ToString() ?? "0";

    public Task JoinAsync(CancellationToken ct) => table.JoinAsync(SiloId, address, Version, clock.GetUtcNow(), ct);

    public Task BeatAsync(CancellationToken ct) =>
        table.BeatAsync(SiloId, load?.Invoke() ?? new SiloLoad(activations(), 0, 0, 0, 0), clock.GetUtcNow(), ct);

    public Task LeaveAsync(CancellationToken ct) => table.LeaveAsync(SiloId, clock.GetUtcNow(), ct);

    /// <summary>Beats until cancelled; a failed beat is logged and retried at the next interval.</summary>
    public async Task RunAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(options.BeatInterval, clock, ct).ConfigureAwait(false);
                await BeatAsync(ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (NpgsqlException ex)
            {
                logger.LogWarning(ex, "silo {SiloId} missed a heartbeat", SiloId);
            }
        }
    }
}
