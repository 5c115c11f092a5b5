using Escrow.EventStore;
using Escrow.Projections;
using Escrow.Silo.Cluster;
using Escrow.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace Escrow.Silo.Tests;

/// <summary>
/// The leases (session advisory locks) of the projection runner and the timer firer, held on pooled connections:
/// regression tests of the two ways a lease used to outlive or lose its leadership.
/// </summary>
public class LeaseTests : IClassFixture<PgDatabase>
{
    private readonly PgDatabase _db;
    public LeaseTests(PgDatabase db) => _db = db;

    private NpgsqlDataSource SiloDataSource() =>
        NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(_db.AppConnectionString) { ApplicationName = new SiloIdentity(SiloAddress.New(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 11111), Random.Shared.Next(1, int.MaxValue))).ApplicationName }.ConnectionString);

    private async Task<LeaseHolder?> HolderAsync(string lease) =>
        (await ClusterLeases.ListAsync(_db.DataSource, default)).FirstOrDefault(l => l.Lease == lease);

    [Fact]
    public async Task A_runner_that_stops_leading_gives_the_lock_back_although_its_pool_lives_on()
    {
        // The connection pool (the silo) stays alive: before the fix the lock stayed on the pooled idle connection
        // (Npgsql resets a pooled session only when it is handed out again), and no silo could take the lease.
        await using var ds = SiloDataSource();
        var runner = new ProjectionRunner(new PgEventStore(ds), new AccountBalancesProjection(),
            new ProjectionRunnerOptions { LeaderRetry = TimeSpan.FromMilliseconds(100), PollInterval = TimeSpan.FromMilliseconds(50) }, NullLogger.Instance);
        using var stop = new CancellationTokenSource();
        var running = runner.RunAsync(stop.Token);
        await EscrowTestCluster.WaitUntilAsync(() => Task.FromResult(runner.IsLeader), TimeSpan.FromSeconds(20), "no leadership");
        Assert.NotNull(await HolderAsync(ClusterLeases.Projection(AccountBalancesProjection.ProjectionName)));

        await stop.CancelAsync();
        await running;
        Assert.False(runner.IsLeader);
        Assert.Null(await HolderAsync(ClusterLeases.Projection(AccountBalancesProjection.ProjectionName)));
        await using var idle = ds.CreateCommand("SELECT 1");
        Assert.Equal(1, (int)(await idle.ExecuteScalarAsync())!);   // the pool is alive and usable
    }

    [Fact]
    public async Task A_runner_whose_lock_session_is_killed_takes_the_lease_again_instead_of_leading_without_it()
    {
        await using var ds = SiloDataSource();
        var runner = new ProjectionRunner(new PgEventStore(ds), new AccountBalancesProjection(),
            new ProjectionRunnerOptions { LeaderRetry = TimeSpan.FromMilliseconds(100), PollInterval = TimeSpan.FromMilliseconds(50) }, NullLogger.Instance);
        using var stop = new CancellationTokenSource();
        var running = runner.RunAsync(stop.Token);
        var lease = ClusterLeases.Projection(AccountBalancesProjection.ProjectionName);
        await EscrowTestCluster.WaitUntilAsync(async () => await HolderAsync(lease) is not null, TimeSpan.FromSeconds(20), "no leadership");
        var first = (await HolderAsync(lease))!;

        // The database ends the lock's session (a network cut, an administrator): the lock is gone with it. Before the
        // fix the runner did not notice (its batches use other connections) and went on as leader without the lock.
        await _db.ExecAsOwnerAsync($"SELECT pg_terminate_backend({first.BackendPid})");
        // The lock shows in pg_locks as soon as PostgreSQL grants it; the runner marks itself leader just after.
        await EscrowTestCluster.WaitUntilAsync(async () => await HolderAsync(lease) is { } h && h.BackendPid != first.BackendPid && runner.IsLeader,
            TimeSpan.FromSeconds(20), "the runner did not take its lease again");
        Assert.Equal(first.SiloId, (await HolderAsync(lease))!.SiloId);

        await stop.CancelAsync();
        await running;
    }
}
