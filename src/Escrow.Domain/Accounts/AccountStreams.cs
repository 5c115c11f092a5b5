namespace Escrow.Domain.Accounts;

/// <summary>An account's stream in the event log: <c>account-{tenant}/{accountId}</c> (see <see cref="StreamIds"/>).</summary>
public static class AccountStreams
{
    /// <summary>The prefix of every account stream id.</summary>
    public const string Prefix = "account-";

    /// <summary>The stream id of account <paramref name="accountId"/> of institution <paramref name="tenant"/>.</summary>
    public static string StreamId(string tenant, string accountId) => StreamIds.Of(Prefix, tenant, accountId);

    /// <summary>The institution and account id of an account stream id; false for any other stream.</summary>
    public static bool TryParse(string streamId, out string tenant, out string accountId) => StreamIds.TryParse(streamId, Prefix, out tenant, out accountId);

    /// <summary>The account id (within its institution) of an account stream id; false for any other stream.</summary>
    public static bool TryAccountId(string streamId, out string accountId) => TryParse(streamId, out _, out accountId);
}
