using Escrow.Domain.Accounts;

namespace Escrow.Domain.Tests.Accounts;

/// <summary>
/// A tiny given/when/then harness for the account aggregate:
/// <c>Given(history...)</c> folds the given events per stream with <see cref="Account.Evolve"/>,
/// <c>When(command)</c> runs <see cref="Account.Decide"/> on the states of the streams the command names
/// (as the host does: a stream without history is the empty state), and <c>Then(events)</c> /
/// <c>ThenRejected(code)</c> check the decision. Every history builder returns the events of one fact
/// (a posting is two events on two streams), so facts compose as <c>Given(Opened(..), Posted(..))</c>.
/// </summary>
internal static class AccountSpec
{
    /// <summary>Minute 0 of every scenario; histories and commands are placed by minute offsets from it.</summary>
    public static readonly DateTimeOffset T0 = new(2025, 3, 1, 9, 0, 0, TimeSpan.Zero);

    public static DateTimeOffset At(int minute) => T0.AddMinutes(minute);

    public static Scenario Given(params PendingEvent[][] history) => new(history.SelectMany(h => h).ToList());

    // ----- history (events) -----

    public static PendingEvent[] Opened(
        string id, string currency = "EUR", AccountKind kind = AccountKind.Customer, decimal overdraft = 0m, int at = 0) =>
        [new(id, new AccountOpened(id, "owner-" + id, currency, kind, overdraft, At(at)))];

    /// <summary>Both legs of a posting: the debit on <paramref name="debit"/>, the credit on <paramref name="credit"/>.</summary>
    public static PendingEvent[] Posted(
        string postingId, string debit, string credit, decimal amount, string currency = "EUR", int at = 1,
        PostingKind kind = PostingKind.Transfer, string? reference = null, string? reversalOf = null) =>
    [
        new(debit, new AccountDebited(postingId, amount, currency, credit, kind, reference, reversalOf, At(at))),
        new(credit, new AccountCredited(postingId, amount, currency, debit, kind, reference, reversalOf, At(at))),
    ];

    public static PendingEvent[] Frozen(string id, int at = 2, string? reason = "kyc") => [new(id, new AccountFrozen(reason, At(at)))];

    public static PendingEvent[] Unfrozen(string id, int at = 3, string? reason = "cleared") => [new(id, new AccountUnfrozen(reason, At(at)))];

    public static PendingEvent[] Closed(string id, int at = 4) => [new(id, new AccountClosed(At(at)))];

    // ----- commands -----

    public static OpenAccount Open(
        string id, string currency = "EUR", AccountKind kind = AccountKind.Customer, decimal overdraft = 0m, int at = 10) =>
        new(id, "owner-" + id, currency, kind, overdraft, At(at));

    public static Post Post(
        string postingId, string debit, string credit, decimal amount, string currency = "EUR", int at = 10,
        PostingKind kind = PostingKind.Transfer, string? reference = null) =>
        new(postingId, debit, credit, amount, currency, kind, reference, At(at));

    public static ReversePosting Reverse(
        string accountId, PostingRecord? original, string reversalId = "r1", string? reason = null, int at = 10) =>
        new(accountId, original?.PostingId ?? "missing", reversalId, original, reason, At(at));

    public static PostingRecord Record(
        string postingId, string debit, string credit, decimal amount, string currency = "EUR", string? reversalOf = null) =>
        new(postingId, debit, credit, amount, currency, reversalOf);

    public static FreezeAccount Freeze(string id, int at = 10, string? reason = "kyc") => new(id, reason, At(at));

    public static UnfreezeAccount Unfreeze(string id, int at = 10, string? reason = "cleared") => new(id, reason, At(at));

    public static CloseAccount Close(string id, int at = 10) => new(id, At(at));
}

internal sealed class Scenario(IReadOnlyList<PendingEvent> history)
{
    public IReadOnlyDictionary<string, AccountState> States { get; } = FoldPerStream(history);

    /// <summary>
    /// Decides <paramref name="command"/> as the host does: on the states of exactly the streams the command
    /// names in <see cref="AccountCommand.Streams"/> (a stream without history is the empty state).
    /// </summary>
    public Outcome When(AccountCommand command) => new(command, States, Account.Decide(Visible(States, command), command));

    /// <summary>Decides on every given stream, whether or not the command names it (isolates a rule from the streams contract).</summary>
    public Outcome WhenEveryStreamIsLoaded(AccountCommand command) => new(command, States, Account.Decide(States, command));

    internal static Dictionary<string, AccountState> Visible(IReadOnlyDictionary<string, AccountState> states, AccountCommand command) =>
        command.Streams.Distinct(StringComparer.Ordinal)
            .ToDictionary(id => id, id => states.TryGetValue(id, out var s) ? s : AccountState.Empty(id), StringComparer.Ordinal);

    internal static Dictionary<string, AccountState> FoldPerStream(IEnumerable<PendingEvent> events, IReadOnlyDictionary<string, AccountState>? start = null)
    {
        var states = start is null
            ? new Dictionary<string, AccountState>(StringComparer.Ordinal)
            : new Dictionary<string, AccountState>(start, StringComparer.Ordinal);
        foreach (var e in events)
            states[e.StreamId] = Account.Evolve(states.TryGetValue(e.StreamId, out var s) ? s : AccountState.Empty(e.StreamId), e.Event);
        return states;
    }
}

internal sealed class Outcome(AccountCommand command, IReadOnlyDictionary<string, AccountState> before, Decision decision)
{
    public Decision Decision { get; } = decision;

    /// <summary>The command is accepted and produces exactly <paramref name="expected"/>, in order.</summary>
    public Outcome Then(params PendingEvent[] expected)
    {
        Assert.True(Decision.Rejection is null, $"{command} was rejected: {Decision.Rejection}");
        Assert.Equal(expected, Decision.Events);
        return this;
    }

    /// <summary>The command is refused with the stable <paramref name="code"/>, and nothing is written.</summary>
    public void ThenRejected(string code)
    {
        Assert.True(Decision.IsRejected, $"{command} was accepted with {string.Join(", ", Decision.Events)}");
        Assert.Equal(code, Decision.Rejection!.Code);
        Assert.False(string.IsNullOrWhiteSpace(Decision.Rejection.Message));
        Assert.Empty(Decision.Events);
    }

    /// <summary>Checks one account's state after the accepted events are folded onto the given history.</summary>
    public Outcome AndState(string accountId, Action<AccountState> check)
    {
        var after = Scenario.FoldPerStream(Decision.Events, before);
        Assert.True(after.TryGetValue(accountId, out var s), $"no stream '{accountId}'");
        check(s!);
        return this;
    }
}
