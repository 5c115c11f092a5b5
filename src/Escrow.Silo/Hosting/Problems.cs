using System.Text.Json;
using System.Text.Json.Serialization;

namespace Escrow.Silo.Hosting;

/// <summary>RFC 7807 problem details with a stable <c>code</c> extension member.</summary>
public sealed record Problem(
    [property: JsonPropertyName("type")] string Type,
    [property: JsonPropertyName("title")] string Title,
    [property: JsonPropertyName("status")] int Status,
    [property: JsonPropertyName("detail")] string Detail,
    [property: JsonPropertyName("code")] string Code)
{
    [JsonPropertyName("errors")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyDictionary<string, string[]>? Errors { get; init; }
}

public static class Problems
{
    public const string ContentType = "application/problem+json";
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static Problem Create(int status, string code, string detail) => new(
        $"https://escrow.dev/problems/{code.Replace('_', '-')}",
        status switch
        {
            400 => "The request is malformed",
            401 => "Authentication required",
            403 => "Forbidden",
            404 => "Not found",
            409 => "The command conflicts with the current state",
            422 => "Idempotency key reused with a different request",
            _ => "Request failed",
        },
        status, detail, code);

    /// <summary>HTTP status of a domain rejection: unknown things are 404, everything else a 409 conflict with the current state.</summary>
    public static int StatusFor(string rejectionCode) => rejectionCode switch
    {
        "account_not_found" or "posting_not_found" or "deal_not_found" or "template_not_found" or "unknown_uetr" => 404,
        _ => 409,
    };

    public static string Serialize(Problem p) => JsonSerializer.Serialize(p, Json);

    public static CommandOutcome Outcome(int status, string code, string detail) =>
        new(status, Serialize(Create(status, code, detail)), RejectionCode: code);
}
