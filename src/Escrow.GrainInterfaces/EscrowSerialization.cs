using System.Text.Json;
using System.Text.Json.Serialization;
using Orleans.Serialization;

namespace Escrow.Grains;

/// <summary>
/// How grain calls carry the domain's own types (commands, states, events of <c>Escrow.Domain</c>, which has no Orleans
/// dependency): as JSON, with the event log's conventions (camelCase, enums as strings, decimals with their scale).
/// Every silo and every Orleans client of the cluster registers it.
/// </summary>
public static class EscrowSerialization
{
    /// <summary>The JSON settings for domain types on the wire (the same as the event log's).</summary>
    public static JsonSerializerOptions DomainJson { get; } = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter() },
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    /// <summary>Serializes every type of the <c>Escrow.Domain</c> namespaces with System.Text.Json.</summary>
    public static ISerializerBuilder AddEscrowDomainTypes(this ISerializerBuilder serializer) =>
        serializer.AddJsonSerializer(
            isSupported: t => t.Namespace is { } ns && (ns == "Escrow.Domain" || ns.StartsWith("Escrow.Domain.", StringComparison.Ordinal)),
            jsonSerializerOptions: DomainJson);
}
