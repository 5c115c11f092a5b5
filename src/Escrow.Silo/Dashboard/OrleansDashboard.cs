using System.Text;
using Escrow.Silo.Hosting;
using Escrow.Silo.Tenancy;
using Microsoft.Extensions.Options;
using Orleans.Dashboard;

namespace Escrow.Silo.Dashboard;

/// <summary>
/// Microsoft's Orleans Dashboard (<c>Microsoft.Orleans.Dashboard</c>) in every silo, under <see cref="Path"/>: silos,
/// activations, grain types, calls, latency and errors per grain method, reminders. It is never anonymous: every path
/// of it (page, assets, API) needs a root or auditor key like <c>/dashboard/api</c> (401 without one, 403 for a writer),
/// sent as a header or, from a browser, as the <see cref="KeyCookie"/> that <c>POST /dashboard/session</c> sets. Its views
/// that name grains of every institution (reminders, a grain's state) and its live log stream (trace, off unless
/// <see cref="SiloOptions.OrleansDashboardTrace"/>) answer root only. Its page carries a link back to ours
/// (<c>/dashboard</c>), which keeps what this one does not have: projection lag, the stream browser, the hash chain,
/// rejections by code and the audit tail.
/// </summary>
public static class OrleansDashboard
{
    /// <summary>Where the Orleans Dashboard is mapped.</summary>
    public const string Path = "/orleans-dashboard";

    /// <summary>
    /// Cookie holding the browser's API key (HttpOnly, SameSite=Strict, session-only), accepted only by GET and HEAD requests
    /// under <see cref="Path"/> and <c>/dashboard/api</c>, which read and never change anything: a cross-site request can
    /// neither send it nor act with it.
    /// </summary>
    public const string KeyCookie = "escrow-dashboard-key";

    /// <summary>The configuration switch (<c>Escrow:OrleansDashboard</c>, default on): off leaves out the dashboard and its grain-call filter.</summary>
    public static bool Enabled(IConfiguration configuration) => configuration.GetValue("Escrow:OrleansDashboard", true);

    /// <summary>Adds the Orleans Dashboard's services and its grain-call profiler to the silo, unless switched off.</summary>
    public static ISiloBuilder AddEscrowDashboard(this ISiloBuilder silo)
    {
        if (!Enabled(silo.Configuration)) return silo;
        silo.AddDashboard();
        silo.Services.AddOptions<DashboardOptions>().Configure<IOptions<SiloOptions>>((d, o) => d.HideTrace = !o.Value.OrleansDashboardTrace);
        // Profiling runs while someone watches the dashboard (Orleans turns it off a minute after the last look), or always
        // when configured (the benchmark's worst case).
        silo.Services.AddOptions<GrainProfilerOptions>().Configure<IOptions<SiloOptions>>((p, o) => p.TraceAlways = o.Value.OrleansDashboardProfileAlways);
        return silo;
    }

    /// <summary>Whether a key may be taken from <see cref="KeyCookie"/> for this request (a read of a dashboard).</summary>
    public static bool AcceptsKeyCookie(HttpRequest request) =>
        (HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method))
        && (request.Path.StartsWithSegments(Path) || request.Path.StartsWithSegments("/dashboard/api"));

    /// <summary>Maps the Orleans Dashboard under <see cref="Path"/> behind root and auditor keys, when the silo has it.</summary>
    public static void MapEscrowDashboard(this IEndpointRouteBuilder app)
    {
        if (!Enabled(app.ServiceProvider.GetRequiredService<IConfiguration>())) return;
        // Its page, with the link back to ours: mapped ahead of (Order -1) the package's own routes for the same paths.
        // (Routing ignores a trailing slash: one route serves both, and redirects the bare path so that the page's relative
        // asset paths resolve, as the package does.)
        var page = new Lazy<byte[]>(IndexWithLinkBack);
        IResult Page(HttpContext http) => http.Request.Path.Value?.EndsWith('/') == true
            ? Results.Bytes(page.Value, "text/html; charset=utf-8")
            : Results.Redirect($"{http.Request.PathBase}{http.Request.Path}/{http.Request.QueryString}");
        app.MapGet(Path + "/", Page).WithOrder(-1).RequireRoles(Role.Root, Role.Auditor).ExcludeFromDescription();
        app.MapGet(Path + "/index.html", (HttpContext _) => Results.Bytes(page.Value, "text/html; charset=utf-8")).WithOrder(-1)
            .RequireRoles(Role.Root, Role.Auditor).ExcludeFromDescription();
        app.MapOrleansDashboard(Path).RequireRoles(Role.Root, Role.Auditor).ExcludeFromDescription()
            .AddEndpointFilter(async (ctx, next) =>
            {
                var http = ctx.HttpContext;
                if (RootOnly(http.Request.Path) && !http.GetCaller().IsRoot)
                {
                    await http.RequestServices.GetRequiredService<RefusalAudit>().RecordAsync(http, 403, "forbidden", http.RequestAborted).ConfigureAwait(false);
                    return Results.Text(Problems.Serialize(Problems.Create(403, "forbidden",
                        $"{http.Request.Path} shows grains of every institution or the silo's log: it needs the root key")), Problems.ContentType, statusCode: 403);
                }
                http.Response.Headers.CacheControl = "no-store";
                return await next(ctx).ConfigureAwait(false);
            });
    }

    /// <summary>The views that name grains of every institution, or stream the silo's log: root only.</summary>
    private static bool RootOnly(PathString path) =>
        path.StartsWithSegments(Path + "/GrainState") || path.StartsWithSegments(Path + "/Reminders") || path.StartsWithSegments(Path + "/Trace");

    /// <summary>The package's <c>index.html</c> with a fixed link to our dashboard added to its body.</summary>
    private static byte[] IndexWithLinkBack()
    {
        using var stream = typeof(DashboardOptions).Assembly.GetManifestResourceStream("Orleans.Dashboard.wwwroot.index.html")
            ?? throw new InvalidOperationException("the Orleans Dashboard package no longer embeds Orleans.Dashboard.wwwroot.index.html");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var html = reader.ReadToEnd();
        const string link =
            """<a id="escrow-ledger-dashboard" href="/dashboard" title="Projection lag, stream browser, hash chain, rejections, audit tail" """ +
            """style="position:fixed;left:12px;bottom:10px;z-index:2000;padding:6px 10px;border-radius:4px;background:#1d2a44;color:#fff;font:13px system-ui,sans-serif;text-decoration:none">""" +
            "Ledger dashboard →</a>";
        var body = html.IndexOf("<body", StringComparison.OrdinalIgnoreCase);
        var open = body < 0 ? -1 : html.IndexOf('>', body);
        if (open < 0) throw new InvalidOperationException("the Orleans Dashboard's index.html has no <body>");
        return Encoding.UTF8.GetBytes(html.Insert(open + 1, link));
    }
}
