using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using Escrow.Domain;
using Escrow.EventStore;
using Escrow.Silo.Hosting;
using Escrow.Silo.Tenancy;

namespace Escrow.Silo.Http;

/// <summary>Body of <c>POST /accounts</c>. <c>currency</c>: ISO 4217 code; <c>kind</c>: customer | internal | external; <c>overdraftLimit</c>: major units, ≥ 0.</summary>
public sealed record OpenAccountRequest(string? AccountId, string? Owner, string? Currency, string? Kind, decimal? OverdraftLimit, string? Subject = null);

/// <summary>Body of deposit and withdrawal: <c>amount</c> in major units (JSON number or string), positive, at most the currency's minor-unit decimals.</summary>
public sealed record MoneyRequest(decimal? Amount, string? Currency, string? Reference, string? Counterparty);

/// <summary>Body of <c>POST /transfers</c>.</summary>
public sealed record TransferRequest(string? From, string? To, decimal? Amount, string? Currency, string? Reference);

/// <summary>Optional body of freeze, unfreeze and reversal.</summary>
public sealed record ReasonRequest(string? Reason);

/// <summary>A malformed request: becomes a problem with <see cref="Status"/> (400 unless said otherwise, 413 for a body too large) and changes nothing.</summary>
public sealed class BadRequestException(string code, string detail, int status = StatusCodes.Status400BadRequest) : Exception(detail)
{
    public string Code { get; } = code;

    /// <summary>The 4xx status of the answer.</summary>
    public int Status { get; } = status;
}

/// <summary>Reads and checks mutating requests: JSON body, Idempotency-Key, request hash.</summary>
public static partial class CommandRequests
{
    public const string IdempotencyHeader = "Idempotency-Key";
    public const string CorrelationHeader = "X-Correlation-Id";
    public const string DefaultTenant = "default";

    /// <summary>How deep a request's JSON may nest: every body of the API is flat (a few levels at most).</summary>
    public const int MaxJsonDepth = 8;

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        MaxDepth = MaxJsonDepth,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        NumberHandling = JsonNumberHandling.AllowReadingFromString,
    };

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    private static partial Regex AccountIdPattern();

    /// <summary>Whether <paramref name="value"/> has the form of an account id of this ledger (it may still not exist).</summary>
    public static bool IsAccountId(string? value) => value is not null && AccountIdPattern().IsMatch(value);

    /// <summary>Account ids: 1-64 characters of letters, digits, '.', '_' and '-', starting with a letter or digit.</summary>
    public static string AccountId(string? value, string field = "accountId")
    {
        if (string.IsNullOrEmpty(value))
            throw new BadRequestException("missing_field", $"'{field}' is required");
        if (!AccountIdPattern().IsMatch(value))
            throw new BadRequestException("invalid_account_id",
                $"'{field}' must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit");
        return value;
    }

    public static Currency Currency(string? code)
    {
        if (string.IsNullOrEmpty(code))
            throw new BadRequestException("missing_field", "'currency' is required");
        return Domain.Currency.TryParse(code, out var c)
            ? c.Value
            : throw new BadRequestException("unknown_currency", $"'{code}' is not an ISO 4217 currency code");
    }

    public static decimal Amount(decimal? amount, Currency currency)
    {
        if (amount is null)
            throw new BadRequestException("missing_field", "'amount' is required");
        if (Money.ValidatePositive(amount.Value, currency) is { } r)
            throw new BadRequestException(r.Code, r.Message);
        return amount.Value;
    }

    /// <summary>
    /// Reads the body (optional when <paramref name="optional"/>), the Idempotency-Key and builds the command
    /// context from the authenticated caller: its key id is the actor, its institution the tenant (root: the
    /// <c>X-Escrow-Tenant</c> header, default <c>default</c>, and not tenant-scoped). With <paramref name="keyRequired"/> false a
    /// request without the header gets a context without a key (400 <c>idempotency_key_required</c> otherwise).
    /// </summary>
    public static async Task<(T Body, CommandContext Context)> ReadAsync<T>(HttpRequest request, bool optional, CancellationToken ct, bool keyRequired = true) where T : class
    {
        var key = request.Headers[IdempotencyHeader].ToString();
        if (string.IsNullOrWhiteSpace(key) && !keyRequired)
        {
            var (b, d) = await ReadBodyAsync<T>(request, optional, ct).ConfigureAwait(false);
            var who = request.HttpContext.GetCaller();
            var corr = Guid.TryParse(request.Headers[CorrelationHeader].ToString(), out var cc) ? cc : Guid.CreateVersion7();
            return (b, new CommandContext(who.ActingTenant(request), who.KeyId, null, d, corr, TenantScoped: !who.IsRoot));
        }
        if (string.IsNullOrWhiteSpace(key))
            throw new BadRequestException("idempotency_key_required",
                $"every mutating request needs an '{IdempotencyHeader}' header (1-200 characters), so a retry never applies twice");
        if (key.Length > 200)
            throw new BadRequestException("idempotency_key_too_long", $"'{IdempotencyHeader}' is longer than 200 characters");
        if (key.StartsWith("timer:", StringComparison.Ordinal))
            throw new BadRequestException("reserved_idempotency_key", $"'{IdempotencyHeader}' values starting with 'timer:' are reserved for the deals' expiry reminders");
        var caller = request.HttpContext.GetCaller();
        var tenant = caller.ActingTenant(request);

        var (body, digest) = await ReadBodyAsync<T>(request, optional, ct).ConfigureAwait(false);
        var correlation = Guid.TryParse(request.Headers[CorrelationHeader].ToString(), out var c) ? c : Guid.CreateVersion7();
        var context = new CommandContext(tenant, caller.KeyId, key, digest, correlation, TenantScoped: !caller.IsRoot);
        return (body, context);
    }

    /// <summary>
    /// Reads a strict JSON body (unknown fields refused) and the SHA-256 of the canonical request (method,
    /// path, canonical JSON), which it also leaves on the request for the audit of a refusal.
    /// </summary>
    public static async Task<(T Body, byte[] Digest)> ReadBodyAsync<T>(HttpRequest request, bool optional, CancellationToken ct) where T : class
    {
        var bytes = await BoundedBody.ReadAsync(request, BoundedBody.MaxJsonBytes, ct).ConfigureAwait(false);
        var raw = Encoding.UTF8.GetString(bytes);
        // Until the body parses, the digest covers the raw bytes (a refusal's audit record still names what was sent).
        request.HttpContext.Items[RefusalAudit.PayloadItem] = TenancyEndpoints.RequestDigest(request.Method, request.Path, bytes);
        T? body;
        byte[] canonical;
        if (string.IsNullOrWhiteSpace(raw))
        {
            if (!optional) throw new BadRequestException("missing_body", "a JSON body is required");
            body = JsonSerializer.Deserialize<T>("{}", Json);
            canonical = "{}"u8.ToArray();
        }
        else
        {
            try
            {
                body = JsonSerializer.Deserialize<T>(raw, Json);
                canonical = HashChain.Canonical(raw);
            }
            catch (JsonException ex)
            {
                throw new BadRequestException("malformed_json", $"the body is not valid JSON for this request: {ex.Message}");
            }
            if (body is null) throw new BadRequestException("malformed_json", "the body must be a JSON object");
        }
        var digest = TenancyEndpoints.RequestDigest(request.Method, request.Path, canonical);
        request.HttpContext.Items[RefusalAudit.PayloadItem] = digest;
        return (body!, digest);
    }
}
