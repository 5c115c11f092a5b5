using System.Net;
using Escrow.Domain;
using Escrow.Domain.Accounts;
using Escrow.Domain.Deals;
using Escrow.EventStore;
using Escrow.Projections;
using Escrow.Silo.Ledger;
using Escrow.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace Escrow.Silo.Tests;

/// <summary>
/// A database written before account and deal ids were per institution (migrations up to 020, streams
/// <c>account-{id}</c> and <c>deal-{id}</c>), migrated to 021 and served by today's silo: the old streams are the
/// accounts' and deals' streams under their new ids, keep their hash chains, take new events, and rebuild the read models.
/// </summary>
public class LegacyStreamTests
{
    private static readonly DateTimeOffset T0 = new(2026, 3, 15, 9, 0, 0, TimeSpan.Zero);

    /// <summary>Writes events the way the silo did before migration 021: stream ids without the institution.</summary>
    private sealed class LegacyBook(PgEventStore store, string tenant)
    {
        private readonly Dictionary<string, (long Version, byte[] Hash)> _heads = new(StringComparer.Ordinal);
        public readonly Dictionary<string, AccountState> Accounts = new(StringComparer.Ordinal);
        private readonly Dictionary<string, DealState> _deals = new(StringComparer.Ordinal);

        public Task AccountAsync(AccountCommand c) => AppendAsync(Account.Decide(Accounts, c).MapStreams(id => "account-" + id));

        public Task DealAsync(DealCommand c)
        {
            var deal = _deals.TryGetValue(c.DealId, out var d) ? d : DealState.Empty(c.DealId);
            var decision = Deal.Decide(new(deal, Accounts), c is CreateDeal ? c : c.For(deal));
            return AppendAsync(Decision.Accept([.. decision.Events.Select(e => e with { StreamId = (e.Event is IDealEvent ? "deal-" : "account-") + e.StreamId })]));
        }

        private async Task AppendAsync(Decision decision)
        {
            Assert.False(decision.IsRejected, decision.Rejection?.ToString());
            var appends = decision.Events.GroupBy(e => e.StreamId).Select(g =>
            {
                var head = _heads.GetValueOrDefault(g.Key, (0, HashChain.Genesis));
                return new StreamAppend(g.Key, g.Key.StartsWith("deal-", StringComparison.Ordinal) ? Deal.StreamType : Account.StreamType, tenant,
                    ExpectedVersion.Exactly(head.Item1), head.Item2, g.Select(pe =>
                    {
                        var (type, schema, json) = EventSerializer.Serialize(pe.Event);
                        return new NewEvent(type, schema, json, new EventMetadata(Guid.NewGuid(), Guid.NewGuid(), null, "legacy", tenant, null), T0);
                    }).ToList());
            }).ToList();
            foreach (var (id, h) in await store.AppendAsync(appends, null, null, default)) _heads[id] = (h.Version, h.LastHash);
            foreach (var pe in decision.Events)
            {
                if (pe.StreamId.StartsWith("deal-", StringComparison.Ordinal))
                {
                    var id = pe.StreamId["deal-".Length..];
                    _deals[id] = Deal.Evolve(_deals.GetValueOrDefault(id) ?? DealState.Empty(id), pe.Event);
                }
                else
                {
                    var id = pe.StreamId["account-".Length..];
                    Accounts[id] = Account.Evolve(Accounts.GetValueOrDefault(id) ?? AccountState.Empty(id), pe.Event);
                }
            }
        }
    }

    [Fact]
    public async Task Streams_written_before_per_institution_ids_stay_the_accounts_and_deals_streams()
    {
        await using var db = new PgDatabase { MigrateUpTo = "020" };
        await db.InitializeAsync();
        var acme = SiloFactory.NewInstitution();
        var beta = SiloFactory.NewInstitution();
        var p = Guid.NewGuid().ToString("N")[..6];
        string alice = $"alice-{p}", bob = $"bob-{p}", cash = $"cash-{p}", deal = $"d-{p}", carol = $"carol-{p}";

        // An older release wrote these: acme's accounts and a funded deal, and beta's account.
        var book = new LegacyBook(db.Store, acme);
        await book.AccountAsync(new OpenAccount(alice, "Alice", "EUR", AccountKind.Customer, 0, T0));
        await book.AccountAsync(new OpenAccount(bob, "Bob", "EUR", AccountKind.Customer, 0, T0));
        await book.AccountAsync(new OpenAccount(cash, "operator", "EUR", AccountKind.Internal, 0, T0));
        await book.AccountAsync(new Post($"seed-{p}", cash, alice, 500m, "EUR", PostingKind.Deposit, null, T0.AddMinutes(1)));
        await book.AccountAsync(new OpenAccount($"escrow-{deal}", "escrow", "EUR", AccountKind.Internal, 0, T0.AddMinutes(2)));
        await book.DealAsync(new CreateDeal(deal, acme, "goods", alice, bob, $"escrow-{deal}", 200m, "EUR", T0.AddYears(5), false, null, null, T0.AddMinutes(2)));
        await book.DealAsync(new FundDeal(deal, T0.AddMinutes(3)));
        var betaBook = new LegacyBook(db.Store, beta);
        await betaBook.AccountAsync(new OpenAccount(carol, "Carol", "EUR", AccountKind.Customer, 0, T0));
        var legacyEvents = await db.EventCountAsync();

        Assert.Equal("021_per_institution_ids.sql", (await Migrator.MigrateAsync(db.OwnerConnectionString))[0]);
        Assert.Equal(4L, await db.ScalarAsync<long>($"SELECT count(*) FROM stream_aliases WHERE alias LIKE 'account-{acme}/%'"));
        Assert.Equal($"deal-{deal}", await db.ScalarAsync<string>($"SELECT stream_id FROM stream_aliases WHERE alias = 'deal-{acme}/{deal}'"));
        Assert.Equal($"account-{carol}", await db.ScalarAsync<string>($"SELECT stream_id FROM stream_aliases WHERE alias = 'account-{beta}/{carol}'"));
        // The aliases are history too: nobody re-points a stream afterwards, not even the schema owner.
        await Assert.ThrowsAsync<PostgresException>(() => db.ExecAsOwnerAsync($"UPDATE stream_aliases SET stream_id = 'account-{bob}' WHERE alias = 'account-{acme}/{alice}'"));
        await Assert.ThrowsAsync<PostgresException>(() => db.ExecAsOwnerAsync($"INSERT INTO stream_aliases VALUES ('account-{beta}/{alice}', 'account-{alice}')"));

        await using var silo = new SiloFactory(db);
        var writerA = await silo.ClientForAsync(acme);
        var auditorA = await silo.ClientForAsync(acme, "auditor");
        var writerB = await silo.ClientForAsync(beta);

        // Read and written under the new ids, stored on the old streams.
        Assert.Equal(300m, await writerA.BalanceAsync(alice));
        Assert.Equal(200m, await writerA.BalanceAsync($"escrow-{deal}"));
        Assert.Equal(HttpStatusCode.Created, (await writerA.TransferAsync(alice, bob, 50m)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await writerA.CommandAsync($"/deals/{deal}/release", """{"amount":200}""")).StatusCode);
        Assert.Equal(250m, await writerA.BalanceAsync(bob));
        Assert.Equal(0m, await writerA.BalanceAsync($"escrow-{deal}"));
        Assert.Equal("RELEASED", (await (await writerA.GetAsync($"/deals/{deal}")).JsonAsync()).GetProperty("status").GetString());
        Assert.Equal(4L, await db.ScalarAsync<long>($"SELECT count(*) FROM events WHERE stream_id = 'account-{alice}'"));   // opened, seed, funding, transfer
        Assert.Equal(0L, await db.ScalarAsync<long>($"SELECT count(*) FROM streams WHERE stream_id LIKE 'account-{acme}/%' OR stream_id LIKE 'deal-{acme}/%'"));

        // Per institution: beta sees none of acme's, and may use the same ids for its own accounts.
        Assert.Equal(HttpStatusCode.NotFound, (await writerB.GetAsync($"/accounts/{alice}")).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await writerB.OpenAsync(alice)).StatusCode);
        Assert.Equal(0m, await writerB.BalanceAsync(alice));
        Assert.Equal(HttpStatusCode.Created, (await writerB.DepositAsync(carol, 9m)).StatusCode);

        // The events come back under the new id, the auditor's stream browser finds them, and every chain still holds.
        var events = await (await auditorA.GetAsync($"/accounts/{alice}/events")).JsonAsync();
        Assert.Equal(4, events.GetArrayLength());
        var found = await (await auditorA.GetAsync($"/dashboard/api/streams?kind=account&id={alice}")).JsonAsync();
        Assert.Equal([$"account-{acme}/{alice}"], found.EnumerateArray().Select(e => e.GetString()));
        var head = await (await auditorA.GetAsync($"/dashboard/api/streams/{Uri.EscapeDataString($"account-{acme}/{alice}")}")).JsonAsync();
        Assert.Equal(4, head.GetProperty("version").GetInt64());
        Assert.Equal(300m, await writerA.BalanceAsync(alice, $"?at=2026-03-15T09:05:00Z&source=events"));

        // The read models were rebuilt from the log under (tenant, id) and equal a replay; verify checks the old chains.
        await writerA.WaitForProjectionsAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(300m, await writerA.BalanceAsync(alice, $"?at=2026-03-15T09:05:00Z"));
        Assert.Equal(2L, await db.ScalarAsync<long>($"SELECT count(*) FROM account_balances WHERE account_id = '{alice}'"));
        Assert.Equal("RELEASED", await db.ScalarAsync<string>($"SELECT status FROM deal_status WHERE tenant = '{acme}' AND deal_id = '{deal}'"));
        var report = await LedgerVerifier.RunAsync(new PgEventStore(db.DataSource), default);
        Assert.True(report.Ok, string.Join("\n", report.Lines));
        Assert.True(await db.EventCountAsync() > legacyEvents);
    }
}
