using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Escrow.Testing;

namespace Escrow.Silo.Tests;

/// <summary>
/// The probe a second institution would run: every operation of the OpenAPI document, sent with B's writer and auditor
/// keys once with A's ids and once with ids nobody holds. "Not yours" must be indistinguishable from "does not exist"
/// (same status, same problem code, same detail once the ids are swapped), and nothing of A that B did not send itself
/// (A's institution id, the parties of A's deal) may appear in B's answers or in B's audit log.
/// </summary>
public partial class TenancyProbeTests(PgDatabase db) : IClassFixture<PgDatabase>
{
    /// <summary>The ids a probe names, A's or fresh ones of the same shape.</summary>
    private sealed record Ids(string Account, string Account2, string Deal, string Posting, string Uetr, string Template, string Stream, string ProxyValue, string KeyId);

    [GeneratedRegex(@"\{([A-Za-z]+)\}")]
    private static partial Regex Parameter();

    private static string Fill(string path, Ids ids, string institution) => Parameter().Replace(path, m => m.Groups[1].Value switch
    {
        "id" when path.StartsWith("/accounts", StringComparison.Ordinal) => ids.Account,
        "id" when path.StartsWith("/deals", StringComparison.Ordinal) => ids.Deal,
        "id" when path.StartsWith("/templates", StringComparison.Ordinal) => ids.Template,
        "id" => institution,
        "postingId" => ids.Posting,
        "uetr" => ids.Uetr,
        "streamId" => Uri.EscapeDataString(ids.Stream),
        "proxyType" => "MOBILE",
        "proxyValue" => ids.ProxyValue,
        "keyId" => ids.KeyId,
        "fxpId" => "fxp-probe",
        "definition" => "pacs.008.001.08",
        var other => throw new InvalidOperationException($"the probe does not know route parameter '{other}' of {path}: teach it"),
    });

    /// <summary>A body that passes each operation's input checks, so that the answer depends on what the ids name.</summary>
    private static string Body(string method, string path, Ids ids) => (method, path) switch
    {
        ("POST", "/accounts") => $$"""{"accountId":"{{ids.Account}}","owner":"probe","currency":"EUR"}""",
        ("POST", "/transfers") => $$"""{"from":"{{ids.Account}}","to":"{{ids.Account2}}","amount":1,"currency":"EUR"}""",
        ("POST", "/accounts/{id}/deposits" or "/accounts/{id}/withdrawals") => """{"amount":1,"currency":"EUR"}""",
        ("POST", "/deals") => $$"""{"dealId":"{{ids.Deal}}","buyerAccount":"{{ids.Account}}","sellerAccount":"{{ids.Account2}}","amount":5,"currency":"EUR","expiresAt":"2031-01-01T00:00:00Z"}""",
        ("POST", "/deals/{id}/release") => """{"amount":1}""",
        ("POST", "/deals/{id}/disputes") => """{"by":"buyer","reason":"probe"}""",
        ("POST", "/deals/{id}/evidence") => """{"evidenceId":"ev-probe","type":"note","content":"probe"}""",
        ("POST", "/deals/{id}/resolve") => """{"buyerShare":1,"sellerShare":0}""",
        ("POST", "/templates") => $$"""{"templateId":"{{ids.Template}}","name":"probe","currency":"EUR","minAmount":1,"maxAmount":10}""",
        ("POST", "/payments/{uetr}/initiation") => $$"""{"debtorAccount":"{{ids.Account}}","amount":1,"currency":"EUR","creditorAccount":"X-1","creditorAgent":"COBADEFFXXX"}""",
        ("POST", "/payments/{uetr}/proxy-resolution") => $$"""{"proxyType":"MOBILE","proxyValue":"{{ids.ProxyValue}}"}""",
        ("POST", "/payments/{uetr}/quote-selection") => """{"quoteId":"q-probe"}""",
        ("POST", "/payments/quotes") => $$"""{"uetr":"{{ids.Uetr}}","sourceCurrency":"EUR","targetCurrency":"USD","amount":1}""",
        ("POST", "/proxies") => $$"""{"proxyType":"MOBILE","proxyValue":"{{ids.ProxyValue}}","creditorName":"P","creditorAccount":"X-1","creditorAgent":"COBADEFFXXX"}""",
        _ => "{}",
    };

    /// <summary>Status, problem code and detail of an answer, with each id of <paramref name="ids"/> replaced by its name.</summary>
    private static string Shape(HttpStatusCode status, string text, Ids ids)
    {
        var shape = $"{(int)status}";
        if (text.StartsWith('{') && JsonDocument.Parse(text).RootElement is { ValueKind: JsonValueKind.Object } o && o.TryGetProperty("code", out var code))
            shape += $" {code.GetString()}: {(o.TryGetProperty("detail", out var d) ? d.GetString() : "")}";
        foreach (var (name, value) in new[] { ("ACCOUNT2", ids.Account2), ("ACCOUNT", ids.Account), ("DEAL", ids.Deal), ("POSTING", ids.Posting),
                     ("UETR", ids.Uetr), ("TEMPLATE", ids.Template), ("STREAM", ids.Stream), ("PROXY", ids.ProxyValue), ("KEY", ids.KeyId) })
            shape = shape.Replace(value, name, StringComparison.Ordinal);
        return shape;
    }

    [Fact]
    public async Task Every_operation_answers_another_institutions_ids_exactly_like_ids_nobody_holds()
    {
        await using var silo = new SiloFactory(db);
        var a = SiloFactory.NewInstitution();
        var b = SiloFactory.NewInstitution();
        var writerA = await silo.ClientForAsync(a);
        var p = Guid.NewGuid().ToString("N")[..8];

        // A's book: accounts, a posting, a funded deal between two parties B never hears of, a template, a payment, a proxy.
        string buyer = $"secret-buyer-{p}", seller = $"secret-seller-{p}";
        var mine = new Ids($"acct-{p}", $"acct2-{p}", $"deal-{p}", "", Guid.NewGuid().ToString("D"), $"tpl-{p}", "", $"+4930{p[..6]}", "");
        foreach (var id in new[] { mine.Account, mine.Account2, buyer, seller })
            Assert.Equal(HttpStatusCode.Created, (await writerA.OpenAsync(id)).StatusCode);
        var posting = (await (await writerA.DepositAsync(mine.Account, 100m)).JsonAsync()).GetProperty("postingId").GetString()!;
        Assert.Equal(HttpStatusCode.Created, (await writerA.DepositAsync(buyer, 100m)).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await writerA.CommandAsync("/deals",
            $$"""{"dealId":"{{mine.Deal}}","buyerAccount":"{{buyer}}","sellerAccount":"{{seller}}","amount":50,"currency":"EUR","expiresAt":"2031-01-01T00:00:00Z"}""")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await writerA.CommandAsync($"/deals/{mine.Deal}/fund", null)).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await writerA.CommandAsync("/templates",
            $$"""{"templateId":"{{mine.Template}}","name":"A's","currency":"EUR","minAmount":1,"maxAmount":100}""")).StatusCode);
        Assert.True((await writerA.CommandAsync($"/payments/{mine.Uetr}/initiation",
            $$"""{"debtorAccount":"{{mine.Account}}","amount":10,"currency":"EUR","creditorAccount":"X-1","creditorAgent":"COBADEFFXXX"}""")).IsSuccessStatusCode);
        Assert.Equal(HttpStatusCode.Created, (await writerA.CommandAsync("/proxies",
            $$"""{"proxyType":"MOBILE","proxyValue":"{{mine.ProxyValue}}","creditorName":"A's creditor","creditorAccount":"X-9","creditorAgent":"COBADEFFXXX"}""")).StatusCode);
        var keyA = (await (await silo.RootClient().PostAsync($"/institutions/{a}/keys", new StringContent("""{"role":"auditor"}""", Encoding.UTF8, "application/json"))).JsonAsync())
            .GetProperty("keyId").GetString()!;
        mine = mine with { Posting = posting, Stream = $"account-{a}/{mine.Account}", KeyId = keyA };
        var q = Guid.NewGuid().ToString("N")[..8];
        var fresh = new Ids($"acct-{q}", $"acct2-{q}", $"deal-{q}", Guid.CreateVersion7().ToString(), Guid.NewGuid().ToString("D"), $"tpl-{q}",
            $"account-{a}/acct-{q}", $"+4930{q[..6]}", $"key-{q}");

        using var doc = JsonDocument.Parse(await (await silo.RootClient().GetAsync("/openapi/v1.json")).Content.ReadAsStringAsync());
        var operations = doc.RootElement.GetProperty("paths").EnumerateObject()
            .SelectMany(path => path.Value.EnumerateObject().Select(op => (Method: op.Name.ToUpperInvariant(), Path: path.Name)))
            .Where(op => op.Path.Contains('{') || op.Method == "POST")
            .OrderBy(op => op.Method == "GET" ? 0 : 1).ThenBy(op => op.Path, StringComparer.Ordinal).ToList();
        Assert.True(operations.Count > 40, $"only {operations.Count} operations found");

        // Every operation is sent twice by each role: with A's ids by institution B, with fresh ids by a twin of B (so that what
        // one sequence creates in its own namespace cannot change the other's answers).
        var differences = new List<string>();
        var answers = new StringBuilder();
        var other = SiloFactory.NewInstitution();
        foreach (var role in new[] { "writer", "auditor" })
        {
            var withMine = await silo.ClientForAsync(b, role);
            var withFresh = await silo.ClientForAsync(other, role);
            foreach (var (method, path) in operations)
            {
                var (x, xText) = await SendAsync(withMine, method, path, mine, a);
                var (y, yText) = await SendAsync(withFresh, method, path, fresh, a);
                answers.AppendLine(xText);
                if (x >= HttpStatusCode.InternalServerError) differences.Add($"{role} {method} {path}: {(int)x} with A's ids");
                var (sx, sy) = (Shape(x, xText, mine).Replace(b, "B", StringComparison.Ordinal), Shape(y, yText, fresh).Replace(other, "B", StringComparison.Ordinal));
                if (sx != sy) differences.Add($"{role} {method} {path}: A's ids → {sx}  |  fresh ids → {sy}");
            }
        }
        Assert.True(differences.Count == 0, "\n" + string.Join("\n", differences));

        // Nothing B did not send itself: not A's institution, not the parties of A's deal; neither in answers nor in B's audit.
        var auditorB = await silo.ClientForAsync(b, "auditor");
        var audit = await (await auditorB.GetAsync("/audit?limit=1000")).Content.ReadAsStringAsync();
        var auditCsv = await (await auditorB.GetAsync("/audit.csv")).Content.ReadAsStringAsync();
        var tail = await (await auditorB.GetAsync("/dashboard/api/audit?limit=500")).Content.ReadAsStringAsync();
        Assert.Contains(mine.Deal, audit, StringComparison.Ordinal);   // B's own refused attempts are there
        foreach (var secret in new[] { buyer, seller })
            foreach (var (what, text) in new[] { ("answers", answers.ToString()), ("audit", audit), ("audit.csv", auditCsv), ("dashboard audit tail", tail) })
                Assert.False(text.Contains(secret, StringComparison.Ordinal), $"B's {what} name A's '{secret}'");
        Assert.DoesNotContain($"\"{a}\"", audit, StringComparison.Ordinal);
    }

    private static async Task<(HttpStatusCode Status, string Text)> SendAsync(HttpClient http, string method, string path, Ids ids, string institutionA)
    {
        using var req = new HttpRequestMessage(new HttpMethod(method), Fill(path, ids, institutionA));
        if (method == "POST")
        {
            req.Content = path == "/payments/messages"
                ? new StringContent("<Document/>", Encoding.UTF8, "application/xml")
                : new StringContent(Body(method, path, ids), Encoding.UTF8, "application/json");
            req.Headers.Add("Idempotency-Key", Guid.NewGuid().ToString());
        }
        using var response = await http.SendAsync(req);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }
}
