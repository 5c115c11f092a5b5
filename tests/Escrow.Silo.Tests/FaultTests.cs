using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Escrow.Testing;
using Npgsql;
using Xunit.Abstractions;

namespace Escrow.Silo.Tests;

/// <summary>
/// The kill -9 fault test as CI runs it: deploy/fault-test.sh starts 3 silo processes behind nginx on free ports
/// against the test PostgreSQL, runs a transfer load through nginx with five funded deals falling due just after the kill,
/// kill -9s the silo pulling the balances' projection queue mid-load and checks every acknowledged command, zero-sum,
/// convergence to a replay, each due deal expired exactly once, and the move of the dead silo's queues. It prints PASS or FAIL.
/// </summary>
[Trait("Tier", "Slow")]
public class FaultTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Kill_minus_nine_of_a_silo_behind_nginx_loses_no_acknowledged_transfer_moves_its_projection_queues_and_expires_every_due_deal_once()
    {
        var repo = Repository.Root();
        var cli = Repository.BuiltProgram("Escrow.Cli", "escrow.dll");
        var pg = new NpgsqlConnectionStringBuilder(PgDatabase.ServerConnectionString);

        var psi = new ProcessStartInfo("bash", [Path.Combine(repo, "deploy", "fault-test.sh")])
        {
            WorkingDirectory = repo,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        psi.Environment["ESCROW_PG_PORT"] = pg.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        psi.Environment["ESCROW_FAULT_HTTP_PORT"] = FreePortBlock(4).ToString(System.Globalization.CultureInfo.InvariantCulture);
        psi.Environment["ESCROW_FAULT_SECONDS"] = "20";
        psi.Environment["ESCROW_FAULT_KILL_AFTER"] = "6";
        psi.Environment["ESCROW_NO_BUILD"] = "1";
        psi.Environment["ESCROW_CLI_DLL"] = cli;
        psi.Environment.Remove("Escrow__RootApiKey");

        using var process = Process.Start(psi)!;
        var lines = new List<string>();
        var stdout = Task.Run(async () => { while (await process.StandardOutput.ReadLineAsync() is { } l) lock (lines) lines.Add(l); });
        var stderr = Task.Run(async () => { while (await process.StandardError.ReadLineAsync() is { } l) lock (lines) lines.Add("stderr: " + l); });
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(6));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
        finally
        {
            await Task.WhenAll(stdout, stderr);
            foreach (var l in lines) output.WriteLine(l);
        }

        Assert.Equal(0, process.ExitCode);
        Assert.StartsWith("PASS: ", lines.Last(l => l.StartsWith("PASS", StringComparison.Ordinal) || l.StartsWith("FAIL", StringComparison.Ordinal)), StringComparison.Ordinal);
        Assert.Contains(lines, l => l.Contains("check-acked: OK", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("applied twice: 0  OK", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("deals due during the run: 5 of 5 expired exactly once, 0 more than once", StringComparison.Ordinal) && l.EndsWith("OK", StringComparison.Ordinal));
    }

    /// <summary>A port p such that p .. p+count-1 are free on loopback right now (nginx on p, silos after it).</summary>
    private static int FreePortBlock(int count)
    {
        // Below the kernel's ephemeral range (32768-60999 by default): between this check and the silos' and nginx's bind,
        // an outgoing connection of a parallel test could otherwise be given one of these ports.
        var (low, high) = (20000, 60000);
        try
        {
            var range = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[])['\t', ' ', '\n'], StringSplitOptions.RemoveEmptyEntries);
            if (int.TryParse(range[0], out var ephemeralLow) && ephemeralLow > 11000) (low, high) = (10000, ephemeralLow);
        }
        catch (IOException) { /* not Linux: any free block */ }
        var random = new Random();
        for (var attempt = 0; attempt < 200; attempt++)
        {
            var p = random.Next(low, high - count);
            var listeners = new List<TcpListener>();
            try
            {
                for (var i = 0; i < count; i++)
                {
                    var l = new TcpListener(IPAddress.Loopback, p + i);
                    l.Start();
                    listeners.Add(l);
                }
                return p;
            }
            catch (SocketException) { /* taken: try another block */ }
            finally
            {
                foreach (var l in listeners) l.Stop();
            }
        }
        throw new InvalidOperationException("no block of free ports found");
    }
}
