using Microsoft.Extensions.DependencyInjection;
using Escrow.Domain;
using Escrow.Domain.Accounts;
using Escrow.EventStore;
using Escrow.Grains;
using Escrow.Projections;
using Escrow.Silo.Grains.EventLog;
using Microsoft.Extensions.Options;
using Orleans.Providers;

namespace Escrow.Silo.Grains;

/// <summary>
/// A ledger account (<see cref="IAccountGrain"/>), keyed by account id, over the stream <c>account-{id}</c>. Decides with
/// <see cref="Account.Decide"/> and folds with <see cref="Account.Evolve"/>; a posting decided here appends the credit leg to
/// the other account's stream in the same transaction, with that stream's expected version.
/// </summary>
[LogConsistencyProvider(ProviderName = EventLogProvider.Name)]
public sealed class AccountGrain(PgEventStore store, [FromKeyedServices(LedgerClock.Key)] TimeProvider clock, IOptions<SiloOptions> options,
    Dashboard.EscrowMetrics metrics) : StreamGrain<AccountState>(store, clock, options, metrics), IAccountGrain
{
    /// <summary>
    /// Accounts named <c>escrow-…</c> are deals' escrow accounts: their balance must equal what the deal holds, so the
    /// ledger's own commands may not open, post to, reverse on, freeze or close them; only deal commands move their money.
    /// </summary>
    public const string EscrowAccountPrefix = "escrow-";

    /// <summary>The refusal of a ledger command on a deal's escrow account.</summary>
    public const string EscrowAccountProtected = "escrow_account_protected";

    private string AccountId => this.GetPrimaryKeyString();

    public override string StreamId => AccountStreams.StreamId(AccountId);
    public override string StreamType => Account.StreamType;
    protected override AccountState Empty() => AccountState.Empty(AccountId);
    protected override AccountState Evolve(AccountState state, object @event) => Account.Evolve(state, @event);

    /// <summary>
    /// The grain that decides <paramref name="command"/>: for a posting (or its reversal) the ordinally smaller of its two
    /// accounts, otherwise the one account it names. Every posting between the same two accounts therefore runs in one grain's
    /// turns, one after the other: opposite transfers A→B and B→A never race each other (they would, each on its debited
    /// account's grain, and the busier grain could starve the other into <c>concurrency_conflict</c>), and no grain ever waits
    /// on another's turn (the other account is read with an interleaving call), so nothing can deadlock.
    /// </summary>
    public static string ExecutorOf(AccountCommand command) => command switch
    {
        Post p => Smaller(p.DebitAccount, p.CreditAccount),
        ReversePosting { Original: { } o } r when o.DebitAccount == r.AccountId || o.CreditAccount == r.AccountId => Smaller(o.DebitAccount, o.CreditAccount),
        ReversePosting r => r.AccountId,
        _ => command.Streams[0],
    };

    private static string Smaller(string a, string b) => string.CompareOrdinal(a, b) <= 0 ? a : b;

    public Task<CommandResult<AccountAnswer>> Execute(AccountCommand command, CommandCall call, bool allowEscrowAccounts)
    {
        if (ExecutorOf(command) != AccountId)
            throw new ArgumentException($"command {command.GetType().Name} runs on account '{ExecutorOf(command)}', not '{AccountId}'", nameof(command));
        return RunAsync(command, call, allowEscrowAccounts, handedOver: false);
    }

    public Task<CommandResult<AccountAnswer>> TakeOver(AccountCommand command, CommandCall call, bool allowEscrowAccounts)
    {
        if (ExecutorOf(command) == AccountId || !command.Streams.Contains(AccountId))
            throw new ArgumentException($"command {command.GetType().Name} is not handed over to account '{AccountId}'", nameof(command));
        return RunAsync(command, call, allowEscrowAccounts, handedOver: true);
    }

    /// <summary>
    /// Where a posting goes after losing a race on its other account's stream: to that account's grain, which writes its own
    /// stream in its own turns, so a busy account (an operator's cash account, a clearing account) serializes the postings
    /// that hit it instead of having every counterparty's grain retry against it. Only upwards (to an id that sorts after
    /// this one) and only once, so no two grains ever wait on each other's turns.
    /// </summary>
    private Func<Task<CommandResult<AccountAnswer>>>? HandOver(AccountCommand command, CommandCall call, bool allowEscrowAccounts, bool handedOver, string movedStream) =>
        !handedOver && AccountStreams.TryAccountId(movedStream, out var other) && string.CompareOrdinal(other, AccountId) > 0 && command.Streams.Contains(other)
            ? () => GrainFactory.GetGrain<IAccountGrain>(other).TakeOver(command, call, allowEscrowAccounts)
            : null;

    private Task<CommandResult<AccountAnswer>> RunAsync(AccountCommand command, CommandCall call, bool allowEscrowAccounts, bool handedOver)
    {
        var decided = command;
        return RunAsync(call, command.Streams,
            inputs =>
            {
                var states = new Dictionary<string, AccountState>(inputs.Accounts, StringComparer.Ordinal) { [AccountId] = inputs.Own };
                decided = command.At == DateTimeOffset.MinValue ? command with { At = LiveInstant(states.Values.Select(s => s.LastActivityAt)) } : command;
                if (!allowEscrowAccounts && decided.Streams.FirstOrDefault(a => a.StartsWith(EscrowAccountPrefix, StringComparison.Ordinal)) is { } escrow)
                    return Decision.Reject(EscrowAccountProtected,
                        $"account '{escrow}' is a deal's escrow account; its money moves only through the deal's commands");
                return Account.Decide(states, decided).MapStreams(AccountStreams.StreamId);
            },
            (own, others, version, decision) =>
            {
                var after = new Dictionary<string, AccountState>(others, StringComparer.Ordinal) { [AccountId] = own };
                switch (decided)
                {
                    case OpenAccount:
                        return (new AccountAnswer(AccountView.From(own, version), null), true);
                    case Post or ReversePosting:
                        var debit = decision.Events.Select(e => e.Event).OfType<AccountDebited>().Single();
                        var accounts = decision.Events
                            .Select(e => AccountStreams.TryAccountId(e.StreamId, out var id) ? after[id] : throw new InvalidOperationException(e.StreamId))
                            .Select(s => new AccountSummary(s.AccountId, s.Balance, s.Available, s.Status)).ToList();
                        return (new AccountAnswer(null, new PostingResult(debit.PostingId, debit.ReversalOf, accounts)), true);
                    default:
                        return (new AccountAnswer(AccountView.From(own, version), null), false);
                }
            },
            streamId => Foreign(command, streamId),
            handOver: moved => HandOver(command, call, allowEscrowAccounts, handedOver, moved));
    }

    /// <summary>
    /// The refusal when a tenant-scoped command names another tenant's account: exactly what it would get if the account did
    /// not exist. Account ids are one namespace across institutions, so opening an id another tenant holds can only be
    /// refused as taken.
    /// </summary>
    private static Rejection Foreign(AccountCommand command, string streamId)
    {
        var id = AccountStreams.TryAccountId(streamId, out var a) ? a : streamId;
        return command switch
        {
            OpenAccount => new(RejectionCodes.AccountExists, $"account '{id}' already exists"),
            ReversePosting r when r.AccountId != id => new(RejectionCodes.PostingNotFound, $"account '{r.AccountId}' has no posting '{r.PostingId}'"),
            _ => new(RejectionCodes.AccountNotFound, $"account '{id}' does not exist"),
        };
    }

    public async Task<StreamSnapshot<AccountState>> GetState(bool refresh)
    {
        var snapshot = await SnapshotAsync(refresh);
        if (snapshot.Version == 0) ForgetSoonIfEmpty();
        return snapshot;
    }

    public Task Appended(long version) => CatchUpAsync(version);
}
