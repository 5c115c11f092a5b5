using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Escrow.Domain;
using Escrow.Domain.Iso20022;
using Escrow.Grains;
using Microsoft.Extensions.DependencyInjection;
using Escrow.Silo.Payments;
using Escrow.Testing;
using Xunit.Abstractions;

namespace Escrow.Silo.Tests;

/// <summary>
/// Cross-border payments over HTTP: the real ISO 20022 samples replayed through <c>POST /payments/messages</c>,
/// bad input, the quote → select → resolve → initiate → accept → complete flow with its money, returns, and races.
/// </summary>
public class PaymentHttpTests(PgDatabase db, ITestOutputHelper output) : IClassFixture<PgDatabase>
{
    private const string FedwireUetr = "8a562c67-ca16-48ba-b074-65581be6f011";

    /// <summary>The state each Fedwire scenario's name implies (see the domain's IsoReplayTests for the reading of each).</summary>
    public static readonly Dictionary<string, string> Expected = new(StringComparer.Ordinal)
    {
        ["customercredittransfer/scenario1"] = "Accepted",
        ["customercredittransfer/scenario2"] = "Rejected",
        ["customercredittransfer/scenario3"] = "Accepted",
        ["customercredittransfer/scenario4"] = "Accepted",
        ["customercredittransfer/scenario5"] = "Accepted",
        ["customercredittransfer/variation1"] = "Initiated",
        ["customercredittransfer/variation2"] = "Initiated",
        ["customercredittransfer/variation3"] = "Initiated",
        ["paymentreturn/scenario1"] = "PartiallyReturned",
        ["paymentreturn/scenario4"] = "Returned",
    };

    private static string DataRoot => IsoSamples.Root;

    private static IReadOnlyDictionary<string, IReadOnlyList<string>> FedwireScenarios() =>
        IsoFiles.Groups(Path.Combine(DataRoot, "fedwire-2025")).ToDictionary(g => g.Group.Split(':')[1], g => g.Files);

    public static TheoryData<string> Scenarios() => new(Expected.Keys.Order(StringComparer.Ordinal));

    private static async Task<HttpResponseMessage> PostMessageAsync(HttpClient http, string xml, string? tenant = null, string? key = null)
    {
        using var req = new HttpRequestMessage(HttpMethod.Post, "/payments/messages") { Content = new StringContent(xml, Encoding.UTF8, "application/xml") };
        if (tenant is not null) req.Headers.Add("X-Escrow-Tenant", tenant);
        if (key is not null) req.Headers.Add("Idempotency-Key", key);
        return await http.SendAsync(req);
    }

    private static async Task<HttpResponseMessage> GetAsync(HttpClient http, string path, string? tenant = null)
    {
        using var req = new HttpRequestMessage(HttpMethod.Get, path);
        if (tenant is not null) req.Headers.Add("X-Escrow-Tenant", tenant);
        return await http.SendAsync(req);
    }

    private static string Tenant() => "t" + Guid.NewGuid().ToString("N")[..10];

    private static string Code(JsonElement problem) => problem.GetProperty("code").GetString()!;

    [Theory]
    [MemberData(nameof(Scenarios))]
    public async Task Each_fedwire_scenario_replayed_over_HTTP_in_its_own_tenant_reaches_the_state_its_name_implies(string scenario)
    {
        await using var silo = new SiloFactory(db);
        var root = silo.RootClient();
        var tenant = Tenant();
        foreach (var file in FedwireScenarios()[scenario])
        {
            var r = await PostMessageAsync(root, await File.ReadAllTextAsync(file), tenant);
            var body = await r.Content.ReadAsStringAsync();
            output.WriteLine($"{Path.GetFileName(file)} → {(int)r.StatusCode} {body[..Math.Min(body.Length, 160)]}");
            Assert.True(r.IsSuccessStatusCode, $"{Path.GetFileName(file)}: {(int)r.StatusCode} {body}");
        }
        var payment = await (await GetAsync(root, $"/payments/{FedwireUetr}", tenant)).JsonAsync();
        Assert.Equal(Expected[scenario], payment.GetProperty("status").GetString());
        // The pacs.008 as received is kept as evidence, byte for byte.
        var stored = await (await GetAsync(root, $"/payments/{FedwireUetr}/messages/pacs.008", tenant)).Content.ReadAsStringAsync();
        var sent = await File.ReadAllTextAsync(FedwireScenarios()[scenario].First(f => f.Contains("pacs.008", StringComparison.Ordinal)));
        Assert.Equal(sent, stored);
    }

    [Fact]
    public async Task Two_scenarios_replayed_into_one_store_are_detected_and_an_identical_message_is_a_no_op()
    {
        await using var silo = new SiloFactory(db);
        var root = silo.RootClient();
        var tenant = Tenant();
        var scenarios = FedwireScenarios();
        var first = scenarios["customercredittransfer/scenario1"].First(f => f.EndsWith("Step1_pacs.008", StringComparison.Ordinal));
        Assert.Equal(HttpStatusCode.Created, (await PostMessageAsync(root, await File.ReadAllTextAsync(first), tenant)).StatusCode);

        var again = await PostMessageAsync(root, await File.ReadAllTextAsync(first), tenant);
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        Assert.False((await again.JsonAsync()).GetProperty("changed").GetBoolean());

        var events = await db.EventCountAsync();
        var other = scenarios["customercredittransfer/scenario2"].First(f => f.EndsWith("pacs.008", StringComparison.Ordinal));
        var conflict = await PostMessageAsync(root, await File.ReadAllTextAsync(other), tenant);
        Assert.Equal(HttpStatusCode.Conflict, conflict.StatusCode);
        var problem = await conflict.JsonAsync();
        Assert.Equal("uetr_conflict", Code(problem));
        Assert.Contains(FedwireUetr, problem.GetProperty("detail").GetString());
        Assert.Equal(events, await db.EventCountAsync());
    }

    [Fact]
    public async Task Two_institutions_may_hold_the_same_UETR_without_seeing_each_other()
    {
        await using var silo = new SiloFactory(db);
        var (i1, i2) = (SiloFactory.NewInstitution(), SiloFactory.NewInstitution());
        var (one, two) = (await silo.ClientForAsync(i1), await silo.ClientForAsync(i2));
        var uetr = Guid.NewGuid().ToString("D");
        Assert.Equal(HttpStatusCode.Created, (await PostMessageAsync(one, IsoWriter.Pacs008(Instruction(uetr, 10m, "USD", "A", "B"), "001.09"))).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await two.GetAsync($"/payments/{uetr}")).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await PostMessageAsync(two, IsoWriter.Pacs008(Instruction(uetr, 99m, "EUR", "C", "D"), "001.09"))).StatusCode);
        Assert.Equal(10m, (await (await one.GetAsync($"/payments/{uetr}")).JsonAsync()).GetProperty("instruction").GetProperty("amount").GetDecimal());
        Assert.Equal(99m, (await (await two.GetAsync($"/payments/{uetr}")).JsonAsync()).GetProperty("instruction").GetProperty("amount").GetDecimal());
        await one.WaitForProjectionsAsync();
        Assert.Equal(2L, await db.ScalarAsync<long>($"SELECT count(DISTINCT tenant) FROM payment_status WHERE uetr = '{uetr}' AND tenant IN ('{i1}', '{i2}')"));
    }

    [Fact]
    public async Task The_dashboard_stream_browser_finds_a_payment_by_its_UETR_within_the_callers_institution()
    {
        await using var silo = new SiloFactory(db);
        var institution = SiloFactory.NewInstitution();
        var writer = await silo.ClientForAsync(institution);
        var auditor = await silo.ClientForAsync(institution, "auditor");
        var stranger = await silo.ClientForAsync(SiloFactory.NewInstitution(), "auditor");
        var uetr = Guid.NewGuid().ToString("D");
        Assert.Equal(HttpStatusCode.Created, (await PostMessageAsync(writer, IsoWriter.Pacs008(Instruction(uetr, 12.5m, "USD", "A", "B"), "001.09"))).StatusCode);

        var state = await auditor.GetAsync($"/dashboard/api/streams/payment-{uetr}/state");
        Assert.Equal(HttpStatusCode.OK, state.StatusCode);
        var body = await state.JsonAsync();
        Assert.Equal($"payment-{institution}-{uetr}", body.GetProperty("streamId").GetString());
        Assert.Equal("Initiated", body.GetProperty("state").GetProperty("status").GetString());
        var verify = await (await auditor.GetAsync($"/dashboard/api/streams/payment-{uetr}/verify")).JsonAsync();
        Assert.True(verify.GetProperty("ok").GetBoolean());
        Assert.Equal(HttpStatusCode.NotFound, (await stranger.GetAsync($"/dashboard/api/streams/payment-{uetr}/state")).StatusCode);
    }

    [Fact]
    public async Task Every_sample_file_is_answered_without_a_server_error()
    {
        await using var silo = new SiloFactory(db);
        var root = silo.RootClient();
        foreach (var folder in new[] { "cbpr-usage-rules", "camt054-postfinance", "fedwire-2025" })
        {
            var tenant = Tenant();
            foreach (var (_, files) in IsoFiles.Groups(Path.Combine(DataRoot, folder)))
                foreach (var file in files)
                {
                    var r = await PostMessageAsync(root, await File.ReadAllTextAsync(file), tenant);
                    var body = await r.Content.ReadAsStringAsync();
                    output.WriteLine($"{folder}/{Path.GetFileName(file)} → {(int)r.StatusCode} {body[..Math.Min(body.Length, 140)]}");
                    Assert.True((int)r.StatusCode is >= 200 and < 500, $"{file}: {(int)r.StatusCode}");
                    if (!r.IsSuccessStatusCode)
                        Assert.Equal("application/problem+json", r.Content.Headers.ContentType?.MediaType);
                }
        }
    }

    [Fact]
    public async Task Bad_messages_are_refused_with_a_problem_change_nothing_and_are_audited()
    {
        await using var silo = new SiloFactory(db);
        var institution = SiloFactory.NewInstitution();
        var writer = await silo.ClientForAsync(institution);
        var auditor = await silo.ClientForAsync(institution, "auditor");
        var pacs008 = await File.ReadAllTextAsync(FedwireScenarios()["customercredittransfer/scenario1"].First(f => f.EndsWith("Step1_pacs.008", StringComparison.Ordinal)));
        var known = Instruction(Guid.NewGuid().ToString("D"), 250m, "USD", "ALICE-1", "BOB-1");
        Assert.Equal(HttpStatusCode.Created, (await PostMessageAsync(writer, IsoWriter.Pacs008(known, "001.09"))).StatusCode);
        var events = await db.EventCountAsync();

        var cases = new (string Name, string Xml, HttpStatusCode Status, string Code)[]
        {
            ("malformed XML", "<Document><FIToFICstmrCdtTrf>", HttpStatusCode.BadRequest, "malformed_xml"),
            ("unknown message type", """<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt/></Document>""", HttpStatusCode.BadRequest, "unknown_message_type"),
            ("missing UETR", pacs008.Replace("<UETR>" + FedwireUetr + "</UETR>", "", StringComparison.Ordinal), HttpStatusCode.BadRequest, "missing_uetr"),
            ("status for an unknown UETR", IsoWriter.Pacs002(Instruction(Guid.NewGuid().ToString("D"), 5m, "USD", "X", "Y"), "S1", DateTimeOffset.UtcNow, "ACSC"),
                HttpStatusCode.NotFound, "unknown_uetr"),
            ("amount mismatch with the original", IsoWriter.Pacs002(known with { Amount = new Money(249m, Currency.Parse("USD")) }, "S2", DateTimeOffset.UtcNow, "ACSC"),
                HttpStatusCode.Conflict, "amount_mismatch"),
            ("currency mismatch with the original", IsoWriter.Pacs002(known with { Amount = new Money(250m, Currency.Parse("EUR")) }, "S3", DateTimeOffset.UtcNow, "ACSC"),
                HttpStatusCode.Conflict, "currency_mismatch"),
        };
        foreach (var c in cases)
        {
            var r = await PostMessageAsync(writer, c.Xml);
            Assert.True(c.Status == r.StatusCode, $"{c.Name}: {(int)r.StatusCode} {await r.Content.ReadAsStringAsync()}");
            Assert.Equal("application/problem+json", r.Content.Headers.ContentType?.MediaType);
            var problem = await r.JsonAsync();
            Assert.Equal(c.Code, Code(problem));
            Assert.False(string.IsNullOrWhiteSpace(problem.GetProperty("detail").GetString()));
        }
        Assert.Equal(events, await db.EventCountAsync());

        // Out of order: a pacs.002 for a payment that has quotes but no pacs.008 yet.
        await writer.CommandAsync("/fxps/fxp-a/rates", """{"sourceCurrency":"USD","targetCurrency":"EUR","rate":0.92,"spread":0.002,"validForSeconds":60}""");
        var quoted = await (await writer.CommandAsync("/payments/quotes", """{"sourceCurrency":"USD","targetCurrency":"EUR","amount":10}""")).JsonAsync();
        var early = Instruction(quoted.GetProperty("uetr").GetString()!, 10m, "USD", "A", "B");
        events = await db.EventCountAsync();
        var outOfOrder = await PostMessageAsync(writer, IsoWriter.Pacs002(early, "S4", DateTimeOffset.UtcNow, "ACSC"));
        Assert.Equal(HttpStatusCode.Conflict, outOfOrder.StatusCode);
        Assert.Equal("payment_not_initiated", Code(await outOfOrder.JsonAsync()));
        Assert.Equal(events, await db.EventCountAsync());

        // Every refusal is in the institution's audit log with its code.
        var audit = await (await auditor.GetAsync("/audit?limit=500")).JsonAsync();
        var codes = audit.GetProperty("records").EnumerateArray()
            .Where(a => a.GetProperty("outcome").GetString() is "refused" or "rejected")
            .Select(a => a.GetProperty("code").GetString()).ToHashSet();
        foreach (var expected in cases.Select(c => c.Code).Append("payment_not_initiated"))
            Assert.Contains(expected, codes);
    }

    private static PaymentInstruction Instruction(string uetr, decimal amount, string currency, string debtorAccount, string creditorAccount,
        string debtorAgent = "011104238", string creditorAgent = "021040078") =>
        new("M" + uetr[..8], DateTimeOffset.UtcNow, uetr, "E2E-" + uetr[..8], new Money(amount, Currency.Parse(currency)), DateOnly.FromDateTime(DateTime.UtcNow),
            new Party("Debtor", debtorAccount), new Agent(null, debtorAgent), new Party("Creditor", creditorAccount), new Agent(null, creditorAgent));

    /// <summary>The instruction of a pacs.008 the silo sent, as the network answering it (pacs.002, camt.054) quotes it.</summary>
    private static PaymentInstruction Sent(CreditTransferMessage? m) =>
        new(m!.Info.MessageId!, DateTimeOffset.UtcNow, m.Uetr, m.EndToEndId!, m.Settlement, m.SettlementDate!.Value, m.Debtor, m.DebtorAgent, m.Creditor, m.CreditorAgent);

    private static async Task<JsonElement> AccountAsync(HttpClient http, string id) => await (await http.GetAsync($"/accounts/{id}")).JsonAsync();

    private async Task AssertZeroSumAsync(HttpClient http)
    {
        await http.WaitForProjectionsAsync();
        var sums = await db.ScalarAsync<long>("SELECT count(*) FROM (SELECT currency FROM account_balances GROUP BY currency HAVING sum(balance) <> 0) s");
        Assert.Equal(0, sums);
    }

    [Fact]
    public async Task An_FX_payment_runs_from_quote_to_notification_and_the_money_follows_every_step()
    {
        await using var silo = new SiloFactory(db);
        var institution = SiloFactory.NewInstitution();
        var http = await silo.ClientForAsync(institution);
        var alice = "alice-" + Guid.NewGuid().ToString("N")[..8];
        Assert.Equal(HttpStatusCode.Created, (await http.OpenAsync(alice, "USD")).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await http.DepositAsync(alice, 1000m, "USD")).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await http.CommandAsync("/fxps/fxp-a/rates", """{"sourceCurrency":"USD","targetCurrency":"EUR","rate":0.92,"spread":0.002,"validForSeconds":300}""")).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await http.CommandAsync("/fxps/fxp-b/rates", """{"sourceCurrency":"USD","targetCurrency":"EUR","rate":0.91,"spread":0.001,"validForSeconds":300}""")).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await http.CommandAsync("/proxies", """{"proxyType":"MOBL","proxyValue":"+49-170-1234567","creditorName":"Bob","creditorAccount":"DE89370400440532013000","creditorAgent":"COBADEFFXXX"}""")).StatusCode);

        var quoted = await http.CommandAsync("/payments/quotes", """{"sourceCurrency":"USD","targetCurrency":"EUR","amount":400}""");
        Assert.Equal(HttpStatusCode.Created, quoted.StatusCode);
        var q = await quoted.JsonAsync();
        var uetr = q.GetProperty("uetr").GetString()!;
        var quotes = q.GetProperty("quotes").EnumerateArray().ToList();
        Assert.Equal(["fxp-a", "fxp-b"], quotes.Select(x => x.GetProperty("fxpId").GetString()).Order());
        Assert.Equal(0.91816000m, quotes.Single(x => x.GetProperty("fxpId").GetString() == "fxp-a").GetProperty("rate").GetDecimal()); // 0.92 × (1 − 0.002)

        Assert.Equal("QuoteSelected", (await (await http.CommandAsync($"/payments/{uetr}/quote-selection", """{"quoteId":"q-fxp-a"}""")).JsonAsync()).GetProperty("status").GetString());
        var resolved = await (await http.CommandAsync($"/payments/{uetr}/proxy-resolution", """{"proxyType":"MOBL","proxyValue":"+49-170-1234567"}""")).JsonAsync();
        Assert.Equal("ProxyResolved", resolved.GetProperty("status").GetString());

        var initiated = await http.CommandAsync($"/payments/{uetr}/initiation", $$"""{"debtorAccount":"{{alice}}","debtorName":"Alice","amount":400,"currency":"USD"}""");
        var payment = await initiated.JsonAsync();
        Assert.True(initiated.StatusCode == HttpStatusCode.OK, payment.ToString());
        Assert.Equal("Forwarded", payment.GetProperty("status").GetString());
        Assert.Equal(367.26m, payment.GetProperty("booking").GetProperty("targetAmount").GetDecimal()); // 400 × 0.91816 = 367.264 → 367.26 EUR
        Assert.Equal("DE89370400440532013000", payment.GetProperty("instruction").GetProperty("creditorAccount").GetString());
        var a = await AccountAsync(http, alice);
        Assert.Equal(1000m, a.GetProperty("balance").GetDecimal());
        Assert.Equal(400m, a.GetProperty("held").GetDecimal());
        Assert.Equal(600m, a.GetProperty("available").GetDecimal());
        // The held money cannot be spent twice.
        var spend = await http.WithdrawAsync(alice, 600.01m, "USD");
        Assert.Equal("insufficient_funds", Code(await spend.JsonAsync()));

        // The generated pacs.008 conforms to the ISO base schema of its version.
        var sentXml = await (await http.GetAsync($"/payments/{uetr}/messages/pacs.008")).Content.ReadAsStringAsync();
        Assert.Contains("pacs.008.001.09", sentXml);
        Assert.Equal(SchemaOutcome.Valid, new IsoSchemaValidator(Path.Combine(DataRoot, "xsd-iso-base")).Validate(sentXml).Outcome);

        // The network settles it: pacs.002 ACSC.
        var original = IsoParser.Parse(sentXml).Message as CreditTransferMessage;
        var instruction = Sent(original);
        var accepted = await PostMessageAsync(http, IsoWriter.Pacs002(instruction, "ACK-" + uetr[..8], DateTimeOffset.UtcNow, "ACSC"));
        Assert.Equal("Accepted", (await accepted.JsonAsync()).GetProperty("status").GetString());
        a = await AccountAsync(http, alice);
        Assert.Equal(600m, a.GetProperty("balance").GetDecimal());
        Assert.Equal(0m, a.GetProperty("held").GetDecimal());
        var fxpUsd = PaymentService.FxpAccount(institution, "fxp-a", "USD");
        var fxpEur = PaymentService.FxpAccount(institution, "fxp-a", "EUR");
        var clearing = PaymentService.ClearingAccount(institution, "COBADEFFXXX", "EUR");
        Assert.Equal(400m, await http.BalanceAsync(fxpUsd));
        Assert.Equal(-367.26m, await http.BalanceAsync(fxpEur));
        Assert.Equal(367.26m, await http.BalanceAsync(clearing));

        // The creditor agent's camt.054 (credit booked) completes it; the sender and the FX provider are notified.
        var notification = IsoWriter.Camt054(instruction, "NTF-" + uetr[..8], DateTimeOffset.UtcNow, "DE89370400440532013000", "CRDT");
        var completed = await (await PostMessageAsync(http, notification)).JsonAsync();
        Assert.Equal("Notified", completed.GetProperty("status").GetString());
        Assert.True(completed.GetProperty("senderNotified").GetBoolean());
        Assert.True(completed.GetProperty("fxpNotified").GetBoolean());
        Assert.Contains("BkToCstmrDbtCdtNtfctn", await (await http.GetAsync($"/payments/{uetr}/messages/camt.054")).Content.ReadAsStringAsync());

        // A partial return (pacs.004 of 150 USD) comes back to Alice through the FX provider.
        var ret = $"""
            <Document xmlns="urn:iso:std:iso:20022:tech:xsd:pacs.004.001.10"><PmtRtr><GrpHdr><MsgId>RET-{uetr[..8]}</MsgId><CreDtTm>2026-11-21T10:00:00Z</CreDtTm><NbOfTxs>1</NbOfTxs><SttlmInf><SttlmMtd>CLRG</SttlmMtd></SttlmInf></GrpHdr>
            <TxInf><RtrId>R1-{uetr[..8]}</RtrId><OrgnlEndToEndId>{instruction.EndToEndId}</OrgnlEndToEndId><OrgnlUETR>{uetr}</OrgnlUETR><RtrdIntrBkSttlmAmt Ccy="USD">150.00</RtrdIntrBkSttlmAmt>
            <RtrRsnInf><Rsn><Cd>AC04</Cd></Rsn></RtrRsnInf></TxInf></PmtRtr></Document>
            """;
        var returned = await PostMessageAsync(http, ret);
        var afterReturn = await returned.JsonAsync();
        Assert.True(returned.IsSuccessStatusCode, afterReturn.ToString());
        Assert.Equal("PartiallyReturned", afterReturn.GetProperty("status").GetString());
        Assert.Equal(750m, await http.BalanceAsync(alice));
        Assert.Equal(250m, await http.BalanceAsync(fxpUsd));
        await AssertZeroSumAsync(http);

        // The payment as of its initiation, replayed from the log.
        var at = payment.GetProperty("lastActivityAt").GetDateTimeOffset().ToString("O", CultureInfo.InvariantCulture);
        var asOf = await (await http.GetAsync($"/payments/{uetr}?at={Uri.EscapeDataString(at)}")).JsonAsync();
        Assert.Equal("Forwarded", asOf.GetProperty("status").GetString());
    }

    [Fact]
    public async Task A_rejected_payment_releases_its_hold_and_a_debtor_without_funds_cannot_initiate()
    {
        await using var silo = new SiloFactory(db);
        var institution = SiloFactory.NewInstitution();
        var http = await silo.ClientForAsync(institution);
        var alice = "alice-" + Guid.NewGuid().ToString("N")[..8];
        await http.OpenAsync(alice, "EUR");
        await http.DepositAsync(alice, 100m);

        var poor = Guid.NewGuid().ToString("D");
        var events = await db.EventCountAsync();
        var refused = await http.CommandAsync($"/payments/{poor}/initiation", $$"""{"debtorAccount":"{{alice}}","amount":100.01,"currency":"EUR","creditorAccount":"X-1","creditorAgent":"COBADEFFXXX"}""");
        Assert.Equal(HttpStatusCode.Conflict, refused.StatusCode);
        Assert.Equal("insufficient_funds", Code(await refused.JsonAsync()));
        Assert.Equal(events, await db.EventCountAsync());
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync($"/payments/{poor}")).StatusCode);

        var stranger = await http.CommandAsync($"/payments/{Guid.NewGuid():D}/initiation", """{"debtorAccount":"nobody-here","amount":1,"currency":"EUR","creditorAccount":"X-1","creditorAgent":"COBADEFFXXX"}""");
        Assert.Equal(HttpStatusCode.NotFound, stranger.StatusCode);
        Assert.Equal("account_not_found", Code(await stranger.JsonAsync()));

        var uetr = Guid.NewGuid().ToString("D");
        var initiated = await (await http.CommandAsync($"/payments/{uetr}/initiation", $$"""{"debtorAccount":"{{alice}}","amount":80,"currency":"EUR","creditorAccount":"X-1","creditorAgent":"COBADEFFXXX"}""")).JsonAsync();
        Assert.Equal("Forwarded", initiated.GetProperty("status").GetString());
        Assert.Equal(20m, (await AccountAsync(http, alice)).GetProperty("available").GetDecimal());
        var sent = IsoParser.Parse(await (await http.GetAsync($"/payments/{uetr}/messages/pacs.008")).Content.ReadAsStringAsync()).Message as CreditTransferMessage;
        var rejection = IsoWriter.Pacs002(Sent(sent), "RJ-1", DateTimeOffset.UtcNow, "RJCT", "AC04");
        var rejected = await (await PostMessageAsync(http, rejection)).JsonAsync();
        Assert.Equal("Rejected", rejected.GetProperty("status").GetString());
        Assert.Equal("AC04", rejected.GetProperty("rejectionReason").GetString());
        Assert.True(rejected.GetProperty("senderNotified").GetBoolean());
        var a = await AccountAsync(http, alice);
        Assert.Equal(100m, a.GetProperty("balance").GetDecimal());
        Assert.Equal(100m, a.GetProperty("available").GetDecimal());
        Assert.Contains("<TxSts>RJCT</TxSts>", await (await http.GetAsync($"/payments/{uetr}/messages/pacs.002")).Content.ReadAsStringAsync());
        await AssertZeroSumAsync(http);
    }

    [Fact]
    public async Task A_quote_expires_on_the_injected_clock_and_an_unknown_proxy_fails_resolution_with_a_reason()
    {
        var clock = new ManualClock(DateTimeOffset.UtcNow);
        await using var silo = new SiloFactory(db, clock: clock);
        var http = await silo.ClientForAsync(SiloFactory.NewInstitution());
        await http.CommandAsync("/fxps/fxp-a/rates", """{"sourceCurrency":"GBP","targetCurrency":"CHF","rate":1.12,"spread":0.001,"validForSeconds":30}""");
        var uetr = (await (await http.CommandAsync("/payments/quotes", """{"sourceCurrency":"GBP","targetCurrency":"CHF","amount":50}""")).JsonAsync()).GetProperty("uetr").GetString()!;
        clock.Advance(TimeSpan.FromSeconds(31));
        var late = await http.CommandAsync($"/payments/{uetr}/quote-selection", """{"quoteId":"q-fxp-a"}""");
        Assert.Equal(HttpStatusCode.Conflict, late.StatusCode);
        Assert.Equal("quote_expired", Code(await late.JsonAsync()));

        var noFxp = await http.CommandAsync("/payments/quotes", """{"sourceCurrency":"GBP","targetCurrency":"JPY","amount":50}""");
        Assert.Equal(HttpStatusCode.Conflict, noFxp.StatusCode);
        Assert.Equal("no_fxp_for_pair", Code(await noFxp.JsonAsync()));

        var other = Guid.NewGuid().ToString("D");
        var failed = await (await http.CommandAsync($"/payments/{other}/proxy-resolution", """{"proxyType":"EMAL","proxyValue":"nobody@example.com"}""")).JsonAsync();
        Assert.Equal("ProxyResolutionFailed", failed.GetProperty("status").GetString());
        // The reason names the proxy's type, not its value: an e-mail address is personal data, and a reason is kept in clear.
        Assert.Contains("EMAL", failed.GetProperty("proxyFailureReason").GetString());
        Assert.DoesNotContain("nobody@example.com", failed.GetProperty("proxyFailureReason").GetString());
    }

    [Fact]
    public async Task The_quote_expiry_reminder_ends_a_payment_whose_quotes_lapsed_unselected_once_and_a_selection_removes_it()
    {
        // The ledger clock is a fake one here, which a reminder (it ticks by real time) does not follow: the test gives the
        // payment grain the tick its reminder would give, with IPaymentGrain.ExpireQuotesIfDue, before and after the expiry.
        var clock = new ManualClock(DateTimeOffset.UtcNow);
        await using var silo = new SiloFactory(db, clock: clock);
        var institution = SiloFactory.NewInstitution();
        var http = await silo.ClientForAsync(institution);
        await http.CommandAsync("/fxps/fxp-a/rates", """{"sourceCurrency":"GBP","targetCurrency":"CHF","rate":1.12,"spread":0.001,"validForSeconds":30}""");
        async Task<string> QuoteAsync() =>
            (await (await http.CommandAsync("/payments/quotes", """{"sourceCurrency":"GBP","targetCurrency":"CHF","amount":50}""")).JsonAsync()).GetProperty("uetr").GetString()!;
        var lapsing = await QuoteAsync();
        var taken = await QuoteAsync();
        Task<long> RemindersAsync(string uetr) => db.ScalarAsync<long>(
            $"SELECT count(*) FROM orleans_reminders WHERE reminder_name = 'quote-expiry' AND grain_id LIKE 'payment/%/{uetr}'");
        Assert.Equal(1L, await RemindersAsync(lapsing));   // registered with the quote
        Assert.Equal(1L, await RemindersAsync(taken));
        Assert.Equal("QuoteSelected", (await (await http.CommandAsync($"/payments/{taken}/quote-selection", """{"quoteId":"q-fxp-a"}""")).JsonAsync()).GetProperty("status").GetString());
        Assert.Equal(0L, await RemindersAsync(taken));     // selected: nothing left to expire

        var grains = silo.Services.GetRequiredService<IGrainFactory>();
        IPaymentGrain Payment(string uetr) => grains.GetGrain<IPaymentGrain>(GrainKeys.Of(institution, uetr));
        clock.Advance(TimeSpan.FromSeconds(29));
        Assert.Null(await Payment(lapsing).ExpireQuotesIfDue());   // still valid: nothing happens, the reminder stays
        Assert.Equal(1L, await RemindersAsync(lapsing));

        clock.Advance(TimeSpan.FromSeconds(2));
        var fired = await Payment(lapsing).ExpireQuotesIfDue();
        Assert.True(fired is { Accepted: true, Replayed: false }, fired?.Rejection?.ToString());
        Assert.Null(await Payment(lapsing).ExpireQuotesIfDue());   // a second tick (another silo, after a crash) does nothing
        Assert.Equal(0L, await RemindersAsync(lapsing));
        Assert.Null(await Payment(taken).ExpireQuotesIfDue());     // a selected quote never lapses
        Assert.Equal("QuotesExpired", (await (await http.GetAsync($"/payments/{lapsing}")).JsonAsync()).GetProperty("status").GetString());
        var late = await http.CommandAsync($"/payments/{lapsing}/quote-selection", """{"quoteId":"q-fxp-a"}""");
        Assert.Equal(HttpStatusCode.Conflict, late.StatusCode);
        Assert.Equal("quote_expired", Code(await late.JsonAsync()));
        Assert.Equal(1L, await db.ScalarAsync<long>($"SELECT count(*) FROM events WHERE stream_id = 'payment-{institution}-{lapsing}' AND event_type = 'QuotesExpired'"));
        Assert.Equal("QuoteSelected", (await (await http.GetAsync($"/payments/{taken}")).JsonAsync()).GetProperty("status").GetString());
    }

    [Fact]
    public async Task An_incoming_payment_credits_our_creditor_when_the_network_settles_it()
    {
        await using var silo = new SiloFactory(db);
        var institution = SiloFactory.NewInstitution();
        var http = await silo.ClientForAsync(institution);
        var bob = "bob-" + Guid.NewGuid().ToString("N")[..8];
        await http.OpenAsync(bob, "USD");
        var uetr = Guid.NewGuid().ToString("D");
        var incoming = Instruction(uetr, 321.09m, "USD", "US-DEBTOR-9", bob);
        var initiated = await (await PostMessageAsync(http, IsoWriter.Pacs008(incoming, "001.09"))).JsonAsync();
        Assert.Equal("Incoming", initiated.GetProperty("booking").GetProperty("direction").GetString());
        Assert.Equal(0m, await http.BalanceAsync(bob));
        await PostMessageAsync(http, IsoWriter.Pacs002(incoming, "S-" + uetr[..8], DateTimeOffset.UtcNow, "ACCC"));
        Assert.Equal(321.09m, await http.BalanceAsync(bob));
        Assert.Equal(-321.09m, await http.BalanceAsync(PaymentService.ClearingAccount(institution, "011104238", "USD")));
        await AssertZeroSumAsync(http);
    }

    [Fact]
    [Trait("Tier", "Slow")]
    public async Task The_same_pacs002_delivered_concurrently_through_two_silos_applies_once()
    {
        await using var one = new SiloFactory(db);
        await using var two = new SiloFactory(db, runProjections: false);
        var institution = SiloFactory.NewInstitution();
        var a = await one.ClientForAsync(institution);
        var key = await one.CreateKeyAsync(institution);
        var b = two.ClientWithKey(key);
        var alice = "alice-" + Guid.NewGuid().ToString("N")[..8];
        await a.OpenAsync(alice, "EUR");
        await a.DepositAsync(alice, 500m);
        for (var round = 0; round < 5; round++)
        {
            var uetr = Guid.NewGuid().ToString("D");
            await a.CommandAsync($"/payments/{uetr}/initiation", $$"""{"debtorAccount":"{{alice}}","amount":10,"currency":"EUR","creditorAccount":"X-1","creditorAgent":"COBADEFFXXX"}""");
            var sent = IsoParser.Parse(await (await a.GetAsync($"/payments/{uetr}/messages/pacs.008")).Content.ReadAsStringAsync()).Message as CreditTransferMessage;
            var status = IsoWriter.Pacs002(Sent(sent), "ACK-" + round, DateTimeOffset.UtcNow, "ACSC");
            var answers = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => PostMessageAsync(i % 2 == 0 ? a : b, status)));
            Assert.All(answers, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
            Assert.Equal(1, (await Task.WhenAll(answers.Select(r => r.JsonAsync()))).Count(j => j.GetProperty("changed").GetBoolean()));
            Assert.Equal(1L, await db.ScalarAsync<long>($"SELECT count(*) FROM events WHERE stream_id = 'payment-{institution}-{uetr}' AND event_type = 'PaymentAccepted'"));
            Assert.Equal(1L, await db.ScalarAsync<long>($"SELECT count(*) FROM events WHERE event_type = 'AccountDebited' AND data->>'postingId' = 'pay-{uetr}-settle'"));
        }
        Assert.Equal(450m, await a.BalanceAsync(alice, "?source=events"));
    }
}
