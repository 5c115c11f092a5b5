using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Escrow.Testing;
using Npgsql;

namespace Escrow.Silo.Tests;

/// <summary>
/// A silo whose PostgreSQL connections run through a TCP relay the test can cut: while the database cannot be reached,
/// commands and reads answer 503 <c>database_unavailable</c> within seconds (never a hang, never a 500), nothing is
/// half-applied, and once it is back the same Idempotency-Key applies the command exactly once.
/// </summary>
public sealed class OutageTests(PgDatabase db) : IClassFixture<PgDatabase>
{
    [Fact]
    public async Task A_PostgreSQL_outage_is_a_503_within_seconds_and_a_retry_after_it_applies_once()
    {
        var target = new NpgsqlConnectionStringBuilder(db.AppConnectionString);
        await using var relay = new TcpRelay(target.Host!, target.Port);
        var viaRelay = new NpgsqlConnectionStringBuilder(db.AppConnectionString) { Host = "127.0.0.1", Port = relay.Port, Timeout = 3 }.ConnectionString;
        await using var silo = new SiloFactory(db, runProjections: false, settings: new Dictionary<string, string>
        {
            ["Escrow:ConnectionString"] = viaRelay,
            ["Escrow:RunTimers"] = "false",
        });
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
        HttpResponseMessage retry = null!;
        for (var i = 0; i < 50; i++)
        {
            retry = await http.DepositAsync(a, 5m, key: "outage-" + a);
            if (retry.StatusCode != HttpStatusCode.ServiceUnavailable) break;
            await Task.Delay(100);
        }
        Assert.Equal(HttpStatusCode.Created, retry.StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await http.DepositAsync(a, 5m, key: "outage-" + a)).StatusCode);   // the stored answer
        Assert.Equal(15m, await http.BalanceAsync(a));
        Assert.Equal(events + 2, await db.EventCountAsync());   // one deposit: its two legs
    }

    /// <summary>A TCP relay to PostgreSQL: <see cref="Cut"/> drops every connection and refuses new ones until <see cref="Restore"/>.</summary>
    private sealed class TcpRelay : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly CancellationTokenSource _stop = new();
        private readonly List<TcpClient> _open = [];
        private readonly Task _accepting;
        private volatile bool _cut;

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

        public void Restore() => _cut = false;

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
                _ = PumpAsync(client, upstream);
                _ = PumpAsync(upstream, client);
            }
        }

        private async Task PumpAsync(TcpClient from, TcpClient to)
        {
            try { await from.GetStream().CopyToAsync(to.GetStream(), _stop.Token); }
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
