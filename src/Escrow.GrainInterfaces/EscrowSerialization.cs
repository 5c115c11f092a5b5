using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;
using Orleans.Serialization.Cloning;

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

    /// <summary>
    /// Serializes every type of the <c>Escrow.Domain</c> namespaces with System.Text.Json, and lets arrays and lists of them
    /// (a batch of payment commands) and their abstract bases (a command parameter) through the type filter.
    /// </summary>
    public static ISerializerBuilder AddEscrowDomainTypes(this ISerializerBuilder serializer)
    {
        serializer.Services.AddSingleton<ITypeFilter, DomainTypeFilter>();
        // Serialized as JSON between processes; within one, passed as they are (see ImmutableDomainCopier).
        serializer.Services.AddSingleton<IGeneralizedCopier, ImmutableDomainCopier>();
        return serializer.AddJsonSerializer(isSerializable: IsDomainType, isCopyable: null,
            configureOptions: o => o.Configure(json => json.SerializerOptions = DomainJson));
    }

    private static bool IsDomainType(Type t) =>
        t.Namespace is { } ns && (ns == "Escrow.Domain" || ns.StartsWith("Escrow.Domain.", StringComparison.Ordinal));

    /// <summary>Allows the domain's types, and arrays of them, to be named on the wire (nothing else).</summary>
    private sealed class DomainTypeFilter : ITypeFilter
    {
        public bool? IsTypeAllowed(Type type) =>
            IsDomainType(type) || type.IsArray && type.GetElementType() is { } e && IsDomainType(e) ? true : null;
    }

    /// <summary>
    /// The copier Orleans uses for a domain value passed to a grain in the same process: the value itself. Every type of
    /// <c>Escrow.Domain</c> that crosses a grain call is an immutable record (init-only properties, immutable collections;
    /// <c>Decide</c> and <c>Evolve</c> return new values and never change one), so sharing it is safe; copying it would
    /// cost a JSON round trip per argument and result of every call inside a silo.
    /// </summary>
    private sealed class ImmutableDomainCopier : IGeneralizedCopier
    {
        public object? DeepCopy(object? input, CopyContext context) => input;

        public bool IsSupportedType(Type type) => IsDomainType(type);
    }
}
