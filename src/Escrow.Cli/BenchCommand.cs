using System.Collections.Concurrent;
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Escrow.Domain.Accounts;
using Escrow.Silo;
using Escrow.Silo.Hosting;
using Escrow.Silo.Tenancy;
using Npgsql;
using Spectre.Console;

namespace Escrow.Cli;

/// <summary>
/// <c>escrow bench</c>: a throughput and latency benchmark of the whole command path (HTTP, grains,
/// PostgreSQL append), with the raw PostgreSQL ceiling (pgbench, one-row INSERT transactions) measured in the
/// same run. Prints one table (console and Markdown). Not a test: it asserts nothing, it reports.
/// </summary>
internal static partial class BenchCommand
{
    private const string Currency = "EUR";
    private const decimal Funding = 1_000_000m;
    private const double RatioTarget = 0.5, HalfLoadP99TargetMs = 25, LagTargetMs = 250;
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static void Add(RootCommand root)
    {
        var clients = new Option<int>("--clients") { Description = "Concurrent HTTP clients (closed loop)", DefaultValueFactory = _ => 16 };
        var seconds = new Option<int>("--seconds") { Description = "Seconds of full load (half load runs for half as long)", DefaultValueFactory = _ => 20 };
        var accounts = new Option<int>("--accounts") { Description = "Customer accounts to open and fund before the load", DefaultValueFactory = _ => 1000 };
        var url = new Option<string?>("--url") { Description = "Base address of a running silo (default: start one in-process on a free port)" };
        var profile = new Option<bool>("--profile")
        {
            Description = "In-process silo only: trace server requests and every PostgreSQL command during the full-load phase " +
                          "and print where the time goes (adds some overhead; the headline numbers are best taken without it)",
        };
        var sweep = new Option<string?>("--sweep")
        {
            Description = "Comma-separated further client counts (e.g. 64,128): after the main run, a full load, a half load and pgbench at each, " +
                          "then one table comparing them (ratio to pgbench at the same clients and to the best pgbench of the run)",
        };
        var bench = new Command("bench", "Benchmark transfers through the HTTP API against pgbench on the same database; prints a table.")
        {
            clients, seconds, accounts, url, profile, sweep,
        };
        bench.SetAction(async (pr, ct) =>
        {
            var settings = new Settings(pr.GetValue(clients), pr.GetValue(seconds), pr.GetValue(accounts), pr.GetValue(url), pr.GetValue(profile),
                ParseSweep(pr.GetValue(sweep)));
            return await RunAsync(settings, ct);
        });
        root.Subcommands.Add(bench);
    }

    private sealed record Settings(int Clients, int Seconds, int Accounts, string? Url, bool Profile, int[] Sweep);

    private static int[] ParseSweep(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return [];
        var list = new List<int>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n is < 1 or > 1000)
                throw new CliException($"--sweep takes client counts from 1 to 1000 separated by commas, got '{part}'");
            list.Add(n);
        }
        return [.. list];
    }

    /// <summary>One client count of a sweep: the full and half load at it, pgbench at it, CPU and group commit during the full load.</summary>
    private sealed record SweepRow(int Clients, Phase Full, Phase Half, PgbenchResult? Pg, string? PgError, double PgCoresFull, double AppendsPerTransaction);

    private sealed record Phase(
        long Created, long Refused, long Other, double[] SortedMs, TimeSpan Elapsed, double MachineBusy, double ProcessCores, double Steal, long Late,
        IReadOnlyDictionary<string, long> Codes)
    {
        public string CodeSummary => Codes.Count == 0 ? "" :
            "; not created: " + string.Join(", ", Codes.OrderByDescending(c => c.Value).Select(c => $"{c.Key} × {c.Value.ToString(CultureInfo.InvariantCulture)}"));
        public double CreatedPerSecond => Created / Elapsed.TotalSeconds;
        public double Percentile(double p) => BenchCommand.Percentile(SortedMs, p);
        public string Triple => SortedMs.Length == 0 ? "n/a" : $"{Ms(Percentile(0.50))} / {Ms(Percentile(0.95))} / {Ms(Percentile(0.99))}";
    }

    private sealed record Lag(double LagMsAtStop, long EventsBehindAtStop, double? CatchUpMs, string Detail);

    private sealed record PgbenchResult(double Tps, double? LatencyAvgMs, double MachineBusy, double Steal, string Command);

    private sealed record ServerInfo(string Version, string Fsync, string SynchronousCommit, string WalSyncMethod);

    private static async Task<int> RunAsync(Settings s, CancellationToken ct)
    {
        if (s.Clients < 1) throw new CliException("--clients must be at least 1");
        if (s.Seconds < 2) throw new CliException("--seconds must be at least 2");
        if (s.Accounts < 2) throw new CliException("--accounts must be at least 2 (transfers need two distinct accounts)");
        if (s.Profile && s.Url is not null) throw new CliException("--profile needs the in-process silo (leave out --url)");
        var cfg = CliConfig.FromEnvironment();
        var owner = new NpgsqlConnectionStringBuilder(cfg.Owner);
        var pgbench = FindPgbench() ?? throw new CliException("pgbench not found under /usr/lib/postgresql/*/bin or on PATH");

        var run = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray().AsSpan(0, 4));
        var loadAtStart = ReadLoadAverage();
        var server = await ServerInfoAsync(cfg.Owner, ct);
        Info($"bench run {run}: {s.Clients} clients, {s.Seconds} s full load, {s.Seconds / 2.0:0.#} s half load, {s.Accounts} accounts; " +
             $"{Environment.ProcessorCount} cores, load average {loadAtStart}");

        await using var cli = await CliSilo.StartAsync(s.Url, Info, ct);
        var silo = cli.InProcessSilo;
        var rootKey = cli.RootKey;
        {
            var http = cli.Http;
            http.DefaultRequestHeaders.Authorization = new("Bearer", await WriterKeyAsync(http, rootKey, run, ct));

            var ids = await SetUpAccountsAsync(http, run, s, ct);

            // Long enough for the JIT to finish tiering up the hot paths: with 2 s, a 20 s run still spent 14% of the
            // machine's CPU in the JIT's background compiler during its first half (perf, 2 cores).
            var warmUp = TimeSpan.FromSeconds(Math.Clamp(s.Seconds / 4.0, 1, 10));
            Info($"warming up for {warmUp.TotalSeconds:0.#} s (not measured)");
            await ClosedLoopAsync(http, ids, run + "w", s.Clients, warmUp, ct);

            var stats0 = await PgStatsAsync(cfg.Owner, ct);
            var groupCommit = silo?.Services.GetService<Escrow.EventStore.PgEventStore>();
            var (fullBatches0, fullAppends0) = (groupCommit?.AppendBatches ?? 0, groupCommit?.AppendsBatched ?? 0);
            var pgCpu0 = PostgresCpuSeconds();
            using var profiler = s.Profile ? new Profiler() : null;
            Info($"full load: {s.Clients} clients in a closed loop for {s.Seconds} s");
            var full = await ClosedLoopAsync(http, ids, run + "f", s.Clients, TimeSpan.FromSeconds(s.Seconds), ct);
            profiler?.Stop();
            var pgCores = (PostgresCpuSeconds() - pgCpu0) / full.Elapsed.TotalSeconds;
            var fullPerTx = groupCommit is null || groupCommit.AppendBatches == fullBatches0 ? double.NaN
                : (double)(groupCommit.AppendsBatched - fullAppends0) / (groupCommit.AppendBatches - fullBatches0);
            var stats1 = await PgStatsAsync(cfg.Owner, ct);
            var lagFull = await MeasureLagAsync(http, cfg.Owner, ct);
            Info($"full load done: {full.CreatedPerSecond:0.0} transfers/s; projections: {lagFull.Detail}");

            var transfersPerSecond = Math.Max(1, full.CreatedPerSecond / 2);
            var halfDuration = TimeSpan.FromSeconds(s.Seconds / 2.0);
            Info($"half load: {transfersPerSecond:0.0} transfers/s paced over {s.Clients} clients for {halfDuration.TotalSeconds:0.#} s");
            var half = await PacedAsync(http, ids, run + "h", s.Clients, transfersPerSecond, halfDuration, ct);
            var lagHalf = await MeasureLagAsync(http, cfg.Owner, ct);
            Info($"half load done: {half.CreatedPerSecond:0.0} transfers/s; projections: {lagHalf.Detail}");

            Info($"pgbench: {s.Clients} clients, one-row INSERT transactions, {s.Seconds} s");
            var pg = await RunPgbenchAsync(pgbench, owner, run, s.Clients, s.Seconds, ct);
            Info($"pgbench: {pg.Tps:0.0} tps");

            Report(s, server, $"{loadAtStart} at start, {ReadLoadAverage()} at end", full, half, transfersPerSecond, lagFull, lagHalf, pg);
            Diagnostics(full, pg, stats0, stats1, profiler);
            if (pgCores > 0)
                Console.WriteLine($"CPU during full load: PostgreSQL processes {F(pgCores, "0.00")} cores ({F(pgCores * 1000 / Math.Max(1, full.CreatedPerSecond), "0.000")} ms per transfer), " +
                                  $"escrow process {F(full.ProcessCores, "0.00")} cores ({F(full.ProcessCores * 1000 / Math.Max(1, full.CreatedPerSecond), "0.000")} ms per transfer, clients included)");
            var eventStore = silo?.Services.GetService<Escrow.EventStore.PgEventStore>();
            if (eventStore is { AppendBatches: > 0 } store)
                Console.WriteLine($"group commit: {store.AppendsBatched} appends in {store.AppendBatches} transactions " +
                                  $"({F((double)store.AppendsBatched / store.AppendBatches, "0.00")} per transaction, whole run), {store.BatchRetries} retried without a conflicting command");
            if (s.Sweep.Length > 0)
            {
                var rows = new List<SweepRow> { new(s.Clients, full, half, pg, null, pgCores, fullPerTx) };
                foreach (var n in s.Sweep)
                {
                    Info($"sweep: {n} clients, warming up for {warmUp.TotalSeconds:0.#} s");
                    await ClosedLoopAsync(http, ids, run + $"w{n}", n, warmUp, ct);
                    var (batches0, appends0) = (eventStore?.AppendBatches ?? 0, eventStore?.AppendsBatched ?? 0);
                    var cpu0 = PostgresCpuSeconds();
                    var f = await ClosedLoopAsync(http, ids, run + $"f{n}", n, TimeSpan.FromSeconds(s.Seconds), ct);
                    var cores = (PostgresCpuSeconds() - cpu0) / f.Elapsed.TotalSeconds;
                    var perTx = eventStore is null || eventStore.AppendBatches == batches0 ? double.NaN
                        : (double)(eventStore.AppendsBatched - appends0) / (eventStore.AppendBatches - batches0);
                    await MeasureLagAsync(http, cfg.Owner, ct);
                    var h = await PacedAsync(http, ids, run + $"h{n}", n, Math.Max(1, f.CreatedPerSecond / 2), halfDuration, ct);
                    await MeasureLagAsync(http, cfg.Owner, ct);
                    Info($"sweep: {n} clients: {f.CreatedPerSecond:0.0} transfers/s, half-load p99 {Ms(h.Percentile(0.99))} ms; pgbench at {n} clients");
                    try
                    {
                        rows.Add(new SweepRow(n, f, h, await RunPgbenchAsync(pgbench, owner, run + $"s{n}", n, s.Seconds, ct), null, cores, perTx));
                    }
                    catch (CliException ex)
                    {
                        // e.g. max_connections: the silo's pools and pgbench's clients together exceed it.
                        rows.Add(new SweepRow(n, f, h, null, ex.Message.Split('\n')[0], cores, perTx));
                    }
                }
                ReportSweep(rows);
            }
            return 0;
        }
    }

    // ---------------------------------------------------------------- setup

    private static async Task<string[]> SetUpAccountsAsync(HttpClient http, string run, Settings s, CancellationToken ct)
    {
        var ids = Enumerable.Range(0, s.Accounts).Select(i => $"bench-{run}-{i.ToString(CultureInfo.InvariantCulture)}").ToArray();
        var clock = Stopwatch.StartNew();
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = s.Clients, CancellationToken = ct };
        await Parallel.ForEachAsync(ids, parallel, async (id, token) =>
            await PostExpectingAsync(http, "accounts", new { accountId = id, owner = "bench", currency = Currency }, $"bench-{id}-open", token));
        // Every deposit also posts to the house cash account, whose turn serializes them anyway: send them one at a time.
        // (A silo that stamps postings before taking the turns can refuse a racing one as backdated_posting; that is
        // retried with a fresh key, since the refusal is remembered under the first.)
        foreach (var id in ids)
            await PostExpectingAsync(http, $"accounts/{id}/deposits", new { amount = Funding, currency = Currency, reference = "bench funding" },
                $"bench-{id}-fund", ct);
        Info($"opened and funded {ids.Length} accounts with {Funding.ToString("N2", CultureInfo.InvariantCulture)} {Currency} each in {clock.Elapsed.TotalSeconds:0.0} s");
        return ids;
    }

    /// <summary>Creates institution bench-{run} and a writer key for it through the root key; the bench acts as that writer.</summary>
    private static async Task<string> WriterKeyAsync(HttpClient http, string? rootKey, string run, CancellationToken ct)
    {
        if (string.IsNullOrEmpty(rootKey))
            throw new CliException("--url needs the silo's root key in Escrow__RootApiKey (deploy/run.sh prints it)");
        async Task<JsonElement> AsRootAsync(string path, object body)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(JsonSerializer.Serialize(body, Json), Encoding.UTF8, "application/json") };
            request.Headers.Authorization = new("Bearer", rootKey);
            using var response = await http.SendAsync(request, ct);
            var text = await response.Content.ReadAsStringAsync(ct);
            if (response.StatusCode != HttpStatusCode.Created) throw new CliException($"setup: POST /{path} answered {(int)response.StatusCode}: {text}");
            return JsonDocument.Parse(text).RootElement.Clone();
        }
        await AsRootAsync("institutions", new { institutionId = $"bench-{run}", name = $"escrow bench run {run}" });
        return (await AsRootAsync($"institutions/bench-{run}/keys", new { role = "writer", name = "escrow bench" })).GetProperty("apiKey").GetString()!;
    }

    private static async Task PostExpectingAsync(HttpClient http, string path, object body, string key, CancellationToken ct)
    {
        var json = JsonSerializer.Serialize(body, Json);
        for (var attempt = 0; ; attempt++)
        {
            using var request = Post(path, json, attempt == 0 ? key : $"{key}-retry{attempt.ToString(CultureInfo.InvariantCulture)}");
            using var response = await http.SendAsync(request, ct);
            if (response.StatusCode == HttpStatusCode.Created) return;
            var text = await response.Content.ReadAsStringAsync(ct);
            if (attempt < 5 && response.StatusCode == HttpStatusCode.Conflict && ProblemCode(text) == "backdated_posting") continue;
            throw new CliException($"setup: POST /{path} answered {(int)response.StatusCode}: {text}");
        }
    }

    private static string ProblemCode(string problemJson)
    {
        try
        {
            using var doc = JsonDocument.Parse(problemJson);
            return doc.RootElement.TryGetProperty("code", out var c) ? c.GetString() ?? "?" : "?";
        }
        catch (JsonException) { return "?"; }
    }

    private static HttpRequestMessage Post(string path, string json, string idempotencyKey)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        request.Headers.Add("Idempotency-Key", idempotencyKey);
        return request;
    }

    // ---------------------------------------------------------------- load

    private sealed class Tally
    {
        public long Created, Refused, Other, Late;
        public readonly List<double> Ms = new(1 << 14);
        public readonly Dictionary<string, long> Codes = new(StringComparer.Ordinal);
    }

    /// <summary>One transfer between two random distinct accounts; records its latency and outcome.</summary>
    private static async Task TransferAsync(HttpClient http, string[] ids, string key, Tally t, CancellationToken ct)
    {
        var from = Random.Shared.Next(ids.Length);
        var to = Random.Shared.Next(ids.Length - 1);
        if (to >= from) to++;
        var amount = Random.Shared.Next(1, 501) / 100m;   // 0.01 to 5.00: nothing close to the funding, so refusals are rare
        var json = JsonSerializer.Serialize(new { from = ids[from], to = ids[to], amount, currency = Currency, reference = "bench" }, Json);
        var start = Stopwatch.GetTimestamp();
        try
        {
            using var request = Post("transfers", json, key);
            using var response = await http.SendAsync(request, ct);
            await response.Content.LoadIntoBufferAsync(ct);
            t.Ms.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            switch (response.StatusCode)
            {
                case HttpStatusCode.Created: t.Created++; break;
                case HttpStatusCode.Conflict: t.Refused++; break;
                default: t.Other++; break;
            }
            if (response.StatusCode != HttpStatusCode.Created)
            {
                var code = $"{(int)response.StatusCode} {ProblemCode(await response.Content.ReadAsStringAsync(ct))}";
                t.Codes[code] = t.Codes.GetValueOrDefault(code) + 1;
            }
        }
        catch (Exception ex) when (ex is HttpRequestException || ex is TaskCanceledException && !ct.IsCancellationRequested)
        {
            t.Ms.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            t.Other++;
            var code = ex.GetType().Name;
            t.Codes[code] = t.Codes.GetValueOrDefault(code) + 1;
        }
    }

    /// <summary>Each client sends its next transfer as soon as the previous one is answered, until the duration has passed.</summary>
    private static async Task<Phase> ClosedLoopAsync(HttpClient http, string[] ids, string run, int clients, TimeSpan duration, CancellationToken ct)
    {
        var cpu = CpuSample.Take();
        var start = Stopwatch.GetTimestamp();
        var tallies = await Task.WhenAll(Enumerable.Range(0, clients).Select(c => Task.Run(async () =>
        {
            var t = new Tally();
            for (long n = 0; Stopwatch.GetElapsedTime(start) < duration; n++)
                await TransferAsync(http, ids, $"bench-{run}-{c}-{n}", t, ct);
            return t;
        }, ct)));
        return Collect(tallies, Stopwatch.GetElapsedTime(start), cpu);
    }

    /// <summary>
    /// Open-loop pacing: transfer i is due at start + i / transfersPerSecond, whoever of the clients is free takes it. Latency is
    /// measured from the send; a transfer sent more than 5 ms after its due time counts as late (the schedule slipped).
    /// </summary>
    private static async Task<Phase> PacedAsync(HttpClient http, string[] ids, string run, int clients, double transfersPerSecond, TimeSpan duration, CancellationToken ct)
    {
        var cpu = CpuSample.Take();
        var start = Stopwatch.GetTimestamp();
        long ticket = -1;
        var slack = Stopwatch.Frequency / 200;   // 5 ms
        var tallies = await Task.WhenAll(Enumerable.Range(0, clients).Select(c => Task.Run(async () =>
        {
            var t = new Tally();
            while (true)
            {
                var i = Interlocked.Increment(ref ticket);
                var offset = (long)(i * Stopwatch.Frequency / transfersPerSecond);
                if (offset >= duration.TotalSeconds * Stopwatch.Frequency) break;
                var due = start + offset;
                var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), due);
                if (wait > TimeSpan.Zero) await Task.Delay(wait, ct);
                if (Stopwatch.GetTimestamp() - due > slack) t.Late++;
                await TransferAsync(http, ids, $"bench-{run}-{i}", t, ct);
            }
            return t;
        }, ct)));
        return Collect(tallies, Stopwatch.GetElapsedTime(start), cpu);
    }

    private static Phase Collect(Tally[] tallies, TimeSpan elapsed, CpuSample cpu)
    {
        var (busy, cores, steal) = cpu.Since();
        var all = tallies.SelectMany(t => t.Ms).ToArray();
        Array.Sort(all);
        var codes = tallies.SelectMany(t => t.Codes).GroupBy(c => c.Key, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.Sum(c => c.Value), StringComparer.Ordinal);
        return new Phase(tallies.Sum(t => t.Created), tallies.Sum(t => t.Refused), tallies.Sum(t => t.Other), all, elapsed, busy, cores, steal,
            tallies.Sum(t => t.Late), codes);
    }

    private static double Percentile(double[] sorted, double p) =>
        sorted.Length == 0 ? double.NaN : sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];

    // ---------------------------------------------------------------- projections

    /// <summary>
    /// Right after a phase: notes the newest event in commit order, reads <c>GET /projections</c> (lag and events
    /// behind as the silo reports them) and, meanwhile, polls the projection checkpoints directly (cheap, every 5 ms)
    /// until each has passed that event: the time until every projection is 0 events behind. Polling the endpoint
    /// would measure the endpoint: it counts the events behind, which costs more as the log grows.
    /// </summary>
    private static async Task<Lag> MeasureLagAsync(HttpClient http, string ownerConnectionString, CancellationToken ct)
    {
        var stopped = Stopwatch.GetTimestamp();
        await using var conn = new NpgsqlConnection(ownerConnectionString);
        await conn.OpenAsync(ct);
        string? headTx = null;
        long headPos = 0;
        await using (var head = new NpgsqlCommand(
            "SELECT e.transaction_id::text AS tx, e.global_position FROM events e ORDER BY e.transaction_id DESC, e.global_position DESC LIMIT 1", conn))
        await using (var r = await head.ExecuteReaderAsync(ct))
            if (await r.ReadAsync(ct)) (headTx, headPos) = (r.GetString(0), r.GetInt64(1));

        var statusSent = Stopwatch.GetTimestamp();
        var status = ProjectionsAsync(http, ct);
        var projections = Escrow.Projections.ProjectionCatalog.All().Count();
        double? caughtUp = headTx is null ? 0 : null;
        var limit = TimeSpan.FromSeconds(60);
        await using (var poll = new NpgsqlCommand(
            "SELECT count(*) FROM projection_checkpoints WHERE (transaction_id, global_position) >= ($1::text::xid8, $2)", conn))
        {
            poll.Parameters.Add(new() { Value = headTx ?? "0" });
            poll.Parameters.Add(new() { Value = headPos });
            while (caughtUp is null && Stopwatch.GetElapsedTime(stopped) < limit)
            {
                if ((long)(await poll.ExecuteScalarAsync(ct))! >= projections) caughtUp = Stopwatch.GetElapsedTime(stopped).TotalMilliseconds;
                else await Task.Delay(5, ct);
            }
        }
        var first = await status;
        var statusMs = Stopwatch.GetElapsedTime(statusSent).TotalMilliseconds;
        var lagMs = first.Count == 0 ? 0 : first.Max(p => p.LagMs);
        var behind = first.Count == 0 ? 0 : first.Sum(p => p.Behind);
        var perProjection = string.Join(", ", first.Select(p => $"{p.Name} {p.Behind} behind/{Ms(p.LagMs)} ms"));
        var detail = $"GET /projections at stop: {perProjection} (answered in {Ms(statusMs)} ms); " +
                     (caughtUp is { } c ? $"every checkpoint past the last event after {Ms(c)} ms" : $"not caught up after {limit.TotalSeconds:0} s");
        return new Lag(lagMs, behind, caughtUp, detail);
    }

    private static async Task<List<(string Name, long Behind, double LagMs)>> ProjectionsAsync(HttpClient http, CancellationToken ct)
    {
        using var response = await http.GetAsync("projections", ct);
        response.EnsureSuccessStatusCode();
        await using var body = await response.Content.ReadAsStreamAsync(ct);
        using var doc = await JsonDocument.ParseAsync(body, cancellationToken: ct);
        return doc.RootElement.EnumerateArray()
            .Select(p => (p.GetProperty("name").GetString() ?? "?", p.GetProperty("eventsBehind").GetInt64(), p.GetProperty("lagMilliseconds").GetDouble()))
            .ToList();
    }

    // ---------------------------------------------------------------- pgbench

    private static string? FindPgbench()
    {
        if (Directory.Exists("/usr/lib/postgresql"))
        {
            var found = Directory.GetDirectories("/usr/lib/postgresql")
                .Select(d => (Dir: d, Version: double.TryParse(Path.GetFileName(d), NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : 0))
                .OrderByDescending(d => d.Version)
                .Select(d => Path.Combine(d.Dir, "bin", "pgbench"))
                .FirstOrDefault(File.Exists);
            if (found is not null) return found;
        }
        return (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, "pgbench")).FirstOrDefault(File.Exists);
    }

    [GeneratedRegex(@"^tps = ([0-9]+(?:\.[0-9]+)?)", RegexOptions.Multiline)]
    private static partial Regex TpsLine();

    [GeneratedRegex(@"^latency average = ([0-9]+(?:\.[0-9]+)?) ms", RegexOptions.Multiline)]
    private static partial Regex LatencyLine();

    /// <summary>
    /// pgbench as the schema owner against the same server and database: a custom script of one single-row INSERT
    /// per transaction into a scratch table (created first, dropped after), same client count, same duration.
    /// </summary>
    private static async Task<PgbenchResult> RunPgbenchAsync(string pgbench, NpgsqlConnectionStringBuilder owner, string run, int clients, int seconds, CancellationToken ct)
    {
        var table = $"bench_pgbench_{run}";
        var script = Path.Combine(Path.GetTempPath(), $"escrow-bench-{run}.sql");
        await ExecuteAsync(owner.ConnectionString,
            $"CREATE TABLE {table} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, payload text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())", ct);
        try
        {
            await File.WriteAllTextAsync(script, $"INSERT INTO {table} (payload) VALUES (md5(random()::text));\n", ct);
            var psi = new ProcessStartInfo(pgbench)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            var host = owner.Host ?? "127.0.0.1";
            var user = owner.Username ?? Environment.UserName;
            var database = owner.Database ?? user;
            string[] args = ["-h", host, "-p", owner.Port.ToString(CultureInfo.InvariantCulture), "-U", user,
                "-c", clients.ToString(CultureInfo.InvariantCulture), "-j", Math.Min(2, clients).ToString(CultureInfo.InvariantCulture),
                "-T", seconds.ToString(CultureInfo.InvariantCulture), "-n", "-f", script, database];
            foreach (var a in args) psi.ArgumentList.Add(a);
            if (!string.IsNullOrEmpty(owner.Password)) psi.Environment["PGPASSWORD"] = owner.Password;
            var command = "pgbench " + string.Join(' ', args);

            var cpu = CpuSample.Take();
            using var process = Process.Start(psi) ?? throw new CliException($"could not start {pgbench}");
            var stdout = process.StandardOutput.ReadToEndAsync(ct);
            var stderr = process.StandardError.ReadToEndAsync(ct);
            try
            {
                await process.WaitForExitAsync(ct);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                throw;
            }
            var (busy, _, steal) = cpu.Since();
            var output = await stdout;
            var errors = await stderr;
            var tps = TpsLine().Match(output);
            if (process.ExitCode != 0 || !tps.Success)
                throw new CliException($"pgbench failed (exit {process.ExitCode}): {errors.Trim()} {output.Trim()}");
            var latency = LatencyLine().Match(output);
            return new PgbenchResult(double.Parse(tps.Groups[1].Value, CultureInfo.InvariantCulture),
                latency.Success ? double.Parse(latency.Groups[1].Value, CultureInfo.InvariantCulture) : null, busy, steal, command);
        }
        finally
        {
            File.Delete(script);
            await ExecuteAsync(owner.ConnectionString, $"DROP TABLE IF EXISTS {table}", CancellationToken.None);
        }
    }

    private static async Task ExecuteAsync(string connectionString, string sql, CancellationToken ct)
    {
        await using var conn = new NpgsqlConnection(connectionString);
        await conn.OpenAsync(ct);
        await using var cmd = new NpgsqlCommand(sql, conn);
        await cmd.ExecuteNonQueryAsync(ct);
    }

    private static async Task<ServerInfo> ServerInfoAsync(string ownerConnectionString, CancellationToken ct)
    {
        await using var conn = new NpgsqlConnection(ownerConnectionString);
        await conn.OpenAsync(ct);
        await using var cmd = new NpgsqlCommand(
            "SELECT current_setting('server_version'), current_setting('fsync'), current_setting('synchronous_commit'), current_setting('wal_sync_method')", conn);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        await r.ReadAsync(ct);
        return new ServerInfo(r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3));
    }

    /// <summary>This database's commits and inserted rows, and the cluster's WAL counters (whatever columns this server version has).</summary>
    private static async Task<Dictionary<string, double>> PgStatsAsync(string ownerConnectionString, CancellationToken ct)
    {
        var stats = new Dictionary<string, double>(StringComparer.Ordinal);
        await using var conn = new NpgsqlConnection(ownerConnectionString);
        await conn.OpenAsync(ct);
        foreach (var sql in new[]
                 {
                     "SELECT xact_commit, xact_rollback, tup_inserted, tup_updated FROM pg_stat_database WHERE datname = current_database()",
                     "SELECT * FROM pg_stat_wal",
                 })
        {
            await using var cmd = new NpgsqlCommand(sql, conn);
            await using var r = await cmd.ExecuteReaderAsync(ct);
            if (!await r.ReadAsync(ct)) continue;
            for (var i = 0; i < r.FieldCount; i++)
                if (!r.IsDBNull(i) && r.GetValue(i) is var v and (long or int or short or double or float or decimal))
                    stats[r.GetName(i)] = Convert.ToDouble(v, CultureInfo.InvariantCulture);
        }
        return stats;
    }

    // ---------------------------------------------------------------- machine


    private static string MemoryTotal()
    {
        try
        {
            var line = File.ReadLines("/proc/meminfo").FirstOrDefault(l => l.StartsWith("MemTotal:", StringComparison.Ordinal));
            var kb = line?.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1];
            return kb is null ? "unknown" : $"{long.Parse(kb, CultureInfo.InvariantCulture) / 1024.0 / 1024.0:0.0} GiB";
        }
        catch (IOException) { return "unknown"; }
        catch (UnauthorizedAccessException) { return "unknown"; }
    }

    /// <summary>CPU time (user + system, seconds) of every process named postgres on this machine, from /proc (0 where unreadable).</summary>
    private static double PostgresCpuSeconds()
    {
        double ticks = 0;
        try
        {
            foreach (var dir in Directory.EnumerateDirectories("/proc"))
            {
                if (!char.IsDigit(Path.GetFileName(dir)[0])) continue;
                try
                {
                    var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                    var close = stat.LastIndexOf(')');
                    if (close < 0 || !stat.AsSpan(0, close).EndsWith("(postgres", StringComparison.Ordinal)) continue;
                    var f = stat[(close + 2)..].Split(' ');
                    ticks += double.Parse(f[11], CultureInfo.InvariantCulture) + double.Parse(f[12], CultureInfo.InvariantCulture);
                }
                catch (IOException) { /* the process ended */ }
                catch (UnauthorizedAccessException) { /* not ours to read */ }
            }
        }
        catch (IOException) { return 0; }
        return ticks / 100.0;   // USER_HZ
    }

    private static string ReadLoadAverage()
    {
        try { return File.ReadAllText("/proc/loadavg").Split(' ')[0]; }
        catch (IOException) { return "unknown"; }
        catch (UnauthorizedAccessException) { return "unknown"; }
    }

    /// <summary>Machine-wide busy CPU (from /proc/stat) and this process's CPU time between two points.</summary>
    private readonly record struct CpuSample(long Busy, long Steal, long Total, TimeSpan Process, long At)
    {
        public static CpuSample Take()
        {
            var (busy, steal, total) = ReadProcStat();
            using var me = System.Diagnostics.Process.GetCurrentProcess();
            return new CpuSample(busy, steal, total, me.TotalProcessorTime, Stopwatch.GetTimestamp());
        }

        /// <summary>
        /// (machine busy fraction 0..1, cores used by this process, steal fraction 0..1: time the hypervisor gave this
        /// virtual machine's cores to someone else; a run with much steal measured a slower machine).
        /// </summary>
        public (double MachineBusy, double ProcessCores, double Steal) Since()
        {
            var now = Take();
            var total = now.Total - Total;
            var busy = total > 0 ? (double)(now.Busy - Busy) / total : double.NaN;
            var steal = total > 0 ? (double)(now.Steal - Steal) / total : double.NaN;
            var wall = Stopwatch.GetElapsedTime(At, now.At).TotalSeconds;
            return (busy, wall > 0 ? (now.Process - Process).TotalSeconds / wall : double.NaN, steal);
        }

        private static (long Busy, long Steal, long Total) ReadProcStat()
        {
            try
            {
                var f = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Take(8)
                    .Select(x => long.Parse(x, CultureInfo.InvariantCulture)).ToArray();
                var total = f.Sum();
                return (total - f[3] - f[4] - f[7], f[7], total);   // idle, iowait and steal are not this machine's work
            }
            catch (IOException) { return (0, 0, 0); }
        }
    }

    // ---------------------------------------------------------------- profiling

    /// <summary>
    /// Listens to the in-process silo's server request activities and Npgsql's command activities (tag
    /// <c>db.query.text</c>) and groups their durations: where a transfer's time goes, and how many round trips it takes.
    /// </summary>
    private sealed class Profiler : IDisposable
    {
        private readonly ActivityListener _listener;
        private readonly ConcurrentDictionary<string, ConcurrentQueue<double>> _byKey = new(StringComparer.Ordinal);
        private volatile bool _stopped;

        public Profiler()
        {
            _listener = new ActivityListener
            {
                ShouldListenTo = source => source.Name is "Npgsql" or "Microsoft.AspNetCore",
                Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
                ActivityStopped = Record,
            };
            ActivitySource.AddActivityListener(_listener);
        }

        private void Record(Activity a)
        {
            if (_stopped) return;
            string key;
            if (a.Source.Name == "Npgsql")
            {
                var sql = a.GetTagItem("db.query.text") as string ?? a.DisplayName;
                var flat = WhiteSpace().Replace(sql, " ").Trim();
                key = "db  " + (flat.Length > 70 ? flat[..70] + "…" : flat);
            }
            else
            {
                key = "http " + a.DisplayName;
            }
            _byKey.GetOrAdd(key, _ => new ConcurrentQueue<double>()).Enqueue(a.Duration.TotalMilliseconds);
        }

        public void Stop() => _stopped = true;

        public IEnumerable<(string Key, int Count, double[] Sorted)> Results() => _byKey
            .Select(kv => { var arr = kv.Value.ToArray(); Array.Sort(arr); return (kv.Key, arr.Length, arr); })
            .OrderByDescending(r => r.arr.Sum());

        public void Dispose() => _listener.Dispose();
    }

    [GeneratedRegex(@"\s+")]
    private static partial Regex WhiteSpace();

    // ---------------------------------------------------------------- report

    private static string Ms(double ms) => double.IsNaN(ms) ? "n/a" : ms.ToString(ms < 10 ? "0.00" : "0.0", CultureInfo.InvariantCulture);
    private static string F(double x, string format = "0.0") => x.ToString(format, CultureInfo.InvariantCulture);
    private static void Info(string line) => Console.WriteLine("· " + line);

    /// <summary>The sweep's table: throughput, CPU and latency per client count, against pgbench at the same count and at its best.</summary>
    private static void ReportSweep(List<SweepRow> rows)
    {
        var best = rows.Where(r => r.Pg is not null).Select(r => r.Pg!.Tps).DefaultIfEmpty(double.NaN).Max();
        var md = new StringBuilder();
        md.AppendLine().AppendLine("client sweep (full load, half load and pgbench at each client count; CPU per transfer during the full load):")
          .AppendLine("| clients | transfers/s | commands per append transaction | PostgreSQL / escrow CPU per transfer | pgbench tps at these clients | ratio | ratio to the run's best pgbench | half-load p99 |")
          .AppendLine("|---|---|---|---|---|---|---|---|");
        foreach (var r in rows)
        {
            var tps = r.Full.CreatedPerSecond;
            var pgText = r.Pg is { } p ? F(p.Tps) : $"n/a ({r.PgError})";
            var ratio = r.Pg is { } q && q.Tps > 0 ? F(tps / q.Tps, "0.00") : "n/a";
            var ratioBest = double.IsNaN(best) || best <= 0 ? "n/a" : F(tps / best, "0.00");
            var p99 = r.Half.Percentile(0.99);
            md.AppendLine(CultureInfo.InvariantCulture,
                $"| {r.Clients} | {F(tps)} | {(double.IsNaN(r.AppendsPerTransaction) ? "n/a" : F(r.AppendsPerTransaction, "0.0"))} | " +
                $"{F(r.PgCoresFull * 1000 / Math.Max(1, tps), "0.00")} / {F(r.Full.ProcessCores * 1000 / Math.Max(1, tps), "0.00")} ms | {pgText} | {ratio} | {ratioBest} | " +
                $"{Ms(p99)} ms ({(p99 < HalfLoadP99TargetMs ? "met" : "missed")}) |");
        }
        Console.WriteLine(md.ToString());
    }

    private static void Report(Settings s, ServerInfo server, string load, Phase full, Phase half, double halfRate, Lag lagFull, Lag lagHalf, PgbenchResult pg)
    {
        var ratio = pg.Tps > 0 ? full.CreatedPerSecond / pg.Tps : double.NaN;
        var halfP99 = half.Percentile(0.99);
        var lagWorst = Math.Max(lagFull.LagMsAtStop, lagFull.CatchUpMs ?? double.PositiveInfinity);
        var rows = new List<(string Metric, string Value, string Target, bool? Met)>
        {
            ("machine", $"{Environment.ProcessorCount} cores, {MemoryTotal()} RAM, load avg {load}; PostgreSQL {server.Version} " +
                        $"(fsync={server.Fsync}, synchronous_commit={server.SynchronousCommit}, wal_sync_method={server.WalSyncMethod})", "", null),
            ("silo", s.Url is null ? "in-process (same machine as clients and PostgreSQL)" : s.Url, "", null),
            ("clients / seconds (full load) / accounts", $"{s.Clients} / {s.Seconds} / {s.Accounts}", "", null),
            ("transfers/s (full load)", $"{F(full.CreatedPerSecond)} ({full.Created} × 201, {full.Refused} × 409, {full.Other} other{full.CodeSummary})", "", null),
            ("events/s (2 per transfer)", F(full.CreatedPerSecond * 2), "", null),
            ("pgbench tps (1-row INSERT, same clients, -j 2)", $"{F(pg.Tps)}" + (pg.LatencyAvgMs is { } l ? $" (avg {Ms(l)} ms)" : ""), "", null),
            ("ratio transfers/s ÷ pgbench tps", F(ratio, "0.00"), $"≥ {F(RatioTarget, "0.0")}", ratio >= RatioTarget),
            ("latency p50 / p95 / p99, full load (ms)", full.Triple, "", null),
            ("half load: target / achieved rate", $"{F(halfRate)} / {F(half.CreatedPerSecond)} transfers/s for {F(half.Elapsed.TotalSeconds, "0.#")} s " +
                                                  $"({half.Refused} × 409, {half.Other} other, {half.Late} sent > 5 ms late{half.CodeSummary})", "", null),
            ("latency p50 / p95 / p99, half load (ms)", half.Triple, $"p99 < {F(HalfLoadP99TargetMs, "0")} ms", halfP99 < HalfLoadP99TargetMs),
            ("projection lag at end of full load", $"{Ms(lagFull.LagMsAtStop)} ms ({lagFull.EventsBehindAtStop} events behind); " +
                                                  (lagFull.CatchUpMs is { } c ? $"all projections 0 behind after {Ms(c)} ms" : "did not catch up in 60 s"),
                $"< {F(LagTargetMs, "0")} ms", lagWorst < LagTargetMs),
            ("projection lag at end of half load", $"{Ms(lagHalf.LagMsAtStop)} ms ({lagHalf.EventsBehindAtStop} events behind); " +
                                                  (lagHalf.CatchUpMs is { } h ? $"all projections 0 behind after {Ms(h)} ms" : "did not catch up in 60 s"), "", null),
            ("CPU busy: full load / pgbench (machine)", $"{F(full.MachineBusy * 100, "0")} % / {F(pg.MachineBusy * 100, "0")} % of {Environment.ProcessorCount} cores " +
                                                        $"(stolen by the hypervisor: {F(full.Steal * 100, "0")} % / {F(pg.Steal * 100, "0")} %); " +
                                                        $"escrow process {F(full.ProcessCores, "0.00")} cores", "", null),
        };

        // Redirected output (a log, a pipe) would otherwise be laid out for 80 columns.
        if (Console.IsOutputRedirected && AnsiConsole.Profile.Width < 160) AnsiConsole.Profile.Width = 160;
        var table = new Table().Title("escrow bench").AddColumns("metric", "value", "target", "met");
        foreach (var r in rows)
            table.AddRow(Markup.Escape(r.Metric), Markup.Escape(r.Value), Markup.Escape(r.Target),
                r.Met switch { true => "[green]yes[/]", false => "[red]no[/]", null => "" });
        AnsiConsole.Write(table);

        var md = new StringBuilder();
        md.AppendLine().AppendLine("| metric | value | target | met |").AppendLine("|---|---|---|---|");
        foreach (var r in rows)
            md.AppendLine(CultureInfo.InvariantCulture, $"| {r.Metric} | {r.Value.Replace("|", "\\|", StringComparison.Ordinal)} | {r.Target} | {r.Met switch { true => "yes", false => "**no**", null => "" }} |");
        Console.WriteLine(md.ToString());
        Console.WriteLine($"pgbench command: {pg.Command}");
        Console.WriteLine($"projections, full load: {lagFull.Detail}");
        Console.WriteLine($"projections, half load: {lagHalf.Detail}");
    }

    private static void Diagnostics(Phase full, PgbenchResult pg, Dictionary<string, double> before, Dictionary<string, double> after, Profiler? profiler)
    {
        double Delta(string k) => after.TryGetValue(k, out var a) && before.TryGetValue(k, out var b) ? a - b : double.NaN;
        var n = Math.Max(1, full.Created + full.Refused + full.Other);
        var lines = new List<string>
        {
            $"per transfer (full load, this database): {F(Delta("xact_commit") / n, "0.00")} commits, {F(Delta("tup_inserted") / n, "0.00")} rows inserted, " +
            $"{F(Delta("tup_updated") / n, "0.00")} rows updated",
        };
        if (!double.IsNaN(Delta("wal_bytes")))
            lines.Add($"cluster WAL during full load (all databases): {F(Delta("wal_bytes") / n, "0")} bytes and {F(Delta("wal_records") / n, "0.0")} records per transfer" +
                      (double.IsNaN(Delta("wal_sync")) ? "" : $", {F(Delta("wal_sync") / full.Elapsed.TotalSeconds, "0")} WAL fsyncs/s " +
                                                              $"({F(Delta("xact_commit") / Math.Max(1, Delta("wal_sync")), "0.00")} commits per fsync)"));
        foreach (var l in lines) Console.WriteLine(l);

        if (profiler is null) return;
        var table = new Table().Title("where the time goes (full load, traced)").AddColumns("span", "count", "per transfer", "p50 ms", "p99 ms", "total s");
        foreach (var (key, count, sorted) in profiler.Results().Take(16))
            table.AddRow(Markup.Escape(key), count.ToString(CultureInfo.InvariantCulture), F((double)count / n, "0.00"),
                Ms(Percentile(sorted, 0.5)), Ms(Percentile(sorted, 0.99)), F(sorted.Sum() / 1000, "0.0"));
        AnsiConsole.Write(table);
        Console.WriteLine($"client-observed p50 / p99: {Ms(full.Percentile(0.5))} / {Ms(full.Percentile(0.99))} ms; pgbench average {(pg.LatencyAvgMs is { } avg ? Ms(avg) : "n/a")} ms");
    }
}
