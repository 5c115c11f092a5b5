namespace Escrow.Domain.Accounts;

/// <summary>
/// The account aggregate as two pure functions. <see cref="Decide"/> never does I/O and never reads a
/// clock: every instant comes in on the command.
/// <para>Rules:</para>
/// <list type="bullet">
/// <item>A customer account never goes below its floor (0, or minus its overdraft limit): <c>insufficient_funds</c>.</item>
/// <item>A frozen account refuses debits (<c>account_frozen</c>) and accepts credits, so incoming money is never bounced;
/// a closed account refuses both (<c>account_closed</c>).</item>
/// <item>Both legs of a posting share one currency, the accounts' own (<c>currency_mismatch</c>).</item>
/// <item>Postings may not be back-dated before an account's last activity (<c>backdated_posting</c>), so
/// "balance as of T" is always a prefix of the stream.</item>
/// <item>A posting is reversed at most once, and a reversal is not itself reversible.</item>
/// </list>
/// </summary>
public static class Account
{
    /// <summary>Stream type recorded in the streams table.</summary>
    public const string StreamType = "account";

    public static Decision Decide(IReadOnlyDictionary<string, AccountState> states, AccountCommand command) => command switch
    {
        OpenAccount c => Open(Get(states, c.AccountId), c),
        Post c => DecidePost(states, c),
        ReversePosting c => Reverse(states, c),
        FreezeAccount c => Freeze(Get(states, c.AccountId), c),
        UnfreezeAccount c => Unfreeze(Get(states, c.AccountId), c),
        CloseAccount c => Close(Get(states, c.AccountId), c),
        _ => throw new ArgumentOutOfRangeException(nameof(command), command.GetType().Name, "unknown account command"),
    };

    public static AccountState Evolve(AccountState state, object @event) => @event switch
    {
        AccountOpened e => state with
        {
            Exists = true, Owner = e.Owner, Currency = e.Currency, Kind = e.Kind,
            OverdraftLimit = e.OverdraftLimit, Status = AccountStatus.Open, OpenedAt = e.At, LastActivityAt = e.At,
        },
        AccountDebited e => state with
        {
            Balance = state.Balance - e.Amount, LastActivityAt = e.At, PostingCount = state.PostingCount + 1,
            ReversedPostings = e.ReversalOf is null ? state.ReversedPostings : state.ReversedPostings.Add(e.ReversalOf),
        },
        AccountCredited e => state with
        {
            Balance = state.Balance + e.Amount, LastActivityAt = e.At, PostingCount = state.PostingCount + 1,
            ReversedPostings = e.ReversalOf is null ? state.ReversedPostings : state.ReversedPostings.Add(e.ReversalOf),
        },
        AccountFrozen e => state with { Status = AccountStatus.Frozen, LastActivityAt = Later(state.LastActivityAt, e.At) },
        AccountUnfrozen e => state with { Status = AccountStatus.Open, LastActivityAt = Later(state.LastActivityAt, e.At) },
        AccountClosed e => state with { Status = AccountStatus.Closed, LastActivityAt = Later(state.LastActivityAt, e.At) },
        _ => throw new ArgumentOutOfRangeException(nameof(@event), @event.GetType().Name, "unknown account event"),
    };

    /// <summary>Folds a whole history from the empty state.</summary>
    public static AccountState Fold(string accountId, IEnumerable<object> events) =>
        events.Aggregate(AccountState.Empty(accountId), Evolve);

    private static DateTimeOffset Later(DateTimeOffset? a, DateTimeOffset b) => a is { } x && x > b ? x : b;

    private static AccountState Get(IReadOnlyDictionary<string, AccountState> states, string id) =>
        states.TryGetValue(id, out var s) ? s : AccountState.Empty(id);

    private static Decision Open(AccountState s, OpenAccount c)
    {
        if (s.Exists)
            return Decision.Reject(RejectionCodes.AccountExists, $"account '{c.AccountId}' already exists");
        if (!Domain.Currency.TryParse(c.Currency, out var currency))
            return Decision.Reject(RejectionCodes.UnknownCurrency, $"'{c.Currency}' is not an ISO 4217 currency code");
        if (c.OverdraftLimit < 0)
            return Decision.Reject(RejectionCodes.InvalidOverdraft, "overdraft limit must not be negative");
        if (!currency.Value.FitsMinorUnit(c.OverdraftLimit))
            return Decision.Reject(RejectionCodes.AmountPrecision,
                $"overdraft limit {c.OverdraftLimit} has more decimals than {c.Currency} allows");
        if (c.Kind != AccountKind.Customer && c.OverdraftLimit != 0)
            return Decision.Reject(RejectionCodes.InvalidOverdraft, "only customer accounts carry an overdraft limit; internal and external accounts have no floor");
        return Decision.Accept(new PendingEvent(c.AccountId,
            new AccountOpened(c.AccountId, c.Owner, c.Currency, c.Kind, c.OverdraftLimit, c.At)));
    }

    private static Decision DecidePost(IReadOnlyDictionary<string, AccountState> states, Post c)
    {
        if (c.DebitAccount == c.CreditAccount)
            return Decision.Reject(RejectionCodes.SameAccount, $"cannot post from account '{c.DebitAccount}' to itself");
        var debit = Get(states, c.DebitAccount);
        var credit = Get(states, c.CreditAccount);
        var legs = CheckLegs(debit, credit, c.Amount, c.Currency, c.At);
        if (legs is not null)
            return Decision.Reject(legs);
        return Decision.Accept(
            new PendingEvent(debit.AccountId, new AccountDebited(c.PostingId, c.Amount, c.Currency, credit.AccountId, c.Kind, c.Reference, null, c.At)),
            new PendingEvent(credit.AccountId, new AccountCredited(c.PostingId, c.Amount, c.Currency, debit.AccountId, c.Kind, c.Reference, null, c.At)));
    }

    private static Rejection? CheckLegs(AccountState debit, AccountState credit, decimal amount, string currencyCode, DateTimeOffset at)
    {
        foreach (var s in (ReadOnlySpan<AccountState>)[debit, credit])
        {
            if (!s.Exists)
                return new(RejectionCodes.AccountNotFound, $"account '{s.AccountId}' does not exist");
        }
        if (!Domain.Currency.TryParse(currencyCode, out var currency))
            return new(RejectionCodes.UnknownCurrency, $"'{currencyCode}' is not an ISO 4217 currency code");
        if (Money.ValidatePositive(amount, currency.Value) is { } bad)
            return bad;
        foreach (var s in (ReadOnlySpan<AccountState>)[debit, credit])
        {
            if (s.Currency != currencyCode)
                return new(RejectionCodes.CurrencyMismatch,
                    $"account '{s.AccountId}' is kept in {s.Currency}, the posting is in {currencyCode}");
            if (s.Status == AccountStatus.Closed)
                return new(RejectionCodes.AccountClosed, $"account '{s.AccountId}' is closed");
            if (s.LastActivityAt is { } last && at < last)
                return new(RejectionCodes.BackdatedPosting,
                    $"posting time {at:O} precedes account '{s.AccountId}''s last activity {last:O}");
        }
        if (debit.Status == AccountStatus.Frozen)
            return new(RejectionCodes.AccountFrozen, $"account '{debit.AccountId}' is frozen and refuses debits");
        if (debit.Floor is { } floor && debit.Balance - amount < floor)
            return new(RejectionCodes.InsufficientFunds,
                $"account '{debit.AccountId}' has {debit.Available} {currencyCode} available, the debit is {amount}");
        return null;
    }

    private static Decision Reverse(IReadOnlyDictionary<string, AccountState> states, ReversePosting c)
    {
        var self = Get(states, c.AccountId);
        if (!self.Exists)
            return Decision.Reject(RejectionCodes.AccountNotFound, $"account '{c.AccountId}' does not exist");
        var o = c.Original;
        if (o is null || (o.DebitAccount != c.AccountId && o.CreditAccount != c.AccountId))
            return Decision.Reject(RejectionCodes.PostingNotFound, $"account '{c.AccountId}' has no posting '{c.PostingId}'");
        if (o.ReversalOf is not null)
            return Decision.Reject(RejectionCodes.ReversalOfReversal, $"posting '{o.PostingId}' is itself the reversal of '{o.ReversalOf}'");
        // The original credit side pays the money back to the original debit side.
        var payer = Get(states, o.CreditAccount);
        var payee = Get(states, o.DebitAccount);
        if (payer.ReversedPostings.Contains(o.PostingId) || payee.ReversedPostings.Contains(o.PostingId))
            return Decision.Reject(RejectionCodes.PostingAlreadyReversed, $"posting '{o.PostingId}' has already been reversed");
        var legs = CheckLegs(payer, payee, o.Amount, o.Currency, c.At);
        if (legs is not null)
            return Decision.Reject(legs);
        var reference = c.Reason ?? $"reversal of {o.PostingId}";
        return Decision.Accept(
            new PendingEvent(payer.AccountId, new AccountDebited(c.ReversalPostingId, o.Amount, o.Currency, payee.AccountId, PostingKind.Reversal, reference, o.PostingId, c.At)),
            new PendingEvent(payee.AccountId, new AccountCredited(c.ReversalPostingId, o.Amount, o.Currency, payer.AccountId, PostingKind.Reversal, reference, o.PostingId, c.At)));
    }

    private static Decision Freeze(AccountState s, FreezeAccount c)
    {
        if (Lifecycle(s) is { } r) return Decision.Reject(r);
        if (s.Status == AccountStatus.Frozen)
            return Decision.Reject(RejectionCodes.AccountFrozen, $"account '{s.AccountId}' is already frozen");
        return Decision.Accept(new PendingEvent(s.AccountId, new AccountFrozen(c.Reason, c.At)));
    }

    private static Decision Unfreeze(AccountState s, UnfreezeAccount c)
    {
        if (Lifecycle(s) is { } r) return Decision.Reject(r);
        if (s.Status != AccountStatus.Frozen)
            return Decision.Reject(RejectionCodes.AccountNotFrozen, $"account '{s.AccountId}' is not frozen");
        return Decision.Accept(new PendingEvent(s.AccountId, new AccountUnfrozen(c.Reason, c.At)));
    }

    private static Decision Close(AccountState s, CloseAccount c)
    {
        if (Lifecycle(s) is { } r) return Decision.Reject(r);
        if (s.Balance != 0)
            return Decision.Reject(RejectionCodes.BalanceNotZero, $"account '{s.AccountId}' has balance {s.Balance} {s.Currency}; only a zero balance may be closed");
        return Decision.Accept(new PendingEvent(s.AccountId, new AccountClosed(c.At)));
    }

    private static Rejection? Lifecycle(AccountState s) =>
        !s.Exists ? new(RejectionCodes.AccountNotFound, $"account '{s.AccountId}' does not exist")
        : s.Status == AccountStatus.Closed ? new(RejectionCodes.AccountClosed, $"account '{s.AccountId}' is closed")
        : null;
}
