using System.Text.RegularExpressions;
using Escrow.Silo.Http;

namespace Escrow.Silo.Tenancy;

/// <summary>What an API key may do. See docs/http-api.md, "Keys, roles and tenants".</summary>
public enum Role
{
    /// <summary>The operator: creates institutions and keys, reads everything, may act for any tenant.</summary>
    Root,
    /// <summary>Acts for its institution: commands and queries on its own accounts.</summary>
    Writer,
    /// <summary>Read-only: its institution's accounts, streams and audit log.</summary>
    Auditor,
}

/// <summary>The authenticated sender of a request: the key's id (never its secret), its institution and role.</summary>
public sealed record Caller(string KeyId, string Institution, Role Role)
{
    public const string RootKeyId = "root";
    public const string OperatorInstitution = "operator";
    /// <summary>Header a root key may send to name the tenant it acts for (default: <see cref="CommandRequests.DefaultTenant"/>).</summary>
    public const string TenantHeader = "X-Escrow-Tenant";

    public bool IsRoot => Role == Role.Root;

    /// <summary>Whether this caller may see data of <paramref name="tenant"/>.</summary>
    public bool CanSee(string? tenant) => IsRoot || string.Equals(tenant, Institution, StringComparison.Ordinal);

    /// <summary>The tenant a command of this caller acts for: its institution, or for root the tenant header (else default).</summary>
    public string ActingTenant(HttpRequest request)
    {
        if (!IsRoot) return Institution;
        var header = request.Headers[TenantHeader].ToString();
        return string.IsNullOrEmpty(header) ? CommandRequests.DefaultTenant : Tenants.Id(header, TenantHeader);
    }

    public static string RoleName(Role role) => role switch
    {
        Role.Root => "root",
        Role.Writer => "writer",
        _ => "auditor",
    };

    public static bool TryParseRole(string? text, out Role role)
    {
        switch (text?.ToLowerInvariant())
        {
            case "root": role = Role.Root; return true;
            case "writer": role = Role.Writer; return true;
            case "auditor": role = Role.Auditor; return true;
            default: role = default; return false;
        }
    }
}

public static partial class Tenants
{
    [GeneratedRegex("^[a-z0-9][a-z0-9-]{0,31}$")]
    private static partial Regex IdPattern();

    /// <summary>Institution ids: 1-32 lower-case letters, digits and '-', starting with a letter or digit.</summary>
    public static string Id(string? value, string field = "institutionId")
    {
        if (string.IsNullOrEmpty(value))
            throw new BadRequestException("missing_field", $"'{field}' is required");
        if (!IdPattern().IsMatch(value))
            throw new BadRequestException("invalid_institution_id",
                $"'{field}' must be 1-32 lower-case letters, digits or '-', starting with a letter or digit");
        return value;
    }

    public static bool IsValidId(string? value) => value is not null && IdPattern().IsMatch(value);
}

public static class CallerExtensions
{
    private const string ItemKey = "escrow.caller";

    public static void SetCaller(this HttpContext http, Caller caller) => http.Items[ItemKey] = caller;

    public static Caller? FindCaller(this HttpContext http) => http.Items.TryGetValue(ItemKey, out var c) ? c as Caller : null;

    /// <summary>The authenticated caller; the authentication middleware guarantees one on every protected route.</summary>
    public static Caller GetCaller(this HttpContext http) =>
        http.FindCaller() ?? throw new InvalidOperationException("no authenticated caller on this request");
}
