using System.Diagnostics;
using System.Net;
using Escrow.Grains;
using Escrow.Testing;
using Xunit.Abstractions;

namespace Escrow.Silo.Tests;

/// <summary>
/// The Orleans ADO.NET membership on our migration's tables and stored statements: real silos join it, see each
/// other, and a cleanly stopped silo is recorded dead; a silo that joins later takes the next generation.
/// </summary>
[Trait("Tier", "Slow")]
public class OrleansMembershipTests : IClassFixture<PgDatabase>
{
    private readonly PgDatabase _db;
    private readonly ITestOutputHelper _output;
    private string _clusterId = "";
    public OrleansMembershipTests(PgDatabase db, ITestOutputHelper output) => (_db, _output) = (db, output);

    // Orleans's SiloStatus numbers as the provider stores them.
    private const int Active = 3, Dead = 6;

    private Task<long> CountAsync(int status) =>
        _db.ScalarAsync<long>($"SELECT count(*) FROM orleans_membership WHERE deployment_id = '{_clusterId}' AND status = {status}");

    [Fact]
    public async Task Two_silos_join_the_orleans_membership_table_and_a_stopped_silo_is_recorded_dead()
    {
        await using var cluster = await EscrowTestCluster.StartAsync(_db, 2);
        _clusterId = cluster.ClusterId;
        var first = cluster.Silos[0];
        await EscrowTestCluster.WaitUntilAsync(async () => await CountAsync(Active) == 2, TimeSpan.FromSeconds(60), "two active silos in orleans_membership");
        // Two silos on one machine: distinct silo ports, each with its gateway registered; the version row counts every change.
        Assert.Equal(2, await _db.ScalarAsync<long>("SELECT count(DISTINCT port) FROM orleans_membership WHERE status = 3 AND proxy_port > 0"));
        Assert.True(await _db.ScalarAsync<int>($"SELECT version FROM orleans_membership_version WHERE deployment_id = '{_clusterId}'") >= 2);

        await cluster.StopAsync(first);
        await EscrowTestCluster.WaitUntilAsync(async () => await CountAsync(Dead) == 1 && await CountAsync(Active) == 1,
            TimeSpan.FromSeconds(60), "the stopped silo recorded dead, the other still active");

        await cluster.StartSiloAsync();
        await EscrowTestCluster.WaitUntilAsync(async () => await CountAsync(Active) == 2, TimeSpan.FromSeconds(60), "a new silo joins beside the survivor");
    }

    [Fact]
    public async Task A_killed_silo_is_declared_dead_by_the_survivor_and_its_accounts_answer_there_with_their_state()
    {
        await using var cluster = await EscrowTestCluster.StartAsync(_db, 2, new EscrowTestClusterOptions { RunProjections = false });
        _clusterId = cluster.ClusterId;
        var (victim, survivor) = (cluster.Silos[0], cluster.Silos[1]);
        var keys = new SiloFactoryKeys(survivor.Client());
        var key = await keys.WriterKeyAsync();
        var http = survivor.Client(key);
        // Accounts opened through both silos, so that Orleans activates some of them on the silo about to die.
        var writers = new[] { victim.Client(key), http };
        var accounts = Enumerable.Range(0, 16).Select(i => $"kill-{i}-{Guid.NewGuid():N}"[..16]).ToList();
        foreach (var (a, i) in accounts.Select((a, i) => (a, i)))
        {
            Assert.Equal(HttpStatusCode.Created, (await writers[i % 2].OpenAsync(a)).StatusCode);
            Assert.Equal(HttpStatusCode.Created, (await writers[i % 2].DepositAsync(a, 10m + i)).StatusCode);
        }
        var management = cluster.Client.GetGrain<IManagementGrain>(0);
        var onVictim = new List<string>();
        foreach (var a in accounts)
            if (await management.GetActivationAddress(cluster.Client.GetGrain<IAccountGrain>(GrainKeys.Of(keys.Institution, a))) == victim.Handle.SiloAddress)
                onVictim.Add(a);
        Assert.NotEmpty(onVictim);

        var watch = Stopwatch.StartNew();
        await cluster.KillAsync(victim);
        // Every account answers again, through the survivor, with every acknowledged deposit.
        foreach (var a in accounts)
            Assert.Equal(10m + accounts.IndexOf(a), await http.BalanceAsync(a));
        var answered = watch.Elapsed;
        // The survivor declared the killed silo dead (a kill records nothing itself: the vote is the survivor's).
        await EscrowTestCluster.WaitUntilAsync(async () => await CountAsync(Dead) == 1, TimeSpan.FromSeconds(60), "the killed silo declared dead");
        Assert.Equal(1L, await _db.ScalarAsync<long>(
            $"SELECT count(*) FROM orleans_membership WHERE deployment_id = '{_clusterId}' AND status = {Dead} AND port = {victim.Handle.SiloAddress.Endpoint.Port} " +
            "AND coalesce(suspect_times, '') <> ''"));
        foreach (var a in onVictim)
            Assert.Equal(survivor.Handle.SiloAddress, await management.GetActivationAddress(cluster.Client.GetGrain<IAccountGrain>(GrainKeys.Of(keys.Institution, a))));
        // A write after the move decides on the recovered state.
        Assert.Equal(HttpStatusCode.Created, (await http.WithdrawAsync(onVictim[0], 10m + accounts.IndexOf(onVictim[0]))).StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, (await http.WithdrawAsync(onVictim[0], 1m)).StatusCode);
        _output.WriteLine($"{onVictim.Count} of {accounts.Count} accounts lived on the killed silo; all answered on the survivor " +
                          $"{answered.TotalMilliseconds:0} ms after the kill, declared dead after {watch.Elapsed.TotalMilliseconds:0} ms");
    }
}
