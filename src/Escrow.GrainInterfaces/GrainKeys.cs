namespace Escrow.Grains;

/// <summary>
/// The key of every account, deal and payment grain: <c>{institution}/{id}</c>. Ids (account ids, deal ids, UETRs) are
/// unique within an institution, not across the cluster, so two institutions may both hold an account <c>a-1</c>, each in
/// its own grain and stream, and neither can name (or learn of) the other's.
/// </summary>
public static class GrainKeys
{
    /// <summary><c>{tenant}/{id}</c>. Institution ids match <c>^[a-z0-9][a-z0-9-]{0,31}$</c>, so they never contain '/'.</summary>
    public static string Of(string tenant, string id) => $"{tenant}/{id}";

    /// <summary>The institution and id of a key made by <see cref="Of"/>.</summary>
    /// <exception cref="ArgumentException">The key has no '/' with text on both sides.</exception>
    public static (string Tenant, string Id) Parse(string key)
    {
        var slash = key.IndexOf('/', StringComparison.Ordinal);
        if (slash <= 0 || slash == key.Length - 1) throw new ArgumentException($"'{key}' is not a grain key (tenant/id)", nameof(key));
        return (key[..slash], key[(slash + 1)..]);
    }
}
