using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Escrow.Testing;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Escrow.Silo.Tests;

/// <summary>One in-process silo over a test database; several factories on one database make a cluster.</summary>
public sealed class SiloFactory(PgDatabase db, bool runProjections = true, TimeProvider? clock = null, int snapshotEvery = 50,
    IReadOnlyDictionary<string, string>? settings = null)
    : WebApplicationFactory<Escrow.Silo.Ledger.LedgerService>   // any type of the silo assembly; its entry point is used
{
    /// <summary>The root key every test silo is configured with.</summary>
    public const string RootKey = "test-root-key-0123456789abcdef";

    /// <summary>A client that sends the root key.</summary>
    public HttpClient RootClient() => ClientWithKey(RootKey);

    /// <summary>A client that sends <paramref name="key"/> as <c>Authorization: Bearer</c>.</summary>
    public HttpClient ClientWithKey(string key)
    {
        var http = CreateClient();
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
        return http;
    }

    /// <summary>Creates the institution (if new) through the root key and returns a new key of <paramref name="role"/> for it.</summary>
    public async Task<string> CreateKeyAsync(string institution, string role = "writer")
    {
        using var root = RootClient();
        var created = await root.PostAsync("/institutions", new StringContent($$"""{"institutionId":"{{institution}}"}""", Encoding.UTF8, "application/json"));
        if (created.StatusCode is not (System.Net.HttpStatusCode.Created or System.Net.HttpStatusCode.Conflict))
            throw new InvalidOperationException($"POST /institutions answered {(int)created.StatusCode}: {await created.Content.ReadAsStringAsync()}");
        var key = await root.PostAsync($"/institutions/{institution}/keys", new StringContent($$"""{"role":"{{role}}"}""", Encoding.UTF8, "application/json"));
        if (key.StatusCode != System.Net.HttpStatusCode.Created)
            throw new InvalidOperationException($"POST /institutions/{institution}/keys answered {(int)key.StatusCode}: {await key.Content.ReadAsStringAsync()}");
        return (await key.JsonAsync()).GetProperty("apiKey").GetString()!;
    }

    /// <summary>A client of a new (or given) institution with a key of <paramref name="role"/> (writer by default).</summary>
    public async Task<HttpClient> ClientForAsync(string? institution = null, string role = "writer") =>
        ClientWithKey(await CreateKeyAsync(institution ?? NewInstitution(), role));

    public static string NewInstitution() => "i-" + Guid.NewGuid().ToString("N")[..12];

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseSetting("Escrow:RootApiKey", RootKey);
        builder.UseSetting("Escrow:ConnectionString", db.AppConnectionString);
        builder.UseSetting("Escrow:OwnerConnectionString", "");
        // Every test silo takes free Orleans ports: test classes run in parallel, each on its own database (its own cluster).
        builder.UseSetting("Escrow:SiloPort", "0");
        builder.UseSetting("Escrow:GatewayPort", "0");
        builder.UseSetting("Escrow:RunProjections", runProjections.ToString());
        builder.UseSetting("Escrow:ProjectionPollMilliseconds", "50");
        builder.UseSetting("Escrow:SnapshotEvery", snapshotEvery.ToString(System.Globalization.CultureInfo.InvariantCulture));
        builder.UseSetting("Logging:LogLevel:Default", "Warning");
        // The Orleans runtime's start-up notes (ServerGC, watchdog under a test's manual clock) are not the tests' concern.
        builder.UseSetting("Logging:LogLevel:Orleans", "Error");
        foreach (var (name, value) in settings ?? new Dictionary<string, string>())
            builder.UseSetting(name, value);
        if (clock is not null)
            builder.ConfigureServices(s => s.AddKeyedSingleton(LedgerClock.Key, clock));
    }
}

/// <summary>Small helpers for talking to the silo like a client would.</summary>
public static class Api
{
    public static async Task<HttpResponseMessage> CommandAsync(this HttpClient http, string path, string? json, string? key = null)
    {
        using var req = new HttpRequestMessage(HttpMethod.Post, path);
        if (json is not null) req.Content = new StringContent(json, Encoding.UTF8, "application/json");
        req.Headers.Add("Idempotency-Key", key ?? Guid.NewGuid().ToString());
        return await http.SendAsync(req);
    }

    public static Task<HttpResponseMessage> OpenAsync(this HttpClient http, string id, string currency = "EUR", decimal overdraft = 0, string kind = "customer") =>
        http.CommandAsync("/accounts", $$"""{"accountId":"{{id}}","owner":"owner of {{id}}","currency":"{{currency}}","kind":"{{kind}}","overdraftLimit":{{overdraft}}}""");

    public static Task<HttpResponseMessage> DepositAsync(this HttpClient http, string id, decimal amount, string currency = "EUR", string? key = null) =>
        http.CommandAsync($"/accounts/{id}/deposits", $$"""{"amount":{{amount.ToString(System.Globalization.CultureInfo.InvariantCulture)}},"currency":"{{currency}}"}""", key);

    public static Task<HttpResponseMessage> WithdrawAsync(this HttpClient http, string id, decimal amount, string currency = "EUR", string? key = null) =>
        http.CommandAsync($"/accounts/{id}/withdrawals", $$"""{"amount":{{amount.ToString(System.Globalization.CultureInfo.InvariantCulture)}},"currency":"{{currency}}"}""", key);

    public static Task<HttpResponseMessage> TransferAsync(this HttpClient http, string from, string to, decimal amount, string currency = "EUR", string? key = null) =>
        http.CommandAsync("/transfers", $$"""{"from":"{{from}}","to":"{{to}}","amount":{{amount.ToString(System.Globalization.CultureInfo.InvariantCulture)}},"currency":"{{currency}}"}""", key);

    public static async Task<JsonElement> JsonAsync(this HttpResponseMessage r) =>
        (await r.Content.ReadFromJsonAsync<JsonElement>())!;

    public static async Task<decimal> BalanceAsync(this HttpClient http, string id, string query = "")
    {
        var r = await http.GetAsync($"/accounts/{id}/balance{query}");
        r.EnsureSuccessStatusCode();
        return (await r.JsonAsync()).GetProperty("balance").GetDecimal();
    }

    public static async Task<long> EventCountAsync(this PgDatabase db) => await db.ScalarAsync<long>("SELECT count(*) FROM events");

    /// <summary>Waits until both ledger projections have applied every visible event.</summary>
    public static async Task WaitForProjectionsAsync(this HttpClient http, TimeSpan? timeout = null)
    {
        var until = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        while (DateTime.UtcNow < until)
        {
            var list = await (await http.GetAsync("/projections")).JsonAsync();
            if (list.EnumerateArray().All(p => p.GetProperty("eventsBehind").GetInt64() == 0)) return;
            await Task.Delay(25);
        }
        throw new TimeoutException("projections did not catch up");
    }
}
