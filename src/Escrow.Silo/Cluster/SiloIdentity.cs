
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

