using System.Diagnostics.Metrics;
using System.Globalization;
using System.Net;
using System.Text.Json;
using Escrow.Silo.Dashboard;
using Escrow.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Escrow.Silo.Tests;

/// <summary>
/// /dashboard and /dashboard/api/* through the real HTTP stack: keys and roles, numbers that follow commands, the
/// stream browser's reads, one stream's hash-chain check before and after a row is tampered with, and the meter.
/// </summary>
public class DashboardApiTests : IClassFixture<PgDatabase>, IAsyncLifetime
{
    private readonly PgDatabase _db;
    private SiloFactory _silo = null!;

    public DashboardApiTests(PgDatabase db) => _db = db;

    public Task InitializeAsync()
    {
        _silo = new SiloFactory(_db);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _silo.DisposeAsync();

    private static readonly string[] ApiPaths =
    [
        "/dashboard/api/me", "/dashboard/api/overview", "/dashboard/api/projections", "/dashboard/api/timers",
        "/dashboard/api/rejections", "/dashboard/api/audit", "/dashboard/api/streams/account-x/verify",
    ];

    [Fact]
    [Trait("Tier", "Slow")]
    public async Task The_overview_shows_the_clusters_commands_as_every_silo_reports_them()
    {
        // A second silo on the same database: commands sent through it show in the first silo's cluster figures.
        await using var other = new SiloFactory(_db);
        using var rootHere = _silo.RootClient();
        var before = await rootHere.GetAsync("/dashboard/api/overview");
        var here = (await before.JsonAsync()).GetProperty("siloId").GetString();
        using var writer = await other.ClientForAsync();
        var id = "cl-" + Guid.NewGuid().ToString("N")[..10];
        Assert.Equal(HttpStatusCode.Created, (await writer.OpenAsync(id)).StatusCode);
        for (var i = 0; i < 6; i++)
            Assert.Equal(HttpStatusCode.Created, (await writer.DepositAsync(id, 1m)).StatusCode);
        var otherId = (await (await other.RootClient().GetAsync("/dashboard/api/overview")).JsonAsync()).GetProperty("siloId").GetString();
        Assert.NotEqual(here, otherId);

        // The other silo reports its rate and total when this one asks (through Orleans); poll until it is active in the membership.
        JsonElement o = default, entry = default;
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (DateTime.UtcNow < deadline)
        {
            o = await (await rootHere.GetAsync("/dashboard/api/overview")).JsonAsync();
            entry = o.GetProperty("silos").EnumerateArray().FirstOrDefault(s => s.GetProperty("siloId").GetString() == otherId);
            if (entry.ValueKind == JsonValueKind.Object && entry.GetProperty("commands").GetInt64() >= 7) break;
            await Task.Delay(200);
        }
        Assert.True(entry.ValueKind == JsonValueKind.Object, "the other silo is in the membership table");
        var otherCommands = entry.GetProperty("commands").GetInt64();
        Assert.True(otherCommands >= 7, $"the other silo reported {otherCommands} commands");   // the open and six deposits
        var cluster = o.GetProperty("cluster");
        var mine = o.GetProperty("totals").GetProperty("commands").GetInt64();
        // This silo ran none of those commands; the cluster total is this silo's plus every other alive silo's.
        var othersAlive = o.GetProperty("silos").EnumerateArray()
            .Where(s => s.GetProperty("status").GetString() == "Alive" && s.GetProperty("siloId").GetString() != here)
            .Sum(s => s.GetProperty("commands").GetInt64());
        Assert.Equal(mine + othersAlive, cluster.GetProperty("commands").GetInt64());
        Assert.True(cluster.GetProperty("commands").GetInt64() >= mine + 7);
        Assert.True(cluster.GetProperty("silos").GetInt32() >= 2);
    }

    [Fact]
    public async Task The_api_answers_401_without_a_valid_key_403_to_a_writer_and_reads_for_root_and_auditors()
    {
        var institution = SiloFactory.NewInstitution();
        using var anonymous = _silo.CreateClient();
        using var unknown = _silo.ClientWithKey("esk_not-a-key");
        using var writer = await _silo.ClientForAsync(institution, "writer");
        using var auditor = await _silo.ClientForAsync(institution, "auditor");
        using var root = _silo.RootClient();

        foreach (var path in ApiPaths)
        {
            var none = await anonymous.GetAsync(path);
            Assert.Equal(HttpStatusCode.Unauthorized, none.StatusCode);
            Assert.Equal("api_key_required", (await none.JsonAsync()).GetProperty("code").GetString());
            Assert.Equal(HttpStatusCode.Unauthorized, (await unknown.GetAsync(path)).StatusCode);
            var forbidden = await writer.GetAsync(path);
            Assert.Equal(HttpStatusCode.Forbidden, forbidden.StatusCode);
            Assert.Equal("forbidden", (await forbidden.JsonAsync()).GetProperty("code").GetString());
            // Root and auditors read (account-x does not exist: 404, the same for both).
            var expected = path.Contains("/streams/", StringComparison.Ordinal) ? HttpStatusCode.NotFound : HttpStatusCode.OK;
            Assert.Equal(expected, (await auditor.GetAsync(path)).StatusCode);
            Assert.Equal(expected, (await root.GetAsync(path)).StatusCode);
        }

        var me = await (await auditor.GetAsync("/dashboard/api/me")).JsonAsync();
        Assert.Equal("auditor", me.GetProperty("role").GetString());
        Assert.Equal(institution, me.GetProperty("institution").GetString());

        // The page itself carries no data: it is served without a key, with a policy that allows no foreign code.
        var page = await anonymous.GetAsync("/dashboard");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        Assert.Contains("script-src 'self'", page.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);
        var html = await page.Content.ReadAsStringAsync();
        Assert.Contains("/dashboard/dashboard.js", html, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/dashboard/dashboard.js")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/dashboard/dashboard.css")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/dashboard/other.js")).StatusCode);

        // Bad parameters are 400 problems, never 500.
        var bad = await root.GetAsync("/dashboard/api/overview?seconds=5");
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Equal("invalid_seconds", (await bad.JsonAsync()).GetProperty("code").GetString());
        Assert.Equal(HttpStatusCode.BadRequest, (await root.GetAsync("/dashboard/api/audit?limit=0")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await root.GetAsync("/dashboard/api/streams/account-x/state?at=yesterday")).StatusCode);

        // Documented in the OpenAPI document like every other route.
        var openApi = await (await anonymous.GetAsync("/openapi/v1.json")).Content.ReadAsStringAsync();
        foreach (var path in new[] { "/dashboard", "/dashboard/api/overview", "/dashboard/api/streams/{streamId}/verify", "/dashboard/api/rejections" })
            Assert.Contains($"\"{path}\"", openApi, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_Orleans_Dashboard_needs_a_root_or_auditor_key_its_cross_institution_views_root_and_the_login_cookie_only_reads()
    {
        var institution = SiloFactory.NewInstitution();
        using var anonymous = _silo.CreateClient(new() { AllowAutoRedirect = false, HandleCookies = false });
        using var writer = await _silo.ClientForAsync(institution, "writer");
        using var auditor = await _silo.ClientForAsync(institution, "auditor");
        using var root = _silo.RootClient();
        Assert.Equal(HttpStatusCode.Created, (await writer.OpenAsync("od-1")).StatusCode);

        string[] paths = ["/orleans-dashboard/", "/orleans-dashboard/index.min.js", "/orleans-dashboard/DashboardCounters", "/orleans-dashboard/ClusterStats",
            "/orleans-dashboard/GrainTypes", "/orleans-dashboard/TopGrainMethods"];
        foreach (var path in paths)
        {
            var none = await anonymous.GetAsync(path);
            Assert.Equal(HttpStatusCode.Unauthorized, none.StatusCode);
            Assert.Equal("api_key_required", (await none.JsonAsync()).GetProperty("code").GetString());
            var forbidden = await writer.GetAsync(path);
            Assert.Equal(HttpStatusCode.Forbidden, forbidden.StatusCode);
            Assert.Equal("forbidden", (await forbidden.JsonAsync()).GetProperty("code").GetString());
            Assert.Equal(HttpStatusCode.OK, (await auditor.GetAsync(path)).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await root.GetAsync(path)).StatusCode);
        }
        // Its page links back to ours; our grain types are among its grain types.
        Assert.Contains("href=\"/dashboard\"", await (await auditor.GetAsync("/orleans-dashboard/")).Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Contains("Escrow.Silo.Grains.AccountGrain", await (await auditor.GetAsync("/orleans-dashboard/GrainTypes")).Content.ReadAsStringAsync(), StringComparison.Ordinal);

        // A grain's state and the reminders name any institution's grains: root only. The live log is off unless configured.
        var grainState = $"/orleans-dashboard/GrainState?grainId={Uri.EscapeDataString(institution + "/od-1")}&grainType=Escrow.Silo.Grains.AccountGrain";
        foreach (var path in new[] { grainState, "/orleans-dashboard/Reminders", "/orleans-dashboard/Trace" })
        {
            var refused = await auditor.GetAsync(path);
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
            Assert.Equal("forbidden", (await refused.JsonAsync()).GetProperty("code").GetString());
        }
        var state = await root.GetAsync(grainState);
        Assert.Equal(HttpStatusCode.OK, state.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await root.GetAsync("/orleans-dashboard/Reminders")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await root.GetAsync("/orleans-dashboard/Trace")).StatusCode);

        // The browser's login: POST /dashboard/api/session with the key sets an HttpOnly, SameSite=Strict cookie ...
        var login = await auditor.PostAsync("/dashboard/api/session", null);
        Assert.Equal(HttpStatusCode.OK, login.StatusCode);
        var setCookie = login.Headers.GetValues("Set-Cookie").Single();
        Assert.StartsWith(OrleansDashboard.KeyCookie + "=", setCookie, StringComparison.Ordinal);
        Assert.Contains("httponly", setCookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=strict", setCookie, StringComparison.OrdinalIgnoreCase);
        var cookie = setCookie.Split(';')[0];
        Assert.Equal(HttpStatusCode.Forbidden, (await writer.PostAsync("/dashboard/api/session", null)).StatusCode);
        // ... which reads of both dashboards accept, and nothing else: not a write, not another route.
        async Task<HttpStatusCode> WithCookie(HttpMethod method, string path, string? body = null)
        {
            using var request = new HttpRequestMessage(method, path);
            request.Headers.Add("Cookie", cookie);
            if (body is not null) request.Content = new StringContent(body, System.Text.Encoding.UTF8, "application/json");
            return (await anonymous.SendAsync(request)).StatusCode;
        }
        Assert.Equal(HttpStatusCode.OK, await WithCookie(HttpMethod.Get, "/orleans-dashboard/DashboardCounters"));
        Assert.Equal(HttpStatusCode.OK, await WithCookie(HttpMethod.Get, "/dashboard/api/me"));
        Assert.Equal(HttpStatusCode.Unauthorized, await WithCookie(HttpMethod.Get, "/accounts/od-1"));
        Assert.Equal(HttpStatusCode.Unauthorized, await WithCookie(HttpMethod.Post, "/dashboard/api/session"));
        Assert.Equal(HttpStatusCode.Unauthorized, await WithCookie(HttpMethod.Post, "/accounts", """{"accountId":"od-2","currency":"EUR"}"""));
        var logout = await auditor.DeleteAsync("/dashboard/api/session");
        Assert.Equal(HttpStatusCode.NoContent, logout.StatusCode);
        Assert.Contains("expires=", logout.Headers.GetValues("Set-Cookie").Single(), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    [Trait("Tier", "Slow")]
    public async Task Without_the_switch_the_silo_has_no_Orleans_Dashboard()
    {
        await using var plain = new SiloFactory(_db, settings: new Dictionary<string, string> { ["Escrow:OrleansDashboard"] = "false" });
        using var root = plain.RootClient();
        Assert.Equal(HttpStatusCode.NotFound, (await root.GetAsync("/orleans-dashboard/DashboardCounters")).StatusCode);
        Assert.DoesNotContain(plain.Services.GetServices<Orleans.IIncomingGrainCallFilter>(), f => f.GetType().FullName!.StartsWith("Orleans.Dashboard", StringComparison.Ordinal));
        Assert.Contains(_silo.Services.GetServices<Orleans.IIncomingGrainCallFilter>(), f => f.GetType().FullName!.StartsWith("Orleans.Dashboard", StringComparison.Ordinal));
        Assert.Equal(HttpStatusCode.OK, (await root.GetAsync("/dashboard/api/me")).StatusCode);
    }

    [Fact]
    public async Task Numbers_follow_the_commands_sent()
    {
        var institution = SiloFactory.NewInstitution();
        using var writer = await _silo.ClientForAsync(institution, "writer");
        using var auditor = await _silo.ClientForAsync(institution, "auditor");
        using var otherAuditor = await _silo.ClientForAsync(SiloFactory.NewInstitution(), "auditor");
        var before = await (await auditor.GetAsync("/dashboard/api/overview?seconds=60")).JsonAsync();
        var commands0 = before.GetProperty("totals").GetProperty("commands").GetInt64();
        var rejections0 = before.GetProperty("totals").GetProperty("rejections").GetInt64();
        var events0 = before.GetProperty("totals").GetProperty("events").GetInt64();

        var id = "dash-" + Guid.NewGuid().ToString("N")[..8];
        Assert.Equal(HttpStatusCode.Created, (await writer.OpenAsync(id)).StatusCode);              // 1 command, 1 event
        Assert.Equal(HttpStatusCode.Created, (await writer.DepositAsync(id, 50m)).StatusCode);      // + the house account: 2 commands, 3 events
        Assert.Equal(HttpStatusCode.Conflict, (await writer.WithdrawAsync(id, 80m)).StatusCode);    // 1 rejected command

        var after = await (await auditor.GetAsync("/dashboard/api/overview?seconds=60")).JsonAsync();
        var totals = after.GetProperty("totals");
        Assert.True(totals.GetProperty("commands").GetInt64() >= commands0 + 4, totals.ToString());
        Assert.True(totals.GetProperty("rejections").GetInt64() >= rejections0 + 1, totals.ToString());
        Assert.True(totals.GetProperty("events").GetInt64() >= events0 + 4, totals.ToString());
        var series = after.GetProperty("series").EnumerateArray().ToList();
        Assert.Equal(60, series.Count);
        Assert.True(series.Sum(p => p.GetProperty("commands").GetInt64()) >= 4);
        Assert.True(series.Sum(p => p.GetProperty("rejections").GetInt64()) >= 1);
        Assert.Contains(series, p => p.GetProperty("p99").ValueKind == JsonValueKind.Number && p.GetProperty("p99").GetDouble() > 0);
        Assert.True(after.GetProperty("activations").GetProperty("account").GetInt32() >= 2);
        Assert.NotEqual(JsonValueKind.Null, after.GetProperty("recent").GetProperty("p50").ValueKind);

        // Silos from Orleans's membership table: this one is active once its silo has joined.
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (after.GetProperty("silosAlive").GetInt32() < 1 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
            after = await (await auditor.GetAsync("/dashboard/api/overview?seconds=60")).JsonAsync();
        }
        Assert.True(after.GetProperty("silosAlive").GetInt32() >= 1);

        // Rejections by code come from the audit log, scoped to the auditor's institution.
        var byCode = (await (await auditor.GetAsync("/dashboard/api/rejections")).JsonAsync()).GetProperty("byCode").EnumerateArray().ToList();
        Assert.Contains(byCode, c => c.GetProperty("code").GetString() == "insufficient_funds" && c.GetProperty("count").GetInt64() == 1);
        var others = (await (await otherAuditor.GetAsync("/dashboard/api/rejections")).JsonAsync()).GetProperty("byCode").EnumerateArray();
        Assert.DoesNotContain(others, c => c.GetProperty("code").GetString() == "insufficient_funds");

        var tail = (await (await auditor.GetAsync("/dashboard/api/audit?limit=10")).JsonAsync()).EnumerateArray().ToList();
        Assert.Equal("Post.Withdrawal", tail[0].GetProperty("operation").GetString());     // newest first
        Assert.All(tail, a => Assert.Equal(institution, a.GetProperty("tenant").GetString()));
        Assert.DoesNotContain((await (await otherAuditor.GetAsync("/dashboard/api/audit")).JsonAsync()).EnumerateArray(),
            a => a.GetProperty("tenant").GetString() == institution);

        // Projections: every one listed, and caught up after the commands.
        using var root = _silo.RootClient();
        await root.WaitForProjectionsAsync();
        var projections = (await (await auditor.GetAsync("/dashboard/api/projections")).JsonAsync()).EnumerateArray().ToList();
        Assert.Equal(Escrow.Projections.ProjectionCatalog.All().Select(p => p.Name).Order(), projections.Select(p => p.GetProperty("name").GetString()!).Order());
        Assert.All(projections, p =>
        {
            Assert.Equal(0, p.GetProperty("deadLetters").GetInt64());
            Assert.Equal(0, p.GetProperty("eventsBehind").GetInt64());
        });
        Assert.Contains(projections, p => p.GetProperty("progress").GetDouble() == 1.0);
    }

    [Fact]
    public async Task The_stream_browser_reads_events_and_state_as_of_an_instant_and_the_chain_check_names_a_tampered_link()
    {
        var institution = SiloFactory.NewInstitution();
        using var writer = await _silo.ClientForAsync(institution, "writer");
        using var auditor = await _silo.ClientForAsync(institution, "auditor");
        using var stranger = await _silo.ClientForAsync(SiloFactory.NewInstitution(), "auditor");
        var id = "chain-" + Guid.NewGuid().ToString("N")[..8];
        var stream = $"account-{institution}/{id}";
        var enc = Uri.EscapeDataString(stream);   // the id's '/' travels as %2F
        Assert.Equal(HttpStatusCode.Created, (await writer.OpenAsync(id)).StatusCode);
        foreach (var amount in new[] { 10m, 20m, 30m })
            Assert.Equal(HttpStatusCode.Created, (await writer.DepositAsync(id, amount)).StatusCode);

        var head = await (await auditor.GetAsync($"/dashboard/api/streams/{enc}")).JsonAsync();
        Assert.Equal("account", head.GetProperty("streamType").GetString());
        Assert.Equal(institution, head.GetProperty("tenant").GetString());
        Assert.Equal(4, head.GetProperty("version").GetInt64());

        var events = (await (await auditor.GetAsync($"/dashboard/api/streams/{enc}/events")).JsonAsync()).EnumerateArray().ToList();
        Assert.Equal(["AccountOpened", "AccountCredited", "AccountCredited", "AccountCredited"], events.Select(e => e.GetProperty("eventType").GetString()));
        Assert.All(events, e => Assert.Equal(institution, e.GetProperty("metadata").GetProperty("tenant").GetString()));

        var now = await (await auditor.GetAsync($"/dashboard/api/streams/{enc}/state")).JsonAsync();
        Assert.Equal(60m, now.GetProperty("state").GetProperty("balance").GetDecimal());
        Assert.Equal(4, now.GetProperty("version").GetInt64());
        var second = events[1].GetProperty("occurredAt").GetDateTimeOffset();
        var past = await (await auditor.GetAsync($"/dashboard/api/streams/{enc}/state?at={Uri.EscapeDataString(second.ToString("O", CultureInfo.InvariantCulture))}")).JsonAsync();
        Assert.Equal(10m, past.GetProperty("state").GetProperty("balance").GetDecimal());
        Assert.Equal(2, past.GetProperty("version").GetInt64());

        // Lookup by kind and id: the stream ids this key may read.
        Assert.Equal([stream], (await (await auditor.GetAsync($"/dashboard/api/streams?kind=account&id={id}")).JsonAsync()).EnumerateArray().Select(e => e.GetString()));
        Assert.Empty((await (await stranger.GetAsync($"/dashboard/api/streams?kind=account&id={id}")).JsonAsync()).EnumerateArray());
        Assert.Equal(HttpStatusCode.BadRequest, (await auditor.GetAsync($"/dashboard/api/streams?kind=ledger&id={id}")).StatusCode);
        // A payment stream is payment-{tenant}-{uetr}: found by its UETR alone, only by its own institution.
        var uetr = Guid.NewGuid().ToString();
        var payment = $"payment-{institution}-{uetr}";
        // Only the stream's row (no event: the projections would have to apply it).
        await _db.ExecAsOwnerAsync($"INSERT INTO streams (stream_id, stream_type, tenant, version, last_hash) VALUES ('{payment}', 'payment', '{institution}', 1, '\\x00')");
        var found = await auditor.GetAsync($"/dashboard/api/streams?kind=payment&id={uetr}");
        Assert.True(found.IsSuccessStatusCode, await found.Content.ReadAsStringAsync());
        Assert.Equal([payment], (await found.JsonAsync()).EnumerateArray().Select(e => e.GetString()));
        Assert.Empty((await (await stranger.GetAsync($"/dashboard/api/streams?kind=payment&id={uetr}")).JsonAsync()).EnumerateArray());
        Assert.Empty((await (await auditor.GetAsync("/dashboard/api/streams?kind=payment&id=%25")).JsonAsync()).EnumerateArray());   // '%' is no wildcard

        var ok = await (await auditor.GetAsync($"/dashboard/api/streams/{enc}/verify")).JsonAsync();
        Assert.True(ok.GetProperty("ok").GetBoolean(), ok.ToString());
        Assert.Equal(4, ok.GetProperty("eventsChecked").GetInt64());

        // Another institution's auditor learns nothing: the same 404 as a stream that does not exist.
        foreach (var path in new[] { "", "/events", "/state", "/verify" })
        {
            var r = await stranger.GetAsync($"/dashboard/api/streams/{enc}{path}");
            Assert.Equal(HttpStatusCode.NotFound, r.StatusCode);
            Assert.Equal("stream_not_found", (await r.JsonAsync()).GetProperty("code").GetString());
        }

        // Someone with the owner's rights disables the trigger and changes the second deposit.
        await _db.ExecAsOwnerAsync($$"""
            ALTER TABLE events DISABLE TRIGGER events_no_update_delete;
            UPDATE events SET data = jsonb_set(data, '{amount}', '25.00') WHERE stream_id = '{{stream}}' AND version = 3;
            ALTER TABLE events ENABLE TRIGGER events_no_update_delete;
            """);
        var broken = await (await auditor.GetAsync($"/dashboard/api/streams/{enc}/verify")).JsonAsync();
        Assert.False(broken.GetProperty("ok").GetBoolean());
        Assert.Equal(3, broken.GetProperty("brokenVersion").GetInt64());
        Assert.Equal(events[2].GetProperty("globalPosition").GetInt64(), broken.GetProperty("brokenGlobalPosition").GetInt64());
        Assert.Contains("content", broken.GetProperty("reason").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Commands_are_published_on_the_Orleans_Escrow_meter_with_their_tags()
    {
        using var writer = await _silo.ClientForAsync();
        var factory = _silo.Services.GetRequiredService<IMeterFactory>();
        var commands = new List<(long Value, Dictionary<string, object?> Tags)>();
        var durations = new List<double>();
        long events = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            // Only this silo's meter (the test process may host others).
            if (instrument.Meter.Name == EscrowMetrics.MeterName && ReferenceEquals(instrument.Meter.Scope, factory)) l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            lock (commands)
            {
                if (instrument.Name == "escrow.commands") commands.Add((value, tags.ToArray().ToDictionary(t => t.Key, t => t.Value)));
                if (instrument.Name == "escrow.events.appended") events += value;
            }
        });
        listener.SetMeasurementEventCallback<double>((instrument, value, _, _) =>
        {
            lock (commands) if (instrument.Name == "escrow.command.duration") durations.Add(value);
        });
        var activations = new List<(int Value, string? Type)>();
        listener.SetMeasurementEventCallback<int>((instrument, value, tags, _) =>
        {
            if (instrument.Name == "escrow.activations")
                foreach (var t in tags) if (t.Key == "aggregate.type") activations.Add((value, t.Value as string));
        });
        listener.Start();

        var id = "meter-" + Guid.NewGuid().ToString("N")[..8];
        Assert.Equal(HttpStatusCode.Created, (await writer.OpenAsync(id)).StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, (await writer.WithdrawAsync(id, 5m)).StatusCode);
        listener.RecordObservableInstruments();

        lock (commands)
        {
            Assert.Contains(commands, c => Equals(c.Tags["outcome"], "accepted") && Equals(c.Tags["operation"], "OpenAccount") && Equals(c.Tags["aggregate.type"], "account"));
            Assert.Contains(commands, c => Equals(c.Tags["outcome"], "rejected") && Equals(c.Tags["operation"], "Post.Withdrawal")
                && Equals(c.Tags["rejection.code"], "insufficient_funds"));
            Assert.DoesNotContain(commands, c => Equals(c.Tags["outcome"], "accepted") && c.Tags.ContainsKey("rejection.code"));
            Assert.True(durations.Count >= 2 && durations.All(d => d > 0));
            Assert.True(events >= 1);
        }
        Assert.Contains(activations, a => a.Type == "account" && a.Value >= 1);
    }
}
