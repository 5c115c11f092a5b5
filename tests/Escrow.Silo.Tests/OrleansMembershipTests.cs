using Escrow.Testing;

namespace Escrow.Silo.Tests;

/// <summary>
/// The Orleans ADO.NET membership on our migration's tables and stored statements: real silos join it, see each
/// other, and a cleanly stopped silo is recorded dead; a silo that joins later takes the next generation.
/// </summary>
public class OrleansMembershipTests : IClassFixture<PgDatabase>
{
    private readonly PgDatabase _db;
    public OrleansMembershipTests(PgDatabase db) => _db = db;

    // Orleans's SiloStatus numbers as the provider stores them.
    private const int Active = 3, Dead = 6;

    private Task<long> CountAsync(int status) =>
        _db.ScalarAsync<long>($"SELECT count(*) FROM orleans_membership WHERE deployment_id = 'escrow' AND status = {status}");

    [Fact]
    public async Task Two_silos_join_the_orleans_membership_table_and_a_stopped_silo_is_recorded_dead()
    {
        await using var cluster = new TestCluster(_db);
        var first = await cluster.StartSiloAsync();
        await cluster.StartSiloAsync();
        await TestCluster.WaitUntilAsync(async () => await CountAsync(Active) == 2, TimeSpan.FromSeconds(60), "two active silos in orleans_membership");
        // Two silos on one machine: distinct silo ports, each with its gateway registered; the version row counts every change.
        Assert.Equal(2, await _db.ScalarAsync<long>("SELECT count(DISTINCT port) FROM orleans_membership WHERE status = 3 AND proxy_port > 0"));
        Assert.True(await _db.ScalarAsync<int>("SELECT version FROM orleans_membership_version WHERE deployment_id = 'escrow'") >= 2);

        await cluster.StopAsync(first);
        await TestCluster.WaitUntilAsync(async () => await CountAsync(Dead) == 1 && await CountAsync(Active) == 1,
            TimeSpan.FromSeconds(60), "the stopped silo recorded dead, the other still active");

        await cluster.StartSiloAsync();
        await TestCluster.WaitUntilAsync(async () => await CountAsync(Active) == 2, TimeSpan.FromSeconds(60), "a new silo joins beside the survivor");
    }
}
