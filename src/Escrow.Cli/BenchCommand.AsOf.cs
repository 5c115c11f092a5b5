using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;

namespace Escrow.Cli;

internal static partial class BenchCommand
{
    // ---------------------------------------------------------------- balance as of an instant

    /// <summary>One account's as-of latencies: <c>GET /accounts/{id}/balance?at=T</c> from the statement index and by replay.</summary>
    private sealed record AsOfResult(int Events, double[] IndexMs, double[] ReplayMs, bool Agreed);

    /// <summary>Requests per source and account: sequential, on the bench's kept-alive connection.</summary>
    private const int AsOfRequests = 500;

    /// <summary>
    /// Opens an account of <paramref name="events"/> events (the opening and <c>events − 1</c> deposits of 1.00, the first
    /// half before an instant T, the rest after it), waits until the statement has caught up, then asks for its balance as
    /// of T <see cref="AsOfRequests"/> times from the statement index and as many times by replaying the stream, one request
    /// after the other. Every answer must be the balance of the first half (<see cref="AsOfResult.Agreed"/>).
    /// </summary>
    private static async Task<AsOfResult> AsOfAsync(HttpClient http, string ownerConnectionString, string run, int events, int clients, CancellationToken ct)
    {
        var id = $"bench-{run}-asof{events.ToString(CultureInfo.InvariantCulture)}";
        await PostExpectingAsync(http, "accounts", new { accountId = id, owner = "bench", currency = Currency }, $"{id}-open", ct);
        var deposits = events - 1;
        var before = deposits / 2;
        async Task DepositAsync(int from, int to)
        {
            var parallel = new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, Math.Min(clients, 16)), CancellationToken = ct };
            await Parallel.ForEachAsync(Enumerable.Range(from, to - from), parallel, async (i, token) =>
                await PostExpectingAsync(http, $"accounts/{id}/deposits", new { amount = 1m, currency = Currency, reference = "as-of" },
                    $"{id}-dep-{i.ToString(CultureInfo.InvariantCulture)}", token));
        }
        await DepositAsync(0, before);
        await Task.Delay(20, ct);
        var at = TimeProvider.System.GetUtcNow();
        await Task.Delay(20, ct);
        await DepositAsync(before, deposits);
        await MeasureLagAsync(http, ownerConnectionString, ct);   // the statement has every event before the index is asked

        var expected = (decimal)before;
        var agreed = true;
        async Task<double[]> AskAsync(string source)
        {
            var path = $"accounts/{Uri.EscapeDataString(id)}/balance?at={Uri.EscapeDataString(at.ToString("O", CultureInfo.InvariantCulture))}" +
                       (source == "events" ? "&source=events" : "");
            var ms = new double[AsOfRequests];
            for (var i = 0; i < AsOfRequests; i++)
            {
                var start = Stopwatch.GetTimestamp();
                using var response = await http.GetAsync(path, ct);
                var body = await response.Content.ReadAsStringAsync(ct);
                ms[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                if (response.StatusCode != HttpStatusCode.OK || JsonDocument.Parse(body).RootElement.GetProperty("balance").GetDecimal() != expected)
                    agreed = false;
            }
            Array.Sort(ms);
            return ms;
        }
        // A few unmeasured requests first: the JIT and the prepared statements.
        foreach (var extra in new[] { "", "&source=events" })
            for (var i = 0; i < 10; i++)
            {
                using var warm = await http.GetAsync($"accounts/{Uri.EscapeDataString(id)}/balance?at={Uri.EscapeDataString(at.ToString("O", CultureInfo.InvariantCulture))}{extra}", ct);
            }
        var index = await AskAsync("statement");
        var replay = await AskAsync("events");
        return new AsOfResult(events, index, replay, agreed);
    }
}
