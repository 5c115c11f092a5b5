using System.Collections.Immutable;
using Escrow.Domain.Accounts;
using FsCheck;
using FsCheck.Fluent;

namespace Escrow.Domain.Tests.Accounts;

/// <summary>What a generated step asks for; the model turns it into a concrete command against the current ledger.</summary>
internal enum Op
{
    Open,
    Deposit,
    Withdraw,
    Transfer,
    Sweep,
    Drain,
    Reverse,
    Freeze,
    Unfreeze,
    Close,
}

/// <summary>
/// One generated step, kept abstract (account and posting indexes, not ids) so that it still means something
/// after shrinking removes earlier steps. <paramref name="Twist"/> 0 posts in another of the test currencies
/// (<c>currency_mismatch</c>), 1 in a non-ISO code; anything else posts in the account's own currency.
/// <paramref name="Dt"/> moves the command's clock by whole minutes (negative: back-dated).
/// </summary>
internal sealed record Step(Op Op, int A, int B, decimal Amount, int Pick, int Twist, int Dt)
{
    public override string ToString() => $"{Op}(a={A}, b={B}, amount={Amount}, pick={Pick}, twist={Twist}, dt={Dt})";
}

internal sealed record Script(IReadOnlyList<Step> Steps)
{
    public override string ToString() =>
        $"Script of {Steps.Count} steps:{Environment.NewLine}  " + string.Join(Environment.NewLine + "  ", Steps);
}

/// <summary>One command run through Decide, with the ledger before and after its events were folded in.</summary>
internal sealed record Executed(
    int Index, AccountCommand Command, Decision Decision,
    ImmutableDictionary<string, AccountState> Before, ImmutableDictionary<string, AccountState> After)
{
    public override string ToString() =>
        $"#{Index} {Command} -> {(Decision.IsRejected ? Decision.Rejection!.ToString() : string.Join(", ", Decision.Events))}";
}

internal sealed record LedgerRun(IReadOnlyList<Executed> Steps)
{
    public ImmutableDictionary<string, AccountState> Final => Steps[^1].After;

    /// <summary>Every event of every accepted command, in commit order.</summary>
    public IEnumerable<PendingEvent> AcceptedEvents => Steps.Where(s => !s.Decision.IsRejected).SelectMany(s => s.Decision.Events);
}

/// <summary>
/// A random-command model of the ledger: three currencies (EUR and CZK with cents, JPY without), an internal cash
/// account and an external clearing account per currency, six customer accounts opened with random currencies and
/// overdraft limits. Commands are built the way the host builds them: a reversal carries the
/// <see cref="PostingRecord"/> found in the log of accepted postings, and <c>Decide</c> sees the states of exactly
/// the streams the command names.
/// </summary>
internal static class LedgerModel
{
    public static readonly string[] Currencies = ["EUR", "JPY", "CZK"];
    public static readonly string[] Customers = ["c0", "c1", "c2", "c3", "c4", "c5"];
    public static readonly string[] Operators = [.. Currencies.Select(Cash), .. Currencies.Select(Bank)];
    public static readonly string[] AllAccounts = [.. Customers, .. Operators];

    public static string Cash(string currency) => "cash-" + currency;

    public static string Bank(string currency) => "bank-" + currency;

    // ----- generators -----

    /// <summary>Positive amounts up to 500 major units with 0-3 decimals, and now and then zero or a negative one.</summary>
    public static readonly Gen<decimal> Amounts =
        from decimals in Gen.Frequency((4, Gen.Constant(0)), (1, Gen.Constant(1)), (4, Gen.Constant(2)), (1, Gen.Constant(3)))
        let scale = decimals switch { 0 => 1, 1 => 10, 2 => 100, _ => 1000 }
        from units in Gen.Frequency((1, Gen.Choose(-2 * scale, 0)), (30, Gen.Choose(1, 500 * scale)))
        select (decimal)units / scale;

    private static readonly Gen<int> Minutes = Gen.Frequency((12, Gen.Constant(1)), (3, Gen.Constant(0)), (1, Gen.Constant(-3)));

    private static readonly Gen<int> Customer = Gen.Choose(0, Customers.Length - 1);

    /// <summary>Mostly a customer, now and then an operator account (index into <see cref="AllAccounts"/>).</summary>
    private static readonly Gen<int> AnyAccount = Gen.Frequency((9, Customer), (1, Gen.Choose(Customers.Length, AllAccounts.Length - 1)));

    private static readonly Gen<int> Twists = Gen.Frequency((1, Gen.Constant(0)), (1, Gen.Constant(1)), (28, Gen.Constant(9)));

    private static Gen<Step> StepOf(Op op, Gen<int> a, Gen<int> b, Gen<int> pick) =>
        from x in a
        from y in b
        from amount in Amounts
        from p in pick
        from twist in Twists
        from dt in Minutes
        select new Step(op, x, y, amount, p, twist, dt);

    private static Gen<Step> OpenStep(Gen<int> account) => StepOf(Op.Open, account, Gen.Choose(0, 12), Gen.Choose(0, 9));

    public static readonly Gen<Step> Steps = Gen.Frequency(
        (8, OpenStep(Customer)),
        (18, StepOf(Op.Deposit, Customer, Gen.Choose(0, 3), Gen.Constant(0))),
        (10, StepOf(Op.Withdraw, Customer, Gen.Choose(0, 3), Gen.Constant(0))),
        (22, StepOf(Op.Transfer, Customer, Customer, Gen.Constant(0))),
        (5, StepOf(Op.Sweep, Customer, Gen.Constant(0), Gen.Constant(0))),
        (6, StepOf(Op.Drain, Customer, Gen.Choose(0, 3), Gen.Choose(-1, 1))),
        (12, StepOf(Op.Reverse, Customer, Gen.Frequency((5, Gen.Constant(0)), (5, Gen.Constant(1)), (1, Gen.Constant(2)), (1, Gen.Constant(3))), Gen.Choose(0, 6))),
        (5, StepOf(Op.Freeze, AnyAccount, Gen.Constant(0), Gen.Constant(0))),
        (5, StepOf(Op.Unfreeze, AnyAccount, Gen.Constant(0), Gen.Constant(0))),
        (6, StepOf(Op.Close, AnyAccount, Gen.Constant(0), Gen.Constant(0))));

    /// <summary>An opening of every customer account (random currency and limit), then 10 to 80 random steps.</summary>
    public static readonly Gen<Script> Scripts =
        from opens in Gen.CollectToArray(Enumerable.Range(0, Customers.Length), i => OpenStep(Gen.Constant(i)))
        from n in Gen.Choose(10, 80)
        from rest in Gen.ArrayOf(Steps, n)
        select new Script([.. opens, .. rest]);

    /// <summary>Shrinks by dropping a half, a quarter, ... then single steps.</summary>
    public static IEnumerable<Script> Shrink(Script script)
    {
        var steps = script.Steps;
        for (var chunk = steps.Count / 2; chunk >= 1; chunk /= 2)
        {
            for (var start = 0; start + chunk <= steps.Count; start += chunk)
                yield return new Script([.. steps.Take(start), .. steps.Skip(start + chunk)]);
        }
    }

    public static Arbitrary<Script> Arbitrary => Arb.From(Scripts, Shrink);

    // ----- running -----

    public static LedgerRun Run(Script script)
    {
        var states = ImmutableDictionary.Create<string, AccountState>(StringComparer.Ordinal);
        var log = new List<PostingRecord>();
        var executed = new List<Executed>();
        var clock = AccountSpec.T0;

        void Execute(AccountCommand command)
        {
            var decision = Account.Decide(Scenario.Visible(states, command), command);
            var before = states;
            // Fold whatever the decision carries: a rejection that carried events would show up as a changed state.
            foreach (var e in decision.Events)
                states = states.SetItem(e.StreamId, Account.Evolve(StateOf(states, e.StreamId), e.Event));
            executed.Add(new Executed(executed.Count, command, decision, before, states));
            if (decision.IsRejected)
                return;
            var debit = decision.Events.FirstOrDefault(e => e.Event is AccountDebited);
            var credit = decision.Events.FirstOrDefault(e => e.Event is AccountCredited);
            if (debit is { Event: AccountDebited d } && credit is not null)
                log.Add(new PostingRecord(d.PostingId, debit.StreamId, credit.StreamId, d.Amount, d.Currency, d.ReversalOf));
        }

        foreach (var currency in Currencies)
        {
            Execute(new OpenAccount(Cash(currency), "operator", currency, AccountKind.Internal, 0m, clock));
            Execute(new OpenAccount(Bank(currency), "partner bank", currency, AccountKind.External, 0m, clock));
        }

        for (var i = 0; i < script.Steps.Count; i++)
        {
            var step = script.Steps[i];
            var at = clock.AddMinutes(step.Dt);
            if (at > clock)
                clock = at;
            Execute(Command(step, i, states, log, at));
        }
        return new LedgerRun(executed);
    }

    public static AccountState StateOf(IReadOnlyDictionary<string, AccountState> states, string id) =>
        states.TryGetValue(id, out var s) ? s : AccountState.Empty(id);

    private static AccountCommand Command(
        Step step, int index, ImmutableDictionary<string, AccountState> states, List<PostingRecord> log, DateTimeOffset at)
    {
        var customer = Customers[step.A % Customers.Length];
        var own = CurrencyOf(states, customer);
        var postingId = $"p{index}";
        switch (step.Op)
        {
            case Op.Open:
                var (kind, limit) = (step.Pick % 10) switch
                {
                    3 => (AccountKind.Customer, 10m),
                    4 => (AccountKind.Customer, 50.5m),
                    5 => (AccountKind.Customer, 1000m),
                    6 => (AccountKind.Customer, -1m),
                    7 => (AccountKind.Customer, 0.001m),
                    8 => (AccountKind.Internal, 10m),
                    9 => (AccountKind.External, 0m),
                    _ => (AccountKind.Customer, 0m),
                };
                var currency = step.B < 12 ? Currencies[step.B % Currencies.Length] : "XXX";
                return new OpenAccount(customer, "owner-" + customer, currency, kind, limit, at);

            case Op.Deposit:
                return Post(postingId, step.B == 0 ? Bank(own) : Cash(own), customer, step, own, PostingKind.Deposit, at);

            case Op.Withdraw:
                return Post(postingId, customer, step.B == 0 ? Bank(own) : Cash(own), step, own, PostingKind.Withdrawal, at);

            case Op.Transfer:
                return Post(postingId, customer, Customers[step.B % Customers.Length], step, own, PostingKind.Transfer, at);

            case Op.Sweep:
                // Brings the account back to zero (so that it can be closed) through the operator's cash account.
                var balance = StateOf(states, customer).Balance;
                return balance > 0
                    ? new Post(postingId, customer, Cash(own), balance, own, PostingKind.Withdrawal, "sweep", at)
                    : new Post(postingId, Cash(own), customer, -balance, own, PostingKind.Deposit, "sweep", at);

            case Op.Drain:
                // Withdraws what is available, give or take one minor unit (pick -1, 0, +1): probes the floor exactly.
                var drained = StateOf(states, customer);
                var minorUnit = new decimal(1, 0, 0, false, (byte)Currency.Parse(own).MinorUnits); // 10^-minor units, exactly
                var available = drained.Available ?? drained.Balance;
                return Post(postingId, customer, step.B == 0 ? Bank(own) : Cash(own), step with { Amount = available + step.Pick * minorUnit },
                    own, PostingKind.Withdrawal, at);

            case Op.Reverse:
                if (log.Count == 0 || step.B == 3)
                    return new ReversePosting(customer, "p-missing", "r" + index, null, null, at);
                var original = log[log.Count - 1 - step.Pick % log.Count];
                var requester = step.B switch
                {
                    0 => original.DebitAccount,
                    1 => original.CreditAccount,
                    _ => AllAccounts.Skip(step.A).Concat(AllAccounts)
                        .First(a => a != original.DebitAccount && a != original.CreditAccount),
                };
                return new ReversePosting(requester, original.PostingId, "r" + index, original, null, at);

            case Op.Freeze:
                return new FreezeAccount(AllAccounts[step.A % AllAccounts.Length], "review", at);
            case Op.Unfreeze:
                return new UnfreezeAccount(AllAccounts[step.A % AllAccounts.Length], "cleared", at);
            case Op.Close:
                return new CloseAccount(AllAccounts[step.A % AllAccounts.Length], at);
            default:
                throw new ArgumentOutOfRangeException(nameof(step), step.Op, "unknown op");
        }
    }

    private static Post Post(string postingId, string debit, string credit, Step step, string own, PostingKind kind, DateTimeOffset at)
    {
        var currency = step.Twist switch
        {
            0 => Currencies[(Array.IndexOf(Currencies, own) + 1) % Currencies.Length],
            1 => "XXX",
            _ => own,
        };
        return new Post(postingId, debit, credit, step.Amount, currency, kind, null, at);
    }

    /// <summary>The account's currency, or EUR for an account not opened (yet).</summary>
    private static string CurrencyOf(IReadOnlyDictionary<string, AccountState> states, string id) =>
        states.TryGetValue(id, out var s) && s.Exists ? s.Currency : "EUR";
}
