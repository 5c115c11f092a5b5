using Escrow.Domain.Accounts;
using Escrow.EventStore;
using Escrow.Projections;
using Escrow.Silo.Hosting;
using Escrow.Silo.Ledger;
using Escrow.Testing;

namespace Escrow.Silo.Tests;

/// <summary>The activation model: snapshots, idle deactivation, reload.</summary>
public class AggregateHostTests : IClassFixture<PgDatabase>
{
    private readonly PgDatabase _db;
    public AggregateHostTests(PgDatabase db) => _db = db;

    private LedgerService Ledger(int snapshotEvery, TimeProvider? clock = null, TimeSpan? idle = null) =>
        new(new AggregateHost<AccountState>(_db.Store, LedgerService.Definition,
            new AggregateHostOptions { SnapshotEvery = snapshotEvery, IdleTimeout = idle ?? TimeSpan.FromMinutes(5) },
            clock ?? TimeProvider.System), _db.Store, clock ?? TimeProvider.System);

    private static CommandContext Ctx() => new("default", "test", null, [], Guid.NewGuid());

    [Fact]
    public async Task State_loaded_from_a_snapshot_plus_tail_equals_state_folded_from_every_event()
    {
        var writer = Ledger(snapshotEvery: 7);
        var at = new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var a = "snap-" + Guid.NewGuid().ToString("N")[..8];
        var cash = "snapcash-" + Guid.NewGuid().ToString("N")[..8];
        Assert.True((await writer.ExecuteAsync(new OpenAccount(a, "o", "EUR", AccountKind.Customer, 100m, at), Ctx(), default)).Accepted);
        Assert.True((await writer.ExecuteAsync(new OpenAccount(cash, "o", "EUR", AccountKind.Internal, 0m, at), Ctx(), default)).Accepted);
        for (var i = 0; i < 60; i++)
        {
            var cmd = i % 3 == 2
                ? new Post($"p-{a}-{i}", a, cash, 4.5m, "EUR", PostingKind.Withdrawal, null, at.AddMinutes(i))
                : new Post($"p-{a}-{i}", cash, a, 3.25m, "EUR", PostingKind.Deposit, null, at.AddMinutes(i));
            Assert.True((await writer.ExecuteAsync(cmd, Ctx(), default)).Accepted);
        }
        var rev = await writer.ExecuteAsync(new ReversePosting(a, $"p-{a}-0", "rev-" + a, null, "test", at.AddHours(2)), Ctx(), default);
        Assert.True(rev.Accepted, rev.Body);

        var snap = await _db.Store.ReadSnapshotAsync(AccountStreams.StreamId(a), default);
        Assert.NotNull(snap);
        Assert.Equal(0, snap.Version % 7);
        Assert.True(snap.Version >= 56);

        var (withSnapshot, v1) = await Ledger(snapshotEvery: 7).Host.GetAsync(AccountStreams.StreamId(a), default);
        var (withoutSnapshot, v2) = await Ledger(snapshotEvery: 0).Host.GetAsync(AccountStreams.StreamId(a), default);
        var (replayed, v3) = await Ledger(snapshotEvery: 0).Host.ReplayAsync(AccountStreams.StreamId(a), null, default);
        Assert.Equal(62, v1);
        Assert.Equal(v1, v2);
        Assert.Equal(v1, v3);
        Assert.Equal(withoutSnapshot.Balance, withSnapshot.Balance);
        Assert.Equal(replayed.Balance, withSnapshot.Balance);
        Assert.Equal(withoutSnapshot with { ReversedPostings = [] }, withSnapshot with { ReversedPostings = [] });
        Assert.Equal(withoutSnapshot.ReversedPostings.Order(), withSnapshot.ReversedPostings.Order());
        Assert.Contains($"p-{a}-0", withSnapshot.ReversedPostings);
        Assert.Equal(40 * 3.25m - 20 * 4.5m - 3.25m, withSnapshot.Balance);

        // The snapshot's hash continues the chain: a new append from the snapshot-loaded activation verifies.
        var fromSnap = Ledger(snapshotEvery: 7);
        Assert.True((await fromSnap.ExecuteAsync(new Post($"p-{a}-x", cash, a, 1m, "EUR", PostingKind.Deposit, null, at.AddHours(3)), Ctx(), default)).Accepted);
        var broken = new List<BrokenLink>();
        await foreach (var b in ChainVerifier.VerifyAsync(_db.Store, null, default)) broken.Add(b);
        Assert.Empty(broken);
    }

    [Fact]
    public async Task Idle_activations_are_dropped_and_reload_correctly_on_next_use()
    {
        var clock = new ManualClock(new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var ledger = Ledger(50, clock, TimeSpan.FromMinutes(1));
        var a = "idle-" + Guid.NewGuid().ToString("N")[..8];
        var cash = "idlecash-" + Guid.NewGuid().ToString("N")[..8];
        await ledger.ExecuteAsync(new OpenAccount(a, "o", "EUR", AccountKind.Customer, 0m, clock.GetUtcNow()), Ctx(), default);
        await ledger.ExecuteAsync(new OpenAccount(cash, "o", "EUR", AccountKind.Internal, 0m, clock.GetUtcNow()), Ctx(), default);
        await ledger.ExecuteAsync(new Post("idle-p1-" + a, cash, a, 9m, "EUR", PostingKind.Deposit, null, clock.GetUtcNow()), Ctx(), default);
        Assert.Equal(2, ledger.Host.ActivationCount);

        clock.Advance(TimeSpan.FromSeconds(30));
        Assert.Equal(0, ledger.Host.DeactivateIdle());
        clock.Advance(TimeSpan.FromSeconds(31));
        Assert.Equal(2, ledger.Host.DeactivateIdle());
        Assert.Equal(0, ledger.Host.ActivationCount);

        var (s, v) = await ledger.Host.GetAsync(AccountStreams.StreamId(a), default);
        Assert.Equal(9m, s.Balance);
        Assert.Equal(2, v);
        Assert.Equal(1, ledger.Host.ActivationCount);
    }

    [Fact]
    public async Task Reading_an_unknown_id_keeps_no_activation_and_a_later_command_still_works()
    {
        var clock = new ManualClock(new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var ledger = Ledger(50, clock, TimeSpan.FromMinutes(1));
        for (var i = 0; i < 50; i++)
        {
            var (s, v) = await ledger.Host.GetAsync(AccountStreams.StreamId("ghost-" + Guid.NewGuid().ToString("N")), default);
            Assert.Equal(0, v);
            Assert.False(s.Exists);
        }
        Assert.Equal(0, ledger.Host.ActivationCount);

        var id = "late-" + Guid.NewGuid().ToString("N")[..8];
        var probe = ledger.Host.GetAsync(AccountStreams.StreamId(id), default);
        var open = ledger.ExecuteAsync(new OpenAccount(id, "o", "EUR", AccountKind.Customer, 0m, clock.GetUtcNow()), Ctx(), default);
        await probe;
        Assert.True((await open).Accepted);
        var (after, version) = await ledger.Host.GetAsync(AccountStreams.StreamId(id), default);
        Assert.True(after.Exists);
        Assert.Equal(1, version);
        Assert.Equal(1, ledger.Host.ActivationCount);
    }
}
