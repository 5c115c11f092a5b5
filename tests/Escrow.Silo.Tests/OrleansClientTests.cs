using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using Escrow.Testing;
using Xunit.Abstractions;

namespace Escrow.Silo.Tests;

/// <summary>
/// An external Orleans client: the sample program (<c>src/Escrow.Orleans.Sample</c>) as a process of its own against a
/// running two-silo cluster, connected through <c>AddEscrowOrleansClient</c> (gateways from the ADO.NET membership table):
/// a transfer, a deal from creation to release and a pacs.008 import through the grains; a write to another institution's
/// account refused; transfers that go on while one silo stops. The results are then read through the HTTP API and the
/// database: balances, the deal, the booking, the audit log's actor (the key's id, not what the client wrote) and the
/// audited refusal.
/// </summary>
[Trait("Tier", "Slow")]
public class OrleansClientTests(ITestOutputHelper output)
{
    private const int Transfers = 60;

    [Fact]
    public async Task An_external_client_process_runs_the_three_flows_is_refused_another_institution_and_rides_over_a_silo_stop()
    {
        await using var db = new PgDatabase();
        await db.InitializeAsync();
        try
        {
            await using var cluster = await EscrowTestCluster.StartAsync(db, 2);
            var keys = new SiloFactoryKeys(cluster.Silos[0].Client());
            var key = await keys.WriterKeyAsync();
            var institution = keys.Institution;
            await keys.WriterKeyAsync();
            var other = keys.Institution;

            var lines = new ConcurrentQueue<string>();
            using var sample = StartSample(db.AppConnectionString, key, institution, other, cluster.ClusterId, cluster.ServiceId, lines);
            // Stop the second silo (cleanly, through the TestingHost) once the transfers are under way.
            await EscrowTestCluster.WaitUntilAsync(() => Task.FromResult(lines.Any(l => l.StartsWith("progress 10/", StringComparison.Ordinal)) || sample.HasExited),
                TimeSpan.FromSeconds(120), "the sample did not get to its transfers");
            Assert.False(sample.HasExited, "the sample ended before the silo could be stopped:\n" + string.Join('\n', lines));
            await cluster.StopAsync(cluster.Silos[1]);
            output.WriteLine($"stopped silo {cluster.Silos[1].Id}");
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(150));
            await sample.WaitForExitAsync(timeout.Token);
            sample.WaitForExit();   // the output is drained
            foreach (var l in lines) output.WriteLine(l);

            Assert.Equal(0, sample.ExitCode);
            Assert.DoesNotContain(lines, l => l.StartsWith("FAIL", StringComparison.Ordinal));
            Assert.Contains(lines, l => l.StartsWith("ok    transfer: 40.25 EUR", StringComparison.Ordinal));
            Assert.Contains(lines, l => l.StartsWith("ok    deal ", StringComparison.Ordinal) && l.Contains("released 25", StringComparison.Ordinal));
            Assert.Contains(lines, l => l.StartsWith("ok    payment ", StringComparison.Ordinal) && l.Contains("booked Outgoing", StringComparison.Ordinal));
            Assert.Contains(lines, l => l.StartsWith($"ok    a write to institution {other}'s account refused: forbidden", StringComparison.Ordinal));
            Assert.Contains(lines, l => l.StartsWith($"ok    {Transfers}/{Transfers} transfers acknowledged", StringComparison.Ordinal));

            // What the client did, as the HTTP API (through the surviving silo) and the database see it.
            var ids = lines.Single(l => l.StartsWith("accounts: ", StringComparison.Ordinal)).Split(' ');
            var (alice, bob, dealId) = (ids[1], ids[2], ids[6].TrimEnd(';'));
            using var http = cluster.Silos[0].Client(key);
            Assert.Equal(60.25m - 25m + Transfers, (await (await http.GetAsync($"/accounts/{alice}")).JsonAsync()).GetProperty("balance").GetDecimal());
            Assert.Equal(40.25m + 25m, (await (await http.GetAsync($"/accounts/{bob}")).JsonAsync()).GetProperty("balance").GetDecimal());
            var deal = await (await http.GetAsync($"/deals/{dealId}")).JsonAsync();
            Assert.Equal("RELEASED", deal.GetProperty("status").GetString());
            var keyId = await db.ScalarAsync<string>($"SELECT key_id FROM api_keys WHERE institution_id = '{institution}'");
            // Every command the client sent is audited under its key's id, though the sample names itself "orleans-sample".
            const string commands = "('OpenAccount', 'Post.Deposit', 'Post.Transfer', 'CreateDeal', 'FundDeal', 'ReleaseDeal', 'ImportIso.pacs.008')";
            Assert.Equal(0L, await db.ScalarAsync<long>($"SELECT count(*) FROM audit_log WHERE tenant = '{institution}' AND operation IN {commands} AND actor <> '{keyId}'"));
            Assert.True(await db.ScalarAsync<long>($"SELECT count(DISTINCT operation) FROM audit_log WHERE tenant = '{institution}' AND operation IN {commands} AND actor = '{keyId}'") == 7);
            Assert.Equal(1L, await db.ScalarAsync<long>(
                $"SELECT count(*) FROM audit_log WHERE tenant = '{institution}' AND outcome = 'refused' AND status = 403 AND operation = 'grain IAccountGrain.Execute'"));
            // Nothing reached the other institution.
            Assert.Equal(0L, await db.ScalarAsync<long>($"SELECT count(*) FROM streams WHERE tenant = '{other}'"));
        }
        finally
        {
            await db.DisposeAsync();
        }
    }

    private static Process StartSample(string connection, string key, string institution, string other, string clusterId, string serviceId, ConcurrentQueue<string> lines)
    {
        var dll = Repository.BuiltProgram("Escrow.Orleans.Sample", "escrow-orleans-sample.dll");
        var psi = new ProcessStartInfo("dotnet",
            [dll, "--connection", connection, "--key", key, "--institution", institution, "--other-institution", other,
             "--cluster-id", clusterId, "--service-id", serviceId, "--transfers", Transfers.ToString(System.Globalization.CultureInfo.InvariantCulture)])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        var process = new Process { StartInfo = psi };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lines.Enqueue(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lines.Enqueue("stderr: " + e.Data); };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }
}
