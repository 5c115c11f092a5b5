using System.Collections.Concurrent;
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Escrow.EventStore;
using Escrow.Projections;
using Escrow.Silo.Cluster;
using Escrow.Silo.Projections;
using Escrow.Silo.Ledger;
using Npgsql;

namespace Escrow.Cli;

/// <summary>
/// Cluster tools: <c>escrow silos</c> (membership and who leads what), <c>escrow load transfers</c> (a transfer load
/// through a frontend that records every acknowledged command) and <c>escrow check-acked</c> (every acknowledged
/// command is in the log once, projections converge, the log verifies). deploy/fault-test.sh is built from them.
/// </summary>
internal static class ClusterCommands
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static void Add(RootCommand root)
    {
        root.Subcommands.Add(Silos());
        root.Subcommands.Add(Load());
        root.Subcommands.Add(CheckAcked());
    }

    // ---------------------------------------------------------------- escrow silos

    private static Command Silos()
    {
        var clusterId = new Option<string>("--cluster-id") { Description = "The Orleans cluster id (the silos' Escrow:ClusterId)", DefaultValueFactory = _ => "escrow" };
        var lease = new Option<string?>("--lease")
        {
            Description = $"Print only the HTTP address of the silo pulling this projection queue ({string.Join(", ", ProjectionQueues.Known)}) " +
                          "and when it took the queue (Unix ms); exit 1 when no active silo pulls it",
        };
        var cmd = new Command("silos", "The cluster's membership from Orleans's table (alive, dead, stopped) and the projection queues each silo pulls.")
        {
            clusterId, lease,
        };
        cmd.SetAction(async (pr, ct) =>
        {
            var cfg = CliConfig.FromEnvironment();
            await using var ds = cfg.DataSource();
            var silos = await ClusterMembership.ListAsync(ds, pr.GetValue(clusterId)!, TimeProvider.System.GetUtcNow() - TimeSpan.FromHours(1), ct);
            if (pr.GetValue(lease) is { } wanted)
            {
                if (!ProjectionQueues.Known.Contains(wanted, StringComparer.Ordinal))
                    throw new CliException($"unknown projection queue '{wanted}'; known: {string.Join(", ", ProjectionQueues.Known)}");
                var queue = (await ProjectionQueues.ListAsync(ds, ct)).FirstOrDefault(l => l.Lease == wanted);
                var holder = silos.FirstOrDefault(s => s.SiloId == queue?.SiloId);
                if (holder is null || queue is null) return 1;
                Console.WriteLine($"{holder.Address} {queue.Since.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture)}");
                return 0;
            }
            foreach (var s in silos)
                Console.WriteLine(string.Join("  ", s.SiloId, s.Address, $"({s.Name})", s.Status.ToString().PadRight(8),
                    $"started {s.StartedAt:HH:mm:ss}", $"alive {s.LastBeat:HH:mm:ss.fff}",
                    s.Leases.Count == 0 ? "" : "pulls " + string.Join(", ", s.Leases)));
            return 0;
        });
        return cmd;
    }

    // ---------------------------------------------------------------- escrow load transfers

    private static Command Load()
    {
        var url = new Option<string>("--url") { Description = "Base address of the frontend (nginx) or a silo", Required = true };
        var clients = new Option<int>("--clients") { Description = "Concurrent clients (closed loop)", DefaultValueFactory = _ => 8 };
        var seconds = new Option<int>("--seconds") { Description = "Seconds of load", DefaultValueFactory = _ => 30 };
        var accounts = new Option<int>("--accounts") { Description = "Accounts to open and fund first", DefaultValueFactory = _ => 50 };
        var acked = new Option<string>("--acked") { Description = "File to write one line per acknowledged transfer: idempotency key, posting id, upstream", Required = true };
        var deals = new Option<int>("--expiring-deals") { Description = "Funded deals to create before the load, each expiring (refund to the buyer) --expire-after seconds into it", DefaultValueFactory = _ => 0 };
        var expireAfter = new Option<double>("--expire-after") { Description = "Seconds after the start of the load at which the --expiring-deals expire", DefaultValueFactory = _ => 12 };
        var transfers = new Command("transfers",
            "Open and fund accounts, then send transfers for --seconds from --clients clients. A command that fails (connection " +
            "error, timeout, 5xx) is sent again with the same Idempotency-Key and body until it is answered, so it is applied at " +
            "most once; every 201 is appended to --acked as it arrives. With --expiring-deals, the deals' ids and due times go to " +
            "'{acked}.deals' for 'check-acked'. Root key from Escrow__RootApiKey.")
        {
            url, clients, seconds, accounts, acked, deals, expireAfter,
        };
        transfers.SetAction(async (pr, ct) => await RunLoadAsync(pr.GetValue(url)!, pr.GetValue(clients), pr.GetValue(seconds), pr.GetValue(accounts), pr.GetValue(acked)!,
            pr.GetValue(deals), pr.GetValue(expireAfter), TimeProvider.System, ct));
        return new Command("load", "Client workloads against a running cluster.") { transfers };
    }

    private sealed class LoadTally
    {
        public long Acked, Refused, Retried, Unresolved;

        /// <summary>The longest time a transfer took from its first attempt to its definitive answer (ticks).</summary>
        public long LongestWait;

        public void Waited(TimeSpan took)
        {
            long seen;
            while (took.Ticks > (seen = Interlocked.Read(ref LongestWait)) && Interlocked.CompareExchange(ref LongestWait, took.Ticks, seen) != seen) { }
        }
        public readonly ConcurrentDictionary<string, long> Upstreams = new(StringComparer.Ordinal);
        public readonly ConcurrentDictionary<string, long> Failures = new(StringComparer.Ordinal);
    }

    private static async Task<int> RunLoadAsync(string url, int clients, int seconds, int accountCount, string ackedPath, int expiringDeals, double expireAfter,
        TimeProvider time, CancellationToken ct)
    {
        if (clients < 1 || seconds < 1 || accountCount < 2) throw new CliException("--clients and --seconds must be at least 1, --accounts at least 2");
        if (expiringDeals < 0 || expireAfter <= 0) throw new CliException("--expiring-deals must not be negative and --expire-after must be positive");
        var rootKey = Environment.GetEnvironmentVariable("Escrow__RootApiKey");
        if (string.IsNullOrEmpty(rootKey)) throw new CliException("the root key is needed in Escrow__RootApiKey (deploy/cluster.sh prints it)");
        using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false, MaxConnectionsPerServer = int.MaxValue })
        {
            BaseAddress = new Uri(url.TrimEnd('/') + "/"),
            Timeout = TimeSpan.FromSeconds(15),
        };
        var run = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray().AsSpan(0, 4));
        var tally = new LoadTally();

        // Set-up through the same retrying path: an institution, a writer key, funded accounts.
        http.DefaultRequestHeaders.Authorization = new("Bearer", rootKey);
        await SendAsync(http, "institutions", new { institutionId = $"load-{run}", name = $"escrow load run {run}" }, $"load-{run}-inst", tally, ct, keyed: false);
        var key = (await SendAsync(http, $"institutions/load-{run}/keys", new { role = "writer", name = "escrow load" }, $"load-{run}-key", tally, ct, keyed: false))
            .Body.GetProperty("apiKey").GetString()!;
        http.DefaultRequestHeaders.Authorization = new("Bearer", key);
        var ids = Enumerable.Range(0, accountCount).Select(i => $"load-{run}-{i.ToString(CultureInfo.InvariantCulture)}").ToArray();
        foreach (var id in ids)
        {
            await SendAsync(http, "accounts", new { accountId = id, owner = "load", currency = "EUR" }, $"{id}-open", tally, ct);
            await SendAsync(http, $"accounts/{id}/deposits", new { amount = 1_000_000m, currency = "EUR", reference = "load funding" }, $"{id}-fund", tally, ct);
        }
        Console.WriteLine($"load {run}: {accountCount} accounts open and funded; {clients} clients for {seconds} s through {url}");
        // Deals that fall due while the load runs (during a fault): each must expire exactly once.
        var dueAt = time.GetUtcNow().AddSeconds(expireAfter);
        var dealLines = new List<string>();
        for (var i = 0; i < expiringDeals; i++)
        {
            var deal = $"load-{run}-d{i.ToString(CultureInfo.InvariantCulture)}";
            await SendAsync(http, "deals", new
            {
                dealId = deal, templateId = "default", buyerAccount = ids[i % ids.Length], sellerAccount = ids[(i + 1) % ids.Length],
                amount = 10m, currency = "EUR", expiresAt = dueAt, refundAtExpiry = true,
            }, $"{deal}-create", tally, ct);
            var funded = await SendAsync(http, $"deals/{deal}/fund", new { }, $"{deal}-fund", tally, ct, expectCreated: false);
            if (funded.Status != HttpStatusCode.OK) throw new CliException($"POST /deals/{deal}/fund answered {(int)funded.Status}");
            dealLines.Add($"load-{run}\t{deal}\t{dueAt.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture)}");
        }
        if (expiringDeals > 0)
        {
            await File.WriteAllLinesAsync(ackedPath + ".deals", dealLines, ct);
            Console.WriteLine($"load {run}: {expiringDeals} funded deals expire at {dueAt:HH:mm:ss.fff} ({expireAfter:0.#} s from now)");
        }

        await using var file = new StreamWriter(ackedPath, append: false, new UTF8Encoding(false)) { AutoFlush = true };
        var gate = new SemaphoreSlim(1);
        var clock = Stopwatch.StartNew();
        var duration = TimeSpan.FromSeconds(seconds);
        using var progress = new Timer(_ => Console.WriteLine(
            $"  {clock.Elapsed.TotalSeconds,5:0} s: {Interlocked.Read(ref tally.Acked),7} acknowledged, {Interlocked.Read(ref tally.Retried),5} attempts retried"),
            null, 5000, 5000);
        await Task.WhenAll(Enumerable.Range(0, clients).Select(c => Task.Run(async () =>
        {
            var random = new Random(c * 7919 + run.GetHashCode(StringComparison.Ordinal));
            for (var n = 0; clock.Elapsed < duration; n++)
            {
                var from = random.Next(ids.Length);
                var to = random.Next(ids.Length - 1);
                if (to >= from) to++;
                var idem = $"load-{run}-t{c.ToString(CultureInfo.InvariantCulture)}-{n.ToString(CultureInfo.InvariantCulture)}";
                var answer = await SendAsync(http, "transfers",
                    new { from = ids[from], to = ids[to], amount = random.Next(1, 500) / 100m, currency = "EUR", reference = "load" }, idem, tally, ct, expectCreated: false);
                tally.Waited(answer.Took);
                if (answer.Status == HttpStatusCode.Created)
                {
                    Interlocked.Increment(ref tally.Acked);
                    tally.Upstreams.AddOrUpdate(answer.Upstream, 1, (_, v) => v + 1);
                    await gate.WaitAsync(ct);
                    try { await file.WriteLineAsync($"{idem}\t{answer.Body.GetProperty("postingId").GetString()}\t{answer.Upstream}"); }
                    finally { gate.Release(); }
                }
                else if (answer.Status == HttpStatusCode.Conflict) Interlocked.Increment(ref tally.Refused);
                else Interlocked.Increment(ref tally.Unresolved);
            }
        }, ct)));
        Console.WriteLine($"load {run}: {tally.Acked} transfers acknowledged in {clock.Elapsed.TotalSeconds:0.0} s ({tally.Acked / clock.Elapsed.TotalSeconds:0} /s), " +
                          $"{tally.Refused} refused (409), {tally.Retried} attempts retried with the same key, {tally.Unresolved} unresolved");
        // After a kill, the transfers that touch grains of the dead silo wait until the cluster declares it dead and activates
        // them elsewhere: the longest wait is that outage as the clients saw it.
        Console.WriteLine($"load {run}: longest wait of a transfer for its definitive answer: {TimeSpan.FromTicks(tally.LongestWait).TotalMilliseconds:0} ms");
        Console.WriteLine($"load {run}: acknowledged by upstream: {string.Join(", ", tally.Upstreams.OrderBy(u => u.Key, StringComparer.Ordinal).Select(u => $"{u.Key} {u.Value}"))}");
        if (!tally.Failures.IsEmpty)
            Console.WriteLine($"load {run}: failed attempts: {string.Join(", ", tally.Failures.OrderByDescending(f => f.Value).Select(f => $"{f.Key} × {f.Value}"))}");
        return tally.Unresolved == 0 ? 0 : 1;
    }

    private sealed record Answer(HttpStatusCode Status, JsonElement Body, string Upstream, TimeSpan Took = default);

    /// <summary>
    /// POSTs <paramref name="body"/> until a silo answers it (not 5xx, no connection error), for up to two minutes, always with
    /// the same Idempotency-Key and body: a retry either replays the stored answer or is the first execution.
    /// </summary>
    private static async Task<Answer> SendAsync(HttpClient http, string path, object body, string idempotencyKey, LoadTally tally, CancellationToken ct,
        bool keyed = true, bool expectCreated = true)
    {
        var json = JsonSerializer.Serialize(body, Json);
        var deadline = Stopwatch.StartNew();
        for (var attempt = 0; ; attempt++)
        {
            string failure;
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
                request.Headers.Add("Idempotency-Key", idempotencyKey);
                using var response = await http.SendAsync(request, ct);
                var text = await response.Content.ReadAsStringAsync(ct);
                var upstream = response.Headers.TryGetValues("X-Escrow-Upstream", out var u) ? string.Join(",", u) : "direct";
                if ((int)response.StatusCode < 500)
                {
                    if (expectCreated && response.StatusCode != HttpStatusCode.Created && !(response.StatusCode == HttpStatusCode.Conflict && !keyed))
                        throw new CliException($"POST /{path} answered {(int)response.StatusCode}: {text}");
                    var parsed = text.Length > 0 && text[0] == '{' ? JsonDocument.Parse(text).RootElement.Clone() : default;
                    return new Answer(response.StatusCode, parsed, upstream, deadline.Elapsed);
                }
                failure = ((int)response.StatusCode).ToString(CultureInfo.InvariantCulture);
            }
            catch (Exception ex) when (ex is HttpRequestException || ex is TaskCanceledException && !ct.IsCancellationRequested)
            {
                failure = ex is HttpRequestException h && h.HttpRequestError != HttpRequestError.Unknown ? h.HttpRequestError.ToString() : ex.GetType().Name;
            }
            tally.Failures.AddOrUpdate(failure, 1, (_, v) => v + 1);
            Interlocked.Increment(ref tally.Retried);
            if (deadline.Elapsed > TimeSpan.FromMinutes(2))
                return new Answer(HttpStatusCode.ServiceUnavailable, default, "none", deadline.Elapsed);
            await Task.Delay(Math.Min(50 * (attempt + 1), 1000), ct);
        }
    }

    // ---------------------------------------------------------------- escrow check-acked

    private static Command CheckAcked()
    {
        var file = new Argument<string>("acked-file") { Description = "The --acked file of 'escrow load transfers'" };
        var cmd = new Command("check-acked",
            "Check a load run against the log: every acknowledged transfer is in the log exactly once (its two legs), no idempotency " +
            "key made two postings, the projections converge to the head of the log, and 'verify' passes (hash chains, zero-sum, " +
            "read models = replay). Prints the figures; exit 1 on any failure.")
        {
            file,
        };
        cmd.SetAction(async (pr, ct) =>
        {
            var cfg = CliConfig.FromEnvironment();
            var lines = (await File.ReadAllLinesAsync(pr.GetValue(file)!, ct)).Where(l => l.Length > 0).Select(l => l.Split('\t')).ToList();
            if (lines.Count == 0) throw new CliException("the acked file is empty: nothing was acknowledged");
            var keys = lines.Select(l => l[0]).ToArray();
            var postings = lines.Select(l => l[1]).ToArray();
            var run = keys[0].Split('-')[1];
            await using var ds = cfg.DataSource();
            var ok = true;

            // Every acknowledged posting has exactly its two legs in the log.
            await using (var c = ds.CreateCommand(
                """
                SELECT count(*) FILTER (WHERE n = 2), count(*) FILTER (WHERE n = 0), count(*) FILTER (WHERE n NOT IN (0, 2))
                FROM (SELECT p, coalesce(legs.n, 0) AS n
                      FROM unnest($1::text[]) p
                      LEFT JOIN (SELECT data->>'postingId' AS posting, count(*) AS n FROM events
                                 WHERE event_type IN ('AccountDebited', 'AccountCredited') GROUP BY 1) legs ON legs.posting = p) x
                """))
            {
                c.Parameters.Add(new() { Value = postings });
                await using var r = await c.ExecuteReaderAsync(ct);
                await r.ReadAsync(ct);
                var (whole, missing, odd) = (r.GetInt64(0), r.GetInt64(1), r.GetInt64(2));
                var pass = whole == postings.Length && missing == 0 && odd == 0 && postings.Distinct(StringComparer.Ordinal).Count() == postings.Length;
                ok &= pass;
                Console.WriteLine($"acknowledged transfers in the log: {whole} of {postings.Length} with both legs, {missing} missing, {odd} with another number of legs  {(pass ? "OK" : "FAILED")}");
            }
            // No idempotency key of this run produced more than one posting; postings without an acknowledgement (the
            // answer was lost) are allowed and counted.
            await using (var c = ds.CreateCommand(
                """
                SELECT count(*) FILTER (WHERE n > 1), count(*), count(*) FILTER (WHERE NOT (k = ANY($2)))
                FROM (SELECT metadata->>'idempotencyKey' AS k, count(DISTINCT data->>'postingId') AS n
                      FROM events WHERE metadata->>'idempotencyKey' LIKE $1 AND event_type IN ('AccountDebited', 'AccountCredited') GROUP BY 1) x
                """))
            {
                c.Parameters.Add(new() { Value = $"load-{run}-t%" });
                c.Parameters.Add(new() { Value = keys });
                await using var r = await c.ExecuteReaderAsync(ct);
                await r.ReadAsync(ct);
                var (twice, all, unacked) = (r.GetInt64(0), r.GetInt64(1), r.GetInt64(2));
                ok &= twice == 0;
                Console.WriteLine($"idempotency keys of run {run} with postings: {all} ({unacked} committed without the client seeing the answer); applied twice: {twice}  {(twice == 0 ? "OK" : "FAILED")}");
            }
            // Projections converge: poll each until no committed event lies beyond its checkpoint.
            var store = new PgEventStore(ds);
            var clock = Stopwatch.StartNew();
            foreach (var p in ProjectionCatalog.All())
            {
                ProjectionStatus s;
                while ((s = await ProjectionRunner.StatusAsync(store, p.Name, ct)).EventsBehind > 0 && clock.Elapsed < TimeSpan.FromSeconds(120))
                    await Task.Delay(100, ct);
                ok &= s.EventsBehind == 0;
                Console.WriteLine($"projection {p.Name}: {s.EventsBehind} events behind after {clock.Elapsed.TotalSeconds:0.0} s, {s.EventsApplied:N0} applied  {(s.EventsBehind == 0 ? "OK" : "FAILED")}");
            }
            var events = await ScalarAsync(ds, "SELECT count(*) FROM events", ct);
            foreach (var p in ProjectionCatalog.All())
            {
                var applied = await ScalarAsync(ds, $"SELECT events_applied FROM projection_checkpoints WHERE projection = '{p.Name}'", ct);
                ok &= applied == events;
                Console.WriteLine($"projection {p.Name} applied {applied:N0} events of {events:N0} in the log (none skipped, none twice)  {(applied == events ? "OK" : "FAILED")}");
            }
            // Deals that fell due during the run (escrow load transfers --expiring-deals): each expired exactly once. A reminder
            // tick missed while its silo was dead fires at the next period (one minute), so this waits up to two.
            var dealsPath = pr.GetValue(file)! + ".deals";
            if (File.Exists(dealsPath))
            {
                var due = (await File.ReadAllLinesAsync(dealsPath, ct)).Where(l => l.Length > 0).Select(l => l.Split('\t')).ToList();
                var streams = due.Select(d => $"deal-{d[0]}/{d[1]}").ToArray();
                var dueAt = DateTimeOffset.FromUnixTimeMilliseconds(due.Max(d => long.Parse(d[2], CultureInfo.InvariantCulture)));
                long expired = 0, twice = 0;
                double firstLate = 0, lastLate = 0;
                while (true)
                {
                    await using var c = ds.CreateCommand(
                        """
                        SELECT count(*) FILTER (WHERE n = 1), count(*) FILTER (WHERE n > 1),
                               coalesce(extract(epoch FROM min(first_at)), 0), coalesce(extract(epoch FROM max(first_at)), 0)
                        FROM (SELECT stream_id, count(*) AS n, min(recorded_at) AS first_at FROM events
                              WHERE stream_id = ANY($1) AND event_type = 'DealExpired' GROUP BY 1) x
                        """);
                    c.Parameters.Add(new() { Value = streams });
                    await using var r = await c.ExecuteReaderAsync(ct);
                    await r.ReadAsync(ct);
                    (expired, twice) = (r.GetInt64(0), r.GetInt64(1));
                    firstLate = (double)r.GetDecimal(2) - dueAt.ToUnixTimeMilliseconds() / 1000.0;
                    lastLate = (double)r.GetDecimal(3) - dueAt.ToUnixTimeMilliseconds() / 1000.0;
                    if (expired + twice == streams.Length || TimeProvider.System.GetUtcNow() > dueAt.AddMinutes(2)) break;
                    await Task.Delay(500, ct);
                }
                var pass = expired == streams.Length && twice == 0;
                ok &= pass;
                Console.WriteLine($"deals due during the run: {expired} of {streams.Length} expired exactly once, {twice} more than once; " +
                                  $"expired {firstLate:0.0}–{lastLate:0.0} s after they fell due  {(pass ? "OK" : "FAILED")}");
            }
            var report = await LedgerVerifier.RunAsync(store, ct);
            foreach (var line in report.Lines) Console.WriteLine("verify: " + line);
            ok &= report.Ok;
            Console.WriteLine(ok ? "check-acked: OK" : "check-acked: FAILED");
            return ok ? 0 : 1;
        });
        return cmd;
    }

    private static async Task<long> ScalarAsync(NpgsqlDataSource ds, string sql, CancellationToken ct)
    {
        await using var c = ds.CreateCommand(sql);
        return Convert.ToInt64(await c.ExecuteScalarAsync(ct), CultureInfo.InvariantCulture);
    }
}
