using System.Collections.Immutable;
using Escrow.Domain.Accounts;
using Escrow.Domain.Deals;
using FsCheck;
using FsCheck.Fluent;

namespace Escrow.Domain.Tests.Deals;

/// <summary>
/// The escrow invariants, checked on random command sequences over two deals and their accounts (see
/// <see cref="DealModel"/>) run through <see cref="Deal.Decide"/>, <see cref="Account.Decide"/> and the two Evolves.
/// </summary>
public class DealProperties
{
    private const int Sequences = 300;

    private static readonly ImmutableHashSet<string> StableCodes =
    [
        DealRejectionCodes.DealNotFound, DealRejectionCodes.DealExists, DealRejectionCodes.InvalidTransition,
        DealRejectionCodes.MissingField, DealRejectionCodes.DealExpired, DealRejectionCodes.NotExpired,
        DealRejectionCodes.RefundAtExpiryNotAgreed, DealRejectionCodes.AmountExceedsHeld, DealRejectionCodes.SplitMismatch,
        DealRejectionCodes.EvidenceExists, DealRejectionCodes.ContentHashMismatch, DealRejectionCodes.InvalidExpiry,
        AccountRejectionCodes.InsufficientFunds, AccountRejectionCodes.AccountFrozen, AccountRejectionCodes.AccountNotFrozen, AccountRejectionCodes.InvalidAmount,
        AccountRejectionCodes.AmountPrecision, AccountRejectionCodes.CurrencyMismatch,
    ];

    private static void Holds(Action<DealRun> invariant) =>
        Check.One(
            Config.QuickThrowOnFailure.WithMaxTest(Sequences).WithQuietOnSuccess(true),
            Prop.ForAll(DealModel.Arbitrary, script => invariant(DealModel.Run(script))));

    private static void Require(bool condition, DealExecuted step, string what)
    {
        if (!condition)
            throw new InvalidOperationException($"{what}{Environment.NewLine}at {step}");
    }

    [Fact]
    public void Funded_is_released_plus_refunded_plus_held_and_held_is_never_negative() => Holds(run =>
    {
        foreach (var step in run.Steps)
        {
            foreach (var d in step.DealsAfter.Values)
            {
                Require(d.Funded == d.Released + d.Refunded + d.Held, step,
                    $"{d.DealId}: funded {d.Funded} ≠ released {d.Released} + refunded {d.Refunded} + held {d.Held}");
                Require(d.Held >= 0, step, $"{d.DealId} holds {d.Held}");
                Require(d.Funded == 0 || d.Funded == d.Amount, step, $"{d.DealId} funded {d.Funded} of {d.Amount}");
            }
        }
    });

    [Fact]
    public void The_escrow_accounts_ledger_balance_is_what_the_deal_holds() => Holds(run =>
    {
        foreach (var step in run.Steps.Skip(DealModel.AllAccounts.Length))
        {
            foreach (var d in step.DealsAfter.Values)
            {
                var escrow = step.BooksAfter[DealModel.EscrowOf(d.DealId)];
                Require(escrow.Balance == d.Held, step, $"{escrow.AccountId} has {escrow.Balance}, {d.DealId} holds {d.Held}");
            }
        }
    });

    [Fact]
    public void Buyer_seller_escrow_and_cash_sum_to_zero_after_every_command() => Holds(run =>
    {
        foreach (var step in run.Steps)
        {
            foreach (var byCurrency in step.BooksAfter.Values.GroupBy(s => s.Currency, StringComparer.Ordinal))
            {
                var sum = byCurrency.Sum(s => s.Balance);
                Require(sum == 0m, step, $"{byCurrency.Key} sums to {sum}");
            }
            Require(!step.BooksAfter.TryGetValue(DealModel.Buyer, out var buyer) || buyer.Balance >= 0, step, "the buyer went below zero");
        }
    });

    [Fact]
    public void Every_status_change_is_a_row_of_the_transition_table() => Holds(run =>
    {
        foreach (var step in run.Steps)
        {
            foreach (var (id, before) in step.DealsBefore)
            {
                var after = step.DealsAfter[id];
                var accepted = !step.Decision.IsRejected && step.Command is DealCommand c && c.DealId == id;
                if (accepted)
                {
                    var kind = ((DealCommand)step.Command).Kind;
                    Require(DealTransitions.Allows(kind, before.Status, after.Status), step,
                        $"{kind}: {before.Status.Wire()} → {after.Status.Wire()} is not in the table");
                }
                else
                {
                    Require(ReferenceEquals(before, after), step, $"{id} changed without an accepted command of its own");
                }
            }
        }
    });

    [Fact]
    public void A_rejected_command_writes_nothing_and_uses_a_stable_code() => Holds(run =>
    {
        foreach (var step in run.Steps)
        {
            if (step.Decision.IsRejected)
            {
                Require(step.Decision.Events.Count == 0, step, "a rejection carries events");
                Require(StableCodes.Contains(step.Decision.Rejection!.Code), step, $"unknown rejection code {step.Decision.Rejection.Code}");
                Require(ReferenceEquals(step.BooksBefore, step.BooksAfter) && ReferenceEquals(step.DealsBefore, step.DealsAfter), step, "a rejection changed a state");
            }
            else
            {
                Require(step.Decision.Events.Count > 0, step, "an accepted command writes no event");
            }
        }
    });

    [Fact]
    public void Events_go_only_to_the_deal_and_the_accounts_the_command_names() => Holds(run =>
    {
        foreach (var step in run.Steps.Where(s => s.Command is DealCommand))
        {
            var c = (DealCommand)step.Command;
            foreach (var e in step.Decision.Events)
            {
                Require(e.StreamId == c.DealId || c.Accounts.Contains(e.StreamId), step, $"event on unnamed stream {e.StreamId}");
                Require(e.StreamId == c.DealId ? e.Event is IDealEvent : e.Event is IAccountEvent, step, $"{e.Event.GetType().Name} on {e.StreamId}");
            }
            Require(step.Decision.Events.Count(e => e.StreamId == c.DealId) == (step.Decision.IsRejected ? 0 : 1), step, "not exactly one deal event");
        }
    });

    [Fact]
    public void A_decision_depends_only_on_the_accounts_the_command_names() => Holds(run =>
    {
        foreach (var step in run.Steps)
        {
            var all = step.EverythingLoaded;
            Require(all.Rejection?.Code == step.Decision.Rejection?.Code && all.Events.SequenceEqual(step.Decision.Events), step,
                $"with every stream loaded the decision is {all.Rejection?.ToString() ?? string.Join(", ", all.Events)}");
        }
    });

    [Fact]
    public void Replaying_the_accepted_events_gives_the_same_deals_and_books() => Holds(run =>
    {
        var events = run.AcceptedEvents.ToList();
        foreach (var id in DealModel.Deals)
        {
            var replayed = Deal.Fold(id, events.Where(e => e.StreamId == id).Select(e => e.Event));
            var live = run.Last.DealsAfter[id];
            Require(replayed with { Evidence = [] } == live with { Evidence = [] } && replayed.Evidence.SequenceEqual(live.Evidence),
                run.Last, $"replay of {id} differs");
        }
        foreach (var id in DealModel.AllAccounts)
        {
            var replayed = Account.Fold(id, events.Where(e => e.StreamId == id).Select(e => e.Event));
            Require(replayed.Balance == run.Last.BooksAfter[id].Balance, run.Last, $"replay of {id} differs");
        }
    });

    /// <summary>The generator reaches every status, every kind of deal command, and the rejections it is built to probe.</summary>
    [Fact]
    public void The_generated_sequences_exercise_every_rule()
    {
        var runs = DealModel.Scripts.Sample(3 * Sequences).Select(DealModel.Run).ToList();
        var steps = runs.SelectMany(r => r.Steps).ToList();

        var statuses = steps.SelectMany(s => s.DealsAfter.Values).Select(d => d.Status).ToHashSet();
        Assert.Equal(Enum.GetValues<DealStatus>(), statuses.Order());

        var transitions = steps.Where(s => !s.Decision.IsRejected && s.Command is DealCommand)
            .Select(s => (DealCommand)s.Command)
            .Select(c => c.Kind)
            .ToHashSet();
        Assert.Equal(Enum.GetValues<DealCommandKind>(), transitions.Order());

        var rows = steps.Where(s => !s.Decision.IsRejected && s.Command is DealCommand)
            .Select(s => (Command: (DealCommand)s.Command, s))
            .Select(x => (x.Command.Kind, x.s.DealsBefore[x.Command.DealId].Status, x.s.DealsAfter[x.Command.DealId].Status))
            .ToHashSet();
        Assert.All(DealTransitions.Table, t => Assert.Contains((t.Command, t.From, t.To), rows));

        var codes = steps.Where(s => s.Decision.IsRejected).Select(s => s.Decision.Rejection!.Code).ToHashSet();
        Assert.Equal(StableCodes.Order(StringComparer.Ordinal), codes.Order(StringComparer.Ordinal));
    }
}
