using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Escrow.Silo;
using Escrow.Silo.Tenancy;

namespace Escrow.Cli;

/// <summary>
/// The silo a CLI workload talks to over HTTP: an in-process silo on a free loopback port with a fresh
/// root key, or a running one (<c>--url</c>, root key from <c>Escrow__RootApiKey</c>). Checks <c>/health</c>
/// before handing out the client; disposing stops the in-process silo.
/// </summary>
internal sealed class CliSilo : IAsyncDisposable
{
    private CliSilo(string baseUrl, string rootKey, HttpClient http, WebApplication? silo)
    {
        BaseUrl = baseUrl;
        RootKey = rootKey;
        Http = http;
        InProcessSilo = silo;
    }

    public string BaseUrl { get; }
    public string RootKey { get; }
    public HttpClient Http { get; }
    public WebApplication? InProcessSilo { get; }

    public static async Task<CliSilo> StartAsync(string? url, Action<string> info, CancellationToken ct)
    {
        var rootKey = url is null ? TenancyStore.NewSecret() : Environment.GetEnvironmentVariable("Escrow__RootApiKey");
        if (string.IsNullOrEmpty(rootKey))
            throw new CliException("--url needs the silo's root key in Escrow__RootApiKey (deploy/run.sh prints it)");
        WebApplication? silo = null;
        var baseUrl = url;
        if (baseUrl is null)
        {
            baseUrl = $"http://127.0.0.1:{FreePort().ToString(CultureInfo.InvariantCulture)}";
            // Quiet the in-process silo: its request logging would compete with the workload for the console and the CPU.
            silo = SiloHost.Build(["--urls", baseUrl, "--Logging:LogLevel:Default=Warning", $"--Escrow:RootApiKey={rootKey}",
                // Free Orleans ports: a silo of deploy/run.sh may hold the defaults on this machine.
                "--Escrow:SiloPort=0", "--Escrow:GatewayPort=0"]);
            await silo.StartAsync(ct).ConfigureAwait(false);
            info($"started an in-process silo on {baseUrl}");
        }
        var http = new HttpClient(new SocketsHttpHandler
        {
            UseProxy = false,
            MaxConnectionsPerServer = int.MaxValue,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
        })
        {
            BaseAddress = new Uri(baseUrl.TrimEnd('/') + "/"),
            Timeout = TimeSpan.FromSeconds(30),
        };
        var cli = new CliSilo(baseUrl, rootKey, http, silo);
        try
        {
            using var health = await http.GetAsync("health", ct).ConfigureAwait(false);
            if (!health.IsSuccessStatusCode)
                throw new CliException($"silo at {baseUrl} is not healthy: GET /health answered {((int)health.StatusCode).ToString(CultureInfo.InvariantCulture)}");
            return cli;
        }
        catch
        {
            await cli.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        if (InProcessSilo is not null)
        {
            await InProcessSilo.StopAsync(CancellationToken.None).ConfigureAwait(false);
            await InProcessSilo.DisposeAsync().ConfigureAwait(false);
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
