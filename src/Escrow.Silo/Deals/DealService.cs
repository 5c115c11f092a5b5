using Microsoft.Extensions.DependencyInjection;
using Escrow.Domain;
using Escrow.Domain.Accounts;
using Escrow.Domain.Deals;
using Escrow.EventStore;
using Escrow.Projections;
using Escrow.Silo.Hosting;
using Escrow.Silo.Ledger;

namespace Escrow.Silo.Deals;

/// <summary>A deal as the API answers it. Amounts in major units of <see cref="Currency"/>.</summary>
public sealed record DealView(
    string DealId, string Tenant, string TemplateId, string Status, string BuyerAccount, string SellerAccount, string EscrowAccount,
    decimal Amount, string Currency, decimal Funded, decimal Released, decimal Refunded, decimal Held,
    DateTimeOffset ExpiresAt, bool RefundAtExpiry, bool ExpiryPaused, string? ExternalReference, string? Terms,
    int EvidenceCount, long Version)
{
    public static DealView From(DealState s, long version) => new(
        s.DealId, s.Tenant, s.TemplateId, s.Status.Wire(), s.BuyerAccount, s.SellerAccount, s.EscrowAccount, s.Amount, s.Currency,
        s.Funded, s.Released, s.Refunded, s.Held, s.ExpiresAt, s.RefundAtExpiry, s.ExpiryPaused, s.ExternalReference, s.Terms,
        s.Evidence.Count, version);
}

/// <summary>
/// The command path of escrow deals. A deal command takes the turns of the deal's stream and of every
/// account it moves money between (buyer, seller, the deal's own escrow account) and appends the deal
/// event and the posting legs in one transaction.
/// <para>
/// Deals run in their own <see cref="AggregateHost{TState}"/> over <c>object</c> states (a
/// <see cref="DealState"/> or an <see cref="AccountState"/> per stream). An account touched by both a ledger
/// command and a deal command therefore has one activation in each host of a silo; the expected-version
/// check makes that harmless (the loser re-reads and decides again), exactly as for two silos.
/// Snapshots are off in this host: it only folds deal streams (short) and the accounts of deals.
/// </para>
/// </summary>
public sealed class DealService(AggregateHost<object> host, [FromKeyedServices(LedgerClock.Key)] TimeProvider clock)
{
    public static AggregateDefinition<object> Definition { get; } = new(
        Deal.StreamType,
        streamId => DealStreams.TryDealId(streamId, out var d)
            ? DealState.Empty(d)
            : AccountState.Empty(AccountStreams.TryAccountId(streamId, out var a) ? a : streamId),
        (state, e) => state switch
        {
            DealState d => Deal.Evolve(d, e),
            AccountState a => Account.Evolve(a, e),
            _ => throw new InvalidOperationException($"unexpected state {state.GetType().Name}"),
        },
        SnapshotSchemaVersion: 1,
        TypeOf: streamId => DealStreams.TryDealId(streamId, out _) ? Deal.StreamType : Account.StreamType);

    public static AggregateHostOptions HostOptions(AggregateHostOptions ledgerOptions) => ledgerOptions with { SnapshotEvery = 0 };

    /// <summary>The deal's own escrow account id: <c>escrow-{dealId}</c>, an internal ledger account.</summary>
    public static string EscrowAccountOf(string dealId) => LedgerService.EscrowAccountPrefix + dealId;

    public AggregateHost<object> Host => host;

    /// <summary>
    /// Runs a deal command. <see cref="LedgerService.Now"/> as the command's <c>At</c> means "now", stamped in the
    /// turn as max(clock, last activity of the deal and its accounts). Answers 201 (create) / 200 with the deal,
    /// or the rejection (404 for an unknown deal or account, 409 otherwise).
    /// </summary>
    /// <param name="command">The deal command; <c>At</c> = <see cref="LedgerService.Now"/> for "now".</param>
    /// <param name="context">Caller, tenant and idempotency key.</param>
    /// <param name="ct">Cancellation.</param>
    /// <param name="precondition">A further rule checked inside the turn before the aggregate decides (a deal
    /// template's currency and amount range); its rejection is audited and remembered like any other.</param>
    public async Task<CommandOutcome> ExecuteAsync(DealCommand command, CommandContext context, CancellationToken ct,
        Func<DealCommand, Rejection?>? precondition = null)
    {
        var dealStream = DealStreams.StreamId(command.DealId);
        if (context.Operation is null) context = context with { Operation = command.GetType().Name };   // the audit log's name
        for (var attempt = 0; ; attempt++)
        {
            var cmd = command;
            if (command is not CreateDeal)
            {
                // A deal's accounts never change after creation, so reading them outside the turn is safe; a deal created
                // meanwhile is caught inside the turn (AccountsChangedException) and the command runs again with them.
                var (deal, _) = await host.GetAsync(dealStream, ct).ConfigureAwait(false);
                cmd = command.For((DealState)deal);
            }
            var streams = new[] { dealStream }.Concat(cmd.Accounts.Select(AccountStreams.StreamId)).ToArray();
            try
            {
                return await RunAsync(cmd, dealStream, streams, context, precondition, ct).ConfigureAwait(false);
            }
            catch (AccountsChangedException) when (attempt < 3)
            {
            }
        }
    }

    /// <summary>Thrown inside a turn when the deal exists but the command was bound before it did (a fund racing its create).</summary>
    private sealed class AccountsChangedException() : Exception("the deal was created while the command was routed");

    private Task<CommandOutcome> RunAsync(DealCommand cmd, string dealStream, string[] streams, CommandContext context,
        Func<DealCommand, Rejection?>? precondition, CancellationToken ct)
    {
        var decided = cmd;
        return host.ExecuteAsync(context, streams,
            states =>
            {
                decided = cmd.At == LedgerService.Now ? cmd with { At = Live(states.Values) } : cmd;
                if (precondition?.Invoke(decided) is { } refused) return Decision.Reject(refused);
                var deal = (DealState)states[dealStream];
                if (decided is not CreateDeal && decided.DealAccounts is null && deal.Exists)
                    throw new AccountsChangedException();
                var accounts = states.Values.OfType<AccountState>().ToDictionary(a => a.AccountId, StringComparer.Ordinal);
                var decision = Deal.Decide(deal, accounts, decided);
                return decision.IsRejected ? decision : Decision.Accept([.. DealStreams.ToStreams(decision), .. LedgerEffects(deal, accounts, decision, decided)]);
            },
            (after, versions, _) => (decided is CreateDeal ? 201 : 200, DealView.From((DealState)after[dealStream], versions[dealStream])),
            ct,
            // Another tenant's deal (or its accounts) is answered exactly like a missing deal; only a create names the account.
            foreign: stream => cmd is CreateDeal && stream != dealStream
                ? Problems.Outcome(404, RejectionCodes.AccountNotFound, $"account '{(AccountStreams.TryAccountId(stream, out var a) ? a : stream)}' does not exist")
                : Problems.Outcome(404, DealRejectionCodes.DealNotFound, $"deal '{cmd.DealId}' does not exist"),
            alsoInTransaction: after => [ExpiryTimer((DealState)after[dealStream])]);
    }

    /// <summary>
    /// What a deal decision also writes on account streams, in the same append: the deal's escrow account is opened with the
    /// create (so a refused create leaves nothing behind), and the buyer and seller carry <see cref="AccountDealJoined"/> while
    /// the deal lives and <see cref="AccountDealLeft"/> once it ends, which keeps them from being closed under a live deal.
    /// </summary>
    private static IEnumerable<PendingEvent> LedgerEffects(DealState before, IReadOnlyDictionary<string, AccountState> accounts, Decision decision, DealCommand command)
    {
        var after = decision.Events.Where(e => e.StreamId == before.DealId).Aggregate(before, (d, e) => Deal.Evolve(d, e.Event));
        if (command is CreateDeal create && !(accounts.TryGetValue(create.EscrowAccount, out var escrow) && escrow.Exists))
        {
            var open = Account.Decide(accounts, new OpenAccount(create.EscrowAccount, $"escrow of deal {create.DealId}", create.Currency,
                AccountKind.Internal, 0, create.At));
            if (open.IsRejected) throw new InvalidOperationException($"escrow account '{create.EscrowAccount}' could not be opened: {open.Rejection}");
            foreach (var e in open.Events) yield return new PendingEvent(AccountStreams.StreamId(e.StreamId), e.Event);
        }
        var at = command.At;
        if (!before.Exists && after.Exists)
            foreach (var party in new[] { after.BuyerAccount, after.SellerAccount }.Distinct(StringComparer.Ordinal))
                yield return new PendingEvent(AccountStreams.StreamId(party), new AccountDealJoined(after.DealId, at));
        if (before.Exists && !before.IsTerminal && after.IsTerminal)
            foreach (var party in new[] { after.BuyerAccount, after.SellerAccount }.Distinct(StringComparer.Ordinal))
                if (accounts.TryGetValue(party, out var a) && a.LiveDeals.Contains(after.DealId))   // deals created before markers existed have none
                    yield return new PendingEvent(AccountStreams.StreamId(party), new AccountDealLeft(after.DealId, at));
    }

    public const string ExpiryTimerKind = "deal-expiry";

    public static string ExpiryTimerId(string dealId) => $"deal-expiry:{dealId}";

    /// <summary>
    /// The deal's expiry timer as the state after a command wants it, written in the same transaction as the
    /// command's events: armed at the expiry while it can still expire (CREATED, or funded with refund at
    /// expiry), cancelled otherwise — so a dispute pauses it and an end state removes it.
    /// </summary>
    private static Npgsql.NpgsqlBatchCommand ExpiryTimer(DealState deal) =>
        deal.ExpiryTimer is { } due
            ? Timers.TimerStore.ArmCommand(new Timers.TimerSchedule(ExpiryTimerId(deal.DealId), ExpiryTimerKind, DealStreams.StreamId(deal.DealId), deal.Tenant, due))
            : Timers.TimerStore.CancelCommand(ExpiryTimerId(deal.DealId));

    /// <summary>The deal now (through its activation), or null.</summary>
    public async Task<DealView?> GetAsync(string dealId, CancellationToken ct)
    {
        var (state, version) = await host.GetAsync(DealStreams.StreamId(dealId), ct).ConfigureAwait(false);
        var deal = (DealState)state;
        return deal.Exists ? DealView.From(deal, version) : null;
    }

    /// <summary>The deal as of an instant, by replaying its stream up to <paramref name="at"/> (occurred_at, inclusive).</summary>
    public async Task<DealView?> GetAsOfAsync(string dealId, DateTimeOffset at, CancellationToken ct)
    {
        var (state, version) = await host.ReplayAsync(DealStreams.StreamId(dealId), at, ct).ConfigureAwait(false);
        var deal = (DealState)state;
        return deal.Exists ? DealView.From(deal, version) : null;
    }

    private DateTimeOffset Live(IEnumerable<object> states)
    {
        var now = clock.GetUtcNow();
        foreach (var s in states)
        {
            var last = s switch { DealState d => d.LastActivityAt, AccountState a => a.LastActivityAt, _ => null };
            if (last is { } l && l > now) now = l;
        }
        return now;
    }
}
