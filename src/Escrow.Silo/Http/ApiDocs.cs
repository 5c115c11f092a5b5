using Escrow.Silo.Hosting;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Escrow.Silo.Http;

/// <summary>
/// Marks an endpoint that reads the <c>Idempotency-Key</c> header (when <see cref="Required"/>, missing: 400
/// <c>idempotency_key_required</c>). <see cref="Deduplicates"/>: a retry with the same key is answered from the stored
/// answer and the key reused with another request is refused (422 <c>idempotency_key_reused</c>).
/// </summary>
public sealed record IdempotencyKeyMetadata(bool Deduplicates, bool Required = true);

/// <summary>The roles an endpoint admits (set by <see cref="Tenancy.Authorization.RequireRoles"/>); anyone else gets 403.</summary>
public sealed record RequiredRolesMetadata(IReadOnlyList<Tenancy.Role> Roles);

/// <summary>
/// OpenAPI metadata helpers: every endpoint names its operation, summary, success schema and the problem
/// responses it can give (as <c>application/problem+json</c> with the silo's <see cref="Problem"/> schema).
/// <c>OpenApiDocumentTests</c> checks the served document against the mapped endpoints.
/// </summary>
public static class ApiDocs
{
    /// <summary>Declares problem responses (<c>application/problem+json</c>, schema <see cref="Problem"/>) for <paramref name="statuses"/>.</summary>
    public static TBuilder Problems<TBuilder>(this TBuilder builder, params int[] statuses) where TBuilder : IEndpointConventionBuilder
    {
        foreach (var status in statuses)
            builder.WithMetadata(new ProducesResponseTypeMetadata(status, typeof(Problem), [Hosting.Problems.ContentType]));
        return builder;
    }

    /// <summary>Operation id and summary (and optionally a longer description).</summary>
    public static RouteHandlerBuilder Doc(this RouteHandlerBuilder builder, string operationId, string summary, string? description = null)
    {
        builder.WithName(operationId).WithSummary(summary);
        if (description is not null) builder.WithDescription(description);
        return builder;
    }

    /// <summary>
    /// A command that takes an <c>Idempotency-Key</c>: documents the header, 400 (key missing or malformed
    /// body) and, when the silo stores answers under the key, 422 (key reused with another request).
    /// </summary>
    public static RouteHandlerBuilder IdempotentCommand(this RouteHandlerBuilder builder, bool deduplicates = true, bool keyRequired = true)
    {
        builder.WithMetadata(new IdempotencyKeyMetadata(deduplicates, keyRequired));
        return deduplicates ? builder.Problems(400, 422) : builder.Problems(400);
    }

    /// <summary>Adds the <c>Idempotency-Key</c> header parameter to the operations of endpoints marked by <see cref="IdempotentCommand"/>.</summary>
    public static OpenApiOptions AddEscrowDocumentation(this OpenApiOptions options)
    {
        options.AddOperationTransformer((operation, context, _) =>
        {
            var marker = context.Description.ActionDescriptor.EndpointMetadata.OfType<IdempotencyKeyMetadata>().LastOrDefault();
            if (marker is not null)
            {
                operation.Parameters ??= [];
                operation.Parameters.Add(new OpenApiParameter
                {
                    Name = CommandRequests.IdempotencyHeader,
                    In = ParameterLocation.Header,
                    Required = marker.Required,
                    Description = marker.Deduplicates
                        ? "1-200 characters, unique per logical command. A retry with the same key and request returns the first answer (same status and body) and appends nothing; the same key with another request is refused with 422 idempotency_key_reused."
                        : "1-200 characters; required, but this route does not store answers under it.",
                    Schema = new OpenApiSchema { Type = JsonSchemaType.String, MinLength = 1, MaxLength = 200 },
                });
            }
            return Task.CompletedTask;
        });
        // How a request authenticates: an API key as a bearer token or in X-Api-Key (only /health and /openapi are public).
        options.AddDocumentTransformer((document, _, _) =>
        {
            document.Components ??= new OpenApiComponents();
            document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
            document.Components.SecuritySchemes["bearer"] = new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.Http,
                Scheme = "bearer",
                Description = "An institution's API key (root, writer or auditor) as 'Authorization: Bearer <key>'.",
            };
            document.Components.SecuritySchemes["apiKey"] = new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.ApiKey,
                In = ParameterLocation.Header,
                Name = "X-Api-Key",
                Description = "The same API key in the X-Api-Key header (the dashboard's way).",
            };
            document.Security ??= [];
            document.Security.Add(new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference("bearer", document)] = [] });
            document.Security.Add(new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference("apiKey", document)] = [] });
            return Task.CompletedTask;
        });
        return options;
    }
}
