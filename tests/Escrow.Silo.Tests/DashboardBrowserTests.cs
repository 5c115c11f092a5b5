using System.Globalization;
using System.Net;
using System.Text;
using Escrow.Testing;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using Xunit.Abstractions;

namespace Escrow.Silo.Tests;

/// <summary>
/// The dashboard in a real headless Chromium (<c>/usr/bin/chromium</c>, driven by Playwright) against a silo listening
/// on a loopback Kestrel socket: it loads without console errors, logs in with an auditor key, shows a silo and live
/// numbers that move after commands, and the stream browser finds the account the test created; its link opens
/// Microsoft's Orleans Dashboard with the same key (the login cookie), which shows the silo, our grain types and the deal
/// grain's calls rising after commands, and links back. A screenshot of each is saved next to the test assembly.
/// </summary>
[Trait("Tier", "Slow")]
public class DashboardBrowserTests : IClassFixture<PgDatabase>
{
    private const string Chromium = "/usr/bin/chromium";
    private readonly PgDatabase _db;
    private readonly ITestOutputHelper _output;

    public DashboardBrowserTests(PgDatabase db, ITestOutputHelper output)
    {
        _db = db;
        _output = output;
    }

    [Fact]
    public async Task The_dashboards_in_headless_Chromium_show_live_numbers_a_created_account_and_in_the_Orleans_Dashboard_silos_grain_types_and_calls()
    {
        Assert.True(File.Exists(Chromium), $"{Chromium} is missing: apt-get install -y chromium (.ci/run does it)");
        await using var silo = new SiloFactory(_db);
        silo.UseKestrel(o => o.Listen(IPAddress.Loopback, 0));
        silo.StartServer();
        var address = silo.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        var baseUri = new Uri(address);

        using var http = new HttpClient { BaseAddress = baseUri };
        var institution = SiloFactory.NewInstitution();
        var writerKey = await CreateKeyAsync(http, institution, "writer");
        var auditorKey = await CreateKeyAsync(http, institution, "auditor");
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", writerKey);
        var account = "pw-" + Guid.NewGuid().ToString("N")[..8];
        Assert.Equal(HttpStatusCode.Created, (await http.OpenAsync(account)).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await http.DepositAsync(account, 125.50m)).StatusCode);

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions { ExecutablePath = Chromium, Headless = true });
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 900 } });
        var problems = new List<string>();
        page.Console += (_, m) => { if (m.Type == "error") lock (problems) problems.Add("console: " + m.Text); };
        page.PageError += (_, e) => { lock (problems) problems.Add("page error: " + e); };
        page.SetDefaultTimeout(20_000);
        Assertions.SetDefaultExpectTimeout(20_000);

        var response = await page.GotoAsync(new Uri(baseUri, "/dashboard").ToString());
        Assert.Equal(200, response!.Status);
        await Assertions.Expect(page.GetByTestId("login")).ToBeVisibleAsync();

        await page.GetByTestId("key").FillAsync(auditorKey);
        await page.GetByTestId("login-button").ClickAsync();
        await Assertions.Expect(page.GetByTestId("who")).ToContainTextAsync("auditor");

        await Assertions.Expect(page.GetByTestId("cmd-total")).Not.ToHaveTextAsync("–");
        var before = Number(await page.GetByTestId("cmd-total").TextContentAsync());
        var eventsBefore = Number(await page.GetByTestId("evt-total").TextContentAsync());

        // Live numbers: send commands; the page (polling every second) must show them without a reload.
        for (var i = 0; i < 10; i++)
            Assert.Equal(HttpStatusCode.Created, (await http.DepositAsync(account, 1m)).StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, (await http.WithdrawAsync(account, 1_000_000m)).StatusCode);
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (Number(await page.GetByTestId("cmd-total").TextContentAsync()) < before + 11 && DateTime.UtcNow < deadline)
            await Task.Delay(200);
        Assert.True(Number(await page.GetByTestId("cmd-total").TextContentAsync()) >= before + 11);
        Assert.True(Number(await page.GetByTestId("evt-total").TextContentAsync()) >= eventsBefore + 20);
        await Assertions.Expect(page.GetByTestId("cmd-rate")).Not.ToHaveTextAsync("0");
        await Assertions.Expect(page.GetByTestId("rejections").Locator("tbody")).ToContainTextAsync("insufficient_funds");
        await Assertions.Expect(page.GetByTestId("projections").Locator("tbody")).ToContainTextAsync("account_balances");

        // The stream browser finds the account: events with metadata, the state now and as of an instant, an intact chain.
        await page.GetByTestId("stream-kind").SelectOptionAsync("account");
        await page.GetByTestId("stream-id").FillAsync(account);
        await page.GetByTestId("stream-at").FillAsync(DateTime.UtcNow.AddHours(1).ToString("yyyy-MM-ddTHH:mm:ss", CultureInfo.InvariantCulture));
        await page.GetByTestId("stream-go").ClickAsync();
        await Assertions.Expect(page.GetByTestId("stream-result")).ToBeVisibleAsync();
        await Assertions.Expect(page.GetByTestId("stream-head")).ToContainTextAsync($"account-{institution}/{account}");
        await Assertions.Expect(page.GetByTestId("stream-chain")).ToContainTextAsync("hash chain intact");
        await Assertions.Expect(page.GetByTestId("stream-events")).ToContainTextAsync("AccountOpened");
        await Assertions.Expect(page.GetByTestId("stream-events")).ToContainTextAsync(institution);     // metadata.tenant
        await Assertions.Expect(page.GetByTestId("state-now")).ToContainTextAsync("135.5");
        await Assertions.Expect(page.GetByTestId("state-at")).ToContainTextAsync("balance 135.5");

        // Microsoft's Orleans Dashboard, opened from our page's link with the login cookie our page set (it sends no header of ours).
        await page.GetByTestId("orleans-link").ClickAsync();
        await page.WaitForURLAsync("**/orleans-dashboard/**");
        await Assertions.Expect(page.Locator("#content")).ToContainTextAsync("Active Silos");
        var siloAddress = silo.Services.GetRequiredService<Orleans.Runtime.ILocalSiloDetails>().SiloAddress.Endpoint.ToString();
        await page.GotoAsync(new Uri(baseUri, "/orleans-dashboard/#/silos").ToString());
        await Assertions.Expect(page.Locator("#content")).ToContainTextAsync(siloAddress);
        await page.GotoAsync(new Uri(baseUri, "/orleans-dashboard/#/grains").ToString());
        await Assertions.Expect(page.Locator("#content")).ToContainTextAsync("AccountGrain");
        await Assertions.Expect(page.Locator("#content")).ToContainTextAsync("ProjectionGrain");

        // Call counts rise: the deal grain's Execute calls since just before ten deals are created, as the page's own API
        // (read in the page, with its cookie) counts them, and the grain's page lists the method. (The account grain is
        // left out of the profiler, [NoProfiling]: its calls are the ledger dashboard's command rates.)
        var seller = "pw-s-" + Guid.NewGuid().ToString("N")[..8];
        Assert.Equal(HttpStatusCode.Created, (await http.OpenAsync(seller)).StatusCode);
        await page.GotoAsync(new Uri(baseUri, "/orleans-dashboard/#/grain/Escrow.Silo.Grains.DealGrain").ToString());
        var since = await page.EvaluateAsync<double>("() => Date.now() - 2000");
        for (var i = 0; i < 10; i++)
            Assert.Equal(HttpStatusCode.Created, (await http.CommandAsync("/deals",
                $$"""{"buyerAccount":"{{account}}","sellerAccount":"{{seller}}","amount":1,"currency":"EUR"}""")).StatusCode);
        const string executeCalls = """
            async (since) => {
              const stats = await (await fetch("GrainStats/Escrow.Silo.Grains.DealGrain", { cache: "no-store" })).json();
              let n = 0;
              for (const [method, periods] of Object.entries(stats))
                if (method.endsWith(".Execute"))
                  for (const e of Object.values(periods)) if (Date.parse(e.period.endsWith("Z") ? e.period : e.period + "Z") >= since) n += e.count;
              return n;
            }
            """;
        var calls = 0.0;
        for (var until = DateTime.UtcNow.AddSeconds(20); DateTime.UtcNow < until; await Task.Delay(500))
            if ((calls = await page.EvaluateAsync<double>(executeCalls, since)) >= 10) break;
        Assert.True(calls >= 10, $"the Orleans Dashboard counted {calls} DealGrain.Execute calls since the ten deals began");
        await Assertions.Expect(page.Locator("#content")).ToContainTextAsync("DealGrain.Execute");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(AppContext.BaseDirectory, "TestResults", "orleans-dashboard.png"), FullPage = true });

        // And back to ours through the link the silo adds to the Orleans Dashboard's page.
        await page.Locator("#escrow-ledger-dashboard").ClickAsync();
        await Assertions.Expect(page.GetByTestId("who")).ToContainTextAsync("auditor");

        var screenshot = Path.Combine(AppContext.BaseDirectory, "TestResults", "dashboard.png");
        Directory.CreateDirectory(Path.GetDirectoryName(screenshot)!);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = screenshot, FullPage = true });
        _output.WriteLine($"dashboard screenshot: {screenshot}");
        Console.WriteLine($"dashboard screenshot: {screenshot}");
        Assert.True(new FileInfo(screenshot).Length > 10_000);

        lock (problems) Assert.Empty(problems);
    }

    private static double Number(string? text) =>
        double.TryParse((text ?? "").Replace(",", "", StringComparison.Ordinal), NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : double.NaN;

    private static async Task<string> CreateKeyAsync(HttpClient http, string institution, string role)
    {
        using var root = new HttpRequestMessage(HttpMethod.Post, "/institutions")
        {
            Content = new StringContent($$"""{"institutionId":"{{institution}}"}""", Encoding.UTF8, "application/json"),
        };
        root.Headers.Authorization = new("Bearer", SiloFactory.RootKey);
        var created = await http.SendAsync(root);
        Assert.True(created.StatusCode is HttpStatusCode.Created or HttpStatusCode.Conflict, await created.Content.ReadAsStringAsync());
        using var key = new HttpRequestMessage(HttpMethod.Post, $"/institutions/{institution}/keys")
        {
            Content = new StringContent($$"""{"role":"{{role}}"}""", Encoding.UTF8, "application/json"),
        };
        key.Headers.Authorization = new("Bearer", SiloFactory.RootKey);
        var r = await http.SendAsync(key);
        Assert.Equal(HttpStatusCode.Created, r.StatusCode);
        return (await r.JsonAsync()).GetProperty("apiKey").GetString()!;
    }
}
