using System.Security.Cryptography;
using System.Text;
using Escrow.Domain;
using Escrow.Domain.Accounts;
using Escrow.Grains;
using Escrow.Projections;
using Escrow.Silo.Grains;
using Escrow.Silo.Hosting;
using Escrow.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Escrow.Silo.Tests;

/// <summary>
/// <see cref="IAccountGrain"/> called through an Orleans client on a TestingHost silo over the PostgreSQL event-log provider: postings commit both legs in one
/// transaction, a race never debits past the floor, a lost race re-decides, retries replay, snapshots equal a replay.
/// </summary>
public sealed class AccountGrainTests(PgDatabase db) : IClassFixture<PgDatabase>, IAsyncLifetime
{
    private EscrowTestCluster _cluster = null!;
    private IGrainFactory _grains = null!;
    private static readonly DateTimeOffset T0 = new(2030, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public async Task InitializeAsync()
    {
        _cluster = await EscrowTestCluster.StartAsync(db, 1, new EscrowTestClusterOptions { RunProjections = false, SnapshotEvery = 7 });
        _grains = _cluster.Client;
    }

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    private static CommandCall Call(string? key = null, string body = "") =>
        new("default", "grain-test", key, SHA256.HashData(Encoding.UTF8.GetBytes(body)), Guid.NewGuid());

    private Task<CommandResult<AccountAnswer>> RunAsync(AccountCommand c, CommandCall? call = null) =>
        _grains.GetGrain<IAccountGrain>(GrainKeys.Of("default", AccountGrain.ExecutorOf(c))).Execute(c, call ?? Call(), false);

    private async Task<(string A, string Cash)> OpenPairAsync(decimal funds)
    {
        var p = Guid.NewGuid().ToString("N")[..8];
        string a = $"g-{p}", cash = $"gcash-{p}";
        Assert.True((await RunAsync(new OpenAccount(a, "o", "EUR", AccountKind.Customer, 0, T0))).Accepted);
        Assert.True((await RunAsync(new OpenAccount(cash, "o", "EUR", AccountKind.Internal, 0, T0))).Accepted);
        if (funds > 0)
            Assert.True((await RunAsync(new Post("seed-" + p, cash, a, funds, "EUR", PostingKind.Deposit, null, T0))).Accepted);
        return (a, cash);
    }

    /// <summary>
    /// Commits a posting straight to the event log, as a writer that bypasses the grains would (a repair script, an older
    /// silo): both legs decided on a replay of the log, appended with their expected versions and hash-chain heads.
    /// </summary>
    private async Task AppendBehindAsync(Post post)
    {
        var states = new Dictionary<string, AccountState>(StringComparer.Ordinal);
        var heads = new Dictionary<string, (long Version, byte[] Hash)>(StringComparer.Ordinal);
        foreach (var id in post.Streams)
        {
            var events = await db.Store.ReadStreamAsync(AccountStreams.StreamId("default", id), 0, default);
            states[id] = Account.Fold(id, events.Select(Escrow.EventStore.EventSerializer.Deserialize));
            heads[id] = (events[^1].Version, events[^1].Hash);
        }
        var decision = Account.Decide(states, post);
        Assert.Null(decision.Rejection);
        var meta = new Escrow.Silo.Grains.EventLog.EventMetadataTemplate(Guid.NewGuid(), null, "behind-the-back", "default", null);
        await db.Store.AppendAsync(decision.Events.GroupBy(e => e.StreamId).Select(g => new Escrow.EventStore.StreamAppend(
            AccountStreams.StreamId("default", g.Key), Account.StreamType, "default", Escrow.EventStore.ExpectedVersion.Exactly(heads[g.Key].Version),
            heads[g.Key].Hash, g.Select(e => meta.ToNew(e.Event, TimeProvider.System)).ToList())).ToList(), null, null, default);
    }

    [Fact]
    public async Task A_transfer_commits_both_legs_in_one_transaction_and_the_credited_grain_sees_it()
    {
        var (a, cash) = await OpenPairAsync(100m);
        var posted = await RunAsync(new Post("p1-" + a, a, cash, 30m, "EUR", PostingKind.Withdrawal, null, T0.AddMinutes(1)));
        Assert.True(posted.Accepted);
        Assert.True(posted.Created);
        Assert.Equal([70m, 30m - 100m], posted.View!.Posting!.Accounts.Select(x => x.Balance));
        // Both legs share one transaction id in the log.
        Assert.Equal(1, await db.ScalarAsync<long>($"SELECT count(DISTINCT transaction_id) FROM events WHERE data->>'postingId' = 'p1-{a}'"));
        Assert.Equal(2, await db.ScalarAsync<long>($"SELECT count(*) FROM events WHERE data->>'postingId' = 'p1-{a}'"));
        // The credited account's own grain decides its next posting on the credit leg another grain appended.
        var other = "h-" + a;   // ordinally above the cash account: the cash account's grain decides the posting
        Assert.True((await RunAsync(new OpenAccount(other, "o", "EUR", AccountKind.Customer, 0, T0))).Accepted);
        Assert.Equal(cash, AccountGrain.ExecutorOf(new Post("p2-" + a, cash, other, 5m, "EUR", PostingKind.Deposit, null, T0)));
        var back = await RunAsync(new Post("p2-" + a, cash, other, 5m, "EUR", PostingKind.Deposit, null, T0.AddMinutes(2)));
        Assert.True(back.Accepted, back.Rejection?.ToString());
        var s = await _grains.GetGrain<IAccountGrain>(GrainKeys.Of("default", cash)).GetState(false);
        Assert.Equal((-75m, 4L), (s.State.Balance, s.Version));
    }

    [Fact]
    public async Task Concurrent_withdrawals_never_go_below_the_floor()
    {
        var (a, cash) = await OpenPairAsync(50m);
        var results = await Task.WhenAll(Enumerable.Range(0, 120).Select(i =>
            RunAsync(new Post($"w{i}-{a}", a, cash, 1m, "EUR", PostingKind.Withdrawal, null, DateTimeOffset.MinValue))));
        Assert.Equal(50, results.Count(r => r.Accepted));
        Assert.All(results.Where(r => !r.Accepted), r => Assert.Equal(AccountRejectionCodes.InsufficientFunds, r.Rejection!.Code));
        Assert.Equal(0m, (await _grains.GetGrain<IAccountGrain>(GrainKeys.Of("default", a)).GetState(true)).State.Balance);
    }

    [Fact]
    public async Task A_retry_gets_the_first_answer_and_another_body_under_the_same_key_is_refused()
    {
        var (a, cash) = await OpenPairAsync(10m);
        var key = "k-" + Guid.NewGuid().ToString("N");
        var cmd = new Post("r-" + a, a, cash, 4m, "EUR", PostingKind.Withdrawal, null, T0.AddMinutes(1));
        var first = await RunAsync(cmd, Call(key, "withdraw 4"));
        var again = await RunAsync(cmd with { PostingId = "r2-" + a }, Call(key, "withdraw 4"));
        Assert.True(again.Replayed);
        Assert.Equal(first.View!.Posting!.PostingId, again.View!.Posting!.PostingId);
        Assert.Equal(201, CommandAnswers.Status(again));
        var other = await RunAsync(cmd with { PostingId = "r3-" + a, Amount = 5m }, Call(key, "withdraw 5"));
        Assert.Equal(StreamGrainCodes.IdempotencyKeyReused, other.Rejection?.Code);
        Assert.Equal(6m, (await _grains.GetGrain<IAccountGrain>(GrainKeys.Of("default", a)).GetState(true)).State.Balance);
    }

    [Fact]
    public async Task A_write_behind_the_grains_back_is_re_read_and_decided_again()
    {
        var (a, cash) = await OpenPairAsync(10m);
        await _grains.GetGrain<IAccountGrain>(GrainKeys.Of("default", a)).GetState(false);   // the grain caches version 2
        // A deposit appended straight to the log (as another writer would): the grain's next append loses and re-decides.
        await AppendBehindAsync(new Post("side-" + a, cash, a, 15m, "EUR", PostingKind.Deposit, null, T0.AddMinutes(1)));
        // Accepted on the stale view (10 ≥ 3): the append expects version 2, loses, re-reads, decides again on 25.
        var small = await RunAsync(new Post("small-" + a, a, cash, 3m, "EUR", PostingKind.Withdrawal, null, T0.AddMinutes(2)));
        Assert.True(small.Accepted, small.Rejection?.ToString());
        Assert.Equal(22m, small.View!.Posting!.Accounts[0].Balance);
        Assert.Equal(4, (await _grains.GetGrain<IAccountGrain>(GrainKeys.Of("default", a)).GetState(false)).Version);
        // A second side write, then a debit the stale view would refuse: refused only after a re-read, so accepted.
        await AppendBehindAsync(new Post("side2-" + a, cash, a, 15m, "EUR", PostingKind.Deposit, null, T0.AddMinutes(3)));
        var spent = await RunAsync(new Post("big-" + a, a, cash, 30m, "EUR", PostingKind.Withdrawal, null, T0.AddMinutes(4)));
        Assert.True(spent.Accepted, spent.Rejection?.ToString());
        Assert.Equal(7m, spent.View!.Posting!.Accounts[0].Balance);
    }

    [Fact]
    public async Task State_from_a_snapshot_plus_tail_equals_a_replay_of_every_event()
    {
        var (a, cash) = await OpenPairAsync(0m);
        for (var i = 0; i < 30; i++)
            Assert.True((await RunAsync(new Post($"s{i}-{a}", cash, a, 1.25m, "EUR", PostingKind.Deposit, null, T0.AddMinutes(i)))).Accepted);
        var snap = await db.Store.ReadSnapshotAsync(AccountStreams.StreamId("default", a), default);
        Assert.NotNull(snap);
        Assert.Equal(28, snap.Version);   // every 7 events: the grain wrote it in the append's transaction
        var live = await _grains.GetGrain<IAccountGrain>(GrainKeys.Of("default", a)).GetState(true);
        var replayed = Account.Fold(a, (await db.Store.ReadStreamAsync(AccountStreams.StreamId("default", a), 0, default)).Select(Escrow.EventStore.EventSerializer.Deserialize));
        Assert.Equal((31L, 37.5m), (live.Version, live.State.Balance));
        Assert.Equal(replayed.Balance, live.State.Balance);
        Assert.Equal(replayed.PostingCount, live.State.PostingCount);
    }

    [Fact]
    public async Task Postings_from_many_accounts_into_one_busy_account_are_all_accepted_and_counted_once()
    {
        var p = Guid.NewGuid().ToString("N")[..8];
        var hub = $"z-hub-{p}";   // sorts after every payer: each posting starts on its payer's grain
        Assert.True((await RunAsync(new OpenAccount(hub, "o", "EUR", AccountKind.Internal, 0, T0))).Accepted);
        var payers = Enumerable.Range(0, 30).Select(i => $"a-{i:00}-{p}").ToList();
        foreach (var payer in payers)
        {
            Assert.True((await RunAsync(new OpenAccount(payer, "o", "EUR", AccountKind.Internal, 0, T0))).Accepted);
            Assert.Equal(payer, AccountGrain.ExecutorOf(new Post("x", payer, hub, 1m, "EUR", PostingKind.Transfer, null, T0)));
        }
        // 150 postings at once into the hub's stream: each payer's grain has the hub's grain decide and commit, in the hub's turns.
        var results = await Task.WhenAll(payers.SelectMany(payer => Enumerable.Range(0, 5).Select(i =>
            RunAsync(new Post($"h{i}-{payer}", payer, hub, 2m, "EUR", PostingKind.Transfer, null, DateTimeOffset.MinValue)))));
        Assert.All(results, r => Assert.True(r.Accepted, r.Rejection?.ToString()));
        var h = await _grains.GetGrain<IAccountGrain>(GrainKeys.Of("default", hub)).GetState(true);
        Assert.Equal((300m, 151L), (h.State.Balance, h.Version));
        Assert.Equal(150, await db.ScalarAsync<long>($"SELECT count(*) FROM events WHERE stream_id = 'account-default/{hub}' AND event_type = 'AccountCredited'"));
    }

    [Fact]
    public async Task A_collected_activation_reloads_from_the_log_on_its_next_call()
    {
        var (a, cash) = await OpenPairAsync(9m);
        var before = await _grains.GetGrain<IAccountGrain>(GrainKeys.Of("default", a)).GetState(false);
        Assert.True(await ActivationsAsync(a) > 0);
        // Orleans's activation collector drops every activation idle for longer than the given age.
        await _grains.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        Assert.Equal(0, await ActivationsAsync(a));
        var after = await _grains.GetGrain<IAccountGrain>(GrainKeys.Of("default", a)).GetState(false);
        Assert.Equal((before.Version, before.State.Balance, before.Tenant), (after.Version, after.State.Balance, after.Tenant));
        Assert.Equal(Convert.ToHexString(before.LastHash), Convert.ToHexString(after.LastHash));
        var spent = await RunAsync(new Post("after-" + a, a, cash, 9m, "EUR", PostingKind.Withdrawal, null, T0.AddMinutes(5)));
        Assert.True(spent.Accepted, spent.Rejection?.ToString());
    }

    [Fact]
    public async Task Reading_unknown_ids_keeps_no_activation_and_a_later_open_still_works()
    {
        var ids = Enumerable.Range(0, 20).Select(_ => "ghost-" + Guid.NewGuid().ToString("N")[..12]).ToList();
        foreach (var id in ids)
        {
            var s = await _grains.GetGrain<IAccountGrain>(GrainKeys.Of("default", id)).GetState(true);
            Assert.Equal((0L, false), (s.Version, s.State.Exists));
        }
        // The empty activations are deactivated half a second after their read.
        for (var i = 0; i < 250 && (await Task.WhenAll(ids.Select(ActivationsAsync))).Sum() > 0; i++) await Task.Delay(20);
        Assert.Equal(0, (await Task.WhenAll(ids.Select(ActivationsAsync))).Sum());
        Assert.True((await RunAsync(new OpenAccount(ids[0], "o", "EUR", AccountKind.Customer, 0, T0))).Accepted);
        Assert.Equal(1, (await _grains.GetGrain<IAccountGrain>(GrainKeys.Of("default", ids[0])).GetState(true)).Version);
    }

    /// <summary>How many activations of the account's grain the cluster has (0 or 1).</summary>
    private async Task<int> ActivationsAsync(string accountId)
    {
        var stats = await _grains.GetGrain<IManagementGrain>(0).GetDetailedGrainStatistics();
        return stats.Count(s => s.GrainId.Key.ToString() == GrainKeys.Of("default", accountId));
    }
}
