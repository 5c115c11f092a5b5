using System.Diagnostics;
using Escrow.Grains;
using Escrow.Silo.Cluster;
using Escrow.Silo.Projections;
using Escrow.Testing;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Npgsql;
using Orleans.Configuration;
using Orleans.Serialization;
using Orleans.TestingHost;
using OrleansTestCluster = Orleans.TestingHost.TestCluster;

namespace Escrow.Silo.Tests;

/// <summary>Settings every silo of an <see cref="EscrowTestCluster"/> gets (the Escrow configuration section).</summary>
public sealed record EscrowTestClusterOptions
{
    public int ProjectionPollMilliseconds { get; init; } = 50;
    /// <summary>Whether the silos pull the event log's projection queues.</summary>
    public bool RunProjections { get; init; } = true;
    public int SnapshotEvery { get; init; } = 50;
}

/// <summary>
/// A cluster of real silos on <c>Microsoft.Orleans.TestingHost</c> over one throwaway database: the TestingHost starts,
/// stops and kills the silos and gives the tests an Orleans client (<see cref="Client"/>); membership is the real ADO.NET
/// clustering on PostgreSQL (<c>UseTestClusterMembership = false</c>), the transport real TCP. Each silo is our whole
/// silo (<see cref="EscrowSiloConfigurator"/>): the grains, the HTTP frontend on its own loopback port, the projection
/// runners and the timer firer. <see cref="CrashAsync"/> also ends the silo's database sessions at once, as when its
/// process dies.
/// </summary>
public sealed class EscrowTestCluster : IAsyncDisposable
{
    private readonly OrleansTestCluster _orleans;
    private readonly List<TestSilo> _silos = [];

    private EscrowTestCluster(PgDatabase db, OrleansTestCluster orleans)
    {
        Database = db;
        _orleans = orleans;
    }

    public PgDatabase Database { get; }

    /// <summary>An Orleans client of this cluster (it finds the gateways in the membership table).</summary>
    public IClusterClient Client => _orleans.Client;

    /// <summary>The Orleans cluster id: the <c>deployment_id</c> of this cluster's rows in <c>orleans_membership</c>.</summary>
    public string ClusterId => _orleans.Options.ClusterId;

    /// <summary>The Orleans service id of this cluster.</summary>
    public string ServiceId => _orleans.Options.ServiceId;

    /// <summary>Every silo started, in start order (stopped ones included).</summary>
    public IReadOnlyList<TestSilo> Silos => _silos;

    public IEnumerable<TestSilo> Running => _silos.Where(s => s.IsRunning);

    /// <summary>Starts <paramref name="silos"/> silos (at least one) and the cluster's client.</summary>
    public static async Task<EscrowTestCluster> StartAsync(PgDatabase db, int silos = 1, EscrowTestClusterOptions? options = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(silos, 1);
        var o = options ?? new EscrowTestClusterOptions();
        var builder = new TestClusterBuilder((short)silos);
        builder.Options.UseTestClusterMembership = false;
        builder.Options.ConnectionTransport = ConnectionTransportType.TcpSocket;
        builder.Options.ConfigureFileLogging = false;
        builder.Options.InitializeClientOnDeploy = true;
        builder.ConfigureHostConfiguration(c => c.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Escrow:ConnectionString"] = db.AppConnectionString,
            ["Escrow:OwnerConnectionString"] = "",
            ["Escrow:RootApiKey"] = SiloFactory.RootKey,
            ["Escrow:ProjectionPollMilliseconds"] = Str(o.ProjectionPollMilliseconds),
            ["Escrow:RunProjections"] = o.RunProjections.ToString(),
            ["Escrow:SnapshotEvery"] = Str(o.SnapshotEvery),
        }));
        builder.AddSiloBuilderConfigurator<EscrowSiloConfigurator>();
        builder.AddClientBuilderConfigurator<EscrowClientConfigurator>();
        var orleans = builder.Build();
        await orleans.DeployAsync();
        var cluster = new EscrowTestCluster(db, orleans);
        foreach (var handle in orleans.Silos) cluster.Add(handle);
        return cluster;
    }

    private TestSilo Add(SiloHandle handle)
    {
        var silo = new TestSilo(_silos.Count, (InProcessSiloHandle)handle);
        _silos.Add(silo);
        return silo;
    }

    /// <summary>Starts one more silo (new ports) and waits until it is active in the membership table.</summary>
    public async Task<TestSilo> StartSiloAsync()
    {
        var silo = Add(await _orleans.StartAdditionalSiloAsync(startAdditionalSiloOnNewPort: true));
        await WaitUntilAsync(async () => await Database.ScalarAsync<long>(
                $"SELECT count(*) FROM orleans_membership WHERE deployment_id = '{ClusterId}' AND port = {silo.Handle.SiloAddress.Endpoint.Port} " +
                $"AND generation = {silo.Handle.SiloAddress.Generation} AND status = 3") == 1,
            TimeSpan.FromSeconds(60), $"silo {silo.Index} did not become active in the membership table");
        return silo;
    }

    /// <summary>A clean stop through the TestingHost: the silo leaves the membership, its runners give their locks back.</summary>
    public async Task StopAsync(TestSilo silo)
    {
        silo.IsRunning = false;
        await _orleans.StopSiloAsync(silo.Handle);
        await silo.Handle.DisposeAsync();
    }

    /// <summary>
    /// A crash, as PostgreSQL and the other silos see a process that dies: the silo's data sources (the main pool and the
    /// append pool) are disposed, so it opens no new session (<see cref="TestSilo.CutOffAt"/>); every session it holds is
    /// terminated (pg_terminate_backend by its application_name; <see cref="TestSilo.CrashedAt"/> is when none is left),
    /// so an open transaction rolls back and its advisory locks end with the session; then the TestingHost kills the
    /// silo (<c>KillSiloAsync</c>: no graceful shutdown, nothing recorded in the membership table, so the survivors must
    /// declare it dead).
    /// </summary>
    public async Task CrashAsync(TestSilo silo)
    {
        silo.IsRunning = false;
        await silo.Services.GetRequiredService<NpgsqlDataSource>().DisposeAsync();
        await silo.Services.GetRequiredService<AppendPool>().DisposeAsync();
        silo.CutOffAt = DateTimeOffset.UtcNow;
        await TerminateSessionsAsync(silo);
        silo.CrashedAt = DateTimeOffset.UtcNow;
        await KillQuietlyAsync(silo);
    }

    /// <summary>A kill through the TestingHost alone (no graceful shutdown, no membership update).</summary>
    public async Task KillAsync(TestSilo silo)
    {
        silo.IsRunning = false;
        await KillQuietlyAsync(silo);
    }

    private async Task KillQuietlyAsync(TestSilo silo)
    {
        // A kill cancels every hosted service's stop at once; the host reports those cancellations, which are the point.
        try { await _orleans.KillSiloAsync(silo.Handle); }
        catch (Exception ex) when (ex is OperationCanceledException or AggregateException or ObjectDisposedException) { }
        try { await silo.Handle.DisposeAsync(); }
        catch (Exception ex) when (ex is OperationCanceledException or AggregateException or ObjectDisposedException) { }
    }

    private async Task TerminateSessionsAsync(TestSilo silo)
    {
        await using var admin = new NpgsqlConnection(Database.AdminConnectionString);
        await admin.OpenAsync();
        // A session being opened as the data source was disposed may appear just after: repeat until none is left.
        for (var i = 0; i < 50; i++)
        {
            await using var cmd = new NpgsqlCommand(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1 AND datname = $2", admin);
            cmd.Parameters.Add(new() { Value = silo.Identity.ApplicationName });
            cmd.Parameters.Add(new() { Value = Database.Name });
            if ((long)(await cmd.ExecuteScalarAsync())! == 0) return;
            await Task.Delay(20);
        }
    }

    /// <summary>The projection queues pulled right now by active silos (one row per pulled queue).</summary>
    public Task<IReadOnlyList<LeaseHolder>> LeasesAsync() => ProjectionQueues.ListAsync(Database.DataSource, default);

    /// <summary>Polls until every projection queue of this build is pulled by one of <paramref name="silos"/> (any, if null).</summary>
    public async Task WaitForLeasesAsync(TimeSpan timeout, IReadOnlyCollection<TestSilo>? silos = null)
    {
        IReadOnlyList<LeaseHolder> held = [];
        try
        {
            await WaitUntilAsync(async () =>
            {
                held = await LeasesAsync();
                return ProjectionQueues.Known.All(lease => held.Any(h => h.Lease == lease && (silos is null || silos.Any(s => s.Id == h.SiloId))));
            }, timeout, "not every projection queue was pulled");
        }
        catch (TimeoutException ex)
        {
            // Say who held what at the end (a queue whose owner the balancers disagree on, or a receiver that never started).
            throw new TimeoutException($"{ex.Message}; pulled: [{string.Join(", ", held.Select(h => $"{h.Lease} by {h.SiloId}"))}]; " +
                $"silos: [{string.Join(", ", Running.Select(s => s.Id))}]", ex);
        }
    }

    public static async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            if (clock.Elapsed > timeout) throw new TimeoutException($"{what} within {timeout.TotalSeconds:0.#} s");
            await Task.Delay(25);
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var s in _silos) s.DisposeClients();
        try { await _orleans.StopAllSilosAsync(); }
        catch (Exception ex) when (ex is OperationCanceledException or AggregateException or ObjectDisposedException or InvalidOperationException) { /* tearing down */ }
        await _orleans.DisposeAsync();
    }

    private static string Str(int v) => v.ToString(System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>
/// Makes a TestingHost silo our whole silo: the services and the HTTP frontend of <see cref="SiloHost"/> (Kestrel on a
/// free loopback port) and <see cref="OrleansHosting.AddEscrowSilo"/>, with the ports and cluster ids the TestingHost
/// chose. Failure detection is tightened so that a killed silo is declared dead within seconds.
/// </summary>
public sealed class EscrowSiloConfigurator : IHostConfigurator, ISiloConfigurator
{
    public void Configure(IHostBuilder hostBuilder)
    {
        hostBuilder.ConfigureAppConfiguration((context, config) => config.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Escrow:SiloPort"] = context.Configuration["Orleans:Endpoints:SiloPort"],
            ["Escrow:GatewayPort"] = context.Configuration["Orleans:Endpoints:GatewayPort"],
            ["Escrow:ClusterId"] = context.Configuration["Orleans:ClusterId"],
            ["Escrow:ServiceId"] = context.Configuration["Orleans:ServiceId"],
        }));
        hostBuilder.ConfigureServices((context, services) => SiloHost.AddEscrow(services, context.Configuration));
        hostBuilder.ConfigureWebHost(web => web.UseKestrel().UseUrls("http://127.0.0.1:0").Configure(SiloHost.UseEscrow));
    }

    public void Configure(ISiloBuilder siloBuilder)
    {
        siloBuilder.AddEscrowSilo();
        siloBuilder.Configure<ClusterMembershipOptions>(m =>
        {
            m.ProbeTimeout = TimeSpan.FromSeconds(1);
            m.NumMissedProbesLimit = 2;
            m.NumVotesForDeathDeclaration = 1;
            m.TableRefreshTimeout = TimeSpan.FromSeconds(1);
        });
    }
}

/// <summary>The cluster's Orleans client: gateways from the ADO.NET membership table, the domain types' serializer, the root key.</summary>
public sealed class EscrowClientConfigurator : IClientBuilderConfigurator
{
    public void Configure(IConfiguration configuration, IClientBuilder clientBuilder)
    {
        clientBuilder.Services.AddSerializer(serializer => serializer.AddEscrowDomainTypes());
        clientBuilder.UseAdoNetClustering(o =>
        {
            o.Invariant = OrleansHosting.Invariant;
            o.ConnectionString = configuration["Escrow:ConnectionString"];
        });
        // The silos check an external client's calls like HTTP requests (ClientCallCheck): the tests' client acts as the
        // operator, unless a test puts another key in the RequestContext for a call.
        clientBuilder.SendApiKey(SiloFactory.RootKey);
    }
}

/// <summary>One silo of an <see cref="EscrowTestCluster"/>: a TestingHost silo whose HTTP frontend listens on <see cref="BaseUrl"/>.</summary>
public sealed class TestSilo(int index, InProcessSiloHandle handle)
{
    private readonly List<HttpClient> _clients = [];

    public int Index { get; } = index;
    public InProcessSiloHandle Handle { get; } = handle;
    public IServiceProvider Services => Handle.ServiceProvider;
    public SiloIdentity Identity { get; } = handle.ServiceProvider.GetRequiredService<SiloIdentity>();
    /// <summary>The silo's id: its Orleans silo address, also in its database sessions' application_name.</summary>
    public string Id => Identity.SiloId;
    public string BaseUrl { get; } = handle.ServiceProvider.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
    public bool IsRunning { get; internal set; } = true;
    /// <summary>When a crash disposed its data sources: from then on it opens no session (an open one may still commit).</summary>
    public DateTimeOffset? CutOffAt { get; internal set; }
    /// <summary>When a crash had terminated every session of it: nothing of it reaches the database after this.</summary>
    public DateTimeOffset? CrashedAt { get; internal set; }

    /// <summary>An HTTP client of this silo sending <paramref name="key"/> (the root key by default).</summary>
    public HttpClient Client(string key = SiloFactory.RootKey)
    {
        var http = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { BaseAddress = new Uri(BaseUrl), Timeout = TimeSpan.FromSeconds(30) };
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
        _clients.Add(http);
        return http;
    }

    internal void DisposeClients()
    {
        foreach (var c in _clients) c.Dispose();
        _clients.Clear();
    }

    public override string ToString() => $"silo {Index} ({BaseUrl}, {Handle.SiloAddress})";
}
