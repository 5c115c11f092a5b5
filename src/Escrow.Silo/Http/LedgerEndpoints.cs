using Escrow.Grains;
using System.Globalization;
using Escrow.Domain.Accounts;
using Escrow.EventStore;
using Escrow.Projections;
using Escrow.Silo.Hosting;
using Escrow.Silo.Ledger;
using Escrow.Silo.Tenancy;

namespace Escrow.Silo.Http;

/// <summary>The ledger's HTTP surface. Every error is RFC 7807 problem+json; see docs/http-api.md for the table.</summary>
public static class LedgerEndpoints
{
    /// <summary>
    /// A tenant's cash account of a currency, counterparty of its deposits and withdrawals by default:
    /// <c>house-cash-{CUR}</c> for the default tenant, <c>house-cash-{tenant}-{CUR}</c> for every other.
    /// </summary>
    public static string CashAccount(string tenant, string currency) =>
        tenant == CommandRequests.DefaultTenant ? $"house-cash-{currency}" : $"house-cash-{tenant}-{currency}";

    /// <summary>Account ids starting with this are the operator's: only a root key may open them.</summary>
    public const string ReservedPrefix = "house-";

    public static void MapLedger(this IEndpointRouteBuilder app)
    {
        var accounts = app.MapGroup("/accounts").WithTags("Accounts");

        accounts.MapPost("/", async (HttpContext http, LedgerService ledger, [FromKeyedServices(LedgerClock.Key)] TimeProvider clock, CancellationToken ct) =>
        {
            var (b, ctx) = await CommandRequests.ReadAsync<OpenAccountRequest>(http.Request, false, ct);
            var id = CommandRequests.AccountId(b.AccountId);
            if (ctx.TenantScoped && id.StartsWith(ReservedPrefix, StringComparison.Ordinal))
                throw new BadRequestException("reserved_account_id", $"account ids starting with '{ReservedPrefix}' are the operator's");
            var currency = CommandRequests.Currency(b.Currency);
            if (string.IsNullOrWhiteSpace(b.Owner)) throw new BadRequestException("missing_field", "'owner' is required");
            var kind = ParseKind(b.Kind);
            var overdraft = b.OverdraftLimit ?? 0m;
            if (overdraft < 0 || !currency.FitsMinorUnit(overdraft))
                throw new BadRequestException("invalid_overdraft", $"'overdraftLimit' must be ≥ 0 with at most {currency.MinorUnits} decimals");
            if (b.Subject is not null && !Escrow.EventStore.PersonalData.IsSubjectId(b.Subject))
                throw new BadRequestException("invalid_subject_id", "'subject' is 1-128 characters of A-Z a-z 0-9 . _ : - (an opaque reference, not a name)");
            return Result(await ledger.ExecuteAsync(new OpenAccount(id, b.Owner, currency.Code, kind, overdraft, LedgerService.Now,
                b.Subject ?? Subjects.PersonalDataSealing.AccountSubject(id)), ctx, ct));
        }).RequireRoles(Role.Root, Role.Writer).Accepts<OpenAccountRequest>("application/json").Produces<AccountView>(201).IdempotentCommand().Problems(409)
          .Doc("openAccount", "Open an account", "Customer (floor 0 or minus the overdraft limit), internal or external (no floor). Account ids are per institution: 409 account_exists only when the caller's own institution holds the id.");

        accounts.MapGet("/{id}", async (string id, HttpContext http, LedgerService ledger, CancellationToken ct) =>
        {
            var (s, v) = await ledger.StateAsync(ReadTenant(http), CommandRequests.AccountId(id, "id"), ct);
            return s.Exists ? Results.Ok(AccountView.From(s, v)) : NotFound(id);
        }).Produces<AccountView>().Problems(400, 404).Doc("getAccount", "The account now, from its activation");

        accounts.MapGet("/{id}/balance", async (string id, string? at, string? source, HttpContext http, LedgerService ledger, LedgerQueries queries, CancellationToken ct) =>
        {
            var tenant = ReadTenant(http);
            DateTimeOffset? when = null;
            if (!string.IsNullOrEmpty(at))
            {
                if (!DateTimeOffset.TryParse(at, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var t))
                    throw new BadRequestException("invalid_instant", $"'at' must be an ISO 8601 instant such as 1993-03-15T14:47:00Z, got '{at}'");
                when = t;
            }
            // One read of the account serves the answer too. As of an instant, the activation's view is enough (the answer comes
            // from the statement, which is checked against the stream's head in the log, or from the log itself); now, the grain
            // first reads its stream's tail.
            var current = await ledger.StateAsync(tenant, CommandRequests.AccountId(id, "id"), ct, fresh: when is null);
            if (!current.State.Exists) throw new NotFoundException(id);
            var from = source switch
            {
                null or "" or "statement" => BalanceSource.Statement,
                "events" => BalanceSource.Events,
                "genesis" => BalanceSource.Genesis,
                _ => throw new BadRequestException("invalid_source", "'source' must be 'statement', 'events' or 'genesis'"),
            };
            var balance = await queries.BalanceAsync(tenant, id, when, from, ct, current);
            return balance is null ? NotFound(id, when) : Results.Ok(balance);
        }).Produces<BalanceAt>().Problems(400, 404, 410)
          .Doc("getBalance", "Balance now or as of an instant", "at: ISO 8601 instant (every posting at or before it); source=events replays the stream from its last kept snapshot at or before the instant (fromSnapshot: that snapshot's version) instead of reading the statement index; source=genesis replays it from its first event (the audit path). 410 events_archived when the replay would need events of an archived month (the statement index still answers).");

        accounts.MapGet("/{id}/statement", async (string id, long? after, int? limit, HttpContext http, LedgerService ledger, LedgerQueries queries, CancellationToken ct) =>
        {
            var tenant = await RequireAccountAsync(ledger, http, id, ct);
            return Results.Ok(await queries.StatementAsync(tenant, id, after ?? 0, Limit(limit), ct));
        }).Produces<StatementPage>().Problems(400, 404)
          .Doc("getStatement", "A page of the statement: posting legs with running balance", "Ordered by stream version; pass nextAfterVersion as after for the next page; limit 1-1000 (default 100). Read model: may trail by the projection lag.");

        accounts.MapGet("/{id}/events", async (string id, long? after, int? limit, HttpContext http, LedgerService ledger, LedgerQueries queries, CancellationToken ct) =>
        {
            var tenant = await RequireAccountAsync(ledger, http, id, ct);
            return Results.Ok(await queries.StreamAsync(tenant, id, after ?? 0, Limit(limit), ct));
        }).Produces<IReadOnlyList<AuditEvent>>().Problems(400, 404)
          .Doc("getAccountEvents", "The account's raw event stream with metadata and hash chain", "Events after version 'after', at most 'limit' (1-1000, default 100).");

        accounts.MapPost("/{id}/deposits", (string id, HttpContext http, LedgerService ledger, [FromKeyedServices(LedgerClock.Key)] TimeProvider clock, CancellationToken ct) =>
            MoveAsync(id, http, ledger, clock, PostingKind.Deposit, ct))
            .RequireRoles(Role.Root, Role.Writer).Accepts<MoneyRequest>("application/json").Produces<PostingResult>(201).IdempotentCommand().Problems(404, 409)
            .Doc("deposit", "Deposit: credit the account, debit the counterparty (default the institution's cash account)");

        accounts.MapPost("/{id}/withdrawals", (string id, HttpContext http, LedgerService ledger, [FromKeyedServices(LedgerClock.Key)] TimeProvider clock, CancellationToken ct) =>
            MoveAsync(id, http, ledger, clock, PostingKind.Withdrawal, ct))
            .RequireRoles(Role.Root, Role.Writer).Accepts<MoneyRequest>("application/json").Produces<PostingResult>(201).IdempotentCommand().Problems(404, 409)
            .Doc("withdraw", "Withdraw: debit the account, credit the counterparty (default the institution's cash account)");

        accounts.MapPost("/{id}/postings/{postingId}/reversal", async (string id, string postingId, HttpContext http, LedgerService ledger, [FromKeyedServices(LedgerClock.Key)] TimeProvider clock, CancellationToken ct) =>
        {
            var (b, ctx) = await CommandRequests.ReadAsync<ReasonRequest>(http.Request, true, ct);
            CommandRequests.AccountId(id, "id");
            return Result(await ledger.ExecuteAsync(
                new ReversePosting(id, postingId, Guid.CreateVersion7(clock.GetUtcNow()).ToString(), null, b.Reason, LedgerService.Now), ctx, ct));
        }).RequireRoles(Role.Root, Role.Writer).Accepts<ReasonRequest>(true, "application/json").Produces<PostingResult>(201).IdempotentCommand().Problems(404, 409)
          .Doc("reversePosting", "Charge a posting back (once; a reversal is not reversible)");

        accounts.MapPost("/{id}/freeze", (string id, HttpContext http, LedgerService ledger, [FromKeyedServices(LedgerClock.Key)] TimeProvider clock, CancellationToken ct) =>
            LifecycleAsync(id, http, ledger, r => new FreezeAccount(id, r, LedgerService.Now), ct))
            .RequireRoles(Role.Root, Role.Writer).Accepts<ReasonRequest>(true, "application/json").Produces<AccountView>().IdempotentCommand().Problems(404, 409)
            .Doc("freezeAccount", "Freeze: debits refused, credits still accepted");
        accounts.MapPost("/{id}/unfreeze", (string id, HttpContext http, LedgerService ledger, [FromKeyedServices(LedgerClock.Key)] TimeProvider clock, CancellationToken ct) =>
            LifecycleAsync(id, http, ledger, r => new UnfreezeAccount(id, r, LedgerService.Now), ct))
            .RequireRoles(Role.Root, Role.Writer).Accepts<ReasonRequest>(true, "application/json").Produces<AccountView>().IdempotentCommand().Problems(404, 409)
            .Doc("unfreezeAccount", "Unfreeze a frozen account");
        accounts.MapPost("/{id}/close", (string id, HttpContext http, LedgerService ledger, [FromKeyedServices(LedgerClock.Key)] TimeProvider clock, CancellationToken ct) =>
            LifecycleAsync(id, http, ledger, _ => new CloseAccount(id, LedgerService.Now), ct))
            .RequireRoles(Role.Root, Role.Writer).Accepts<ReasonRequest>(true, "application/json").Produces<AccountView>().IdempotentCommand().Problems(404, 409)
            .Doc("closeAccount", "Close an account at zero balance (the body is optional and its reason is not kept)");

        app.MapPost("/transfers", async (HttpContext http, LedgerService ledger, [FromKeyedServices(LedgerClock.Key)] TimeProvider clock, CancellationToken ct) =>
        {
            var (b, ctx) = await CommandRequests.ReadAsync<TransferRequest>(http.Request, false, ct);
            var from = CommandRequests.AccountId(b.From, "from");
            var to = CommandRequests.AccountId(b.To, "to");
            var currency = CommandRequests.Currency(b.Currency);
            var amount = CommandRequests.Amount(b.Amount, currency);
            return Result(await ledger.ExecuteAsync(
                new Post(Guid.CreateVersion7(clock.GetUtcNow()).ToString(), from, to, amount, currency.Code, PostingKind.Transfer, b.Reference, LedgerService.Now), ctx, ct));
        }).WithTags("Transfers").RequireRoles(Role.Root, Role.Writer).Accepts<TransferRequest>("application/json").Produces<PostingResult>(201).IdempotentCommand().Problems(404, 409)
          .Doc("transfer", "Transfer between two accounts of one currency: both legs in one transaction");

        app.MapGet("/projections", async (PgEventStore store, CancellationToken ct) =>
        {
            var list = new List<ProjectionStatus>();
            foreach (var p in ProjectionCatalog.All())
                list.Add(await ProjectionRunner.StatusAsync(store, p.Name, ct));
            return Results.Ok(list);
        }).WithTags("Projections").Produces<List<ProjectionStatus>>().Doc("listProjections", "Each projection's checkpoint, events behind and lag in ms");
    }

    private static int Limit(int? limit) => limit switch
    {
        null => 100,
        < 1 or > 1000 => throw new BadRequestException("invalid_limit", "'limit' must be between 1 and 1000"),
        _ => limit.Value,
    };

    private static AccountKind ParseKind(string? kind) => kind?.ToLowerInvariant() switch
    {
        null or "" or "customer" => AccountKind.Customer,
        "internal" => AccountKind.Internal,
        "external" => AccountKind.External,
        _ => throw new BadRequestException("invalid_kind", "'kind' must be customer, internal or external"),
    };

    /// <summary>
    /// The institution whose accounts a read names: the caller's own, or for root the one in <c>X-Escrow-Tenant</c> (default
    /// <c>default</c>). Ids are per institution, so another institution's account is simply not there.
    /// </summary>
    public static string ReadTenant(HttpContext http) => http.GetCaller().ActingTenant(http.Request);

    /// <summary>The institution the account is read in (<see cref="ReadTenant"/>); 404 unless the account exists there.</summary>
    private static async Task<string> RequireAccountAsync(LedgerService ledger, HttpContext http, string id, CancellationToken ct)
    {
        var tenant = ReadTenant(http);
        var (s, _) = await ledger.StateAsync(tenant, CommandRequests.AccountId(id, "id"), ct);
        return s.Exists ? tenant : throw new NotFoundException(id);
    }

    private static async Task<IResult> MoveAsync(string id, HttpContext http, LedgerService ledger, [FromKeyedServices(LedgerClock.Key)] TimeProvider clock, PostingKind kind, CancellationToken ct)
    {
        var (b, ctx) = await CommandRequests.ReadAsync<MoneyRequest>(http.Request, false, ct);
        CommandRequests.AccountId(id, "id");
        var currency = CommandRequests.Currency(b.Currency);
        var amount = CommandRequests.Amount(b.Amount, currency);
        var house = b.Counterparty is null ? CashAccount(ctx.Tenant, currency.Code) : CommandRequests.AccountId(b.Counterparty, "counterparty");
        if (b.Counterparty is null)
            await EnsureHouseAccountAsync(ledger, ctx.Tenant, house, currency.Code, clock, ct);
        var at = LedgerService.Now;
        var posting = Guid.CreateVersion7(clock.GetUtcNow()).ToString();
        var cmd = kind == PostingKind.Deposit
            ? new Post(posting, house, id, amount, currency.Code, kind, b.Reference, at)
            : new Post(posting, id, house, amount, currency.Code, kind, b.Reference, at);
        var outcome = await ledger.ExecuteAsync(cmd, ctx, ct);
        return Result(outcome);
    }

    /// <summary>Opens the operator's cash account of a currency on first use (an internal account, no floor).</summary>
    public static async Task EnsureHouseAccountAsync(LedgerService ledger, string tenant, string accountId, string currency, [FromKeyedServices(LedgerClock.Key)] TimeProvider clock, CancellationToken ct)
    {
        var (s, _) = await ledger.StateAsync(tenant, accountId, ct);
        if (s.Exists) return;
        var ctx = new CommandContext(tenant, "system", null, new byte[32], Guid.CreateVersion7(clock.GetUtcNow()), Operation: "OpenAccount.House");
        var outcome = await ledger.ExecuteAsync(new OpenAccount(accountId, "operator", currency, AccountKind.Internal, 0, LedgerService.Now), ctx, ct);
        if (!outcome.Accepted && outcome.RejectionCode != "account_exists")
            throw new InvalidOperationException($"could not open house account {accountId}: {outcome.Body}");
    }

    private static async Task<IResult> LifecycleAsync(string id, HttpContext http, LedgerService ledger, Func<string?, AccountCommand> make, CancellationToken ct)
    {
        var (b, ctx) = await CommandRequests.ReadAsync<ReasonRequest>(http.Request, true, ct);
        CommandRequests.AccountId(id, "id");
        return Result(await ledger.ExecuteAsync(make(b.Reason), ctx, ct));
    }

    /// <summary>Writes a command outcome as-is: the same status and bytes a retry will get.</summary>
    public static IResult Result(CommandOutcome o) =>
        Results.Text(o.Body, o.Status >= 400 ? Problems.ContentType : "application/json", statusCode: o.Status);

    private static IResult NotFound(string id, DateTimeOffset? at = null) => Results.Text(
        Problems.Serialize(Problems.Create(404, "account_not_found",
            at is null ? $"account '{id}' does not exist" : $"account '{id}' did not exist at {at:O}")),
        Problems.ContentType, statusCode: 404);
}

public sealed class NotFoundException(string accountId) : Exception($"account '{accountId}' does not exist")
{
    public string AccountId { get; } = accountId;
}
