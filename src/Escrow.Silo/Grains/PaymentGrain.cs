using Escrow.Domain;
using Escrow.Domain.Accounts;
using Escrow.Domain.Payments;
using Escrow.EventStore;
using Escrow.Grains;
using Escrow.Silo.Grains.EventLog;
using Microsoft.Extensions.Options;
using Orleans.Providers;

namespace Escrow.Silo.Grains;

/// <summary>
/// A cross-border payment (<see cref="IPaymentGrain"/>), keyed by <c>{tenant}/{uetr}</c>, over the stream
/// <c>payment-{tenant}-{uetr}</c>. Decides with <see cref="Payment.Decide"/> and folds with <see cref="Payment.Evolve"/>;
/// the postings of its booking (<see cref="PaymentLedger.Apply"/>, decided by the account aggregate so every ledger rule
/// applies) commit in the payment events' transaction, each account stream with the version its grain showed.
/// </summary>
[LogConsistencyProvider(ProviderName = EventLogProvider.Name)]
public sealed class PaymentGrain(PgEventStore store, [FromKeyedServices(LedgerClock.Key)] TimeProvider clock, IOptions<SiloOptions> options,
    Dashboard.EscrowMetrics metrics, SubjectKeyStore keys) : StreamGrain<PaymentState>(store, clock, options, metrics), IPaymentGrain, IRemindable
{
    /// <summary>
    /// The name of the reminder that ends a payment whose quotes all lapsed unselected (<see cref="QuotesExpired"/>). Registered
    /// before a quote is generated (so no committed quote lacks it; a generation that then fails leaves a reminder that finds
    /// nothing due and removes itself), removed once the payment no longer waits for a selection.
    /// </summary>
    public const string QuoteExpiryReminder = "quote-expiry";

    /// <summary>How often the reminder ticks again while quotes are valid or a tick failed (Orleans's minimum reminder period).</summary>
    private static readonly TimeSpan QuoteExpiryRetryPeriod = TimeSpan.FromMinutes(1);

    /// <summary>Whether the quote-expiry reminder may exist: null until looked up (after activation), then known.</summary>
    private bool? _quoteReminderMayExist;

    public override string StreamId => PaymentStreams.StreamId(KeyTenant, KeyId);
    public override string StreamType => Payment.StreamType;
    protected override PaymentState Empty() => PaymentState.Empty(KeyId);
    protected override PaymentState Evolve(PaymentState state, object @event) => Payment.Evolve(state, @event);

    public async Task<CommandResult<PaymentView>> Execute(IReadOnlyList<PaymentCommand> commands, CommandCall call, Rejection? refusal)
    {
        var (tenant, uetr) = (KeyTenant, KeyId);
        if (commands.Count == 0 || commands.Any(c => c.Uetr != uetr))
            throw new ArgumentException($"commands must name this payment's UETR {uetr}", nameof(commands));
        // The accounts a posting may touch: the booking the payment holds (it never changes once initiated, and this grain
        // alone writes the payment's stream) and the one an initiation brings.
        var own = await SnapshotAsync(refresh: false);
        // The reminder first: a quote that commits always has one (at the latest validity the payment would then have).
        if (refusal is null && call.Tenant == KeyTenant && commands.OfType<GenerateQuote>().Select(g => (DateTimeOffset?)g.ValidUntil).Max() is { } until)
            await ArmQuoteExpiryAsync(Payment.LatestValidUntil(own.State) is { } held && held > until ? held : until);
        var accounts = (commands.OfType<InitiatePayment>().FirstOrDefault()?.Booking?.Accounts ?? [])
            .Concat(own.State.Instruction?.Booking?.Accounts ?? []).Distinct(StringComparer.Ordinal).ToList();
        if (refusal is null && call.Tenant == KeyTenant && commands.Any(Subjects.PersonalDataSealing.CarriesPersonalData))
        {
            // Parties' names, the message as received, proxies and free-text reasons: sealed for the parties' data subjects
            // (a party whose account is ours, by that account's subject).
            try
            {
                // The parties that may be accounts of ours: the booking's, a resolved proxy's creditor, the message's parties.
                var parties = accounts
                    .Concat(commands.OfType<ResolveProxy>().Select(r => r.CreditorAccount))
                    .Concat(commands.OfType<InitiatePayment>().SelectMany(i => new[] { i.Message.Debtor.Account, i.Message.Creditor.Account }))
                    .OfType<string>().Where(Http.CommandRequests.IsAccountId).Distinct(StringComparer.Ordinal);
                var ours = new Dictionary<string, string>(StringComparer.Ordinal);
                foreach (var a in parties)
                    if ((await AccountGrainOf(a).GetState(false)).State is { Exists: true } account) ours[a] = Subjects.PersonalDataSealing.SubjectOf(account);
                commands = await Subjects.PersonalDataSealing.SealAsync(keys, tenant, uetr, own.State.Instruction, commands, ours);
            }
            catch (SubjectErasedException e)
            {
                return await RefuseAsync<PaymentView>(call, new Rejection(Subjects.PersonalDataSealing.SubjectErasedCode, e.Message), [StreamId]);
            }
        }
        var result = await RunAsync(call, accounts,
            inputs => refusal is not null ? Decision.Reject(refusal) : Decide(inputs, commands, tenant),
            (after, _, version, decision) =>
            {
                var appended = decision.Events.Count(e => e.StreamId == StreamId);
                return (PaymentView.From(after, version, appended > 0), appended > 0 && version == appended);
            },
            s => s == StreamId
                ? new Rejection(PaymentRejectionCodes.UnknownUetr, $"no payment with UETR {uetr}")
                : new Rejection(AccountRejectionCodes.AccountNotFound, $"account '{(AccountStreams.TryAccountId(s, out var a) ? a : s)}' does not exist"));
        await DisarmQuoteExpiryUnlessQuotedAsync();
        return result;
    }

    /// <summary>A quote-expiry reminder's tick: see <see cref="ExpireQuotesIfDue"/>; a failed tick is tried again soon.</summary>
    public Task ReceiveReminder(string reminderName, TickStatus status) =>
        reminderName == QuoteExpiryReminder
            ? Reminders.RetrySoonOnFailureAsync(this, QuoteExpiryReminder, QuoteExpiryRetryPeriod, ExpireQuotesIfDue)
            : Task.CompletedTask;

    public async Task<CommandResult<PaymentView>?> ExpireQuotesIfDue()
    {
        var payment = (await SnapshotAsync(refresh: true)).State;
        if (payment.Status != PaymentStatus.Quoted || Payment.LatestValidUntil(payment) is not { } until)
        {
            await DisarmQuoteExpiryUnlessQuotedAsync();
            return null;
        }
        if (until >= Clock.GetUtcNow())
        {
            await ArmQuoteExpiryAsync(until);   // early (a clock behind the reminder's): tick again then
            return null;
        }
        var key = $"timer:{QuoteExpiryReminder}:{GrainKeys.Of(KeyTenant, KeyId)}";
        var call = new CommandCall(KeyTenant, "reminder", key, System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(key)),
            Guid.CreateVersion7(Clock.GetUtcNow()), Operation: nameof(ExpireQuotes));
        // Accepted, replayed or refused (selected meanwhile), the expiry is decided; a failure throws and the reminder ticks again.
        return await Execute([new ExpireQuotes(KeyId, DateTimeOffset.MinValue)], call, null);
    }

    private async Task ArmQuoteExpiryAsync(DateTimeOffset validUntil)
    {
        // Due just after the last valid instant (a quote is valid until ValidUntil inclusive).
        var delay = validUntil - Clock.GetUtcNow() + TimeSpan.FromMilliseconds(1);
        _quoteReminderMayExist = true;
        await this.RegisterOrUpdateReminder(QuoteExpiryReminder, delay < TimeSpan.Zero ? TimeSpan.Zero : delay, QuoteExpiryRetryPeriod);
    }

    private async Task DisarmQuoteExpiryUnlessQuotedAsync()
    {
        if (State.State.Status == PaymentStatus.Quoted || _quoteReminderMayExist == false) return;
        if (await this.GetReminder(QuoteExpiryReminder) is { } reminder) await this.UnregisterReminder(reminder);
        _quoteReminderMayExist = false;
    }

    private Decision Decide(Inputs inputs, IReadOnlyList<PaymentCommand> commands, string tenant)
    {
        var before = inputs.Own;
        var at = LiveInstant(inputs.Accounts.Values.Select(a => a.LastActivityAt).Append(before.LastAt));
        var payment = before;
        var events = new List<object>();
        foreach (var command in commands)
        {
            var d = Payment.Decide(payment, command.At == DateTimeOffset.MinValue ? command with { At = at } : command);
            if (d.IsRejected) return d;
            foreach (var e in d.Events)
            {
                payment = Payment.Evolve(payment, e.Event);
                events.Add(e.Event);
            }
        }
        if (events.Count > 0 && payment.Instruction?.Booking is not null)
        {
            // Our customer is a party: tell it (and the FX provider of its quote) the outcome, in the same transaction.
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
        if (payment.Instruction?.Booking is { } b && b.Accounts.Any(a => !inputs.Accounts.ContainsKey(a)))
            throw new InvalidOperationException($"{StreamId}: the payment's booking names accounts the command did not read");
        var ledger = PaymentLedger.Apply(before, events, inputs.Accounts, tenant);
        if (ledger.IsRejected) return ledger;
        return Decision.Accept([
            .. events.Select(e => new PendingEvent(StreamId, e)),
            .. ledger.Events.Select(pe => new PendingEvent(AccountStream(pe.StreamId), pe.Event)),
        ]);
    }

    public async Task<StreamSnapshot<PaymentState>> GetState(bool refresh)
    {
        var snapshot = await SnapshotAsync(refresh);
        if (snapshot.Version == 0) ForgetSoonIfEmpty();
        return snapshot;
    }
}
