using Escrow.Domain.Accounts;
using Escrow.EventStore;
using Escrow.Grains;
using Escrow.Silo.Grains;
using Escrow.Silo.Hosting;

namespace Escrow.Silo.Ledger;

/// <summary>
/// The one command path of the ledger: the HTTP frontend and the Berka importer both call <see cref="ExecuteAsync"/>, which
/// sends the command to the <see cref="IAccountGrain"/> that decides it (<see cref="AccountGrain.ExecutorOf"/>; Orleans routes it to that grain's one
/// activation in the cluster) and turns the grain's domain result into the answer the API sends. Account ids are per
/// institution: grains are keyed <c>{tenant}/{accountId}</c> and streams are <c>account-{tenant}/{accountId}</c>.
/// </summary>
public sealed class LedgerService(IGrainFactory grains, PgEventStore store, Dashboard.EscrowMetrics metrics, int snapshotEvery)
{
    /// <summary>
    /// Marks a command as happening "now": its <c>At</c> is stamped inside the grain's turn, at decide time, as
    /// max(clock, last activity of every touched account). Stamping at request time would let two concurrent
    /// requests (or two silos with slightly different clocks) commit out of time order and refuse each other
    /// as back-dated; stamping in the turn keeps every stream's occurred_at monotonic, which is what makes
    /// "balance as of T" a prefix of the stream. Commands with a business date (the Berka import) keep theirs.
    /// </summary>
    public static readonly DateTimeOffset Now = DateTimeOffset.MinValue;

    /// <inheritdoc cref="AccountGrain.EscrowAccountPrefix"/>
    public const string EscrowAccountPrefix = AccountGrain.EscrowAccountPrefix;

    /// <inheritdoc cref="AccountGrain.EscrowAccountProtected"/>
    public const string EscrowAccountProtected = AccountGrain.EscrowAccountProtected;

    /// <summary>Runs one ledger command through its account's grain; the answer is the HTTP status and body the API sends.</summary>
    public async Task<CommandOutcome> ExecuteAsync(AccountCommand command, CommandContext context, CancellationToken ct, bool allowEscrowAccounts = false)
    {
        if (command is ReversePosting { Original: null } rev)
            command = rev with { Original = await FindPostingAsync(context.Tenant, rev.PostingId, ct).ConfigureAwait(false) };
        if (context.Operation is null) context = context with { Operation = OperationName(command) };
        var call = context.ToCall();
        return await metrics.RecordAsync(Account.StreamType, context.Operation, async () => CommandAnswers.ToOutcome(
            await GrainCalls.RetryAsync(() => grains.GetGrain<IAccountGrain>(GrainKeys.Of(context.Tenant, AccountGrain.ExecutorOf(command))).Execute(command, call, allowEscrowAccounts), ct).ConfigureAwait(false),
            a => a.Body)).ConfigureAwait(false);
    }

    /// <summary>
    /// Account <paramref name="accountId"/> of <paramref name="tenant"/> now (through its grain, which first reads its stream's
    /// tail: other grains append a transfer's credit leg), with its version (0: no such account). With
    /// <paramref name="fresh"/> false the grain answers from its activation without reading the log: enough for what no
    /// other grain's append changes (that the account exists, its institution, currency and opening instant).
    /// </summary>
    public async Task<(AccountState State, long Version)> StateAsync(string tenant, string accountId, CancellationToken ct, bool fresh = true)
    {
        var s = await GrainCalls.RetryAsync(() => grains.GetGrain<IAccountGrain>(GrainKeys.Of(tenant, accountId)).GetState(fresh), ct).ConfigureAwait(false);
        return (s.State, s.Version);
    }

    /// <summary>Folds the account's stream from its first event up to <paramref name="upTo"/> (occurred_at, inclusive), ignoring snapshots: the audit path.</summary>
    public Task<(AccountState State, long Version)> ReplayAsync(string tenant, string accountId, DateTimeOffset? upTo, CancellationToken ct) =>
        StreamReplay.ReplayAsync(store, AccountStreams.StreamId(tenant, accountId), AccountState.Empty(accountId), Account.Evolve, upTo, ct);

    /// <summary>
    /// Folds the account's stream up to <paramref name="upTo"/> from its last kept snapshot that stands in for events all at
    /// or before that instant (the first event when none does), stopping at the first later event (postings are never
    /// back-dated, <see cref="Account"/>): time in proportion to the events since that snapshot (fewer than
    /// <see cref="SiloOptions.SnapshotEvery"/> when every snapshot is kept), not to the account's length.
    /// FromSnapshot: the snapshot's version (0: none).
    /// </summary>
    public Task<(AccountState State, long Version, long FromSnapshot)> ReplayFromSnapshotAsync(string tenant, string accountId, DateTimeOffset upTo, CancellationToken ct) =>
        StreamReplay.ReplayPrefixFromSnapshotAsync(store, AccountStreams.StreamId(tenant, accountId), AccountState.Empty(accountId), Account.Evolve, upTo,
            AccountGrain.StateSchemaVersion, Math.Clamp(snapshotEvery + 1, 2, 1000), ct);

    /// <summary>The audit log's name of a command: its type, and for postings their kind (Post.Transfer).</summary>
    public static string OperationName(AccountCommand command) => command switch
    {
        Post p => $"Post.{p.Kind}",
        _ => command.GetType().Name,
    };

    /// <summary>Looks a posting of <paramref name="tenant"/>'s accounts up in the log by id (both legs); <c>null</c> when there is none.</summary>
    public async Task<PostingRecord?> FindPostingAsync(string tenant, string postingId, CancellationToken ct)
    {
        // The legs of a posting: the events whose data carries its id (indexed on data->>'postingId', sql/001).
        var legs = await store.ReadEventsWhereAsync("e.data ? 'postingId' AND e.data ->> 'postingId' = $1", [postingId], ct).ConfigureAwait(false);
        AccountDebited? debit = null; AccountCredited? credit = null;
        string? debitAccount = null, creditAccount = null;
        foreach (var e in legs)
        {
            switch (EventSerializer.Deserialize(e))
            {
                case AccountDebited d when AccountStreams.TryParse(e.StreamId, out var t, out var a) && t == tenant: debit = d; debitAccount = a; break;
                case AccountCredited c when AccountStreams.TryParse(e.StreamId, out var t, out var a) && t == tenant: credit = c; creditAccount = a; break;
            }
        }
        if (debit is null || credit is null) return null;
        return new PostingRecord(postingId, debitAccount!, creditAccount!, debit.Amount, debit.Currency, debit.ReversalOf);
    }
}
