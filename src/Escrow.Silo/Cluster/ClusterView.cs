using Escrow.Silo.Dashboard;
using Escrow.Silo.Http;
using Escrow.Silo.Tenancy;
using Microsoft.Extensions.Options;
using Npgsql;
using Orleans.Providers;

namespace Escrow.Silo.Cluster;

/// <summary>What one silo reports of itself when asked: its activations, its recent rates (per second, last 10 whole seconds) and its command total.</summary>
[GenerateSerializer, Immutable]
public sealed record SiloLoad(
    [property: Id(0)] string SiloId, [property: Id(1)] int Activations, [property: Id(2)] double CommandsPerSecond,
    [property: Id(3)] double RejectionsPerSecond, [property: Id(4)] double EventsPerSecond, [property: Id(5)] long Commands);

/// <summary>
/// This silo's load, answered to <c>IManagementGrain.SendControlCommandToProvider</c>: Orleans sends the command to every
/// active silo and gathers the answers, so no silo writes its load anywhere between requests.
/// </summary>
public sealed class SiloLoadReport(SiloIdentity identity, EscrowMetrics metrics) : IControllable
{
    /// <summary>The name it is registered under (a keyed <see cref="IControllable"/>).</summary>
    public const string Name = "escrow-load";

    public SiloLoad Current()
    {
        var (_, commands, rejections, events) = metrics.Window.Recent();
        return new SiloLoad(identity.SiloId, metrics.Activations().Values.Sum(), commands, rejections, events, metrics.Window.TotalCommands);
    }

    public Task<object?> ExecuteCommand(int command, object? arg) => Task.FromResult<object?>(Current());
}

/// <summary>The cluster as this silo sees it: Orleans's membership table, the leases, and every alive silo's load.</summary>
public sealed class ClusterView(
    NpgsqlDataSource dataSource, IOptions<SiloOptions> options, IGrainFactory grains, SiloIdentity identity, SiloLoadReport self, ILogger<ClusterView> logger)
{
    /// <summary>This silo's id (its Orleans silo address).</summary>
    public string SiloId => identity.SiloId;

    /// <summary>Every silo seen in the hour before <paramref name="now"/>, newest first; the alive ones with their load.</summary>
    public async Task<IReadOnlyList<SiloInfo>> ListAsync(DateTimeOffset now, CancellationToken ct)
    {
        var silos = await ClusterMembership.ListAsync(dataSource, options.Value.ClusterId, now - TimeSpan.FromHours(1), ct).ConfigureAwait(false);
        var loads = await LoadsAsync().ConfigureAwait(false);
        return silos.Select(s => s.Status == SiloStatus.Alive && loads.TryGetValue(s.SiloId, out var l)
            ? s with
            {
                Activations = l.Activations, CommandsPerSecond = Math.Round(l.CommandsPerSecond, 2), RejectionsPerSecond = Math.Round(l.RejectionsPerSecond, 2),
                EventsPerSecond = Math.Round(l.EventsPerSecond, 2), Commands = l.Commands,
            }
            : s).ToList();
    }

    private async Task<Dictionary<string, SiloLoad>> LoadsAsync()
    {
        var mine = self.Current();
        try
        {
            var answers = await grains.GetGrain<IManagementGrain>(0).SendControlCommandToProvider<SiloLoadReport>(SiloLoadReport.Name, 0)
                .WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
            var loads = answers.OfType<SiloLoad>().ToDictionary(l => l.SiloId, StringComparer.Ordinal);
            loads[mine.SiloId] = mine;
            return loads;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // A silo that is leaving (or an older one without the report) fails the whole gathering: the view then shows
            // this silo's load only, rather than no membership at all.
            logger.LogWarning(ex, "could not gather every silo's load");
            return new(StringComparer.Ordinal) { [mine.SiloId] = mine };
        }
    }
}

/// <summary><c>GET /silos</c>: the cluster as Orleans's membership table sees it (root or auditor).</summary>
public static class ClusterEndpoints
{
    public static void MapCluster(this IEndpointRouteBuilder app) =>
        app.MapGet("/silos", async (ClusterView view, [FromKeyedServices(LedgerClock.Key)] TimeProvider clock, CancellationToken ct) =>
            Results.Ok(await view.ListAsync(clock.GetUtcNow(), ct)))
            .WithTags("Silo").RequireRoles(Role.Root, Role.Auditor).Produces<IReadOnlyList<SiloInfo>>()
            .Doc("listSilos", "The cluster's membership (Orleans's table): every silo seen in the last hour, its status, leases and load");
}
