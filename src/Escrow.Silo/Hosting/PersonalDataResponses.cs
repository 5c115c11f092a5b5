using System.Security;
using System.Text;
using System.Text.Encodings.Web;
using Escrow.EventStore;

namespace Escrow.Silo.Hosting;

/// <summary>
/// Where sealed personal data is opened: every HTTP answer of the silo (the API's JSON, problem details, the dashboards'
/// API, CSV and XML) passes through here, and each envelope in it (<see cref="PersonalData"/>) is replaced by its text, or
/// by <see cref="PersonalData.Erased"/> once a subject named in it was erased. Events, snapshots, read models, stored
/// answers and grain states only ever hold the envelopes, so one place decides what a reader sees, and an erasure shows on
/// every read path at once (a rebuilt read model holds the same envelopes).
/// <para>The answer is buffered; when it holds no envelope (most do not: <see cref="PersonalData.Prefix"/> is searched for in
/// its bytes) it goes out unchanged. The replacement is escaped for the answer's content type: JSON string content for
/// JSON, XML text for XML (except an answer that is one envelope alone, a stored pacs.008, sent as its text), as it is for
/// anything else.</para>
/// </summary>
public sealed class PersonalDataResponses(RequestDelegate next, SubjectKeyStore keys)
{
    private static readonly byte[] Marker = Encoding.ASCII.GetBytes(PersonalData.Prefix);

    public async Task InvokeAsync(HttpContext http)
    {
        // The Orleans Dashboard's trace streams the silo's log for as long as it is open: never buffered (it holds no
        // sealed value unless a log line quotes one, which the silo's logging does not).
        if (http.Request.Path.StartsWithSegments(Dashboard.OrleansDashboard.Path + "/Trace"))
        {
            await next(http);
            return;
        }
        var original = http.Response.Body;
        using var buffer = new MemoryStream();
        http.Response.Body = buffer;
        try
        {
            await next(http);
        }
        finally
        {
            http.Response.Body = original;
        }
        if (!buffer.TryGetBuffer(out var segment)) segment = buffer.ToArray();
        if (segment.AsSpan().IndexOf(Marker) < 0)
        {
            if (segment.Count > 0) await original.WriteAsync(segment, http.RequestAborted);
            return;
        }
        var text = Encoding.UTF8.GetString(segment);
        var rewritten = Encoding.UTF8.GetBytes(await OpenAsync(text, http.Response.ContentType, keys, http.RequestAborted));
        http.Response.ContentLength = rewritten.Length;
        await original.WriteAsync(rewritten, http.RequestAborted);
    }

    /// <summary>
    /// <paramref name="text"/> with every envelope opened and escaped for <paramref name="contentType"/>. A value opened may
    /// itself hold envelopes (a pacs.008 built from a creditor name sealed earlier): up to three rounds open those too.
    /// </summary>
    public static async Task<string> OpenAsync(string text, string? contentType, SubjectKeyStore keys, CancellationToken ct)
    {
        for (var round = 0; round < 3 && text.Contains(PersonalData.Prefix, StringComparison.Ordinal); round++)
            text = await OpenOnceAsync(text, contentType, keys, ct);
        return text;
    }

    private static async Task<string> OpenOnceAsync(string text, string? contentType, SubjectKeyStore keys, CancellationToken ct)
    {
        var pattern = PersonalData.EnvelopePattern();
        var found = pattern.Matches(text).Select(m => m.Value).ToList();
        if (found.Count == 0) return text;
        var opened = await keys.OpenAllAsync(found, ct);
        var type = contentType ?? "";
        if (type.Contains("xml", StringComparison.OrdinalIgnoreCase) && found.Count == 1 && text.Trim() == found[0])
            return opened[found[0]];
        Func<string, string> escape =
            type.Contains("json", StringComparison.OrdinalIgnoreCase) ? s => JavaScriptEncoder.UnsafeRelaxedJsonEscaping.Encode(s)
            : type.Contains("xml", StringComparison.OrdinalIgnoreCase) || type.Contains("html", StringComparison.OrdinalIgnoreCase) ? s => SecurityElement.Escape(s)
            : s => s;
        return pattern.Replace(text, m => escape(opened[m.Value]));
    }
}
