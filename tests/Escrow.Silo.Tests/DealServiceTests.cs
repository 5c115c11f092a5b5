using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Escrow.Domain.Accounts;
using Escrow.Domain.Deals;
using Escrow.Projections;
using Escrow.Silo.Deals;
using Escrow.Silo.Hosting;
using Escrow.Silo.Ledger;
using Escrow.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Escrow.Silo.Tests;

/// <summary>Deals through the silo's command path: money moves with the deal, one transaction per command.</summary>
public sealed class DealServiceTests(PgDatabase db) : IClassFixture<PgDatabase>, IAsyncLifetime
{
    private readonly PgDatabase _db = db;
    private readonly List<SiloFactory> _silos = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var s in _silos) await s.DisposeAsync();
    }

    /// <summary>A silo of this class's cluster (its database); a second call adds a second silo to it.</summary>
    private (LedgerService Ledger, DealService Deals) Silo(TimeProvider? clock = null)
    {
        var silo = new SiloFactory(_db, runProjections: false, clock: clock);
        _silos.Add(silo);
        return (silo.Services.GetRequiredService<LedgerService>(), silo.Services.GetRequiredService<DealService>());
    }

    private static CommandContext Ctx(string? key = null) =>
        new("default", "deal-test", key, key is null ? [] : SHA256.HashData(Encoding.UTF8.GetBytes(key)), Guid.NewGuid());

    private static async Task<(string Buyer, string Seller)> PartiesAsync(LedgerService ledger, decimal buyerFunds)
    {
        var p = Guid.NewGuid().ToString("N")[..8];
        string buyer = $"buyer-{p}", seller = $"seller-{p}", cash = $"cash-{p}";
        foreach (var (id, kind) in new[] { (buyer, AccountKind.Customer), (seller, AccountKind.Customer), (cash, AccountKind.Internal) })
            Assert.True((await ledger.ExecuteAsync(new OpenAccount(id, "o", "EUR", kind, 0, LedgerService.Now), Ctx(), default)).Accepted);
        Assert.True((await ledger.ExecuteAsync(new Post("seed-" + p, cash, buyer, buyerFunds, "EUR", PostingKind.Deposit, null, LedgerService.Now), Ctx(), default)).Accepted);
        return (buyer, seller);
    }

    private static CreateDeal Create(string id, string buyer, string seller, decimal amount, bool refund = false) =>
        new(id, "default", "goods", buyer, seller, DealService.EscrowAccountOf(id), amount, "EUR",
            DateTimeOffset.UtcNow.AddDays(30), refund, "PO-" + id, "deliver within 5 days", LedgerService.Now);

    private static JsonElement Body(CommandOutcome o) => JsonDocument.Parse(o.Body).RootElement;

    private static async Task<decimal> BalanceAsync(LedgerService ledger, string account) =>
        (await ledger.StateAsync("default", account, default)).State.Balance;

    [Fact]
    public async Task Funding_and_partial_releases_move_money_with_the_deal_and_the_escrow_account_holds_exactly_what_is_held()
    {
        var (ledger, deals) = Silo();
        var (buyer, seller) = await PartiesAsync(ledger, 500m);
        var id = "d-" + Guid.NewGuid().ToString("N")[..10];
        var escrow = DealService.EscrowAccountOf(id);

        var created = await deals.ExecuteAsync(Create(id, buyer, seller, 120m), Ctx(), default);
        Assert.Equal(201, created.Status);
        Assert.Equal("CREATED", Body(created).GetProperty("status").GetString());

        Assert.Equal(200, (await deals.ExecuteAsync(new FundDeal(id, LedgerService.Now), Ctx(), default)).Status);
        Assert.Equal(380m, await BalanceAsync(ledger, buyer));
        Assert.Equal(120m, await BalanceAsync(ledger, escrow));

        var r1 = await deals.ExecuteAsync(new ReleaseDeal(id, 45m, LedgerService.Now), Ctx(), default);
        Assert.Equal("PARTIALLY_RELEASED", Body(r1).GetProperty("status").GetString());
        Assert.Equal(75m, await BalanceAsync(ledger, escrow));
        Assert.Equal(75m, Body(r1).GetProperty("held").GetDecimal());

        var tooMuch = await deals.ExecuteAsync(new ReleaseDeal(id, 75.01m, LedgerService.Now), Ctx(), default);
        Assert.Equal(409, tooMuch.Status);
        Assert.Equal(DealRejectionCodes.AmountExceedsHeld, tooMuch.RejectionCode);

        var r2 = await deals.ExecuteAsync(new ReleaseDeal(id, 75m, LedgerService.Now), Ctx(), default);
        Assert.Equal("RELEASED", Body(r2).GetProperty("status").GetString());
        Assert.Equal(0m, await BalanceAsync(ledger, escrow));
        Assert.Equal(120m, await BalanceAsync(ledger, seller));

        var again = await deals.ExecuteAsync(new CancelDeal(id, "too late", LedgerService.Now), Ctx(), default);
        Assert.Equal(DealRejectionCodes.InvalidTransition, again.RejectionCode);
        Assert.Contains("RELEASED", again.Body);
    }

    [Fact]
    [Trait("Tier", "Slow")]
    public async Task A_hundred_concurrent_partial_releases_through_two_silos_never_release_more_than_held()
    {
        var a = Silo();
        var b = Silo();
        var (buyer, seller) = await PartiesAsync(a.Ledger, 100m);
        var id = "race-" + Guid.NewGuid().ToString("N")[..10];
        Assert.Equal(201, (await a.Deals.ExecuteAsync(Create(id, buyer, seller, 50m), Ctx(), default)).Status);
        Assert.Equal(200, (await a.Deals.ExecuteAsync(new FundDeal(id, LedgerService.Now), Ctx(), default)).Status);
        await b.Deals.GetAsync("default", id, default);   // warm the second silo's activation

        using var gate = new SemaphoreSlim(0);
        var tasks = Enumerable.Range(0, 100).Select(i => Task.Run(async () =>
        {
            await gate.WaitAsync();
            return await (i % 2 == 0 ? a : b).Deals.ExecuteAsync(new ReleaseDeal(id, 1m, LedgerService.Now), Ctx(), default);
        })).ToArray();
        gate.Release(100);
        var results = await Task.WhenAll(tasks);

        Assert.Equal(50, results.Count(r => r.Status == 200));
        // A release that lost the race to the other silo MaxConcurrencyRetries times in a row gets 409 concurrency_conflict
        // ("retry"): rare, legitimate, and it moves no money.
        Assert.All(results.Where(r => r.Status != 200), r => Assert.True(
            r.RejectionCode is DealRejectionCodes.AmountExceedsHeld or DealRejectionCodes.InvalidTransition or "concurrency_conflict", r.Body));
        var deal = await a.Deals.GetAsync("default", id, default);
        Assert.Equal(("RELEASED", 50m, 50m, 0m), (deal!.Status, deal.Funded, deal.Released, deal.Held));
        Assert.Equal(0m, await BalanceAsync(a.Ledger, DealService.EscrowAccountOf(id)));
        Assert.Equal(50m, await BalanceAsync(a.Ledger, seller));

        // At every version of the deal: funded = released + refunded + held, held >= 0.
        var events = await _db.Store.ReadStreamAsync(DealStreams.StreamId("default", id), 0, default);
        var state = DealState.Empty(id);
        foreach (var e in events)
        {
            state = Deal.Evolve(state, Escrow.EventStore.EventSerializer.Deserialize(e));
            Assert.Equal(state.Funded, state.Released + state.Refunded + state.Held);
            Assert.True(state.Held >= 0);
        }
        Assert.Equal(52, events.Count);   // created, funded, 50 releases
    }

    [Fact]
    public async Task A_dispute_pauses_expiry_keeps_evidence_and_is_resolved_by_a_split_of_what_is_held()
    {
        var (ledger, deals) = Silo();
        var (buyer, seller) = await PartiesAsync(ledger, 200m);
        var id = "disp-" + Guid.NewGuid().ToString("N")[..10];
        await deals.ExecuteAsync(Create(id, buyer, seller, 80m, refund: true), Ctx(), default);
        await deals.ExecuteAsync(new FundDeal(id, LedgerService.Now), Ctx(), default);
        var opened = await deals.ExecuteAsync(new OpenDispute(id, DealParty.Buyer, "item not as described", LedgerService.Now), Ctx(), default);
        Assert.Equal("DISPUTED", Body(opened).GetProperty("status").GetString());
        Assert.True(Body(opened).GetProperty("expiryPaused").GetBoolean());

        var content = "photo: scratched screen";
        var sha = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(content)));
        Assert.Equal(200, (await deals.ExecuteAsync(new SubmitEvidence(id, "ev-1", "photo", content, null, sha, "buyer", LedgerService.Now), Ctx(), default)).Status);
        var dup = await deals.ExecuteAsync(new SubmitEvidence(id, "ev-1", "photo", "changed", null,
            Convert.ToHexStringLower(SHA256.HashData("changed"u8)), "buyer", LedgerService.Now), Ctx(), default);
        Assert.Equal(DealRejectionCodes.EvidenceExists, dup.RejectionCode);

        var expire = await deals.ExecuteAsync(new ExpireDeal(id, DateTimeOffset.UtcNow.AddDays(60)), Ctx(), default);
        Assert.Equal(DealRejectionCodes.InvalidTransition, expire.RejectionCode);
        Assert.Contains("paused", expire.Body);

        var bad = await deals.ExecuteAsync(new ResolveDispute(id, "arbiter", 50m, 20m, null, LedgerService.Now), Ctx(), default);
        Assert.Equal(DealRejectionCodes.SplitMismatch, bad.RejectionCode);
        var resolved = await deals.ExecuteAsync(new ResolveDispute(id, "arbiter", 50m, 30m, "half", LedgerService.Now), Ctx(), default);
        Assert.Equal("RESOLVED", Body(resolved).GetProperty("status").GetString());
        Assert.Equal(170m, await BalanceAsync(ledger, buyer));
        Assert.Equal(30m, await BalanceAsync(ledger, seller));
        Assert.Equal(0m, await BalanceAsync(ledger, DealService.EscrowAccountOf(id)));
    }

    [Fact]
    public async Task A_deals_state_as_of_an_instant_comes_from_its_events()
    {
        var clock = new ManualClock(new DateTimeOffset(2033, 5, 1, 10, 0, 0, TimeSpan.Zero));
        var (ledger, deals) = Silo(clock);
        var (buyer, seller) = await PartiesAsync(ledger, 100m);
        var id = "asof-" + Guid.NewGuid().ToString("N")[..10];
        await deals.ExecuteAsync(Create(id, buyer, seller, 60m) with { ExpiresAt = clock.GetUtcNow().AddDays(9) }, Ctx(), default);
        clock.Advance(TimeSpan.FromHours(1));
        await deals.ExecuteAsync(new FundDeal(id, LedgerService.Now), Ctx(), default);
        var fundedAt = clock.GetUtcNow();
        clock.Advance(TimeSpan.FromHours(1));
        await deals.ExecuteAsync(new ReleaseDeal(id, 10m, LedgerService.Now), Ctx(), default);

        Assert.Equal("CREATED", (await deals.GetAsOfAsync("default", id, fundedAt.AddMinutes(-1), default))!.Status);
        var then = await deals.GetAsOfAsync("default", id, fundedAt.AddMinutes(1), default);
        Assert.Equal(("FUNDED", 60m), (then!.Status, then.Held));
        Assert.Equal(("PARTIALLY_RELEASED", 50m), ((await deals.GetAsync("default", id, default))!.Status, (await deals.GetAsync("default", id, default))!.Held));
        Assert.Null(await deals.GetAsOfAsync("default", id, fundedAt.AddDays(-1), default));
    }

    [Fact]
    public async Task Verify_proves_the_escrow_invariant_and_names_a_deal_whose_events_break_it()
    {
        await using var db = new PgDatabase();
        await db.InitializeAsync();
        try
        {
            await using var silo = new SiloFactory(db, runProjections: false);
            var (ledger, deals) = (silo.Services.GetRequiredService<LedgerService>(), silo.Services.GetRequiredService<DealService>());
            var (buyer, seller) = await PartiesAsync(ledger, 100m);
            var id = "v-" + Guid.NewGuid().ToString("N")[..10];
            await deals.ExecuteAsync(Create(id, buyer, seller, 40m), Ctx(), default);
            await deals.ExecuteAsync(new FundDeal(id, LedgerService.Now), Ctx(), default);
            await deals.ExecuteAsync(new ReleaseDeal(id, 15m, LedgerService.Now), Ctx(), default);

            var report = await LedgerVerifier.RunAsync(db.Store, default);
            Assert.True(report.Ok, string.Join("\n", report.Lines));
            Assert.Contains(report.Lines, l => l.StartsWith("escrow: 1 deals", StringComparison.Ordinal) && l.EndsWith("OK", StringComparison.Ordinal));

            // A forged release appended straight to the deal's stream (no posting legs): the deal now claims less
            // held than its escrow account has.
            var stream = DealStreams.StreamId("default", id);
            var tail = await db.Store.ReadStreamAsync(stream, 0, default);
            var (type, schema, json) = Escrow.EventStore.EventSerializer.Serialize(new DealReleased(id, "forged", 5m, "EUR", DateTimeOffset.UtcNow));
            await db.Store.AppendAsync([new Escrow.EventStore.StreamAppend(stream, Deal.StreamType, "default",
                Escrow.EventStore.ExpectedVersion.Exactly(tail[^1].Version), tail[^1].Hash,
                [new Escrow.EventStore.NewEvent(type, schema, json, new Escrow.EventStore.EventMetadata(Guid.NewGuid(), Guid.NewGuid(), null, "forger", "default", null), DateTimeOffset.UtcNow)])],
                null, null, default);
            report = await LedgerVerifier.RunAsync(db.Store, default);
            Assert.False(report.Ok);
            Assert.Contains(report.Lines, l => l.Contains($"escrow VIOLATED: deal default/{id}: escrow account default/escrow-{id} holds 25", StringComparison.Ordinal));
        }
        finally
        {
            await db.DisposeAsync();
        }
    }
}
