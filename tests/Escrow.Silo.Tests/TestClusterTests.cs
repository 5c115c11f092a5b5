using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Escrow.Silo.Cluster;
using Escrow.Silo.Projections;
using Escrow.Silo.Ledger;
using Escrow.Testing;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace Escrow.Silo.Tests;

/// <summary>
/// Several real silos in this process on one database (<see cref="EscrowTestCluster"/>, on the Orleans TestingHost): membership as the cluster sees it,
/// and the hand-over of every single-holder job (projection runners, timer firer) when the silo leading them crashes
/// while commands are streaming in.
/// </summary>
[Trait("Tier", "Slow")]
public class TestClusterTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_silo_that_pulls_no_projections_joins_the_cluster_and_is_given_no_projection_queue()
    {
        await using var db = new PgDatabase();
        await db.InitializeAsync();
        try
        {
            await using var cluster = await EscrowTestCluster.StartAsync(db, 2);
            await cluster.WaitForLeasesAsync(TimeSpan.FromSeconds(30));
            // The CLI's in-process silo joins the same cluster the way `escrow import` or `escrow demo` starts it.
            await using var cli = SiloHost.Build([
                "--urls", "http://127.0.0.1:0",
                $"--Escrow:ConnectionString={db.AppConnectionString}", "--Escrow:OwnerConnectionString=",
                "--Escrow:RunProjections=false", "--Escrow:SiloPort=0", "--Escrow:GatewayPort=0",
                $"--Escrow:ClusterId={cluster.ClusterId}", $"--Escrow:ServiceId={cluster.ServiceId}", $"--Escrow:RootApiKey={SiloFactory.RootKey}",
                "--Logging:LogLevel:Default=Warning",
            ]);
            await cli.StartAsync();
            var cliId = cli.Services.GetRequiredService<ILocalSiloDetails>().SiloAddress.ToParsableString();
            try
            {
                await EscrowTestCluster.WaitUntilAsync(async () => await db.ScalarAsync<long>(
                    $"SELECT count(*) FROM orleans_membership WHERE status = 3 AND address || ':' || port || '@' || generation = '{cliId}'") == 1,
                    TimeSpan.FromSeconds(30), "the CLI's silo did not join");
                // Long enough for the queue balancers to see the newcomer and its metadata (they recheck every 2 s).
                await Task.Delay(TimeSpan.FromSeconds(5));
                var pulled = await cluster.LeasesAsync();
                output.WriteLine(string.Join(", ", pulled.Select(l => $"{l.Lease} on {l.SiloId}")));
                Assert.Equal(ProjectionQueues.Known.Order(StringComparer.Ordinal), pulled.Select(l => l.Lease).Order(StringComparer.Ordinal));
                Assert.All(pulled, l => Assert.Contains(l.SiloId, cluster.Silos.Select(s => s.Id)));
                // And the read models still follow every command, including one made through the CLI's silo.
                var key = await new SiloFactoryKeys(cluster.Silos[0].Client()).WriterKeyAsync();
                using var viaCli = new HttpClient { BaseAddress = new Uri(cli.Urls.First()) };
                viaCli.DefaultRequestHeaders.Authorization = new("Bearer", key);
                Assert.Equal(HttpStatusCode.Created, (await viaCli.OpenAsync($"cli-{Guid.NewGuid():N}"[..16])).StatusCode);
                Assert.Equal(HttpStatusCode.Created, (await cluster.Silos[1].Client(key).OpenAsync($"srv-{Guid.NewGuid():N}"[..16])).StatusCode);
                await cluster.Silos[0].Client(key).WaitForProjectionsAsync(TimeSpan.FromSeconds(30));
            }
            finally
            {
                await cli.StopAsync();
            }
        }
        finally
        {
            await db.DisposeAsync();
        }
    }

    [Fact]
    public async Task Every_silo_shows_alive_with_its_load_a_crashed_and_a_stopped_one_dead_and_a_new_one_gets_a_new_id()
    {
        await using var db = new PgDatabase();
        await db.InitializeAsync();
        try
        {
            await using var cluster = await EscrowTestCluster.StartAsync(db, 3);
            var (a, b, c) = (cluster.Silos[0], cluster.Silos[1], cluster.Silos[2]);
            Assert.Equal(3, new[] { a.Id, b.Id, c.Id }.Distinct().Count());
            var root = a.Client();

            async Task<Dictionary<string, JsonElement>> SilosAsync(HttpClient http)
            {
                var r = await http.GetAsync("/silos");
                Assert.Equal(HttpStatusCode.OK, r.StatusCode);
                return (await r.JsonAsync()).EnumerateArray().ToDictionary(s => s.GetProperty("siloId").GetString()!);
            }
            static string Status(JsonElement s) => s.GetProperty("status").GetString()!;

            // Every silo sees all three alive, under the Orleans silo address each has, with its load reported just now.
            foreach (var s in new[] { a, b, c })
            {
                var seen = await SilosAsync(s.Client());
                Assert.All(new[] { a, b, c }, x => Assert.Equal("Alive", Status(seen[x.Id])));
                Assert.Equal(s.Handle.SiloAddress.ToParsableString(), s.Id);
            }
            // Commands through b show in b's load as a reports it (asked through Orleans, not read from a table).
            var key = await new SiloFactoryKeys(root).WriterKeyAsync();
            for (var i = 0; i < 3; i++) Assert.Equal(HttpStatusCode.Created, (await b.Client(key).OpenAsync($"m-{i}-{Guid.NewGuid():N}"[..14])).StatusCode);
            Assert.True((await SilosAsync(root))[b.Id].GetProperty("commands").GetInt64() >= 3);
            // The projection queues of this build are all pulled, each by one live silo, and /silos shows them.
            // (The balancers may still move a queue once they see every silo's metadata: /silos is read until it settles.)
            // (60 s: three silos started at once on a CI machine running other test classes beside this one; once in a CI run
            // a queue stayed unpulled past 30 s.)
            await cluster.WaitForLeasesAsync(TimeSpan.FromSeconds(60));
            async Task<List<string>> ShownAsync() =>
                (await SilosAsync(root)).Values.SelectMany(s => s.GetProperty("leases").EnumerateArray().Select(l => l.GetString()!)).Order(StringComparer.Ordinal).ToList();
            await EscrowTestCluster.WaitUntilAsync(async () => (await ShownAsync()).SequenceEqual(ProjectionQueues.Known.Order(StringComparer.Ordinal)),
                TimeSpan.FromSeconds(30), "/silos did not show every projection queue once");
            var shown = await ShownAsync();
            Assert.Equal(ProjectionQueues.Known.Order(StringComparer.Ordinal), shown);
            // An auditor may look, a writer may not.
            Assert.Equal(HttpStatusCode.Forbidden, (await a.Client(key).GetAsync("/silos")).StatusCode);

            // c crashes (its database sessions end, the TestingHost kills it): shown dead.
            await cluster.CrashAsync(c);
            var watch = Stopwatch.StartNew();
            await EscrowTestCluster.WaitUntilAsync(async () => Status((await SilosAsync(root))[c.Id]) == "Dead", TimeSpan.FromSeconds(60), "the crashed silo did not show dead");
            output.WriteLine($"crashed silo shown dead {watch.ElapsedMilliseconds} ms after the crash");

            // b stops cleanly: it records its own end, shown stopped.
            // b stops cleanly: it records its own end (Orleans stores that as dead too).
            await cluster.StopAsync(b);
            await EscrowTestCluster.WaitUntilAsync(async () => Status((await SilosAsync(root))[b.Id]) == "Dead", TimeSpan.FromSeconds(30), "the stopped silo did not show dead");

            // A new silo joins with a new id (a new Orleans generation); the old rows keep their states.
            var d = await cluster.StartSiloAsync();
            Assert.DoesNotContain(d.Id, new[] { a.Id, b.Id, c.Id });
            var final = await SilosAsync(d.Client());
            Assert.Equal("Alive", Status(final[a.Id]));
            Assert.Equal("Dead", Status(final[b.Id]));
            Assert.Equal("Dead", Status(final[c.Id]));
            Assert.Equal("Alive", Status(final[d.Id]));
            Assert.Equal(4, final.Count);
        }
        finally
        {
            await db.DisposeAsync();
        }
    }

    [Fact]
    public async Task When_a_silo_crashes_mid_stream_the_survivors_pull_its_projection_queues_continue_from_the_checkpoints_and_fire_the_due_expiry_once()
    {
        await using var db = new PgDatabase();
        await db.InitializeAsync();
        try
        {
            await using var cluster = await EscrowTestCluster.StartAsync(db, 3);
            // Orleans's queue balancer shares the projection queues among the three; the one pulling the balances crashes.
            await cluster.WaitForLeasesAsync(TimeSpan.FromSeconds(30));
            var pulled = await cluster.LeasesAsync();
            var leader = cluster.Silos.Single(s => s.Id == pulled.Single(l => l.Lease == ProjectionQueues.Projection("account_balances")).SiloId);
            var others = cluster.Silos.Where(s => s != leader).ToArray();
            var moving = pulled.Where(l => l.SiloId == leader.Id).Select(l => l.Lease).ToList();
            output.WriteLine($"queues: {string.Join(", ", pulled.Select(l => $"{l.Lease} on silo {cluster.Silos.Single(s => s.Id == l.SiloId).Index}"))}; silo {leader.Index} crashes");

            var key = await new SiloFactoryKeys(others[0].Client()).WriterKeyAsync();
            var clients = cluster.Silos.Select(s => s.Client(key)).ToArray();
            var accounts = Enumerable.Range(0, 40).Select(i => $"ho-{i}-{Guid.NewGuid():N}"[..20]).ToArray();
            foreach (var id in accounts)
            {
                Assert.Equal(HttpStatusCode.Created, (await clients[1].OpenAsync(id)).StatusCode);
                Assert.Equal(HttpStatusCode.Created, (await clients[1].DepositAsync(id, 100_000m)).StatusCode);
            }
            // Transfers stream in through all three silos; a command that fails on a silo is retried on the next one
            // with the same idempotency key (as a client behind a load balancer would).
            using var stop = new CancellationTokenSource();
            var load = new TransferLoad(clients, accounts.Skip(2).ToArray(), "ho");
            var running = load.RunAsync(workers: 6, stop.Token);
            await EscrowTestCluster.WaitUntilAsync(() => Task.FromResult(load.Acked.Count >= 200), TimeSpan.FromSeconds(60), "the load did not start");

            // A funded deal whose expiry (an Orleans reminder) falls just after the crash of a silo.
            // On a slow machine creating and funding can take longer than planned; then that deal is left to expire
            // (it is not the one checked) and another one is made.
            var (buyer, seller) = (accounts[0], accounts[1]);
            string deal;
            DateTimeOffset expiresAt;
            var attempts = 0;
            while (true)
            {
                deal = $"ho-deal-{Guid.NewGuid():N}"[..24];
                expiresAt = DateTimeOffset.UtcNow.AddSeconds(2);
                Assert.Equal(HttpStatusCode.Created, (await clients[1].CommandAsync("/deals", $$"""
                    {"dealId":"{{deal}}","templateId":"default","buyerAccount":"{{buyer}}","sellerAccount":"{{seller}}","amount":250,"currency":"EUR",
                     "expiresAt":"{{expiresAt:O}}","refundAtExpiry":true}
                    """)).StatusCode);
                Assert.True((await clients[2].CommandAsync($"/deals/{deal}/fund", null)).IsSuccessStatusCode);
                if (DateTimeOffset.UtcNow < expiresAt - TimeSpan.FromMilliseconds(600))
                {
                    // Crash about 400 ms before the expiry; a delay that overshot on a loaded machine arms another deal.
                    var untilCrash = expiresAt - TimeSpan.FromMilliseconds(400) - DateTimeOffset.UtcNow;
                    if (untilCrash > TimeSpan.Zero) await Task.Delay(untilCrash);
                    if (DateTimeOffset.UtcNow < expiresAt - TimeSpan.FromMilliseconds(200)) break;
                }
                Assert.True(++attempts < 10, "could not arm a deal far enough ahead of its expiry");
            }
            var ackedBeforeCrash = load.Acked.Count;

            await cluster.CrashAsync(leader);
            var crashedAt = leader.CrashedAt!.Value;
            // Measured from the instant the crashed silo's sessions were gone (its host's teardown came after).
            TimeSpan SinceCrash() => DateTimeOffset.UtcNow - crashedAt;
            // Poll who pulls each queue until every one is pulled by a surviving silo: the survivors vote the crashed silo
            // dead in the membership table, and Orleans's queue balancer hands its queues to them.
            var takenAfter = new Dictionary<string, TimeSpan>();
            var newHolders = new Dictionary<string, string>();
            while (takenAfter.Count < ProjectionQueues.Known.Count && SinceCrash() < TimeSpan.FromSeconds(60))
            {
                foreach (var l in await cluster.LeasesAsync())
                {
                    if (others.Any(o => o.Id == l.SiloId) && !takenAfter.ContainsKey(l.Lease))
                    {
                        takenAfter[l.Lease] = moving.Contains(l.Lease) ? l.Since - crashedAt : TimeSpan.Zero;
                        newHolders[l.Lease] = l.SiloId;
                    }
                }
                await Task.Delay(20);
            }
            foreach (var lease in moving)
                output.WriteLine(takenAfter.TryGetValue(lease, out var after)
                    ? $"{lease}: pulled by silo {cluster.Silos.Single(s => s.Id == newHolders[lease]).Index} {after.TotalMilliseconds:0} ms after the crash"
                    : $"{lease}: not pulled by a survivor");
            Assert.Equal(ProjectionQueues.Known.Count, takenAfter.Count);
            Assert.All(takenAfter.Values, after => Assert.True(after < TimeSpan.FromSeconds(30), $"a queue was taken over only after {after}"));

            // Keep the stream going on the survivors for a while, then stop and let it settle.
            var ackedAtTakeover = load.Acked.Count;
            await EscrowTestCluster.WaitUntilAsync(() => Task.FromResult(load.Acked.Count >= ackedAtTakeover + 200), TimeSpan.FromSeconds(60), "the load stalled after the hand-over");
            await stop.CancelAsync();
            await running;
            output.WriteLine($"transfers acknowledged: {ackedBeforeCrash} before the crash, {load.Acked.Count} in all; {load.Refused} refused (409); " +
                             $"{load.Retries} attempts retried on another silo; {load.Unresolved} left unresolved");
            Assert.Equal(0, load.Unresolved);

            // The deal's expiry fired exactly once, after the crash (so by a survivor), and refunded the buyer.
            var survivor = others[0].Client(key);
            await EscrowTestCluster.WaitUntilAsync(async () =>
                (await (await survivor.GetAsync($"/deals/{deal}")).JsonAsync()).GetProperty("status").GetString() == "EXPIRED",
                // A tick missed while its silo was dead fires at the reminder's next period (Orleans skips missed ticks; the
                // period is one minute), so a survivor may expire the deal up to a minute late, never twice.
                TimeSpan.FromSeconds(90), "the deal did not expire");
            Assert.Equal(1L, await db.ScalarAsync<long>($"SELECT count(*) FROM events WHERE stream_id LIKE 'deal-%/{deal}' AND event_type = 'DealExpired'"));
            // Its reminder is gone once the expiry was decided (the tick removes it).
            await EscrowTestCluster.WaitUntilAsync(async () => await db.ScalarAsync<long>($"SELECT count(*) FROM orleans_reminders WHERE grain_id LIKE 'deal/%/{deal}'") == 0,
                TimeSpan.FromSeconds(10), "the deal's expiry reminder was not removed");
            var expiredAt = await db.ScalarAsync<DateTime>($"SELECT recorded_at FROM events WHERE stream_id LIKE 'deal-%/{deal}' AND event_type = 'DealExpired'");
            // The old leader could fire only through a session opened before it was cut off; the expiry was due ~400 ms
            // after that, so an expiry recorded after the cut-off was fired by a survivor.
            Assert.True(expiredAt >= leader.CutOffAt!.Value.UtcDateTime, "the expiry was recorded before the crash, by the old leader");
            output.WriteLine($"deal expiry due {(expiresAt - crashedAt).TotalMilliseconds:0} ms after the crash; fired {(new DateTimeOffset(expiredAt, TimeSpan.Zero) - crashedAt).TotalMilliseconds:0} ms after it");

            // Every acknowledged transfer is in the log exactly once (two legs of its posting id); no key made two postings.
            await using var owner = db.OwnerDataSource();
            await using (var cmd = owner.CreateCommand(
                "SELECT count(*) FROM unnest($1::text[]) p LEFT JOIN (SELECT data->>'postingId' AS posting, count(*) AS n FROM events GROUP BY 1) legs " +
                "ON legs.posting = p WHERE coalesce(legs.n, 0) <> 2"))
            {
                cmd.Parameters.Add(new() { Value = load.Acked.Values.ToArray() });
                Assert.Equal(0L, (long)(await cmd.ExecuteScalarAsync())!);
            }
            Assert.Equal(0L, await db.ScalarAsync<long>(
                "SELECT count(*) FROM (SELECT metadata->>'idempotencyKey' FROM events WHERE metadata->>'idempotencyKey' LIKE 'ho-%' " +
                "GROUP BY 1 HAVING count(DISTINCT data->>'postingId') > 1) twice"));

            // The projections continued from their checkpoints: caught up, each applied every event exactly once, and
            // the read models equal a replay of the log.
            await survivor.WaitForProjectionsAsync(TimeSpan.FromSeconds(60));
            var events = await db.EventCountAsync();
            foreach (var p in Escrow.Projections.ProjectionCatalog.All())
                Assert.Equal(events, await db.ScalarAsync<long>($"SELECT events_applied FROM projection_checkpoints WHERE projection = '{p.Name}'"));
            var report = await LedgerVerifier.RunAsync(db.Store, default);
            Assert.True(report.Ok, string.Join("\n", report.Lines));
            // Nothing beyond the acknowledged transfers and the funding deposits reached the transfer accounts.
            Assert.Equal(load.Acked.Count + accounts.Length - 2, await db.ScalarAsync<long>(
                $"SELECT count(DISTINCT data->>'postingId') FROM events WHERE stream_id LIKE ANY (ARRAY[{string.Join(", ", accounts.Skip(2).Select(a => $"'account-%/{a}'"))}]) " +
                "AND event_type IN ('AccountDebited','AccountCredited')"));
        }
        finally
        {
            await db.DisposeAsync();
        }
    }
}

/// <summary>Creates an institution and a writer key through a root client.</summary>
internal sealed class SiloFactoryKeys(HttpClient root)
{
    /// <summary>The institution of the last key made.</summary>
    public string Institution { get; private set; } = "";

    public async Task<string> WriterKeyAsync()
    {
        var institution = Institution = SiloFactory.NewInstitution();
        Assert.Equal(HttpStatusCode.Created, (await root.PostAsync("/institutions", Json($$"""{"institutionId":"{{institution}}"}"""))).StatusCode);
        var key = await root.PostAsync($"/institutions/{institution}/keys", Json("""{"role":"writer"}"""));
        Assert.Equal(HttpStatusCode.Created, key.StatusCode);
        return (await key.JsonAsync()).GetProperty("apiKey").GetString()!;
    }

    private static StringContent Json(string s) => new(s, System.Text.Encoding.UTF8, "application/json");
}

/// <summary>
/// A stream of 1.00 transfers between random accounts from several workers. Each command goes to one silo; when it
/// fails there (connection refused, reset, 5xx) it is sent again to the next silo with the same idempotency key and
/// body, until some silo answers. <see cref="Acked"/>: idempotency key → posting id of every 201.
/// </summary>
internal sealed class TransferLoad(IReadOnlyList<HttpClient> silos, IReadOnlyList<string> accounts, string prefix, int attempts = 40)
{
    public ConcurrentDictionary<string, string> Acked { get; } = new(StringComparer.Ordinal);

    /// <summary>How many answers of each status code came back (connection failures are not answers).</summary>
    public ConcurrentDictionary<string, int> Answers { get; } = new(StringComparer.Ordinal);

    /// <summary>The longest a single attempt took to be answered or to fail.</summary>
    public TimeSpan LongestAttempt { get; private set; }

    /// <summary>The answers by status and code and the longest attempt, for a test's output.</summary>
    public string Summary =>
        $"answers {string.Join(", ", Answers.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key}: {kv.Value}"))}; " +
        $"longest attempt {LongestAttempt.TotalMilliseconds:N0} ms";

    private long _retries, _unresolved, _refused;
    public long Retries => Interlocked.Read(ref _retries);
    public long Refused => Interlocked.Read(ref _refused);
    public long Unresolved => Interlocked.Read(ref _unresolved);

    public Task RunAsync(int workers, CancellationToken stop) =>
        Task.WhenAll(Enumerable.Range(0, workers).Select(w => Task.Run(() => WorkerAsync(w, stop), CancellationToken.None)));

    private async Task WorkerAsync(int worker, CancellationToken stop)
    {
        var random = new Random(worker);
        for (var i = 0; !stop.IsCancellationRequested; i++)
        {
            var from = accounts[random.Next(accounts.Count)];
            var to = accounts[random.Next(accounts.Count)];
            if (from == to) continue;
            var key = $"{prefix}-{worker}-{i}";
            var resolved = false;
            for (var attempt = 0; attempt < attempts && !resolved; attempt++)
            {
                var http = silos[(worker + i + attempt) % silos.Count];
                var started = System.Diagnostics.Stopwatch.StartNew();
                try
                {
                    using var r = await http.TransferAsync(from, to, 1m, key: key);
                    var code = (int)r.StatusCode >= 400 && r.Content.Headers.ContentType?.MediaType == "application/problem+json"
                        ? (await r.JsonAsync()).GetProperty("code").GetString() : null;
                    Answers.AddOrUpdate(code is null ? $"{(int)r.StatusCode}" : $"{(int)r.StatusCode} {code}", 1, (_, n) => n + 1);
                    if (r.StatusCode == HttpStatusCode.Created)
                    {
                        Acked[key] = (await r.JsonAsync()).GetProperty("postingId").GetString()!;
                        resolved = true;
                    }
                    else if (r.StatusCode == HttpStatusCode.Conflict)
                    {
                        // A definitive refusal (e.g. concurrency_conflict after every retry of a hot pair): not applied.
                        Interlocked.Increment(ref _refused);
                        resolved = true;
                    }
                    else if ((int)r.StatusCode < 500)
                        throw new InvalidOperationException($"transfer {key} answered {(int)r.StatusCode}: {await r.Content.ReadAsStringAsync(CancellationToken.None)}");
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or IOException) { /* this silo is gone: next one */ }
                lock (Answers) if (started.Elapsed > LongestAttempt) LongestAttempt = started.Elapsed;
                if (!resolved)
                {
                    Interlocked.Increment(ref _retries);
                    await Task.Delay(50, CancellationToken.None);
                }
            }
            if (!resolved) Interlocked.Increment(ref _unresolved);
        }
    }
}
