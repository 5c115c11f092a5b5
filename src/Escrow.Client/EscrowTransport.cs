using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Escrow.Client;

/// <summary>A body sent as it is (an ISO 20022 XML message), not serialized as JSON.</summary>
internal sealed record RawBody(byte[] Bytes, string ContentType);

/// <summary>How a request may be repeated after a failure that left its outcome unknown.</summary>
internal enum Repeat
{
    /// <summary>A read, or a command carrying an Idempotency-Key: the silo answers a repeat with the first answer and appends nothing.</summary>
    Safe,
    /// <summary>A write the silo does not deduplicate (institutions, keys, templates): repeated only when it certainly did not reach the silo.</summary>
    OnlyIfUnsent,
}

/// <summary>
/// Sends one logical call: builds a fresh request per attempt from the same bytes and the same
/// Idempotency-Key, retries transient failures with bounded exponential backoff, turns error answers into
/// <see cref="EscrowProblemException"/>s.
/// </summary>
internal sealed class EscrowTransport
{
    internal const string IdempotencyHeader = "Idempotency-Key";
    internal const string TenantHeader = "X-Escrow-Tenant";

    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    private static readonly string UserAgent = "Escrow.Client/" + (typeof(EscrowTransport).Assembly.GetName().Version?.ToString(3) ?? "0");

    private readonly HttpClient _http;
    private readonly EscrowClientOptions _options;
    private readonly Uri? _base;

    public EscrowTransport(HttpClient http, EscrowClientOptions options)
    {
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(options);
        if (options.MaxRetries < 0) throw new ArgumentOutOfRangeException(nameof(options), "MaxRetries must be ≥ 0");
        _http = http;
        _options = options;
        var b = options.BaseAddress ?? http.BaseAddress
            ?? throw new ArgumentException("EscrowClientOptions.BaseAddress is required (or an HttpClient with a BaseAddress)", nameof(options));
        // Relative paths resolve under the base only when it ends with '/': http://host/escrow + accounts would drop 'escrow'.
        _base = b.AbsoluteUri.EndsWith('/') ? b : new Uri(b.AbsoluteUri + "/");
    }

    public async Task<T> GetAsync<T>(string path, CancellationToken ct) =>
        await SendAsync<T>(HttpMethod.Get, path, null, null, Repeat.Safe, ct).ConfigureAwait(false);

    /// <summary>A command: the caller's key, or a new GUID for this logical call, sent with every attempt.</summary>
    public Task<T> CommandAsync<T>(string path, object body, string? idempotencyKey, CancellationToken ct)
    {
        if (idempotencyKey is not null && (idempotencyKey.Length is 0 or > 200 || string.IsNullOrWhiteSpace(idempotencyKey)))
            throw new ArgumentException("an Idempotency-Key is 1-200 characters", nameof(idempotencyKey));
        return SendAsync<T>(HttpMethod.Post, path, body, idempotencyKey ?? Guid.NewGuid().ToString(), Repeat.Safe, ct);
    }

    /// <summary>A write the silo does not deduplicate: repeated only when it never reached the silo.</summary>
    public Task<T> UnkeyedPostAsync<T>(string path, object body, CancellationToken ct) =>
        SendAsync<T>(HttpMethod.Post, path, body, null, Repeat.OnlyIfUnsent, ct);

    public async Task<T> SendAsync<T>(HttpMethod method, string path, object? body, string? idempotencyKey, Repeat repeat, CancellationToken ct,
        string accept = "application/json", Func<HttpResponseMessage, string, T>? readText = null)
    {
        var (bytes, contentType) = body switch
        {
            null => (null, "application/json"),
            RawBody raw => (raw.Bytes, raw.ContentType),
            _ => (JsonSerializer.SerializeToUtf8Bytes(body, body.GetType(), Json), "application/json"),
        };
        var uri = new Uri(_base!, path);
        for (var attempt = 0; ; attempt++)
        {
            ct.ThrowIfCancellationRequested();
            using var request = new HttpRequestMessage(method, uri);
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(accept));
            request.Headers.UserAgent.ParseAdd(UserAgent);
            if (_options.ApiKey is { Length: > 0 } key) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
            if (_options.Tenant is { Length: > 0 } tenant) request.Headers.Add(TenantHeader, tenant);
            if (idempotencyKey is not null) request.Headers.Add(IdempotencyHeader, idempotencyKey);
            if (bytes is not null)
            {
                request.Content = new ByteArrayContent(bytes);
                request.Content.Headers.ContentType = new MediaTypeHeaderValue(contentType) { CharSet = "utf-8" };
            }

            using var attemptCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
            if (_options.AttemptTimeout != Timeout.InfiniteTimeSpan) attemptCts.CancelAfter(_options.AttemptTimeout);
            HttpResponseMessage response;
            try
            {
                response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, attemptCts.Token).ConfigureAwait(false);
            }
            catch (HttpRequestException ex) when (attempt < _options.MaxRetries && (repeat == Repeat.Safe || NeverSent(ex)))
            {
                // The connection failed or the answer was lost: with an Idempotency-Key (or a read) the repeat is safe.
                await Task.Delay(Backoff(attempt), ct).ConfigureAwait(false);
                continue;
            }
            catch (OperationCanceledException ex) when (!ct.IsCancellationRequested)
            {
                // The attempt timed out (ours or HttpClient.Timeout), not the caller's cancellation.
                if (attempt < _options.MaxRetries && repeat == Repeat.Safe)
                {
                    await Task.Delay(Backoff(attempt), ct).ConfigureAwait(false);
                    continue;
                }
                throw new TimeoutException($"{method} {path} did not answer within {_options.AttemptTimeout}" +
                    (idempotencyKey is null ? "" : $"; repeating it with Idempotency-Key '{idempotencyKey}' is safe"), ex);
            }

            using (response)
            {
                var status = (int)response.StatusCode;
                if (response.IsSuccessStatusCode)
                {
                    if (readText is not null)
                        return readText(response, await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false));
                    var stream = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
                    await using (stream.ConfigureAwait(false))
                        return await JsonSerializer.DeserializeAsync<T>(stream, Json, ct).ConfigureAwait(false)
                            ?? throw new JsonException($"{method} {path} answered {status} with an empty body");
                }

                var text = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
                if (attempt < _options.MaxRetries && IsTransient(response.StatusCode) && (repeat == Repeat.Safe || response.StatusCode == HttpStatusCode.TooManyRequests))
                {
                    var wait = RetryAfter(response) is { } ra ? ra : Backoff(attempt);
                    if (wait <= _options.MaxRetryAfter)
                    {
                        await Task.Delay(wait, ct).ConfigureAwait(false);
                        continue;
                    }
                }
                throw EscrowProblemException.For(EscrowProblem.Parse(status, response.ReasonPhrase, text), method.Method, "/" + path, idempotencyKey);
            }
        }
    }

    /// <summary>Statuses that say "not now", never "no": a timeout, rate limit, or an unavailable or failing upstream.</summary>
    internal static bool IsTransient(HttpStatusCode status) => status is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests
        or HttpStatusCode.BadGateway or HttpStatusCode.ServiceUnavailable or HttpStatusCode.GatewayTimeout;

    /// <summary>The connection could not be made, so the silo never saw the request.</summary>
    private static bool NeverSent(HttpRequestException ex) => ex.HttpRequestError is HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError;

    /// <summary>Exponential backoff with jitter: between half and all of min(max, initial × 2^attempt).</summary>
    private TimeSpan Backoff(int attempt)
    {
        var ceiling = Math.Min(_options.MaxBackoff.TotalMilliseconds, _options.InitialBackoff.TotalMilliseconds * Math.Pow(2, Math.Min(attempt, 30)));
        return TimeSpan.FromMilliseconds(ceiling * (0.5 + Random.Shared.NextDouble() / 2));
    }

    private TimeSpan? RetryAfter(HttpResponseMessage response)
    {
        var ra = response.Headers.RetryAfter;
        if (ra?.Delta is { } d) return d < TimeSpan.Zero ? TimeSpan.Zero : d;
        if (ra?.Date is { } at)
        {
            var wait = at - _options.TimeProvider.GetUtcNow();
            return wait < TimeSpan.Zero ? TimeSpan.Zero : wait;
        }
        return null;
    }

    /// <summary>A query string of the given pairs; null values are left out, instants written as ISO 8601 UTC.</summary>
    internal static string Query(params (string Name, object? Value)[] pairs)
    {
        var sb = new StringBuilder();
        foreach (var (name, value) in pairs)
        {
            var text = value switch
            {
                null => null,
                DateTimeOffset t => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'", CultureInfo.InvariantCulture),
                IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
                _ => value.ToString(),
            };
            if (string.IsNullOrEmpty(text)) continue;
            sb.Append(sb.Length == 0 ? '?' : '&').Append(Uri.EscapeDataString(name)).Append('=').Append(Uri.EscapeDataString(text));
        }
        return sb.ToString();
    }

    /// <summary>One path segment, escaped.</summary>
    internal static string Seg(string value, string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(value, name);
        return Uri.EscapeDataString(value);
    }
}
