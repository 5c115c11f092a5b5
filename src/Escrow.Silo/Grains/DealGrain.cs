using Escrow.Domain;
using Escrow.Domain.Accounts;
using Escrow.Domain.Deals;
using Escrow.EventStore;
using Escrow.Grains;
using Escrow.Silo.Grains.EventLog;
using Microsoft.Extensions.Options;
using Orleans.Providers;

namespace Escrow.Silo.Grains;

/// <summary>
/// An escrow deal (<see cref="IDealGrain"/>), keyed <c>{tenant}/{dealId}</c>, over the stream <c>deal-{tenant}/{dealId}</c>; its
/// accounts are of the same institution. Decides with
/// <see cref="Deal.Decide"/> and folds with <see cref="Deal.Evolve"/>. A command's posting legs, the escrow account's
/// opening (with the create, so a refused create leaves nothing behind) and the buyer's and seller's live-deal markers commit
/// in the deal event's transaction, each account stream with the version its grain showed.
/// <para>Expiry is an Orleans reminder of the grain (<see cref="ExpiryReminder"/>, ADO.NET reminders on our PostgreSQL). It is
/// registered before a create can commit, so no committed deal lacks it (a create that then fails leaves a reminder that finds
/// no deal and removes itself); it is removed once the deal can no longer expire (released, funded without refund at expiry,
/// disputed, ended). A tick re-reads the deal and expires it only when it is due by the ledger clock, with the idempotency
/// key <c>timer:deal-expiry:{tenant}/{dealId}</c>, so a tick repeated after a crash, on another silo or after a restart
/// has no second effect; a tick that fails (PostgreSQL unreachable, a party's account on a silo that just died) registers
/// the reminder again <see cref="Reminders.FailedTickRetry"/> later instead of waiting for its next period.</para>
/// </summary>
[LogConsistencyProvider(ProviderName = EventLogProvider.Name)]
public sealed class DealGrain(PgEventStore store, [FromKeyedServices(LedgerClock.Key)] TimeProvider clock, IOptions<SiloOptions> options,
    Dashboard.EscrowMetrics metrics, SubjectKeyStore keys) : StreamGrain<DealState>(store, clock, options, metrics), IDealGrain, IRemindable
{
    /// <summary>The name of the reminder that expires a deal.</summary>
    public const string ExpiryReminder = "deal-expiry";

    /// <summary>How often the expiry reminder ticks again while the deal has not expired (Orleans's minimum reminder period).</summary>
    public static readonly TimeSpan ExpiryRetryPeriod = TimeSpan.FromMinutes(1);

    /// <summary>The longest first delay a reminder is registered with; a later expiry is re-registered at that tick.</summary>
    private static readonly TimeSpan LongestDelay = TimeSpan.FromDays(30);

    /// <summary>Whether the expiry reminder may exist: null until looked up (after activation), then known.</summary>
    private bool? _reminderMayExist;

    private string DealId => KeyId;

    public override string StreamId => DealStreams.StreamId(KeyTenant, DealId);
    public override string StreamType => Deal.StreamType;
    protected override DealState Empty() => DealState.Empty(DealId);
    protected override DealState Evolve(DealState state, object @event) => Deal.Evolve(state, @event);

    public async Task<CommandResult<DealView>> Execute(DealCommand command, CommandCall call, Rejection? refusal)
    {
        if (command.DealId != DealId)
            throw new ArgumentException($"command for deal '{command.DealId}' sent to deal '{DealId}'", nameof(command));
        // A deal's accounts never change after its creation: bind the command to them once (the deal's stream is written by
        // this grain alone, so the state read here is the state the command is decided on).
        var own = await SnapshotAsync(refresh: false);
        // The reminder first: a create that commits always has one.
        if (command is CreateDeal create && !own.State.Exists && refusal is null && call.Tenant == KeyTenant)
            await ArmExpiryAsync(create.ExpiresAt);
        var bound = command is CreateDeal ? command : command.For(own.State);
        if (call.Tenant == KeyTenant && refusal is null)
        {
            // Terms, reasons, evidence and notes may name people: sealed for the buyer's and seller's data subjects together.
            try
            {
                if (bound is CreateDeal c)
                {
                    var parties = await Task.WhenAll(new[] { c.BuyerAccount, c.SellerAccount }.Distinct(StringComparer.Ordinal)
                        .Select(a => AccountGrainOf(a).GetState(false)));
                    bound = c with { Subjects = [.. parties.Select(p => Subjects.PersonalDataSealing.SubjectOf(p.State)).Distinct(StringComparer.Ordinal)] };
                }
                var subjects = bound is CreateDeal created ? created.Subjects! : own.State.Subjects ?? Subjects.PersonalDataSealing.DefaultDealSubjects(own.State);
                bound = await Subjects.PersonalDataSealing.SealAsync(keys, KeyTenant, subjects, bound);
            }
            catch (SubjectErasedException e)
            {
                return await RefuseAsync<DealView>(call, new Rejection(Subjects.PersonalDataSealing.SubjectErasedCode, e.Message), [StreamId]);
            }
        }
        var decided = bound;
        var result = await RunAsync(call, bound.Accounts,
            inputs =>
            {
                decided = bound.At == DateTimeOffset.MinValue
                    ? bound with { At = LiveInstant(inputs.Accounts.Values.Select(a => a.LastActivityAt).Append(inputs.Own.LastActivityAt)) }
                    : bound;
                if (refusal is not null) return Decision.Reject(refusal);
                var decision = Deal.Decide(new DealDecisionState(inputs.Own, inputs.Accounts), decided);
                return decision.IsRejected
                    ? decision
                    : Decision.Accept([.. DealStreams.ToStreams(decision, KeyTenant), .. LedgerEffects(inputs.Own, inputs.Accounts, decision, decided)]);
            },
            (after, _, version, _) => (DealView.From(after, version), decided is CreateDeal),
            // Another tenant's deal (or its accounts) is answered exactly like a missing one; only a create names an account.
            streamId => command is CreateDeal && streamId != StreamId
                ? new Rejection(AccountRejectionCodes.AccountNotFound, $"account '{(AccountStreams.TryAccountId(streamId, out var a) ? a : streamId)}' does not exist")
                : new Rejection(DealRejectionCodes.DealNotFound, $"deal '{DealId}' does not exist"));
        await DisarmUnlessExpirableAsync();
        return result;
    }

    /// <summary>An expiry reminder's tick: see <see cref="ExpireIfDue"/>; a failed tick is tried again soon.</summary>
    public Task ReceiveReminder(string reminderName, TickStatus status) =>
        reminderName == ExpiryReminder ? Reminders.RetrySoonOnFailureAsync(this, ExpiryReminder, ExpiryRetryPeriod, ExpireIfDue) : Task.CompletedTask;

    public async Task<CommandResult<DealView>?> ExpireIfDue()
    {
        var deal = (await SnapshotAsync(refresh: true)).State;
        if (deal.ExpiryTimer is not { } due)
        {
            await DisarmUnlessExpirableAsync();
            return null;
        }
        if (due > Clock.GetUtcNow())
        {
            await ArmExpiryAsync(due);   // early (a far expiry registered in steps, a clock behind the reminder's): tick again then
            return null;
        }
        var key = $"timer:{ExpiryReminder}:{GrainKeys.Of(KeyTenant, DealId)}";
        var call = new CommandCall(KeyTenant, "reminder", key, System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(key)),
            Guid.CreateVersion7(Clock.GetUtcNow()), Operation: nameof(ExpireDeal));
        // Accepted, replayed or refused (released meanwhile), the expiry is decided; a failure throws and the reminder ticks again.
        var result = await Execute(new ExpireDeal(DealId, DateTimeOffset.MinValue), call, null);
        await DisarmUnlessExpirableAsync();
        return result;
    }

    private async Task ArmExpiryAsync(DateTimeOffset expiresAt)
    {
        var delay = expiresAt - Clock.GetUtcNow();
        delay = delay < TimeSpan.Zero ? TimeSpan.Zero : delay > LongestDelay ? LongestDelay : delay;
        _reminderMayExist = true;
        await this.RegisterOrUpdateReminder(ExpiryReminder, delay, ExpiryRetryPeriod);
    }

    private async Task DisarmUnlessExpirableAsync()
    {
        if (State.State.ExpiryTimer is not null || _reminderMayExist == false) return;
        if (await this.GetReminder(ExpiryReminder) is { } reminder) await this.UnregisterReminder(reminder);
        _reminderMayExist = false;
    }

    public async Task<StreamSnapshot<DealState>> GetState(bool refresh)
    {
        var snapshot = await SnapshotAsync(refresh);
        if (snapshot.Version == 0) ForgetSoonIfEmpty();
        return snapshot;
    }

    /// <summary>
    /// What a deal decision also writes on account streams: the deal's escrow account is opened with the create, and the
    /// buyer and seller carry <see cref="AccountDealJoined"/> while the deal lives and <see cref="AccountDealLeft"/> once it
    /// ends, which keeps them from being closed under a live deal.
    /// </summary>
    private IEnumerable<PendingEvent> LedgerEffects(DealState before, IReadOnlyDictionary<string, AccountState> accounts, Decision decision, DealCommand command)
    {
        var after = decision.Events.Where(e => e.StreamId == before.DealId && e.Event is IDealEvent).Aggregate(before, (d, e) => Deal.Evolve(d, e.Event));
        if (command is CreateDeal create && !(accounts.TryGetValue(create.EscrowAccount, out var escrow) && escrow.Exists))
        {
            var open = Account.Decide(accounts, new OpenAccount(create.EscrowAccount, $"escrow of deal {create.DealId}", create.Currency,
                AccountKind.Internal, 0, create.At));
            if (open.IsRejected) throw new InvalidOperationException($"escrow account '{create.EscrowAccount}' could not be opened: {open.Rejection}");
            foreach (var e in open.Events) yield return new PendingEvent(AccountStream(e.StreamId), e.Event);
        }
        var at = command.At;
        if (!before.Exists && after.Exists)
            foreach (var party in new[] { after.BuyerAccount, after.SellerAccount }.Distinct(StringComparer.Ordinal))
                yield return new PendingEvent(AccountStream(party), new AccountDealJoined(after.DealId, at));
        if (before.Exists && !before.IsTerminal && after.IsTerminal)
            foreach (var party in new[] { after.BuyerAccount, after.SellerAccount }.Distinct(StringComparer.Ordinal))
                if (accounts.TryGetValue(party, out var a) && a.LiveDeals.Contains(after.DealId))   // deals created before markers existed have none
                    yield return new PendingEvent(AccountStream(party), new AccountDealLeft(after.DealId, at));
    }
}
