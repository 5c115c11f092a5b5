using Escrow.Domain;
using Escrow.Domain.Accounts;
using Escrow.Domain.Deals;
using Escrow.EventStore;
using Escrow.Grains;
using Escrow.Silo.Grains.EventLog;
using Escrow.Silo.Timers;
using Microsoft.Extensions.Options;
using Orleans.Providers;

namespace Escrow.Silo.Grains;

/// <summary>
/// An escrow deal (<see cref="IDealGrain"/>), keyed <c>{tenant}/{dealId}</c>, over the stream <c>deal-{tenant}/{dealId}</c>; its
/// accounts are of the same institution. Decides with
/// <see cref="Deal.Decide"/> and folds with <see cref="Deal.Evolve"/>. A command's posting legs, the escrow account's
/// opening (with the create, so a refused create leaves nothing behind), the buyer's and seller's live-deal markers and the
/// deal's expiry timer commit in the deal event's transaction, each account stream with the version its grain showed.
/// </summary>
[LogConsistencyProvider(ProviderName = EventLogProvider.Name)]
public sealed class DealGrain(PgEventStore store, [FromKeyedServices(LedgerClock.Key)] TimeProvider clock, IOptions<SiloOptions> options,
    Dashboard.EscrowMetrics metrics) : StreamGrain<DealState>(store, clock, options, metrics), IDealGrain
{
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
        var bound = command is CreateDeal ? command : command.For(own.State);
        var decided = bound;
        return await RunAsync(call, bound.Accounts,
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
                : new Rejection(DealRejectionCodes.DealNotFound, $"deal '{DealId}' does not exist"),
            after => [ExpiryTimer(KeyTenant, after)]);
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

    /// <summary>The timer kind of a deal's expiry.</summary>
    public const string ExpiryTimerKind = "deal-expiry";

    /// <summary>The timer id of a deal's expiry: <c>deal-expiry:{tenant}/{dealId}</c>.</summary>
    public static string ExpiryTimerId(string tenant, string dealId) => $"deal-expiry:{GrainKeys.Of(tenant, dealId)}";

    /// <summary>
    /// The deal's expiry timer as the state after a command wants it, written in the command's transaction: armed at the
    /// expiry while the deal can still expire (CREATED, or funded with refund at expiry), cancelled otherwise, so a dispute
    /// pauses it and an end state removes it.
    /// </summary>
    private static Npgsql.NpgsqlBatchCommand ExpiryTimer(string tenant, DealState deal) =>
        deal.ExpiryTimer is { } due
            ? TimerStore.ArmCommand(new TimerSchedule(ExpiryTimerId(tenant, deal.DealId), ExpiryTimerKind, DealStreams.StreamId(tenant, deal.DealId), tenant, due))
            : TimerStore.CancelCommand(ExpiryTimerId(tenant, deal.DealId));
}
