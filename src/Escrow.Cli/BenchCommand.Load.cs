using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Spectre.Console;

namespace Escrow.Cli;

internal static partial class BenchCommand
{
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
}
