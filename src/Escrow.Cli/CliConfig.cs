using Escrow.Silo;
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

    /// <summary>
    /// Starts a silo in this process that joins the cluster of the configured database (free Orleans ports, no projection
    /// runners, an HTTP port nobody is told about): commands and account reads of the CLI go through the grains like
    /// everyone else's. <paramref name="connectionString"/> overrides the application role's (the import's tuned one).
    /// </summary>
    public async Task<InProcessSilo> StartSiloAsync(CancellationToken ct, string? connectionString = null)
    {
        var silo = SiloHost.Build([
            "--urls", "http://127.0.0.1:0",
            $"--Escrow:ConnectionString={connectionString ?? ConnectionString}",
            "--Escrow:OwnerConnectionString=",
            "--Escrow:RunProjections=false",
            "--Escrow:SiloPort=0", "--Escrow:GatewayPort=0",
            // Named for what it is in the membership table (GET /silos, escrow silos): the CLI's silo on this machine.
            $"--Orleans:Name={Environment.MachineName} escrow-cli",
            $"--Escrow:RootApiKey={Silo.Tenancy.TenancyStore.NewSecret()}",
            "--Logging:LogLevel:Default=Warning", "--Logging:LogLevel:Orleans=Error",
        ]);
        await silo.StartAsync(ct).ConfigureAwait(false);
        return new InProcessSilo(silo);
    }
}

/// <summary>
/// The CLI's own silo: its services while the command runs; disposing it stops it gracefully first (its grains
/// deactivate and it leaves the membership table as dead), then releases it.
/// </summary>
internal sealed class InProcessSilo(WebApplication app) : IAsyncDisposable
{
    public IServiceProvider Services => app.Services;

    public async ValueTask DisposeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await app.StopAsync(timeout.Token).ConfigureAwait(false);
        await app.DisposeAsync().ConfigureAwait(false);
    }
}

/// <summary>An error the CLI reports in one line with exit code 2.</summary>
internal sealed class CliException(string message) : Exception(message);
