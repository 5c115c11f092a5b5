using System.Text.RegularExpressions;
using Escrow.Domain;
using Escrow.Domain.Accounts;
using Escrow.Domain.Iso20022;
using Escrow.Domain.Payments;
using Escrow.EventStore;
using Escrow.Projections;
using Escrow.Silo.Hosting;
using Escrow.Silo.Ledger;

namespace Escrow.Silo.Payments;

/// <summary>The business content of a payment's pacs.008 as the API answers it (amounts in major units).</summary>
public sealed record PaymentInstructionView(
    string? MessageId, string? EndToEndId, decimal Amount, string Currency, DateOnly? SettlementDate,
    string? DebtorName, string? DebtorAccount, string? DebtorAgent, string? CreditorName, string? CreditorAccount, string? CreditorAgent,
    DateTimeOffset InitiatedAt);

/// <summary>
/// A payment now (from its activation), keyed by UETR. <see cref="Status"/> is the lifecycle status
/// (<see cref="PaymentStatus"/>); <see cref="Changed"/> is false when the command was an idempotent repeat (for example
/// the identical pacs.008 delivered again) that appended nothing. <see cref="Booking"/> says how the payment moves money
/// in this ledger (null: it only passes through).
/// </summary>
public sealed record PaymentView(
    string Uetr, string Status, long Version, bool Changed, string? SourceCurrency, string? TargetCurrency,
    IReadOnlyList<Quote> Quotes, Quote? SelectedQuote, string? ResolvedCreditorAccount, string? ProxyFailureReason,
    PaymentInstructionView? Instruction, PaymentBooking? Booking, string? SettlementStatus, string? RejectionReason,
    string? ValidationFailure, string ReturnRequest, string? ReturnCaseId, decimal ReturnedAmount, bool SenderNotified, bool FxpNotified,
    DateTimeOffset? LastActivityAt)
{
    public static PaymentView From(PaymentState s, long version, bool changed) => new(
        s.Uetr, s.Status.ToString(), version, changed, s.SourceCurrency, s.TargetCurrency,
        s.Quotes.Values.OrderBy(q => q.QuoteId, StringComparer.Ordinal).ToList(), s.SelectedQuote, s.ResolvedCreditorAccount, s.ProxyFailureReason,
        s.Instruction is { } i
            ? new PaymentInstructionView(i.MessageId, i.EndToEndId, i.Amount, i.Currency, i.SettlementDate, i.DebtorName, i.DebtorAccount,
                i.DebtorAgent, i.CreditorName, i.CreditorAccount, i.CreditorAgent, i.At)
            : null,
        s.Instruction?.Booking, s.SettlementStatus, s.RejectionReason, s.ValidationFailure, s.ReturnRequest.ToString(), s.ReturnCaseId,
        s.ReturnedAmount, s.SenderNotified, s.FxpNotified, s.LastAt);
}

/// <summary>
/// The command path of cross-border payments (issue 4). A payment command takes the turns of the payment's stream
/// (<c>payment-{uetr}</c>) and of every account its booking may post to, decides with <see cref="Payment.Decide"/>,
/// derives the ledger postings with <see cref="PaymentLedger.Apply"/> (decided by the account aggregate, so every
/// ledger rule applies), and appends the payment events and the account events in one transaction, or nothing.
/// <para>Several commands can run in one turn and one append (a quote request with every FXP's quote, a proxy
/// resolution with its result, an initiation with its validation and forwarding). When a payment with a booking reaches
/// an outcome, the sender (and the FX provider of its quote) are notified in the same append.</para>
/// <para>Like deals, payments run in their own <see cref="AggregateHost{TState}"/> over <c>object</c> states; an account
/// touched here and by the ledger has one activation in each host, and the expected-version check keeps that correct.</para>
/// </summary>
public sealed partial class PaymentService
{
    private readonly PgEventStore _store;
    private readonly TimeProvider _clock;

    /// <param name="store">The event log.</param>
    /// <param name="options">Host options (snapshots are turned off here).</param>
    /// <param name="clock">The injected clock.</param>
    /// <param name="directory">FX providers, proxies and clearing reference data.</param>
    /// <param name="metrics">Where the host records each payment command (<c>escrow.commands</c> with <c>aggregate.type</c> payment) and its activations; none in unit tests.</param>
    public PaymentService(PgEventStore store, AggregateHostOptions options, TimeProvider clock, PaymentDirectory directory, Dashboard.EscrowMetrics? metrics = null)
    {
        _store = store;
        _clock = clock;
        Directory = directory;
        Host = new AggregateHost<object>(store, Definition, options with { SnapshotEvery = 0 }, clock) { Metrics = metrics };
    }

    /// <summary>
    /// The payment's stream: <c>payment-{tenant}-{uetr}</c> (<see cref="PaymentStreams"/>). A UETR is unique per institution, not
    /// across the cluster, so two institutions (or a scenario replayed in a tenant of its own) can hold the same UETR.
    /// </summary>
    public static string StreamId(string tenant, string uetr) => PaymentStreams.StreamId(tenant, uetr);

    private static bool TryUetr(string streamId, out string uetr) => PaymentStreams.TryUetr(streamId, out uetr);

    public static AggregateDefinition<object> Definition { get; } = new(
        Payment.StreamType,
        streamId => TryUetr(streamId, out var u)
            ? PaymentState.Empty(u)
            : AccountState.Empty(AccountStreams.TryAccountId(streamId, out var a) ? a : streamId),
        (state, e) => state switch
        {
            PaymentState p => Payment.Evolve(p, e),
            AccountState a => Account.Evolve(a, e),
            _ => throw new InvalidOperationException($"unexpected state {state.GetType().Name}"),
        },
        SnapshotSchemaVersion: 1,
        TypeOf: streamId => TryUetr(streamId, out _) ? Payment.StreamType : Account.StreamType);

    public AggregateHost<object> Host { get; }

    public PaymentDirectory Directory { get; }

    /// <summary>Thrown inside a turn when the payment's booking names accounts the turn did not take (another silo initiated it meanwhile).</summary>
    private sealed class BookingChangedException() : Exception("the payment's booking changed under the command");

    /// <summary>Runs one payment command (see <see cref="ExecuteAsync(IReadOnlyList{PaymentCommand}, CommandContext, CancellationToken, Rejection?)"/>).</summary>
    public Task<CommandOutcome> ExecuteAsync(PaymentCommand command, CommandContext context, CancellationToken ct) =>
        ExecuteAsync([command], context, ct);

    /// <summary>
    /// Runs commands on one payment in one turn and one append. A command whose <c>At</c> is <see cref="LedgerService.Now"/> is
    /// stamped in the turn (max of the clock and the last activity of the payment and its accounts). Answers 201 with the
    /// payment when its stream was created, 200 otherwise (also for an idempotent repeat, with <c>changed: false</c>), or the
    /// first rejection: 404 <c>unknown_uetr</c>, 409 for every other payment or ledger rule.
    /// </summary>
    /// <param name="commands">Commands on the same UETR, decided in order.</param>
    /// <param name="context">Caller, tenant, idempotency key.</param>
    /// <param name="ct">Cancellation.</param>
    /// <param name="refuse">A refusal decided before the turn (no FX provider quotes the pair, unknown debtor account): audited and
    /// remembered under the idempotency key like any rejection.</param>
    public async Task<CommandOutcome> ExecuteAsync(IReadOnlyList<PaymentCommand> commands, CommandContext context, CancellationToken ct, Rejection? refuse = null)
    {
        if (commands.Count == 0 || commands.Any(c => c.Uetr != commands[0].Uetr))
            throw new ArgumentException("commands must name one UETR", nameof(commands));
        var uetr = commands[0].Uetr;
        var stream = StreamId(context.Tenant, uetr);
        if (context.Operation is null) context = context with { Operation = "Payment." + string.Join('+', commands.Select(c => c.GetType().Name)) };
        for (var attempt = 0; ; attempt++)
        {
            var (peek, _) = await Host.GetAsync(stream, ct).ConfigureAwait(false);
            var booking = commands.OfType<InitiatePayment>().FirstOrDefault()?.Booking ?? ((PaymentState)peek).Instruction?.Booking;
            var streams = new[] { stream }.Concat((booking?.Accounts ?? []).Select(AccountStreams.StreamId)).ToArray();
            try
            {
                return await Host.ExecuteAsync(context, streams,
                    states => refuse is not null ? Decision.Reject(refuse) : Decide(states, stream, commands, context.Tenant),
                    (after, versions, decision) => (
                        versions[stream] == decision.Events.Count(e => e.StreamId == stream) && decision.Events.Count > 0 ? 201 : 200,
                        PaymentView.From((PaymentState)after[stream], versions[stream], decision.Events.Count > 0)),
                    ct,
                    foreign: s => s == stream
                        ? Problems.Outcome(404, PaymentRejectionCodes.UnknownUetr, $"no payment with UETR {uetr}")
                        : Problems.Outcome(404, RejectionCodes.AccountNotFound, $"account '{(AccountStreams.TryAccountId(s, out var a) ? a : s)}' does not exist"))
                    .ConfigureAwait(false);
            }
            catch (BookingChangedException) when (attempt < 3)
            {
            }
        }
    }

    private Decision Decide(IReadOnlyDictionary<string, object> states, string stream, IReadOnlyList<PaymentCommand> commands, string tenant)
    {
        var before = (PaymentState)states[stream];
        var at = Live(states.Values);
        var payment = before;
        var events = new List<object>();
        foreach (var command in commands)
        {
            var stamped = command.At == LedgerService.Now ? command with { At = at } : command;
            var d = Payment.Decide(payment, stamped);
            if (d.IsRejected) return d;
            foreach (var e in d.Events)
            {
                payment = Payment.Evolve(payment, e.Event);
                events.Add(e.Event);
            }
        }
        if (events.Count > 0 && payment.Instruction?.Booking is not null)
        {
            // Our customer is a party: tell it (and the FX provider of its quote) the outcome, in the same append.
            PaymentCommand[] notices = [new NotifySender(payment.Uetr, at), new NotifyFxp(payment.Uetr, at)];
            foreach (var notice in notices)
            {
                var d = Payment.Decide(payment, notice);
                if (d.IsRejected) continue;   // no outcome yet, or no FX provider
                foreach (var e in d.Events)
                {
                    payment = Payment.Evolve(payment, e.Event);
                    events.Add(e.Event);
                }
            }
        }
        var booking = payment.Instruction?.Booking;
        if (booking is not null && booking.Accounts.Any(a => !states.ContainsKey(AccountStreams.StreamId(a))))
            throw new BookingChangedException();
        var accounts = states.Values.OfType<AccountState>().ToDictionary(a => a.AccountId, StringComparer.Ordinal);
        var ledger = PaymentLedger.Apply(before, events, accounts, tenant);
        if (ledger.IsRejected) return ledger;
        return Decision.Accept([
            .. events.Select(e => new PendingEvent(stream, e)),
            .. ledger.Events.Select(pe => new PendingEvent(AccountStreams.StreamId(pe.StreamId), pe.Event)),
        ]);
    }

    private DateTimeOffset Live(IEnumerable<object> states)
    {
        var now = _clock.GetUtcNow();
        foreach (var s in states)
        {
            var last = s switch { PaymentState p => p.LastAt, AccountState a => a.LastActivityAt, _ => null };
            if (last is { } l && l > now) now = l;
        }
        return now;
    }

    // ----- bookings -----

    [GeneratedRegex("[^A-Za-z0-9]")]
    private static partial Regex NotAlphanumeric();

    private static string Safe(string? value, int max) =>
        NotAlphanumeric().Replace(value ?? "unknown", "") is { Length: > 0 } s ? s[..Math.Min(s.Length, max)] : "unknown";

    /// <summary>The external account mirroring what <paramref name="tenant"/> owes or is owed by <paramref name="agent"/> in <paramref name="currency"/>.</summary>
    public static string ClearingAccount(string tenant, string? agent, string currency) => $"clr-{Safe(tenant, 20)}-{Safe(agent, 20)}-{currency}";

    /// <summary>FX provider <paramref name="fxpId"/>'s account at <paramref name="tenant"/> in <paramref name="currency"/>.</summary>
    public static string FxpAccount(string tenant, string fxpId, string currency) => $"fxp-{Safe(tenant, 20)}-{Safe(fxpId, 20)}-{currency}";

    /// <summary>
    /// How a pacs.008 moves money here: outgoing when its debtor account is an open customer account of
    /// <paramref name="tenant"/> (converted through the selected quote's FX provider when the quote's target currency
    /// differs), incoming when its creditor account is, else null (the payment only passes through). A deal's escrow
    /// account is never a party.
    /// </summary>
    public async Task<PaymentBooking?> BookingForAsync(CreditTransferMessage m, string tenant, CancellationToken ct)
    {
        var currency = m.Settlement.Currency.Code;
        if (await CustomerAccountAsync(m.Debtor.Account, tenant, currency, ct).ConfigureAwait(false))
        {
            var (state, _) = await Host.GetAsync(StreamId(tenant, m.Uetr), ct).ConfigureAwait(false);
            if (state is PaymentState { SelectedQuote: { } q, TargetCurrency: { } target } && target != currency && Currency.TryParse(target, out var t))
            {
                var converted = Math.Round(m.Settlement.Amount * q.Rate, t.Value.MinorUnits, MidpointRounding.ToEven);
                return new PaymentBooking(BookingDirection.Outgoing, m.Debtor.Account!, ClearingAccount(tenant, m.CreditorAgent.Id, target),
                    FxpAccount(tenant, q.FxpId, currency), FxpAccount(tenant, q.FxpId, target), converted, target);
            }
            return new PaymentBooking(BookingDirection.Outgoing, m.Debtor.Account!, ClearingAccount(tenant, m.CreditorAgent.Id, currency));
        }
        if (await CustomerAccountAsync(m.Creditor.Account, tenant, currency, ct).ConfigureAwait(false))
            return new PaymentBooking(BookingDirection.Incoming, m.Creditor.Account!, ClearingAccount(tenant, m.DebtorAgent.Id, currency));
        return null;
    }

    private async Task<bool> CustomerAccountAsync(string? accountId, string tenant, string currency, CancellationToken ct)
    {
        if (accountId is null || accountId.Length is 0 or > 64 || accountId.StartsWith(LedgerService.EscrowAccountPrefix, StringComparison.Ordinal))
            return false;
        // One cheap lookup first, so a foreign IBAN does not create an activation.
        if (await _store.ReadStreamTenantAsync(AccountStreams.StreamId(accountId), ct).ConfigureAwait(false) != tenant)
            return false;
        var (state, _) = await Host.GetAsync(AccountStreams.StreamId(accountId), ct).ConfigureAwait(false);
        return state is AccountState { Exists: true, Kind: AccountKind.Customer } a && a.Status != AccountStatus.Closed && a.Currency == currency;
    }

    /// <summary>Institution <paramref name="tenant"/>'s payment now, or null when the UETR has no history there.</summary>
    public async Task<PaymentView?> GetAsync(string tenant, string uetr, CancellationToken ct)
    {
        var (state, version) = await Host.GetAsync(StreamId(tenant, uetr), ct).ConfigureAwait(false);
        return version == 0 ? null : PaymentView.From((PaymentState)state, version, false);
    }

    /// <summary>The payment's state now, or null when unknown.</summary>
    public async Task<PaymentState?> StateAsync(string tenant, string uetr, CancellationToken ct)
    {
        var (state, version) = await Host.GetAsync(StreamId(tenant, uetr), ct).ConfigureAwait(false);
        return version == 0 ? null : (PaymentState)state;
    }

    /// <summary>The payment as of an instant, by replaying its stream up to <paramref name="at"/> (occurred_at, inclusive).</summary>
    public async Task<PaymentView?> GetAsOfAsync(string tenant, string uetr, DateTimeOffset at, CancellationToken ct)
    {
        var (state, version) = await Host.ReplayAsync(StreamId(tenant, uetr), at, ct).ConfigureAwait(false);
        return version == 0 ? null : PaymentView.From((PaymentState)state, version, false);
    }
}
