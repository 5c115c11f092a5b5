using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Escrow.EventStore;

/// <summary>
/// The per-stream tamper-evidence chain: <c>hash(n) = SHA-256(hash(n-1) ‖ canonical bytes of event n)</c>,
/// with 32 zero bytes before the first event.
/// <para>
/// The canonical bytes are computed from JSON that PostgreSQL's jsonb may reformat (key order, spaces,
/// unicode escapes), so both writer and verifier canonicalise first: object keys sorted by ordinal,
/// no whitespace, one fixed escaping. Numbers keep their literal text; jsonb keeps numeric scale
/// (700.00 stays 700.00), which is why amounts hash the same before and after storage.
/// </para>
/// </summary>
public static class HashChain
{
    public static readonly byte[] Genesis = new byte[32];

    private static readonly JsonWriterOptions WriterOptions = new()
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Indented = false,
    };

    /// <summary>Timestamps are stored with microsecond precision (PostgreSQL timestamptz); truncate before hashing.</summary>
    public static DateTimeOffset ToStoredPrecision(DateTimeOffset t)
    {
        var utc = t.ToUniversalTime();
        return new DateTimeOffset(utc.Ticks - utc.Ticks % 10, TimeSpan.Zero);
    }

    public static byte[] Compute(
        ReadOnlySpan<byte> prevHash, string streamId, long version, string eventType, int schemaVersion,
        DateTimeOffset occurredAt, string dataJson, string metadataJson)
    {
        var micros = (ToStoredPrecision(occurredAt).UtcTicks - DateTime.UnixEpoch.Ticks) / 10;
        var header = string.Create(CultureInfo.InvariantCulture,
            $"{streamId}\n{version}\n{eventType}\n{schemaVersion}\n{micros}\n");
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(prevHash);
        sha.AppendData(Encoding.UTF8.GetBytes(header));
        sha.AppendData(Canonical(dataJson));
        sha.AppendData("\n"u8);
        sha.AppendData(Canonical(metadataJson));
        return sha.GetHashAndReset();
    }

    /// <summary>Canonical UTF-8 bytes of a JSON text (sorted keys, compact, fixed escaping).</summary>
    public static byte[] Canonical(string json)
    {
        var node = JsonNode.Parse(json);
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, WriterOptions))
            Write(writer, node);
        return buffer.ToArray();
    }

    private static void Write(Utf8JsonWriter w, JsonNode? node)
    {
        switch (node)
        {
            case null:
                w.WriteNullValue();
                break;
            case JsonObject o:
                w.WriteStartObject();
                foreach (var (k, v) in o.OrderBy(p => p.Key, StringComparer.Ordinal))
                {
                    w.WritePropertyName(k);
                    Write(w, v);
                }
                w.WriteEndObject();
                break;
            case JsonArray a:
                w.WriteStartArray();
                foreach (var v in a) Write(w, v);
                w.WriteEndArray();
                break;
            case JsonValue v when v.GetValueKind() == JsonValueKind.Number:
                // Keep the literal digits: a decimal's scale is part of the amount's record.
                w.WriteRawValue(v.ToJsonString(), skipInputValidation: true);
                break;
            case JsonValue v when v.GetValueKind() == JsonValueKind.String:
                // Re-escape through our writer: jsonb may have turned "\u00e9" into "é".
                w.WriteStringValue(v.GetValue<string>());
                break;
            default:
                node.WriteTo(w);
                break;
        }
    }
}
