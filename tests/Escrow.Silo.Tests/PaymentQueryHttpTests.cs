using System.Net;
using System.Text.Json;
using Escrow.Domain.Payments;
using Escrow.Projections;
using Escrow.Silo.Ledger;
using Escrow.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace Escrow.Silo.Tests;

/// <summary>
/// The payment queries over HTTP (GET /payments, /payments/{uetr}/status, /payments/{uetr}/timeline,
/// /payments/corridors): tenant scoping, roles, malformed input; and <c>escrow verify</c> over the payment read models.
/// Payments are seeded by appending decided events straight to the log with the stream's tenant.
/// </summary>
public class PaymentQueryHttpTests : IClassFixture<PgDatabase>
{
    private readonly PgDatabase _db;
    public PaymentQueryHttpTests(PgDatabase db) => _db = db;

    private static readonly DateTimeOffset T0 = new(2031, 5, 2, 10, 0, 0, TimeSpan.Zero);
    private static string NewUetr() => Guid.NewGuid().ToString();

    private static async Task<(HttpStatusCode Status, JsonElement Body)> GetAsync(HttpClient http, string path)
    {
        var r = await http.GetAsync(path);
        return (r.StatusCode, await r.JsonAsync());
    }

    private static async Task<List<string>> AllUetrsAsync(HttpClient http, string query)
    {
        var list = new List<string>();
        string? after = null;
        do
        {
            var (status, page) = await GetAsync(http, $"/payments?{query}&limit=2" + (after is null ? "" : $"&after={after}"));
            Assert.Equal(HttpStatusCode.OK, status);
            list.AddRange(page.GetProperty("payments").EnumerateArray().Select(p => p.GetProperty("uetr").GetString()!));
            after = page.GetProperty("nextAfter").GetString();
        } while (after is not null);
        return list;
    }

    [Fact]
    public async Task Payment_queries_answer_status_timeline_list_and_corridors_for_the_callers_institution_only()
    {
        await using var silo = new SiloFactory(_db);
        var acme = SiloFactory.NewInstitution();
        var other = SiloFactory.NewInstitution();
        var writer = await silo.ClientForAsync(acme);
        var auditor = await silo.ClientForAsync(acme, "auditor");
        var stranger = await silo.ClientForAsync(other);
        var root = silo.RootClient();

        var seeder = new PaymentSeeder(_db.Store);
        var fx = NewUetr();
        await seeder.QuotedAsync(fx, "USD", "EUR", 1000m, 0.9213m, "fxp-a", T0, acme);
        await seeder.CompletedAsync(fx, 1000m, "USD", T0.AddSeconds(5), T0.AddSeconds(65.5), acme);
        var rejected = NewUetr();
        var (ri, rm) = PaymentSeeder.Pacs008(rejected, 50m, "EUR", T0);
        await seeder.RunAsync(new InitiatePayment(rm, T0), acme);
        await seeder.RunAsync(new ReportStatus(PaymentSeeder.Pacs002(ri, T0.AddSeconds(4), "RJCT", "AC04"), T0.AddSeconds(4)), acme);
        var fedwire = NewUetr();   // a real Fedwire scenario (pacs.008, ACSC) under its own UETR
        foreach (var f in new[] { "CustomerCreditTransfer_Scenario1_Step1_pacs.008", "CustomerCreditTransfer_Scenario1_Step2_pacs.002" })
            await seeder.ImportAsync(IsoSamples.Fedwire(f, fedwire), acme);
        var foreign = NewUetr();
        await seeder.QuotedAsync(foreign, "USD", "EUR", 10m, 0.9m, "fxp-z", T0, other);
        await seeder.CompletedAsync(foreign, 10m, "USD", T0, T0.AddSeconds(1), other);
        // A UETR is unique per institution only: both hold this one, each its own payment.
        var shared = NewUetr();
        await new PaymentSeeder(_db.Store).RunAsync(new InitiatePayment(PaymentSeeder.Pacs008(shared, 10m, "EUR", T0).Message, T0), acme);
        await new PaymentSeeder(_db.Store).RunAsync(new InitiatePayment(PaymentSeeder.Pacs008(shared, 20m, "EUR", T0).Message, T0.AddSeconds(1)), other);
        await writer.WaitForProjectionsAsync();

        // Status: the writer and the auditor of the institution read it; another institution gets the unknown-UETR answer.
        var (st, status) = await GetAsync(writer, $"/payments/{fx}/status");
        Assert.Equal(HttpStatusCode.OK, st);
        Assert.Equal((fx, acme, "Completed"), (status.GetProperty("uetr").GetString(), status.GetProperty("tenant").GetString(), status.GetProperty("status").GetString()));
        Assert.Equal(("USD", "EUR", "fxp-a", "q-fxp-a"), (status.GetProperty("sourceCurrency").GetString(), status.GetProperty("destinationCurrency").GetString(),
            status.GetProperty("fxpId").GetString(), status.GetProperty("quoteId").GetString()));
        Assert.Equal((1000m, 921.30m, 0.9213m, 60.5m), (status.GetProperty("sourceAmount").GetDecimal(), status.GetProperty("destinationAmount").GetDecimal(),
            status.GetProperty("rate").GetDecimal(), status.GetProperty("durationSeconds").GetDecimal()));
        Assert.Equal(("BANKUS33XXX", "BANKDEFFXXX"), (status.GetProperty("sourceAgent").GetString(), status.GetProperty("destinationAgent").GetString()));
        Assert.Equal(HttpStatusCode.OK, (await auditor.GetAsync($"/payments/{fx}/status")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await root.GetAsync($"/payments/{fx}/status")).StatusCode);   // root looks in X-Escrow-Tenant, default 'default'
        using (var rootForAcme = silo.RootClient())
        {
            rootForAcme.DefaultRequestHeaders.Add("X-Escrow-Tenant", acme);
            Assert.Equal(status.GetRawText(), (await GetAsync(rootForAcme, $"/payments/{fx}/status")).Body.GetRawText());
        }
        var (s1, mine) = await GetAsync(writer, $"/payments/{shared}/status");
        var (s2, theirs) = await GetAsync(stranger, $"/payments/{shared}/status");
        Assert.Equal((HttpStatusCode.OK, acme, 10m), (s1, mine.GetProperty("tenant").GetString(), mine.GetProperty("sourceAmount").GetDecimal()));
        Assert.Equal((HttpStatusCode.OK, other, 20m), (s2, theirs.GetProperty("tenant").GetString(), theirs.GetProperty("sourceAmount").GetDecimal()));
        Assert.Single((await GetAsync(stranger, $"/payments/{shared}/timeline")).Body.EnumerateArray());

        var (rs, rej) = await GetAsync(auditor, $"/payments/{rejected}/status");
        Assert.Equal((HttpStatusCode.OK, "Rejected", "AC04", 4m), (rs, rej.GetProperty("status").GetString(), rej.GetProperty("rejectionReason").GetString(), rej.GetProperty("durationSeconds").GetDecimal()));

        var (fs, foreignBody) = await GetAsync(writer, $"/payments/{foreign}/status");
        var unknown = NewUetr();
        var (us, unknownBody) = await GetAsync(writer, $"/payments/{unknown}/status");
        Assert.Equal((HttpStatusCode.NotFound, HttpStatusCode.NotFound), (fs, us));
        Assert.Equal(("unknown_uetr", "unknown_uetr"), (foreignBody.GetProperty("code").GetString(), unknownBody.GetProperty("code").GetString()));
        Assert.Equal(foreignBody.GetProperty("detail").GetString()!.Replace(foreign, "X", StringComparison.Ordinal),
            unknownBody.GetProperty("detail").GetString()!.Replace(unknown, "X", StringComparison.Ordinal));   // nothing tells the two apart
        Assert.Equal(HttpStatusCode.NotFound, (await stranger.GetAsync($"/payments/{fx}/status")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await stranger.GetAsync($"/payments/{fx}/timeline")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await stranger.GetAsync($"/payments/{foreign}/status")).StatusCode);

        // Malformed UETRs: 400 before any lookup.
        foreach (var bad in new[] { "not-a-uetr", "8a562c67-ca16-18ba-b074-65581be6f011" /* version 1 */, "8a562c67ca1648bab07465581be6f011", "%20",
                     fx.ToUpperInvariant() /* ISO 20022 UUIDv4Identifier is lower-case, as GET /payments/{uetr} */ })
        {
            var (bs, body) = await GetAsync(writer, $"/payments/{bad}/status");
            Assert.Equal((HttpStatusCode.BadRequest, "invalid_uetr"), (bs, body.GetProperty("code").GetString()));
            Assert.Equal(HttpStatusCode.BadRequest, (await writer.GetAsync($"/payments/{bad}/timeline")).StatusCode);
        }

        // Timeline: one row per event in order, with the actor of each.
        var (ts, timeline) = await GetAsync(auditor, $"/payments/{fx}/timeline");
        Assert.Equal(HttpStatusCode.OK, ts);
        var rows = timeline.EnumerateArray().ToList();
        Assert.Equal(Enumerable.Range(1, rows.Count).Select(i => (long)i), rows.Select(r => r.GetProperty("sequence").GetInt64()));
        Assert.Equal(["QuoteRequested", "QuoteGenerated", "QuoteSelected", "PaymentInitiated", "PaymentValidated", "PaymentForwarded", "PaymentAccepted", "PaymentCompleted"],
            rows.Select(r => r.GetProperty("eventType").GetString()));
        Assert.Equal(seeder.States[fx].Status.ToString(), rows[^1].GetProperty("status").GetString());
        Assert.Equal(["sender", "fxp-a", "sender", "payments-desk", "payments-desk", "payments-desk", "payments-desk", "camt054"], rows.Select(r => r.GetProperty("actor").GetString()));
        Assert.Equal(0.9213m, rows[2].GetProperty("details").GetProperty("rate").GetDecimal());

        // List: paged, by status and corridor, only the caller's institution.
        Assert.Equal(new[] { fx, rejected, fedwire, shared }.Order(StringComparer.Ordinal), await AllUetrsAsync(writer, ""));
        Assert.Equal([rejected], await AllUetrsAsync(auditor, "status=Rejected"));
        Assert.Equal([rejected], await AllUetrsAsync(auditor, "status=REJECTED"));
        Assert.Equal([fedwire], await AllUetrsAsync(writer, "status=accepted"));
        Assert.Equal([fx], await AllUetrsAsync(writer, "corridor=usd-eur"));
        Assert.Equal([fx], await AllUetrsAsync(writer, "corridor=USD-EUR&status=Completed"));
        Assert.Equal([foreign], await AllUetrsAsync(stranger, "corridor=USD-EUR"));
        var rootView = await AllUetrsAsync(root, "corridor=USD-EUR");
        Assert.Contains(fx, rootView);
        Assert.Contains(foreign, rootView);
        Assert.Equal(2, (await AllUetrsAsync(root, "corridor=EUR-EUR&status=Initiated")).Count(u => u == shared));   // paged by (uetr, tenant): both rows
        root.DefaultRequestHeaders.Add("X-Escrow-Tenant", acme);
        Assert.Equal([fx], await AllUetrsAsync(root, "corridor=USD-EUR"));
        foreach (var (query, code) in new[] { ("status=Bogus", "invalid_status"), ("status=7", "invalid_status"), ("status=None", "invalid_status"),
                     ("corridor=USD", "invalid_corridor"), ("corridor=USD-XXQ", "invalid_corridor"), ("limit=0", "invalid_limit"), ("limit=1001", "invalid_limit") })
        {
            var (qs, body) = await GetAsync(writer, $"/payments?{query}");
            Assert.Equal((HttpStatusCode.BadRequest, code), (qs, body.GetProperty("code").GetString()));
        }

        // Corridors: the institution's own payments only; root acting for the institution sees the same.
        var (cs, corridors) = await GetAsync(writer, "/payments/corridors");
        Assert.Equal(HttpStatusCode.OK, cs);
        var byName = corridors.EnumerateArray().ToDictionary(c => c.GetProperty("corridor").GetString()!);
        Assert.Equal(["EUR-EUR", "USD-EUR", "USD-USD"], byName.Keys.Order(StringComparer.Ordinal));
        var usdEur = byName["USD-EUR"];
        Assert.Equal((1L, 1L, 0L, 1L), (usdEur.GetProperty("payments").GetInt64(), usdEur.GetProperty("settled").GetInt64(), usdEur.GetProperty("failed").GetInt64(),
            usdEur.GetProperty("completed").GetInt64()));
        Assert.Equal((60.5, 60.5, 1.0), (usdEur.GetProperty("p50DurationSeconds").GetDouble(), usdEur.GetProperty("p95DurationSeconds").GetDouble(), usdEur.GetProperty("successRate").GetDouble()));
        Assert.Equal((0.0, JsonValueKind.Null), (byName["EUR-EUR"].GetProperty("successRate").GetDouble(), byName["EUR-EUR"].GetProperty("p50DurationSeconds").ValueKind));
        Assert.Equal(corridors.GetRawText(), (await GetAsync(root, "/payments/corridors")).Body.GetRawText());
        Assert.Equal(HttpStatusCode.OK, (await auditor.GetAsync("/payments/corridors")).StatusCode);

        // OpenAPI: named operations with their problem responses.
        var doc = (await GetAsync(anonymousClient(), "/openapi/v1.json")).Body.GetProperty("paths");
        foreach (var (path, op, problems) in new[] { ("/payments", "listPayments", new[] { "400" }), ("/payments/corridors", "getPaymentCorridors", ["400"]),
                     ("/payments/{uetr}/status", "getPaymentStatus", ["400", "404"]), ("/payments/{uetr}/timeline", "getPaymentTimeline", ["400", "404"]) })
        {
            var get = doc.GetProperty(path).GetProperty("get");
            Assert.Equal(op, get.GetProperty("operationId").GetString());
            Assert.False(string.IsNullOrEmpty(get.GetProperty("summary").GetString()));
            foreach (var code in problems.Append("200").Append("401"))
                Assert.True(get.GetProperty("responses").TryGetProperty(code, out _), $"{path} documents no {code}");
        }
        HttpClient anonymousClient() => silo.CreateClient();

        // No key: 401 like every other route.
        using var anonymous = silo.CreateClient();
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync($"/payments/{fx}/status")).StatusCode);
    }

    [Fact]
    public async Task Every_Fedwire_scenario_imported_over_HTTP_reads_back_from_the_read_models_as_the_write_side_answers()
    {
        await using var silo = new SiloFactory(_db);
        var root = silo.RootClient();
        var scenarios = Escrow.Silo.Payments.IsoFiles.Groups(Path.Combine(IsoSamples.Root, "fedwire-2025"))
            .ToDictionary(g => g.Group.Split(':')[1], g => g.Files);
        var tenants = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (scenario, files) in scenarios)
        {
            var tenant = tenants[scenario] = "fw-" + Guid.NewGuid().ToString("N")[..10];
            foreach (var file in files)
            {
                using var req = new HttpRequestMessage(HttpMethod.Post, "/payments/messages")
                {
                    Content = new StringContent(await File.ReadAllTextAsync(file), System.Text.Encoding.UTF8, "application/xml"),
                };
                req.Headers.Add("X-Escrow-Tenant", tenant);
                var r = await root.SendAsync(req);
                Assert.True(r.IsSuccessStatusCode, $"{Path.GetFileName(file)}: {(int)r.StatusCode} {await r.Content.ReadAsStringAsync()}");
            }
        }
        await root.WaitForProjectionsAsync();

        foreach (var (scenario, tenant) in tenants)
        {
            using var http = silo.RootClient();
            http.DefaultRequestHeaders.Add("X-Escrow-Tenant", tenant);
            var (ws, written) = await GetAsync(http, $"/payments/{IsoSamples.FedwireUetr}");
            var (rs, read) = await GetAsync(http, $"/payments/{IsoSamples.FedwireUetr}/status");
            var (ts, timeline) = await GetAsync(http, $"/payments/{IsoSamples.FedwireUetr}/timeline");
            var (es, events) = await GetAsync(http, $"/payments/{IsoSamples.FedwireUetr}/events");
            Assert.Equal((HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK), (ws, rs, ts, es));
            Assert.Equal(PaymentHttpTests.Expected[scenario], read.GetProperty("status").GetString());
            Assert.Equal((written.GetProperty("status").GetString(), written.GetProperty("version").GetInt64(), written.GetProperty("returnedAmount").GetDecimal()),
                (read.GetProperty("status").GetString(), read.GetProperty("version").GetInt64(), read.GetProperty("returnedAmount").GetDecimal()));
            Assert.Equal(events.EnumerateArray().Select(e => e.GetProperty("eventType").GetString()), timeline.EnumerateArray().Select(t => t.GetProperty("eventType").GetString()));
            Assert.Equal(tenant, read.GetProperty("tenant").GetString());
        }
        // And the auditor's check over the real flows (postings included): read models equal the replay, money sums to zero.
        var report = await LedgerVerifier.RunAsync(_db.Store, default);
        Assert.True(report.Ok, string.Join("\n", report.Lines));
        Assert.Contains(report.Lines, l => l.StartsWith("payment_status vs replay:", StringComparison.Ordinal) && l.EndsWith(" 0 mismatches", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Verify_checks_payment_read_models_against_a_replay_and_names_a_tampered_row()
    {
        await using var db = new PgDatabase();
        await db.InitializeAsync();
        try
        {
            var seeder = new PaymentSeeder(db.Store);
            var uetrs = new List<string>();
            for (var i = 0; i < 3; i++)
            {
                var u = NewUetr();
                uetrs.Add(u);
                await seeder.QuotedAsync(u, "GBP", "EUR", 10m + i, 1.15m, "fxp-g", T0.AddHours(i), "acme");
                await seeder.CompletedAsync(u, 10m + i, "GBP", T0.AddHours(i), T0.AddHours(i).AddSeconds(i + 1), "acme");
            }
            var runner = new ProjectionRunner(db.Store, new PaymentsProjection(), new ProjectionRunnerOptions { BatchSize = 4 });
            await runner.CatchUpToHeadAsync(TimeSpan.FromSeconds(60), null, default);

            var report = await LedgerVerifier.RunAsync(db.Store, default);
            Assert.True(report.Ok, string.Join("\n", report.Lines));
            Assert.Contains("payment_status vs replay: 3 rows, 3 expected, 0 mismatches", report.Lines);
            Assert.Contains("payment_timeline vs replay: 24 rows, 24 expected, 0 mismatches", report.Lines);

            // A read model that says more than the log: named, with the column.
            await db.ExecAsOwnerAsync($"UPDATE payment_status SET destination_amount = destination_amount + 1 WHERE uetr = '{uetrs[1]}'");
            report = await LedgerVerifier.RunAsync(db.Store, default);
            Assert.False(report.Ok);
            Assert.Contains(report.Lines, l => l.StartsWith($"payment_status MISMATCH {uetrs[1]}", StringComparison.Ordinal) && l.Contains("DestinationAmount", StringComparison.Ordinal));
            await db.ExecAsOwnerAsync($"DELETE FROM payment_timeline WHERE uetr = '{uetrs[2]}' AND sequence = 8");
            report = await LedgerVerifier.RunAsync(db.Store, default);
            Assert.Contains("payment_timeline vs replay: 23 rows, 24 expected, 1 mismatches", report.Lines);

            // Rebuilding from position 0 repairs both.
            await runner.ResetAsync(default);
            await runner.CatchUpToHeadAsync(TimeSpan.FromSeconds(60), null, default);
            report = await LedgerVerifier.RunAsync(db.Store, default);
            Assert.True(report.Ok, string.Join("\n", report.Lines));

            // Events the projection has not reached yet are not expected of it: a new payment after the checkpoint is not a mismatch.
            await seeder.RunAsync(new RequestQuote(NewUetr(), "GBP", "EUR", 1m, T0), "acme");
            Assert.True((await LedgerVerifier.RunAsync(db.Store, default)).Ok);
        }
        finally
        {
            await db.DisposeAsync();
        }
    }
}
