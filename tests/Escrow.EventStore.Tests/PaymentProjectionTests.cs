using Escrow.Domain;
using Escrow.Domain.Iso20022;
using Escrow.Domain.Payments;
using Escrow.Projections;
using Escrow.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace Escrow.EventStore.Tests;

/// <summary>
/// The <c>payments</c> projection on real PostgreSQL: payment_status and payment_timeline from payment events
/// appended through <see cref="PgEventStore"/> (real Fedwire messages and hand-built commands, decided by the pure
/// aggregate), corridor statistics, and reset + rebuild.
/// </summary>
public class PaymentProjectionTests : IClassFixture<PgDatabase>
{
    private readonly PgDatabase _db;
    public PaymentProjectionTests(PgDatabase db) => _db = db;

    private static readonly DateTimeOffset T0 = new(2030, 3, 1, 8, 0, 0, TimeSpan.Zero);

    private static string NewUetr() => Guid.NewGuid().ToString();
    private static string NewTenant() => "t-" + Guid.NewGuid().ToString("N")[..10];

    /// <summary>A runner with a small batch, so rows are read back from the table between batches (the state round-trips through jsonb).</summary>
    private async Task CatchUpAsync(int batch = 3)
    {
        var runner = new ProjectionRunner(_db.Store, new PaymentsProjection(), new ProjectionRunnerOptions { BatchSize = batch });
        await runner.CatchUpToHeadAsync(TimeSpan.FromSeconds(60), null, default);
    }

    private async Task<PaymentStatusRow> RowAsync(string tenant, string uetr) =>
        await PaymentQueries.StatusAsync(_db.DataSource, tenant, uetr, default) ?? throw new Xunit.Sdk.XunitException($"no payment_status row for {uetr} of {tenant}");

    private static T Parse<T>(string xml) where T : IsoMessage => (T)IsoParser.Parse(xml).Message!;

    [Fact]
    public async Task A_payment_stored_under_the_former_SCREAMING_SNAKE_CASE_names_reads_and_projects_like_one_stored_today()
    {
        static string Former(string name) => EventRegistry.TryForName(name, out var e) && e.FormerNames.Length > 0 ? e.FormerNames[0] : name;
        var tenant = NewTenant();
        var (old, today) = (NewUetr(), NewUetr());
        string[] files = ["CustomerCreditTransfer_Scenario1_Step1_pacs.008", "CustomerCreditTransfer_Scenario1_Step2_pacs.002"];
        var oldSeeder = new PaymentSeeder(_db.Store) { StoredName = Former };
        var seeder = new PaymentSeeder(_db.Store);
        foreach (var f in files)
        {
            await oldSeeder.ImportAsync(IsoSamples.Fedwire(f, old), tenant);
            await seeder.ImportAsync(IsoSamples.Fedwire(f, today), tenant);
        }
        Assert.Equal(["PAYMENT_INITIATED", "PAYMENT_ACCEPTED"], await _db.QueryListAsync<string>(
            $"SELECT event_type FROM events WHERE stream_id = '{PaymentStreams.StreamId(tenant, old)}' ORDER BY version"));
        Assert.Equal(["PaymentInitiated", "PaymentAccepted"], await _db.QueryListAsync<string>(
            $"SELECT event_type FROM events WHERE stream_id = '{PaymentStreams.StreamId(tenant, today)}' ORDER BY version"));

        // Read back, the old stream folds to the same state; projected, both timelines name the events alike.
        var replayed = (await _db.Store.ReadStreamAsync(PaymentStreams.StreamId(tenant, old), 0, default))
            .Select(EventSerializer.Deserialize).Aggregate(PaymentState.Empty(old), Payment.Evolve);
        Assert.Equal(oldSeeder.States[old].Status, replayed.Status);
        await CatchUpAsync();
        var timelines = await Task.WhenAll(new[] { old, today }.Select(u => PaymentQueries.TimelineAsync(_db.DataSource, tenant, u, default)));
        Assert.All(timelines, t => Assert.Equal(["PaymentInitiated", "PaymentAccepted"], t.Select(r => r.EventType)));
        Assert.Equal((await RowAsync(tenant, today)).Status, (await RowAsync(tenant, old)).Status);
    }

    [Fact]
    public async Task Real_Fedwire_scenarios_give_accepted_rejected_and_partially_returned_rows_with_their_timelines()
    {
        var seeder = new PaymentSeeder(_db.Store);
        var tenant = NewTenant();

        // Customer credit transfer, scenario 1: pacs.008, ACSC, the same pacs.008 delivered on to bank B (a no-op).
        var accepted = NewUetr();
        string[] cct1 = ["CustomerCreditTransfer_Scenario1_Step1_pacs.008", "CustomerCreditTransfer_Scenario1_Step2_pacs.002", "CustomerCreditTransfer_Scenario1_Step2_pacs.008"];
        var appended = new List<int>();
        foreach (var f in cct1) appended.Add(await seeder.ImportAsync(IsoSamples.Fedwire(f, accepted), tenant));
        Assert.Equal([1, 1, 0], appended);

        // Scenario 2: RJCT with reason E433, two seconds after the pacs.008.
        var rejected = NewUetr();
        await seeder.ImportAsync(IsoSamples.Fedwire("CustomerCreditTransfer_Scenario2_Step1_pacs.008", rejected), tenant);
        await seeder.ImportAsync(IsoSamples.Fedwire("CustomerCreditTransfer_Scenario2_Step2_pacs.002", rejected), tenant);

        // Payment return, scenario 1: pacs.008, camt.056 DUPL, camt.029 CNCL, pacs.004 for part of the amount (implies settlement).
        var returned = NewUetr();
        foreach (var f in new[] { "PaymentReturn_Scenario1_Step1_pacs.008", "PaymentReturn_Scenario1_Step2_camt.056", "Paymentreturn_Scenario1_Step3_camt.029", "PaymentReturn_Scenario1_Step4_pacs.004" })
            await seeder.ImportAsync(IsoSamples.Fedwire(f, returned), tenant);

        await CatchUpAsync();

        var pacs008 = Parse<CreditTransferMessage>(IsoSamples.Fedwire(cct1[0], accepted));
        var acsc = Parse<StatusReportMessage>(IsoSamples.Fedwire(cct1[1], accepted));
        var a = await RowAsync(tenant, accepted);
        Assert.Equal((tenant, "Accepted", pacs008.DebtorAgent.Id, pacs008.CreditorAgent.Id), (a.Tenant, a.Status, a.SourceAgent, a.DestinationAgent));
        Assert.Equal((pacs008.Settlement.Currency.Code, pacs008.Settlement.Currency.Code), (a.SourceCurrency, a.DestinationCurrency));
        Assert.Equal((pacs008.Settlement.Amount, pacs008.Settlement.Amount, (decimal?)null), (a.SourceAmount, a.DestinationAmount, a.Rate));
        Assert.Equal((pacs008.Info.CreatedAt!.Value, acsc.Info.CreatedAt!.Value), (a.InitiatedAt!.Value, a.SettledAt!.Value));
        Assert.Null(a.CompletedAt);   // ACSC settles; PAYMENT_COMPLETED (camt.054) has not come
        Assert.Null(a.DurationSeconds);
        Assert.Equal(2, a.Version);

        var rjct = Parse<StatusReportMessage>(IsoSamples.Fedwire("CustomerCreditTransfer_Scenario2_Step2_pacs.002", rejected));
        var rInit = Parse<CreditTransferMessage>(IsoSamples.Fedwire("CustomerCreditTransfer_Scenario2_Step1_pacs.008", rejected));
        var r = await RowAsync(tenant, rejected);
        Assert.Equal("E433", rjct.ReasonCode);
        Assert.Equal(("Rejected", "E433"), (r.Status, r.RejectionReason));
        Assert.Null(r.SettledAt);
        Assert.Equal(rjct.Info.CreatedAt!.Value, r.CompletedAt!.Value);
        Assert.Equal((decimal)(rjct.Info.CreatedAt!.Value - rInit.Info.CreatedAt!.Value).TotalSeconds, r.DurationSeconds);
        Assert.Equal(2m, r.DurationSeconds);

        var pacs004 = Parse<PaymentReturnMessage>(IsoSamples.Fedwire("PaymentReturn_Scenario1_Step4_pacs.004", returned));
        var p = await RowAsync(tenant, returned);
        Assert.Equal(151000.74m, pacs004.Returned.Amount);
        Assert.Equal(("PartiallyReturned", 151000.74m), (p.Status, p.ReturnedAmount));
        Assert.Equal(pacs004.Info.CreatedAt!.Value, p.SettledAt!.Value);   // the pacs.004 proves settlement
        Assert.Equal(5, p.Version);

        var timeline = await PaymentQueries.TimelineAsync(_db.DataSource, tenant, returned, default);
        Assert.Equal([1L, 2, 3, 4, 5], timeline.Select(t => t.Sequence));
        Assert.Equal(["PaymentInitiated", "ReturnRequested", "ReturnAnswered", "PaymentAccepted", "PaymentReturned"], timeline.Select(t => t.EventType));
        Assert.Equal(["Initiated", "Initiated", "Initiated", "Accepted", "PartiallyReturned"], timeline.Select(t => t.Status));
        Assert.All(timeline, t => Assert.Equal("iso-import", t.Actor));
        Assert.Equal("DUPL", timeline[1].Details.GetProperty("reasonCode").GetString());
        Assert.Equal("CNCL", timeline[2].Details.GetProperty("status").GetString());
        Assert.Equal(151000.74m, timeline[4].Details.GetProperty("totalReturned").GetDecimal());
        Assert.False(timeline[0].Details.TryGetProperty("rawXml", out _));   // evidence stays in the log
        Assert.Equal(pacs008.Settlement.Amount, (await PaymentQueries.TimelineAsync(_db.DataSource, tenant, accepted, default))[0].Details.GetProperty("amount").GetDecimal());
        Assert.Equal(0L, await _db.ScalarAsync<long>($"SELECT count(*) FROM payment_timeline WHERE uetr IN ('{accepted}', '{rejected}', '{returned}') AND tenant <> '{tenant}'"));
        Assert.Equal(9L, await _db.ScalarAsync<long>($"SELECT count(*) FROM payment_timeline WHERE uetr IN ('{accepted}', '{rejected}', '{returned}')"));
    }

    [Fact]
    public async Task A_quoted_FX_payment_through_every_step_has_its_rate_amounts_FXP_duration_and_a_timeline_row_per_event()
    {
        var seeder = new PaymentSeeder(_db.Store);
        var tenant = NewTenant();
        var uetr = NewUetr();
        await seeder.RunAsync(new RequestQuote(uetr, "USD", "EUR", 1000m, T0), tenant, "sender");
        await seeder.RunAsync(new GenerateQuote(uetr, "q-a", "fxp-a", 0.9213m, 0.002m, T0.AddMinutes(5), T0.AddSeconds(1)), tenant, "fxp-a");
        await seeder.RunAsync(new GenerateQuote(uetr, "q-b", "fxp-b", 0.9150m, 0.001m, T0.AddMinutes(5), T0.AddSeconds(1)), tenant, "fxp-b");
        await seeder.RunAsync(new SelectQuote(uetr, "q-a", T0.AddSeconds(20)), tenant, "sender");
        await seeder.RunAsync(new RequestProxyResolution(uetr, "phone", "+49301234567", T0.AddSeconds(21)), tenant, "sender");
        await seeder.RunAsync(new ResolveProxy(uetr, "Creditor GmbH", "DE89370400440532013000", "BANKDEFFXXX", T0.AddSeconds(22)), tenant, "directory");
        var initiated = T0.AddSeconds(30).AddTicks(1234567);   // sub-second instants: the duration keeps microseconds
        var (instruction, pacs008) = PaymentSeeder.Pacs008(uetr, 1000m, "USD", initiated);
        await seeder.RunAsync(new InitiatePayment(pacs008, initiated), tenant, "sender");
        await seeder.RunAsync(new ValidatePayment(uetr, null, initiated.AddSeconds(1)), tenant, "validator");
        await seeder.RunAsync(new ForwardPayment(uetr, "BANKDEFFXXX", initiated.AddSeconds(2)), tenant, "router");
        var settled = initiated.AddSeconds(40);
        await seeder.RunAsync(new ReportStatus(PaymentSeeder.Pacs002(instruction, settled, "ACSC"), settled), tenant, "network");
        var completed = initiated.AddSeconds(95).AddTicks(4321);
        await seeder.RunAsync(new CompletePayment(uetr, new Money(1000m, Currency.Parse("USD")), "NTF-1", completed), tenant, "network");
        await seeder.RunAsync(new NotifyFxp(uetr, completed.AddSeconds(1)), tenant, "notifier");
        await seeder.RunAsync(new NotifySender(uetr, completed.AddSeconds(2)), tenant, "notifier");

        await CatchUpAsync();

        var row = await RowAsync(tenant, uetr);
        Assert.Equal(("Notified", "BANKUS33XXX", "BANKDEFFXXX"), (row.Status, row.SourceAgent, row.DestinationAgent));
        Assert.Equal(("USD", "EUR", "q-a", "fxp-a"), (row.SourceCurrency, row.DestinationCurrency, row.QuoteId, row.FxpId));
        Assert.Equal((1000m, 921.30m, 0.9213m), (row.SourceAmount!.Value, row.DestinationAmount!.Value, row.Rate!.Value));
        Assert.Null(row.RejectionReason);
        Assert.Equal(0m, row.ReturnedAmount);
        static DateTimeOffset Micro(DateTimeOffset t) => new(t.UtcTicks / 10 * 10, TimeSpan.Zero);
        Assert.Equal((Micro(initiated), Micro(settled), Micro(completed)), (row.InitiatedAt!.Value, row.SettledAt!.Value, row.CompletedAt!.Value));
        Assert.Equal((Micro(completed) - Micro(initiated)).Ticks / 10_000_000m, row.DurationSeconds);
        Assert.Equal(95.000432m, row.DurationSeconds);   // .1234567 → .123456 and .1238888 → .123888: each instant truncated to µs
        Assert.Equal((13L, Micro(completed.AddSeconds(2))), (row.Version, row.UpdatedAt));

        var timeline = await PaymentQueries.TimelineAsync(_db.DataSource, tenant, uetr, default);
        Assert.Equal(Enumerable.Range(1, 13).Select(i => (long)i), timeline.Select(t => t.Sequence));
        Assert.Equal(
            ["QuoteRequested", "QuoteGenerated", "QuoteGenerated", "QuoteSelected", "ProxyResolutionRequested", "ProxyResolved", "PaymentInitiated",
             "PaymentValidated", "PaymentForwarded", "PaymentAccepted", "PaymentCompleted", "FxpNotified", "SenderNotified"],
            timeline.Select(t => t.EventType));
        Assert.Equal(
            ["QuoteRequested", "Quoted", "Quoted", "QuoteSelected", "ProxyResolutionRequested", "ProxyResolved", "Initiated", "Validated", "Forwarded",
             "Accepted", "Completed", "Completed", "Notified"],
            timeline.Select(t => t.Status));
        // The statuses are the aggregate's: the same names as PaymentStatus, and the last one is the folded state's.
        Assert.Equal(seeder.States[uetr].Status.ToString(), timeline[^1].Status);
        Assert.Equal(["sender", "fxp-a", "fxp-b", "sender", "sender", "directory", "sender", "validator", "router", "network", "network", "notifier", "notifier"],
            timeline.Select(t => t.Actor));
        Assert.Equal(0.9213m, timeline[3].Details.GetProperty("rate").GetDecimal());
    }

    /// <summary>percentile_cont's definition, computed here from the inputs: linear interpolation at p·(n−1) of the sorted values.</summary>
    private static double? Percentile(IEnumerable<double> values, double p)
    {
        var xs = values.Order().ToArray();
        if (xs.Length == 0) return null;
        var pos = p * (xs.Length - 1);
        var lo = (int)Math.Floor(pos);
        var hi = (int)Math.Ceiling(pos);
        return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo);
    }

    [Fact]
    public async Task Corridor_statistics_count_outcomes_and_give_the_p50_and_p95_of_completion_times_per_tenant()
    {
        var seeder = new PaymentSeeder(_db.Store);
        var tenant = NewTenant();
        var other = NewTenant();
        var at = T0.AddDays(3);
        var expected = new Dictionary<string, Expectation>(StringComparer.Ordinal);
        void Expect(string corridor, int settled = 0, int failed = 0, int inFlight = 0, double? duration = null)
        {
            if (!expected.TryGetValue(corridor, out var e)) expected[corridor] = e = new Expectation();
            e.Count++;
            e.Settled += settled;
            e.Failed += failed;
            e.InFlight += inFlight;
            if (duration is { } d) e.Durations.Add(d);
        }

        // USD → EUR through an FXP: completed ones with known durations, a rejection, one settled but not completed, one in flight.
        foreach (var seconds in new[] { 12.0, 30.0, 45.0, 61.5, 300.0, 7200.25 })
        {
            var u = NewUetr();
            at = at.AddHours(3);
            await seeder.QuotedAsync(u, "USD", "EUR", 500m, 0.92m, "fxp-a", at, tenant);
            await seeder.CompletedAsync(u, 500m, "USD", at, at.AddSeconds(seconds), tenant);
            Expect("USD-EUR", settled: 1, duration: seconds);
        }
        var rejected = NewUetr();
        await seeder.QuotedAsync(rejected, "USD", "EUR", 80m, 0.92m, "fxp-a", at, tenant);
        var (ri, rm) = PaymentSeeder.Pacs008(rejected, 80m, "USD", at);
        await seeder.RunAsync(new InitiatePayment(rm, at), tenant);
        await seeder.RunAsync(new ReportStatus(PaymentSeeder.Pacs002(ri, at.AddSeconds(3), "RJCT", "AC04"), at.AddSeconds(3)), tenant);
        Expect("USD-EUR", failed: 1);
        var settledOnly = NewUetr();
        await seeder.QuotedAsync(settledOnly, "USD", "EUR", 90m, 0.92m, "fxp-a", at, tenant);
        var (si, sm) = PaymentSeeder.Pacs008(settledOnly, 90m, "USD", at);
        await seeder.RunAsync(new InitiatePayment(sm, at), tenant);
        await seeder.RunAsync(new ReportStatus(PaymentSeeder.Pacs002(si, at.AddSeconds(9), "ACSC"), at.AddSeconds(9)), tenant);
        Expect("USD-EUR", settled: 1);
        var inFlight = NewUetr();
        await seeder.QuotedAsync(inFlight, "USD", "EUR", 70m, 0.92m, "fxp-a", at, tenant);
        await seeder.RunAsync(new InitiatePayment(PaymentSeeder.Pacs008(inFlight, 70m, "USD", at).Message, at), tenant);
        Expect("USD-EUR", inFlight: 1);

        // EUR → EUR without FX: three completed.
        foreach (var seconds in new[] { 5.0, 7.0, 100.125 })
        {
            var u = NewUetr();
            at = at.AddHours(1);
            await seeder.CompletedAsync(u, 25m, "EUR", at, at.AddSeconds(seconds), tenant);
            Expect("EUR-EUR", settled: 1, duration: seconds);
        }
        // GBP → EUR: only a quote request so far.
        await seeder.RunAsync(new RequestQuote(NewUetr(), "GBP", "EUR", 10m, at), tenant);
        Expect("GBP-EUR", inFlight: 1);
        // A proxy resolution alone has no currency: no corridor.
        await seeder.RunAsync(new RequestProxyResolution(NewUetr(), "email", "x@example.com", at), tenant);
        // Another tenant's payment in the same corridor does not count.
        await seeder.CompletedAsync(NewUetr(), 1m, "USD", at, at.AddSeconds(1), other);
        await seeder.RunAsync(new RequestQuote(NewUetr(), "USD", "EUR", 1m, at), other);

        await CatchUpAsync(batch: 50);

        var stats = await PaymentQueries.CorridorsAsync(_db.DataSource, tenant, default);
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), stats.Select(s => s.Corridor));
        foreach (var s in stats)
        {
            var e = expected[s.Corridor];
            Assert.Equal((e.Count, e.Settled, e.Failed, e.InFlight, e.Durations.Count), ((int)s.Payments, (int)s.Settled, (int)s.Failed, (int)s.InFlight, (int)s.Completed));
            Assert.Equal(s.Corridor, $"{s.SourceCurrency}-{s.DestinationCurrency}");
            if (e.Settled + e.Failed == 0) Assert.Null(s.SuccessRate);
            else Assert.Equal((double)e.Settled / (e.Settled + e.Failed), s.SuccessRate!.Value, 12);
            AssertClose(Percentile(e.Durations, 0.5), s.P50DurationSeconds);
            AssertClose(Percentile(e.Durations, 0.95), s.P95DurationSeconds);
        }
        // Spelled out for USD-EUR: durations 12, 30, 45, 61.5, 300, 7200.25 → p50 between 45 and 61.5, p95 at 4.75 of 5.
        var usd = stats.Single(s => s.Corridor == "USD-EUR");
        Assert.Equal((9L, 7L, 1L, 1L, 6L), (usd.Payments, usd.Settled, usd.Failed, usd.InFlight, usd.Completed));
        AssertClose(53.25, usd.P50DurationSeconds);
        AssertClose(300 + 0.75 * (7200.25 - 300), usd.P95DurationSeconds);
        Assert.Equal(7.0 / 8.0, usd.SuccessRate!.Value, 12);

        // Root without a tenant sees every tenant: the other one's payments count there.
        var all = await PaymentQueries.CorridorsAsync(_db.DataSource, null, default);
        Assert.True(all.Single(s => s.Corridor == "USD-USD").Payments >= 1);
        Assert.True(all.Single(s => s.Corridor == "USD-EUR").Payments >= usd.Payments + 1);
    }

    private sealed class Expectation
    {
        public int Count, Settled, Failed, InFlight;
        public List<double> Durations { get; } = [];
    }

    private static void AssertClose(double? expected, double? actual)
    {
        if (expected is null) { Assert.Null(actual); return; }
        Assert.NotNull(actual);
        Assert.True(Math.Abs(expected.Value - actual.Value) < 1e-9, $"expected {expected}, got {actual}");
    }

    [Fact]
    public async Task Reset_and_rebuild_from_position_0_gives_exactly_the_incremental_rows()
    {
        var seeder = new PaymentSeeder(_db.Store);
        var tenant = NewTenant();
        for (var i = 0; i < 4; i++)
        {
            var u = NewUetr();
            await seeder.QuotedAsync(u, "CHF", "EUR", 100m + i, 1.04m, "fxp-c", T0.AddDays(9 + i), tenant);
            await seeder.CompletedAsync(u, 100m + i, "CHF", T0.AddDays(9 + i), T0.AddDays(9 + i).AddSeconds(10 * i + 1), tenant);
        }
        var ret = NewUetr();
        foreach (var f in new[] { "PaymentReturn_Scenario4_Step1_pacs.008", "PaymentReturn_Scenario4_Step2_pacs.004" })
            await seeder.ImportAsync(IsoSamples.Fedwire(f, ret), tenant);
        await CatchUpAsync(batch: 2);   // incrementally, in many small batches
        Assert.Equal("Returned", (await RowAsync(tenant, ret)).Status);

        async Task<(List<string> Status, List<string> Timeline)> DumpAsync()
        {
            var status = new List<string>();
            var timeline = new List<string>();
            await using (var cmd = _db.DataSource.CreateCommand("SELECT row_to_json(p)::text FROM payment_status p ORDER BY uetr"))
            await using (var r = await cmd.ExecuteReaderAsync())
                while (await r.ReadAsync()) status.Add(r.GetString(0));
            await using (var cmd = _db.DataSource.CreateCommand("SELECT row_to_json(t)::text FROM payment_timeline t ORDER BY uetr, sequence"))
            await using (var r = await cmd.ExecuteReaderAsync())
                while (await r.ReadAsync()) timeline.Add(r.GetString(0));
            return (status, timeline);
        }
        var before = await DumpAsync();
        Assert.True(before.Status.Count >= 5);

        var runner = new ProjectionRunner(_db.Store, new PaymentsProjection(), new ProjectionRunnerOptions { BatchSize = 1000 });
        await runner.ResetAsync(default);
        Assert.Equal(0L, await _db.ScalarAsync<long>("SELECT count(*) FROM payment_status"));
        Assert.Equal(0L, await _db.ScalarAsync<long>("SELECT count(*) FROM payment_timeline"));
        await runner.CatchUpToHeadAsync(TimeSpan.FromSeconds(60), null, default);
        var after = await DumpAsync();
        Assert.Equal(before.Status, after.Status);
        Assert.Equal(before.Timeline, after.Timeline);
    }
}
