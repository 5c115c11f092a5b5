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
/// <item>Holds (pending debits) count against the available balance at once: a debit or a new hold may not take the
/// balance minus open holds below the floor. A debit that captures a hold (<see cref="Post.HoldId"/>) must match it
/// exactly (<c>hold_mismatch</c>) and is allowed on a frozen account (the money was reserved before the freeze).
/// An account with open holds cannot be closed (<c>holds_pending</c>).</item>
/// <item>An account that is the buyer or seller of a live escrow deal cannot be closed (<c>live_deals</c>): the deal's
/// refund or release must always find it open.</item>
/// </list>
/// </summary>
public static class Account
{
    /// <summary>Stream type recorded in the streams table.</summary>
    public const string StreamType = "account";

    /// <summary>
    /// Decides <paramref name="command"/> on <paramref name="states"/>: the states of the accounts the command names (both
    /// legs of a posting), keyed by account id; an account missing from them is an empty, unopened one. Accepted: the
    /// events on the account ids, in posting order (debit leg first).
    /// </summary>
    public static Decision Decide(IReadOnlyDictionary<string, AccountState> states, AccountCommand command) => command switch
    {
        OpenAccount c => Open(Get(states, c.AccountId), c),
        Post c => DecidePost(states, c),
        ReversePosting c => Reverse(states, c),
        FreezeAccount c => Freeze(Get(states, c.AccountId), c),
        UnfreezeAccount c => Unfreeze(Get(states, c.AccountId), c),
        CloseAccount c => Close(Get(states, c.AccountId), c),
        PlaceHold c => Hold(Get(states, c.AccountId), c),
        ReleaseHold c => Release(Get(states, c.AccountId), c),
        _ => throw new ArgumentOutOfRangeException(nameof(command), command.GetType().Name, "unknown account command"),
    };

    public static AccountState Evolve(AccountState state, object @event) => @event switch
    {
        AccountOpened e => state with
        {
            Exists = true, Owner = e.Owner, Subject = e.Subject, Currency = e.Currency, Kind = e.Kind,
            OverdraftLimit = e.OverdraftLimit, Status = AccountStatus.Open, OpenedAt = e.At, LastActivityAt = e.At,
        },
        AccountDebited e => (e.HoldId is { } captured ? WithoutHold(state, captured) : state) with
        {
            Balance = state.Balance - e.Amount, LastActivityAt = e.At, PostingCount = state.PostingCount + 1,
            ReversedPostings = e.ReversalOf is null ? state.ReversedPostings : state.ReversedPostings.Add(e.ReversalOf),
        },
        HoldPlaced e => state with
        {
            Holds = state.Holds.SetItem(e.HoldId, e.Amount), Held = state.Held + e.Amount, LastActivityAt = Later(state.LastActivityAt, e.At),
        },
        HoldReleased e => WithoutHold(state, e.HoldId) with { LastActivityAt = Later(state.LastActivityAt, e.At) },
        AccountDealJoined e => state with { LiveDeals = state.LiveDeals.Add(e.DealId), LastActivityAt = Later(state.LastActivityAt, e.At) },
        AccountDealLeft e => state with { LiveDeals = state.LiveDeals.Remove(e.DealId), LastActivityAt = Later(state.LastActivityAt, e.At) },
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

    private static AccountState WithoutHold(AccountState s, string holdId) =>
        s.Holds.TryGetValue(holdId, out var amount) ? s with { Holds = s.Holds.Remove(holdId), Held = s.Held - amount } : s;

    private static DateTimeOffset Later(DateTimeOffset? a, DateTimeOffset b) => a is { } x && x > b ? x : b;

    private static AccountState Get(IReadOnlyDictionary<string, AccountState> states, string id) =>
        states.TryGetValue(id, out var s) ? s : AccountState.Empty(id);

    private static Decision Open(AccountState s, OpenAccount c)
    {
        if (s.Exists)
            return Decision.Reject(AccountRejectionCodes.AccountExists, $"account '{c.AccountId}' already exists");
        if (!Domain.Currency.TryParse(c.Currency, out var currency))
            return Decision.Reject(AccountRejectionCodes.UnknownCurrency, $"'{c.Currency}' is not an ISO 4217 currency code");
        if (c.OverdraftLimit < 0)
            return Decision.Reject(AccountRejectionCodes.InvalidOverdraft, "overdraft limit must not be negative");
        if (!currency.Value.FitsMinorUnit(c.OverdraftLimit))
            return Decision.Reject(AccountRejectionCodes.AmountPrecision,
                $"overdraft limit {c.OverdraftLimit} has more decimals than {c.Currency} allows");
        if (c.Kind != AccountKind.Customer && c.OverdraftLimit != 0)
            return Decision.Reject(AccountRejectionCodes.InvalidOverdraft, "only customer accounts carry an overdraft limit; internal and external accounts have no floor");
        return Decision.Accept(new PendingEvent(c.AccountId,
            new AccountOpened(c.AccountId, c.Owner, c.Currency, c.Kind, c.OverdraftLimit, c.At, c.Subject)));
    }

    private static Decision DecidePost(IReadOnlyDictionary<string, AccountState> states, Post c)
    {
        if (c.DebitAccount == c.CreditAccount)
            return Decision.Reject(AccountRejectionCodes.SameAccount, $"cannot post from account '{c.DebitAccount}' to itself");
        var debit = Get(states, c.DebitAccount);
        var credit = Get(states, c.CreditAccount);
        var legs = CheckLegs(debit, credit, c.Amount, c.Currency, c.At, c.HoldId);
        if (legs is not null)
            return Decision.Reject(legs);
        return Decision.Accept(
            new PendingEvent(debit.AccountId, new AccountDebited(c.PostingId, c.Amount, c.Currency, credit.AccountId, c.Kind, c.Reference, null, c.At, c.HoldId)),
            new PendingEvent(credit.AccountId, new AccountCredited(c.PostingId, c.Amount, c.Currency, debit.AccountId, c.Kind, c.Reference, null, c.At)));
    }

    private static Rejection? CheckLegs(AccountState debit, AccountState credit, decimal amount, string currencyCode, DateTimeOffset at, string? holdId = null)
    {
        foreach (var s in (ReadOnlySpan<AccountState>)[debit, credit])
        {
            if (!s.Exists)
                return new(AccountRejectionCodes.AccountNotFound, $"account '{s.AccountId}' does not exist");
        }
        if (!Domain.Currency.TryParse(currencyCode, out var currency))
            return new(AccountRejectionCodes.UnknownCurrency, $"'{currencyCode}' is not an ISO 4217 currency code");
        if (Money.ValidatePositive(amount, currency.Value) is { } bad)
            return bad;
        foreach (var s in (ReadOnlySpan<AccountState>)[debit, credit])
        {
            if (s.Currency != currencyCode)
                return new(AccountRejectionCodes.CurrencyMismatch,
                    $"account '{s.AccountId}' is kept in {s.Currency}, the posting is in {currencyCode}");
            if (s.Status == AccountStatus.Closed)
                return new(AccountRejectionCodes.AccountClosed, $"account '{s.AccountId}' is closed");
            if (s.LastActivityAt is { } last && at < last)
                return new(AccountRejectionCodes.BackdatedPosting,
                    $"posting time {at:O} precedes account '{s.AccountId}''s last activity {last:O}");
        }
        var reserved = 0m;
        if (holdId is not null)
        {
            if (!debit.Holds.TryGetValue(holdId, out reserved))
                return new(AccountRejectionCodes.HoldNotFound, $"account '{debit.AccountId}' has no open hold '{holdId}'");
            if (reserved != amount)
                return new(AccountRejectionCodes.HoldMismatch, $"hold '{holdId}' of account '{debit.AccountId}' is {reserved} {currencyCode}; the debit is {amount}");
        }
        else if (debit.Status == AccountStatus.Frozen)
            return new(AccountRejectionCodes.AccountFrozen, $"account '{debit.AccountId}' is frozen and refuses debits");
        if (debit.Floor is { } floor && debit.Balance - (debit.Held - reserved) - amount < floor)
            return new(AccountRejectionCodes.InsufficientFunds,
                $"account '{debit.AccountId}' has {debit.Available + reserved} {currencyCode} available, the debit is {amount}");
        return null;
    }

    private static Decision Hold(AccountState s, PlaceHold c)
    {
        if (Lifecycle(s) is { } r) return Decision.Reject(r);
        if (!Domain.Currency.TryParse(c.Currency, out var currency))
            return Decision.Reject(AccountRejectionCodes.UnknownCurrency, $"'{c.Currency}' is not an ISO 4217 currency code");
        if (Money.ValidatePositive(c.Amount, currency.Value) is { } bad)
            return Decision.Reject(bad);
        if (s.Currency != c.Currency)
            return Decision.Reject(AccountRejectionCodes.CurrencyMismatch, $"account '{s.AccountId}' is kept in {s.Currency}, the hold is in {c.Currency}");
        if (s.Status == AccountStatus.Frozen)
            return Decision.Reject(AccountRejectionCodes.AccountFrozen, $"account '{s.AccountId}' is frozen and refuses debits");
        if (s.Holds.ContainsKey(c.HoldId))
            return Decision.Reject(AccountRejectionCodes.HoldExists, $"account '{s.AccountId}' already has an open hold '{c.HoldId}'");
        if (s.LastActivityAt is { } last && c.At < last)
            return Decision.Reject(AccountRejectionCodes.BackdatedPosting, $"hold time {c.At:O} precedes account '{s.AccountId}''s last activity {last:O}");
        if (s.Available is { } available && available < c.Amount)
            return Decision.Reject(AccountRejectionCodes.InsufficientFunds, $"account '{s.AccountId}' has {available} {c.Currency} available, the hold is {c.Amount}");
        return Decision.Accept(new PendingEvent(s.AccountId, new HoldPlaced(c.HoldId, c.Amount, c.Currency, c.Reference, c.At)));
    }

    private static Decision Release(AccountState s, ReleaseHold c)
    {
        if (!s.Exists)
            return Decision.Reject(AccountRejectionCodes.AccountNotFound, $"account '{s.AccountId}' does not exist");
        if (!s.Holds.TryGetValue(c.HoldId, out var amount))
            return Decision.Reject(AccountRejectionCodes.HoldNotFound, $"account '{s.AccountId}' has no open hold '{c.HoldId}'");
        return Decision.Accept(new PendingEvent(s.AccountId, new HoldReleased(c.HoldId, amount, c.Reason, Later(s.LastActivityAt, c.At))));
    }

    private static Decision Reverse(IReadOnlyDictionary<string, AccountState> states, ReversePosting c)
    {
        var self = Get(states, c.AccountId);
        if (!self.Exists)
            return Decision.Reject(AccountRejectionCodes.AccountNotFound, $"account '{c.AccountId}' does not exist");
        var o = c.Original;
        if (o is null || (o.DebitAccount != c.AccountId && o.CreditAccount != c.AccountId))
            return Decision.Reject(AccountRejectionCodes.PostingNotFound, $"account '{c.AccountId}' has no posting '{c.PostingId}'");
        if (o.ReversalOf is not null)
            return Decision.Reject(AccountRejectionCodes.ReversalOfReversal, $"posting '{o.PostingId}' is itself the reversal of '{o.ReversalOf}'");
        // The original credit side pays the money back to the original debit side.
        var payer = Get(states, o.CreditAccount);
        var payee = Get(states, o.DebitAccount);
        if (payer.ReversedPostings.Contains(o.PostingId) || payee.ReversedPostings.Contains(o.PostingId))
            return Decision.Reject(AccountRejectionCodes.PostingAlreadyReversed, $"posting '{o.PostingId}' has already been reversed");
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
            return Decision.Reject(AccountRejectionCodes.AccountFrozen, $"account '{s.AccountId}' is already frozen");
        return Decision.Accept(new PendingEvent(s.AccountId, new AccountFrozen(c.Reason, c.At)));
    }

    private static Decision Unfreeze(AccountState s, UnfreezeAccount c)
    {
        if (Lifecycle(s) is { } r) return Decision.Reject(r);
        if (s.Status != AccountStatus.Frozen)
            return Decision.Reject(AccountRejectionCodes.AccountNotFrozen, $"account '{s.AccountId}' is not frozen");
        return Decision.Accept(new PendingEvent(s.AccountId, new AccountUnfrozen(c.Reason, c.At)));
    }

    private static Decision Close(AccountState s, CloseAccount c)
    {
        if (Lifecycle(s) is { } r) return Decision.Reject(r);
        if (s.Balance != 0)
            return Decision.Reject(AccountRejectionCodes.BalanceNotZero, $"account '{s.AccountId}' has balance {s.Balance} {s.Currency}; only a zero balance may be closed");
        if (!s.Holds.IsEmpty)
            return Decision.Reject(AccountRejectionCodes.HoldsPending, $"account '{s.AccountId}' has {s.Holds.Count} open hold(s) of {s.Held} {s.Currency}");
        if (!s.LiveDeals.IsEmpty)
            return Decision.Reject(AccountRejectionCodes.LiveDeals,
                $"account '{s.AccountId}' is a party to {s.LiveDeals.Count} live escrow deal(s) ({string.Join(", ", s.LiveDeals.Order(StringComparer.Ordinal).Take(5))}); it can be closed once they end");
        return Decision.Accept(new PendingEvent(s.AccountId, new AccountClosed(c.At)));
    }

    private static Rejection? Lifecycle(AccountState s) =>
        !s.Exists ? new(AccountRejectionCodes.AccountNotFound, $"account '{s.AccountId}' does not exist")
        : s.Status == AccountStatus.Closed ? new(AccountRejectionCodes.AccountClosed, $"account '{s.AccountId}' is closed")
        : null;
}
