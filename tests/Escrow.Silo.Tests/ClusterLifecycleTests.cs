using System.Net;
using Escrow.EventStore;
using Escrow.Grains;
using Escrow.Testing;
using Xunit.Abstractions;

namespace Escrow.Silo.Tests;

/// <summary>How a cluster starts and how a silo leaves it: two silos started at once on an empty database, and a silo
/// stopped cleanly while commands stream through another.</summary>
[Trait("Tier", "Slow")]
public class ClusterLifecycleTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Two_silos_started_at_once_on_an_empty_database_migrate_once_join_and_serve()
    {
        await using var db = new PgDatabase { MigrateUpTo = "000" };   // not even the event log yet
        await db.InitializeAsync();
        var settings = new Dictionary<string, string> { ["Escrow:OwnerConnectionString"] = db.OwnerConnectionString };
        await using var first = new SiloFactory(db, settings: settings);
        await using var second = new SiloFactory(db, settings: settings);
        // Both hosts start at the same time: each migrates before its Orleans silo starts (the migrator's advisory lock
        // lets one apply, the other then finds nothing to do), and both join the ADO.NET membership the migration created.
        await Task.WhenAll(Task.Run(() => first.Server), Task.Run(() => second.Server));

        Assert.Equal(Migrator.Embedded().Count, await db.ScalarAsync<long>("SELECT count(*) FROM schema_migrations"));
        await EscrowTestCluster.WaitUntilAsync(async () => await db.ScalarAsync<long>("SELECT count(*) FROM orleans_membership WHERE status = 3") == 2,
            TimeSpan.FromSeconds(30), "both silos alive in the membership table");

        var institution = SiloFactory.NewInstitution();
        var one = await first.ClientForAsync(institution);
        var two = await second.ClientForAsync(institution);
        Assert.Equal(HttpStatusCode.Created, (await one.OpenAsync("start-a")).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await two.OpenAsync("start-b")).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await one.DepositAsync("start-a", 10m)).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await two.TransferAsync("start-a", "start-b", 4m)).StatusCode);
        Assert.Equal(4m, await one.BalanceAsync("start-b"));
        Assert.Equal(6m, await two.BalanceAsync("start-a"));
    }

    [Fact]
    public async Task A_silo_stopped_cleanly_under_load_hands_its_grains_over_without_a_failed_request()
    {
        await using var db = new PgDatabase();
        await db.InitializeAsync();
        await using var cluster = await EscrowTestCluster.StartAsync(db, 2, new EscrowTestClusterOptions { RunProjections = false });
        var (staying, leaving) = (cluster.Silos[0], cluster.Silos[1]);
        var keys = new SiloFactoryKeys(staying.Client());
        var key = await keys.WriterKeyAsync();
        var accounts = Enumerable.Range(0, 24).Select(i => $"stay-{i}-{Guid.NewGuid():N}"[..18]).ToArray();
        // Opened through both silos, so that Orleans places some of the accounts on the silo about to leave.
        foreach (var (a, i) in accounts.Select((a, i) => (a, i)))
        {
            var http = (i % 2 == 0 ? staying : leaving).Client(key);
            Assert.Equal(HttpStatusCode.Created, (await http.OpenAsync(a)).StatusCode);
            Assert.Equal(HttpStatusCode.Created, (await http.DepositAsync(a, 1000m)).StatusCode);
        }
        var management = cluster.Client.GetGrain<IManagementGrain>(0);
        var onLeaving = 0;
        foreach (var a in accounts)
            if (await management.GetActivationAddress(cluster.Client.GetGrain<IAccountGrain>(GrainKeys.Of(keys.Institution, a))) == leaving.Handle.SiloAddress)
                onLeaving++;
        Assert.True(onLeaving > 0, "no account lived on the silo that leaves");

        // Transfers through the staying silo only, each sent once: any failure is a failed request.
        var load = new TransferLoad([staying.Client(key)], accounts, "stay", attempts: 1);
        using var stop = new CancellationTokenSource();
        var running = load.RunAsync(workers: 6, stop.Token);
        await EscrowTestCluster.WaitUntilAsync(() => Task.FromResult(load.Acked.Count >= 100), TimeSpan.FromSeconds(60), "the load did not start");
        var beforeStop = load.Acked.Count;
        await cluster.StopAsync(leaving);
        await EscrowTestCluster.WaitUntilAsync(() => Task.FromResult(load.Acked.Count >= beforeStop + 200), TimeSpan.FromSeconds(60), "the load stalled after the stop");
        await stop.CancelAsync();
        await running;

        output.WriteLine($"{onLeaving} of {accounts.Length} accounts lived on the stopped silo; {load.Acked.Count} transfers acknowledged " +
                         $"({beforeStop} before the stop); {load.Summary}");
        Assert.Equal(0, load.Unresolved);
        Assert.Equal(0, load.Refused);
        Assert.Equal(accounts.Length * 1000m, (await Task.WhenAll(accounts.Select(a => staying.Client(key).BalanceAsync(a)))).Sum());
    }
}
