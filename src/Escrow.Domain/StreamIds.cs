namespace Escrow.Domain;

/// <summary>Stream ids of the form <c>{prefix}{id}</c> (<c>account-…</c>, <c>deal-…</c>).</summary>
internal static class StreamIds
{
    /// <summary>The id after <paramref name="prefix"/>; false (and an empty id) for a stream of another kind.</summary>
    public static bool TryStrip(string streamId, string prefix, out string id)
    {
        var match = streamId.StartsWith(prefix, StringComparison.Ordinal);
        id = match ? streamId[prefix.Length..] : "";
        return match;
    }
}
