using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
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
    private CliSilo(string baseUrl, string rootKey, HttpClient http, WebApplication? silo, Process? siloProcess = null)
    {
        BaseUrl = baseUrl;
        RootKey = rootKey;
        Http = http;
        InProcessSilo = silo;
        SiloProcess = siloProcess;
    }

    /// <summary>The silo started as a child process (<c>escrow serve</c>) by <see cref="StartAsync"/> with ownProcess; null otherwise.</summary>
    public Process? SiloProcess { get; }

    public string BaseUrl { get; }
    public string RootKey { get; }
    public HttpClient Http { get; }
    public WebApplication? InProcessSilo { get; }

    /// <summary>
    /// The silo at <paramref name="url"/>; without one, a silo of this machine on a free loopback port: in this process, or
    /// with <paramref name="ownProcess"/> as a child process (<c>escrow serve</c>, the same build), so that what it spends
    /// can be told apart from the caller's (a load generator's).
    /// </summary>
    public static async Task<CliSilo> StartAsync(string? url, Action<string> info, CancellationToken ct, bool ownProcess = false)
    {
        var rootKey = url is null ? TenancyStore.NewSecret() : Environment.GetEnvironmentVariable("Escrow__RootApiKey");
        if (string.IsNullOrEmpty(rootKey))
            throw new CliException("--url needs the silo's root key in Escrow__RootApiKey (deploy/run.sh prints it)");
        WebApplication? silo = null;
        Process? child = null;
        var baseUrl = url;
        if (baseUrl is null && ownProcess)
        {
            baseUrl = $"http://127.0.0.1:{FreePort().ToString(CultureInfo.InvariantCulture)}";
            child = await StartSiloProcessAsync(baseUrl, rootKey, ct).ConfigureAwait(false);
            info($"started a silo process (pid {child.Id.ToString(CultureInfo.InvariantCulture)}) on {baseUrl}");
        }
        else if (baseUrl is null)
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
        var cli = new CliSilo(baseUrl, rootKey, http, silo, child);
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

    /// <summary>Starts <c>escrow serve</c> (this program) with the caller's environment and waits until it answers <c>/health</c> (60 s at most).</summary>
    private static async Task<Process> StartSiloProcessAsync(string baseUrl, string rootKey, CancellationToken ct)
    {
        var self = Environment.ProcessPath ?? throw new CliException("cannot tell which program to start as the silo");
        var start = new ProcessStartInfo(self) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(self) == "dotnet") start.ArgumentList.Add(typeof(CliSilo).Assembly.Location);
        foreach (var a in new[] { "serve", "--urls", baseUrl }) start.ArgumentList.Add(a);
        start.Environment["Escrow__RootApiKey"] = rootKey;
        start.Environment["Escrow__SiloPort"] = "0";
        start.Environment["Escrow__GatewayPort"] = "0";
        start.Environment["Logging__LogLevel__Default"] = "Warning";
        var process = Process.Start(start) ?? throw new CliException("the silo process did not start");
        var output = new System.Collections.Concurrent.ConcurrentQueue<string>();
        void Keep(string? line)
        {
            if (line is null) return;
            output.Enqueue(line);
            while (output.Count > 40) output.TryDequeue(out _);
        }
        process.OutputDataReceived += (_, e) => Keep(e.Data);
        process.ErrorDataReceived += (_, e) => Keep(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var probe = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = Stopwatch.GetTimestamp() + Stopwatch.Frequency * 60;
        while (Stopwatch.GetTimestamp() < deadline)
        {
            if (process.HasExited)
                throw new CliException($"the silo process exited with {process.ExitCode.ToString(CultureInfo.InvariantCulture)}:\n{string.Join('\n', output)}");
            try
            {
                using var health = await probe.GetAsync(baseUrl + "/health", ct).ConfigureAwait(false);
                if (health.IsSuccessStatusCode) return process;
            }
            catch (HttpRequestException) { }
            catch (TaskCanceledException) when (!ct.IsCancellationRequested) { }
            await Task.Delay(250, ct).ConfigureAwait(false);
        }
        await StopAsync(process).ConfigureAwait(false);
        throw new CliException($"the silo process did not answer /health within 60 s:\n{string.Join('\n', output)}");
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SendSignal(int pid, int signal);

    /// <summary>Stops a silo process gracefully (SIGTERM: its grains deactivate and it leaves the membership table), killing it after 30 s.</summary>
    private static async Task StopAsync(Process process)
    {
        if (process.HasExited) return;
        if (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS()) _ = SendSignal(process.Id, 15);
        else process.Kill(entireProcessTree: true);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
        }
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        if (SiloProcess is not null)
        {
            await StopAsync(SiloProcess).ConfigureAwait(false);
            SiloProcess.Dispose();
        }
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
