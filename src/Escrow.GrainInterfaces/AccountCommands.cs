using Escrow.Domain.Accounts;

namespace Escrow.Grains;

/// <summary>Which account grain decides an account command.</summary>
public static class AccountCommands
{
    /// <summary>
    /// The id of the account whose grain a command is sent to (with the institution, <see cref="GrainKeys.Of"/>): for a
    /// posting (or the reversal of a known posting) the ordinally smaller of its two accounts, otherwise the one account it
    /// names. That grain has the other account's grain decide and commit it (<see cref="IAccountGrain.CoSign"/>), so a grain
    /// only ever waits on a grain whose id sorts after its own and no two can wait on each other. Another grain refuses the
    /// command (<see cref="ArgumentException"/>).
    /// </summary>
    public static string ExecutorOf(AccountCommand command) => command switch
    {
        Post p => Smaller(p.DebitAccount, p.CreditAccount),
        ReversePosting { Original: { } o } r when o.DebitAccount == r.AccountId || o.CreditAccount == r.AccountId => Smaller(o.DebitAccount, o.CreditAccount),
        ReversePosting r => r.AccountId,
        _ => command.Streams[0],
    };

    private static string Smaller(string a, string b) => string.CompareOrdinal(a, b) <= 0 ? a : b;
}
