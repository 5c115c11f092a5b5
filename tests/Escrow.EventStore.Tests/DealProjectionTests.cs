using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Escrow.Domain;
using Escrow.Domain.Accounts;
using Escrow.Domain.Deals;
using Escrow.Projections;
using Escrow.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace Escrow.EventStore.Tests;

/// <summary>The <c>deals</c> projection: deal_status and deal_timeline from real deal decisions in the log.</summary>
public class DealProjectionTests : IClassFixture<PgDatabase>
{
    private readonly PgDatabase _db;
    public DealProjectionTests(PgDatabase db) => _db = db;

    private static readonly DateTimeOffset T0 = new(2030, 1, 10, 9, 0, 0, TimeSpan.Zero);

    /// <summary>Just enough of a host for the test: folds states, appends decisions with expected versions.</summary>
    private sealed class Book(PgEventStore store)
    {
        private readonly Dictionary<string, (long Version, byte[] Hash)> _heads = new(StringComparer.Ordinal);
        public readonly Dictionary<string, AccountState> Accounts = new(StringComparer.Ordinal);
        public readonly Dictionary<string, DealState> Deals = new(StringComparer.Ordinal);

        public async Task AccountAsync(AccountCommand c) => await AppendAsync(Account.Decide(Accounts, c).MapStreams(a => AccountStreams.StreamId("t1", a)));

        public async Task DealAsync(DealCommand c)
        {
            var deal = Deals.TryGetValue(c.DealId, out var d) ? d : DealState.Empty(c.DealId);
            var cmd = c is CreateDeal ? c : c.For(deal);
            var decision = Deal.Decide(new(deal, Accounts), cmd);
            Assert.False(decision.IsRejected, decision.Rejection?.ToString());
            await AppendAsync(Decision.Accept([.. DealStreams.ToStreams(decision, "t1")]), actor: "deal-desk");
        }

        private async Task AppendAsync(Decision decision, string actor = "test")
        {
            Assert.False(decision.IsRejected, decision.Rejection?.ToString());
            var appends = decision.Events.GroupBy(e => e.StreamId).Select(g =>
            {
                var head = _heads.GetValueOrDefault(g.Key, (0, HashChain.Genesis));
                return new StreamAppend(g.Key, g.Key.StartsWith("deal-", StringComparison.Ordinal) ? Deal.StreamType : Account.StreamType, "t1",
                    ExpectedVersion.Exactly(head.Item1), head.Item2, g.Select(pe =>
                    {
                        var (type, schema, json) = EventSerializer.Serialize(pe.Event);
                        return new NewEvent(type, schema, json, new EventMetadata(Guid.NewGuid(), Guid.NewGuid(), null, actor, "t1", null), T0);
                    }).ToList());
            }).ToList();
            var heads = await store.AppendAsync(appends, null, null, default);
            foreach (var (id, h) in heads) _heads[id] = (h.Version, h.LastHash);
            foreach (var pe in decision.Events)
            {
                if (DealStreams.TryDealId(pe.StreamId, out var dealId))
                    Deals[dealId] = Deal.Evolve(Deals.GetValueOrDefault(dealId) ?? DealState.Empty(dealId), pe.Event);
                else if (AccountStreams.TryAccountId(pe.StreamId, out var acc))
                    Accounts[acc] = Account.Evolve(Accounts.GetValueOrDefault(acc) ?? AccountState.Empty(acc), pe.Event);
            }
        }
    }

    private static string Sha(string s) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(s)));

    [Fact]
    public async Task Deal_status_and_timeline_follow_every_transition_and_keep_the_escrow_invariant()
    {
        var book = new Book(_db.Store);
        var p = Guid.NewGuid().ToString("N")[..6];
        string buyer = $"buyer-{p}", seller = $"seller-{p}", cash = $"cash-{p}";
        await book.AccountAsync(new OpenAccount(buyer, "b", "EUR", AccountKind.Customer, 0, T0));
        await book.AccountAsync(new OpenAccount(seller, "s", "EUR", AccountKind.Customer, 0, T0));
        await book.AccountAsync(new OpenAccount(cash, "op", "EUR", AccountKind.Internal, 0, T0));
        await book.AccountAsync(new Post($"seed-{p}", cash, buyer, 1000m, "EUR", PostingKind.Deposit, null, T0));

        async Task<string> NewDealAsync(string name, bool refund = false)
        {
            var id = $"{name}-{p}";
            await book.AccountAsync(new OpenAccount($"escrow-{id}", "escrow", "EUR", AccountKind.Internal, 0, T0));
            await book.DealAsync(new CreateDeal(id, "t1", "goods", buyer, seller, $"escrow-{id}", 100m, "EUR", T0.AddDays(7), refund, "PO-1", "terms", T0));
            return id;
        }

        var released = await NewDealAsync("released");
        await book.DealAsync(new FundDeal(released, T0.AddHours(1)));
        await book.DealAsync(new ReleaseDeal(released, 30m, T0.AddHours(2)));
        await book.DealAsync(new ReleaseDeal(released, 70m, T0.AddHours(3)));

        var disputed = await NewDealAsync("disputed");
        await book.DealAsync(new FundDeal(disputed, T0.AddHours(11)));
        await book.DealAsync(new ReleaseDeal(disputed, 20m, T0.AddHours(12)));
        await book.DealAsync(new OpenDispute(disputed, DealParty.Buyer, "damaged goods", T0.AddHours(13)));
        await book.DealAsync(new SubmitEvidence(disputed, "ev-1", "photo", "crack in the left panel", null, Sha("crack in the left panel"), "buyer", T0.AddHours(14)));
        await book.DealAsync(new ResolveDispute(disputed, "arbiter", 50m, 30m, "split", T0.AddHours(15)));

        var expired = await NewDealAsync("expired");
        await book.DealAsync(new ExpireDeal(expired, T0.AddDays(8)));

        var runner = new ProjectionRunner(_db.Store, new DealsProjection(), new ProjectionRunnerOptions { BatchSize = 7 });
        Assert.True(await runner.CatchUpToHeadAsync(TimeSpan.FromSeconds(60), null, default) > 0);

        async Task<(string Status, decimal Funded, decimal Released, decimal Refunded, decimal Held, int Evidence)> RowAsync(string id)
        {
            await using var cmd = _db.DataSource.CreateCommand("SELECT status, funded, released, refunded, held, evidence_count FROM deal_status WHERE deal_id = $1");
            cmd.Parameters.Add(new() { Value = id });
            await using var r = await cmd.ExecuteReaderAsync();
            Assert.True(await r.ReadAsync(), $"no deal_status row for {id}");
            return (r.GetString(0), r.GetDecimal(1), r.GetDecimal(2), r.GetDecimal(3), r.GetDecimal(4), r.GetInt32(5));
        }
        Assert.Equal(("RELEASED", 100m, 100m, 0m, 0m, 0), await RowAsync(released));
        Assert.Equal(("RESOLVED", 100m, 50m, 50m, 0m, 1), await RowAsync(disputed));
        Assert.Equal(("EXPIRED", 0m, 0m, 0m, 0m, 0), await RowAsync(expired));
        Assert.Equal(0L, await _db.ScalarAsync<long>($"SELECT count(*) FROM deal_timeline WHERE deal_id = '{released}' AND tenant <> 't1'"));
        Assert.Equal(4L, await _db.ScalarAsync<long>($"SELECT count(*) FROM deal_timeline WHERE deal_id = '{released}' AND tenant = 't1'"));

        var steps = new List<string>();
        await using (var cmd = _db.DataSource.CreateCommand("SELECT from_status || '>' || to_status || ':' || actor FROM deal_timeline WHERE deal_id = $1 ORDER BY version"))
        {
            cmd.Parameters.Add(new() { Value = disputed });
            await using var r = await cmd.ExecuteReaderAsync();
            while (await r.ReadAsync()) steps.Add(r.GetString(0));
        }
        Assert.Equal(
            ["NONE>CREATED:deal-desk", "CREATED>FUNDED:deal-desk", "FUNDED>PARTIALLY_RELEASED:deal-desk", "PARTIALLY_RELEASED>DISPUTED:deal-desk",
             "DISPUTED>DISPUTED:deal-desk", "DISPUTED>RESOLVED:deal-desk"],
            steps);

        // The stored state is exactly the aggregate's fold, and the escrow accounts hold nothing at the end.
        await using (var cmd = _db.DataSource.CreateCommand("SELECT state::text FROM deal_status WHERE deal_id = $1"))
        {
            cmd.Parameters.Add(new() { Value = disputed });
            var stored = JsonSerializer.Deserialize<DealState>((string)(await cmd.ExecuteScalarAsync())!, EventSerializer.Options)!;
            Assert.Equal(book.Deals[disputed].Held, stored.Held);
            Assert.Equal(book.Deals[disputed].Evidence.Select(e => e.Sha256), stored.Evidence.Select(e => e.Sha256));
        }
        Assert.Equal(0m, book.Accounts[$"escrow-{disputed}"].Balance);
        Assert.Equal(1000m - 100m - 100m + 50m, book.Accounts[buyer].Balance);
        Assert.Equal(100m + 50m, book.Accounts[seller].Balance);

        // Rebuilding from position 0 gives the same rows.
        var before = await _db.ScalarAsync<long>("SELECT count(*) FROM deal_timeline");
        await runner.ResetAsync(default);
        await runner.CatchUpToHeadAsync(TimeSpan.FromSeconds(60), null, default);
        Assert.Equal(before, await _db.ScalarAsync<long>("SELECT count(*) FROM deal_timeline"));
        Assert.Equal(("RESOLVED", 100m, 50m, 50m, 0m, 1), await RowAsync(disputed));
    }
}
