namespace Escrow.Domain;

/// <summary>
/// Stream ids of the form <c>{prefix}{tenant}/{id}</c> (<c>account-acme/a-1</c>, <c>deal-acme/d-7</c>): an id is unique
/// within its institution, so the institution is part of the stream id. Institution ids never contain '/', so the first
/// '/' after the prefix separates the two. Streams written before ids were per institution (<c>account-{id}</c>) are read
/// and written under their new id: the event store maps it to the stored one (migration <c>021</c>).
/// </summary>
public static class StreamIds
{
    /// <summary><c>{prefix}{tenant}/{id}</c>.</summary>
    public static string Of(string prefix, string tenant, string id) => $"{prefix}{tenant}/{id}";

    /// <summary>The institution and id of a stream id made by <see cref="Of"/>; false for a stream of another kind or form.</summary>
    public static bool TryParse(string streamId, string prefix, out string tenant, out string id)
    {
        tenant = id = "";
        if (!streamId.StartsWith(prefix, StringComparison.Ordinal)) return false;
        var slash = streamId.IndexOf('/', prefix.Length);
        if (slash <= prefix.Length || slash == streamId.Length - 1) return false;
        tenant = streamId[prefix.Length..slash];
        id = streamId[(slash + 1)..];
        return true;
    }
}
