using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Options;
using Escrow.Grains;
using Escrow.Silo.Projections;
using Orleans.Configuration;
using Orleans.Serialization;

namespace Escrow.Silo.Cluster;

/// <summary>
/// The Orleans silo inside the web application: cluster and service ids, silo-to-silo and gateway endpoints, and
/// membership through <c>Microsoft.Orleans.Clustering.AdoNet</c> and reminders through <c>Microsoft.Orleans.Reminders.AdoNet</c> on
/// the event log's own PostgreSQL (invariant
/// <c>Npgsql</c>; tables and stored queries from <c>sql/019_orleans_clustering_reminders.sql</c>). Every setting is read
/// from <see cref="SiloOptions"/> when the silo starts, so tests and the CLI can set them like any other.
/// </summary>
public static class OrleansHosting
{
    /// <summary>The ADO.NET invariant name of Npgsql, as the Orleans ADO.NET providers expect it.</summary>
    public const string Invariant = "Npgsql";

    /// <summary>Hosts the Orleans silo in <paramref name="builder"/>'s application (one process: silo and HTTP frontend).</summary>
    public static void AddEscrowOrleans(this IHostApplicationBuilder builder) => builder.UseOrleans(silo => silo.AddEscrowSilo());

    /// <summary>
    /// Everything our silo adds to an Orleans silo builder: the serializer's domain types, the event-log
    /// log-consistency provider, ADO.NET membership, cluster ids, activation collection and endpoints, all from
    /// <see cref="SiloOptions"/>. The web application above uses it, and so does a TestingHost silo.
    /// </summary>
    public static ISiloBuilder AddEscrowSilo(this ISiloBuilder silo)
    {
        silo.Services.AddSerializer(serializer => serializer.AddEscrowDomainTypes());
        // The load report travels as the type argument of IManagementGrain's control command (ClusterView).
        silo.Services.Configure<Orleans.Serialization.Configuration.TypeManifestOptions>(o => o.AddAllowedType(typeof(SiloLoadReport)));
        // The grains' log-consistency provider: our event log (Grains/EventLog). The built-in registration supplies the
        // protocol services every journaled grain needs at activation; ours, registered after it, wins for the name.
        silo.AddCustomStorageBasedLogConsistencyProvider(Grains.EventLog.EventLogProvider.Name);
        silo.Services.AddKeyedSingleton<Orleans.EventSourcing.ILogViewAdaptorFactory, Grains.EventLog.EventLogProvider>(Grains.EventLog.EventLogProvider.Name);
        silo.UseAdoNetClustering((OptionsBuilder<AdoNetClusteringSiloOptions> clustering) =>
            clustering.Configure<IOptions<SiloOptions>>((c, o) =>
            {
                c.Invariant = Invariant;
                c.ConnectionString = o.Value.ConnectionString;
            }));
        // Deal expiry: reminders of the deal grains (Grains/DealGrain.cs), in orleans_reminders on the same PostgreSQL.
        silo.UseAdoNetReminderService((OptionsBuilder<AdoNetReminderTableOptions> reminders) =>
            reminders.Configure<IOptions<SiloOptions>>((r, o) =>
            {
                r.Invariant = Invariant;
                r.ConnectionString = o.Value.ConnectionString;
            }));
        // Projections: grains fed by a persistent stream provider whose queues are the event log (Projections/).
        silo.AddEventLogStreams();
        // Calls from Orleans clients outside the silos are checked like HTTP requests (their API key, role and institution).
        silo.AddIncomingGrainCallFilter<Tenancy.ClientCallCheck>();
        // Microsoft's Orleans Dashboard (Dashboard/OrleansDashboard.cs), unless Escrow:OrleansDashboard is false.
        Dashboard.OrleansDashboard.AddEscrowDashboard(silo);
        silo.Services.AddOptions<ClusterOptions>().Configure<IOptions<SiloOptions>>((c, o) =>
        {
            c.ClusterId = o.Value.ClusterId;
            c.ServiceId = o.Value.ServiceId;
        });
        // An idle grain is deactivated after IdleTimeoutSeconds (Orleans's activation collector; it must exceed the collector's quantum).
        silo.Services.AddOptions<GrainCollectionOptions>().Configure<IOptions<SiloOptions>>((g, o) =>
            g.CollectionAge = TimeSpan.FromSeconds(Math.Max(o.Value.IdleTimeoutSeconds, g.CollectionQuantum.TotalSeconds + 1)));
        // A silo started with an HTTP address is named "{machine} {url}" in the membership table, so that `escrow silos`
        // (which reads only the database) can say where each silo serves HTTP; otherwise Orleans's own name stays.
        silo.Services.AddOptions<Orleans.Configuration.SiloOptions>().Configure<IConfiguration>((o, configuration) =>
        {
            if (configuration["urls"]?.Split(';')[0] is { Length: > 0 } url && !url.EndsWith(":0", StringComparison.Ordinal))
                o.SiloName = ClusterMembership.SiloName(url);
        });
        silo.Services.AddSingleton<SiloEndpoints>();
        silo.Services.AddOptions<EndpointOptions>().Configure<SiloEndpoints>((e, endpoints) =>
        {
            e.AdvertisedIPAddress = endpoints.Address;
            e.SiloPort = endpoints.SiloPort;
            e.GatewayPort = endpoints.GatewayPort;
            // Listen on the advertised address only: several silos on one machine differ by port.
            e.SiloListeningEndpoint = new IPEndPoint(endpoints.Address, endpoints.SiloPort);
            e.GatewayListeningEndpoint = new IPEndPoint(endpoints.Address, endpoints.GatewayPort);
        });
        return silo;
    }
}

/// <summary>
/// This silo's Orleans endpoints, resolved once at start from <see cref="SiloOptions.AdvertisedAddress"/>,
/// <see cref="SiloOptions.SiloPort"/> and <see cref="SiloOptions.GatewayPort"/>; a port of 0 takes a free loopback port
/// (tests, the CLI's in-process silo).
/// </summary>
internal sealed class SiloEndpoints
{
    public SiloEndpoints(IOptions<SiloOptions> options)
    {
        var o = options.Value;
        Address = IPAddress.Parse(o.AdvertisedAddress);
        SiloPort = o.SiloPort == 0 ? FreePort(Address) : o.SiloPort;
        GatewayPort = o.GatewayPort == 0 ? FreePort(Address) : o.GatewayPort;
    }

    public IPAddress Address { get; }
    public int SiloPort { get; }
    public int GatewayPort { get; }

    private static int FreePort(IPAddress address)
    {
        using var listener = new TcpListener(address, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
