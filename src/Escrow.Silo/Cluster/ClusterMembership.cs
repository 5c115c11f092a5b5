using Npgsql;
using NpgsqlTypes;

namespace Escrow.Silo.Cluster;

/// <summary>
/// A silo's state as Orleans's membership table records it (<c>orleans_membership.status</c>, Orleans's
/// <c>SiloStatus</c>): <see cref="Joining"/> (created, joining), <see cref="Alive"/> (active), <see cref="Stopping"/>
/// (shutting down, stopping) and <see cref="Dead"/>. Orleans records a clean stop and a declared death alike: a silo
/// that stops, or that its runtime sees being killed, writes its own death; one that vanishes (kill -9, a lost machine)
/// is probed by the others, which vote it dead.
/// </summary>
public enum SiloStatus
{
    Alive,
    Dead,
    Joining,
    Stopping,
}

/// <summary>
/// One silo of the cluster: its Orleans membership row, the leases it leads (from pg_locks), and, for a silo alive now,
/// its load as it reports it when asked (<see cref="SiloLoadReport"/>).
/// </summary>
/// <param name="SiloId">The Orleans silo address, <c>{ip}:{port}@{generation}</c>: a restarted silo is a new member.</param>
/// <param name="Address">Its HTTP address when it was started with one (<c>--urls</c>), else its host name.</param>
/// <param name="Name">Its Orleans silo name.</param>
/// <param name="Status">See <see cref="SiloStatus"/>.</param>
/// <param name="StartedAt">Start (UTC), as the silo recorded it.</param>
/// <param name="LastBeat">Its last I-am-alive write to the table (UTC; Orleans writes one every 30 s by default: liveness
/// itself is decided by the silos probing each other, not by this time).</param>
/// <param name="Activations">Grain activations in its memory now (0 unless alive).</param>
/// <param name="Leases">The cluster's single-holder jobs it leads now: <c>projection:{name}</c>, <c>timer-firer</c>.</param>
/// <param name="CommandsPerSecond">Commands per second over its last 10 whole seconds (0 unless alive).</param>
/// <param name="RejectionsPerSecond">Rejected commands per second, same window.</param>
/// <param name="EventsPerSecond">Events appended per second, same window.</param>
/// <param name="Commands">Commands since it started.</param>
public sealed record SiloInfo(
    string SiloId, string Address, string Name, SiloStatus Status, DateTimeOffset StartedAt, DateTimeOffset LastBeat, int Activations,
    IReadOnlyList<string> Leases, double CommandsPerSecond = 0, double RejectionsPerSecond = 0, double EventsPerSecond = 0, long Commands = 0);

/// <summary>The cluster's members as Orleans's ADO.NET membership provider keeps them in <c>orleans_membership</c> (sql/019).</summary>
public static class ClusterMembership
{
    // Orleans's SiloStatus numbers as the provider stores them.
    private const int Created = 1, Joining = 2, Active = 3, ShuttingDown = 4, Stopping = 5;

    /// <summary>
    /// Every silo of cluster <paramref name="clusterId"/> not dead, or dead and last seen after <paramref name="since"/>,
    /// newest first, with the leases each holds now (without loads: see <see cref="ClusterView"/>).
    /// </summary>
    public static async Task<IReadOnlyList<SiloInfo>> ListAsync(NpgsqlDataSource dataSource, string clusterId, DateTimeOffset since, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(
            "SELECT address, port, generation, silo_name, host_name, status, start_time, i_am_alive_time " +
            "FROM orleans_membership WHERE deployment_id = $1 AND (status <> 6 OR i_am_alive_time >= $2) ORDER BY start_time DESC, port");
        cmd.Parameters.Add(new() { Value = clusterId });
        cmd.Parameters.Add(new() { Value = since.ToUniversalTime(), NpgsqlDbType = NpgsqlDbType.TimestampTz });
        var leases = (await Projections.ProjectionQueues.ListAsync(dataSource, ct).ConfigureAwait(false)).ToLookup(l => l.SiloId);
        var list = new List<SiloInfo>();
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false))
        {
            var id = $"{r.GetString(0)}:{r.GetInt32(1)}@{r.GetInt32(2)}";
            var name = r.GetString(3);
            var status = r.GetInt32(5) switch
            {
                Created or Joining => SiloStatus.Joining,
                Active => SiloStatus.Alive,
                ShuttingDown or Stopping => SiloStatus.Stopping,
                _ => SiloStatus.Dead,
            };
            list.Add(new SiloInfo(id, HttpAddressIn(name) ?? r.GetString(4), name, status, r.GetFieldValue<DateTimeOffset>(6), r.GetFieldValue<DateTimeOffset>(7),
                0, leases[id].Select(l => l.Lease).ToList()));
        }
        return list;
    }

    /// <summary>The silo name our silos take when started with an HTTP address: <c>{machine} {url}</c>.</summary>
    public static string SiloName(string url) => $"{Environment.MachineName} {url}";

    private static string? HttpAddressIn(string siloName) =>
        siloName.Split(' ') is [_, var url] && url.StartsWith("http", StringComparison.Ordinal) ? url : null;
}
