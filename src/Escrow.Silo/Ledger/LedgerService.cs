using Escrow.Domain;
using Escrow.Domain.Accounts;
using Escrow.EventStore;
using Escrow.Projections;
using Escrow.Silo.Hosting;

namespace Escrow.Silo.Ledger;

/// <summary>
/// What a ledger command answers on success. Amounts in major units of <see cref="Currency"/>: <see cref="Held"/> is the sum of
/// open holds (pending debits, e.g. initiated payments), <see cref="Available"/> = balance − held − floor (null for accounts
/// without a floor).
/// </summary>
public sealed record AccountView(
    string AccountId, string Owner, string Currency, AccountKind Kind, AccountStatus Status,
    decimal Balance, decimal? Available, decimal OverdraftLimit, long Version, DateTimeOffset? OpenedAt, DateTimeOffset? LastActivityAt,
    decimal Held = 0)
{
    public static AccountView From(AccountState s, long version) => new(
        s.AccountId, s.Owner, s.Currency, s.Kind, s.Status, s.Balance, s.Available, s.OverdraftLimit, version, s.OpenedAt, s.LastActivityAt, s.Held);
}

/// <summary>The answer to a posting: its id and both accounts after it.</summary>
public sealed record PostingResult(string PostingId, string? ReversalOf, IReadOnlyList<AccountSummary> Accounts);

public sealed record AccountSummary(string AccountId, decimal Balance, decimal? Available, AccountStatus Status);

/// <summary>
/// The one command path of the ledger: the HTTP frontend and the Berka importer both call
/// <see cref="ExecuteAsync"/>. Account streams are <c>account-{accountId}</c>.
/// </summary>
public sealed class LedgerService(AggregateHost<AccountState> host, PgEventStore store, TimeProvider clock)
{
    /// <summary>
    /// Marks a command as happening "now": its <c>At</c> is stamped inside the turn, at decide time, as
    /// max(clock, last activity of every touched account). Stamping at request time would let two concurrent
    /// requests (or two silos with slightly different clocks) commit out of time order and refuse each other
    /// as back-dated; stamping in the turn keeps every stream's occurred_at monotonic, which is what makes
    /// "balance as of T" a prefix of the stream. Commands with a business date (the Berka import) keep theirs.
    /// </summary>
    public static readonly DateTimeOffset Now = DateTimeOffset.MinValue;

    public static AggregateDefinition<AccountState> Definition { get; } = new(
        Account.StreamType,
        streamId => AccountState.Empty(AccountStreams.TryAccountId(streamId, out var id) ? id : streamId),
        Account.Evolve,
        SnapshotSchemaVersion: 1);

    public AggregateHost<AccountState> Host => host;

    /// <summary>
    /// Accounts named <c>escrow-…</c> are deals' escrow accounts: their balance must equal what the deal holds,
    /// so the ledger's own commands (HTTP, import) may not open, post to, reverse on, freeze or close them.
    /// Only <see cref="Deals.DealService"/> opens one (passing <c>allowEscrowAccounts</c>), and only deal
    /// commands move its money.
    /// </summary>
    public const string EscrowAccountPrefix = Grains.AccountGrain.EscrowAccountPrefix;

    public const string EscrowAccountProtected = Grains.AccountGrain.EscrowAccountProtected;

    public async Task<CommandOutcome> ExecuteAsync(AccountCommand command, CommandContext context, CancellationToken ct, bool allowEscrowAccounts = false)
    {
        if (command is ReversePosting { Original: null } rev)
            command = rev with { Original = await FindPostingAsync(rev.PostingId, ct).ConfigureAwait(false) };

        var streams = command.Streams.Select(AccountStreams.StreamId).ToArray();
        var decided = command;
        if (context.Operation is null) context = context with { Operation = OperationName(command) };
        return await host.ExecuteAsync(context, streams,
            states =>
            {
                decided = command.At == Now ? command with { At = LiveInstant(states.Values) } : command;
                if (!allowEscrowAccounts && decided.Streams.FirstOrDefault(a => a.StartsWith(EscrowAccountPrefix, StringComparison.Ordinal)) is { } escrow)
                    return Decision.Reject(EscrowAccountProtected,
                        $"account '{escrow}' is a deal's escrow account; its money moves only through the deal's commands");
                return Account.Decide(ByAccount(states), decided).MapStreams(AccountStreams.StreamId);
            },
            (after, versions, decision) => Respond(decided, ByAccount(after), versions, decision),
            ct,
            foreign: streamId => ForeignAccount(command, streamId)).ConfigureAwait(false);
    }

    /// <summary>The audit log's name of a command: its type, and for postings their kind (Post.Transfer).</summary>
    public static string OperationName(AccountCommand command) => command switch
    {
        Post p => $"Post.{p.Kind}",
        _ => command.GetType().Name,
    };

    /// <summary>
    /// The answer when a tenant-scoped command touches another tenant's account: exactly what it would get
    /// if the account did not exist (404), so nothing leaks. Account ids are global, so opening an id that
    /// another tenant holds can only be refused as taken (409 account_exists).
    /// </summary>
    private static CommandOutcome ForeignAccount(AccountCommand command, string streamId)
    {
        var id = AccountStreams.TryAccountId(streamId, out var a) ? a : streamId;
        return command switch
        {
            OpenAccount => Problems.Outcome(409, RejectionCodes.AccountExists, $"account '{id}' already exists"),
            ReversePosting r when r.AccountId != id =>
                Problems.Outcome(404, RejectionCodes.PostingNotFound, $"account '{r.AccountId}' has no posting '{r.PostingId}'"),
            _ => Problems.Outcome(404, RejectionCodes.AccountNotFound, $"account '{id}' does not exist"),
        };
    }

    private DateTimeOffset LiveInstant(IEnumerable<AccountState> states)
    {
        var now = clock.GetUtcNow();
        foreach (var s in states)
            if (s.LastActivityAt is { } last && last > now) now = last;
        return now;
    }

    private static Dictionary<string, AccountState> ByAccount(IReadOnlyDictionary<string, AccountState> byStream) =>
        byStream.Values.ToDictionary(s => s.AccountId, StringComparer.Ordinal);

    private static (int, object) Respond(AccountCommand command, Dictionary<string, AccountState> after, IReadOnlyDictionary<string, long> versions, Decision decision)
    {
        switch (command)
        {
            case OpenAccount o:
                return (201, AccountView.From(after[o.AccountId], versions[AccountStreams.StreamId(o.AccountId)]));
            case Post or ReversePosting:
                var debit = decision.Events.Select(e => e.Event).OfType<AccountDebited>().Single();
                var accounts = decision.Events.Select(e => after.Values.First(s => AccountStreams.StreamId(s.AccountId) == e.StreamId))
                    .Select(s => new AccountSummary(s.AccountId, s.Balance, s.Available, s.Status)).ToList();
                return (201, new PostingResult(debit.PostingId, debit.ReversalOf, accounts));
            default:
                var s1 = after.Values.Single();
                return (200, AccountView.From(s1, versions[AccountStreams.StreamId(s1.AccountId)]));
        }
    }

    /// <summary>Looks a posting up in the log by id (both legs); <c>null</c> when there is none.</summary>
    public async Task<PostingRecord?> FindPostingAsync(string postingId, CancellationToken ct)
    {
        var legs = await store.FindByPostingIdAsync(postingId, ct).ConfigureAwait(false);
        AccountDebited? debit = null; AccountCredited? credit = null;
        string? debitAccount = null, creditAccount = null;
        foreach (var e in legs)
        {
            switch (EventSerializer.Deserialize(e))
            {
                case AccountDebited d when AccountStreams.TryAccountId(e.StreamId, out var a): debit = d; debitAccount = a; break;
                case AccountCredited c when AccountStreams.TryAccountId(e.StreamId, out var a): credit = c; creditAccount = a; break;
            }
        }
        if (debit is null || credit is null) return null;
        return new PostingRecord(postingId, debitAccount!, creditAccount!, debit.Amount, debit.Currency, debit.ReversalOf);
    }
}
