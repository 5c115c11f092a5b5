using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Spectre.Console;

namespace Escrow.Cli;

internal static partial class BenchCommand
{
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
}
