using System.Net;
using Escrow.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Escrow.Silo.Tests;

using Escrow.Client;

/// <summary>
/// The client SDK (<c>Escrow.Client</c>) against a real silo: every method once, typed exceptions with the
/// problem code, idempotent retries after a lost answer, paging helpers, DI registration.
/// </summary>
public class ClientSdkTests : IClassFixture<PgDatabase>
{
    private readonly PgDatabase _db;
    public ClientSdkTests(PgDatabase db) => _db = db;

    private static string Id(string p) => $"{p}-{Guid.NewGuid():N}"[..24];

    /// <summary>An SDK client over the test server, optionally through <paramref name="handler"/>, with short backoffs.</summary>
    internal static EscrowClient Sdk(SiloFactory silo, string? key, DelegatingHandler? handler = null, Action<EscrowClientOptions>? configure = null)
    {
        HttpMessageHandler h = silo.Server.CreateHandler();
        if (handler is not null)
        {
            handler.InnerHandler = h;
            h = handler;
        }
        var options = new EscrowClientOptions
        {
            BaseAddress = silo.Server.BaseAddress, ApiKey = key,
            InitialBackoff = TimeSpan.FromMilliseconds(5), MaxBackoff = TimeSpan.FromMilliseconds(50),
        };
        configure?.Invoke(options);
        return new EscrowClient(new HttpClient(h) { BaseAddress = silo.Server.BaseAddress }, options);
    }

    private static async Task<(EscrowClient Root, EscrowClient Writer, EscrowClient Auditor, string Institution)> TenantAsync(SiloFactory silo)
    {
        var root = Sdk(silo, SiloFactory.RootKey);
        var institution = SiloFactory.NewInstitution();
        var created = await root.Institutions.CreateAsync(institution, "Test Bank " + institution);
        Assert.Equal(institution, created.InstitutionId);
        var writerKey = await root.Institutions.CreateKeyAsync(institution, ApiKeyRole.Writer, "sdk writer");
        var auditorKey = await root.Institutions.CreateKeyAsync(institution, ApiKeyRole.Auditor);
        Assert.Equal("writer", writerKey.Role);
        Assert.StartsWith("esk_", writerKey.ApiKey, StringComparison.Ordinal);
        return (root, Sdk(silo, writerKey.ApiKey), Sdk(silo, auditorKey.ApiKey), institution);
    }

    [Fact]
    public async Task Every_account_institution_audit_and_cluster_call_works_against_a_real_silo()
    {
        await using var silo = new SiloFactory(_db);
        var (root, writer, auditor, institution) = await TenantAsync(silo);
        Assert.Contains(await root.Institutions.ListAsync(), i => i.InstitutionId == institution && i.Keys == 2);

        var alice = Id("alice"); var bob = Id("bob"); var carol = Id("carol");
        var opened = await writer.Accounts.OpenAsync(new OpenAccountRequest(alice, "Alice", "EUR"));
        Assert.Equal(AccountStatus.Open, opened.Status);
        Assert.Equal(AccountKind.Customer, opened.Kind);
        await writer.Accounts.OpenAsync(new OpenAccountRequest(bob, "Bob", "EUR", AccountKind.Customer, OverdraftLimit: 100m));
        await writer.Accounts.OpenAsync(new OpenAccountRequest(carol, "Carol", "EUR"));

        var deposit = await writer.Accounts.DepositAsync(alice, new MoneyRequest(100.50m, "EUR", "salary"));
        Assert.Contains(deposit.Accounts, a => a.AccountId == alice && a.Balance == 100.50m);
        await Task.Delay(20);
        var beforeTransfer = DateTimeOffset.UtcNow;
        await Task.Delay(20);
        var transfer = await writer.Accounts.TransferAsync(new TransferRequest(alice, bob, 40.25m, "EUR", "invoice 17"));
        Assert.Equal(60.25m, transfer.Accounts.Single(a => a.AccountId == alice).Balance);
        Assert.Equal(40.25m, transfer.Accounts.Single(a => a.AccountId == bob).Balance);
        var withdrawal = await writer.Accounts.WithdrawAsync(bob, new MoneyRequest(10m, "EUR"));
        Assert.Equal(30.25m, withdrawal.Accounts.Single(a => a.AccountId == bob).Balance);
        var reversal = await writer.Accounts.ReverseAsync(bob, withdrawal.PostingId, "charged back");
        Assert.Equal(withdrawal.PostingId, reversal.ReversalOf);
        Assert.Equal(40.25m, reversal.Accounts.Single(a => a.AccountId == bob).Balance);

        Assert.Equal(AccountStatus.Frozen, (await writer.Accounts.FreezeAsync(alice, "KYC review")).Status);
        Assert.Equal(AccountStatus.Open, (await writer.Accounts.UnfreezeAsync(alice, "cleared")).Status);
        await writer.Accounts.DepositAsync(carol, new MoneyRequest(5m, "EUR"));
        await writer.Accounts.WithdrawAsync(carol, new MoneyRequest(5m, "EUR"));
        Assert.Equal(AccountStatus.Closed, (await writer.Accounts.CloseAsync(carol)).Status);

        var now = await writer.Accounts.GetAsync(alice);
        Assert.Equal(60.25m, now.Balance);
        Assert.Equal("EUR", now.Currency);
        Assert.Equal(60.25m, (await writer.Accounts.GetBalanceAsync(alice)).Balance);
        await writer.Cluster.WaitForProjectionsAsync();
        var asOf = await auditor.Accounts.GetBalanceAsync(alice, beforeTransfer);
        Assert.Equal(100.50m, asOf.Balance);
        Assert.Equal(beforeTransfer.ToUnixTimeMilliseconds(), asOf.At!.Value.ToUnixTimeMilliseconds());
        var replayed = await auditor.Accounts.GetBalanceAsync(alice, beforeTransfer, BalanceSource.Events);
        Assert.Equal(("events", 100.50m), (replayed.Source, replayed.Balance));

        var page = await auditor.Accounts.GetStatementPageAsync(alice, limit: 1);
        Assert.Single(page.Lines);
        Assert.Equal(100.50m, page.Lines[0].BalanceAfter);
        Assert.NotNull(page.NextAfterVersion);
        var lines = await auditor.Accounts.GetStatementAsync(alice).ToListAsync();
        Assert.Equal([100.50m, -40.25m], lines.Select(l => l.Amount));
        var events = await auditor.Accounts.GetEventsPageAsync(alice, limit: 2);
        Assert.Equal(["AccountOpened"], events.Take(1).Select(e => e.EventType));
        Assert.Equal(institution, events[0].Metadata.GetProperty("tenant").GetString());
        var all = await auditor.Accounts.GetEventsAsync(alice).ToListAsync();
        Assert.Equal(now.Version, all.Count);
        Assert.Equal(all[0].Hash, all[1].PrevHash);

        Assert.True(await writer.Cluster.IsHealthyAsync());
        Assert.Contains(await writer.Cluster.GetProjectionsAsync(), p => p.Name == "account_balances");
        var silos = await root.Cluster.GetSilosAsync();
        Assert.Contains(silos, s => s.Status == SiloStatus.Alive && s.Leases is { } l && l.Contains("projection:account_balances"));

        var audit = await auditor.Audit.QueryPageAsync(new AuditQuery { Stream = $"account-{institution}/{alice}" });
        Assert.Contains(audit.Records, r => r.Operation == "OpenAccount" && r.Outcome == "accepted" && r.Tenant == institution);
        var trail = await auditor.Audit.QueryAsync(new AuditQuery { Stream = $"account-{institution}/{alice}", Outcome = "accepted" }).ToListAsync();
        Assert.Equal(audit.Records.Count(r => r.Outcome == "accepted"), trail.Count);
        var csv = await auditor.Audit.GetCsvPageAsync(new AuditQuery { Stream = $"account-{institution}/{alice}" }, limit: 1);
        Assert.StartsWith("position,audit_id,", csv.Csv, StringComparison.Ordinal);
        Assert.Equal(audit.Records[0].Position, csv.NextAfter);
    }

    [Fact]
    public async Task Every_deal_call_works_against_a_real_silo()
    {
        await using var silo = new SiloFactory(_db);
        var (_, writer, auditor, institution) = await TenantAsync(silo);
        var buyer = Id("buyer"); var seller = Id("seller");
        await writer.Accounts.OpenAsync(new OpenAccountRequest(buyer, "Buyer", "EUR"));
        await writer.Accounts.OpenAsync(new OpenAccountRequest(seller, "Seller", "EUR"));
        await writer.Accounts.DepositAsync(buyer, new MoneyRequest(1000m, "EUR"));

        var template = await writer.Deals.CreateTemplateAsync(new DealTemplateRequest("goods", "EUR", 10m, 500m, "Goods", DefaultExpiryDays: 14, RefundAtExpiry: true));
        Assert.Equal((TimeSpan.FromDays(14), true, institution), (template.DefaultExpiry, template.RefundAtExpiry, template.Tenant));
        Assert.Contains(await writer.Deals.ListTemplatesAsync(), t => t.TemplateId == "goods");

        var dealId = Id("deal");
        var deal = await writer.Deals.CreateAsync(new CreateDealRequest(buyer, seller, 300m, "EUR", dealId, "goods", ExternalReference: "PO-1", Terms: "ship in 5 days"));
        Assert.Equal((DealStates.Created, "escrow-" + dealId, true), (deal.Status, deal.EscrowAccount, deal.RefundAtExpiry));
        Assert.Equal(DealStates.Funded, (await writer.Deals.FundAsync(dealId)).Status);
        await Task.Delay(20);
        var whileFunded = DateTimeOffset.UtcNow;
        await Task.Delay(20);
        var partial = await writer.Deals.ReleaseAsync(dealId, 100m);
        Assert.Equal((DealStates.PartiallyReleased, 200m), (partial.Status, partial.Held));
        var disputed = await writer.Deals.OpenDisputeAsync(dealId, DealParty.Buyer, "item damaged");
        Assert.True(disputed.ExpiryPaused);
        var withEvidence = await writer.Deals.SubmitEvidenceAsync(dealId, new EvidenceRequest("photo-1", "photo", Content: "a cracked screen"));
        Assert.Equal(1, withEvidence.EvidenceCount);
        var resolved = await writer.Deals.ResolveAsync(dealId, 150m, 50m, "split");
        Assert.Equal((DealStates.Resolved, 0m, 150m, 150m), (resolved.Status, resolved.Held, resolved.Released, resolved.Refunded));

        var past = await auditor.Deals.GetAsync(dealId, whileFunded);
        Assert.Equal((DealStates.Funded, 300m), (past.Status, past.Held));
        Assert.Equal(DealStates.Resolved, (await auditor.Deals.GetAsync(dealId)).Status);
        var events = await auditor.Deals.GetEventsAsync(dealId, pageSize: 2).ToListAsync();
        Assert.Equal(resolved.Version, events.Count);
        Assert.Equal(Enumerable.Range(1, events.Count).Select(v => (long)v), events.Select(e => e.Version));
        Assert.Equal(2, (await auditor.Deals.GetEventsPageAsync(dealId, afterVersion: 1, limit: 2)).Count);

        var other = Id("deal");
        await writer.Deals.CreateAsync(new CreateDealRequest(buyer, seller, 50m, "EUR", other));
        await writer.Deals.FundAsync(other);
        Assert.Equal((DealStates.Cancelled, 50m), ((await writer.Deals.CancelAsync(other, "changed my mind")).Status, 50m));

        await writer.Cluster.WaitForProjectionsAsync();
        var timeline = await auditor.Deals.GetTimelineAsync(dealId);
        Assert.Equal(
            [DealStates.Created, DealStates.Funded, DealStates.PartiallyReleased, DealStates.Disputed, DealStates.Disputed, DealStates.Resolved],
            timeline.Select(t => t.ToStatus));
        var resolvedPage = await writer.Deals.ListPageAsync(DealStates.Resolved);
        Assert.Equal([dealId], resolvedPage.Deals.Select(d => d.DealId));
        Assert.Null(resolvedPage.NextAfter);
        Assert.Equal(new[] { dealId, other }.Order(StringComparer.Ordinal), await writer.Deals.ListAsync().Select(d => d.DealId).ToListAsync());
        Assert.Equal(1000m - 300m + 150m - 50m + 50m, (await writer.Accounts.GetBalanceAsync(buyer)).Balance);
        Assert.Equal(150m, (await writer.Accounts.GetBalanceAsync(seller)).Balance);
    }

    [Fact]
    public async Task Error_answers_are_typed_exceptions_carrying_the_problem_and_are_never_retried()
    {
        await using var silo = new SiloFactory(_db);
        var (root, writerClient, _, _) = await TenantAsync(silo);
        var key = writerClient.Options.ApiKey!;
        var counter = new CountingHandler();
        var writer = Sdk(silo, key, counter);
        var alice = Id("alice"); var bob = Id("bob");
        await writer.Accounts.OpenAsync(new OpenAccountRequest(alice, "Alice", "EUR"));
        await writer.Accounts.OpenAsync(new OpenAccountRequest(bob, "Bob", "EUR"));
        await writer.Accounts.DepositAsync(alice, new MoneyRequest(10m, "EUR"));
        var eventsBefore = await _db.EventCountAsync();

        counter.Reset();
        var funds = await Assert.ThrowsAsync<EscrowConflictException>(() => writer.Accounts.TransferAsync(new TransferRequest(alice, bob, 10.01m, "EUR")));
        Assert.Equal((409, HttpStatusCode.Conflict, "insufficient_funds"), (funds.Status, funds.StatusCode, funds.Code));
        Assert.Equal("https://escrow.dev/problems/insufficient-funds", funds.Type);
        Assert.Equal("The command conflicts with the current state", funds.Title);
        Assert.Contains(alice, funds.Detail, StringComparison.Ordinal);
        Assert.Equal(("POST", "/transfers"), (funds.Method, funds.Path));
        Assert.NotNull(funds.IdempotencyKey);
        Assert.Equal(1, counter.Requests);   // a business answer is not retried

        var missing = await Assert.ThrowsAsync<EscrowNotFoundException>(() => writer.Accounts.GetBalanceAsync("no-such-account"));
        Assert.Equal((404, "account_not_found"), (missing.Status, missing.Code));
        var missingDeal = await Assert.ThrowsAsync<EscrowNotFoundException>(() => writer.Deals.FundAsync("no-such-deal"));
        Assert.Equal("deal_not_found", missingDeal.Code);

        var reusedKey = "sdk-reuse-" + Guid.NewGuid();
        await writer.Accounts.DepositAsync(alice, new MoneyRequest(1m, "EUR"), reusedKey);
        counter.Reset();
        var reused = await Assert.ThrowsAsync<EscrowIdempotencyKeyReusedException>(() => writer.Accounts.DepositAsync(alice, new MoneyRequest(2m, "EUR"), reusedKey));
        Assert.Equal((422, "idempotency_key_reused", reusedKey), (reused.Status, reused.Code, reused.IdempotencyKey));
        Assert.Equal(1, counter.Requests);

        var bad = await Assert.ThrowsAsync<EscrowBadRequestException>(() => writer.Accounts.DepositAsync(alice, new MoneyRequest(1m, "XXX")));
        Assert.Equal((400, "unknown_currency"), (bad.Status, bad.Code));
        var precision = await Assert.ThrowsAsync<EscrowBadRequestException>(() => writer.Accounts.DepositAsync(alice, new MoneyRequest(1.001m, "EUR")));
        Assert.Equal("amount_precision", precision.Code);
        var forbidden = await Assert.ThrowsAsync<EscrowForbiddenException>(() => writer.Institutions.ListAsync());
        Assert.Equal((403, "forbidden"), (forbidden.Status, forbidden.Code));
        var unknownKey = await Assert.ThrowsAsync<EscrowUnauthorizedException>(() => Sdk(silo, "esk_not-a-key").Accounts.GetAsync(alice));
        Assert.Equal((401, "api_key_invalid"), (unknownKey.Status, unknownKey.Code));
        var exists = await Assert.ThrowsAsync<EscrowConflictException>(() => writer.Accounts.OpenAsync(new OpenAccountRequest(bob, "Bob again", "EUR")));
        Assert.Equal("account_exists", exists.Code);
        Assert.IsAssignableFrom<EscrowProblemException>(exists);
        Assert.True(exists.Extensions.Count == 0);

        // 1.00 deposited with the reused key; nothing else changed anything.
        Assert.Equal(eventsBefore + 2, await _db.EventCountAsync());
        Assert.Equal(11m, (await writer.Accounts.GetAsync(alice)).Balance);
    }

    [Fact]
    public async Task A_command_whose_answer_was_lost_is_retried_with_the_same_key_and_applied_once()
    {
        await using var silo = new SiloFactory(_db);
        var (_, writerClient, _, _) = await TenantAsync(silo);
        var key = writerClient.Options.ApiKey!;
        var alice = Id("alice"); var bob = Id("bob");
        await writerClient.Accounts.OpenAsync(new OpenAccountRequest(alice, "Alice", "EUR"));
        await writerClient.Accounts.OpenAsync(new OpenAccountRequest(bob, "Bob", "EUR"));
        await writerClient.Accounts.DepositAsync(alice, new MoneyRequest(100m, "EUR"));

        // 1. The silo applies the transfer, then the connection drops before the answer arrives.
        var drop = new FaultHandler(FaultHandler.Fault.DropAnswer, failures: 1);
        var client = Sdk(silo, key, drop);
        var before = await _db.EventCountAsync();
        var result = await client.Accounts.TransferAsync(new TransferRequest(alice, bob, 30m, "EUR", "lost answer"));
        Assert.Equal(2, drop.Requests);
        Assert.Single(drop.Keys.Distinct());                            // every attempt carried the same key
        Assert.Equal(before + 2, await _db.EventCountAsync());          // one posting: a debit and a credit event
        Assert.Equal(70m, result.Accounts.Single(a => a.AccountId == alice).Balance);

        // 2. The silo applies the deposit, a proxy answers 503 with Retry-After: the retry gets the stored answer.
        var unavailable = new FaultHandler(FaultHandler.Fault.ServiceUnavailableAfterApplying, failures: 2);
        client = Sdk(silo, key, unavailable);
        before = await _db.EventCountAsync();
        var deposit = await client.Accounts.DepositAsync(bob, new MoneyRequest(5m, "EUR"));
        Assert.Equal(3, unavailable.Requests);
        Assert.Single(unavailable.Keys.Distinct());
        Assert.Equal(before + 2, await _db.EventCountAsync());
        Assert.Equal(35m, deposit.Accounts.Single(a => a.AccountId == bob).Balance);

        // 3. Retries exhausted: the caller sees the failure and may repeat later with the same key, still once.
        var down = new FaultHandler(FaultHandler.Fault.DropAnswer, failures: 100);
        var impatient = Sdk(silo, key, down, o => o.MaxRetries = 1);
        var myKey = "caller-key-" + Guid.NewGuid();
        before = await _db.EventCountAsync();
        await Assert.ThrowsAsync<HttpRequestException>(() => impatient.Accounts.WithdrawAsync(alice, new MoneyRequest(20m, "EUR"), myKey));
        Assert.Equal(2, down.Requests);
        var again = await writerClient.Accounts.WithdrawAsync(alice, new MoneyRequest(20m, "EUR"), myKey);
        Assert.Equal(50m, again.Accounts.Single(a => a.AccountId == alice).Balance);
        Assert.Equal(before + 2, await _db.EventCountAsync());

        // 4. An institution is deduplicated by the silo too: after a lost answer the retry gets the first answer (not 409).
        var rootDrop = new FaultHandler(FaultHandler.Fault.DropAnswer, failures: 1);
        var root = Sdk(silo, SiloFactory.RootKey, rootDrop);
        var institution = SiloFactory.NewInstitution();
        Assert.Equal(institution, (await root.Institutions.CreateAsync(institution)).InstitutionId);
        Assert.Equal(2, rootDrop.Requests);
        Assert.Single(rootDrop.Keys.Distinct());
        // An API key whose answer was lost: the retry names the key it created, and there is still exactly one key.
        var keyDrop = new FaultHandler(FaultHandler.Fault.DropAnswer, failures: 1);
        var lost = await Assert.ThrowsAsync<EscrowConflictException>(() => Sdk(silo, SiloFactory.RootKey, keyDrop).Institutions.CreateKeyAsync(institution, ApiKeyRole.Auditor));
        Assert.Equal(("api_key_already_created", 2), (lost.Code, keyDrop.Requests));
        Assert.Equal(1L, await _db.ScalarAsync<long>($"SELECT count(*) FROM api_keys WHERE institution_id = '{institution}'"));

        // 5. Reads are retried too (no key needed: they change nothing).
        var readDrop = new FaultHandler(FaultHandler.Fault.DropAnswer, failures: 2);
        Assert.Equal(50m, (await Sdk(silo, key, readDrop).Accounts.GetAsync(alice)).Balance);
        Assert.Equal(3, readDrop.Requests);
    }

    [Fact]
    public async Task Paging_helpers_return_every_row_across_pages()
    {
        await using var silo = new SiloFactory(_db);
        var (_, writer, auditor, _) = await TenantAsync(silo);
        var acc = Id("acc"); var buyer = Id("buyer"); var seller = Id("seller");
        await writer.Accounts.OpenAsync(new OpenAccountRequest(acc, "Paged", "EUR"));
        for (var i = 1; i <= 23; i++)
            await writer.Accounts.DepositAsync(acc, new MoneyRequest(i, "EUR", $"deposit {i}"));
        await writer.Accounts.OpenAsync(new OpenAccountRequest(buyer, "Buyer", "EUR"));
        await writer.Accounts.OpenAsync(new OpenAccountRequest(seller, "Seller", "EUR"));
        var dealIds = new List<string>();
        for (var i = 0; i < 9; i++)
            dealIds.Add((await writer.Deals.CreateAsync(new CreateDealRequest(buyer, seller, 10m + i, "EUR"))).DealId);
        await writer.Cluster.WaitForProjectionsAsync();

        var lines = await auditor.Accounts.GetStatementAsync(acc, pageSize: 5).ToListAsync();
        Assert.Equal(Enumerable.Range(1, 23).Select(i => (decimal)i), lines.Select(l => l.Amount));
        Assert.Equal(Enumerable.Range(1, 23).Sum(), lines[^1].BalanceAfter);
        Assert.Equal(lines.Select(l => l.PostingId), (await auditor.Accounts.GetStatementPageAsync(acc, limit: 1000)).Lines.Select(l => l.PostingId));
        var fromTen = await auditor.Accounts.GetStatementAsync(acc, afterVersion: lines[9].Version, pageSize: 4).ToListAsync();
        Assert.Equal(lines.Skip(10).Select(l => l.Version), fromTen.Select(l => l.Version));

        var events = await auditor.Accounts.GetEventsAsync(acc, pageSize: 4).ToListAsync();   // 24 events: exactly 6 full pages
        Assert.Equal(Enumerable.Range(1, 24).Select(v => (long)v), events.Select(e => e.Version));

        var deals = await writer.Deals.ListAsync(DealStates.Created, pageSize: 4).ToListAsync();
        Assert.Equal(dealIds.Order(StringComparer.Ordinal), deals.Select(d => d.DealId));

        var records = await auditor.Audit.QueryAsync(pageSize: 7).ToListAsync();
        var single = await auditor.Audit.QueryPageAsync(limit: 1000);
        Assert.Null(single.NextAfter);
        Assert.True(records.Count > 7 * 4, $"only {records.Count} audit records");
        Assert.Equal(single.Records.Select(r => r.AuditId), records.Select(r => r.AuditId));
    }

    [Fact]
    public async Task Timeouts_refused_connections_and_rate_limits_are_retried_safely_and_cancellation_is_not()
    {
        await using var silo = new SiloFactory(_db);
        var (_, writerClient, _, _) = await TenantAsync(silo);
        var key = writerClient.Options.ApiKey!;
        var alice = Id("alice");
        await writerClient.Accounts.OpenAsync(new OpenAccountRequest(alice, "Alice", "EUR"));
        await writerClient.Accounts.DepositAsync(alice, new MoneyRequest(1m, "EUR"));   // opens the institution's cash account first

        // The answer comes too late for the attempt timeout: the retry gets the stored answer, applied once.
        var slow = new FaultHandler(FaultHandler.Fault.SlowAnswerAfterApplying, failures: 1);
        var before = await _db.EventCountAsync();
        var deposit = await Sdk(silo, key, slow, o => o.AttemptTimeout = TimeSpan.FromSeconds(2)).Accounts.DepositAsync(alice, new MoneyRequest(7m, "EUR"));
        Assert.Equal((2, 8m), (slow.Requests, deposit.Accounts.Single(a => a.AccountId == alice).Balance));
        Assert.Single(slow.Keys.Distinct());
        Assert.Equal(before + 2, await _db.EventCountAsync());

        // A write is repeated when the connection was refused (the silo never saw it)...
        var refused = new FaultHandler(FaultHandler.Fault.RefuseConnection, failures: 2);
        var institution = SiloFactory.NewInstitution();
        Assert.Equal(institution, (await Sdk(silo, SiloFactory.RootKey, refused).Institutions.CreateAsync(institution)).InstitutionId);
        Assert.Equal(3, refused.Requests);
        // ... and after a 429 (rate limited: not processed), honouring Retry-After.
        var limited = new FaultHandler(FaultHandler.Fault.TooManyRequests, failures: 1);
        var created = await Sdk(silo, SiloFactory.RootKey, limited).Institutions.CreateKeyAsync(institution, ApiKeyRole.Auditor);
        Assert.Equal((2, "auditor"), (limited.Requests, created.Role));

        // Retries give up after MaxRetries with the last transient answer as a typed exception.
        var unavailable = new FaultHandler(FaultHandler.Fault.TooManyRequests, failures: 100);
        var gaveUp = await Assert.ThrowsAsync<EscrowProblemException>(() => Sdk(silo, key, unavailable, o => o.MaxRetries = 2).Accounts.GetAsync(alice));
        Assert.Equal((429, null, 3), (gaveUp.Status, gaveUp.Code, unavailable.Requests));

        // The caller's cancellation ends the call at once and is not retried.
        var hang = new FaultHandler(FaultHandler.Fault.Hang, failures: 100);
        using var cts = new CancellationTokenSource();
        var call = Sdk(silo, key, hang).Accounts.DepositAsync(alice, new MoneyRequest(1m, "EUR"), cancellationToken: cts.Token);
        // Cancelled once the first attempt is on the wire (a fixed delay could fire before it, on a slow machine).
        await EscrowTestCluster.WaitUntilAsync(() => Task.FromResult(hang.Requests >= 1), TimeSpan.FromSeconds(10), "the call did not start");
        await Task.Delay(100);
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call);
        Assert.Equal(1, hang.Requests);
        Assert.Equal(8m, (await writerClient.Accounts.GetAsync(alice)).Balance);
    }

    [Fact]
    public async Task AddEscrowClient_registers_a_client_from_IHttpClientFactory()
    {
        await using var silo = new SiloFactory(_db);
        var key = await silo.CreateKeyAsync(SiloFactory.NewInstitution());
        var services = new ServiceCollection();
        services.AddEscrowClient(o =>
        {
            o.BaseAddress = silo.Server.BaseAddress;
            o.ApiKey = key;
        }).ConfigurePrimaryHttpMessageHandler(() => silo.Server.CreateHandler());
        await using var provider = services.BuildServiceProvider();

        var client = provider.GetRequiredService<EscrowClient>();
        Assert.Equal(key, client.Options.ApiKey);
        Assert.True(await client.Cluster.IsHealthyAsync());
        var id = Id("di");
        Assert.Equal(id, (await client.Accounts.OpenAsync(new OpenAccountRequest(id, "DI", "CZK"))).AccountId);
        Assert.Equal(0m, (await provider.GetRequiredService<EscrowClient>().Accounts.GetBalanceAsync(id)).Balance);

        var invalid = new ServiceCollection();
        invalid.AddEscrowClient(o => o.ApiKey = key);
        await using var bad = invalid.BuildServiceProvider();
        Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(() => bad.GetRequiredService<EscrowClient>());
    }

    /// <summary>Counts requests.</summary>
    private sealed class CountingHandler : DelegatingHandler
    {
        private int _requests;
        public int Requests => _requests;
        public void Reset() => _requests = 0;

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _requests);
            return base.SendAsync(request, cancellationToken);
        }
    }

    /// <summary>
    /// Fails the first <c>failures</c> requests. The "after applying" faults let the request reach the silo (so it is
    /// applied) and then lose the answer: the connection drops (<see cref="HttpRequestException"/>), a proxy answers 503
    /// with <c>Retry-After: 0</c>, or the answer comes too late for the attempt's timeout. The others never reach the
    /// silo: the connection is refused, a proxy answers 429 with <c>Retry-After: 0</c>, or the request hangs until cancelled.
    /// </summary>
    internal sealed class FaultHandler(FaultHandler.Fault fault, int failures) : DelegatingHandler
    {
        public enum Fault { DropAnswer, ServiceUnavailableAfterApplying, SlowAnswerAfterApplying, RefuseConnection, TooManyRequests, Hang }

        private int _requests;
        public int Requests => _requests;
        public List<string> Keys { get; } = [];

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var n = Interlocked.Increment(ref _requests);
            lock (Keys)
                if (request.Headers.TryGetValues("Idempotency-Key", out var k)) Keys.Add(k.Single());
            if (n > failures) return await base.SendAsync(request, cancellationToken);
            switch (fault)
            {
                case Fault.RefuseConnection:
                    throw new HttpRequestException(HttpRequestError.ConnectionError, "simulated: connection refused");
                case Fault.TooManyRequests:
                    return Transient(HttpStatusCode.TooManyRequests, request);
                case Fault.Hang:
                    await Task.Delay(Timeout.Infinite, cancellationToken);
                    throw new InvalidOperationException("unreachable");
            }
            var response = await base.SendAsync(request, cancellationToken);
            response.Dispose();   // the silo has answered (and applied the command); the client never sees it
            switch (fault)
            {
                case Fault.DropAnswer:
                    throw new HttpRequestException(HttpRequestError.ResponseEnded, "simulated: the connection dropped before the answer arrived");
                case Fault.SlowAnswerAfterApplying:
                    await Task.Delay(Timeout.Infinite, cancellationToken);   // until the client's attempt timeout gives up
                    throw new InvalidOperationException("unreachable");
                default:
                    return Transient(HttpStatusCode.ServiceUnavailable, request);
            }
        }

        private static HttpResponseMessage Transient(HttpStatusCode status, HttpRequestMessage request)
        {
            var r = new HttpResponseMessage(status)
            {
                Content = new StringContent($"<html>{(int)status} from the proxy</html>", System.Text.Encoding.UTF8, "text/html"),
                RequestMessage = request,
            };
            r.Headers.RetryAfter = new System.Net.Http.Headers.RetryConditionHeaderValue(TimeSpan.Zero);
            return r;
        }
    }
}
