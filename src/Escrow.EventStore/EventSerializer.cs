using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Escrow.Domain;

namespace Escrow.EventStore;

/// <summary>
/// Turns domain events into stored JSON (camelCase properties, enums as strings, decimals as JSON
/// numbers with their scale) and back. Old schema versions are upcast on read: register a function
/// that rewrites the JSON of version N into version N+1.
/// </summary>
public static class EventSerializer
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter() },
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    private static readonly Dictionary<(string Name, int From), Func<JsonObject, JsonObject>> Upcasters = new();

    /// <summary>Registers how to read schema <paramref name="fromVersion"/> of <paramref name="eventType"/> (its current stored name) as the next version.</summary>
    public static void RegisterUpcaster(string eventType, int fromVersion, Func<JsonObject, JsonObject> upcast)
    {
        lock (Upcasters)
            Upcasters[(eventType, fromVersion)] = upcast;
    }

    public static (string Type, int SchemaVersion, string Json) Serialize(object @event)
    {
        var entry = EventRegistry.ForType(@event.GetType());
        return (entry.Name, entry.SchemaVersion, JsonSerializer.Serialize(@event, @event.GetType(), Options));
    }

    public static object Deserialize(string eventType, int schemaVersion, string json)
    {
        if (!EventRegistry.TryForName(eventType, out var entry))
            throw new InvalidOperationException($"unknown stored event type '{eventType}'");
        if (schemaVersion > entry.SchemaVersion)
            throw new InvalidOperationException($"event '{eventType}' has schema {schemaVersion}, newer than this build ({entry.SchemaVersion})");
        if (schemaVersion < entry.SchemaVersion)
        {
            var node = JsonNode.Parse(json)!.AsObject();
            for (var v = schemaVersion; v < entry.SchemaVersion; v++)
            {
                Func<JsonObject, JsonObject>? up;
                lock (Upcasters)
                    Upcasters.TryGetValue((entry.Name, v), out up);
                node = (up ?? throw new InvalidOperationException($"no upcaster for '{eventType}' schema {v}"))(node);
            }
            json = node.ToJsonString();
        }
        return JsonSerializer.Deserialize(json, entry.Type, Options)
            ?? throw new InvalidOperationException($"event '{eventType}' deserialized to null");
    }

    public static object Deserialize(StoredEvent e) => Deserialize(e.EventType, e.SchemaVersion, e.DataJson);
}
