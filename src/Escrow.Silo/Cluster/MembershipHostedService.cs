using Microsoft.Extensions.DependencyInjection;
using Escrow.Silo.Http;
using Escrow.Domain.Accounts;
using Escrow.Silo.Hosting;
using Escrow.Silo.Tenancy;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Options;

namespace Escrow.Silo.Cluster;

/// <summary>
/// This silo's membership in the cluster: once the HTTP server listens, it joins the <c>silos</c> table
/// with a fresh id and its address, heartbeats with its activation count, and leaves on a clean stop.
/// </summary>
internal sealed class MembershipHostedService(
    MembershipTable table, IServer server, IHostApplicationLifetime lifetime,
    SiloIdentity identity, [FromKeyedServices(LedgerClock.Key)] TimeProvider clock, IOptions<SiloOptions> options, ILogger<MembershipHostedService> logger,
    Dashboard.EscrowMetrics metrics) : BackgroundService
{
    public SiloMembership? Membership { get; private set; }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var started = new TaskCompletionSource();
        using (lifetime.ApplicationStarted.Register(() => started.TrySetResult()))
        using (stoppingToken.Register(() => started.TrySetCanceled(stoppingToken)))
        {
            try { await started.Task.ConfigureAwait(false); }
            catch (OperationCanceledException) { return; }
        }
        var address = server.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault() ?? "in-process";
        var o = options.Value;
        int Activations() => metrics.Activations().Values.Sum();
        SiloLoad Load()
        {
            var (_, commands, rejections, events) = metrics.Window.Recent();
            return new SiloLoad(Activations(), commands, rejections, events, metrics.Window.TotalCommands);
        }
        Membership = new SiloMembership(table, $"{Environment.MachineName} {address}", Activations, clock,
            new MembershipOptions { BeatInterval = TimeSpan.FromMilliseconds(o.HeartbeatMilliseconds), DeadAfter = TimeSpan.FromSeconds(o.SiloDeadAfterSeconds) },
            logger, identity.Id, Load);
        await Membership.JoinAsync(stoppingToken).ConfigureAwait(false);
        // Record the clean stop as soon as the host starts stopping: that is before hosted services stop and
        // long before the container (and its data source) is disposed.
        using var leave = lifetime.ApplicationStopping.Register(() => _leaving = LeaveAsync(Membership));
        await Membership.RunAsync(stoppingToken).ConfigureAwait(false);
    }

    private Task? _leaving;

    private async Task LeaveAsync(SiloMembership m)
    {
        try
        {
            await m.LeaveAsync(CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is Npgsql.NpgsqlException or ObjectDisposedException or InvalidOperationException or TimeoutException)
        {
            // Best effort: a silo that cannot record its stop simply shows dead after the configured time.
            logger.LogWarning(ex, "silo {SiloId} could not record its clean stop; it will show dead", m.SiloId);
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        if (_leaving is { } leaving) await leaving.WaitAsync(cancellationToken).ConfigureAwait(false);
    }
}

/// <summary><c>GET /silos</c>: the cluster as the membership table sees it (root or auditor).</summary>
public static class ClusterEndpoints
{
    public static void MapCluster(this IEndpointRouteBuilder app) =>
        app.MapGet("/silos", async (MembershipTable table, [FromKeyedServices(LedgerClock.Key)] TimeProvider clock, IOptions<SiloOptions> options, CancellationToken ct) =>
            Results.Ok(await table.ListAsync(clock.GetUtcNow(), TimeSpan.FromSeconds(options.Value.SiloDeadAfterSeconds), TimeSpan.FromHours(1), ct)))
            .WithTags("Silo").RequireRoles(Role.Root, Role.Auditor).Produces<IReadOnlyList<SiloInfo>>()
            .Doc("listSilos", "The cluster's membership: every silo seen in the last hour with its status");
}
