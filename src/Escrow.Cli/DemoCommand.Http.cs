using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Escrow.Cli;

internal static partial class DemoCommand
{
    // ---------------------------------------------------------------- HTTP

    private sealed class Api(HttpClient http)
    {
        private long _calls;
        private readonly ConcurrentDictionary<string, ConcurrentQueue<double>> _ms = new(StringComparer.Ordinal);
        private readonly ConcurrentQueue<(double Ms, string What)> _slow = new();
        public readonly ConcurrentQueue<string> Unexpected = new();
        public long Calls => Interlocked.Read(ref _calls);
        public IReadOnlyDictionary<string, ConcurrentQueue<double>> Latencies => _ms;
        public IEnumerable<(double Ms, string What)> Slow => _slow;

        public async Task<(int Status, string Body)> SendAsync(HttpMethod method, string path, string key, object? body, string? idempotencyKey, string op,
            CancellationToken ct)
        {
            using var request = new HttpRequestMessage(method, path);
            request.Headers.Authorization = new("Bearer", key);
            if (body is not null) request.Content = new StringContent(JsonSerializer.Serialize(body, Json), Encoding.UTF8, "application/json");
            if (idempotencyKey is not null) request.Headers.Add("Idempotency-Key", idempotencyKey);
            Interlocked.Increment(ref _calls);
            var start = Stopwatch.GetTimestamp();
            int status;
            string text;
            try
            {
                using var response = await http.SendAsync(request, ct);
                text = await response.Content.ReadAsStringAsync(ct);
                status = (int)response.StatusCode;
            }
            catch (HttpRequestException ex) { status = 0; text = $"transport error: {ex.Message}"; }
            catch (TaskCanceledException ex) when (!ct.IsCancellationRequested) { status = 0; text = $"timed out: {ex.Message}"; }
            var ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            _ms.GetOrAdd(op, _ => new ConcurrentQueue<double>()).Enqueue(ms);
            if (ms >= 500) _slow.Enqueue((ms, $"{method} /{path}"));
            return (status, text);
        }

        /// <summary>Sends and checks the status (and, for deal answers, the deal's status); anything else is recorded as unexpected.</summary>
        public async Task<JsonElement?> ExpectAsync(HttpMethod method, string path, string key, object? body, string? idempotencyKey, string op,
            int expectStatus, string? expectDealState, CancellationToken ct)
        {
            var (status, text) = await SendAsync(method, path, key, body, idempotencyKey, op, ct);
            if (status != expectStatus)
            {
                Unexpected.Enqueue($"{method} /{path} answered {status.ToString(CultureInfo.InvariantCulture)}, expected {expectStatus.ToString(CultureInfo.InvariantCulture)}: {text}");
                return null;
            }
            JsonElement json;
            try { json = JsonDocument.Parse(text).RootElement.Clone(); }
            catch (JsonException) { Unexpected.Enqueue($"{method} /{path} answered {status.ToString(CultureInfo.InvariantCulture)} with a body that is not JSON: {text}"); return null; }
            if (expectDealState is not null && (json.ValueKind != JsonValueKind.Object || !json.TryGetProperty("status", out var s) || s.GetString() != expectDealState))
            {
                Unexpected.Enqueue($"{method} /{path} answered {status.ToString(CultureInfo.InvariantCulture)} but the deal is not {expectDealState}: {text}");
                return null;
            }
            return json;
        }
    }
}
