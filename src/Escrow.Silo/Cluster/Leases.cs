using Escrow.Projections;
using Npgsql;

namespace Escrow.Silo.Cluster;

/// <summary>
/// This silo's identity in the cluster: <see cref="SiloId"/> is its Orleans silo address (<c>{ip}:{port}@{generation}</c>,
/// its row in <c>orleans_membership</c>; a restarted silo is a new member) and <see cref="ApplicationName"/> is the
/// PostgreSQL <c>application_name</c> of every session it opens, which is how the database (pg_stat_activity, pg_locks)
/// tells the silos apart.
/// </summary>
public sealed class SiloIdentity(SiloAddress address)
{
    /// <summary>Prefix of <see cref="ApplicationName"/>; followed by the silo id.</summary>
    public const string ApplicationNamePrefix = "escrow-silo ";

    public string SiloId { get; } = address.ToParsableString();

    /// <summary><c>escrow-silo {silo id}</c> (under PostgreSQL's 63-byte limit for an IPv4 or a short IPv6 address).</summary>
    public string ApplicationName => ApplicationNamePrefix + SiloId;

    /// <summary>The silo id in an <c>application_name</c> written by <see cref="ApplicationName"/>, or null.</summary>
    public static string? FromApplicationName(string? applicationName) =>
        applicationName is not null && applicationName.StartsWith(ApplicationNamePrefix, StringComparison.Ordinal)
            ? applicationName[ApplicationNamePrefix.Length..] : null;
}

/// <summary>One cluster-wide lease (a session advisory lock) and the silo session holding it right now.</summary>
/// <param name="Lease"><c>projection:{name}</c> or <c>timer-firer</c>.</param>
/// <param name="SiloId">The holder's Orleans silo address, from its session's application_name; null if held by something else.</param>
/// <param name="BackendPid">The PostgreSQL backend holding the lock.</param>
public sealed record LeaseHolder(string Lease, string? SiloId, int BackendPid);

/// <summary>
/// Who leads what: the cluster's single-holder jobs (one runner per projection) are session
/// advisory locks, so PostgreSQL's <c>pg_locks</c> is the truth about their holders — no table to keep in
/// step, and a dead holder's lock is gone as soon as its session is.
/// </summary>
public static class ClusterLeases
{
    /// <summary>Lease name of projection <paramref name="name"/>.</summary>
    public static string Projection(string name) => "projection:" + name;

    /// <summary>Every lease of this build with its advisory lock key.</summary>
    public static IReadOnlyDictionary<long, string> Known { get; } =
        ProjectionCatalog.All().ToDictionary(p => ProjectionRunner.LockKeyFor(p.Name), p => Projection(p.Name));

    /// <summary>
    /// The held leases in the connection's database, by name. A lease nobody holds (between a holder's death and
    /// the next silo's retry) is absent.
    /// </summary>
    public static async Task<IReadOnlyList<LeaseHolder>> ListAsync(NpgsqlDataSource dataSource, CancellationToken ct)
    {
        // A bigint advisory key shows in pg_locks as classid = high 32 bits, objid = low 32 bits, objsubid = 1.
        await using var cmd = dataSource.CreateCommand(
            """
            SELECT (l.classid::bigint << 32) | l.objid::bigint, a.application_name, l.pid
            FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
            WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
              AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
            """);
        var list = new List<LeaseHolder>();
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false))
        {
            if (!Known.TryGetValue(r.GetInt64(0), out var lease)) continue;
            list.Add(new LeaseHolder(lease, SiloIdentity.FromApplicationName(r.IsDBNull(1) ? null : r.GetString(1)), r.GetInt32(2)));
        }
        return list.OrderBy(l => l.Lease, StringComparer.Ordinal).ToList();
    }
}
