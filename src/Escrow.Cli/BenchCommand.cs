using System.Diagnostics;
using System.CommandLine;
using System.Globalization;
using System.Text.Json;
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
    private const double RatioTarget = 0.5, HalfLoadP99TargetMs = 25, LagTargetMs = 100, AsOfP99TargetMs = 5, SiloCpuTargetMs = 0.5;
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static void Add(RootCommand root)
    {
        var clients = new Option<int>("--clients") { Description = "Concurrent HTTP clients (closed loop)", DefaultValueFactory = _ => 16 };
        var seconds = new Option<int>("--seconds") { Description = "Seconds of full load (half load runs for half as long)", DefaultValueFactory = _ => 20 };
        var accounts = new Option<int>("--accounts") { Description = "Customer accounts to open and fund before the load", DefaultValueFactory = _ => 1000 };
        var url = new Option<string?>("--url") { Description = "Base address of a running silo (default: start one in-process on a free port)" };
        var siloProcess = new Option<bool>("--silo-process")
        {
            Description = "Start the silo as its own process (escrow serve, this build) instead of in-process, so that the CPU per transfer of " +
                          "the silo and PostgreSQL is measured without the load generator's",
        };
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
        var peer = new Option<string>("--peer")
        {
            Description = "A peer run of the same workload in the same run: 'marten' (Marten 9.58 behind a minimal API, on its own database " +
                          "on the same server) or 'none'",
            DefaultValueFactory = _ => "marten",
        };
        peer.AcceptOnlyFromAmong("marten", "none");
        var warmUpOption = new Option<int?>("--warm-up")
        {
            Description = "Seconds of unmeasured load before each measured one (default: a quarter of --seconds, 1 to 10). The JIT's tiered " +
                          "compilation with dynamic PGO goes on for tens of seconds: 30 measures the steady state",
        };
        var asOf = new Option<string>("--as-of-events")
        {
            Description = "Sizes (events) of the accounts whose balance as of an instant is asked 500 times from the statement index and 500 " +
                          "times by replay, comma-separated ('none' to skip); up to 20,000 events the account is built through the API (its deposits " +
                          "go one grain call at a time), above that in bulk straight into the event log (1,000,000: about N s and the projections' catch-up)",
            DefaultValueFactory = _ => "10,10000",
        };
        var bench = new Command("bench", "Benchmark transfers through the HTTP API against pgbench and Marten on the same server; prints a table.")
        {
            clients, seconds, accounts, url, siloProcess, profile, sweep, peer, asOf, warmUpOption,
        };
        bench.SetAction(async (pr, ct) =>
        {
            var settings = new Settings(pr.GetValue(clients), pr.GetValue(seconds), pr.GetValue(accounts), pr.GetValue(url), pr.GetValue(profile),
                ParseSweep(pr.GetValue(sweep)), pr.GetValue(peer) == "marten", ParseAsOf(pr.GetValue(asOf)), pr.GetValue(warmUpOption), pr.GetValue(siloProcess));
            return await RunAsync(settings, ct);
        });
        bench.Subcommands.Add(PartitionsCommand());
        root.Subcommands.Add(bench);
    }

    private sealed record Settings(int Clients, int Seconds, int Accounts, string? Url, bool Profile, int[] Sweep, bool Marten, int[] AsOfEvents, int? WarmUpSeconds, bool SiloProcess);

    private static int[] ParseAsOf(string? text)
    {
        if (string.IsNullOrWhiteSpace(text) || text == "none") return [];
        var sizes = new List<int>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n is < 3 or > 10_000_000)
                throw new CliException($"--as-of-events takes account sizes from 3 to 10,000,000 events separated by commas, or 'none'; got '{part}'");
            sizes.Add(n);
        }
        return [.. sizes];
    }

    /// <summary>The Marten peer's full load and its balances projection at the end of it.</summary>
    private sealed record PeerResult(string Name, Phase Full, long BehindAtStop, double? CatchUpMs, string Database);

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

    /// <summary>The CPU time a child process has used so far (zero without one).</summary>
    private static TimeSpan ProcessCpu(Process? process)
    {
        if (process is null) return TimeSpan.Zero;
        process.Refresh();
        return process.TotalProcessorTime;
    }

    private static async Task<int> RunAsync(Settings s, CancellationToken ct)
    {
        if (s.Clients < 1) throw new CliException("--clients must be at least 1");
        if (s.Seconds < 2) throw new CliException("--seconds must be at least 2");
        if (s.Accounts < 2) throw new CliException("--accounts must be at least 2 (transfers need two distinct accounts)");
        if (s.WarmUpSeconds is < 0 or > 600) throw new CliException("--warm-up must be between 0 and 600 seconds");
        if (s.Profile && (s.Url is not null || s.SiloProcess)) throw new CliException("--profile needs the in-process silo (leave out --url and --silo-process)");
        if (s.SiloProcess && s.Url is not null) throw new CliException("--silo-process starts a silo of its own: leave out --url");
        var cfg = CliConfig.FromEnvironment();
        var owner = new NpgsqlConnectionStringBuilder(cfg.Owner);
        var pgbench = FindPgbench() ?? throw new CliException("pgbench not found under /usr/lib/postgresql/*/bin or on PATH");

        var run = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray().AsSpan(0, 4));
        var loadAtStart = ReadLoadAverage();
        var server = await ServerInfoAsync(cfg.Owner, ct);
        Info($"bench run {run}: {s.Clients} clients, {s.Seconds} s full load, {s.Seconds / 2.0:0.#} s half load, {s.Accounts} accounts; " +
             $"{Environment.ProcessorCount} cores, load average {loadAtStart}");

        await using var cli = await CliSilo.StartAsync(s.Url, Info, ct, s.SiloProcess);
        var silo = cli.InProcessSilo;
        var rootKey = cli.RootKey;
        {
            var http = cli.Http;
            http.DefaultRequestHeaders.Authorization = new("Bearer", await WriterKeyAsync(http, rootKey, run, ct));

            var ids = await SetUpAccountsAsync(http, run, s, ct);

            // Long enough for the JIT to finish tiering up the hot paths: with 2 s, a 20 s run still spent 14% of the
            // machine's CPU in the JIT's background compiler during its first half (perf, 2 cores).
            // (perf at 64 clients, 5 s of warm-up: the tiered JIT still took about a sixth of the machine during the 20 s that
            // followed; a 60 s run after 10 s measured 2,678 against about 1,950 transfers/s, docs/benchmarks.md.)
            var warmUp = TimeSpan.FromSeconds(s.WarmUpSeconds ?? Math.Clamp(s.Seconds / 4.0, 1, 10));
            Info($"warming up for {warmUp.TotalSeconds:0.#} s (not measured)");
            await ClosedLoopAsync(http, ids, run + "w", s.Clients, warmUp, ct);

            var stats0 = await PgStatsAsync(cfg.Owner, ct);
            var groupCommit = silo?.Services.GetService<Escrow.EventStore.PgEventStore>();
            var (fullBatches0, fullAppends0) = (groupCommit?.AppendBatches ?? 0, groupCommit?.AppendsBatched ?? 0);
            var pgCpu0 = PostgresCpuSeconds();
            var siloCpu0 = ProcessCpu(cli.SiloProcess);
            using var profiler = s.Profile ? new Profiler() : null;
            Info($"full load: {s.Clients} clients in a closed loop for {s.Seconds} s");
            var full = await ClosedLoopAsync(http, ids, run + "f", s.Clients, TimeSpan.FromSeconds(s.Seconds), ct);
            profiler?.Stop();
            var pgCores = (PostgresCpuSeconds() - pgCpu0) / full.Elapsed.TotalSeconds;
            double? siloCores = cli.SiloProcess is null ? null : (ProcessCpu(cli.SiloProcess) - siloCpu0).TotalSeconds / full.Elapsed.TotalSeconds;
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

            PeerResult? marten = null;
            if (s.Marten)
            {
                Info($"marten: starting the peer (Marten 9.58, quick append, lightweight sessions, async balances projection) on database {owner.Database}_marten_{run}");
                await using var peer = await MartenPeer.StartAsync(owner, run, ct);
                var peerIds = await SetUpAccountsAsync(peer.Http, run, s, ct);
                Info($"marten: warming up for {warmUp.TotalSeconds:0.#} s (not measured)");
                await ClosedLoopAsync(peer.Http, peerIds, run + "mw", s.Clients, warmUp, ct);
                Info($"marten: full load, {s.Clients} clients in a closed loop for {s.Seconds} s");
                var peerFull = await ClosedLoopAsync(peer.Http, peerIds, run + "mf", s.Clients, TimeSpan.FromSeconds(s.Seconds), ct);
                var (behind, catchUp) = await peer.LagAsync(ct);
                marten = new PeerResult("Marten", peerFull, behind, catchUp, peer.Database);
                Info($"marten: {peerFull.CreatedPerSecond:0.0} transfers/s; balances projection {behind} events behind at stop, " +
                     (catchUp is { } c ? $"caught up after {c:0} ms" : "not caught up in 60 s"));
            }

            // Last: a million-event account's bulk build leaves WAL and checkpoints behind that would weigh on pgbench and the peer.
            var asOfResults = new List<AsOfResult>();
            foreach (var n in s.AsOfEvents)
            {
                Info($"balance as of an instant: building an account of {n} events, then {AsOfRequests} requests from the statement index and {AsOfRequests} by replay");
                var r = await AsOfAsync(http, cfg, run, n, s.Clients, ct);
                asOfResults.Add(r);
                Info($"balance as of an instant, {n} events: index p50/p99 {Ms(Percentile(r.IndexMs, 0.5))}/{Ms(Percentile(r.IndexMs, 0.99))} ms, " +
                     $"replay {Ms(Percentile(r.ReplayMs, 0.5))}/{Ms(Percentile(r.ReplayMs, 0.99))} ms{(r.Agreed ? "" : "; SOME ANSWERS WERE WRONG")}");
            }

            Report(s, server, $"{loadAtStart} at start, {ReadLoadAverage()} at end", full, half, transfersPerSecond, lagFull, lagHalf, pg, marten, asOfResults,
                siloCores is { } sc ? (sc, pgCores) : null);
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
            if (asOfResults.All(a => a.Agreed)) return 0;
            Console.Error.WriteLine("balance as of T: some answers were wrong (see the table)");
            return 1;
        }
    }
}
