using Microsoft.Extensions.Options;
using Npgsql;

namespace Escrow.Silo.Projections;

/// <summary>
/// The sessions the queue receivers read the log with: the application role's connection string, like the silo's other
/// pools, with <c>plan_cache_mode=force_generic_plan</c>, because PostgreSQL re-planned the commit-order read (a row
/// comparison) on every call with a custom plan, about 0.2 ms each, while its generic plan is the same index scan. One
/// pool per silo, built when the first receiver reads and disposed with the silo.
/// </summary>
public sealed class LogReaders(IOptions<SiloOptions> options, Cluster.SiloIdentity identity) : IAsyncDisposable
{
    private readonly Lazy<NpgsqlDataSource> _dataSource = new(() =>
    {
        var cs = new NpgsqlConnectionStringBuilder(options.Value.ConnectionString) { MaxPoolSize = 8, ApplicationName = identity.ApplicationName };
        if (cs.MaxAutoPrepare == 0) cs.MaxAutoPrepare = 16;
        cs.Options = $"{cs.Options} -c plan_cache_mode=force_generic_plan".Trim();
        return NpgsqlDataSource.Create(cs);
    });

    public NpgsqlDataSource DataSource => _dataSource.Value;

    public ValueTask DisposeAsync() => _dataSource.IsValueCreated ? _dataSource.Value.DisposeAsync() : ValueTask.CompletedTask;
}
