namespace Escrow.Domain.Accounts;

/// <summary>An account's stream in the event log: <c>account-{accountId}</c>.</summary>
public static class AccountStreams
{
    /// <summary>The prefix of every account stream id.</summary>
    public const string Prefix = "account-";

    /// <summary>The stream id of <paramref name="accountId"/>.</summary>
    public static string StreamId(string accountId) => Prefix + accountId;

    /// <summary>The account id of an account stream id; false for any other stream.</summary>
    public static bool TryAccountId(string streamId, out string accountId) => StreamIds.TryStrip(streamId, Prefix, out accountId);
}
