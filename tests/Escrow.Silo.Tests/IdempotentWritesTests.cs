using System.Net;
using System.Text;
using Escrow.Testing;

namespace Escrow.Silo.Tests;

/// <summary>
/// The writes that are not aggregate commands (institutions, API keys, deal templates, FX rates, proxies) keep the
/// idempotency contract of commands: a retry with the same key and request gets the first answer and writes nothing,
/// another request under the key gets 422, and requests racing under one key write once.
/// </summary>
public class IdempotentWritesTests : IClassFixture<PgDatabase>, IAsyncLifetime
{
    private readonly PgDatabase _db;
    private readonly SiloFactory _silo;
    public IdempotentWritesTests(PgDatabase db)
    {
        _db = db;
        _silo = new SiloFactory(db, runProjections: false);
    }

    public Task InitializeAsync() => Task.CompletedTask;
    public async Task DisposeAsync() => await _silo.DisposeAsync();

    private static async Task<HttpResponseMessage> PostAsync(HttpClient http, string path, string json, string? key)
    {
        using var req = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        if (key is not null) req.Headers.Add("Idempotency-Key", key);
        return await http.SendAsync(req);
    }

    private Task<long> CountAsync(string sql) => _db.ScalarAsync<long>(sql);

    private Task<long> AuditCountAsync(string key, string outcome) =>
        CountAsync($"SELECT count(*) FROM audit_log WHERE idempotency_key = '{key}' AND outcome = '{outcome}'");

    /// <summary>First answer, a retry of it, another request under the same key; returns the first answer's body.</summary>
    private async Task<string> AssertRetriedOnceAsync(HttpClient http, string path, string json, string otherJson, Func<Task<long>> rows)
    {
        var key = "k-" + Guid.NewGuid().ToString("N");
        var first = await PostAsync(http, path, json, key);
        var body = await first.Content.ReadAsStringAsync();
        Assert.True(first.StatusCode == HttpStatusCode.Created, $"{path}: {(int)first.StatusCode} {body}");
        Assert.Equal(1, await rows());

        var again = await PostAsync(http, path, json, key);
        Assert.Equal(HttpStatusCode.Created, again.StatusCode);
        Assert.Equal(body, await again.Content.ReadAsStringAsync());
        Assert.Equal(1, await rows());

        var other = await PostAsync(http, path, otherJson, key);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, other.StatusCode);
        Assert.Contains("idempotency_key_reused", await other.Content.ReadAsStringAsync());
        Assert.Equal(1, await rows());

        Assert.Equal(1, await AuditCountAsync(key, "accepted"));
        Assert.Equal(1, await AuditCountAsync(key, "replayed"));
        Assert.Equal(1, await AuditCountAsync(key, "rejected"));
        return body;
    }

    [Fact]
    public async Task Institutions_templates_rates_and_proxies_retried_under_their_key_answer_the_first_answer_and_write_once()
    {
        using var root = _silo.RootClient();
        var inst = SiloFactory.NewInstitution();
        var body = await AssertRetriedOnceAsync(root, "/institutions", $$"""{"institutionId":"{{inst}}","name":"Acme"}""",
            $$"""{"institutionId":"{{inst}}","name":"Another name"}""",
            () => CountAsync($"SELECT count(*) FROM institutions WHERE institution_id = '{inst}'"));
        Assert.Contains(inst, body);
        // Before: the retry of a create that had succeeded answered 409 institution_exists.

        using var writer = await _silo.ClientForAsync(inst);
        var template = "t-" + Guid.NewGuid().ToString("N")[..8];
        await AssertRetriedOnceAsync(writer, "/templates", $$"""{"templateId":"{{template}}","currency":"EUR","minAmount":1,"maxAmount":500}""",
            $$"""{"templateId":"{{template}}","currency":"EUR","minAmount":1,"maxAmount":900}""",
            () => CountAsync($"SELECT count(*) FROM deal_templates WHERE tenant = '{inst}' AND template_id = '{template}'"));

        await AssertRetriedOnceAsync(writer, "/fxps/fxp-1/rates", """{"sourceCurrency":"EUR","targetCurrency":"USD","rate":1.08,"validForSeconds":60}""",
            """{"sourceCurrency":"EUR","targetCurrency":"USD","rate":1.09,"validForSeconds":60}""",
            () => CountAsync($"SELECT count(*) FROM fxp_rates WHERE tenant = '{inst}' AND fxp_id = 'fxp-1'"));

        await AssertRetriedOnceAsync(writer, "/proxies",
            """{"proxyType":"EMAL","proxyValue":"a@example.com","creditorAccount":"DE89370400440532013000","creditorAgent":"DEUTDEFF"}""",
            """{"proxyType":"EMAL","proxyValue":"a@example.com","creditorAccount":"DE89370400440532013001","creditorAgent":"DEUTDEFF"}""",
            () => CountAsync($"SELECT count(*) FROM proxy_directory WHERE tenant = '{inst}' AND proxy_value = 'a@example.com'"));
    }

    [Fact]
    public async Task A_refusal_is_stored_under_its_key_and_a_retry_gets_the_same_refusal()
    {
        using var root = _silo.RootClient();
        var inst = SiloFactory.NewInstitution();
        Assert.Equal(HttpStatusCode.Created, (await PostAsync(root, "/institutions", $$"""{"institutionId":"{{inst}}"}""", null)).StatusCode);

        var key = "k-" + Guid.NewGuid().ToString("N");
        var taken = await PostAsync(root, "/institutions", $$"""{"institutionId":"{{inst}}"}""", key);
        Assert.Equal(HttpStatusCode.Conflict, taken.StatusCode);
        var problem = await taken.Content.ReadAsStringAsync();
        Assert.Contains("institution_exists", problem);
        var again = await PostAsync(root, "/institutions", $$"""{"institutionId":"{{inst}}"}""", key);
        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
        Assert.Equal(problem, await again.Content.ReadAsStringAsync());
        Assert.Equal(1, await AuditCountAsync(key, "rejected"));
        Assert.Equal(1, await AuditCountAsync(key, "replayed"));

        // A key for an unknown institution: 404, stored; nothing written.
        var missing = SiloFactory.NewInstitution();
        var k2 = "k-" + Guid.NewGuid().ToString("N");
        var r1 = await PostAsync(root, $"/institutions/{missing}/keys", """{"role":"writer"}""", k2);
        var r2 = await PostAsync(root, $"/institutions/{missing}/keys", """{"role":"writer"}""", k2);
        Assert.Equal(HttpStatusCode.NotFound, r1.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, r2.StatusCode);
        Assert.Equal(await r1.Content.ReadAsStringAsync(), await r2.Content.ReadAsStringAsync());
        Assert.Equal(0, await CountAsync($"SELECT count(*) FROM api_keys WHERE institution_id = '{missing}'"));
    }

    [Fact]
    public async Task An_api_key_is_created_once_per_idempotency_key_and_its_secret_is_never_stored_or_shown_again()
    {
        using var root = _silo.RootClient();
        var inst = SiloFactory.NewInstitution();
        Assert.Equal(HttpStatusCode.Created, (await PostAsync(root, "/institutions", $$"""{"institutionId":"{{inst}}"}""", null)).StatusCode);
        var key = "k-" + Guid.NewGuid().ToString("N");

        // Eight requests racing under one key (a client retrying while the first is in flight, or a proxy's retry).
        var answers = await Task.WhenAll(Enumerable.Range(0, 8).Select(async _ =>
        {
            var r = await PostAsync(root, $"/institutions/{inst}/keys", """{"role":"writer","name":"ci"}""", key);
            return (r.StatusCode, Body: await r.Content.ReadAsStringAsync());
        }));
        var created = Assert.Single(answers, a => a.StatusCode == HttpStatusCode.Created);
        Assert.All(answers.Where(a => a.StatusCode != HttpStatusCode.Created), a =>
        {
            Assert.Equal(HttpStatusCode.Conflict, a.StatusCode);
            Assert.Contains("api_key_already_created", a.Body);
        });
        Assert.Equal(1, await CountAsync($"SELECT count(*) FROM api_keys WHERE institution_id = '{inst}'"));

        var json = System.Text.Json.JsonDocument.Parse(created.Body).RootElement;
        var secret = json.GetProperty("apiKey").GetString()!;
        var keyId = json.GetProperty("keyId").GetString()!;
        // A retry names the key, never its secret; the secret is nowhere in the database.
        Assert.All(answers.Where(a => a.StatusCode == HttpStatusCode.Conflict), a =>
        {
            Assert.Contains(keyId, a.Body);
            Assert.DoesNotContain(secret, a.Body);
        });
        Assert.Equal(0, await CountAsync($"SELECT count(*) FROM idempotency WHERE response_body LIKE '%{secret}%'"));
        // The audit log names the one key that exists, on the accepted record only; the seven replays name no key.
        Assert.Equal(1, await CountAsync($"SELECT count(*) FROM audit_log WHERE idempotency_key = '{key}' AND outcome = 'accepted' AND '{keyId}' = ANY (stream_ids)"));
        Assert.Equal(7, await CountAsync($"SELECT count(*) FROM audit_log WHERE idempotency_key = '{key}' AND outcome = 'replayed' AND stream_ids = ARRAY['institution-{inst}']"));
        Assert.Equal(0, await CountAsync($"SELECT count(*) FROM audit_log WHERE audit_log::text LIKE '%{secret}%'"));
        // The one key works.
        using var writer = _silo.ClientWithKey(secret);
        Assert.Equal(HttpStatusCode.Created, (await writer.OpenAsync("acct-" + Guid.NewGuid().ToString("N")[..10])).StatusCode);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]   // every request reads the same instant: the losers collide on the directory's key, not the idempotency key
    public async Task Proxies_registered_concurrently_under_one_key_are_written_once_and_every_answer_is_the_first(bool stoppedClock)
    {
        await using var silo = stoppedClock ? new SiloFactory(_db, runProjections: false, clock: new ManualClock(DateTimeOffset.UtcNow)) : null;
        using var writer = await (silo ?? _silo).ClientForAsync();
        var key = "k-" + Guid.NewGuid().ToString("N");
        var value = Guid.NewGuid().ToString("N")[..10] + "@example.com";
        var json = $$"""{"proxyType":"EMAL","proxyValue":"{{value}}","creditorAccount":"DE89370400440532013000","creditorAgent":"DEUTDEFF"}""";
        var answers = await Task.WhenAll(Enumerable.Range(0, 8).Select(async _ =>
        {
            var r = await PostAsync(writer, "/proxies", json, key);
            return (r.StatusCode, Body: await r.Content.ReadAsStringAsync());
        }));
        Assert.All(answers, a => Assert.Equal(HttpStatusCode.Created, a.StatusCode));
        Assert.Single(answers.Select(a => a.Body).Distinct());
        Assert.Equal(1, await CountAsync($"SELECT count(*) FROM proxy_directory WHERE proxy_value = '{value}'"));
        Assert.Equal(1, await AuditCountAsync(key, "accepted"));
        Assert.Equal(7, await AuditCountAsync(key, "replayed"));
    }

    [Fact]
    public async Task Two_rates_published_at_the_same_instant_the_second_gets_409_not_stored_so_its_retry_runs_again()
    {
        // A stopped clock: both publications carry the same published_at, the rate's primary key (before: a 500).
        var clock = new ManualClock(DateTimeOffset.UtcNow);
        await using var silo = new SiloFactory(_db, runProjections: false, clock: clock);
        using var writer = await silo.ClientForAsync();
        const string path = "/fxps/fxp-same-instant/rates";
        var first = """{"sourceCurrency":"EUR","targetCurrency":"GBP","rate":0.85,"validForSeconds":60}""";
        Assert.Equal(HttpStatusCode.Created, (await PostAsync(writer, path, first, "k-" + Guid.NewGuid())).StatusCode);
        var key = "k-" + Guid.NewGuid().ToString("N");
        var second = """{"sourceCurrency":"EUR","targetCurrency":"GBP","rate":0.86,"validForSeconds":60}""";
        var race = await PostAsync(writer, path, second, key);
        Assert.Equal(HttpStatusCode.Conflict, race.StatusCode);
        Assert.Contains("rate_published_concurrently", await race.Content.ReadAsStringAsync());
        Assert.Equal(0, await CountAsync($"SELECT count(*) FROM idempotency WHERE key = '{key}'"));
        // Once the clock moves on, the retry under the same key publishes (it was not answered from a stored 409).
        clock.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(HttpStatusCode.Created, (await PostAsync(writer, path, second, key)).StatusCode);
        Assert.Equal(2, await CountAsync("SELECT count(*) FROM fxp_rates WHERE fxp_id = 'fxp-same-instant'"));
    }

    [Fact]
    public async Task A_revoked_key_stops_authenticating_and_the_revocation_is_idempotent_audited_and_root_only()
    {
        using var root = _silo.RootClient();
        var inst = SiloFactory.NewInstitution();
        Assert.Equal(HttpStatusCode.Created, (await PostAsync(root, "/institutions", $$"""{"institutionId":"{{inst}}"}""", null)).StatusCode);
        var created = await (await PostAsync(root, $"/institutions/{inst}/keys", """{"role":"writer"}""", null)).JsonAsync();
        var (keyId, secret) = (created.GetProperty("keyId").GetString()!, created.GetProperty("apiKey").GetString()!);
        var other = await (await PostAsync(root, $"/institutions/{inst}/keys", """{"role":"writer"}""", null)).JsonAsync();
        using var writer = _silo.ClientWithKey(secret);
        Assert.Equal(HttpStatusCode.Created, (await writer.OpenAsync("rv-" + Guid.NewGuid().ToString("N")[..10])).StatusCode);   // cached now

        // Only root revokes: a writer of the institution is refused.
        Assert.Equal(HttpStatusCode.Forbidden, (await PostAsync(writer, $"/institutions/{inst}/keys/{keyId}/revocation", "{}", "k-" + Guid.NewGuid())).StatusCode);

        var key = "k-" + Guid.NewGuid().ToString("N");
        var first = await PostAsync(root, $"/institutions/{inst}/keys/{keyId}/revocation", """{"reason":"laptop lost"}""", key);
        var body = await first.Content.ReadAsStringAsync();
        Assert.True(first.StatusCode == HttpStatusCode.OK, body);
        Assert.Contains("laptop lost", body);
        // At once on this silo, although the key was cached.
        var refused = await writer.OpenAsync("rv-" + Guid.NewGuid().ToString("N")[..10]);
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        // The other key of the institution still works.
        using var otherWriter = _silo.ClientWithKey(other.GetProperty("apiKey").GetString()!);
        Assert.Equal(HttpStatusCode.Created, (await otherWriter.OpenAsync("rv-" + Guid.NewGuid().ToString("N")[..10])).StatusCode);

        // A retry gets the first answer; a second revocation under a new key is 409; an unknown key or another institution's key is 404.
        var again = await PostAsync(root, $"/institutions/{inst}/keys/{keyId}/revocation", """{"reason":"laptop lost"}""", key);
        Assert.Equal((HttpStatusCode.OK, body), (again.StatusCode, await again.Content.ReadAsStringAsync()));
        var twice = await PostAsync(root, $"/institutions/{inst}/keys/{keyId}/revocation", "{}", "k-" + Guid.NewGuid());
        Assert.Equal(HttpStatusCode.Conflict, twice.StatusCode);
        Assert.Contains("key_already_revoked", await twice.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.NotFound, (await PostAsync(root, $"/institutions/{inst}/keys/key_0000000000000000/revocation", "{}", null)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await PostAsync(root, $"/institutions/{SiloFactory.NewInstitution()}/keys/{keyId}/revocation", "{}", null)).StatusCode);

        Assert.Equal(1, await CountAsync($"SELECT count(*) FROM api_key_revocations WHERE key_id = '{keyId}'"));
        Assert.Equal(1, await CountAsync($"SELECT count(*) FROM audit_log WHERE operation = 'RevokeApiKey' AND outcome = 'accepted' AND '{keyId}' = ANY (stream_ids)"));
        // The key row itself is unchanged (insert-only), and the revocation cannot be undone by the application role.
        Assert.Equal(1, await CountAsync($"SELECT count(*) FROM api_keys WHERE key_id = '{keyId}'"));
        await using var app = new Npgsql.NpgsqlConnection(_db.AppConnectionString);
        await app.OpenAsync();
        await using var delete = new Npgsql.NpgsqlCommand($"DELETE FROM api_key_revocations WHERE key_id = '{keyId}'", app);
        await Assert.ThrowsAsync<Npgsql.PostgresException>(() => delete.ExecuteNonQueryAsync());
    }

    [Fact]
    [Trait("Tier", "Slow")]
    public async Task A_revocation_reaches_every_silo_at_once_whoever_writes_it_and_a_lost_notification_is_made_good_on_reconnect()
    {
        // Two silos whose key cache would keep a key for an hour: only the revocation push can make them refuse it sooner.
        var hour = new Dictionary<string, string> { ["Escrow:KeyCacheSeconds"] = "3600" };
        await using var a = new SiloFactory(_db, runProjections: false, settings: hour);
        await using var b = new SiloFactory(_db, runProjections: false, settings: hour);
        using var root = a.RootClient();
        var inst = SiloFactory.NewInstitution();
        Assert.Equal(HttpStatusCode.Created, (await PostAsync(root, "/institutions", $$"""{"institutionId":"{{inst}}"}""", null)).StatusCode);
        var keys = new List<(string Id, HttpClient OnB)>();
        for (var i = 0; i < 4; i++)
        {
            var k = await (await PostAsync(root, $"/institutions/{inst}/keys", """{"role":"writer"}""", null)).JsonAsync();
            var onB = b.ClientWithKey(k.GetProperty("apiKey").GetString()!);
            Assert.Equal(HttpStatusCode.Created, (await onB.OpenAsync("rp-" + Guid.NewGuid().ToString("N")[..10])).StatusCode);   // cached on b
            keys.Add((k.GetProperty("keyId").GetString()!, onB));
        }
        static async Task<HttpStatusCode> UseAsync(HttpClient http) => (await http.GetAsync("/projections")).StatusCode;
        static async Task RefusedSoonAsync(HttpClient http, string what)
        {
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (await UseAsync(http) != HttpStatusCode.Unauthorized)
            {
                Assert.True(DateTime.UtcNow < deadline, $"silo b still accepts {what} 10 s after its revocation committed");
                await Task.Delay(50);
            }
        }

        // 1. Revoked through silo a's endpoint: silo b drops it too.
        Assert.Equal(HttpStatusCode.OK, (await PostAsync(root, $"/institutions/{inst}/keys/{keys[0].Id}/revocation", "{}", "k-" + Guid.NewGuid())).StatusCode);
        await RefusedSoonAsync(keys[0].OnB, "a key revoked through another silo");

        // 2. Revoked straight in the database, as `escrow keys revoke` does: the trigger notifies every silo.
        await using (var batch = _db.DataSource.CreateBatch())
        {
            batch.BatchCommands.Add(Escrow.Silo.Tenancy.TenancyStore.RevocationInsert(keys[1].Id, DateTimeOffset.UtcNow, "cli", "by hand"));
            await batch.ExecuteNonQueryAsync();
        }
        await RefusedSoonAsync(keys[1].OnB, "a key revoked by the CLI");

        // 3. A revocation that rolls back tells no one, and the key keeps working.
        await using (var conn = await _db.DataSource.OpenConnectionAsync())
        await using (var tx = await conn.BeginTransactionAsync())
        {
            await using var insert = new Npgsql.NpgsqlBatch(conn, tx);
            insert.BatchCommands.Add(Escrow.Silo.Tenancy.TenancyStore.RevocationInsert(keys[2].Id, DateTimeOffset.UtcNow, "cli", "changed my mind"));
            await insert.ExecuteNonQueryAsync();
            await tx.RollbackAsync();
        }
        Assert.Equal(HttpStatusCode.OK, await UseAsync(keys[2].OnB));

        // 4. A notification lost (here: the trigger disabled for one insert) leaves b's cache stale until its listening
        //    session is replaced: a reconnect drops the whole cache.
        await _db.ExecAsOwnerAsync($"""
            ALTER TABLE api_key_revocations DISABLE TRIGGER api_key_revocations_notify;
            INSERT INTO api_key_revocations (key_id, revoked_at, revoked_by) VALUES ('{keys[3].Id}', now(), 'cli');
            ALTER TABLE api_key_revocations ENABLE TRIGGER api_key_revocations_notify;
            """);
        await Task.Delay(300);
        Assert.Equal(HttpStatusCode.OK, await UseAsync(keys[3].OnB));   // stale: nothing told b
        var terminated = await _db.ScalarAsync<long>($"""
            SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
            WHERE datname = current_database() AND query = '{Escrow.Silo.Tenancy.KeyRevocationListener.ListenStatement}') t
            """);
        Assert.True(terminated >= 2, $"expected each silo's listening session, found {terminated}");
        await RefusedSoonAsync(keys[3].OnB, "a key whose notification was lost, after the listener reconnected");
        Assert.Equal(HttpStatusCode.OK, await UseAsync(keys[2].OnB));   // dropping the cache refused nothing else
        foreach (var (_, onB) in keys) onB.Dispose();
    }

    [Fact]
    public async Task Templates_rates_and_proxies_still_require_a_key_while_institutions_and_api_keys_accept_none()
    {
        using var writer = await _silo.ClientForAsync();
        var missing = await PostAsync(writer, "/proxies",
            """{"proxyType":"EMAL","proxyValue":"x@example.com","creditorAccount":"DE89370400440532013000","creditorAgent":"DEUTDEFF"}""", null);
        Assert.Equal(HttpStatusCode.BadRequest, missing.StatusCode);
        Assert.Contains("idempotency_key_required", await missing.Content.ReadAsStringAsync());

        using var root = _silo.RootClient();
        var inst = SiloFactory.NewInstitution();
        Assert.Equal(HttpStatusCode.Created, (await PostAsync(root, "/institutions", $$"""{"institutionId":"{{inst}}"}""", null)).StatusCode);
        // Without a key nothing is deduplicated: two requests, two keys.
        Assert.Equal(HttpStatusCode.Created, (await PostAsync(root, $"/institutions/{inst}/keys", """{"role":"auditor"}""", null)).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await PostAsync(root, $"/institutions/{inst}/keys", """{"role":"auditor"}""", null)).StatusCode);
        Assert.Equal(2, await CountAsync($"SELECT count(*) FROM api_keys WHERE institution_id = '{inst}'"));
    }
}
