using System.Net;
using Escrow.Testing;

namespace Escrow.Silo.Tests;

/// <summary>The HTTP frontend: commands, queries, RFC 7807 errors, idempotency.</summary>
public class HttpApiTests : IClassFixture<PgDatabase>, IAsyncLifetime
{
    private readonly PgDatabase _db;
    private SiloFactory _silo = null!;
    private HttpClient _http = null!;

    public HttpApiTests(PgDatabase db) => _db = db;

    public async Task InitializeAsync()
    {
        _silo = new SiloFactory(_db);
        _http = await _silo.ClientForAsync();
    }

    public async Task DisposeAsync() => await _silo.DisposeAsync();

    private static string Id(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..30];

    private async Task AssertProblemAsync(HttpResponseMessage r, HttpStatusCode status, string code)
    {
        var text = await r.Content.ReadAsStringAsync();
        Assert.True(status == r.StatusCode, $"expected {(int)status}, got {(int)r.StatusCode}: {text}");
        Assert.Equal("application/problem+json", r.Content.Headers.ContentType?.MediaType);
        var body = await r.JsonAsync();
        Assert.Equal((int)status, body.GetProperty("status").GetInt32());
        Assert.Equal(code, body.GetProperty("code").GetString());
        Assert.False(string.IsNullOrWhiteSpace(body.GetProperty("detail").GetString()));
    }

    [Fact]
    public async Task Open_deposit_transfer_and_read_balances()
    {
        var a = Id("a"); var b = Id("b");
        Assert.Equal(HttpStatusCode.Created, (await _http.OpenAsync(a)).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await _http.OpenAsync(b)).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await _http.DepositAsync(a, 100.50m)).StatusCode);
        var t = await _http.TransferAsync(a, b, 40.25m);
        Assert.Equal(HttpStatusCode.Created, t.StatusCode);
        Assert.Equal(60.25m, await _http.BalanceAsync(a));
        Assert.Equal(40.25m, await _http.BalanceAsync(b));

        var account = await (await _http.GetAsync($"/accounts/{a}")).JsonAsync();
        Assert.Equal("Open", account.GetProperty("status").GetString());
        Assert.Equal(3, account.GetProperty("version").GetInt64());
    }

    [Theory]
    [InlineData("{\"amount\":10,\"currency\":\"EUR\"", "malformed_json")]
    [InlineData("""{"amount":10,"currency":"XYZ"}""", "unknown_currency")]
    [InlineData("""{"amount":-5,"currency":"EUR"}""", "invalid_amount")]
    [InlineData("""{"amount":0,"currency":"EUR"}""", "invalid_amount")]
    [InlineData("""{"amount":1.001,"currency":"EUR"}""", "amount_precision")]
    [InlineData("""{"amount":1.5,"currency":"JPY"}""", "amount_precision")]
    [InlineData("""{"amount":"ten","currency":"EUR"}""", "malformed_json")]
    [InlineData("""{"ammount":10,"currency":"EUR"}""", "malformed_json")]
    [InlineData("""{"currency":"EUR"}""", "missing_field")]
    [InlineData("""[1,2]""", "malformed_json")]
    [InlineData("""{"amount":1e400,"currency":"EUR"}""", "malformed_json")]
    public async Task Malformed_deposits_are_400_problems_and_change_nothing(string body, string code)
    {
        var a = Id("m");
        await _http.OpenAsync(a);
        var before = await _db.EventCountAsync();
        await AssertProblemAsync(await _http.CommandAsync($"/accounts/{a}/deposits", body), HttpStatusCode.BadRequest, code);
        Assert.Equal(before, await _db.EventCountAsync());
    }

    [Theory]
    [InlineData("/accounts", """{"accountId":"bad id!","owner":"x","currency":"EUR"}""", "invalid_account_id")]
    [InlineData("/accounts", """{"accountId":"ok-id","owner":"x","currency":"eur"}""", "unknown_currency")]
    [InlineData("/accounts", """{"accountId":"ok-id2","owner":"x","currency":"EUR","kind":"weird"}""", "invalid_kind")]
    [InlineData("/accounts", """{"accountId":"ok-id3","owner":"x","currency":"EUR","overdraftLimit":-1}""", "invalid_overdraft")]
    [InlineData("/accounts/x%20y/deposits", """{"amount":1,"currency":"EUR"}""", "invalid_account_id")]
    [InlineData("/transfers", """{"from":"a","amount":1,"currency":"EUR"}""", "missing_field")]
    public async Task Malformed_commands_are_400(string path, string body, string code)
    {
        var before = await _db.EventCountAsync();
        await AssertProblemAsync(await _http.CommandAsync(path, body), HttpStatusCode.BadRequest, code);
        Assert.Equal(before, await _db.EventCountAsync());
    }

    [Fact]
    public async Task A_mutating_request_without_an_idempotency_key_is_refused()
    {
        using var req = new HttpRequestMessage(HttpMethod.Post, "/accounts")
        {
            Content = new StringContent("""{"accountId":"no-key","owner":"x","currency":"EUR"}""", System.Text.Encoding.UTF8, "application/json"),
        };
        await AssertProblemAsync(await _http.SendAsync(req), HttpStatusCode.BadRequest, "idempotency_key_required");
        Assert.Equal(HttpStatusCode.NotFound, (await _http.GetAsync("/accounts/no-key")).StatusCode);
    }

    [Fact]
    public async Task Unknown_accounts_are_404_for_queries_and_commands()
    {
        await AssertProblemAsync(await _http.GetAsync("/accounts/nobody-here"), HttpStatusCode.NotFound, "account_not_found");
        await AssertProblemAsync(await _http.GetAsync("/accounts/nobody-here/balance"), HttpStatusCode.NotFound, "account_not_found");
        await AssertProblemAsync(await _http.GetAsync("/accounts/nobody-here/statement"), HttpStatusCode.NotFound, "account_not_found");
        await AssertProblemAsync(await _http.GetAsync("/accounts/nobody-here/events"), HttpStatusCode.NotFound, "account_not_found");
        var a = Id("k");
        await _http.OpenAsync(a);
        await AssertProblemAsync(await _http.TransferAsync(a, "nobody-here", 1m), HttpStatusCode.NotFound, "account_not_found");
    }

    [Fact]
    public async Task Business_conflicts_are_409_with_a_stable_code()
    {
        var a = Id("c"); var b = Id("c"); var usd = Id("u");
        await _http.OpenAsync(a); await _http.OpenAsync(b); await _http.OpenAsync(usd, "USD");
        await _http.DepositAsync(a, 10m);
        await AssertProblemAsync(await _http.TransferAsync(a, b, 10.01m), HttpStatusCode.Conflict, "insufficient_funds");
        await AssertProblemAsync(await _http.TransferAsync(a, usd, 1m), HttpStatusCode.Conflict, "currency_mismatch");
        await AssertProblemAsync(await _http.OpenAsync(a), HttpStatusCode.Conflict, "account_exists");
        await AssertProblemAsync(await _http.CommandAsync($"/accounts/{a}/close", null), HttpStatusCode.Conflict, "balance_not_zero");
        Assert.Equal(HttpStatusCode.OK, (await _http.CommandAsync($"/accounts/{a}/freeze", """{"reason":"kyc review"}""")).StatusCode);
        await AssertProblemAsync(await _http.WithdrawAsync(a, 1m), HttpStatusCode.Conflict, "account_frozen");
        Assert.Equal(HttpStatusCode.Created, (await _http.DepositAsync(a, 1m)).StatusCode);   // frozen accounts accept credits
        Assert.Equal(HttpStatusCode.OK, (await _http.CommandAsync($"/accounts/{a}/unfreeze", null)).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await _http.WithdrawAsync(a, 11m)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await _http.CommandAsync($"/accounts/{a}/close", null)).StatusCode);
        await AssertProblemAsync(await _http.DepositAsync(a, 1m), HttpStatusCode.Conflict, "account_closed");
    }

    [Fact]
    public async Task A_retry_with_the_same_key_returns_the_first_answer_and_appends_nothing()
    {
        var a = Id("i");
        await _http.OpenAsync(a);
        var first = await _http.DepositAsync(a, 5m, key: "dep-" + a);
        var firstBody = await first.Content.ReadAsStringAsync();
        var events = await _db.EventCountAsync();

        var retry = await _http.DepositAsync(a, 5m, key: "dep-" + a);
        Assert.Equal(first.StatusCode, retry.StatusCode);
        Assert.Equal(firstBody, await retry.Content.ReadAsStringAsync());
        Assert.Equal(events, await _db.EventCountAsync());
        Assert.Equal(5m, await _http.BalanceAsync(a));

        // Same key, different body: refused, nothing applied.
        await AssertProblemAsync(await _http.DepositAsync(a, 6m, key: "dep-" + a), HttpStatusCode.UnprocessableEntity, "idempotency_key_reused");
        Assert.Equal(5m, await _http.BalanceAsync(a));
        Assert.Equal(events, await _db.EventCountAsync());
    }

    [Fact]
    public async Task Concurrent_retries_of_one_request_apply_it_once()
    {
        var a = Id("r");
        await _http.OpenAsync(a);
        var answers = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => _http.DepositAsync(a, 7m, key: "same-" + a)));
        Assert.All(answers, r => Assert.Equal(HttpStatusCode.Created, r.StatusCode));
        Assert.Single((await Task.WhenAll(answers.Select(r => r.Content.ReadAsStringAsync()))).Distinct());
        Assert.Equal(7m, await _http.BalanceAsync(a));
    }

    [Fact]
    public async Task A_rejected_command_replays_its_rejection_for_the_same_key()
    {
        var a = Id("j"); var b = Id("j");
        await _http.OpenAsync(a); await _http.OpenAsync(b);
        var first = await _http.TransferAsync(a, b, 5m, key: "t-" + a);
        Assert.Equal(HttpStatusCode.Conflict, first.StatusCode);
        await _http.DepositAsync(a, 10m);
        var retry = await _http.TransferAsync(a, b, 5m, key: "t-" + a);
        Assert.Equal(HttpStatusCode.Conflict, retry.StatusCode);   // the first answer, not a second execution
        Assert.Equal(await first.Content.ReadAsStringAsync(), await retry.Content.ReadAsStringAsync());
        Assert.Equal(10m, await _http.BalanceAsync(a));
    }

    [Fact]
    public async Task A_posting_is_reversed_once_and_money_returns()
    {
        var a = Id("v"); var b = Id("v");
        await _http.OpenAsync(a); await _http.OpenAsync(b);
        await _http.DepositAsync(a, 30m);
        var posting = (await (await _http.TransferAsync(a, b, 12m)).JsonAsync()).GetProperty("postingId").GetString();
        var rev = await _http.CommandAsync($"/accounts/{b}/postings/{posting}/reversal", """{"reason":"chargeback"}""");
        Assert.Equal(HttpStatusCode.Created, rev.StatusCode);
        Assert.Equal(posting, (await rev.JsonAsync()).GetProperty("reversalOf").GetString());
        Assert.Equal(30m, await _http.BalanceAsync(a));
        Assert.Equal(0m, await _http.BalanceAsync(b));
        await AssertProblemAsync(await _http.CommandAsync($"/accounts/{a}/postings/{posting}/reversal", null), HttpStatusCode.Conflict, "posting_already_reversed");
        await AssertProblemAsync(await _http.CommandAsync($"/accounts/{a}/postings/no-such-posting/reversal", null), HttpStatusCode.NotFound, "posting_not_found");
    }

    [Fact]
    public async Task Statement_pages_and_the_audit_stream_show_every_posting_with_metadata()
    {
        var a = Id("s");
        await _http.OpenAsync(a);
        for (var i = 1; i <= 5; i++) await _http.DepositAsync(a, i);
        await _http.WaitForProjectionsAsync();
        var page1 = await (await _http.GetAsync($"/accounts/{a}/statement?limit=3")).JsonAsync();
        Assert.Equal([1m, 3m, 6m], page1.GetProperty("lines").EnumerateArray().Select(l => l.GetProperty("balanceAfter").GetDecimal()));
        var next = page1.GetProperty("nextAfterVersion").GetInt64();
        var page2 = await (await _http.GetAsync($"/accounts/{a}/statement?limit=3&after={next}")).JsonAsync();
        Assert.Equal([10m, 15m], page2.GetProperty("lines").EnumerateArray().Select(l => l.GetProperty("balanceAfter").GetDecimal()));

        var events = await (await _http.GetAsync($"/accounts/{a}/events")).JsonAsync();
        var list = events.EnumerateArray().ToList();
        Assert.Equal(6, list.Count);
        Assert.Equal("AccountOpened", list[0].GetProperty("eventType").GetString());
        Assert.All(list, e => Assert.Equal(64, e.GetProperty("hash").GetString()!.Length));
        Assert.All(list, e => Assert.False(string.IsNullOrEmpty(e.GetProperty("metadata").GetProperty("correlationId").GetString())));
        Assert.Equal(list[0].GetProperty("hash").GetString(), list[1].GetProperty("prevHash").GetString());
        await AssertProblemAsync(await _http.GetAsync($"/accounts/{a}/statement?limit=0"), HttpStatusCode.BadRequest, "invalid_limit");
    }

    [Fact]
    public async Task Bad_query_parameters_are_400()
    {
        var a = Id("q");
        await _http.OpenAsync(a);
        await AssertProblemAsync(await _http.GetAsync($"/accounts/{a}/balance?at=yesterday"), HttpStatusCode.BadRequest, "invalid_instant");
        await AssertProblemAsync(await _http.GetAsync($"/accounts/{a}/balance?source=magic"), HttpStatusCode.BadRequest, "invalid_source");
        var r = await _http.GetAsync($"/accounts/{a}/statement?after=abc");
        Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
    }

    [Fact]
    public async Task The_OpenAPI_document_lists_the_ledger_routes()
    {
        var doc = await (await _http.GetAsync("/openapi/v1.json")).JsonAsync();
        var paths = doc.GetProperty("paths").EnumerateObject().Select(p => p.Name).ToList();
        Assert.Contains("/transfers", paths);
        Assert.Contains("/accounts/{id}/balance", paths);
        Assert.Contains("/accounts/{id}/postings/{postingId}/reversal", paths);
    }
}
