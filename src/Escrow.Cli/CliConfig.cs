using Escrow.Domain.Accounts;
using Escrow.EventStore;
using Escrow.Silo.Hosting;
using Escrow.Silo.Ledger;
using Npgsql;

namespace Escrow.Cli;

/// <summary>
/// Connection settings of the CLI: the same environment variables the silo reads
/// (<c>Escrow__ConnectionString</c> for the application role, <c>Escrow__OwnerConnectionString</c> for migrations).
/// </summary>
internal sealed record CliConfig(string ConnectionString, string? OwnerConnectionString)
{
    public static CliConfig FromEnvironment()
    {
        var app = Environment.GetEnvironmentVariable("Escrow__ConnectionString");
        if (string.IsNullOrWhiteSpace(app))
            throw new CliException("Escrow__ConnectionString is not set; deploy/run.sh shows the values for the local instance");
        return new CliConfig(app, Environment.GetEnvironmentVariable("Escrow__OwnerConnectionString"));
    }

    public string Owner => OwnerConnectionString
        ?? throw new CliException("Escrow__OwnerConnectionString is not set (migrations and rebuilds run as the schema owner)");

    public NpgsqlDataSource DataSource(string? connectionString = null) =>
        new NpgsqlDataSourceBuilder(connectionString ?? ConnectionString).Build();

    public static LedgerService Ledger(PgEventStore store, int snapshotEvery = 50) =>
        new(new AggregateHost<AccountState>(store, LedgerService.Definition,
            new AggregateHostOptions { SnapshotEvery = snapshotEvery, IdleTimeout = TimeSpan.FromMinutes(1) }, TimeProvider.System), store, TimeProvider.System);
}

/// <summary>An error the CLI reports in one line with exit code 2.</summary>
internal sealed class CliException(string message) : Exception(message);
