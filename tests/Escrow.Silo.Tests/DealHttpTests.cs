using Escrow.Grains;
using Microsoft.Extensions.DependencyInjection;
using System.Net;
using Escrow.Testing;

namespace Escrow.Silo.Tests;

/// <summary>Deals over HTTP: lifecycle, tenancy, the escrow account's protection, expiry by durable timer.</summary>
public class DealHttpTests : IClassFixture<PgDatabase>
{
    private readonly PgDatabase _db;
    public DealHttpTests(PgDatabase db) => _db = db;

    private static string Id(string p) => $"{p}-{Guid.NewGuid():N}"[..24];

    private static Task<HttpResponseMessage> CreateDealAsync(HttpClient http, string id, string buyer, string seller, decimal amount, DateTimeOffset expires, bool refund = false) =>
        http.CommandAsync("/deals", $$"""
            {"dealId":"{{id}}","templateId":"default","buyerAccount":"{{buyer}}","sellerAccount":"{{seller}}","amount":{{amount}},"currency":"EUR",
             "expiresAt":"{{expires:O}}","refundAtExpiry":{{(refund ? "true" : "false")}},"externalReference":"PO-{{id}}","terms":"deliver in 5 days"}
            """);

    private static async Task<(string Buyer, string Seller)> PartiesAsync(HttpClient http, decimal funds)
    {
        var buyer = Id("b"); var seller = Id("s");
        Assert.Equal(HttpStatusCode.Created, (await http.OpenAsync(buyer)).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await http.OpenAsync(seller)).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await http.DepositAsync(buyer, funds)).StatusCode);
        return (buyer, seller);
    }

    [Fact]
    public async Task A_deal_runs_its_lifecycle_over_HTTP_and_other_institutions_cannot_see_or_touch_it()
    {
        await using var silo = new SiloFactory(_db);
        var institution = SiloFactory.NewInstitution();
        var writer = await silo.ClientForAsync(institution);
        var auditor = await silo.ClientForAsync(institution, "auditor");
        var stranger = await silo.ClientForAsync();
        var (buyer, seller) = await PartiesAsync(writer, 300m);
        var deal = Id("d");

        var created = await CreateDealAsync(writer, deal, buyer, seller, 100m, DateTimeOffset.UtcNow.AddDays(7));
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Equal(institution, (await created.JsonAsync()).GetProperty("tenant").GetString());
        Assert.Equal(HttpStatusCode.OK, (await writer.CommandAsync($"/deals/{deal}/fund", null)).StatusCode);
        var released = await writer.CommandAsync($"/deals/{deal}/release", """{"amount":40}""");
        Assert.Equal("PARTIALLY_RELEASED", (await released.JsonAsync()).GetProperty("status").GetString());
        Assert.Equal(200m, await writer.BalanceAsync(buyer));
        Assert.Equal(40m, await writer.BalanceAsync(seller));
        Assert.Equal(60m, await writer.BalanceAsync($"escrow-{deal}"));

        // The escrow account moves only through its deal.
        var raid = await writer.TransferAsync($"escrow-{deal}", buyer, 60m);
        Assert.Equal(HttpStatusCode.Conflict, raid.StatusCode);
        Assert.Equal("escrow_account_protected", (await raid.JsonAsync()).GetProperty("code").GetString());

        // Another institution: as if the deal did not exist. The auditor reads but cannot write.
        Assert.Equal(HttpStatusCode.NotFound, (await stranger.GetAsync($"/deals/{deal}")).StatusCode);
        var foreign = await stranger.CommandAsync($"/deals/{deal}/release", """{"amount":1}""");
        Assert.Equal(HttpStatusCode.NotFound, foreign.StatusCode);
        Assert.Equal("deal_not_found", (await foreign.JsonAsync()).GetProperty("code").GetString());
        Assert.Equal(HttpStatusCode.OK, (await auditor.GetAsync($"/deals/{deal}")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await auditor.CommandAsync($"/deals/{deal}/cancel", null)).StatusCode);

        // A transition outside the table names the current state.
        var badResolve = await writer.CommandAsync($"/deals/{deal}/resolve", """{"buyerShare":30,"sellerShare":30}""");
        Assert.Equal(HttpStatusCode.Conflict, badResolve.StatusCode);
        Assert.Contains("PARTIALLY_RELEASED", (await badResolve.JsonAsync()).GetProperty("detail").GetString());

        Assert.Equal(HttpStatusCode.OK, (await writer.CommandAsync($"/deals/{deal}/disputes", """{"by":"buyer","reason":"late delivery"}""")).StatusCode);
        var ev = await writer.CommandAsync($"/deals/{deal}/evidence", """{"evidenceId":"e1","type":"email","content":"the parcel never came"}""");
        Assert.Equal(HttpStatusCode.OK, ev.StatusCode);
        var resolved = await writer.CommandAsync($"/deals/{deal}/resolve", """{"buyerShare":45,"sellerShare":15,"note":"mostly refunded"}""");
        Assert.Equal("RESOLVED", (await resolved.JsonAsync()).GetProperty("status").GetString());
        Assert.Equal(245m, await writer.BalanceAsync(buyer));
        Assert.Equal(55m, await writer.BalanceAsync(seller));

        // Read models: timeline with actors, list by state for this institution only.
        await writer.WaitForProjectionsAsync();
        var timeline = (await (await writer.GetAsync($"/deals/{deal}/timeline")).JsonAsync()).EnumerateArray()
            .Select(e => e.GetProperty("toStatus").GetString()).ToList();
        Assert.Equal(["CREATED", "FUNDED", "PARTIALLY_RELEASED", "DISPUTED", "DISPUTED", "RESOLVED"], timeline);
        var list = await (await writer.GetAsync("/deals?state=resolved")).JsonAsync();
        Assert.Contains(list.GetProperty("deals").EnumerateArray(), d => d.GetProperty("dealId").GetString() == deal);
        // The deal's audit trail: every accepted and refused command on it, for this institution's auditor only.
        var trail = await (await auditor.GetAsync($"/audit?deal={deal}")).JsonAsync();
        var outcomes = trail.GetProperty("records").EnumerateArray().Select(r => r.GetProperty("operation").GetString()).ToList();
        Assert.Contains("ResolveDispute", outcomes);
        Assert.True(outcomes.Count >= 7, string.Join(",", outcomes));
        var strangers = await (await stranger.GetAsync("/deals")).JsonAsync();
        Assert.DoesNotContain(strangers.GetProperty("deals").EnumerateArray(), d => d.GetProperty("dealId").GetString() == deal);
    }

    [Fact]
    public async Task The_expiry_reminder_refunds_a_funded_deal_on_the_ledger_clock_and_a_dispute_removes_it()
    {
        // The ledger clock is a fake one here, which a reminder (it ticks by real time) does not follow: the test gives the
        // deal grain the tick its reminder would give, with IDealGrain.ExpireIfDue, before and after the expiry.
        var clock = new ManualClock(DateTimeOffset.UtcNow);
        await using var silo = new SiloFactory(_db, clock: clock);
        var institution = SiloFactory.NewInstitution();
        var writer = await silo.ClientForAsync(institution);
        var (buyer, seller) = await PartiesAsync(writer, 500m);
        var expiring = Id("x");
        var disputed = Id("y");
        Assert.Equal(HttpStatusCode.Created, (await CreateDealAsync(writer, expiring, buyer, seller, 100m, clock.GetUtcNow().AddHours(1), refund: true)).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await CreateDealAsync(writer, disputed, buyer, seller, 50m, clock.GetUtcNow().AddHours(1), refund: true)).StatusCode);
        await writer.CommandAsync($"/deals/{expiring}/fund", null);
        await writer.CommandAsync($"/deals/{disputed}/fund", null);
        Assert.Equal(2L, await RemindersAsync(expiring, disputed));   // registered with the create
        await writer.CommandAsync($"/deals/{disputed}/disputes", """{"by":"seller","reason":"buyer will not confirm"}""");
        Assert.Equal(1L, await RemindersAsync(expiring, disputed));   // a dispute pauses expiry: the reminder goes
        Assert.Equal(350m, await writer.BalanceAsync(buyer));

        var grains = silo.Services.GetRequiredService<IGrainFactory>();
        IDealGrain Deal(string id) => grains.GetGrain<IDealGrain>(GrainKeys.Of(institution, id));
        clock.Advance(TimeSpan.FromMinutes(59));
        Assert.Null(await Deal(expiring).ExpireIfDue());   // not due yet: nothing happens, the reminder stays
        Assert.Equal("FUNDED", (await (await writer.GetAsync($"/deals/{expiring}")).JsonAsync()).GetProperty("status").GetString());
        Assert.Equal(1L, await RemindersAsync(expiring));

        clock.Advance(TimeSpan.FromMinutes(2));
        var fired = await Deal(expiring).ExpireIfDue();
        Assert.True(fired is { Accepted: true, Replayed: false }, fired?.Rejection?.ToString());
        var again = await Deal(expiring).ExpireIfDue();   // a second tick (another silo, after a crash) has no second effect
        Assert.Null(again);
        Assert.Equal("EXPIRED", (await (await writer.GetAsync($"/deals/{expiring}")).JsonAsync()).GetProperty("status").GetString());
        Assert.Equal(450m, await writer.BalanceAsync(buyer));
        Assert.Null(await Deal(disputed).ExpireIfDue());
        Assert.Equal("DISPUTED", (await (await writer.GetAsync($"/deals/{disputed}")).JsonAsync()).GetProperty("status").GetString());
        Assert.Equal(0L, await RemindersAsync(expiring, disputed));
        Assert.Equal(1L, await _db.ScalarAsync<long>($"SELECT count(*) FROM events WHERE stream_id = 'deal-{institution}/{expiring}' AND event_type = 'DealExpired'"));
    }

    [Fact]
    public async Task A_deal_expires_by_its_Orleans_reminder_on_the_system_clock()
    {
        await using var silo = new SiloFactory(_db);
        var writer = await silo.ClientForAsync();
        var (buyer, seller) = await PartiesAsync(writer, 100m);
        var deal = Id("r");
        Assert.Equal(HttpStatusCode.Created, (await CreateDealAsync(writer, deal, buyer, seller, 40m, DateTimeOffset.UtcNow.AddSeconds(2), refund: true)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await writer.CommandAsync($"/deals/{deal}/fund", null)).StatusCode);
        Assert.Equal(60m, await writer.BalanceAsync(buyer));
        await EscrowTestCluster.WaitUntilAsync(async () =>
            (await (await writer.GetAsync($"/deals/{deal}")).JsonAsync()).GetProperty("status").GetString() == "EXPIRED",
            TimeSpan.FromSeconds(30), "the reminder did not expire the deal");
        Assert.Equal(100m, await writer.BalanceAsync(buyer));
        await EscrowTestCluster.WaitUntilAsync(async () => await RemindersAsync(deal) == 0, TimeSpan.FromSeconds(10), "the reminder was not removed");
        var trail = await _db.ScalarAsync<string>($"SELECT actor || ' ' || operation || ' ' || outcome FROM audit_log WHERE stream_ids[1] LIKE 'deal-%/{deal}' AND operation = 'ExpireDeal'");
        Assert.Equal("reminder ExpireDeal accepted", trail);
    }

    [Fact]
    public async Task An_expiry_armed_in_the_old_timers_table_is_moved_onto_a_reminder_when_a_silo_starts()
    {
        var clock = new ManualClock(DateTimeOffset.UtcNow);
        var institution = SiloFactory.NewInstitution();
        var deal = Id("u");
        string buyer;
        await using (var before = new SiloFactory(_db, clock: clock))
        {
            var writer = await before.ClientForAsync(institution);
            (buyer, var seller) = await PartiesAsync(writer, 100m);
            Assert.Equal(HttpStatusCode.Created, (await CreateDealAsync(writer, deal, buyer, seller, 30m, clock.GetUtcNow().AddHours(1), refund: true)).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await writer.CommandAsync($"/deals/{deal}/fund", null)).StatusCode);
        }
        // As a release before reminders left it: the expiry armed as a row of timers, no reminder.
        await _db.ExecAsOwnerAsync($"DELETE FROM orleans_reminders WHERE grain_id = 'deal/{institution}/{deal}'");
        await _db.ExecAsOwnerAsync(
            "INSERT INTO timers (timer_id, kind, stream_id, tenant, due_at) " +
            $"VALUES ('deal-expiry:{institution}/{deal}', 'deal-expiry', 'deal-{institution}/{deal}', '{institution}', '{clock.GetUtcNow().AddHours(1):O}')");

        clock.Advance(TimeSpan.FromHours(2));   // the expiry became due while no silo ran
        await using var after = new SiloFactory(_db, clock: clock);
        var reader = await after.ClientForAsync(institution);
        await EscrowTestCluster.WaitUntilAsync(async () =>
            await _db.ScalarAsync<string?>($"SELECT outcome FROM timers WHERE timer_id = 'deal-expiry:{institution}/{deal}'") == "moved to an Orleans reminder",
            TimeSpan.FromSeconds(30), "the armed timer was not moved");
        Assert.Equal("EXPIRED", (await (await reader.GetAsync($"/deals/{deal}")).JsonAsync()).GetProperty("status").GetString());
        Assert.Equal(100m, await reader.BalanceAsync(buyer));
        Assert.Equal(0L, await RemindersAsync(deal));
        Assert.Equal(1L, await _db.ScalarAsync<long>($"SELECT count(*) FROM events WHERE stream_id = 'deal-{institution}/{deal}' AND event_type = 'DealExpired'"));
    }

    /// <summary>How many of these deals have an expiry reminder in Orleans's reminder table.</summary>
    private Task<long> RemindersAsync(params string[] deals) => _db.ScalarAsync<long>(
        $"SELECT count(*) FROM orleans_reminders WHERE reminder_name = 'deal-expiry' AND ({string.Join(" OR ", deals.Select(d => $"grain_id LIKE 'deal/%/{d}'"))})");

    [Fact]
    public async Task Deals_made_from_an_institutions_template_keep_its_currency_range_and_default_expiry()
    {
        await using var silo = new SiloFactory(_db);
        var writer = await silo.ClientForAsync();
        var stranger = await silo.ClientForAsync();
        var (buyer, seller) = await PartiesAsync(writer, 1000m);
        var t = await writer.CommandAsync("/templates",
            """{"templateId":"electronics","name":"Electronics","currency":"EUR","minAmount":10,"maxAmount":500,"defaultExpiryDays":3,"refundAtExpiry":true}""");
        Assert.Equal(HttpStatusCode.Created, t.StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, (await writer.CommandAsync("/templates",
            """{"templateId":"electronics","currency":"EUR","minAmount":1,"maxAmount":2}""")).StatusCode);
        Assert.DoesNotContain((await (await stranger.GetAsync("/templates")).JsonAsync()).EnumerateArray(),
            x => x.GetProperty("templateId").GetString() == "electronics");

        async Task<(HttpStatusCode Status, System.Text.Json.JsonElement Body)> CreateAsync(string template, decimal amount, string currency = "EUR")
        {
            var r = await writer.CommandAsync("/deals", $$"""
                {"templateId":"{{template}}","buyerAccount":"{{buyer}}","sellerAccount":"{{seller}}","amount":{{amount}},"currency":"{{currency}}"}
                """);
            return (r.StatusCode, await r.JsonAsync());
        }
        var tooBig = await CreateAsync("electronics", 500.01m);
        Assert.Equal((HttpStatusCode.Conflict, "amount_out_of_range"), (tooBig.Status, tooBig.Body.GetProperty("code").GetString()));
        var usd = await CreateAsync("electronics", 100m, "USD");
        Assert.Equal((HttpStatusCode.Conflict, "template_currency_mismatch"), (usd.Status, usd.Body.GetProperty("code").GetString()));
        var unknown = await CreateAsync("furniture", 100m);
        Assert.Equal((HttpStatusCode.NotFound, "template_not_found"), (unknown.Status, unknown.Body.GetProperty("code").GetString()));
        var strangersTemplate = await stranger.CommandAsync("/deals", $$"""
            {"templateId":"electronics","buyerAccount":"{{buyer}}","sellerAccount":"{{seller}}","amount":100,"currency":"EUR"}
            """);
        Assert.Equal(HttpStatusCode.NotFound, strangersTemplate.StatusCode);

        var ok = await CreateAsync("electronics", 500m);
        Assert.Equal(HttpStatusCode.Created, ok.Status);
        Assert.True(ok.Body.GetProperty("refundAtExpiry").GetBoolean());
        var expires = ok.Body.GetProperty("expiresAt").GetDateTimeOffset();
        Assert.InRange(expires - DateTimeOffset.UtcNow, TimeSpan.FromDays(3) - TimeSpan.FromMinutes(5), TimeSpan.FromDays(3) + TimeSpan.FromMinutes(5));
        Assert.Equal("electronics", ok.Body.GetProperty("templateId").GetString());
    }

    /// <summary>Regressions from review: another deal's escrow account as a party; malformed amounts; reserved keys.</summary>
    [Fact]
    public async Task An_escrow_account_cannot_be_a_party_and_malformed_deal_input_is_refused_at_the_edge()
    {
        await using var silo = new SiloFactory(_db);
        var writer = await silo.ClientForAsync();
        var (buyer, seller) = await PartiesAsync(writer, 300m);
        var a = Id("ea");
        Assert.Equal(HttpStatusCode.Created, (await CreateDealAsync(writer, a, buyer, seller, 100m, DateTimeOffset.UtcNow.AddDays(1))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await writer.CommandAsync($"/deals/{a}/fund", null)).StatusCode);

        // Deal B naming deal A's escrow account as its buyer would drain money A still owes.
        var b = await CreateDealAsync(writer, Id("eb"), $"escrow-{a}", seller, 100m, DateTimeOffset.UtcNow.AddDays(1));
        Assert.Equal(HttpStatusCode.Conflict, b.StatusCode);
        Assert.Equal("invalid_party", (await b.JsonAsync()).GetProperty("code").GetString());
        var c = await CreateDealAsync(writer, Id("ec"), buyer, $"escrow-{a}", 10m, DateTimeOffset.UtcNow.AddDays(1));
        Assert.Equal("invalid_party", (await c.JsonAsync()).GetProperty("code").GetString());
        Assert.Equal(100m, await writer.BalanceAsync($"escrow-{a}"));

        var before = await _db.EventCountAsync();
        foreach (var (body, code) in new[] { ("""{"amount":-1}""", "invalid_amount"), ("""{"amount":0}""", "invalid_amount"),
                     ("""{"amount":1.00001}""", "amount_precision"), ("""{"amount":1e16}""", "invalid_amount") })
        {
            var r = await writer.CommandAsync($"/deals/{a}/release", body);
            Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
            Assert.Equal(code, (await r.JsonAsync()).GetProperty("code").GetString());
        }
        var huge = await writer.DepositAsync(buyer, 10_000_000_000_000_000m);
        Assert.Equal(HttpStatusCode.BadRequest, huge.StatusCode);
        var reserved = await writer.CommandAsync($"/deals/{a}/cancel", null, key: "timer:deal-expiry:x:1");
        Assert.Equal("reserved_idempotency_key", (await reserved.JsonAsync()).GetProperty("code").GetString());
        Assert.Equal(before, await _db.EventCountAsync());
    }

    [Fact]
    public async Task A_party_to_a_live_deal_cannot_close_its_account_and_can_once_the_deal_ended()
    {
        await using var silo = new SiloFactory(_db);
        var http = await silo.ClientForAsync(SiloFactory.NewInstitution());
        var (buyer, seller) = await PartiesAsync(http, 100m);
        var deal = Id("d");
        Assert.Equal(HttpStatusCode.Created, (await CreateDealAsync(http, deal, buyer, seller, 100m, DateTimeOffset.UtcNow.AddDays(7))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.CommandAsync($"/deals/{deal}/fund", null)).StatusCode);

        // The buyer's balance is zero (all of it is in escrow), but the deal may still refund it: closing is refused.
        foreach (var party in new[] { buyer, seller })
        {
            var close = await http.CommandAsync($"/accounts/{party}/close", null);
            Assert.Equal(HttpStatusCode.Conflict, close.StatusCode);
            Assert.Equal("live_deals", (await close.JsonAsync()).GetProperty("code").GetString());
        }

        Assert.Equal(HttpStatusCode.OK, (await http.CommandAsync($"/deals/{deal}/cancel", """{"reason":"changed my mind"}""")).StatusCode);
        Assert.Equal(100m, await http.BalanceAsync(buyer));
        Assert.Equal(HttpStatusCode.OK, (await http.CommandAsync($"/accounts/{seller}/close", null)).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await http.WithdrawAsync(buyer, 100m)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.CommandAsync($"/accounts/{buyer}/close", null)).StatusCode);
    }

    [Fact]
    public async Task A_refused_create_leaves_no_escrow_account_behind()
    {
        await using var silo = new SiloFactory(_db);
        var http = await silo.ClientForAsync(SiloFactory.NewInstitution());
        var (buyer, _) = await PartiesAsync(http, 10m);
        var deal = Id("d");
        var refused = await CreateDealAsync(http, deal, buyer, "no-such-seller", 5m, DateTimeOffset.UtcNow.AddDays(1));
        Assert.Equal(HttpStatusCode.NotFound, refused.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync($"/accounts/escrow-{deal}")).StatusCode);
        Assert.Equal(0L, await _db.ScalarAsync<long>($"SELECT count(*) FROM streams WHERE stream_id LIKE 'account-%/escrow-{deal}'"));
    }

    [Fact]
    public async Task A_fund_racing_its_create_is_either_refused_as_unknown_or_applied_never_a_server_error()
    {
        await using var silo = new SiloFactory(_db);
        var http = await silo.ClientForAsync(SiloFactory.NewInstitution());
        var (buyer, seller) = await PartiesAsync(http, 1000m);
        var funded = 0;
        for (var i = 0; i < 25; i++)
        {
            var deal = Id("r");
            var create = CreateDealAsync(http, deal, buyer, seller, 10m, DateTimeOffset.UtcNow.AddDays(1));
            var fund = http.CommandAsync($"/deals/{deal}/fund", null);
            var (c, f) = (await create, await fund);
            Assert.Equal(HttpStatusCode.Created, c.StatusCode);
            Assert.True(f.StatusCode is HttpStatusCode.OK or HttpStatusCode.NotFound, $"fund answered {(int)f.StatusCode} {await f.Content.ReadAsStringAsync()}");
            if (f.StatusCode == HttpStatusCode.OK)
            {
                funded++;
                Assert.Equal(10m, await http.BalanceAsync($"escrow-{deal}"));
            }
            else Assert.Equal(0m, await http.BalanceAsync($"escrow-{deal}"));
        }
        Assert.Equal(1000m - 10m * funded, await http.BalanceAsync(buyer));
    }
}
