using System.Collections.Immutable;
using Escrow.Domain.Accounts;
using Escrow.Domain.Deals;
using FsCheck;
using FsCheck.Fluent;

namespace Escrow.Domain.Tests.Deals;

/// <summary>What a generated step asks for; the model turns it into a concrete command against the current books.</summary>
internal enum DealOp
{
    Create,
    Fund,
    Release,
    Cancel,
    Expire,
    Dispute,
    Evidence,
    Resolve,
    Deposit,
    Withdraw,
    FreezeBuyer,
    UnfreezeBuyer,
}

/// <summary>
/// One generated step, abstract (deal index, a pick, a twist) so that it still means something after shrinking.
/// <paramref name="Dt"/> advances the model clock by whole minutes before the command (the host's clock never runs back).
/// </summary>
internal sealed record DealStep(DealOp Op, int Deal, decimal Amount, int Pick, int Twist, int Dt, bool Flag)
{
    public override string ToString() => $"{Op}(deal={Deal}, amount={Amount}, pick={Pick}, twist={Twist}, dt={Dt}, flag={Flag})";
}

internal sealed record DealScript(IReadOnlyList<DealStep> Steps)
{
    public override string ToString() =>
        $"Script of {Steps.Count} steps:{Environment.NewLine}  " + string.Join(Environment.NewLine + "  ", Steps);
}

/// <summary>One command through its Decide, with the deals and the books before and after its events were folded in.</summary>
internal sealed record DealExecuted(
    int Index, object Command, Decision Decision, Decision EverythingLoaded,
    ImmutableDictionary<string, DealState> DealsBefore, ImmutableDictionary<string, DealState> DealsAfter,
    ImmutableDictionary<string, AccountState> BooksBefore, ImmutableDictionary<string, AccountState> BooksAfter)
{
    public override string ToString() =>
        $"#{Index} {Command} -> {(Decision.IsRejected ? Decision.Rejection!.ToString() : string.Join(", ", Decision.Events))}";
}

internal sealed record DealRun(IReadOnlyList<DealExecuted> Steps)
{
    public DealExecuted Last => Steps[^1];

    public IEnumerable<PendingEvent> AcceptedEvents => Steps.Where(s => !s.Decision.IsRejected).SelectMany(s => s.Decision.Events);
}

/// <summary>
/// A random-command model of two escrow deals (<c>d0</c>, <c>d1</c>) between one buyer and one seller (EUR customers),
/// each with its own internal escrow account, next to the operator's cash account that deposits and withdrawals
/// go through. The host's part is played as the host does it: accounts opened up front, commands bound to the
/// deal's accounts (<see cref="DealCommand.For"/>), Decide given exactly the account streams the command names,
/// and expiry fired by a timer at the deal's expiry instant (or early, to probe <c>not_expired</c>).
/// </summary>
internal static class DealModel
{
    public const string Cash = "cash";
    public const string Buyer = "buyer";
    public const string Seller = "seller";
    public static readonly string[] Deals = ["d0", "d1"];

    public static string EscrowOf(string dealId) => "escrow-" + dealId;

    public static readonly string[] AllAccounts = [Cash, Buyer, Seller, .. Deals.Select(EscrowOf)];

    // ----- generators -----

    /// <summary>Positive amounts up to 200 major units with 0-3 decimals, now and then zero or a negative one.</summary>
    private static readonly Gen<decimal> Amounts =
        from decimals in Gen.Frequency((3, Gen.Constant(0)), (1, Gen.Constant(1)), (5, Gen.Constant(2)), (1, Gen.Constant(3)))
        let scale = decimals switch { 0 => 1, 1 => 10, 2 => 100, _ => 1000 }
        from units in Gen.Frequency((1, Gen.Choose(-2 * scale, 0)), (30, Gen.Choose(1, 200 * scale)))
        select (decimal)units / scale;

    private static readonly Gen<int> Minutes = Gen.Frequency((6, Gen.Constant(1)), (2, Gen.Constant(0)), (2, Gen.Constant(10)), (1, Gen.Constant(45)));

    private static Gen<DealStep> StepOf(DealOp op, Gen<int> pick) =>
        from deal in Gen.Choose(0, Deals.Length - 1)
        from amount in Amounts
        from p in pick
        from twist in Gen.Choose(0, 19)
        from dt in Minutes
        from flag in Gen.Frequency((2, Gen.Constant(true)), (1, Gen.Constant(false)))
        select new DealStep(op, deal, amount, p, twist, dt, flag);

    public static readonly Gen<DealStep> Steps = Gen.Frequency(
        (3, StepOf(DealOp.Create, Gen.Choose(0, 4))),
        (12, StepOf(DealOp.Fund, Gen.Constant(0))),
        (12, StepOf(DealOp.Release, Gen.Choose(0, 3))),
        (4, StepOf(DealOp.Cancel, Gen.Constant(0))),
        (5, StepOf(DealOp.Expire, Gen.Choose(0, 3))),
        (6, StepOf(DealOp.Dispute, Gen.Choose(0, 1))),
        (6, StepOf(DealOp.Evidence, Gen.Choose(0, 1))),
        (6, StepOf(DealOp.Resolve, Gen.Choose(0, 6))),
        (6, StepOf(DealOp.Deposit, Gen.Constant(0))),
        (3, StepOf(DealOp.Withdraw, Gen.Constant(0))),
        (2, StepOf(DealOp.FreezeBuyer, Gen.Constant(0))),
        (3, StepOf(DealOp.UnfreezeBuyer, Gen.Constant(0))));

    /// <summary>A deposit of 400 to the buyer, a creation of each deal, then 10 to 60 random steps.</summary>
    public static readonly Gen<DealScript> Scripts =
        from deposit in StepOf(DealOp.Deposit, Gen.Constant(0))
        from c0 in StepOf(DealOp.Create, Gen.Choose(0, 4))
        from c1 in StepOf(DealOp.Create, Gen.Choose(0, 4))
        from n in Gen.Choose(10, 60)
        from rest in Gen.ArrayOf(Steps, n)
        select new DealScript([deposit with { Amount = 399m }, c0 with { Deal = 0 }, c1 with { Deal = 1 }, .. rest]);

    /// <summary>Shrinks by dropping a half, a quarter, ... then single steps.</summary>
    public static IEnumerable<DealScript> Shrink(DealScript script)
    {
        var steps = script.Steps;
        for (var chunk = steps.Count / 2; chunk >= 1; chunk /= 2)
        {
            for (var start = 0; start + chunk <= steps.Count; start += chunk)
                yield return new DealScript([.. steps.Take(start), .. steps.Skip(start + chunk)]);
        }
    }

    public static Arbitrary<DealScript> Arbitrary => Arb.From(Scripts, Shrink);

    // ----- running -----

    public static DealRun Run(DealScript script)
    {
        var books = ImmutableDictionary.Create<string, AccountState>(StringComparer.Ordinal);
        var deals = Deals.ToImmutableDictionary(d => d, DealState.Empty, StringComparer.Ordinal);
        var executed = new List<DealExecuted>();
        var clock = DealSpec.T0;

        void Fold(Decision decision)
        {
            // Fold whatever the decision carries: a rejection that carried events would show up as a changed state.
            foreach (var e in decision.Events)
            {
                if (deals.TryGetValue(e.StreamId, out var deal))
                    deals = deals.SetItem(e.StreamId, Deal.Evolve(deal, e.Event));
                else
                    books = books.SetItem(e.StreamId, Account.Evolve(Of(books, e.StreamId), e.Event));
            }
        }

        void Execute(object command)
        {
            var (dealsBefore, booksBefore) = (deals, books);
            Decision decision, everything;
            if (command is DealCommand dc)
            {
                var deal = deals[dc.DealId];
                var bound = dc is CreateDeal ? dc : dc.For(deal);
                command = bound;
                decision = Deal.Decide(new(deal, DealScenario.Visible(books, bound)), bound);
                everything = Deal.Decide(new(deal, books), bound);
            }
            else
            {
                var ac = (AccountCommand)command;
                decision = Account.Decide(global::Escrow.Domain.Tests.Accounts.Scenario.Visible(books, ac), ac);
                everything = Account.Decide(books, ac);
            }
            Fold(decision);
            executed.Add(new DealExecuted(executed.Count, command, decision, everything, dealsBefore, deals, booksBefore, books));
        }

        foreach (var id in AllAccounts)
            Execute(new OpenAccount(id, "owner-" + id, "EUR", id is Buyer or Seller ? AccountKind.Customer : AccountKind.Internal, 0m, clock));

        var index = 0;
        foreach (var step in script.Steps)
        {
            clock = clock.AddMinutes(step.Dt);
            var command = ToCommand(step, index++, deals, ref clock);
            Execute(command);
        }
        return new DealRun(executed);
    }

    private static AccountState Of(IReadOnlyDictionary<string, AccountState> books, string id) =>
        books.TryGetValue(id, out var s) ? s : AccountState.Empty(id);

    private static object ToCommand(DealStep step, int index, ImmutableDictionary<string, DealState> deals, ref DateTimeOffset clock)
    {
        var id = Deals[step.Deal % Deals.Length];
        var deal = deals[id];
        switch (step.Op)
        {
            case DealOp.Create:
                var expiresIn = step.Pick switch { 0 => 0, 1 => 20, 2 => 60, _ => 240 };
                var currency = step.Twist == 0 ? "JPY" : "EUR";
                return new CreateDeal(id, "bank-1", "tpl", Buyer, Seller, EscrowOf(id), step.Amount, currency,
                    clock.AddMinutes(expiresIn), step.Flag, "ext-" + index, "terms", clock);
            case DealOp.Fund:
                return new FundDeal(id, clock);
            case DealOp.Release:
                var amount = step.Pick switch
                {
                    0 => deal.Held,
                    1 => decimal.Round(deal.Held / 3, 2, MidpointRounding.ToZero),
                    2 => deal.Held + 0.01m,
                    _ => step.Amount,
                };
                return new ReleaseDeal(id, amount, clock);
            case DealOp.Cancel:
                return new CancelDeal(id, "cancelled by operator", clock);
            case DealOp.Expire:
                // The timer fires at the expiry instant, or now (possibly early), or later.
                if (step.Pick > 0 && deal.Exists && deal.ExpiresAt > clock)
                    clock = deal.ExpiresAt.AddMinutes(step.Pick - 1);
                return new ExpireDeal(id, clock);
            case DealOp.Dispute:
                return new OpenDispute(id, step.Pick == 0 ? DealParty.Buyer : DealParty.Seller, step.Twist < 3 ? "" : "not as agreed", clock);
            case DealOp.Evidence:
                var content = "evidence " + step.Amount;
                var hash = step.Twist < 3 ? DealSpec.Sha("something else") : DealSpec.Sha(content);
                return new SubmitEvidence(id, "ev-" + step.Pick, "document", content, null, hash, step.Flag ? "buyer" : "seller", clock);
            case DealOp.Resolve:
                var buyerShare = step.Pick <= 4 ? decimal.Round(deal.Held * step.Pick / 4, 2, MidpointRounding.ToZero) : decimal.Round(deal.Held / 2, 2, MidpointRounding.ToZero);
                var sellerShare = deal.Held - buyerShare;
                if (step.Pick == 5) sellerShare += 0.01m;
                if (step.Pick == 6) (buyerShare, sellerShare) = (-1m, deal.Held + 1m);
                return new ResolveDispute(id, "arbiter", buyerShare, sellerShare, null, clock);
            case DealOp.Deposit:
                return new Post("p" + index, Cash, Buyer, Math.Abs(step.Amount) + 1m, "EUR", PostingKind.Deposit, null, clock);
            case DealOp.Withdraw:
                return new Post("p" + index, Buyer, Cash, step.Amount, "EUR", PostingKind.Withdrawal, null, clock);
            case DealOp.FreezeBuyer:
                return new FreezeAccount(Buyer, "review", clock);
            case DealOp.UnfreezeBuyer:
                return new UnfreezeAccount(Buyer, "cleared", clock);
            default:
                throw new ArgumentOutOfRangeException(nameof(step), step.Op, "unknown op");
        }
    }
}
