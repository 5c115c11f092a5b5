using System.Globalization;
using System.Text;
using Spectre.Console;

namespace Escrow.Cli;

internal static partial class BenchCommand
{
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

    private static void Report(Settings s, ServerInfo server, string load, Phase full, Phase half, double halfRate, Lag lagFull, Lag lagHalf, PgbenchResult pg,
        PeerResult? peer, IReadOnlyList<AsOfResult> asOf, (double Silo, double Postgres)? ownProcessCores = null)
    {
        var ratio = pg.Tps > 0 ? full.CreatedPerSecond / pg.Tps : double.NaN;
        var halfP99 = half.Percentile(0.99);
        var lagWorst = Math.Max(lagFull.LagMsAtStop, lagFull.CatchUpMs ?? double.PositiveInfinity);
        var rows = new List<(string Metric, string Value, string Target, bool? Met)>
        {
            ("machine", $"{Environment.ProcessorCount} cores, {MemoryTotal()} RAM, load avg {load}; PostgreSQL {server.Version} " +
                        $"(fsync={server.Fsync}, synchronous_commit={server.SynchronousCommit}, wal_sync_method={server.WalSyncMethod})", "", null),
            ("silo", s.Url is not null ? s.Url : s.SiloProcess ? "its own process, escrow serve (same machine as the clients' process and PostgreSQL)"
                : "in-process (same machine as clients and PostgreSQL)", "", null),
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
        if (ownProcessCores is { } cores)
        {
            var perTransfer = (cores.Silo + cores.Postgres) * 1000 / Math.Max(1, full.CreatedPerSecond);
            rows.Add(("CPU per transfer, full load: silo process + PostgreSQL (load generator excluded)",
                $"{F(perTransfer, "0.000")} ms ({F(cores.Silo * 1000 / Math.Max(1, full.CreatedPerSecond), "0.000")} + " +
                $"{F(cores.Postgres * 1000 / Math.Max(1, full.CreatedPerSecond), "0.000")}; load generator {F(full.ProcessCores * 1000 / Math.Max(1, full.CreatedPerSecond), "0.000")} ms)",
                $"< {F(SiloCpuTargetMs, "0.0")} ms at 64 clients", s.Clients == 64 ? perTransfer < SiloCpuTargetMs : null));
        }
        foreach (var a in asOf)
        {
            rows.Add(($"account of {a.Events:N0} events: built", a.Built, "", null));
            var replay = a.FromSnapshot is { } v ? $"replay from the kept snapshot at v{v:N0}" : "replay from the first event";
            foreach (var (source, ms) in new[] { ("statement index", a.IndexMs), (replay, a.ReplayMs) })
            {
                var p99 = Percentile(ms, 0.99);
                rows.Add(($"balance as of T, {a.Events:N0}-event account, {source}: p50 / p99 (ms)",
                    $"{Ms(Percentile(ms, 0.5))} / {Ms(p99)} ({ms.Length} requests one after another{(a.Agreed ? ", every answer right" : ", SOME ANSWERS WRONG")})",
                    "p99 < 5 ms", p99 < AsOfP99TargetMs && a.Agreed));
            }
        }
        if (peer is not null)
        {
            // The lead the issue asks for: 4× Marten's transfers/s at 16 clients, 8× at 64 (none set for other counts), and a
            // full-load p99 below Marten's.
            double? leadTarget = s.Clients switch { 16 => 4, 64 => 8, _ => null };
            var lead = peer.Full.CreatedPerSecond > 0 ? full.CreatedPerSecond / peer.Full.CreatedPerSecond : double.NaN;
            var ourP99 = full.Percentile(0.99);
            var theirP99 = peer.Full.Percentile(0.99);
            rows.Add(($"{peer.Name}: transfers/s (full load, same clients)", $"{F(peer.Full.CreatedPerSecond)} ({peer.Full.Created} × 201, {peer.Full.Refused} × 409, " +
                                                                              $"{peer.Full.Other} other{peer.Full.CodeSummary}); database {peer.Database}", "", null));
            rows.Add(($"ratio ours ÷ {peer.Name} (transfers/s)", F(lead, "0.00"), leadTarget is { } t ? $"≥ {F(t, "0")}" : "", leadTarget is { } u ? lead >= u : null));
            rows.Add(($"{peer.Name}: latency p50 / p95 / p99, full load (ms)", peer.Full.Triple, $"ours p99 ({Ms(ourP99)}) below", ourP99 < theirP99));
            rows.Add(($"{peer.Name}: balances projection at end of full load", $"{peer.BehindAtStop} events behind; " +
                                                                               (peer.CatchUpMs is { } mc ? $"0 behind after {Ms(mc)} ms" : "did not catch up in 60 s"), "", null));
            rows.Add(($"{peer.Name}: process CPU per transfer (full load, clients included)",
                $"{F(peer.Full.ProcessCores * 1000 / Math.Max(1, peer.Full.CreatedPerSecond), "0.000")} ms (ours " +
                (ownProcessCores is { } own
                    ? $"{F(own.Silo * 1000 / Math.Max(1, full.CreatedPerSecond), "0.000")} ms in the silo process + {F(full.ProcessCores * 1000 / Math.Max(1, full.CreatedPerSecond), "0.000")} ms in the clients' process)"
                    : $"{F(full.ProcessCores * 1000 / Math.Max(1, full.CreatedPerSecond), "0.000")} ms)"), "", null));
        }

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
