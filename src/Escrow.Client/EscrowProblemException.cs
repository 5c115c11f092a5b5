using System.Net;
using System.Text.Json;

namespace Escrow.Client;

/// <summary>
/// The silo answered with an error: an RFC 7807 problem (<c>application/problem+json</c>) with a stable
/// <see cref="Code"/> such as <c>insufficient_funds</c>. 4xx answers are business answers and are never
/// retried; 5xx/408/429 answers are thrown only after the retries ran out. Subclasses name the common
/// statuses: <see cref="EscrowBadRequestException"/> (400), <see cref="EscrowUnauthorizedException"/> (401),
/// <see cref="EscrowForbiddenException"/> (403), <see cref="EscrowNotFoundException"/> (404),
/// <see cref="EscrowConflictException"/> (409), <see cref="EscrowIdempotencyKeyReusedException"/> (422).
/// </summary>
public class EscrowProblemException : Exception
{
    /// <summary>Creates the exception from a parsed problem.</summary>
    /// <param name="problem">The problem details; see <see cref="Problem"/>.</param>
    /// <param name="method">HTTP method of the failed request.</param>
    /// <param name="path">Path and query of the failed request.</param>
    /// <param name="idempotencyKey">The Idempotency-Key it was sent with, if any.</param>
    public EscrowProblemException(EscrowProblem problem, string method, string path, string? idempotencyKey)
        : base($"{method} {path} answered {problem.Status}{(problem.Code is null ? "" : " " + problem.Code)}: {problem.Detail ?? problem.Title}")
    {
        Problem = problem;
        Method = method;
        Path = path;
        IdempotencyKey = idempotencyKey;
    }

    /// <summary>The whole problem document.</summary>
    public EscrowProblem Problem { get; }

    /// <summary>HTTP status code (RFC 7807 <c>status</c>).</summary>
    public int Status => Problem.Status;

    /// <summary>The status as an enum value.</summary>
    public HttpStatusCode StatusCode => (HttpStatusCode)Problem.Status;

    /// <summary>RFC 7807 <c>type</c>: a URI naming the problem, e.g. <c>https://escrow.dev/problems/insufficient-funds</c>.</summary>
    public string? Type => Problem.Type;

    /// <summary>RFC 7807 <c>title</c>: short, the same for every problem of a status.</summary>
    public string? Title => Problem.Title;

    /// <summary>RFC 7807 <c>detail</c>: this occurrence in words (names the account, the amounts, the state).</summary>
    public string? Detail => Problem.Detail;

    /// <summary>The silo's stable rejection code (extension member <c>code</c>), e.g. <c>account_not_found</c>; null when the answer was not a problem document (a proxy's 502 page).</summary>
    public string? Code => Problem.Code;

    /// <summary>Every other member of the problem document (extensions), by name.</summary>
    public IReadOnlyDictionary<string, JsonElement> Extensions => Problem.Extensions;

    /// <summary>HTTP method of the failed request.</summary>
    public string Method { get; }

    /// <summary>Path (and query) of the failed request.</summary>
    public string Path { get; }

    /// <summary>The Idempotency-Key the command was sent with: retrying with it later is safe (the silo answers the same again).</summary>
    public string? IdempotencyKey { get; }

    /// <summary>Builds the subclass that fits the status.</summary>
    internal static EscrowProblemException For(EscrowProblem p, string method, string path, string? key) => p.Status switch
    {
        400 => new EscrowBadRequestException(p, method, path, key),
        401 => new EscrowUnauthorizedException(p, method, path, key),
        403 => new EscrowForbiddenException(p, method, path, key),
        404 => new EscrowNotFoundException(p, method, path, key),
        409 => new EscrowConflictException(p, method, path, key),
        422 => new EscrowIdempotencyKeyReusedException(p, method, path, key),
        _ => new EscrowProblemException(p, method, path, key),
    };
}

/// <summary>400: the request is malformed (bad JSON, unknown field, unknown currency, amount ≤ 0 or too precise, bad id or instant). Nothing changed.</summary>
public sealed class EscrowBadRequestException : EscrowProblemException
{
    /// <inheritdoc cref="EscrowProblemException(EscrowProblem, string, string, string?)"/>
    public EscrowBadRequestException(EscrowProblem problem, string method, string path, string? idempotencyKey) : base(problem, method, path, idempotencyKey) { }
}

/// <summary>401: no API key or one the silo does not know (<c>api_key_required</c>, <c>api_key_invalid</c>).</summary>
public sealed class EscrowUnauthorizedException : EscrowProblemException
{
    /// <inheritdoc cref="EscrowProblemException(EscrowProblem, string, string, string?)"/>
    public EscrowUnauthorizedException(EscrowProblem problem, string method, string path, string? idempotencyKey) : base(problem, method, path, idempotencyKey) { }
}

/// <summary>403 <c>forbidden</c>: the key's role may not call the route (an auditor writing, a writer on /institutions or /audit).</summary>
public sealed class EscrowForbiddenException : EscrowProblemException
{
    /// <inheritdoc cref="EscrowProblemException(EscrowProblem, string, string, string?)"/>
    public EscrowForbiddenException(EscrowProblem problem, string method, string path, string? idempotencyKey) : base(problem, method, path, idempotencyKey) { }
}

/// <summary>404: an unknown account, posting, deal, template or institution — or one of another institution (answered identically).</summary>
public sealed class EscrowNotFoundException : EscrowProblemException
{
    /// <inheritdoc cref="EscrowProblemException(EscrowProblem, string, string, string?)"/>
    public EscrowNotFoundException(EscrowProblem problem, string method, string path, string? idempotencyKey) : base(problem, method, path, idempotencyKey) { }
}

/// <summary>409: a business rule refused the command (<c>insufficient_funds</c>, <c>account_frozen</c>, <c>invalid_transition</c>, …) or a lost race (<c>concurrency_conflict</c>). Nothing changed; the refusal is stored under the Idempotency-Key.</summary>
public sealed class EscrowConflictException : EscrowProblemException
{
    /// <inheritdoc cref="EscrowProblemException(EscrowProblem, string, string, string?)"/>
    public EscrowConflictException(EscrowProblem problem, string method, string path, string? idempotencyKey) : base(problem, method, path, idempotencyKey) { }
}

/// <summary>422 <c>idempotency_key_reused</c>: the Idempotency-Key was already used with a different request (method, path or body).</summary>
public sealed class EscrowIdempotencyKeyReusedException : EscrowProblemException
{
    /// <inheritdoc cref="EscrowProblemException(EscrowProblem, string, string, string?)"/>
    public EscrowIdempotencyKeyReusedException(EscrowProblem problem, string method, string path, string? idempotencyKey) : base(problem, method, path, idempotencyKey) { }
}

/// <summary>An RFC 7807 problem document as the silo sends it (or as built from a non-problem error answer).</summary>
/// <param name="Status">HTTP status.</param>
/// <param name="Type">URI naming the problem type.</param>
/// <param name="Title">Short summary.</param>
/// <param name="Detail">This occurrence in words.</param>
/// <param name="Code">Stable rejection code (extension <c>code</c>).</param>
/// <param name="Errors">Per-field errors (extension <c>errors</c>), when given.</param>
/// <param name="Extensions">Every member other than type, title, status, detail, code and errors.</param>
public sealed record EscrowProblem(
    int Status, string? Type, string? Title, string? Detail, string? Code,
    IReadOnlyDictionary<string, string[]>? Errors, IReadOnlyDictionary<string, JsonElement> Extensions)
{
    /// <summary>Parses an error answer's body; a body that is not a JSON object becomes the detail (first 500 characters).</summary>
    /// <param name="status">The HTTP status of the answer.</param>
    /// <param name="reason">The HTTP reason phrase, used as title when the body has none.</param>
    /// <param name="body">The answer's body text.</param>
    public static EscrowProblem Parse(int status, string? reason, string body)
    {
        try
        {
            using var doc = JsonDocument.Parse(body);
            if (doc.RootElement.ValueKind == JsonValueKind.Object)
            {
                string? type = null, title = null, detail = null, code = null;
                var parsedStatus = status;
                Dictionary<string, string[]>? errors = null;
                var ext = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
                foreach (var p in doc.RootElement.EnumerateObject())
                {
                    switch (p.Name)
                    {
                        case "type": type = Text(p.Value); break;
                        case "title": title = Text(p.Value); break;
                        case "detail": detail = Text(p.Value); break;
                        case "code": code = Text(p.Value); break;
                        case "status" when p.Value.ValueKind == JsonValueKind.Number && p.Value.TryGetInt32(out var s): parsedStatus = s; break;
                        case "errors" when p.Value.ValueKind == JsonValueKind.Object:
                            errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
                            foreach (var e in p.Value.EnumerateObject())
                                errors[e.Name] = e.Value.ValueKind == JsonValueKind.Array
                                    ? e.Value.EnumerateArray().Select(x => x.ToString()).ToArray()
                                    : [e.Value.ToString()];
                            break;
                        default: ext[p.Name] = p.Value.Clone(); break;
                    }
                }
                // The HTTP status is the truth; a document claiming another is kept in Extensions.
                if (parsedStatus != status) ext["status"] = JsonSerializer.SerializeToElement(parsedStatus);
                return new EscrowProblem(status, type, title ?? reason, detail, code, errors, ext);
            }
        }
        catch (JsonException)
        {
            // Not JSON (a proxy's HTML error page): fall through.
        }
        var text = body.Length > 500 ? body[..500] : body;
        return new EscrowProblem(status, null, reason, string.IsNullOrWhiteSpace(text) ? null : text, null, null,
            new Dictionary<string, JsonElement>());
    }

    private static string? Text(JsonElement e) => e.ValueKind == JsonValueKind.String ? e.GetString() : e.ValueKind == JsonValueKind.Null ? null : e.ToString();
}
