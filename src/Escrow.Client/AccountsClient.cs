using System.Runtime.CompilerServices;
using static Escrow.Client.EscrowTransport;

namespace Escrow.Client;

/// <summary>
/// Ledger accounts (<c>/accounts</c>, <c>/transfers</c>). Commands need a writer or root key; reads also
/// accept an auditor key. Another institution's account is answered exactly like a missing one
/// (<see cref="EscrowNotFoundException"/>, <c>account_not_found</c>). Every command takes an optional
/// <c>idempotencyKey</c> (1–200 characters; default a new GUID per call, reused by its retries): repeating a
/// call with the same key returns the first answer and appends nothing; the same key with a different
/// request throws <see cref="EscrowIdempotencyKeyReusedException"/>.
/// </summary>
public sealed class AccountsClient
{
    private readonly EscrowTransport _t;

    internal AccountsClient(EscrowTransport transport) => _t = transport;

    /// <summary>Opens an account (<c>POST /accounts</c>, 201).</summary>
    /// <param name="request">Id, owner, ISO 4217 currency, kind, overdraft limit (major units).</param>
    /// <param name="idempotencyKey">Optional key of this logical call; default a new GUID.</param>
    /// <param name="cancellationToken">Cancels the call (and its retries).</param>
    /// <returns>The new account.</returns>
    /// <exception cref="EscrowBadRequestException">Bad id (<c>invalid_account_id</c>, <c>reserved_account_id</c>), <c>unknown_currency</c>, <c>missing_field</c>, <c>invalid_overdraft</c>.</exception>
    /// <exception cref="EscrowConflictException"><c>account_exists</c> (the caller's institution already holds the id; ids are per institution).</exception>
    public Task<Account> OpenAsync(OpenAccountRequest request, string? idempotencyKey = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return _t.CommandAsync<Account>("accounts", request, idempotencyKey, cancellationToken);
    }

    /// <summary>Deposits money (<c>POST /accounts/{id}/deposits</c>, 201): credits the account, debits the counterparty (default the institution's cash account).</summary>
    /// <param name="accountId">The credited account.</param>
    /// <param name="request">Amount (major units, &gt; 0, at most the currency's minor-unit decimals), currency, reference, counterparty.</param>
    /// <param name="idempotencyKey">Optional key of this logical call; default a new GUID.</param>
    /// <param name="cancellationToken">Cancels the call (and its retries).</param>
    /// <returns>The posting and both accounts after it.</returns>
    /// <exception cref="EscrowBadRequestException"><c>invalid_amount</c>, <c>amount_precision</c>, <c>unknown_currency</c>.</exception>
    /// <exception cref="EscrowNotFoundException"><c>account_not_found</c>.</exception>
    /// <exception cref="EscrowConflictException"><c>currency_mismatch</c>, <c>account_closed</c>, <c>escrow_account_protected</c>.</exception>
    public Task<PostingResult> DepositAsync(string accountId, MoneyRequest request, string? idempotencyKey = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return _t.CommandAsync<PostingResult>($"accounts/{Seg(accountId, nameof(accountId))}/deposits", request, idempotencyKey, cancellationToken);
    }

    /// <summary>Withdraws money (<c>POST /accounts/{id}/withdrawals</c>, 201): debits the account, credits the counterparty (default the institution's cash account).</summary>
    /// <param name="accountId">The debited account.</param>
    /// <param name="request">Amount (major units), currency, reference, counterparty.</param>
    /// <param name="idempotencyKey">Optional key of this logical call; default a new GUID.</param>
    /// <param name="cancellationToken">Cancels the call (and its retries).</param>
    /// <returns>The posting and both accounts after it.</returns>
    /// <exception cref="EscrowNotFoundException"><c>account_not_found</c>.</exception>
    /// <exception cref="EscrowConflictException"><c>insufficient_funds</c> (below zero or the overdraft limit), <c>account_frozen</c>, <c>account_closed</c>, <c>currency_mismatch</c>.</exception>
    public Task<PostingResult> WithdrawAsync(string accountId, MoneyRequest request, string? idempotencyKey = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return _t.CommandAsync<PostingResult>($"accounts/{Seg(accountId, nameof(accountId))}/withdrawals", request, idempotencyKey, cancellationToken);
    }

    /// <summary>Transfers money between two accounts of the same currency in one transaction (<c>POST /transfers</c>, 201).</summary>
    /// <param name="request">From, to, amount (major units), currency, reference.</param>
    /// <param name="idempotencyKey">Optional key of this logical call; default a new GUID.</param>
    /// <param name="cancellationToken">Cancels the call (and its retries).</param>
    /// <returns>The posting and both accounts after it (debited first).</returns>
    /// <exception cref="EscrowNotFoundException"><c>account_not_found</c> (also for another institution's account).</exception>
    /// <exception cref="EscrowConflictException"><c>insufficient_funds</c>, <c>same_account</c>, <c>currency_mismatch</c>, <c>account_frozen</c>, <c>account_closed</c>.</exception>
    public Task<PostingResult> TransferAsync(TransferRequest request, string? idempotencyKey = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return _t.CommandAsync<PostingResult>("transfers", request, idempotencyKey, cancellationToken);
    }

    /// <summary>Charges a posting back (<c>POST /accounts/{id}/postings/{postingId}/reversal</c>, 201): the opposite legs, once.</summary>
    /// <param name="accountId">One of the posting's accounts.</param>
    /// <param name="postingId">The posting to reverse.</param>
    /// <param name="reason">Optional reason kept on the reversal.</param>
    /// <param name="idempotencyKey">Optional key of this logical call; default a new GUID.</param>
    /// <param name="cancellationToken">Cancels the call (and its retries).</param>
    /// <returns>The reversal posting (<see cref="PostingResult.ReversalOf"/> names the original).</returns>
    /// <exception cref="EscrowNotFoundException"><c>account_not_found</c>, <c>posting_not_found</c>.</exception>
    /// <exception cref="EscrowConflictException"><c>posting_already_reversed</c>, <c>reversal_of_reversal</c>, <c>insufficient_funds</c>.</exception>
    public Task<PostingResult> ReverseAsync(string accountId, string postingId, string? reason = null, string? idempotencyKey = null, CancellationToken cancellationToken = default) =>
        _t.CommandAsync<PostingResult>($"accounts/{Seg(accountId, nameof(accountId))}/postings/{Seg(postingId, nameof(postingId))}/reversal",
            new ReasonBody(reason), idempotencyKey, cancellationToken);

    /// <summary>Freezes an account (<c>POST /accounts/{id}/freeze</c>): debits are refused, credits still accepted.</summary>
    /// <param name="accountId">The account.</param>
    /// <param name="reason">Optional reason.</param>
    /// <param name="idempotencyKey">Optional key of this logical call; default a new GUID.</param>
    /// <param name="cancellationToken">Cancels the call (and its retries).</param>
    /// <returns>The account after the change.</returns>
    /// <exception cref="EscrowNotFoundException"><c>account_not_found</c>.</exception>
    /// <exception cref="EscrowConflictException">Already frozen, or closed.</exception>
    public Task<Account> FreezeAsync(string accountId, string? reason = null, string? idempotencyKey = null, CancellationToken cancellationToken = default) =>
        _t.CommandAsync<Account>($"accounts/{Seg(accountId, nameof(accountId))}/freeze", new ReasonBody(reason), idempotencyKey, cancellationToken);

    /// <summary>Unfreezes an account (<c>POST /accounts/{id}/unfreeze</c>).</summary>
    /// <param name="accountId">The account.</param>
    /// <param name="reason">Optional reason.</param>
    /// <param name="idempotencyKey">Optional key of this logical call; default a new GUID.</param>
    /// <param name="cancellationToken">Cancels the call (and its retries).</param>
    /// <returns>The account after the change.</returns>
    /// <exception cref="EscrowNotFoundException"><c>account_not_found</c>.</exception>
    /// <exception cref="EscrowConflictException">Not frozen, or closed.</exception>
    public Task<Account> UnfreezeAsync(string accountId, string? reason = null, string? idempotencyKey = null, CancellationToken cancellationToken = default) =>
        _t.CommandAsync<Account>($"accounts/{Seg(accountId, nameof(accountId))}/unfreeze", new ReasonBody(reason), idempotencyKey, cancellationToken);

    /// <summary>Closes an account at zero balance (<c>POST /accounts/{id}/close</c>); a closed account refuses every posting.</summary>
    /// <param name="accountId">The account.</param>
    /// <param name="idempotencyKey">Optional key of this logical call; default a new GUID.</param>
    /// <param name="cancellationToken">Cancels the call (and its retries).</param>
    /// <returns>The closed account.</returns>
    /// <exception cref="EscrowNotFoundException"><c>account_not_found</c>.</exception>
    /// <exception cref="EscrowConflictException"><c>balance_not_zero</c>, <c>account_closed</c>.</exception>
    public Task<Account> CloseAsync(string accountId, string? idempotencyKey = null, CancellationToken cancellationToken = default) =>
        _t.CommandAsync<Account>($"accounts/{Seg(accountId, nameof(accountId))}/close", new ReasonBody(null), idempotencyKey, cancellationToken);

    /// <summary>The account now (<c>GET /accounts/{id}</c>), from its activation.</summary>
    /// <param name="accountId">The account.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The account.</returns>
    /// <exception cref="EscrowNotFoundException"><c>account_not_found</c>.</exception>
    public Task<Account> GetAsync(string accountId, CancellationToken cancellationToken = default) =>
        _t.GetAsync<Account>($"accounts/{Seg(accountId, nameof(accountId))}", cancellationToken);

    /// <summary>The balance now, or as of an instant (<c>GET /accounts/{id}/balance?at=</c>): every posting that occurred at or before <paramref name="at"/>.</summary>
    /// <param name="accountId">The account.</param>
    /// <param name="at">The instant (any offset; sent as UTC), or null for now.</param>
    /// <param name="source"><see cref="BalanceSource.Events"/> to replay the stream instead of using the statement index.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The balance in major units, with the version it reflects and who answered.</returns>
    /// <exception cref="EscrowNotFoundException"><c>account_not_found</c> (also when the account did not exist yet at <paramref name="at"/>).</exception>
    public Task<AccountBalance> GetBalanceAsync(string accountId, DateTimeOffset? at = null, BalanceSource source = BalanceSource.Default, CancellationToken cancellationToken = default) =>
        _t.GetAsync<AccountBalance>($"accounts/{Seg(accountId, nameof(accountId))}/balance"
            + Query(("at", at), ("source", source switch { BalanceSource.Events => "events", BalanceSource.Genesis => "genesis", _ => null })), cancellationToken);

    /// <summary>One page of the statement (<c>GET /accounts/{id}/statement</c>): posting legs with running balance, ordered by stream version. Read model: may trail the newest postings by the projection lag.</summary>
    /// <param name="accountId">The account.</param>
    /// <param name="afterVersion">Lines after this stream version (the previous page's <see cref="StatementPage.NextAfterVersion"/>); null from the start.</param>
    /// <param name="limit">Lines per page, 1–1000 (default 100).</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The page.</returns>
    /// <exception cref="EscrowNotFoundException"><c>account_not_found</c>.</exception>
    /// <exception cref="EscrowBadRequestException"><c>invalid_limit</c>.</exception>
    public Task<StatementPage> GetStatementPageAsync(string accountId, long? afterVersion = null, int? limit = null, CancellationToken cancellationToken = default) =>
        _t.GetAsync<StatementPage>($"accounts/{Seg(accountId, nameof(accountId))}/statement" + Query(("after", afterVersion), ("limit", limit)), cancellationToken);

    /// <summary>Every statement line from <paramref name="afterVersion"/> on, fetching pages of <paramref name="pageSize"/> as the enumeration proceeds.</summary>
    /// <param name="accountId">The account.</param>
    /// <param name="afterVersion">Start after this stream version (default: from the start).</param>
    /// <param name="pageSize">Lines per request, 1–1000.</param>
    /// <param name="cancellationToken">Cancels the enumeration.</param>
    /// <returns>The lines in version order.</returns>
    /// <exception cref="EscrowNotFoundException"><c>account_not_found</c>, on the first page.</exception>
    public async IAsyncEnumerable<StatementLine> GetStatementAsync(string accountId, long? afterVersion = null, int pageSize = 100,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var after = afterVersion;
        while (true)
        {
            var page = await GetStatementPageAsync(accountId, after, pageSize, cancellationToken).ConfigureAwait(false);
            foreach (var line in page.Lines) yield return line;
            if (page.NextAfterVersion is not { } next) yield break;
            after = next;
        }
    }

    /// <summary>One page of the account's raw event stream (<c>GET /accounts/{id}/events</c>): data, metadata and hash chain.</summary>
    /// <param name="accountId">The account.</param>
    /// <param name="afterVersion">Events after this version; null from the start.</param>
    /// <param name="limit">Events per page, 1–1000 (default 100).</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>Up to <paramref name="limit"/> events in version order (fewer: the end of the stream).</returns>
    /// <exception cref="EscrowNotFoundException"><c>account_not_found</c>.</exception>
    public Task<IReadOnlyList<StreamEvent>> GetEventsPageAsync(string accountId, long? afterVersion = null, int? limit = null, CancellationToken cancellationToken = default) =>
        _t.GetAsync<IReadOnlyList<StreamEvent>>($"accounts/{Seg(accountId, nameof(accountId))}/events" + Query(("after", afterVersion), ("limit", limit)), cancellationToken);

    /// <summary>Every event of the account's stream, in pages of <paramref name="pageSize"/>.</summary>
    /// <param name="accountId">The account.</param>
    /// <param name="pageSize">Events per request, 1–1000.</param>
    /// <param name="cancellationToken">Cancels the enumeration.</param>
    /// <returns>The events in version order.</returns>
    /// <exception cref="EscrowNotFoundException"><c>account_not_found</c>.</exception>
    public IAsyncEnumerable<StreamEvent> GetEventsAsync(string accountId, int pageSize = 100, CancellationToken cancellationToken = default) =>
        Pages.ByVersion((after, ct) => GetEventsPageAsync(accountId, after, pageSize, ct), pageSize, cancellationToken);
}

/// <summary>The optional <c>{"reason": …}</c> body of freeze, unfreeze, close, reversal, fund and cancel.</summary>
internal sealed record ReasonBody(string? Reason);

/// <summary>Paging over list endpoints that page by stream version.</summary>
internal static class Pages
{
    public static async IAsyncEnumerable<StreamEvent> ByVersion(Func<long?, CancellationToken, Task<IReadOnlyList<StreamEvent>>> page, int pageSize,
        [EnumeratorCancellation] CancellationToken ct)
    {
        long? after = null;
        while (true)
        {
            var events = await page(after, ct).ConfigureAwait(false);
            foreach (var e in events) yield return e;
            // A short page is the end of the stream; a full one may have more behind it.
            if (events.Count < pageSize) yield break;
            after = events[^1].Version;
        }
    }
}
