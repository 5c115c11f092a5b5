using System.Collections.Immutable;
using Escrow.Domain.Accounts;
using FsCheck;
using FsCheck.Fluent;

namespace Escrow.Domain.Tests.Accounts;

/// <summary>
/// The money invariants of the ledger, checked on random command sequences (see <see cref="LedgerModel"/>)
/// run through <see cref="Account.Decide"/> and <see cref="Account.Evolve"/>.
/// </summary>
public class LedgerProperties
{
    private const int Sequences = 400;

    private static readonly ImmutableHashSet<string> StableCodes =
    [
        AccountRejectionCodes.AccountNotFound, AccountRejectionCodes.AccountExists, AccountRejectionCodes.AccountFrozen,
        AccountRejectionCodes.AccountClosed, AccountRejectionCodes.AccountNotFrozen, AccountRejectionCodes.BalanceNotZero,
        AccountRejectionCodes.InsufficientFunds, AccountRejectionCodes.CurrencyMismatch, AccountRejectionCodes.InvalidAmount,
        AccountRejectionCodes.AmountPrecision, AccountRejectionCodes.SameAccount, AccountRejectionCodes.InvalidOverdraft,
        AccountRejectionCodes.BackdatedPosting, AccountRejectionCodes.PostingNotFound, AccountRejectionCodes.PostingAlreadyReversed,
        AccountRejectionCodes.ReversalOfReversal, "unknown_currency",
    ];

    private static void Holds(Action<LedgerRun> invariant) =>
        Check.One(
            Config.QuickThrowOnFailure.WithMaxTest(Sequences).WithQuietOnSuccess(true),
            Prop.ForAll(LedgerModel.Arbitrary, script => invariant(LedgerModel.Run(script))));

    private static void Require(bool condition, Executed step, string what)
    {
        if (!condition)
            throw new InvalidOperationException($"{what}{Environment.NewLine}at {step}");
    }

    [Fact]
    public void A_customer_balance_never_goes_below_its_floor() => Holds(run =>
    {
        foreach (var step in run.Steps)
        {
            foreach (var s in step.After.Values.Where(s => s.Exists && s.Kind == AccountKind.Customer))
                Require(s.Balance >= -s.OverdraftLimit, step, $"{s.AccountId} has {s.Balance} {s.Currency}, floor {-s.OverdraftLimit}");
        }
    });

    [Fact]
    public void Every_currency_sums_to_exactly_zero_after_every_command() => Holds(run =>
    {
        foreach (var step in run.Steps)
        {
            // Streams that do not exist (currency "") are included: money must not land on them either.
            foreach (var byCurrency in step.After.Values.GroupBy(s => s.Currency, StringComparer.Ordinal))
            {
                var sum = byCurrency.Sum(s => s.Balance);
                Require(sum == 0m, step, $"{byCurrency.Key} sums to {sum}");
            }
        }
    });

    [Fact]
    public void A_posting_is_reversed_at_most_once_and_only_an_original_posting_is() => Holds(run =>
    {
        var originals = new Dictionary<string, Executed>(StringComparer.Ordinal);
        var reversed = new HashSet<string>(StringComparer.Ordinal);
        foreach (var step in run.Steps.Where(s => !s.Decision.IsRejected))
        {
            foreach (var e in step.Decision.Events)
            {
                if (e.Event is AccountDebited { ReversalOf: null } d)
                    originals[d.PostingId] = step;
                if (e.Event is AccountDebited { ReversalOf: { } of })
                {
                    Require(originals.ContainsKey(of), step, $"{of} is not an original posting");
                    Require(reversed.Add(of), step, $"{of} reversed a second time");
                }
            }
            // Both legs of every reversal are recorded on both accounts.
            foreach (var e in step.Decision.Events)
            {
                var of2 = e.Event switch { AccountDebited d => d.ReversalOf, AccountCredited c => c.ReversalOf, _ => null };
                if (of2 is not null)
                    Require(step.After[e.StreamId].ReversedPostings.Contains(of2), step, $"{e.StreamId} does not record {of2} as reversed");
            }
        }
    });

    [Fact]
    public void A_rejected_command_writes_nothing_and_changes_no_state() => Holds(run =>
    {
        foreach (var step in run.Steps)
        {
            if (step.Decision.IsRejected)
            {
                Require(step.Decision.Events.Count == 0, step, "a rejection carries events");
                Require(StableCodes.Contains(step.Decision.Rejection!.Code), step, $"unknown rejection code {step.Decision.Rejection.Code}");
                Require(ReferenceEquals(step.Before, step.After) || SameLedger(step.Before, step.After), step, "a rejection changed a state");
            }
            else
            {
                Require(step.Decision.Events.Count > 0, step, "an accepted command writes no event");
            }
        }
    });

    [Fact]
    public void Frozen_accounts_are_never_debited_and_closed_accounts_never_change() => Holds(run =>
    {
        foreach (var step in run.Steps)
        {
            foreach (var (id, before) in step.Before)
            {
                var after = step.After[id];
                var events = step.Decision.Events.Where(e => e.StreamId == id).Select(e => e.Event).ToList();
                if (before.Status == AccountStatus.Frozen)
                {
                    Require(!events.OfType<AccountDebited>().Any(), step, $"frozen {id} was debited");
                    Require(after.Balance >= before.Balance, step, $"frozen {id} lost money");
                }
                if (before.Status == AccountStatus.Closed)
                {
                    Require(events.Count == 0, step, $"closed {id} got events");
                    Require(SameState(before, after), step, $"closed {id} changed");
                }
            }
        }
    });

    [Fact]
    public void Replaying_the_accepted_events_from_empty_states_gives_the_same_ledger() => Holds(run =>
    {
        var events = run.AcceptedEvents.ToList();
        var last = run.Steps[^1];
        var perStream = events.GroupBy(e => e.StreamId, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => Account.Fold(g.Key, g.Select(e => e.Event)), StringComparer.Ordinal);
        Require(SameLedger(run.Final, perStream), last, "replay per stream differs from the live states");
        var again = Scenario.FoldPerStream(events);
        Require(SameLedger(again, perStream), last, "two replays differ");
    });

    [Fact]
    public void Events_go_only_to_streams_the_command_names() => Holds(run =>
    {
        foreach (var step in run.Steps)
        {
            foreach (var e in step.Decision.Events)
                Require(step.Command.Streams.Contains(e.StreamId), step, $"event on unnamed stream {e.StreamId}");
        }
    });

    [Fact] // regression: ReversePosting.Streams omitted the asking account
    public void A_decision_depends_only_on_the_streams_the_command_names() => Holds(run =>
    {
        foreach (var step in run.Steps)
        {
            var everything = Account.Decide(step.Before, step.Command);
            Require(
                everything.Rejection?.Code == step.Decision.Rejection?.Code && everything.Events.SequenceEqual(step.Decision.Events),
                step, $"with every stream loaded the decision is {everything.Rejection?.ToString() ?? string.Join(", ", everything.Events)}");
        }
    });

    /// <summary>The generator reaches every rejection code and every kind of accepted command.</summary>
    [Fact]
    public void The_generated_sequences_exercise_every_rule()
    {
        var runs = LedgerModel.Scripts.Sample(Sequences).Select(LedgerModel.Run).ToList();
        var steps = runs.SelectMany(r => r.Steps).ToList();
        var codes = steps.Where(s => s.Decision.IsRejected).Select(s => s.Decision.Rejection!.Code).ToHashSet();
        Assert.Equal(StableCodes.OrderBy(c => c, StringComparer.Ordinal), codes.Order(StringComparer.Ordinal));

        var accepted = steps.Where(s => !s.Decision.IsRejected).Select(s => s.Command.GetType().Name).ToHashSet();
        Assert.Equal(
            new[] { nameof(CloseAccount), nameof(FreezeAccount), nameof(OpenAccount), nameof(Post), nameof(ReversePosting), nameof(UnfreezeAccount) },
            accepted.Order(StringComparer.Ordinal));

        Assert.Contains(steps, s => s.After.Values.Any(a => a.Kind == AccountKind.Customer && a.Balance < 0));
        Assert.Contains(steps, s => s.After.Values.Any(a => a.Status == AccountStatus.Frozen && a.Balance > s.Before[a.AccountId].Balance));
        Assert.Contains(steps, s => !s.Decision.IsRejected && s.Command is Post { Currency: "JPY" });
        Assert.Contains(steps, s => !s.Decision.IsRejected && s.Command is Post { Currency: "CZK" });
    }

    private static bool SameLedger(IReadOnlyDictionary<string, AccountState> a, IReadOnlyDictionary<string, AccountState> b) =>
        a.Count == b.Count && a.All(kv => b.TryGetValue(kv.Key, out var other) && SameState(kv.Value, other));

    /// <summary>Structural equality (the record's own equality compares the reversed-posting set by reference).</summary>
    private static bool SameState(AccountState a, AccountState b) =>
        a with { ReversedPostings = [] } == b with { ReversedPostings = [] } && a.ReversedPostings.SetEquals(b.ReversedPostings);
}
