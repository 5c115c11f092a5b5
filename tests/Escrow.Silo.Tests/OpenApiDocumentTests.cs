using System.Text.Json;
using System.Text.RegularExpressions;
using Escrow.Silo.Http;
using Escrow.Silo.Tenancy;
using Escrow.Testing;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Escrow.Silo.Tests;

/// <summary>
/// The served OpenAPI document (<c>/openapi/v1.json</c>) is complete: every endpoint the silo maps — found
/// generically in its <see cref="EndpointDataSource"/>, so endpoints added later are checked too — is in the
/// document with an operation id, a summary, a request body schema (writes), a success schema, and every
/// problem response its kind of endpoint can give, as <c>application/problem+json</c>.
/// </summary>
public partial class OpenApiDocumentTests : IClassFixture<PgDatabase>
{
    private readonly PgDatabase _db;
    public OpenApiDocumentTests(PgDatabase db) => _db = db;

    /// <summary>Mapped routes that are not API operations, each with the reason.</summary>
    private static readonly Dictionary<string, string> NotOperations = new(StringComparer.Ordinal)
    {
        ["/openapi/{documentName}.json"] = "the OpenAPI document itself",
        ["/dashboard"] = "the dashboard's HTML page (a page for people, not an API operation)",
        ["/dashboard/dashboard.js"] = "a static asset of the dashboard page",
        ["/dashboard/dashboard.css"] = "a static asset of the dashboard page",
        ["/dashboard/api/session"] = "the dashboard page's login cookie (a browser's session, not an API operation)",
    };

    /// <summary>Microsoft's Orleans Dashboard, mapped from its package under this prefix (docs/operations.md): not our API.</summary>
    private const string OrleansDashboardPrefix = "/orleans-dashboard";

    [GeneratedRegex(@"\{\*?([^}:?=]+)[^}]*\}")]
    private static partial Regex RouteParameter();

    /// <summary>The document's spelling of a route pattern: constraints and optional marks dropped, no trailing slash.</summary>
    private static string DocumentPath(string raw)
    {
        var path = RouteParameter().Replace("/" + raw.TrimStart('/'), "{$1}");
        return path.Length > 1 ? path.TrimEnd('/') : path;
    }

    [Fact]
    public async Task Every_mapped_endpoint_is_documented_with_its_id_summary_schemas_and_problem_responses()
    {
        await using var silo = new SiloFactory(_db, runProjections: false);
        using var http = silo.CreateClient();
        var response = await http.GetAsync("/openapi/v1.json");
        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var paths = doc.RootElement.GetProperty("paths");

        var endpoints = silo.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>().ToList();
        var failures = new List<string>();
        var operationIds = new Dictionary<string, string>(StringComparer.Ordinal);
        var checkedOperations = 0;
        foreach (var endpoint in endpoints)
        {
            var path = DocumentPath(endpoint.RoutePattern.RawText ?? "");
            if (NotOperations.ContainsKey(path) || path.StartsWith(OrleansDashboardPrefix, StringComparison.Ordinal)) continue;
            var methods = endpoint.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods ?? [];
            if (methods.Count == 0) failures.Add($"{path}: no HTTP method (an endpoint for any method cannot be documented)");
            foreach (var method in methods)
            {
                var name = $"{method} {path}";
                if (!paths.TryGetProperty(path, out var item) || !item.TryGetProperty(method.ToLowerInvariant(), out var op))
                {
                    failures.Add($"{name}: missing from the document");
                    continue;
                }
                checkedOperations++;
                var id = Text(op, "operationId");
                if (id is null) failures.Add($"{name}: no operationId (.WithName)");
                else if (!operationIds.TryAdd(id, name)) failures.Add($"{name}: operationId '{id}' also used by {operationIds[id]}");
                if (Text(op, "summary") is null) failures.Add($"{name}: no summary (.WithSummary)");

                var responses = op.TryGetProperty("responses", out var r) ? r : default;
                var codes = responses.ValueKind == JsonValueKind.Object ? responses.EnumerateObject().ToDictionary(p => p.Name, p => p.Value) : [];
                if (!codes.Any(c => c.Key.StartsWith('2') && HasSchema(c.Value)))
                    failures.Add($"{name}: no success response with a schema (.Produces<T>)");

                if (method is "POST" or "PUT" or "PATCH" && !(op.TryGetProperty("requestBody", out var body) && HasSchema(body)))
                    failures.Add($"{name}: no request body schema (.Accepts<T>)");

                // The problems this kind of endpoint can give.
                var expected = new SortedSet<int>();
                if (!Authorization.IsPublic(path)) expected.Add(401);                        // the key middleware
                var roles = endpoint.Metadata.GetMetadata<RequiredRolesMetadata>();
                if (roles is not null && roles.Roles.Distinct().Count() < Enum.GetValues<Role>().Length) expected.Add(403);
                if (endpoint.RoutePattern.Parameters.Count > 0) expected.Add(404);            // an unknown (or another tenant's) id
                if (method is "POST" or "PUT" or "PATCH") expected.Add(400);                   // a malformed body
                var idempotency = endpoint.Metadata.GetMetadata<IdempotencyKeyMetadata>();
                if (idempotency is not null)
                {
                    expected.Add(400);                                                          // Idempotency-Key missing
                    if (idempotency.Deduplicates)
                    {
                        expected.Add(409);                                                      // a rule, or a lost race
                        expected.Add(422);                                                      // the key reused
                    }
                    var header = op.TryGetProperty("parameters", out var ps)
                        ? ps.EnumerateArray().FirstOrDefault(p => Text(p, "name") == "Idempotency-Key" && Text(p, "in") == "header")
                        : default;
                    var required = header.ValueKind == JsonValueKind.Object && header.TryGetProperty("required", out var req) && req.GetBoolean();
                    if (header.ValueKind != JsonValueKind.Object || required != idempotency.Required)
                        failures.Add($"{name}: the Idempotency-Key header is not documented (required: {idempotency.Required})");
                }
                foreach (var status in expected)
                    if (!codes.ContainsKey(status.ToString(System.Globalization.CultureInfo.InvariantCulture)))
                        failures.Add($"{name}: does not document its {status} problem");
                foreach (var (code, value) in codes.Where(c => c.Key.StartsWith('4')))
                    if (!(value.TryGetProperty("content", out var content) && content.TryGetProperty("application/problem+json", out var problem) && problem.TryGetProperty("schema", out _)))
                        failures.Add($"{name}: its {code} is not documented as application/problem+json with a schema");
            }
        }
        Assert.True(failures.Count == 0, $"{failures.Count} gaps in /openapi/v1.json:\n" + string.Join('\n', failures));
        Assert.True(checkedOperations >= 43, $"only {checkedOperations} operations checked: the endpoint enumeration is broken");

        // And the other direction: the document describes nothing the silo does not map.
        var mapped = endpoints.Select(e => DocumentPath(e.RoutePattern.RawText ?? "")).ToHashSet(StringComparer.Ordinal);
        var unmapped = paths.EnumerateObject().Select(p => p.Name).Where(p => !mapped.Contains(p)).ToList();
        Assert.True(unmapped.Count == 0, "documented but not mapped: " + string.Join(", ", unmapped));
    }

    [Fact]
    public async Task The_problem_schema_names_the_code_member()
    {
        await using var silo = new SiloFactory(_db, runProjections: false);
        using var http = silo.CreateClient();
        using var doc = JsonDocument.Parse(await http.GetStringAsync("/openapi/v1.json"));
        var schemas = doc.RootElement.GetProperty("components").GetProperty("schemas");
        var problem = schemas.GetProperty("Problem").GetProperty("properties");
        foreach (var member in new[] { "type", "title", "status", "detail", "code" })
            Assert.True(problem.TryGetProperty(member, out _), $"Problem schema lacks '{member}'");
        var transfer = doc.RootElement.GetProperty("paths").GetProperty("/transfers").GetProperty("post").GetProperty("responses");
        Assert.Equal("#/components/schemas/Problem",
            transfer.GetProperty("409").GetProperty("content").GetProperty("application/problem+json").GetProperty("schema").GetProperty("$ref").GetString());
    }

    [Fact]
    public async Task The_document_declares_how_requests_authenticate_and_the_declared_header_really_works()
    {
        await using var silo = new SiloFactory(_db, runProjections: false);
        using var http = silo.CreateClient();
        using var doc = JsonDocument.Parse(await http.GetStringAsync("/openapi/v1.json"));
        var schemes = doc.RootElement.GetProperty("components").GetProperty("securitySchemes");
        Assert.Equal("bearer", schemes.GetProperty("bearer").GetProperty("scheme").GetString());
        var apiKey = schemes.GetProperty("apiKey");
        Assert.Equal("header", apiKey.GetProperty("in").GetString());
        var header = apiKey.GetProperty("name").GetString()!;
        var required = doc.RootElement.GetProperty("security").EnumerateArray().SelectMany(r => r.EnumerateObject().Select(p => p.Name)).ToHashSet();
        Assert.Superset(new HashSet<string> { "bearer", "apiKey" }, required);

        // The declared header is the one the silo reads: with it a root request passes, without it 401.
        using var withHeader = new HttpRequestMessage(HttpMethod.Get, "/projections");
        withHeader.Headers.Add(header, SiloFactory.RootKey);
        Assert.Equal(System.Net.HttpStatusCode.OK, (await http.SendAsync(withHeader)).StatusCode);
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, (await http.GetAsync("/projections")).StatusCode);
    }

    private static string? Text(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String && v.GetString() is { Length: > 0 } s ? s : null;

    /// <summary>A response or request body with at least one media type that has a schema.</summary>
    private static bool HasSchema(JsonElement e) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty("content", out var content)
        && content.EnumerateObject().Any(m => m.Value.TryGetProperty("schema", out var s) && s.ValueKind == JsonValueKind.Object);
}
