using Escrow.Domain.Accounts;

namespace Escrow.Domain.Payments;

/// <summary>Which side of a payment this ledger keeps the customer's account on.</summary>
public enum BookingDirection
{
    /// <summary>Our customer is the debtor (we are the debtor agent): hold at initiation, debit at acceptance.</summary>
    Outgoing,
    /// <summary>Our customer is the creditor (we are the creditor agent): credit at acceptance.</summary>
    Incoming,
}

/// <summary>
/// How a payment moves money in this ledger, decided by the host when the pacs.008 is accepted and stored on
/// PaymentInitiated, so every later posting is a pure function of the payment's history.
/// <para><paramref name="CustomerAccount"/>: the debtor's account (outgoing) or the creditor's (incoming), kept in the
/// payment's settlement currency. <paramref name="ClearingAccount"/>: the external account mirroring what we owe or are
/// owed by the counterparty agent (creditor agent for outgoing, debtor agent for incoming), in
/// <paramref name="TargetCurrency"/> when the payment is converted, else in the settlement currency.</para>
/// <para>FX (a selected quote, source ≠ target currency): <paramref name="FxpSourceAccount"/> and
/// <paramref name="FxpTargetAccount"/> are the FX provider's accounts in the two currencies and
/// <paramref name="TargetAmount"/> is the settlement amount × the quote's rate, rounded half-to-even to the target
/// currency's ISO 4217 minor unit.</para>
/// </summary>
public sealed record PaymentBooking(
    BookingDirection Direction, string CustomerAccount, string ClearingAccount,
    string? FxpSourceAccount = null, string? FxpTargetAccount = null, decimal? TargetAmount = null, string? TargetCurrency = null)
{
    /// <summary>True when the payment is converted through an FX provider.</summary>
    public bool IsFx => FxpSourceAccount is not null && FxpTargetAccount is not null && TargetAmount is not null && TargetCurrency is not null;

    /// <summary>Every account a posting of this payment may touch (the streams the host must take turns on).</summary>
    public IReadOnlyList<string> Accounts =>
        new[] { CustomerAccount, ClearingAccount, FxpSourceAccount, FxpTargetAccount }.OfType<string>().Distinct(StringComparer.Ordinal).ToArray();
}

/// <summary>
/// The ledger postings a payment decision implies, as a pure function (no I/O). Each payment event maps to account
/// commands decided by <see cref="Account.Decide"/> in order, so every ledger rule applies (floors, frozen, currency);
/// the host commits the payment events and these account events in one transaction, or neither.
/// <list type="table">
/// <listheader><term>payment event</term><description>outgoing (our debtor D)</description></listheader>
/// <item><term>PaymentInitiated</term><description>hold <c>pay-{uetr}</c> on D for the settlement amount (refused ⇒ the pacs.008 is refused)</description></item>
/// <item><term>PaymentValidationFailed, PaymentRejected</term><description>release the hold (void)</description></item>
/// <item><term>PaymentAccepted</term><description>capture the hold: posting <c>pay-{uetr}-settle</c> D → clearing (no FX), or
/// D → FXP source account and <c>pay-{uetr}-fx</c> FXP target account → clearing at the quoted rate (FX)</description></item>
/// <item><term>PaymentReturned</term><description><c>pay-{uetr}-ret-{n}</c>: clearing (FX: FXP source account) → D, the returned amount
/// (the FX provider unwinds the conversion; a return is in the settlement currency, checked by the aggregate)</description></item>
/// </list>
/// Incoming (our creditor C): PaymentAccepted posts clearing → C; PaymentReturned posts C → clearing. Clearing and FXP
/// accounts are opened (kind external, no floor) in the same transaction the first time a posting needs them.
/// Every posting is balanced, so the per-currency zero sum holds after every commit.
/// </summary>
public static class PaymentLedger
{
    /// <summary>The hold a payment places on its debtor's account.</summary>
    public static string HoldId(string uetr) => $"pay-{uetr}";

    /// <summary>
    /// The account events for <paramref name="paymentEvents"/> decided on the payment's state before them. Accounts
    /// absent from <paramref name="accounts"/> are treated as not existing. Returns the account events keyed by
    /// account id (the host maps them to streams), or the first ledger rejection.
    /// </summary>
    /// <param name="before">The payment state the decision was taken on.</param>
    /// <param name="paymentEvents">The events the payment aggregate decided, in order.</param>
    /// <param name="accounts">Current states of every account in <see cref="PaymentBooking.Accounts"/>.</param>
    /// <param name="owner">Owner recorded on clearing and FXP accounts opened here (the institution).</param>
    public static Decision Apply(PaymentState before, IReadOnlyList<object> paymentEvents, IReadOnlyDictionary<string, AccountState> accounts, string owner)
    {
        var states = new Dictionary<string, AccountState>(accounts, StringComparer.Ordinal);
        var events = new List<PendingEvent>();
        var payment = before;
        foreach (var e in paymentEvents)
        {
            var booking = (e as PaymentInitiated)?.Booking ?? payment.Instruction?.Booking;
            if (booking is not null)
            {
                foreach (var command in Commands(payment, e, booking, states, owner))
                {
                    var decision = Account.Decide(Visible(states, command), command);
                    if (decision.Rejection is { } r)
                        return Decision.Reject(r);
                    foreach (var pe in decision.Events)
                    {
                        states[pe.StreamId] = Account.Evolve(states.TryGetValue(pe.StreamId, out var s) ? s : AccountState.Empty(pe.StreamId), pe.Event);
                        events.Add(pe);
                    }
                }
            }
            payment = Payment.Evolve(payment, e);
        }
        return Decision.Accept([.. events]);
    }

    private static Dictionary<string, AccountState> Visible(Dictionary<string, AccountState> states, AccountCommand command) =>
        command.Streams.Distinct(StringComparer.Ordinal)
            .ToDictionary(id => id, id => states.TryGetValue(id, out var s) ? s : AccountState.Empty(id), StringComparer.Ordinal);

    private static IEnumerable<AccountCommand> Commands(
        PaymentState payment, object e, PaymentBooking b, Dictionary<string, AccountState> states, string owner)
    {
        var at = ((IPaymentEvent)e).At;
        var uetr = payment.Uetr;
        var outgoing = b.Direction == BookingDirection.Outgoing;
        switch (e)
        {
            case PaymentInitiated i when outgoing:
                yield return new PlaceHold(b.CustomerAccount, HoldId(uetr), i.Amount, i.Currency, $"payment {uetr}", at);
                break;
            case PaymentValidationFailed or PaymentRejected when outgoing
                && states.TryGetValue(b.CustomerAccount, out var debtor) && debtor.Holds.ContainsKey(HoldId(uetr)):
                yield return new ReleaseHold(b.CustomerAccount, HoldId(uetr), $"payment {uetr} {(e is PaymentRejected ? "rejected" : "failed validation")}", at);
                break;
            case PaymentAccepted:
            {
                var paid = payment.Instruction!;
                if (outgoing && b.IsFx)
                {
                    foreach (var open in OpenIfMissing(states, owner, at, (b.FxpSourceAccount!, paid.Currency), (b.FxpTargetAccount!, b.TargetCurrency!), (b.ClearingAccount, b.TargetCurrency!)))
                        yield return open;
                    yield return new Post($"pay-{uetr}-settle", b.CustomerAccount, b.FxpSourceAccount!, paid.Amount, paid.Currency, PostingKind.Payment,
                        $"payment {uetr} settlement to FX provider", at, HoldId(uetr));
                    yield return new Post($"pay-{uetr}-fx", b.FxpTargetAccount!, b.ClearingAccount, b.TargetAmount!.Value, b.TargetCurrency!, PostingKind.Payment,
                        $"payment {uetr} FX conversion", at);
                }
                else
                {
                    foreach (var open in OpenIfMissing(states, owner, at, (b.ClearingAccount, paid.Currency)))
                        yield return open;
                    yield return outgoing
                        ? new Post($"pay-{uetr}-settle", b.CustomerAccount, b.ClearingAccount, paid.Amount, paid.Currency, PostingKind.Payment,
                            $"payment {uetr} settlement", at, HoldId(uetr))
                        : new Post($"pay-{uetr}-settle", b.ClearingAccount, b.CustomerAccount, paid.Amount, paid.Currency, PostingKind.Payment,
                            $"payment {uetr} received", at);
                }
                break;
            }
            case PaymentReturned r:
            {
                var id = $"pay-{uetr}-ret-{payment.ReturnIds.Count + 1}";
                var reference = $"payment {uetr} returned ({r.ReasonCode ?? "no reason"})";
                var counter = outgoing && b.IsFx ? b.FxpSourceAccount! : b.ClearingAccount;
                foreach (var open in OpenIfMissing(states, owner, at, (counter, r.Currency)))
                    yield return open;
                yield return outgoing
                    ? new Post(id, counter, b.CustomerAccount, r.Amount, r.Currency, PostingKind.Payment, reference, at)
                    : new Post(id, b.CustomerAccount, counter, r.Amount, r.Currency, PostingKind.Payment, reference, at);
                break;
            }
        }
    }

    private static IEnumerable<AccountCommand> OpenIfMissing(
        Dictionary<string, AccountState> states, string owner, DateTimeOffset at, params (string Account, string Currency)[] accounts)
    {
        foreach (var (account, currency) in accounts)
            if (!states.TryGetValue(account, out var s) || !s.Exists)
                yield return new OpenAccount(account, owner, currency, AccountKind.External, 0m, at);
    }
}
