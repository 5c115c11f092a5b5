using System.Diagnostics;
using System.Text.Json;
using Npgsql;
using Spectre.Console;

namespace Escrow.Cli;

internal static partial class BenchCommand
{
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
}
