using System.Diagnostics;
using System.Net;
using System.Text;
using Escrow.Testing;

namespace Escrow.Silo.Tests;

/// <summary>
/// Bodies shaped to cost a silo CPU or memory are refused before they are parsed: a size limit on every body (413) and a
/// depth limit on XML and JSON, checked while reading. Each refusal is a 4xx problem that changes nothing.
/// </summary>
public class HostileInputTests(PgDatabase db) : IClassFixture<PgDatabase>
{
    private static string NestedXml(int depth)
    {
        var sb = new StringBuilder("<?xml version=\"1.0\"?>", depth * 8);
        for (var i = 0; i < depth; i++) sb.Append("<a>");
        for (var i = 0; i < depth; i++) sb.Append("</a>");
        return sb.ToString();
    }

    private static HttpRequestMessage Message(string xml, bool chunked = false)
    {
        HttpContent content = chunked
            ? new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(xml)))   // no Content-Length: read until the limit
            : new StringContent(xml, Encoding.UTF8, "application/xml");
        if (chunked) content.Headers.ContentType = new("application/xml");
        var req = new HttpRequestMessage(HttpMethod.Post, "/payments/messages") { Content = content };
        req.Headers.Add("Idempotency-Key", Guid.NewGuid().ToString());
        return req;
    }

    private static async Task<(HttpStatusCode Status, string Code, TimeSpan Took)> SendAsync(HttpClient http, HttpRequestMessage req)
    {
        var clock = Stopwatch.StartNew();
        using var response = await http.SendAsync(req);
        var took = clock.Elapsed;
        var text = await response.Content.ReadAsStringAsync();
        var code = response.Content.Headers.ContentType?.MediaType == "application/problem+json"
            ? System.Text.Json.JsonDocument.Parse(text).RootElement.GetProperty("code").GetString()!
            : "";
        return (response.StatusCode, code, took);
    }

    [Fact]
    public async Task Deep_or_large_XML_and_JSON_bodies_are_refused_at_once_and_change_nothing()
    {
        await using var silo = new SiloFactory(db);
        var http = await silo.ClientForAsync();
        Assert.Equal(HttpStatusCode.Created, (await http.OpenAsync("hostile-1")).StatusCode);
        var before = await db.EventCountAsync();

        // 50,000 nested elements in 350 KB (before the limit: 6.5 s of CPU, growing with the square of the depth).
        var deep = await SendAsync(http, Message(NestedXml(50_000)));
        Assert.Equal((HttpStatusCode.BadRequest, "xml_too_deep"), (deep.Status, deep.Code));
        Assert.True(deep.Took < TimeSpan.FromSeconds(1), $"a 50,000-level document took {deep.Took.TotalMilliseconds:N0} ms to refuse");
        // Just past the limit is refused the same way; a message's real depth is far below it.
        Assert.Equal((HttpStatusCode.BadRequest, "xml_too_deep"), Pick(await SendAsync(http, Message(NestedXml(66)))));
        Assert.NotEqual("xml_too_deep", (await SendAsync(http, Message(NestedXml(60)))).Code);

        // Over the size limit: refused from Content-Length without reading, or while reading a chunked body.
        var big = new string(' ', 1_100_000) + "<a/>";
        Assert.Equal((HttpStatusCode.RequestEntityTooLarge, "body_too_large"), Pick(await SendAsync(http, Message(big))));
        Assert.Equal((HttpStatusCode.RequestEntityTooLarge, "body_too_large"), Pick(await SendAsync(http, Message(big, chunked: true))));

        // JSON: deeper than a request ever nests, or larger than a command ever is.
        var deepJson = "{\"amount\":" + new string('[', 10_000) + new string(']', 10_000) + ",\"currency\":\"EUR\"}";
        var json = await SendAsync(http, Json("/accounts/hostile-1/deposits", deepJson));
        Assert.Equal((HttpStatusCode.BadRequest, "malformed_json"), (json.Status, json.Code));
        Assert.True(json.Took < TimeSpan.FromSeconds(1), $"a 10,000-level JSON body took {json.Took.TotalMilliseconds:N0} ms to refuse");
        var largeJson = "{\"amount\":1,\"currency\":\"EUR\",\"reference\":\"" + new string('x', 100_000) + "\"}";
        Assert.Equal((HttpStatusCode.RequestEntityTooLarge, "body_too_large"), Pick(await SendAsync(http, Json("/accounts/hostile-1/deposits", largeJson))));

        Assert.Equal(before, await db.EventCountAsync());
        Assert.Equal(0m, await http.BalanceAsync("hostile-1"));
    }

    private static (HttpStatusCode, string) Pick((HttpStatusCode Status, string Code, TimeSpan Took) r) => (r.Status, r.Code);

    private static HttpRequestMessage Json(string path, string body)
    {
        var req = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        req.Headers.Add("Idempotency-Key", Guid.NewGuid().ToString());
        return req;
    }
}
