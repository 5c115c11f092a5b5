using Escrow.Silo.Cluster;
using Escrow.Testing;
using Microsoft.Extensions.Logging.Abstractions;

using SiloStatus = Escrow.Silo.Cluster.SiloStatus;

namespace Escrow.Silo.Tests;

/// <summary>The membership table: alive while beating, dead after missed beats, stopped on leave, new id on restart.</summary>
public class MembershipTests : IClassFixture<PgDatabase>
{
    private readonly PgDatabase _db;
    public MembershipTests(PgDatabase db) => _db = db;

    [Fact]
    public async Task Silos_are_alive_while_they_beat_dead_when_they_stop_beating_and_new_after_a_restart()
    {
        var clock = new ManualClock(new DateTimeOffset(2032, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var table = new MembershipTable(_db.DataSource);
        var options = new MembershipOptions { DeadAfter = TimeSpan.FromSeconds(10) };
        var activations = 3;
        var a = new SiloMembership(table, "http://127.0.0.1:7001", () => activations, clock, options, NullLogger.Instance);
        var b = new SiloMembership(table, "http://127.0.0.1:7002", () => 0, clock, options, NullLogger.Instance);
        await a.JoinAsync(default);
        await b.JoinAsync(default);

        clock.Advance(TimeSpan.FromSeconds(8));
        await a.BeatAsync(default);
        await b.BeatAsync(default);
        var window = TimeSpan.FromHours(1);
        var list = await table.ListAsync(clock.GetUtcNow(), options.DeadAfter, window, default);
        Assert.All(list.Where(s => s.SiloId == a.SiloId || s.SiloId == b.SiloId), s => Assert.Equal(SiloStatus.Alive, s.Status));
        Assert.Equal(3, list.Single(s => s.SiloId == a.SiloId).Activations);

        // b is killed (no leave); a keeps beating.
        clock.Advance(TimeSpan.FromSeconds(8));
        await a.BeatAsync(default);
        clock.Advance(TimeSpan.FromSeconds(5));
        await a.BeatAsync(default);
        list = await table.ListAsync(clock.GetUtcNow(), options.DeadAfter, window, default);
        Assert.Equal(SiloStatus.Alive, list.Single(s => s.SiloId == a.SiloId).Status);
        Assert.Equal(SiloStatus.Dead, list.Single(s => s.SiloId == b.SiloId).Status);

        // b restarts: a new member with a new id; the old row stays dead. a leaves cleanly.
        var b2 = new SiloMembership(table, "http://127.0.0.1:7002", () => 0, clock, options, NullLogger.Instance);
        await b2.JoinAsync(default);
        await a.LeaveAsync(default);
        list = await table.ListAsync(clock.GetUtcNow(), options.DeadAfter, window, default);
        Assert.NotEqual(b.SiloId, b2.SiloId);
        Assert.Equal(SiloStatus.Alive, list.Single(s => s.SiloId == b2.SiloId).Status);
        Assert.Equal(SiloStatus.Dead, list.Single(s => s.SiloId == b.SiloId).Status);
        Assert.Equal(SiloStatus.Stopped, list.Single(s => s.SiloId == a.SiloId).Status);

        // A stopped silo's late beat does not resurrect it.
        await a.BeatAsync(default);
        Assert.Equal(SiloStatus.Stopped, (await table.ListAsync(clock.GetUtcNow(), options.DeadAfter, window, default)).Single(s => s.SiloId == a.SiloId).Status);
    }

    [Fact]
    public async Task Running_silos_join_the_membership_table_and_a_clean_stop_is_recorded()
    {
        await using var db = new PgDatabase();
        await db.InitializeAsync();
        try
        {
            var first = new SiloFactory(db, runProjections: false);
            var second = new SiloFactory(db, runProjections: false);
            var root = first.RootClient();
            _ = second.RootClient();   // starts the second silo

            async Task<List<System.Text.Json.JsonElement>> SilosAsync() =>
                (await (await root.GetAsync("/silos")).JsonAsync()).EnumerateArray().ToList();
            var deadline = DateTime.UtcNow.AddSeconds(20);
            while ((await SilosAsync()).Count(s => s.GetProperty("status").GetString() == "Alive") < 2 && DateTime.UtcNow < deadline)
                await Task.Delay(50);
            Assert.Equal(2, (await SilosAsync()).Count(s => s.GetProperty("status").GetString() == "Alive"));

            await second.DisposeAsync();
            var silos = await SilosAsync();
            Assert.Single(silos, s => s.GetProperty("status").GetString() == "Stopped");
            Assert.Single(silos, s => s.GetProperty("status").GetString() == "Alive");

            var writer = await first.ClientForAsync();
            Assert.Equal(System.Net.HttpStatusCode.Forbidden, (await writer.GetAsync("/silos")).StatusCode);
            await first.DisposeAsync();
        }
        finally
        {
            await db.DisposeAsync();
        }
    }
}
