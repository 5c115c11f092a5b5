using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Escrow.EventStore;
using Escrow.Silo.Ledger;
using Npgsql;
using Spectre.Console;

namespace Escrow.Cli;

internal static partial class DemoCommand
{
    // ---------------------------------------------------------------- the run

    private static void Info(string line) => Console.WriteLine("· " + line);

    private static async Task<int> RunAsync(int dealCount, string? url, int seed, int workers, CancellationToken ct)
    {
        if (dealCount < 1) throw new CliException("--deals must be at least 1");
        if (workers < 1) throw new CliException("--workers must be at least 1");
        var cfg = CliConfig.FromEnvironment();
        var total = Stopwatch.StartNew();
        var clock = TimeProvider.System;
        var run = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray().AsSpan(0, 4));
        if (Console.IsOutputRedirected && AnsiConsole.Profile.Width < 160) AnsiConsole.Profile.Width = 160;
        Info($"demo run {run}: {dealCount.ToString(CultureInfo.InvariantCulture)} deals, seed {seed.ToString(CultureInfo.InvariantCulture)}, " +
             $"{workers.ToString(CultureInfo.InvariantCulture)} HTTP workers, {Environment.ProcessorCount.ToString(CultureInfo.InvariantCulture)} cores");

        await using var cli = await CliSilo.StartAsync(url, Info, ct);
        var rootKey = cli.RootKey;
        {
            var http = cli.Http;
            var api = new Api(http);
            var ok = true;

            // ------------------------------------------------ setup: institutions, keys, accounts, funding
            var setupClock = Stopwatch.StartNew();
            var markets = await Task.WhenAll(Markets.Select(m => SetUpMarketAsync(api, rootKey, run, m, workers / 2 + 1, ct)));
            if (!api.Unexpected.IsEmpty) return Abort(api, "setup");
            Info($"setup: 2 institutions ({string.Join(", ", markets.Select(m => m.Institution))}), a writer and an auditor key each, " +
                 $"{BuyersPerMarket.ToString(CultureInfo.InvariantCulture)} buyers + {SellersPerMarket.ToString(CultureInfo.InvariantCulture)} sellers each, " +
                 $"buyers funded with {BuyerFunding.ToString("N2", CultureInfo.InvariantCulture)} {Currency} by deposits, in {setupClock.Elapsed.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture)} s");

            var plans = PlanDay(dealCount, seed, run, markets);
            Info("plan: " + string.Join("; ", plans.GroupBy(p => p.Outcome).OrderBy(g => g.Key).Select(g =>
                $"{g.Key.ToString().ToLowerInvariant()} {g.Count().ToString(CultureInfo.InvariantCulture)} (" +
                string.Join(", ", g.GroupBy(p => p.Variant).OrderBy(v => v.Key, StringComparer.Ordinal).Select(v => $"{v.Count().ToString(CultureInfo.InvariantCulture)} {v.Key}")) + ")")));

            // ------------------------------------------------ the day
            var callsBeforeDay = api.Calls;
            var day = Stopwatch.StartNew();
            await Parallel.ForEachAsync(plans, new ParallelOptions { MaxDegreeOfParallelism = workers, CancellationToken = ct },
                async (plan, token) => await RunDealAsync(api, markets[plan.Market], plan, run, clock, token));
            var dayElapsed = day.Elapsed;
            var dayCalls = api.Calls - callsBeforeDay;
            Info($"day: {plans.Count.ToString(CultureInfo.InvariantCulture)} deals, {dayCalls.ToString(CultureInfo.InvariantCulture)} HTTP calls " +
                 $"in {dayElapsed.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture)} s; unexpected answers so far: {api.Unexpected.Count.ToString(CultureInfo.InvariantCulture)}");

            // ------------------------------------------------ expiry by the silo's timer
            var expiring = plans.Where(p => p.Outcome == Outcome.Expire).ToList();
            var afterDay = Stopwatch.StartNew();
            var pending = expiring.ToDictionary(p => p.DealId, StringComparer.Ordinal);
            var expired = 0;
            while (pending.Count > 0 && afterDay.Elapsed < WaitBound)
            {
                var round = pending.Values.ToList();
                await Parallel.ForEachAsync(round, new ParallelOptions { MaxDegreeOfParallelism = workers, CancellationToken = ct }, async (p, token) =>
                {
                    var (status, text) = await api.SendAsync(HttpMethod.Get, $"deals/{p.DealId}", markets[p.Market].WriterKey, null, null, "GET /deals/{id}", token);
                    if (status == 200 && DealStatusOf(text) == "EXPIRED")
                    {
                        lock (pending) pending.Remove(p.DealId);
                        Interlocked.Increment(ref expired);
                    }
                    else if (status != 200)
                    {
                        api.Unexpected.Enqueue($"GET /deals/{p.DealId} answered {status.ToString(CultureInfo.InvariantCulture)}: {text}");
                        lock (pending) pending.Remove(p.DealId);   // reported; waiting would not change it
                    }
                });
                if (pending.Count > 0) await Task.Delay(250, ct);
            }
            if (expired == expiring.Count)
                Info($"expiry: all {expiring.Count.ToString(CultureInfo.InvariantCulture)} expiring deals EXPIRED by the silo's timer, " +
                     $"{afterDay.Elapsed.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture)} s after the day ended");
            else
            {
                ok = false;
                AnsiConsole.MarkupLine($"[red]expiry: {(expiring.Count - expired).ToString(CultureInfo.InvariantCulture)} of {expiring.Count.ToString(CultureInfo.InvariantCulture)} expiring deals " +
                                       $"not EXPIRED after {afterDay.Elapsed.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture)} s[/] " +
                                       Markup.Escape(string.Join(", ", pending.Keys.Order(StringComparer.Ordinal).Take(10))));
            }

            // ------------------------------------------------ projections caught up
            var projections = Stopwatch.StartNew();
            var lag = "";
            var caughtUp = false;
            while (projections.Elapsed < WaitBound)
            {
                var json = await api.ExpectAsync(HttpMethod.Get, "projections", markets[0].WriterKey, null, null, "GET /projections", 200, null, ct);
                if (json is not { ValueKind: JsonValueKind.Array } list) break;
                lag = string.Join(", ", list.EnumerateArray().Select(p =>
                    $"{p.GetProperty("name").GetString()} {p.GetProperty("eventsBehind").GetInt64().ToString(CultureInfo.InvariantCulture)} behind"));
                if (list.EnumerateArray().All(p => p.GetProperty("eventsBehind").GetInt64() == 0)) { caughtUp = true; break; }
                await Task.Delay(100, ct);
            }
            if (caughtUp) Info($"projections: {lag} (after {projections.Elapsed.TotalMilliseconds.ToString("0", CultureInfo.InvariantCulture)} ms)");
            else { ok = false; AnsiConsole.MarkupLine($"[red]projections did not catch up in {WaitBound.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s:[/] {Markup.Escape(lag)}"); }

            // ------------------------------------------------ the report, read back through the API (auditor keys)
            var counted = new Dictionary<(int Market, string State), (int Count, decimal Held)>();
            for (var m = 0; m < markets.Length; m++)
                foreach (var state in States)
                    counted[(m, state)] = await CountAsync(api, markets[m].AuditorKey, state, ct);
            var planned = plans.GroupBy(p => (p.Market, p.FinalState)).ToDictionary(g => g.Key, g => (Count: g.Count(), Held: g.Sum(p => p.FinalHeld)));

            var table = new Table().Title($"escrow demo deals — run {run}, seed {seed.ToString(CultureInfo.InvariantCulture)}")
                .AddColumns("final state", markets[0].Institution, markets[1].Institution, "total", "planned", $"held ({Currency})");
            var statesOk = true;
            foreach (var state in States)
            {
                var a = counted[(0, state)];
                var b = counted[(1, state)];
                var pa = planned.GetValueOrDefault((0, state));
                var pb = planned.GetValueOrDefault((1, state));
                var match = a.Count == pa.Count && b.Count == pb.Count && a.Held == pa.Held && b.Held == pb.Held;
                statesOk &= match;
                table.AddRow(state, a.Count.ToString(CultureInfo.InvariantCulture), b.Count.ToString(CultureInfo.InvariantCulture),
                    (a.Count + b.Count).ToString(CultureInfo.InvariantCulture),
                    (match ? "" : "[red]") + (pa.Count + pb.Count).ToString(CultureInfo.InvariantCulture) + (match ? "" : "[/]"),
                    (a.Held + b.Held).ToString("N2", CultureInfo.InvariantCulture));
            }
            var heldTotal = counted.Values.Sum(v => v.Held);
            var dealsListed = counted.Values.Sum(v => v.Count);
            table.AddRow("[bold]all[/]", counted.Where(kv => kv.Key.Market == 0).Sum(kv => kv.Value.Count).ToString(CultureInfo.InvariantCulture),
                counted.Where(kv => kv.Key.Market == 1).Sum(kv => kv.Value.Count).ToString(CultureInfo.InvariantCulture),
                dealsListed.ToString(CultureInfo.InvariantCulture), plans.Count.ToString(CultureInfo.InvariantCulture),
                heldTotal.ToString("N2", CultureInfo.InvariantCulture));
            ok &= statesOk && dealsListed == plans.Count;

            // Evidence: each disputed deal as the aggregate has it now; and one timeline, read by an auditor.
            var evidenceSubmitted = 0;
            var evidencePlanned = plans.Sum(p => p.Evidence);
            var disputed = plans.Where(p => p.Outcome == Outcome.Dispute).ToList();
            await Parallel.ForEachAsync(disputed, new ParallelOptions { MaxDegreeOfParallelism = workers, CancellationToken = ct }, async (p, token) =>
            {
                var json = await api.ExpectAsync(HttpMethod.Get, $"deals/{p.DealId}", markets[p.Market].WriterKey, null, null, "GET /deals/{id}", 200, "RESOLVED", token);
                if (json is { } j) Interlocked.Add(ref evidenceSubmitted, j.GetProperty("evidenceCount").GetInt32());
            });
            ok &= evidenceSubmitted == evidencePlanned;
            var timelineLine = "no disputed deal in the plan";
            if (disputed.FirstOrDefault() is { } sample)
            {
                var tl = await api.ExpectAsync(HttpMethod.Get, $"deals/{sample.DealId}/timeline", markets[sample.Market].AuditorKey, null, null, "GET /deals/{id}/timeline", 200, null, ct);
                if (tl is { ValueKind: JsonValueKind.Array } entries)
                {
                    var path = entries.EnumerateArray().Select(e => e.GetProperty("toStatus").GetString()).ToList();
                    timelineLine = $"auditor of {markets[sample.Market].Institution} read the timeline of {sample.DealId}: " +
                                   $"{entries.GetArrayLength().ToString(CultureInfo.InvariantCulture)} transitions, {string.Join(" → ", path.Distinct())}";
                    ok &= path.Count > 0 && path[^1] == "RESOLVED";
                }
                else { ok = false; timelineLine = "the auditor's timeline read failed"; }
            }

            var unexpected = api.Unexpected.ToArray();
            ok &= unexpected.Length == 0;
            table.AddEmptyRow();
            table.AddRow("evidence records", "", "", evidenceSubmitted.ToString(CultureInfo.InvariantCulture), evidencePlanned.ToString(CultureInfo.InvariantCulture), "");
            table.AddRow("HTTP calls (day / all)", "", "", $"{dayCalls.ToString(CultureInfo.InvariantCulture)} / {api.Calls.ToString(CultureInfo.InvariantCulture)}", "", "");
            table.AddRow("unexpected answers", "", "", (unexpected.Length == 0 ? "0" : $"[red]{unexpected.Length.ToString(CultureInfo.InvariantCulture)}[/]"), "0", "");
            table.AddRow("elapsed s (day / all so far)", "", "",
                $"{dayElapsed.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture)} / {total.Elapsed.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture)}", "", "");
            AnsiConsole.Write(table);
            Console.WriteLine(timelineLine);
            LatencyTable(api);
            foreach (var u in unexpected.Take(50)) Console.WriteLine("unexpected: " + u);
            if (unexpected.Length > 50) Console.WriteLine($"… and {(unexpected.Length - 50).ToString(CultureInfo.InvariantCulture)} more unexpected answers");

            // ------------------------------------------------ the proof, in-process against the database
            Console.WriteLine();
            Console.WriteLine("verification against the database:");
            await using var ds = cfg.DataSource();
            var report = await LedgerVerifier.RunAsync(new PgEventStore(ds), ct);
            foreach (var line in report.Lines) Console.WriteLine("  " + line);
            Console.WriteLine(report.Ok ? "  ledger verifier: OK" : "  ledger verifier: FAILED");
            ok &= report.Ok;
            ok &= await EscrowCheckAsync(ds, markets.Select(m => m.Institution).ToArray(), ct);

            Console.WriteLine($"elapsed: {total.Elapsed.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture)} s in all (day {dayElapsed.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture)} s)");
            Console.WriteLine(ok ? "demo deals: every invariant holds" : "demo deals: FAILED (see above)");
            return ok ? 0 : 1;
        }
    }

    private static int Abort(Api api, string phase)
    {
        foreach (var u in api.Unexpected) Console.WriteLine("unexpected: " + u);
        Console.WriteLine($"demo deals: FAILED during {phase}");
        return 1;
    }

    private static string? DealStatusOf(string json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            return doc.RootElement.TryGetProperty("status", out var s) ? s.GetString() : null;
        }
        catch (JsonException) { return null; }
    }

    private static async Task<Market> SetUpMarketAsync(Api api, string rootKey, string run, string letter, int parallelism, CancellationToken ct)
    {
        var institution = $"market-{letter}-{run}";
        await api.ExpectAsync(HttpMethod.Post, "institutions", rootKey, new { institutionId = institution, name = $"Marketplace {letter.ToUpperInvariant()} (demo run {run})" },
            null, "POST /institutions", 201, null, ct);
        var writer = await api.ExpectAsync(HttpMethod.Post, $"institutions/{institution}/keys", rootKey, new { role = "writer", name = "demo marketplace" },
            null, "POST /institutions/{id}/keys", 201, null, ct);
        var auditor = await api.ExpectAsync(HttpMethod.Post, $"institutions/{institution}/keys", rootKey, new { role = "auditor", name = "demo auditor" },
            null, "POST /institutions/{id}/keys", 201, null, ct);
        if (writer is not { } w || auditor is not { } a) throw new CliException($"setup of {institution} failed: " + string.Join(" | ", api.Unexpected));
        var writerKey = w.GetProperty("apiKey").GetString()!;
        var auditorKey = a.GetProperty("apiKey").GetString()!;

        var buyers = Enumerable.Range(1, BuyersPerMarket).Select(i => $"{institution}-buyer-{i.ToString("D2", CultureInfo.InvariantCulture)}").ToArray();
        var sellers = Enumerable.Range(1, SellersPerMarket).Select(i => $"{institution}-seller-{i.ToString("D2", CultureInfo.InvariantCulture)}").ToArray();
        var options = new ParallelOptions { MaxDegreeOfParallelism = parallelism, CancellationToken = ct };
        await Parallel.ForEachAsync(buyers.Select(b => (Id: b, Owner: "buyer")).Concat(sellers.Select(s => (Id: s, Owner: "seller"))), options, async (acc, token) =>
            await api.ExpectAsync(HttpMethod.Post, "accounts", writerKey, new { accountId = acc.Id, owner = $"{acc.Owner} {acc.Id}", currency = Currency },
                $"demo-{run}-open-{acc.Id}", "POST /accounts", 201, null, token));
        // Deposits all post against the institution's house cash account, so they serialize on its turn anyway.
        await Parallel.ForEachAsync(buyers, options, async (id, token) =>
            await api.ExpectAsync(HttpMethod.Post, $"accounts/{id}/deposits", writerKey, new { amount = BuyerFunding, currency = Currency, reference = "card top-up" },
                $"demo-{run}-fund-{id}", "POST /accounts/{id}/deposits", 201, null, token));
        return new Market(institution, writerKey, auditorKey, buyers, sellers);
    }

    private static async Task RunDealAsync(Api api, Market market, DealPlan plan, string run, TimeProvider clock, CancellationToken ct)
    {
        var expiresAt = clock.GetUtcNow() + (plan.ExpiresInMs is { } ms ? TimeSpan.FromMilliseconds(ms) : TimeSpan.FromDays(14));
        var create = new
        {
            dealId = plan.DealId,
            buyerAccount = plan.Buyer,
            sellerAccount = plan.Seller,
            amount = plan.Amount,
            currency = Currency,
            expiresAt,
            refundAtExpiry = plan.RefundAtExpiry,
            externalReference = $"order-{run}-{plan.Index.ToString("D5", CultureInfo.InvariantCulture)}",
            terms = plan.Outcome == Outcome.Expire ? $"flash sale: pay within seconds; {plan.Variant}" : $"marketplace order: deliver within 3 days; {plan.Variant}",
        };
        if (await api.ExpectAsync(HttpMethod.Post, "deals", market.WriterKey, create, $"demo-{run}-{plan.DealId}-create", "POST /deals", 201, "CREATED", ct) is null)
            return;
        for (var i = 0; i < plan.Steps.Count; i++)
        {
            var step = plan.Steps[i];
            if (await api.ExpectAsync(HttpMethod.Post, $"deals/{plan.DealId}/{step.Path}", market.WriterKey, step.Body,
                    $"demo-{run}-{plan.DealId}-{i.ToString(CultureInfo.InvariantCulture)}-{step.Op}", $"POST /deals/{{id}}/{step.Path}", 200, step.ExpectState, ct) is null)
                return;   // the rest of this deal's script would only fail too
        }
    }

    private static async Task<(int Count, decimal Held)> CountAsync(Api api, string key, string state, CancellationToken ct)
    {
        var count = 0;
        var held = 0m;
        string? after = null;
        while (true)
        {
            var path = $"deals?state={state}&limit=1000" + (after is null ? "" : $"&after={Uri.EscapeDataString(after)}");
            var page = await api.ExpectAsync(HttpMethod.Get, path, key, null, null, "GET /deals?state=", 200, null, ct);
            if (page is not { } p) return (count, held);
            foreach (var d in p.GetProperty("deals").EnumerateArray())
            {
                count++;
                held += d.GetProperty("held").GetDecimal();
                if (d.GetProperty("status").GetString() != state)
                    api.Unexpected.Enqueue($"GET /{path} listed {d.GetProperty("dealId").GetString()} in status {d.GetProperty("status").GetString()}");
            }
            if (p.GetProperty("nextAfter").GetString() is not { } next) return (count, held);
            after = next;
        }
    }

    /// <summary>
    /// For every deal in <c>deal_status</c>: held equals the balance of its escrow account in <c>account_balances</c>,
    /// and funded = released + refunded + held. One statement, so one snapshot of both read models.
    /// </summary>
    private static async Task<bool> EscrowCheckAsync(NpgsqlDataSource ds, string[] institutions, CancellationToken ct)
    {
        const string Sql = """
            SELECT d.deal_id, d.tenant, d.status, d.funded, d.released, d.refunded, d.held, b.balance, b.currency,
                   (b.account_id IS NOT NULL AND d.held = b.balance AND b.currency = d.currency) AS held_ok,
                   (d.funded = d.released + d.refunded + d.held AND d.held >= 0) AS sum_ok
            FROM deal_status d LEFT JOIN account_balances b ON b.tenant = d.tenant AND b.account_id = d.escrow_account
            ORDER BY d.tenant, d.deal_id
            """;
        long deals = 0, ours = 0, heldBad = 0, sumBad = 0;
        decimal held = 0m, funded = 0m, released = 0m, refunded = 0m;
        var bad = new List<string>();
        await using (var cmd = ds.CreateCommand(Sql))
        await using (var r = await cmd.ExecuteReaderAsync(ct))
            while (await r.ReadAsync(ct))
            {
                deals++;
                var tenant = r.GetString(1);
                if (institutions.Contains(tenant, StringComparer.Ordinal))
                {
                    ours++;
                    funded += r.GetDecimal(3);
                    released += r.GetDecimal(4);
                    refunded += r.GetDecimal(5);
                    held += r.GetDecimal(6);
                }
                var heldOk = r.GetBoolean(9);
                var sumOk = r.GetBoolean(10);
                if (!heldOk) heldBad++;
                if (!sumOk) sumBad++;
                if ((!heldOk || !sumOk) && bad.Count < 20)
                    bad.Add($"{r.GetString(0)} ({tenant}, {r.GetString(2)}): funded {r.GetDecimal(3).ToString(CultureInfo.InvariantCulture)}, " +
                            $"released {r.GetDecimal(4).ToString(CultureInfo.InvariantCulture)}, refunded {r.GetDecimal(5).ToString(CultureInfo.InvariantCulture)}, " +
                            $"held {r.GetDecimal(6).ToString(CultureInfo.InvariantCulture)}, escrow account balance " +
                            (r.IsDBNull(7) ? "missing" : r.GetDecimal(7).ToString(CultureInfo.InvariantCulture)));
            }
        Console.WriteLine($"  escrow accounts: {deals.ToString("N0", CultureInfo.InvariantCulture)} deals in deal_status ({ours.ToString("N0", CultureInfo.InvariantCulture)} of this run); " +
                          $"held = balance of escrow-{{dealId}} in account_balances for {(deals - heldBad).ToString("N0", CultureInfo.InvariantCulture)}, " +
                          $"differs for {heldBad.ToString(CultureInfo.InvariantCulture)}");
        Console.WriteLine($"  deal amounts: funded = released + refunded + held (held ≥ 0) for {(deals - sumBad).ToString("N0", CultureInfo.InvariantCulture)}, " +
                          $"broken for {sumBad.ToString(CultureInfo.InvariantCulture)}; this run: funded {funded.ToString("N2", CultureInfo.InvariantCulture)} = " +
                          $"released {released.ToString("N2", CultureInfo.InvariantCulture)} + refunded {refunded.ToString("N2", CultureInfo.InvariantCulture)} + " +
                          $"held {held.ToString("N2", CultureInfo.InvariantCulture)} {Currency}" + (funded == released + refunded + held ? "" : "  ← DOES NOT ADD UP"));
        foreach (var b in bad) Console.WriteLine("  MISMATCH " + b);
        // How late this run's deals expired after their due time (each deal's Orleans reminder ticks at its expiry).
        await using (var late = ds.CreateCommand(
            """
            SELECT count(*), percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM t.occurred_at - d.expires_at)::float8),
                   max(extract(epoch FROM t.occurred_at - d.expires_at))::float8
            FROM deal_timeline t JOIN deal_status d ON d.tenant = t.tenant AND d.deal_id = t.deal_id
            WHERE t.to_status = 'EXPIRED' AND t.from_status <> 'EXPIRED' AND d.tenant = ANY($1)
            """))
        {
            late.Parameters.Add(new() { Value = institutions });
            await using var r = await late.ExecuteReaderAsync(ct);
            if (await r.ReadAsync(ct) && r.GetInt64(0) > 0)
                Console.WriteLine($"  expiry timer: {r.GetInt64(0).ToString(CultureInfo.InvariantCulture)} deals of this run expired " +
                                  $"{r.GetDouble(1).ToString("0.00", CultureInfo.InvariantCulture)} s (median) / {r.GetDouble(2).ToString("0.00", CultureInfo.InvariantCulture)} s (max) after their expiry instant");
        }
        var ok = heldBad == 0 && sumBad == 0 && funded == released + refunded + held;
        Console.WriteLine(ok ? "  escrow check: OK" : "  escrow check: FAILED");
        return ok;
    }

    private static void LatencyTable(Api api)
    {
        var table = new Table().Title("HTTP latency by route (ms)").AddColumns("route", "calls", "p50", "p99", "max");
        foreach (var (op, q) in api.Latencies.OrderByDescending(kv => kv.Value.Count))
        {
            var sorted = q.ToArray();
            Array.Sort(sorted);
            table.AddRow(Markup.Escape(op), sorted.Length.ToString(CultureInfo.InvariantCulture), Ms(Percentile(sorted, 0.5)), Ms(Percentile(sorted, 0.99)), Ms(sorted[^1]));
        }
        AnsiConsole.Write(table);
        var slow = api.Slow.OrderByDescending(s => s.Ms).ToList();
        if (slow.Count > 0)
            Console.WriteLine($"calls slower than 500 ms: {slow.Count.ToString(CultureInfo.InvariantCulture)}; slowest: " +
                              string.Join(", ", slow.Take(5).Select(s => $"{s.What} {Ms(s.Ms)} ms")));
    }

    private static double Percentile(double[] sorted, double p) =>
        sorted.Length == 0 ? double.NaN : sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];

    private static string Ms(double ms) => double.IsNaN(ms) ? "n/a" : ms.ToString(ms < 10 ? "0.00" : "0.0", CultureInfo.InvariantCulture);
}
