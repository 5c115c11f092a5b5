using System.Text.RegularExpressions;
using Escrow.Domain;
using Escrow.Domain.Accounts;
using Escrow.Domain.Iso20022;
using Escrow.Domain.Payments;
using Escrow.EventStore;
using Escrow.Grains;
using Escrow.Silo.Hosting;
using Escrow.Silo.Ledger;

namespace Escrow.Silo.Payments;

/// <summary>
/// The command path of cross-border payments: the HTTP frontend and the ISO 20022 importer call <see cref="ExecuteAsync(IReadOnlyList{PaymentCommand}, CommandContext, CancellationToken, Rejection?)"/>,
/// which sends the commands to the payment's <see cref="IPaymentGrain"/> (keyed by institution and UETR) and turns its
/// domain result into the answer the API sends. The grain decides with <see cref="Payment.Decide"/>, derives the ledger
/// postings with <see cref="PaymentLedger.Apply"/> and appends the payment events and the account events in one
/// transaction, or nothing. Several commands can run in one turn and one append (a quote request with every FXP's quote, a
/// proxy resolution with its result, an initiation with its validation and forwarding).
/// </summary>
/// <param name="grains">The cluster's grains.</param>
/// <param name="store">The event log (payments as of an instant are replayed from it).</param>
/// <param name="directory">FX providers, proxies and clearing reference data.</param>
/// <param name="metrics">Where each payment command is recorded (<c>escrow.commands</c> with <c>aggregate.type</c> payment).</param>
public sealed partial class PaymentService(IGrainFactory grains, PgEventStore store, PaymentDirectory directory, Dashboard.EscrowMetrics metrics)
{
    /// <summary>
    /// The payment's stream: <c>payment-{tenant}-{uetr}</c> (<see cref="PaymentStreams"/>). A UETR is unique per institution, not
    /// across the cluster, so two institutions (or a scenario replayed in a tenant of its own) can hold the same UETR.
    /// </summary>
    public static string StreamId(string tenant, string uetr) => PaymentStreams.StreamId(tenant, uetr);

    public PaymentDirectory Directory => directory;

    private IPaymentGrain Grain(string tenant, string uetr) => grains.GetGrain<IPaymentGrain>(GrainKeys.Of(tenant, uetr));

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
    /// <param name="ct">Cancellation of the wait (the command itself runs to its outcome).</param>
    /// <param name="refuse">A refusal decided before the turn (no FX provider quotes the pair, unknown debtor account): audited and
    /// remembered under the idempotency key like any rejection.</param>
    public async Task<CommandOutcome> ExecuteAsync(IReadOnlyList<PaymentCommand> commands, CommandContext context, CancellationToken ct, Rejection? refuse = null)
    {
        if (commands.Count == 0 || commands.Any(c => c.Uetr != commands[0].Uetr))
            throw new ArgumentException("commands must name one UETR", nameof(commands));
        if (context.Operation is null) context = context with { Operation = "Payment." + string.Join('+', commands.Select(c => c.GetType().Name)) };
        var call = context.ToCall();
        return await metrics.RecordAsync(Payment.StreamType, context.Operation, async () => CommandAnswers.ToOutcome(
            await GrainCalls.RetryAsync(() => Grain(context.Tenant, commands[0].Uetr).Execute(commands, call, refuse), ct).ConfigureAwait(false))).ConfigureAwait(false);
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
            var state = (await GrainCalls.RetryAsync(() => Grain(tenant, m.Uetr).GetState(true), ct).ConfigureAwait(false)).State;
            if (state is { SelectedQuote: { } q, TargetCurrency: { } target } && target != currency && Currency.TryParse(target, out var t))
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
        if (await store.ReadStreamTenantAsync(AccountStreams.StreamId(tenant, accountId), ct).ConfigureAwait(false) is null)
            return false;
        var a = (await GrainCalls.RetryAsync(() => grains.GetGrain<IAccountGrain>(GrainKeys.Of(tenant, accountId)).GetState(true), ct).ConfigureAwait(false)).State;
        return a is { Exists: true, Kind: AccountKind.Customer } && a.Status != AccountStatus.Closed && a.Currency == currency;
    }

    /// <summary>Institution <paramref name="tenant"/>'s payment now, or null when the UETR has no history there.</summary>
    public async Task<PaymentView?> GetAsync(string tenant, string uetr, CancellationToken ct)
    {
        var s = await GrainCalls.RetryAsync(() => Grain(tenant, uetr).GetState(true), ct).ConfigureAwait(false);
        return s.Version == 0 ? null : PaymentView.From(s.State, s.Version, false);
    }

    /// <summary>The payment's state now, or null when unknown.</summary>
    public async Task<PaymentState?> StateAsync(string tenant, string uetr, CancellationToken ct)
    {
        var s = await GrainCalls.RetryAsync(() => Grain(tenant, uetr).GetState(true), ct).ConfigureAwait(false);
        return s.Version == 0 ? null : s.State;
    }

    /// <summary>The payment as of an instant, by replaying its stream up to <paramref name="at"/> (occurred_at, inclusive).</summary>
    public async Task<PaymentView?> GetAsOfAsync(string tenant, string uetr, DateTimeOffset at, CancellationToken ct)
    {
        var (state, version) = await StreamReplay.ReplayAsync(store, StreamId(tenant, uetr), PaymentState.Empty(uetr), Payment.Evolve, at, ct).ConfigureAwait(false);
        return version == 0 ? null : PaymentView.From(state, version, false);
    }
}
