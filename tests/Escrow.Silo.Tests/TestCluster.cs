using System.Diagnostics;
using Escrow.Silo.Cluster;
using Escrow.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Escrow.Silo.Tests;

/// <summary>Settings every silo of a <see cref="TestCluster"/> gets (the Escrow configuration section).</summary>
public sealed record TestClusterOptions
{
    public int HeartbeatMilliseconds { get; init; } = 200;
    public int SiloDeadAfterSeconds { get; init; } = 2;
    /// <summary>How often a non-leader tries to take a lease; the production default (2 s) unless a test needs otherwise.</summary>
    public int LeaderRetryMilliseconds { get; init; } = 2000;
    public int ProjectionPollMilliseconds { get; init; } = 50;
    public int TimerPollMilliseconds { get; init; } = 50;
}

/// <summary>
/// The Orleans TestingHost's role, built here: several real silos (each a full <see cref="SiloHost"/> with Kestrel
/// on its own loopback port, its own service provider, data source and membership id) in this test process, on
/// one throwaway database. Silos can be started at any time, stopped cleanly (they leave the membership table and
/// give their leases back) or crashed (<see cref="CrashAsync"/>: their database sessions end at once, as when a
/// process dies, and nothing is recorded), and new ones started.
/// </summary>
public sealed class TestCluster(PgDatabase db, TestClusterOptions? options = null) : IAsyncDisposable
{
    private readonly TestClusterOptions _options = options ?? new TestClusterOptions();
    private readonly List<TestSilo> _silos = [];

    public PgDatabase Database => db;

    /// <summary>Every silo started, in start order (stopped ones included).</summary>
    public IReadOnlyList<TestSilo> Silos => _silos;

    public IEnumerable<TestSilo> Running => _silos.Where(s => s.IsRunning);

    /// <summary>Starts a new silo on a free loopback port and waits until it has joined the membership table.</summary>
    public async Task<TestSilo> StartSiloAsync()
    {
        var index = _silos.Count;
        var settings = new Dictionary<string, string?>
        {
            ["Escrow:ConnectionString"] = db.AppConnectionString,
            ["Escrow:OwnerConnectionString"] = "",
            ["Escrow:SiloPort"] = "0",
            ["Escrow:GatewayPort"] = "0",
            ["Escrow:RootApiKey"] = SiloFactory.RootKey,
            ["Escrow:HeartbeatMilliseconds"] = Str(_options.HeartbeatMilliseconds),
            ["Escrow:SiloDeadAfterSeconds"] = Str(_options.SiloDeadAfterSeconds),
            ["Escrow:LeaderRetryMilliseconds"] = Str(_options.LeaderRetryMilliseconds),
            ["Escrow:ProjectionPollMilliseconds"] = Str(_options.ProjectionPollMilliseconds),
            ["Escrow:TimerPollMilliseconds"] = Str(_options.TimerPollMilliseconds),
            ["Logging:LogLevel:Default"] = "Warning",
            ["Logging:LogLevel:Orleans"] = "Error",
            // The crash test makes a silo's sessions fail on purpose; those warnings are expected.
            ["Logging:LogLevel:Escrow"] = "Error",
            ["Logging:LogLevel:Microsoft.AspNetCore.Diagnostics"] = "Critical",
        };
        var app = SiloHost.Build([], b =>
        {
            b.Configuration.AddInMemoryCollection(settings);
            b.WebHost.UseUrls("http://127.0.0.1:0");
        });
        await app.StartAsync();
        var silo = new TestSilo(index, app, app.Services.GetRequiredService<SiloIdentity>(), app.Urls.First());
        _silos.Add(silo);
        await WaitUntilAsync(async () => await db.ScalarAsync<long>($"SELECT count(*) FROM silos WHERE silo_id = '{silo.Id}'") == 1,
            TimeSpan.FromSeconds(30), $"silo {index} did not join the membership table");
        return silo;
    }

    /// <summary>A clean stop: the host stops (the silo records its leave, runners give their locks back) and is disposed.</summary>
    public async Task StopAsync(TestSilo silo)
    {
        silo.IsRunning = false;
        await silo.App.StopAsync(CancellationToken.None);
        await silo.App.DisposeAsync();
    }

    /// <summary>
    /// An abrupt stop, as PostgreSQL sees a process that dies: the silo's data sources (the main pool and the append
    /// pool) are disposed, so it opens no new session (<see cref="TestSilo.CutOffAt"/>), and every session it holds is
    /// terminated at once (pg_terminate_backend by its application_name; <see cref="TestSilo.CrashedAt"/> is when none is
    /// left), so an open transaction rolls back and its advisory locks end with the session — including the runners' and the firer's dedicated lock
    /// connections. Nothing records a leave: the membership row keeps its last beat and turns dead. Only then is the
    /// host torn down (its loops find the database gone and stop).
    /// </summary>
    public async Task CrashAsync(TestSilo silo)
    {
        silo.IsRunning = false;
        await silo.App.Services.GetRequiredService<NpgsqlDataSource>().DisposeAsync();
        await silo.App.Services.GetRequiredService<AppendPool>().DisposeAsync();
        silo.CutOffAt = DateTimeOffset.UtcNow;
        await TerminateSessionsAsync(silo);
        silo.CrashedAt = DateTimeOffset.UtcNow;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try { await silo.App.StopAsync(timeout.Token); }
        catch (OperationCanceledException) { /* a loop did not notice within 10 s; the sessions are gone anyway */ }
        await silo.App.DisposeAsync();
    }

    private async Task TerminateSessionsAsync(TestSilo silo)
    {
        await using var admin = new NpgsqlConnection(db.AdminConnectionString);
        await admin.OpenAsync();
        // A session being opened as the data source was disposed may appear just after: repeat until none is left.
        for (var i = 0; i < 50; i++)
        {
            await using var cmd = new NpgsqlCommand(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1 AND datname = $2", admin);
            cmd.Parameters.Add(new() { Value = silo.Identity.ApplicationName });
            cmd.Parameters.Add(new() { Value = db.Name });
            if ((long)(await cmd.ExecuteScalarAsync())! == 0) return;
            await Task.Delay(20);
        }
    }

    /// <summary>The leases held right now (one row per held lease, by pg_locks).</summary>
    public Task<IReadOnlyList<LeaseHolder>> LeasesAsync() => ClusterLeases.ListAsync(db.DataSource, default);

    /// <summary>Which started silo holds <paramref name="lease"/> right now, or null.</summary>
    public async Task<TestSilo?> HolderAsync(string lease)
    {
        var holder = (await LeasesAsync()).FirstOrDefault(l => l.Lease == lease);
        return holder is null ? null : _silos.FirstOrDefault(s => s.Id == holder.SiloId);
    }

    /// <summary>Polls until every lease of this build is held by one of <paramref name="silos"/> (any, if null).</summary>
    public Task WaitForLeasesAsync(TimeSpan timeout, IReadOnlyCollection<TestSilo>? silos = null) =>
        WaitUntilAsync(async () =>
        {
            var held = await LeasesAsync();
            return ClusterLeases.Known.Values.All(lease => held.Any(h => h.Lease == lease && (silos is null || silos.Any(s => s.Id == h.SiloId))));
        }, timeout, "not every lease was taken");

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
        foreach (var s in _silos.Where(s => s.IsRunning).ToList())
        {
            try { await StopAsync(s); }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or InvalidOperationException) { /* tearing down */ }
        }
        foreach (var s in _silos) s.DisposeClients();
    }

    private static string Str(int v) => v.ToString(System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>One silo of a <see cref="TestCluster"/>: a real host on <see cref="BaseUrl"/>.</summary>
public sealed class TestSilo(int index, WebApplication app, SiloIdentity identity, string baseUrl)
{
    private readonly List<HttpClient> _clients = [];

    public int Index { get; } = index;
    public WebApplication App { get; } = app;
    public SiloIdentity Identity { get; } = identity;
    /// <summary>The silo's membership id (also its sessions' application_name).</summary>
    public Guid Id => Identity.Id;
    public string BaseUrl { get; } = baseUrl;
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

    public override string ToString() => $"silo {Index} ({BaseUrl}, {Id})";
}
