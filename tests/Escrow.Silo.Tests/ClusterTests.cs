using Escrow.Grains;
using System.Net;
using Escrow.Silo.Ledger;
using Escrow.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Escrow.Silo.Tests;

/// <summary>Two TestingHost silos on one database (ADO.NET membership): Orleans routes each account to its one activation, and the expected-version check decides every race.</summary>
[Trait("Tier", "Slow")]
public class ClusterTests : IClassFixture<PgDatabase>
{
    private readonly PgDatabase _db;
    public ClusterTests(PgDatabase db) => _db = db;

    [Fact]
    public async Task Two_hundred_concurrent_withdrawals_through_two_silos_against_fifty_exactly_fifty_succeed()
    {
        await using var cluster = await EscrowTestCluster.StartAsync(_db, 2, new EscrowTestClusterOptions { RunProjections = true });
        var (silo1, silo2) = (cluster.Silos[0], cluster.Silos[1]);
        var keys = new SiloFactoryKeys(silo1.Client());
        var key = await keys.WriterKeyAsync();
        var c1 = silo1.Client(key);
        var c2 = silo2.Client(key);
        var account = "race-" + Guid.NewGuid().ToString("N")[..8];
        Assert.Equal(HttpStatusCode.Created, (await c1.OpenAsync(account)).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await c1.DepositAsync(account, 50m)).StatusCode);
        // Warm both activations so both silos hold a cached state that the other will invalidate.
        Assert.Equal(50m, await c2.BalanceAsync(account));

        using var gate = new SemaphoreSlim(0);
        var tasks = Enumerable.Range(0, 200).Select(i => Task.Run(async () =>
        {
            await gate.WaitAsync();
            var r = await (i % 2 == 0 ? c1 : c2).WithdrawAsync(account, 1m);
            return (r.StatusCode, Body: await r.Content.ReadAsStringAsync());
        })).ToArray();
        gate.Release(200);
        var results = await Task.WhenAll(tasks);

        Assert.Equal(50, results.Count(r => r.StatusCode == HttpStatusCode.Created));
        // Every other one is refused: for want of funds, or (rarely, after losing MaxConcurrencyRetries races in a row
        // to the other silo) as a concurrency conflict to retry. Neither moves money.
        Assert.Equal(150, results.Count(r => r.StatusCode == HttpStatusCode.Conflict &&
            (r.Body.Contains("insufficient_funds") || r.Body.Contains("concurrency_conflict"))));
        Assert.Equal(0m, await c1.BalanceAsync(account));
        Assert.Equal(0m, await c2.BalanceAsync(account));

        // Never negative at any version, and every currency sums to zero.
        await c1.WaitForProjectionsAsync();
        Assert.Equal(0L, await _db.ScalarAsync<long>($"SELECT count(*) FROM account_statement WHERE account_id = '{account}' AND balance_after < 0"));
        Assert.Equal(51L, await _db.ScalarAsync<long>($"SELECT count(*) FROM account_statement WHERE account_id = '{account}'"));
        var report = await LedgerVerifier.RunAsync(_db.Store, default);
        Assert.True(report.Ok, string.Join("\n", report.Lines));
        Assert.Contains(report.Lines, l => l.StartsWith("zero-sum EUR", StringComparison.Ordinal) && l.EndsWith("OK", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Opposite_transfers_between_two_accounts_never_deadlock_and_conserve_money()
    {
        await using var cluster = await EscrowTestCluster.StartAsync(_db, 2, new EscrowTestClusterOptions { RunProjections = false });
        var (silo1, silo2) = (cluster.Silos[0], cluster.Silos[1]);
        var keys = new SiloFactoryKeys(silo1.Client());
        var key = await keys.WriterKeyAsync();
        var c1 = silo1.Client(key);
        var c2 = silo2.Client(key);
        var a = "dl-a-" + Guid.NewGuid().ToString("N")[..8];
        var b = "dl-b-" + Guid.NewGuid().ToString("N")[..8];
        await c1.OpenAsync(a); await c1.OpenAsync(b);
        await c1.DepositAsync(a, 1000m); await c1.DepositAsync(b, 1000m);

        var tasks = Enumerable.Range(0, 120).Select(i =>
            i % 2 == 0 ? (i % 4 == 0 ? c1 : c2).TransferAsync(a, b, 3m) : (i % 4 == 1 ? c2 : c1).TransferAsync(b, a, 2m)).ToArray();
        var results = await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromSeconds(60));
        Assert.All(results, r => Assert.Equal(HttpStatusCode.Created, r.StatusCode));
        // The log holds every transfer once (a replay), and the grains hold what the log holds.
        var ledger = silo1.Services.GetRequiredService<LedgerService>();
        Assert.Equal((1000m - 60 * 3 + 60 * 2, 1000m + 60 * 3 - 60 * 2),
            ((await ledger.ReplayAsync(keys.Institution, a, null, default)).State.Balance, (await ledger.ReplayAsync(keys.Institution, b, null, default)).State.Balance));
        Assert.Equal(1000m - 60 * 3 + 60 * 2, await c1.BalanceAsync(a));
        Assert.Equal(1000m + 60 * 3 - 60 * 2, await c2.BalanceAsync(b));
    }

    [Fact]
    public async Task Both_silos_serve_an_account_through_its_one_activation_and_see_each_others_writes_at_once()
    {
        await using var cluster = await EscrowTestCluster.StartAsync(_db, 2, new EscrowTestClusterOptions { RunProjections = false });
        var (silo1, silo2) = (cluster.Silos[0], cluster.Silos[1]);
        var keys = new SiloFactoryKeys(silo1.Client());
        var key = await keys.WriterKeyAsync();
        var c1 = silo1.Client(key);
        var c2 = silo2.Client(key);
        var a = "one-" + Guid.NewGuid().ToString("N")[..8];
        await c1.OpenAsync(a);
        await c1.DepositAsync(a, 10m);
        Assert.Equal(10m, await c2.BalanceAsync(a));
        await c1.DepositAsync(a, 5m);
        // Silo 2's request reaches the same activation (Orleans routes by grain id): it decides on 15, not on a cached 10.
        Assert.Equal(HttpStatusCode.Created, (await c2.WithdrawAsync(a, 15m)).StatusCode);
        Assert.Equal(0m, await c1.BalanceAsync(a));
        Assert.Equal(HttpStatusCode.Conflict, (await c1.WithdrawAsync(a, 1m)).StatusCode);

        var stats = await cluster.Client.GetGrain<IManagementGrain>(0).GetDetailedGrainStatistics();
        Assert.Single(stats, s => s.GrainId.Key.ToString() == GrainKeys.Of(keys.Institution, a));
    }
}
