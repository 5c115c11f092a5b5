using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Escrow.Testing;
using Npgsql;
using Xunit.Abstractions;

namespace Escrow.Silo.Tests;

/// <summary>
/// A silo whose PostgreSQL connections run through a TCP relay the test can cut: while the database cannot be reached,
/// commands and reads answer 503 <c>database_unavailable</c> within seconds (never a hang, never a 500), nothing is
/// half-applied, and once it is back the same Idempotency-Key applies the command exactly once.
/// </summary>
public sealed class OutageTests(PgDatabase db, ITestOutputHelper output) : IClassFixture<PgDatabase>
{
    [Fact]
    public async Task A_PostgreSQL_outage_is_a_503_within_seconds_and_a_retry_after_it_applies_once()
    {
        await using var relay = Relay();
        await using var silo = SiloThrough(relay);
        using var http = await silo.ClientForAsync();
        var a = "out-" + Guid.NewGuid().ToString("N")[..8];
        Assert.Equal(HttpStatusCode.Created, (await http.OpenAsync(a)).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await http.DepositAsync(a, 10m)).StatusCode);
        var events = await db.EventCountAsync();

        relay.Cut();
        var clock = Stopwatch.StartNew();
        var deposit = await http.DepositAsync(a, 5m, key: "outage-" + a);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, deposit.StatusCode);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"answered after {clock.Elapsed}");
        Assert.Equal("database_unavailable", (await deposit.JsonAsync()).GetProperty("code").GetString());
        Assert.NotNull(deposit.Headers.RetryAfter);
        var read = await http.GetAsync($"/accounts/{a}/balance");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, read.StatusCode);
        Assert.Equal(events, await db.EventCountAsync());   // nothing half-applied

        relay.Restore();
        var retry = await UntilAvailableAsync(() => http.DepositAsync(a, 5m, key: "outage-" + a));
        Assert.Equal(HttpStatusCode.Created, retry.StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await http.DepositAsync(a, 5m, key: "outage-" + a)).StatusCode);   // the stored answer
        Assert.Equal(15m, await http.BalanceAsync(a));
        Assert.Equal(events + 2, await db.EventCountAsync());   // one deposit: its two legs
    }

    [Fact]
    public async Task A_commit_whose_answer_is_lost_is_answered_as_outcome_unknown_and_the_same_key_applies_it_once()
    {
        await using var relay = Relay();
        await using var silo = SiloThrough(relay);
        using var http = await silo.ClientForAsync();
        var a = "lost-" + Guid.NewGuid().ToString("N")[..8];
        Assert.Equal(HttpStatusCode.Created, (await http.OpenAsync(a)).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await http.DepositAsync(a, 10m)).StatusCode);
        var events = await db.EventCountAsync();

        // The deposit's transaction reaches PostgreSQL and commits; its answer does not come back before the link breaks.
        relay.MuteAnswersAfter("lost-" + a);
        var pending = http.DepositAsync(a, 5m, key: "lost-" + a);
        await EscrowTestCluster.WaitUntilAsync(async () => await db.EventCountAsync() == events + 2, TimeSpan.FromSeconds(10), "the deposit never reached PostgreSQL");
        relay.Cut();
        var deposit = await pending;
        Assert.Equal(HttpStatusCode.ServiceUnavailable, deposit.StatusCode);
        Assert.Equal("outcome_unknown", (await deposit.JsonAsync()).GetProperty("code").GetString());   // never "nothing happened"
        Assert.NotNull(deposit.Headers.RetryAfter);

        relay.Restore();
        var retry = await UntilAvailableAsync(() => http.DepositAsync(a, 5m, key: "lost-" + a));
        Assert.Equal(HttpStatusCode.Created, retry.StatusCode);   // the committed deposit's stored answer
        Assert.Equal(15m, await http.BalanceAsync(a));
        Assert.Equal(events + 2, await db.EventCountAsync());   // applied once
    }

    [Fact]
    [Trait("Tier", "Slow")]
    public async Task PostgreSQL_gone_for_six_seconds_under_load_costs_no_transfer_and_applies_none_twice()
    {
        await using var relay = Relay();
        await using var silo = SiloThrough(relay);
        using var http = await silo.ClientForAsync();
        var accounts = Enumerable.Range(0, 20).Select(i => $"load-{i}-{Guid.NewGuid():N}"[..20]).ToArray();
        foreach (var a in accounts)
        {
            Assert.Equal(HttpStatusCode.Created, (await http.OpenAsync(a)).StatusCode);
            Assert.Equal(HttpStatusCode.Created, (await http.DepositAsync(a, 1000m)).StatusCode);
        }

        // Eight clients of transfers; every attempt without a definitive answer is sent again with its own key.
        var load = new TransferLoad([http], accounts, "pg-" + Guid.NewGuid().ToString("N")[..6], attempts: 1000);
        using var stop = new CancellationTokenSource();
        var running = load.RunAsync(workers: 8, stop.Token);
        await EscrowTestCluster.WaitUntilAsync(() => Task.FromResult(load.Acked.Count >= 200), TimeSpan.FromSeconds(60), "the load did not start");
        relay.Cut();
        await Task.Delay(TimeSpan.FromSeconds(6));
        var ackedDuringOutage = load.Acked.Count;
        relay.Restore();
        await EscrowTestCluster.WaitUntilAsync(() => Task.FromResult(load.Acked.Count >= ackedDuringOutage + 200), TimeSpan.FromSeconds(60), "the silo did not recover");
        await stop.CancelAsync();
        await running;

        output.WriteLine($"acknowledged {load.Acked.Count} ({ackedDuringOutage} when PostgreSQL came back), refused {load.Refused}, attempts repeated {load.Retries}; {load.Summary}");
        Assert.Equal(0, load.Unresolved);
        Assert.DoesNotContain(load.Answers.Keys, k => k.StartsWith("500", StringComparison.Ordinal));
        Assert.Contains(load.Answers.Keys, k => k.StartsWith("503", StringComparison.Ordinal));   // the outage was seen
        Assert.True(load.LongestAttempt < TimeSpan.FromSeconds(10), $"an attempt hung: {load.Summary}");

        // The ledger equals the definitive answers: each acknowledged transfer once (its two legs), nothing else.
        var postings = await db.ScalarAsync<long>(
            $"SELECT count(DISTINCT data->>'postingId') FROM events WHERE stream_id LIKE 'account-%/load-%' AND data->>'kind' = 'Transfer'");
        Assert.Equal(load.Acked.Count, postings);
        await using var owner = db.OwnerDataSource();
        await using var cmd = owner.CreateCommand(
            "SELECT count(*) FROM unnest($1::text[]) p LEFT JOIN (SELECT data->>'postingId' AS posting, count(*) AS n FROM events GROUP BY 1) legs " +
            "ON legs.posting = p WHERE coalesce(legs.n, 0) <> 2");
        cmd.Parameters.Add(new() { Value = load.Acked.Values.ToArray() });
        Assert.Equal(0L, (long)(await cmd.ExecuteScalarAsync())!);
        Assert.Equal(accounts.Length * 1000m, (await Task.WhenAll(accounts.Select(a => http.BalanceAsync(a)))).Sum());
    }

    /// <summary>A relay to the test database's PostgreSQL.</summary>
    private TcpRelay Relay()
    {
        var target = new NpgsqlConnectionStringBuilder(db.AppConnectionString);
        return new TcpRelay(target.Host!, target.Port);
    }

    /// <summary>A silo (no projection runners) whose every PostgreSQL connection goes through <paramref name="relay"/>, with a 3 s connect timeout.</summary>
    private SiloFactory SiloThrough(TcpRelay relay)
    {
        var viaRelay = new NpgsqlConnectionStringBuilder(db.AppConnectionString) { Host = "127.0.0.1", Port = relay.Port, Timeout = 3 }.ConnectionString;
        return new SiloFactory(db, runProjections: false, settings: new Dictionary<string, string> { ["Escrow:ConnectionString"] = viaRelay });
    }

    /// <summary>Sends the request again (as a client retrying a 503 would) until the silo answers anything else, for up to 5 s.</summary>
    private static async Task<HttpResponseMessage> UntilAvailableAsync(Func<Task<HttpResponseMessage>> send)
    {
        var response = await send();
        for (var i = 0; i < 50 && response.StatusCode == HttpStatusCode.ServiceUnavailable; i++)
        {
            await Task.Delay(100);
            response = await send();
        }
        return response;
    }

    /// <summary>A TCP relay to PostgreSQL: <see cref="Cut"/> drops every connection and refuses new ones until <see cref="Restore"/>.</summary>
    private sealed class TcpRelay : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly CancellationTokenSource _stop = new();
        private readonly List<TcpClient> _open = [];
        private readonly Task _accepting;
        private volatile bool _cut;
        private volatile byte[]? _muteMarker;

        /// <summary>One relayed connection; muted once a request on it carried the marker.</summary>
        private sealed class Link
        {
            public volatile bool Muted;
        }

        public TcpRelay(string host, int port)
        {
            _listener.Start();
            Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
            _accepting = AcceptAsync(host, port);
        }

        public int Port { get; }

        public void Cut()
        {
            _cut = true;
            lock (_open)
            {
                foreach (var c in _open) c.Dispose();
                _open.Clear();
            }
        }

        public void Restore() => (_cut, _muteMarker) = (false, null);

        /// <summary>
        /// A connection whose request carries <paramref name="marker"/> (a parameter value, say) still reaches PostgreSQL, so
        /// its transaction commits, but from then on nothing PostgreSQL answers on it comes back.
        /// </summary>
        public void MuteAnswersAfter(string marker) => _muteMarker = System.Text.Encoding.UTF8.GetBytes(marker);

        private async Task AcceptAsync(string host, int port)
        {
            while (!_stop.IsCancellationRequested)
            {
                TcpClient client;
                try { client = await _listener.AcceptTcpClientAsync(_stop.Token); }
                catch (OperationCanceledException) { return; }
                if (_cut)
                {
                    client.Dispose();
                    continue;
                }
                var upstream = new TcpClient();
                try { await upstream.ConnectAsync(host, port, _stop.Token); }
                catch (Exception) { client.Dispose(); upstream.Dispose(); continue; }
                lock (_open) { _open.Add(client); _open.Add(upstream); }
                var link = new Link();
                _ = PumpAsync(client, upstream, link, answers: false);
                _ = PumpAsync(upstream, client, link, answers: true);
            }
        }

        private async Task PumpAsync(TcpClient from, TcpClient to, Link link, bool answers)
        {
            try
            {
                var buffer = new byte[64 * 1024];
                int n;
                while ((n = await from.GetStream().ReadAsync(buffer, _stop.Token)) > 0)
                {
                    if (!answers && _muteMarker is { } marker && buffer.AsSpan(0, n).IndexOf(marker) >= 0) link.Muted = true;
                    if (!(answers && link.Muted))
                        await to.GetStream().WriteAsync(buffer.AsMemory(0, n), _stop.Token);
                }
            }
            catch (Exception) { /* cut, or the other side closed */ }
            finally
            {
                from.Dispose();
                to.Dispose();
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Stop();
            Cut();
            await _accepting;
            _stop.Dispose();
        }
    }
}
