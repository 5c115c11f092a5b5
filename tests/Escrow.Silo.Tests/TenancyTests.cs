using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Escrow.EventStore;
using Escrow.Testing;
using Npgsql;

namespace Escrow.Silo.Tests;

/// <summary>Institutions, API keys, roles and the audit log, through HTTP on a real database.</summary>
public class TenancyTests : IClassFixture<PgDatabase>, IAsyncLifetime
{
    private readonly PgDatabase _db;
    private SiloFactory _silo = null!;

    public TenancyTests(PgDatabase db) => _db = db;

    public Task InitializeAsync()
    {
        _silo = new SiloFactory(_db);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _silo.DisposeAsync();

    private static string Id(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..24];

    private sealed record Key(string KeyId, string Secret, HttpClient Http);

    private async Task<Key> KeyAsync(string institution, string role)
    {
        using var root = _silo.RootClient();
        await root.PostAsync("/institutions", Json($$"""{"institutionId":"{{institution}}","name":"Bank {{institution}}"}"""));
        var r = await root.PostAsync($"/institutions/{institution}/keys", Json($$"""{"role":"{{role}}"}"""));
        Assert.Equal(HttpStatusCode.Created, r.StatusCode);
        var body = await r.JsonAsync();
        var secret = body.GetProperty("apiKey").GetString()!;
        return new Key(body.GetProperty("keyId").GetString()!, secret, _silo.ClientWithKey(secret));
    }

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private static async Task<int> StatusAsync(Task<HttpResponseMessage> call) => (int)(await call).StatusCode;

    private static async Task AssertProblemAsync(HttpResponseMessage r, int status, string code)
    {
        var text = await r.Content.ReadAsStringAsync();
        Assert.True(status == (int)r.StatusCode, $"expected {status}, got {(int)r.StatusCode}: {text}");
        Assert.Equal("application/problem+json", r.Content.Headers.ContentType?.MediaType);
        var body = JsonDocument.Parse(text).RootElement;
        Assert.Equal(status, body.GetProperty("status").GetInt32());
        Assert.Equal(code, body.GetProperty("code").GetString());
    }

    [Fact]
    public async Task Every_role_against_every_endpoint_class()
    {
        var a = SiloFactory.NewInstitution(); var b = SiloFactory.NewInstitution();
        var writerA = await KeyAsync(a, "writer");
        var auditorA = await KeyAsync(a, "auditor");
        var writerB = await KeyAsync(b, "writer");
        var auditorB = await KeyAsync(b, "auditor");
        var root = _silo.RootClient();
        root.DefaultRequestHeaders.Add("X-Escrow-Tenant", a);   // root acts for one institution at a time
        var anonymous = _silo.CreateClient();
        var wrongKey = _silo.ClientWithKey("esk_not-a-key-of-this-silo");
        var account = Id("acct");
        Assert.Equal(HttpStatusCode.Created, (await writerA.Http.OpenAsync(account)).StatusCode);

        // command, query, audit, admin (write), admin (read)
        Task<HttpResponseMessage> Command(HttpClient c) => c.DepositAsync(account, 1m);
        Task<HttpResponseMessage> Query(HttpClient c) => c.GetAsync($"/accounts/{account}/balance");
        Task<HttpResponseMessage> Audit(HttpClient c) => c.GetAsync("/audit");
        Task<HttpResponseMessage> AdminWrite(HttpClient c) => c.PostAsync("/institutions", Json($$"""{"institutionId":"{{SiloFactory.NewInstitution()}}"}"""));
        Task<HttpResponseMessage> AdminRead(HttpClient c) => c.GetAsync("/institutions");
        Task<HttpResponseMessage> AdminKey(HttpClient c) => c.PostAsync($"/institutions/{a}/keys", Json("""{"role":"writer"}"""));

        var expected = new (string Who, HttpClient Client, int Command, int Query, int Audit, int AdminWrite, int AdminRead, int AdminKey)[]
        {
            ("no key", anonymous, 401, 401, 401, 401, 401, 401),
            ("unknown key", wrongKey, 401, 401, 401, 401, 401, 401),
            ("writer of A", writerA.Http, 201, 200, 403, 403, 403, 403),
            ("auditor of A", auditorA.Http, 403, 200, 200, 403, 403, 403),
            ("writer of B", writerB.Http, 404, 404, 403, 403, 403, 403),
            ("auditor of B", auditorB.Http, 403, 404, 200, 403, 403, 403),
            ("root", root, 201, 200, 200, 201, 200, 201),
        };
        var failures = new List<string>();
        foreach (var e in expected)
        {
            var got = (await StatusAsync(Command(e.Client)), await StatusAsync(Query(e.Client)), await StatusAsync(Audit(e.Client)),
                await StatusAsync(AdminWrite(e.Client)), await StatusAsync(AdminRead(e.Client)), await StatusAsync(AdminKey(e.Client)));
            var want = (e.Command, e.Query, e.Audit, e.AdminWrite, e.AdminRead, e.AdminKey);
            if (got != want) failures.Add($"{e.Who}: expected {want}, got {got}");
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));

        // The codes: 401 names the missing or unknown key, 403 the role, 404 is the same as for a missing account.
        await AssertProblemAsync(await Command(anonymous), 401, "api_key_required");
        await AssertProblemAsync(await Query(wrongKey), 401, "api_key_invalid");
        await AssertProblemAsync(await Command(auditorA.Http), 403, "forbidden");
        await AssertProblemAsync(await AdminWrite(writerA.Http), 403, "forbidden");
        await AssertProblemAsync(await Command(writerB.Http), 404, "account_not_found");
        await AssertProblemAsync(await Query(writerB.Http), 404, "account_not_found");
        Assert.True((await anonymous.GetAsync("/health")).IsSuccessStatusCode);
        Assert.True((await anonymous.GetAsync("/openapi/v1.json")).IsSuccessStatusCode);
        // X-Api-Key works as well as Authorization: Bearer.
        using var req = new HttpRequestMessage(HttpMethod.Get, $"/accounts/{account}");
        req.Headers.Add("X-Api-Key", auditorA.Secret);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.SendAsync(req)).StatusCode);
        // writer A's deposit and root's (acting for A through X-Escrow-Tenant)
        Assert.Equal(2m, await writerA.Http.BalanceAsync(account));
    }

    [Fact]
    public async Task One_institution_never_sees_or_moves_another_institutions_accounts()
    {
        var a = SiloFactory.NewInstitution(); var b = SiloFactory.NewInstitution();
        var writerA = await KeyAsync(a, "writer");
        var writerB = await KeyAsync(b, "writer");
        var auditorB = await KeyAsync(b, "auditor");
        var mine = Id("a"); var theirs = Id("b"); var missing = Id("none");
        await writerA.Http.OpenAsync(mine);
        await writerA.Http.DepositAsync(mine, 100m);
        await writerB.Http.OpenAsync(theirs);
        await writerB.Http.DepositAsync(theirs, 50m);
        await writerA.Http.WaitForProjectionsAsync();

        foreach (var path in new[] { "", "/balance", "/balance?at=2030-01-01T00:00:00Z", "/statement", "/events" })
        {
            // Another tenant's account answers exactly like a missing one: same status, same code.
            await AssertProblemAsync(await writerB.Http.GetAsync($"/accounts/{mine}{path}"), 404, "account_not_found");
            await AssertProblemAsync(await auditorB.Http.GetAsync($"/accounts/{mine}{path}"), 404, "account_not_found");
            await AssertProblemAsync(await writerB.Http.GetAsync($"/accounts/{missing}{path}"), 404, "account_not_found");
        }
        var before = await _db.EventCountAsync();
        await AssertProblemAsync(await writerB.Http.TransferAsync(theirs, mine, 1m), 404, "account_not_found");
        await AssertProblemAsync(await writerB.Http.TransferAsync(mine, theirs, 1m), 404, "account_not_found");
        await AssertProblemAsync(await writerB.Http.WithdrawAsync(mine, 1m), 404, "account_not_found");
        await AssertProblemAsync(await writerB.Http.CommandAsync($"/accounts/{mine}/freeze", null), 404, "account_not_found");
        await AssertProblemAsync(await writerB.Http.CommandAsync($"/accounts/{theirs}/deposits",
            $$"""{"amount":1,"currency":"EUR","counterparty":"{{mine}}"}"""), 404, "account_not_found");
        // The operator's house accounts are reserved.
        await AssertProblemAsync(await writerB.Http.OpenAsync("house-cash-" + a + "-EUR"), 400, "reserved_account_id");
        Assert.Equal(100m, await writerA.Http.BalanceAsync(mine));
        Assert.Equal(before, await _db.EventCountAsync());   // every refusal appended nothing

        // A posting of tenant A cannot be reversed by B.
        var posting = (await (await writerA.Http.DepositAsync(mine, 5m)).JsonAsync()).GetProperty("postingId").GetString();
        await AssertProblemAsync(await writerB.Http.CommandAsync($"/accounts/{theirs}/postings/{posting}/reversal", null), 404, "posting_not_found");

        // Root acts for one institution at a time (X-Escrow-Tenant, else 'default'): it names A's accounts only when acting for A.
        await AssertProblemAsync(await _silo.RootClient().TransferAsync(mine, theirs, 10m), 404, "account_not_found");
        using var rootForA = _silo.RootClient();
        rootForA.DefaultRequestHeaders.Add("X-Escrow-Tenant", a);
        Assert.Equal(HttpStatusCode.Created, (await rootForA.WithdrawAsync(mine, 10m)).StatusCode);
        await AssertProblemAsync(await rootForA.TransferAsync(mine, theirs, 10m), 404, "account_not_found");
        Assert.Equal(95m, await writerA.Http.BalanceAsync(mine));
        Assert.Equal(50m, await writerB.Http.BalanceAsync(theirs));

        // Account ids are per institution: B opens an account with the id A uses, and the two never meet.
        Assert.Equal(HttpStatusCode.Created, (await writerB.Http.OpenAsync(mine)).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await writerB.Http.DepositAsync(mine, 7m)).StatusCode);
        Assert.Equal(7m, await writerB.Http.BalanceAsync(mine));
        Assert.Equal(95m, await writerA.Http.BalanceAsync(mine));
        await AssertProblemAsync(await writerA.Http.OpenAsync(mine), 409, "account_exists");   // within one institution an id is still taken once

        // Every stream, read-model row and event carries its tenant; deposits used per-tenant house accounts.
        await writerA.Http.WaitForProjectionsAsync();
        Assert.Equal(a, await _db.ScalarAsync<string>($"SELECT tenant FROM streams WHERE stream_id = 'account-{a}/{mine}'"));
        Assert.Equal(b, await _db.ScalarAsync<string>($"SELECT tenant FROM streams WHERE stream_id = 'account-{b}/{mine}'"));
        Assert.Equal(string.Join(",", new[] { a, b }.Order(StringComparer.Ordinal)),
            await _db.ScalarAsync<string>($"SELECT string_agg(tenant, ',' ORDER BY tenant) FROM account_balances WHERE account_id = '{mine}'"));
        Assert.Equal(95m, await _db.ScalarAsync<decimal>($"SELECT balance_after FROM account_statement WHERE tenant = '{a}' AND account_id = '{mine}' ORDER BY version DESC LIMIT 1"));
        Assert.Equal(7m, await _db.ScalarAsync<decimal>($"SELECT balance_after FROM account_statement WHERE tenant = '{b}' AND account_id = '{mine}' ORDER BY version DESC LIMIT 1"));
        Assert.Equal(a, await _db.ScalarAsync<string>($"SELECT tenant FROM streams WHERE stream_id = 'account-{a}/house-cash-{a}-EUR'"));
        Assert.Equal(b, await _db.ScalarAsync<string>($"SELECT tenant FROM streams WHERE stream_id = 'account-{b}/house-cash-{b}-EUR'"));
        Assert.Equal(0L, await _db.ScalarAsync<long>(
            $"SELECT count(*) FROM events WHERE stream_id = 'account-{b}/{theirs}' AND metadata ->> 'tenant' <> '{b}'"));

        // B's auditor sees only B's audit records.
        var audit = await (await auditorB.Http.GetAsync("/audit?limit=1000")).JsonAsync();
        var records = audit.GetProperty("records").EnumerateArray().ToList();
        Assert.NotEmpty(records);
        Assert.All(records, r => Assert.Equal(b, r.GetProperty("tenant").GetString()));
        Assert.DoesNotContain(records, r => r.GetProperty("streamIds").EnumerateArray().Any(s => s.GetString() == $"account-{a}/{mine}" && r.GetProperty("outcome").GetString() == "accepted"));
        var asked = await (await auditorB.Http.GetAsync($"/audit?tenant={a}")).JsonAsync();
        Assert.All(asked.GetProperty("records").EnumerateArray(), r => Assert.Equal(b, r.GetProperty("tenant").GetString()));
    }

    [Fact]
    public async Task Accepted_and_rejected_commands_leave_audit_records_with_their_outcome()
    {
        var a = SiloFactory.NewInstitution();
        var writer = await KeyAsync(a, "writer");
        var auditor = await KeyAsync(a, "auditor");
        var acct = Id("au");
        var correlation = Guid.NewGuid();
        var openJson = $$"""{"accountId":"{{acct}}","owner":"Audited","currency":"EUR"}""";
        using (var open = new HttpRequestMessage(HttpMethod.Post, "/accounts") { Content = Json(openJson) })
        {
            open.Headers.Add("Idempotency-Key", "open-" + acct);
            open.Headers.Add("X-Correlation-Id", correlation.ToString());
            Assert.Equal(HttpStatusCode.Created, (await writer.Http.SendAsync(open)).StatusCode);
        }
        Assert.Equal(HttpStatusCode.Created, (await writer.Http.DepositAsync(acct, 10m, key: "dep-" + acct)).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await writer.Http.DepositAsync(acct, 10m, key: "dep-" + acct)).StatusCode);   // replay
        await AssertProblemAsync(await writer.Http.DepositAsync(acct, 11m, key: "dep-" + acct), 422, "idempotency_key_reused");
        await AssertProblemAsync(await writer.Http.WithdrawAsync(acct, 50m, key: "wd-" + acct), 409, "insufficient_funds");
        await AssertProblemAsync(await writer.Http.DepositAsync(Id("ghost"), 1m), 404, "account_not_found");
        await AssertProblemAsync(await writer.Http.CommandAsync($"/accounts/{acct}/deposits", """{"amount":-1,"currency":"EUR"}"""), 400, "invalid_amount");
        await AssertProblemAsync(await auditor.Http.WithdrawAsync(acct, 1m), 403, "forbidden");

        var page = await (await auditor.Http.GetAsync($"/audit?actor={writer.KeyId}&limit=1000")).JsonAsync();
        var records = page.GetProperty("records").EnumerateArray().ToList();
        Assert.All(records, r => Assert.Equal(writer.KeyId, r.GetProperty("actor").GetString()));
        Assert.All(records, r => Assert.Equal(a, r.GetProperty("tenant").GetString()));
        var summary = records.Select(r => (r.GetProperty("operation").GetString(), r.GetProperty("outcome").GetString(), r.GetProperty("status").GetInt32(),
            r.GetProperty("code").ValueKind == JsonValueKind.Null ? null : r.GetProperty("code").GetString())).ToList();
        Assert.Contains(("OpenAccount", "accepted", 201, (string?)null), summary);
        Assert.Contains(("Post.Deposit", "accepted", 201, (string?)null), summary);
        Assert.Contains(("Post.Deposit", "replayed", 201, (string?)null), summary);
        Assert.Contains(("Post.Deposit", "rejected", 422, "idempotency_key_reused"), summary);
        Assert.Contains(("Post.Withdrawal", "rejected", 409, "insufficient_funds"), summary);
        Assert.Contains(("Post.Deposit", "rejected", 404, "account_not_found"), summary);
        Assert.Contains(($"POST /accounts/{acct}/deposits", "refused", 400, "invalid_amount"), summary);
        var forbidden = await (await auditor.Http.GetAsync($"/audit?actor={auditor.KeyId}&outcome=refused")).JsonAsync();
        Assert.Contains(forbidden.GetProperty("records").EnumerateArray(), r => r.GetProperty("status").GetInt32() == 403);

        // The open: actor, correlation, streams, and the digest of the canonical request; never the secret.
        var opened = records.Single(r => r.GetProperty("operation").GetString() == "OpenAccount");
        Assert.Equal(correlation, opened.GetProperty("correlationId").GetGuid());
        Assert.Equal([$"account-{a}/{acct}"], opened.GetProperty("streamIds").EnumerateArray().Select(s => s.GetString()));
        var digest = SHA256.HashData([.. Encoding.UTF8.GetBytes("POST /accounts\n"), .. HashChain.Canonical(openJson)]);
        Assert.Equal(Convert.ToHexStringLower(digest), opened.GetProperty("payloadSha256").GetString());
        Assert.Equal(0L, await _db.ScalarAsync<long>($"SELECT count(*) FROM audit_log WHERE position('{writer.Secret}' in audit_log::text) > 0"));

        // Accepted records commit in the same transaction as their events.
        Assert.Equal(0L, await _db.ScalarAsync<long>(
            $"SELECT count(*) FROM audit_log a JOIN events e ON e.metadata ->> 'correlationId' = a.correlation_id::text WHERE a.correlation_id = '{correlation}' AND a.xmin::text <> e.xmin::text"));
        Assert.Equal(1L, await _db.ScalarAsync<long>($"SELECT count(DISTINCT e.xmin::text) FROM events e WHERE e.metadata ->> 'correlationId' = '{correlation}'"));

        // Filters: by stream, by time.
        var byStream = await (await auditor.Http.GetAsync($"/audit?stream=account-{a}/{acct}")).JsonAsync();
        Assert.True(byStream.GetProperty("records").GetArrayLength() >= 4);
        var future = await (await auditor.Http.GetAsync("/audit?from=2999-01-01T00:00:00Z")).JsonAsync();
        Assert.Equal(0, future.GetProperty("records").GetArrayLength());
        await AssertProblemAsync(await auditor.Http.GetAsync("/audit?from=yesterday"), 400, "invalid_instant");
    }

    [Fact]
    public async Task The_audit_log_refuses_update_delete_and_truncate_even_for_the_owner()
    {
        var writer = await KeyAsync(SiloFactory.NewInstitution(), "writer");
        await writer.Http.OpenAsync(Id("imm"));
        foreach (var sql in new[]
                 {
                     "UPDATE audit_log SET outcome = 'accepted', status = 201",
                     "DELETE FROM audit_log",
                     "TRUNCATE audit_log",
                 })
        {
            var ex = await Assert.ThrowsAsync<PostgresException>(() => _db.ExecAsOwnerAsync(sql));
            Assert.Contains("append-only", ex.MessageText, StringComparison.Ordinal);
        }
        // And the application role has no UPDATE/DELETE privilege at all.
        await using var cmd = _db.DataSource.CreateCommand("DELETE FROM audit_log");
        var denied = await Assert.ThrowsAsync<PostgresException>(() => cmd.ExecuteNonQueryAsync());
        Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, denied.SqlState);
        Assert.True(await _db.ScalarAsync<long>("SELECT count(*) FROM audit_log") > 0);
    }

    [Fact]
    public async Task The_csv_export_parses_and_matches_the_json()
    {
        var a = SiloFactory.NewInstitution();
        var writer = await KeyAsync(a, "writer");
        var auditor = await KeyAsync(a, "auditor");
        var acct = Id("csv");
        await writer.Http.OpenAsync(acct);
        await writer.Http.CommandAsync($"/accounts/{acct}/deposits", """{"amount":5,"currency":"EUR","reference":"comma, \"quote\"\nnewline"}""");
        await writer.Http.WithdrawAsync(acct, 99m);

        var json = await (await auditor.Http.GetAsync("/audit?limit=1000")).JsonAsync();
        var csvResponse = await auditor.Http.GetAsync("/audit.csv");
        Assert.Equal("text/csv", csvResponse.Content.Headers.ContentType?.MediaType);
        var rows = ParseCsv(await csvResponse.Content.ReadAsStringAsync());
        Assert.Equal(["position", "audit_id", "at", "actor", "tenant", "operation", "outcome", "status", "code", "payload_sha256", "stream_ids", "correlation_id", "idempotency_key"], rows[0]);
        var data = rows.Skip(1).ToList();
        Assert.Equal(json.GetProperty("records").GetArrayLength(), data.Count);
        Assert.All(data, r => Assert.Equal(13, r.Length));
        Assert.All(data, r => Assert.Equal(a, r[4]));
        Assert.All(data, r => Assert.True(DateTimeOffset.TryParse(r[2], System.Globalization.CultureInfo.InvariantCulture, out _)));
        Assert.Contains(data, r => r[6] == "rejected" && r[8] == "insufficient_funds" && r[10].Split(' ').Contains($"account-{a}/{acct}"));

        using var req = new HttpRequestMessage(HttpMethod.Get, "/audit");
        req.Headers.Add("Accept", "text/csv");
        var viaAccept = await auditor.Http.SendAsync(req);
        Assert.Equal("text/csv", viaAccept.Content.Headers.ContentType?.MediaType);
        Assert.Equal(data.Count, ParseCsv(await viaAccept.Content.ReadAsStringAsync()).Count - 1);

        // Root sees every tenant's records.
        var all = ParseCsv(await (await _silo.RootClient().GetAsync("/audit.csv")).Content.ReadAsStringAsync()).Skip(1).ToList();
        Assert.True(all.Count >= data.Count);
        Assert.True(all.Select(r => r[4]).Distinct().Count() > 1);
    }

    /// <summary>A strict RFC 4180 reader: quoted fields with doubled quotes, CRLF record ends.</summary>
    private static List<string[]> ParseCsv(string text)
    {
        var rows = new List<string[]>();
        var fields = new List<string>();
        var field = new StringBuilder();
        var i = 0;
        var quoted = false;
        while (i < text.Length)
        {
            var c = text[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < text.Length && text[i + 1] == '"') { field.Append('"'); i += 2; continue; }
                if (c == '"') { quoted = false; i++; continue; }
                field.Append(c); i++; continue;
            }
            switch (c)
            {
                case '"' when field.Length == 0: quoted = true; i++; break;
                case ',': fields.Add(field.ToString()); field.Clear(); i++; break;
                case '\r' when i + 1 < text.Length && text[i + 1] == '\n':
                    fields.Add(field.ToString()); field.Clear(); rows.Add([.. fields]); fields.Clear(); i += 2; break;
                case '"' or '\r' or '\n': throw new FormatException($"stray {(int)c} at {i}");
                default: field.Append(c); i++; break;
            }
        }
        Assert.False(quoted, "unterminated quoted field");
        Assert.True(field.Length == 0 && fields.Count == 0, "the last record must end with CRLF");
        return rows;
    }
}
