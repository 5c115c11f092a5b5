using Escrow.Domain.Accounts;
using Escrow.Domain.Payments;
using FsCheck;
using FsCheck.Fluent;
using static Escrow.Domain.Tests.Payments.PaymentSpec;

namespace Escrow.Domain.Tests.Payments;

/// <summary>
/// Money is conserved across accept, reject and partial return: random command sequences run through the payment
/// aggregate and the postings it implies (<see cref="PaymentLedger.Apply"/>, decided by the account aggregate) as the
/// host does — a ledger rejection refuses the whole command. After every step: every currency sums to zero, the
/// debtor's hold is open exactly while the payment awaits its outcome, and the debtor's balance is its funding minus
/// what settled plus what came back.
/// </summary>
public class PaymentLedgerProperties
{
    private const string Debtor = "alice";
    private const string Cash = "cash-usd";
    private static readonly PaymentBooking Plain = new(BookingDirection.Outgoing, Debtor, "clr-021040078-USD");
    private static readonly PaymentBooking Fx = new(BookingDirection.Outgoing, Debtor, "clr-021040078-EUR",
        "fxp-a-USD", "fxp-a-EUR", TargetAmount: 920m, TargetCurrency: "EUR");

    private static PaymentCommand[] Pool(PaymentBooking booking) =>
    [
        new InitiatePayment(Pacs008(), At(5), booking),
        new ValidatePayment(U, null, At(6)),
        new ValidatePayment(U, "sanctions", At(6)),
        new ForwardPayment(U, "021040078", At(7)),
        new ReportStatus(Pacs002("ACSC"), At(8)),
        new ReportStatus(Pacs002("RJCT", "AC04"), At(8)),
        new CompletePayment(U, Usd(1000m), "N1", At(9)),
        new ReturnPayment(Pacs004(400m, returnId: "R1"), At(12)),
        new ReturnPayment(Pacs004(600m, returnId: "R2"), At(12)),
        new ReturnPayment(Pacs004(250.55m, returnId: "R3"), At(12)),
        new ReturnPayment(Pacs004(1000m, returnId: "R4"), At(12)),
    ];

    private static readonly Arbitrary<(int Funding, bool UseFx, int[] Script)> Cases = Arb.From(
        from funding in Gen.Elements(0, 999, 1000, 2500)
        from fx in Gen.Elements(false, true)
        from script in Gen.ArrayOf(Gen.Choose(0, 10))
        select (funding, fx, script));

    [Fact]
    public void Money_is_conserved_and_the_debtor_is_charged_exactly_what_settled_minus_what_returned() =>
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(1000).WithQuietOnSuccess(true), Prop.ForAll(Cases, c =>
        {
            var booking = c.UseFx ? Fx : Plain;
            var pool = Pool(booking);
            var accounts = new Dictionary<string, AccountState>(StringComparer.Ordinal);
            void Fold(IEnumerable<PendingEvent> events)
            {
                foreach (var e in events)
                    accounts[e.StreamId] = Account.Evolve(accounts.TryGetValue(e.StreamId, out var s) ? s : AccountState.Empty(e.StreamId), e.Event);
            }
            Fold([
                new(Cash, new AccountOpened(Cash, "bank", "USD", AccountKind.Internal, 0, At(0))),
                new(Debtor, new AccountOpened(Debtor, "Alice", "USD", AccountKind.Customer, 0, At(0))),
            ]);
            if (c.Funding > 0)
                Fold(Account.Decide(accounts, new Post("fund", Cash, Debtor, c.Funding, "USD", PostingKind.Deposit, null, At(1))).Events);

            var payment = PaymentState.Empty(U);
            foreach (var i in c.Script)
            {
                var decision = Payment.Decide(payment, pool[i]);
                if (decision.IsRejected) continue;
                var events = decision.Events.Select(e => e.Event).ToList();
                var ledger = PaymentLedger.Apply(payment, events, accounts, "bank");
                if (ledger.IsRejected)
                {
                    // The only refusal the ledger may give here: a hold the debtor cannot cover.
                    Require(pool[i] is InitiatePayment && ledger.Rejection!.Code == AccountRejectionCodes.InsufficientFunds && c.Funding < 1000,
                        $"{pool[i]} refused by the ledger: {ledger.Rejection}");
                    continue;
                }
                Fold(ledger.Events);
                payment = events.Aggregate(payment, Payment.Evolve);

                foreach (var currency in accounts.Values.GroupBy(a => a.Currency))
                    Require(currency.Sum(a => a.Balance) == 0, $"{currency.Key} sums to {currency.Sum(a => a.Balance)} after {pool[i]}");
                var debtor = accounts[Debtor];
                var awaiting = payment.IsInitiated && !payment.IsSettled
                    && payment.Status is not (PaymentStatus.Rejected or PaymentStatus.ValidationFailed);
                Require(debtor.Held == (awaiting ? 1000m : 0m), $"held {debtor.Held} in status {payment.Status}");
                var charged = payment.IsSettled ? 1000m - payment.ReturnedAmount : 0m;
                Require(debtor.Balance == c.Funding - charged, $"debtor balance {debtor.Balance}, funding {c.Funding}, charged {charged}");
                Require(debtor.Balance - debtor.Held >= 0, $"debtor below its floor: {debtor.Balance} - {debtor.Held}");
                if (c.UseFx && payment.IsSettled)
                    Require(accounts["clr-021040078-EUR"].Balance == 920m, "the creditor agent was not paid the converted amount");
            }
        }));

    private static void Require(bool condition, string what)
    {
        if (!condition)
            throw new InvalidOperationException(what);
    }
}
