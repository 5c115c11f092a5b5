using Escrow.Domain;
using Escrow.Domain.Accounts;
using Escrow.EventStore;
using Escrow.Grains;
using Escrow.Silo.Grains.EventLog;
using Microsoft.Extensions.Options;
using Orleans.Providers;

namespace Escrow.Silo.Grains;

/// <summary>
/// A ledger account (<see cref="IAccountGrain"/>), keyed <c>{tenant}/{accountId}</c>, over the stream <c>account-{tenant}/{accountId}</c>. Decides with
/// <see cref="Account.Decide"/> and folds with <see cref="Account.Evolve"/>; a posting decided here appends the credit leg to
/// the other account's stream in the same transaction, with that stream's expected version.
/// </summary>
/// <remarks>
/// Not profiled by the Orleans Dashboard (<see cref="Orleans.Dashboard.NoProfilingAttribute"/>): a transfer makes three
/// account-grain calls, the hottest of the silo, and each profiled call allocates (docs/benchmarks.md, "The Orleans
/// Dashboard's grain-call filter"); the ledger dashboard's command rates and latency and the <c>Orleans.Escrow</c> meter
/// count every account command instead.
/// </remarks>
[LogConsistencyProvider(ProviderName = EventLogProvider.Name)]
[Orleans.Dashboard.NoProfiling]
public sealed class AccountGrain(PgEventStore store, [FromKeyedServices(LedgerClock.Key)] TimeProvider clock, IOptions<SiloOptions> options,
    Dashboard.EscrowMetrics metrics, SubjectKeyStore keys) : StreamGrain<AccountState>(store, clock, options, metrics), IAccountGrain
{
    /// <summary>
    /// Accounts named <c>escrow-…</c> are deals' escrow accounts: their balance must equal what the deal holds, so the
    /// ledger's own commands may not open, post to, reverse on, freeze or close them; only deal commands move their money.
    /// </summary>
    public const string EscrowAccountPrefix = "escrow-";

    /// <summary>The refusal of a ledger command on a deal's escrow account.</summary>
    public const string EscrowAccountProtected = "escrow_account_protected";

    private string AccountId => KeyId;

    public override string StreamId => AccountStream(AccountId);
    public override string StreamType => Account.StreamType;

    /// <summary>The schema of <see cref="AccountState"/>'s JSON in this grain's snapshots (a replay as of an instant reads them too).</summary>
    public const int StateSchemaVersion = 1;

    public override int SnapshotSchemaVersion => StateSchemaVersion;
    protected override AccountState Empty() => AccountState.Empty(AccountId);
    protected override AccountState Evolve(AccountState state, object @event) => Account.Evolve(state, @event);

    /// <summary>
    /// The grain a command is sent to: for a posting (or its reversal) the ordinally smaller of its two accounts, otherwise the
    /// one account it names. A posting then runs in the turn of the larger account's grain (<see cref="IAccountGrain.CoSign"/>)
    /// while the smaller one's turn waits for it, so both streams are written only in their own grains' turns: opposite
    /// transfers A→B and B→A never race, a busy account (an operator's cash account) serializes what hits it instead of
    /// having its counterparties retry against it, and since a grain only ever waits on a grain whose id sorts after its own,
    /// no two grains can wait on each other.
    /// </summary>
    public static string ExecutorOf(AccountCommand command) => AccountCommands.ExecutorOf(command);

    /// <summary>The other account of a two-account posting decided from this grain, or null.</summary>
    private string? CoSigner(AccountCommand command) =>
        command is Post or ReversePosting { Original: not null } && command.Streams.FirstOrDefault(a => a != AccountId) is { } other
        && string.CompareOrdinal(other, AccountId) > 0 ? other : null;

    public async Task<CommandResult<AccountAnswer>> Execute(AccountCommand command, CommandCall call, bool allowEscrowAccounts)
    {
        if (ExecutorOf(command) != AccountId)
            throw new ArgumentException($"command {command.GetType().Name} runs on account '{ExecutorOf(command)}', not '{AccountId}'", nameof(command));
        if (command is OpenAccount { Subject: { } subject } open && call.Tenant == KeyTenant)
        {
            // The owner's name is personal data: it is stored sealed for the account's data subject (Subjects/PersonalDataSealing.cs).
            try
            {
                command = open with { Owner = (await keys.SealAsync(KeyTenant, [subject], open.Owner))! };
            }
            catch (SubjectErasedException e)
            {
                return await RefuseAsync<AccountAnswer>(call, new Rejection(Subjects.PersonalDataSealing.SubjectErasedCode, e.Message), [StreamId]);
            }
        }
        if (CoSigner(command) is not { } other)
            return await RunAsync(command, call, allowEscrowAccounts, caller: null);
        // This grain's turn stays held while the other account's grain decides and commits: nothing else writes this stream
        // meanwhile, and the answer carries this stream's state after the commit.
        var mine = await SnapshotAsync(refresh: false);
        CoSigned outcome;
        try
        {
            outcome = await AccountGrainOf(other).CoSign(command, call, allowEscrowAccounts, mine);
        }
        catch
        {
            MarkStale();   // the commit's outcome is unknown here
            throw;
        }
        if (outcome.Caller is { } after) Adopt(after);
        return outcome.Result;
    }

    /// <summary>
    /// How a co-signed posting reads the calling account: the state the caller sent, until a read asks for a refresh (a stale
    /// view, a refusal to confirm); from then on, from the caller's grain (an interleaving call; its turn is waiting on us).
    /// </summary>
    private Func<string, bool, Task<StreamSnapshot<AccountState>>> ReadCaller(StreamSnapshot<AccountState> caller)
    {
        StreamSnapshot<AccountState>? sent = caller;
        return (id, refresh) =>
        {
            if (id == caller.State.AccountId)
            {
                if (!refresh && sent is not null) return Task.FromResult(sent);
                sent = null;
            }
            return AccountGrainOf(id).GetState(refresh);
        };
    }

    public async Task<CoSigned> CoSign(AccountCommand command, CommandCall call, bool allowEscrowAccounts, StreamSnapshot<AccountState> caller)
    {
        var callerId = caller.State.AccountId;
        if (ExecutorOf(command) != callerId || !command.Streams.Contains(AccountId) || callerId == AccountId)
            throw new ArgumentException($"command {command.GetType().Name} is not a posting of '{callerId}' with '{AccountId}'", nameof(command));
        StreamSnapshot<AccountState>? callerAfter = null;
        var result = await RunAsync(command, call, allowEscrowAccounts, caller, (id, after) =>
        {
            if (id != callerId) return false;
            callerAfter = after;
            return true;
        });
        return new CoSigned(result, callerAfter);
    }

    private Task<CommandResult<AccountAnswer>> RunAsync(AccountCommand command, CommandCall call, bool allowEscrowAccounts,
        StreamSnapshot<AccountState>? caller, Func<string, StreamSnapshot<AccountState>, bool>? legCommitted = null)
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
                return Account.Decide(states, decided).MapStreams(AccountStream);
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
            readAccount: caller is null ? null : ReadCaller(caller),
            legCommitted: legCommitted);
    }

    /// <summary>
    /// The refusal when a call acting for another institution reaches this grain: exactly what that institution gets for an
    /// account it does not have (ids are per institution, so its own id is never taken by this one).
    /// </summary>
    private static Rejection Foreign(AccountCommand command, string streamId)
    {
        var id = AccountStreams.TryAccountId(streamId, out var a) ? a : streamId;
        return command switch
        {
            ReversePosting r when r.AccountId != id => new(AccountRejectionCodes.PostingNotFound, $"account '{r.AccountId}' has no posting '{r.PostingId}'"),
            _ => new(AccountRejectionCodes.AccountNotFound, $"account '{id}' does not exist"),
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
