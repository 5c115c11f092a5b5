using System.Net;
using Escrow.Testing;
using Xunit.Abstractions;

namespace Escrow.Silo.Tests;

/// <summary>
/// GDPR erasure by crypto-shredding end to end: personal data of accounts, deals and payments is stored sealed (no table
/// holds it in clear), every read path shows it until the subject is erased and "[erased]" after, on every silo; legal holds
/// and open disputes refuse erasure; the erasure is idempotent and audited; the books, the hash chains and a rebuild of the
/// read models are unchanged by it.
/// </summary>
public class PersonalDataErasureTests(PgDatabase db, ITestOutputHelper output) : IClassFixture<PgDatabase>
{
    private const string Erased = "[erased]";

    private static string Id(string p) => $"{p}-{Guid.NewGuid():N}"[..20];

    /// <summary>Names of every table holding <paramref name="text"/> anywhere in a row.</summary>
    private async Task<List<string>> TablesHoldingAsync(string text)
    {
        var tables = await db.QueryListAsync<string>("SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'");
        var holding = new List<string>();
        foreach (var t in tables)
            if (await db.ScalarAsync<long>($"SELECT count(*) FROM \"{t}\" x WHERE x::text LIKE '%{text}%'") > 0) holding.Add(t);
        return holding;
    }

    private static async Task<string> TextAsync(HttpClient http, string path)
    {
        var r = await http.GetAsync(path);
        var body = await r.Content.ReadAsStringAsync();
        Assert.True(r.IsSuccessStatusCode, $"{path}: {(int)r.StatusCode} {body}");
        return body;
    }

    [Fact]
    public async Task Personal_data_is_sealed_everywhere_shown_until_erased_then_erased_on_every_read_path_while_the_books_still_add_up()
    {
        await using var silo = new SiloFactory(db);
        await using var other = new SiloFactory(db);   // a second silo of the cluster: its cache must hear of the erasure
        var institution = SiloFactory.NewInstitution();
        var writer = await silo.ClientForAsync(institution);
        using var root = silo.RootClient();
        root.DefaultRequestHeaders.Add("X-Escrow-Tenant", institution);
        var auditorOnOther = other.ClientWithKey(await silo.CreateKeyAsync(institution, "auditor"));
        var (jana, petr, deal, uetr) = (Id("jana"), Id("petr"), Id("deal"), Guid.NewGuid().ToString("D"));

        var openKey = Guid.NewGuid().ToString();
        var opened = await writer.CommandAsync("/accounts", $$"""{"accountId":"{{jana}}","owner":"Jana Novakova","currency":"EUR","subject":"cust-42"}""", openKey);
        Assert.Equal(HttpStatusCode.Created, opened.StatusCode);
        Assert.Equal("Jana Novakova", (await opened.JsonAsync()).GetProperty("owner").GetString());
        Assert.Equal(HttpStatusCode.Created, (await writer.CommandAsync("/accounts", $$"""{"accountId":"{{petr}}","owner":"Petr Svoboda","currency":"EUR"}""")).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await writer.DepositAsync(jana, 500m)).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await writer.CommandAsync("/deals", $$"""
            {"dealId":"{{deal}}","templateId":"default","buyerAccount":"{{jana}}","sellerAccount":"{{petr}}","amount":100,"currency":"EUR",
             "expiresAt":"{{DateTimeOffset.UtcNow.AddDays(7):O}}","terms":"deliver to Jana Novakova, Praha 4"}
            """)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await writer.CommandAsync($"/deals/{deal}/fund", null)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await writer.CommandAsync($"/deals/{deal}/disputes", """{"by":"buyer","reason":"Jana Novakova says the parcel never came"}""")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await writer.CommandAsync($"/deals/{deal}/evidence", """{"evidenceId":"e1","type":"email","content":"mail from Jana Novakova"}""")).StatusCode);
        var initiated = await writer.CommandAsync($"/payments/{uetr}/initiation", $$"""
            {"debtorAccount":"{{jana}}","debtorName":"Jana Novakova","amount":80,"currency":"EUR","creditorName":"Eva Horakova",
             "creditorAccount":"DE89370400440532013000","creditorAgent":"COBADEFFXXX"}
            """);
        Assert.True(initiated.IsSuccessStatusCode, await initiated.Content.ReadAsStringAsync());
        await writer.WaitForProjectionsAsync();

        // Stored: sealed in the events, snapshots, read models and stored answers; no table holds the names in clear.
        Assert.Empty(await TablesHoldingAsync("Novakova"));
        Assert.Empty(await TablesHoldingAsync("Horakova"));
        Assert.Empty(await TablesHoldingAsync("Svoboda"));
        Assert.StartsWith($"pii:v1;{institution};cust-42;",
            await db.ScalarAsync<string>($"SELECT data ->> 'owner' FROM events WHERE event_type = 'AccountOpened' AND data ->> 'accountId' = '{jana}'"));
        Assert.StartsWith($"pii:v1;{institution};cust-42,account:{petr};",
            await db.ScalarAsync<string>($"SELECT data ->> 'terms' FROM events WHERE event_type = 'DealCreated' AND data ->> 'dealId' = '{deal}'"));

        var enc = Uri.EscapeDataString($"account-{institution}/{jana}");
        var dealStream = Uri.EscapeDataString($"deal-{institution}/{deal}");
        string[] janaPaths =
        [
            $"/accounts/{jana}", $"/accounts/{jana}/events", $"/deals/{deal}", $"/deals/{deal}/events", $"/payments/{uetr}",
            $"/payments/{uetr}/events", $"/payments/{uetr}/messages/pacs.008", $"/dashboard/api/streams/{enc}/events",
            $"/dashboard/api/streams/{enc}/state", $"/dashboard/api/streams/{dealStream}/events",
        ];
        // Read paths that show no personal data at all (and must not show an envelope either).
        string[] otherPaths = [$"/deals/{deal}/timeline", $"/payments/{uetr}/timeline", $"/payments/{uetr}/status", "/deals", "/payments", "/audit"];
        foreach (var path in janaPaths)
        {
            var text = await TextAsync(path.StartsWith("/dashboard", StringComparison.Ordinal) ? root : writer, path);
            Assert.True(text.Contains("Novakova", StringComparison.Ordinal), $"{path}: {text}");
        }
        Assert.Contains("Novakova", await TextAsync(auditorOnOther, $"/accounts/{jana}"));   // the other silo has cached cust-42's key
        Assert.Contains("<Nm>Jana Novakova</Nm>", await TextAsync(writer, $"/payments/{uetr}/messages/pacs.008"));

        // A legal hold refuses erasure; so does the open dispute that names the subject.
        Assert.Equal(HttpStatusCode.Forbidden, (await writer.CommandAsync("/subjects/cust-42/erasure", null)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await root.CommandAsync("/subjects/cust-42/legal-hold", """{"reason":"case 2026-117, district court"}""")).StatusCode);
        var held = await root.CommandAsync("/subjects/cust-42/erasure", """{"reason":"art. 17 request"}""");
        Assert.Equal(HttpStatusCode.Conflict, held.StatusCode);
        Assert.Equal("legal_hold", (await held.JsonAsync()).GetProperty("code").GetString());
        Assert.Equal(HttpStatusCode.OK, (await root.CommandAsync("/subjects/cust-42/legal-hold/release", """{"reason":"case closed"}""")).StatusCode);
        var disputed = await root.CommandAsync("/subjects/cust-42/erasure", null);
        Assert.Equal(HttpStatusCode.Conflict, disputed.StatusCode);
        var problem = await disputed.JsonAsync();
        Assert.Equal("open_dispute", problem.GetProperty("code").GetString());
        Assert.Contains(deal, problem.GetProperty("detail").GetString());
        Assert.Contains("Novakova", await TextAsync(writer, $"/accounts/{jana}"));   // nothing was erased
        Assert.Equal(HttpStatusCode.OK, (await writer.CommandAsync($"/deals/{deal}/resolve", """{"buyerShare":60,"sellerShare":40,"note":"Jana Novakova gets 60"}""")).StatusCode);

        await writer.WaitForProjectionsAsync();
        var balanceBefore = await writer.BalanceAsync(jana);
        var eventsBefore = await db.EventCountAsync();

        // Erasure: 200, and again 200 with the same time (idempotent, also under a new key).
        var erasure = await root.CommandAsync("/subjects/cust-42/erasure", """{"reason":"art. 17 request"}""");
        var erased = await erasure.JsonAsync();
        Assert.True(erasure.StatusCode == HttpStatusCode.OK, erased.ToString());
        Assert.True(erased.GetProperty("erased").GetBoolean());
        var again = await (await root.CommandAsync("/subjects/cust-42/erasure", null)).JsonAsync();
        Assert.Equal(erased.GetProperty("erasedAt").GetDateTimeOffset(), again.GetProperty("erasedAt").GetDateTimeOffset());
        Assert.Equal(1, await db.ScalarAsync<long>($"SELECT count(*) FROM events WHERE stream_id = 'subject-{institution}/cust-42' AND event_type = 'PersonalDataErased'"));
        Assert.Equal(1, await db.ScalarAsync<long>($"SELECT count(*) FROM data_subjects WHERE tenant = '{institution}' AND subject = 'cust-42' AND key IS NULL"));
        Assert.True(await db.ScalarAsync<long>($"SELECT count(*) FROM audit_log WHERE operation = 'EraseSubject' AND tenant = '{institution}' AND outcome = 'accepted'") >= 2);
        Assert.Equal(1, await db.ScalarAsync<long>($"SELECT count(*) FROM audit_log WHERE operation = 'EraseSubject' AND tenant = '{institution}' AND outcome = 'rejected' AND code = 'legal_hold'"));
        var subject = await (await auditorOnOther.GetAsync("/subjects/cust-42")).JsonAsync();
        Assert.True(subject.GetProperty("erased").GetBoolean());
        var subjectStream = Uri.EscapeDataString($"subject-{institution}/cust-42");
        var folded = await (await root.GetAsync($"/dashboard/api/streams/{subjectStream}/state")).JsonAsync();
        Assert.Equal("root", folded.GetProperty("state").GetProperty("erasedBy").GetString());

        // Every read path, on both silos, shows the data as erased; what was not Jana's stays readable.
        await writer.WaitForProjectionsAsync();
        foreach (var path in janaPaths.Where(p => !p.EndsWith("pacs.008", StringComparison.Ordinal)))
        {
            var text = await TextAsync(path.StartsWith("/dashboard", StringComparison.Ordinal) ? root : writer, path);
            Assert.DoesNotContain("Novakova", text);
            Assert.DoesNotContain("pii:v1", text);
            Assert.True(text.Contains(Erased, StringComparison.Ordinal), $"{path}: {text}");
        }
        foreach (var path in otherPaths)
            Assert.DoesNotContain("pii:v1", await TextAsync(path == "/audit" ? root : writer, path));
        Assert.Equal(Erased, (await (await auditorOnOther.GetAsync($"/accounts/{jana}")).JsonAsync()).GetProperty("owner").GetString());
        var pacs008 = await writer.GetAsync($"/payments/{uetr}/messages/pacs.008");
        Assert.Equal(HttpStatusCode.Gone, pacs008.StatusCode);
        Assert.Equal("personal_data_erased", (await pacs008.JsonAsync()).GetProperty("code").GetString());
        var payment = await (await writer.GetAsync($"/payments/{uetr}")).JsonAsync();
        Assert.Equal(Erased, payment.GetProperty("instruction").GetProperty("debtorName").GetString());
        Assert.Equal("Eva Horakova", payment.GetProperty("instruction").GetProperty("creditorName").GetString());
        Assert.Equal(80m, payment.GetProperty("instruction").GetProperty("amount").GetDecimal());
        Assert.Equal("Petr Svoboda", (await (await writer.GetAsync($"/accounts/{petr}")).JsonAsync()).GetProperty("owner").GetString());
        var dealNow = await (await writer.GetAsync($"/deals/{deal}")).JsonAsync();
        Assert.Equal(Erased, dealNow.GetProperty("terms").GetString());   // sealed for both parties: erasing either erases it
        Assert.Equal(100m, dealNow.GetProperty("funded").GetDecimal());
        // A retry of the original open (same key) gets its stored answer, with the owner erased.
        var replay = await writer.CommandAsync("/accounts", $$"""{"accountId":"{{jana}}","owner":"Jana Novakova","currency":"EUR","subject":"cust-42"}""", openKey);
        Assert.Equal(HttpStatusCode.Created, replay.StatusCode);
        Assert.Equal(Erased, (await replay.JsonAsync()).GetProperty("owner").GetString());

        // The books: balances and events unchanged but for the one PersonalDataErased; hash chains and zero-sum below (verify).
        Assert.Equal(balanceBefore, await writer.BalanceAsync(jana));
        Assert.Equal(eventsBefore + 1, await db.EventCountAsync());
        // Nothing new may be sealed for an erased subject.
        var reuse = await writer.CommandAsync("/accounts", $$"""{"accountId":"{{Id("again")}}","owner":"Jana N.","currency":"EUR","subject":"cust-42"}""");
        Assert.Equal(HttpStatusCode.Conflict, reuse.StatusCode);
        Assert.Equal("subject_erased", (await reuse.JsonAsync()).GetProperty("code").GetString());
        var holdErased = await root.CommandAsync("/subjects/cust-42/legal-hold", """{"reason":"too late"}""");
        Assert.Equal("subject_erased", (await holdErased.JsonAsync()).GetProperty("code").GetString());

        var ownerBefore = await db.ScalarAsync<string>($"SELECT owner FROM account_balances WHERE tenant = '{institution}' AND account_id = '{jana}'");
        var (code, lines) = await Repository.RunEscrowAsync(db, TimeSpan.FromMinutes(2), null, "rebuild", "account_balances");
        output.WriteLine(string.Join('\n', lines));
        Assert.Equal(0, code);
        Assert.Equal(ownerBefore, await db.ScalarAsync<string>($"SELECT owner FROM account_balances WHERE tenant = '{institution}' AND account_id = '{jana}'"));
        (code, lines) = await Repository.RunEscrowAsync(db, TimeSpan.FromMinutes(2), null, "verify");
        output.WriteLine(string.Join('\n', lines));
        Assert.Equal(0, code);
        Assert.Empty(await TablesHoldingAsync("Novakova"));
    }

    [Fact]
    public async Task A_customer_reached_through_a_proxy_is_erased_from_the_directory_and_the_payment_by_the_subject_of_their_account()
    {
        await using var silo = new SiloFactory(db, runProjections: false);
        var institution = SiloFactory.NewInstitution();
        var writer = await silo.ClientForAsync(institution);
        using var root = silo.RootClient();
        root.DefaultRequestHeaders.Add("X-Escrow-Tenant", institution);
        var account = Id("karel");
        Assert.Equal(HttpStatusCode.Created,
            (await writer.CommandAsync("/accounts", $$"""{"accountId":"{{account}}","owner":"Karel Proxy","currency":"EUR","subject":"cust-77"}""")).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await writer.CommandAsync("/proxies",
            $$"""{"proxyType":"MOBL","proxyValue":"+420-777-123456","creditorName":"Karel Proxy","creditorAccount":"{{account}}","creditorAgent":"COBADEFFXXX"}""")).StatusCode);
        var uetr = Guid.NewGuid().ToString("D");
        var resolved = await (await writer.CommandAsync($"/payments/{uetr}/proxy-resolution", """{"proxyType":"MOBL","proxyValue":"+420-777-123456"}""")).JsonAsync();
        Assert.Equal("ProxyResolved", resolved.GetProperty("status").GetString());
        // The proxy value is the directory's lookup key: in clear there (and in the registration's stored answer), nowhere else.
        Assert.Equal(["idempotency", "proxy_directory"], (await TablesHoldingAsync("777-123456")).Order());
        Assert.Empty(await TablesHoldingAsync("Karel Proxy"));
        Assert.Contains("Karel Proxy", await TextAsync(writer, $"/payments/{uetr}/events"));
        Assert.Contains("777-123456", await TextAsync(writer, $"/payments/{uetr}/events"));
        Assert.Contains("Karel Proxy", await TextAsync(writer, "/proxies/MOBL/%2B420-777-123456"));

        Assert.Equal(HttpStatusCode.OK, (await root.CommandAsync("/subjects/cust-77/erasure", null)).StatusCode);
        var events = await TextAsync(writer, $"/payments/{uetr}/events");
        Assert.DoesNotContain("Karel Proxy", events);
        Assert.DoesNotContain("777-123456", events);
        Assert.Contains(Erased, events);
        Assert.DoesNotContain("Karel Proxy", await TextAsync(writer, "/proxies/MOBL/%2B420-777-123456"));
        Assert.Equal(Erased, (await (await writer.GetAsync($"/accounts/{account}")).JsonAsync()).GetProperty("owner").GetString());
    }

    [Theory]
    [InlineData("bad id with spaces", 400)]
    [InlineData("jana@example.com", 400)]
    public async Task A_malformed_subject_id_is_refused_with_400_and_changes_nothing(string subject, int status)
    {
        await using var silo = new SiloFactory(db, runProjections: false);
        using var root = silo.RootClient();
        var before = await db.EventCountAsync();
        var r = await root.CommandAsync($"/subjects/{Uri.EscapeDataString(subject)}/erasure", null);
        Assert.Equal(status, (int)r.StatusCode);
        Assert.Equal("invalid_subject_id", (await r.JsonAsync()).GetProperty("code").GetString());
        var writer = await silo.ClientForAsync();
        var open = await writer.CommandAsync("/accounts", $$"""{"accountId":"{{Id("x")}}","owner":"X","currency":"EUR","subject":"{{subject}}"}""");
        Assert.Equal(HttpStatusCode.BadRequest, open.StatusCode);
        Assert.Equal(before, await db.EventCountAsync());
        using var nowhere = silo.RootClient();
        nowhere.DefaultRequestHeaders.Add("X-Escrow-Tenant", "no-such-institution");
        var unknown = await nowhere.CommandAsync("/subjects/cust-1/erasure", null);
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal("institution_not_found", (await unknown.JsonAsync()).GetProperty("code").GetString());
        var noReason = await root.CommandAsync("/subjects/cust-1/legal-hold", "{}");
        Assert.Equal(HttpStatusCode.BadRequest, noReason.StatusCode);
        Assert.Equal(0, await db.ScalarAsync<long>("SELECT count(*) FROM data_subjects WHERE subject = 'cust-1'"));
    }

    [Fact]
    public async Task The_CLI_holds_refuses_releases_and_erases_a_subject_through_the_API()
    {
        var institution = SiloFactory.NewInstitution();
        await using (var silo = new SiloFactory(db, runProjections: false))
        {
            using var root = silo.RootClient();
            Assert.Equal(HttpStatusCode.Created, (await root.CommandAsync("/institutions", $$"""{"institutionId":"{{institution}}","name":"cli"}""")).StatusCode);
            root.DefaultRequestHeaders.Add("X-Escrow-Tenant", institution);
            Assert.Equal(HttpStatusCode.Created,
                (await root.CommandAsync("/accounts", $$"""{"accountId":"cli-1","owner":"Olga Cli","currency":"EUR","subject":"cli-cust"}""")).StatusCode);
        }
        async Task<(int Code, string Text)> Escrow(params string[] args)
        {
            var (code, lines) = await Repository.RunEscrowAsync(db, TimeSpan.FromMinutes(2), null, ["subjects", .. args, "--institution", institution]);
            var text = string.Join('\n', lines);
            output.WriteLine($"escrow subjects {string.Join(' ', args)} -> {code}\n{text}");
            return (code, text);
        }
        Assert.Equal(0, (await Escrow("hold", "cli-cust", "--reason", "regulator's order 7")).Code);
        var (refused, text) = await Escrow("erase", "cli-cust");
        Assert.Equal(1, refused);
        Assert.Contains("legal_hold", text);
        Assert.Equal(0, (await Escrow("release", "cli-cust")).Code);
        Assert.Equal(0, (await Escrow("erase", "cli-cust", "--reason", "art. 17 request")).Code);
        var (shown, state) = await Escrow("show", "cli-cust");
        Assert.Equal(0, shown);
        Assert.Contains("\"erased\":true", state);
        Assert.Equal(1, await db.ScalarAsync<long>($"SELECT count(*) FROM data_subjects WHERE tenant = '{institution}' AND subject = 'cli-cust' AND key IS NULL"));
        Assert.Equal(["LegalHoldPlaced", "LegalHoldReleased", "PersonalDataErased"],
            await db.QueryListAsync<string>($"SELECT event_type FROM events WHERE stream_id = 'subject-{institution}/cli-cust' ORDER BY version"));
    }
}
