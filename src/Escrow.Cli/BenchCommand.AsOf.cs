using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;
using Escrow.Domain.Accounts;
using Escrow.EventStore;
using Escrow.Silo;
using Escrow.Silo.Grains;
using Npgsql;

namespace Escrow.Cli;

internal static partial class BenchCommand
{
    // ---------------------------------------------------------------- balance as of an instant

    /// <summary>One account's as-of latencies: <c>GET /accounts/{id}/balance?at=T</c> from the statement index and by replay.</summary>
    private sealed record AsOfResult(int Events, double[] IndexMs, double[] ReplayMs, bool Agreed, long? FromSnapshot, string Built);

    /// <summary>Requests per source and account: sequential, on the bench's kept-alive connection.</summary>
    private const int AsOfRequests = 500;

    /// <summary>Unmeasured requests per source before those (see <see cref="AskAsOfAsync"/>).</summary>
    private const int AsOfWarmUpRequests = 200;

    /// <summary>
    /// Opens an account of <paramref name="events"/> events (the opening and <c>events − 1</c> deposits of 1.00, the first
    /// half before an instant T, the rest after it), waits until the statement has caught up, then asks for its balance as
    /// of T <see cref="AsOfRequests"/> times from the statement index and as many times by replaying the stream, one request
    /// after the other. Every answer must be the balance of the first half (<see cref="AsOfResult.Agreed"/>).
    /// </summary>
    private static async Task<AsOfResult> AsOfAsync(HttpClient http, CliConfig cfg, string run, int events, int clients, CancellationToken ct)
    {
        var ownerConnectionString = cfg.Owner;
        var id = $"bench-{run}-asof{events.ToString(CultureInfo.InvariantCulture)}";
        if (events > BulkAbove)
        {
            var (bulkAt, bulkExpected, built) = await BuildInBulkAsync(cfg, run, id, events, ct);
            Info(built);
            await CheckpointAsync(ownerConnectionString, ct);
            return await AskAsOfAsync(http, id, events, bulkAt, bulkExpected, built, ct);
        }
        await PostExpectingAsync(http, "accounts", new { accountId = id, owner = "bench", currency = Currency }, $"{id}-open", ct);
        var deposits = events - 1;
        var before = deposits / 2;
        async Task DepositAsync(int from, int to)
        {
            var parallel = new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, Math.Min(clients, 16)), CancellationToken = ct };
            await Parallel.ForEachAsync(Enumerable.Range(from, to - from), parallel, async (i, token) =>
                await PostExpectingAsync(http, $"accounts/{id}/deposits", new { amount = 1m, currency = Currency, reference = "as-of" },
                    $"{id}-dep-{i.ToString(CultureInfo.InvariantCulture)}", token));
        }
        await DepositAsync(0, before);
        await Task.Delay(20, ct);
        var at = TimeProvider.System.GetUtcNow();
        await Task.Delay(20, ct);
        await DepositAsync(before, deposits);
        await MeasureLagAsync(http, ownerConnectionString, ct);   // the statement has every event before the index is asked
        await CheckpointAsync(ownerConnectionString, ct);
        return await AskAsOfAsync(http, id, events, at, before, "through the HTTP API (deposits)", ct);
    }

    /// <summary>
    /// Writes the dirty pages the previous phases left (a million-event build leaves gigabytes of WAL) before the reads are
    /// timed, so that the checkpointer's writes fall outside them: the table measures the read path, not the write path's
    /// aftermath. Needs a superuser or pg_checkpoint owner role; without one the reads are timed as they come.
    /// </summary>
    private static async Task CheckpointAsync(string ownerConnectionString, CancellationToken ct)
    {
        try
        {
            await using var conn = new NpgsqlConnection(ownerConnectionString);
            await conn.OpenAsync(ct);
            await using var cmd = new NpgsqlCommand("CHECKPOINT", conn) { CommandTimeout = 300 };
            await cmd.ExecuteNonQueryAsync(ct);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.InsufficientPrivilege)
        {
            Info("no CHECKPOINT before the as-of reads: the owner role may not (superuser or pg_checkpoint needed)");
        }
    }

    /// <summary>
    /// Asks for the balance of <paramref name="id"/> as of <paramref name="at"/> <see cref="AsOfRequests"/> times from the statement
    /// index and as many by replay (from the last kept snapshot), one request after the other; every answer must be
    /// <paramref name="expected"/>.
    /// </summary>
    private static async Task<AsOfResult> AskAsOfAsync(HttpClient http, string id, int events, DateTimeOffset at, decimal expected, string built, CancellationToken ct)
    {
        var agreed = true;
        long? fromSnapshot = null;
        async Task<double[]> AskAsync(string source)
        {
            var path = $"accounts/{Uri.EscapeDataString(id)}/balance?at={Uri.EscapeDataString(at.ToString("O", CultureInfo.InvariantCulture))}" +
                       (source == "events" ? "&source=events" : "");
            var ms = new double[AsOfRequests];
            for (var i = 0; i < AsOfRequests; i++)
            {
                var start = Stopwatch.GetTimestamp();
                using var response = await http.GetAsync(path, ct);
                var body = await response.Content.ReadAsStringAsync(ct);
                ms[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                using var answer = JsonDocument.Parse(body);
                if (response.StatusCode != HttpStatusCode.OK || answer.RootElement.GetProperty("balance").GetDecimal() != expected)
                    agreed = false;
                else if (source == "events" && answer.RootElement.TryGetProperty("fromSnapshot", out var snap) && snap.ValueKind == JsonValueKind.Number)
                    fromSnapshot = snap.GetInt64();
            }
            Array.Sort(ms);
            return ms;
        }
        // Unmeasured requests first, as a silo that has been answering for a while has had them: the tiered JIT recompiles
        // a method after 30 calls and again with its profile later (with 10, the first account measured paid it in its p99),
        // and the statements are prepared after their first uses.
        foreach (var extra in new[] { "", "&source=events" })
            for (var i = 0; i < AsOfWarmUpRequests; i++)
            {
                using var warm = await http.GetAsync($"accounts/{Uri.EscapeDataString(id)}/balance?at={Uri.EscapeDataString(at.ToString("O", CultureInfo.InvariantCulture))}{extra}", ct);
            }
        var index = await AskAsync("statement");
        var replay = await AskAsync("events");
        return new AsOfResult(events, index, replay, agreed, fromSnapshot, built);
    }

    /// <summary>Accounts larger than this are built in bulk (<see cref="BuildInBulkAsync"/>); smaller ones through the HTTP API.</summary>
    private const int BulkAbove = 20_000;

    /// <summary>Postings per append of the bulk build: 2 × this many events and their kept snapshots in one transaction.</summary>
    private const int BulkPostingsPerAppend = 5_000;

    /// <summary>
    /// Builds account <paramref name="id"/> of <paramref name="events"/> events straight into the event log, as the grains
    /// would have written it but without a grain call per event (a million deposits through the API would take ~10 minutes
    /// here): the account and a payer (a customer account with an overdraft limit) are opened, then <c>events − 1</c>
    /// transfers of 1.00 from the payer, one a millisecond in the past, both legs of each in the same append, with the
    /// store's hash chain and a snapshot of each stream every <see cref="SiloOptions.SnapshotEvery"/> versions (the same
    /// interval, state JSON and schema as the account grain's), so zero-sum holds and <c>escrow verify</c> passes. The
    /// projections then apply the events like any others; this waits until the statement has them all.
    /// Returns the instant T (half the transfers at or before it), the balance as of T, and a line saying how it went.
    /// </summary>
    private static async Task<(DateTimeOffset At, decimal Expected, string Built)> BuildInBulkAsync(CliConfig cfg, string run, string id, int events, CancellationToken ct)
    {
        var tenant = $"bench-{run}";
        var payer = id + "-payer";
        var snapshotEvery = new SiloOptions().SnapshotEvery;
        await using var source = cfg.DataSource();
        var store = new PgEventStore(source);
        var transfers = events - 1;
        var t0 = HashChain.ToStoredPrecision(TimeProvider.System.GetUtcNow().AddMilliseconds(-transfers - 60_000));
        var correlation = Guid.NewGuid();
        NewEvent New(object e, DateTimeOffset at)
        {
            var (type, schema, json) = EventSerializer.Serialize(e);
            return new NewEvent(type, schema, json, new EventMetadata(Guid.CreateVersion7(at), correlation, null, "escrow-bench", tenant, null), at);
        }

        var started = Stopwatch.GetTimestamp();
        var streams = new[] { (Id: id, Stream: AccountStreams.StreamId(tenant, id)), (Id: payer, Stream: AccountStreams.StreamId(tenant, payer)) };
        var states = new[]
        {
            Account.Evolve(AccountState.Empty(id), new AccountOpened(id, "bench", Currency, AccountKind.Customer, 0m, t0)),
            Account.Evolve(AccountState.Empty(payer), new AccountOpened(payer, "bench", Currency, AccountKind.Customer, transfers, t0)),
        };
        var versions = new long[] { 0, 0 };
        var hashes = new[] { HashChain.Genesis, HashChain.Genesis };
        var pending = new[]
        {
            new List<NewEvent> { New(new AccountOpened(id, "bench", Currency, AccountKind.Customer, 0m, t0), t0) },
            new List<NewEvent> { New(new AccountOpened(payer, "bench", Currency, AccountKind.Customer, transfers, t0), t0) },
        };
        var snapshots = new List<Snapshot>();
        var one = 1.00m;
        for (var i = 1; i <= transfers; i++)
        {
            var at = t0.AddMilliseconds(i);
            var posting = $"{id}-p{i.ToString(CultureInfo.InvariantCulture)}";
            object[] legs =
            [
                new AccountCredited(posting, one, Currency, payer, PostingKind.Transfer, "as-of", null, at),
                new AccountDebited(posting, one, Currency, id, PostingKind.Transfer, "as-of", null, at),
            ];
            for (var k = 0; k < 2; k++)
            {
                pending[k].Add(New(legs[k], at));
                states[k] = Account.Evolve(states[k], legs[k]);
                var version = versions[k] + pending[k].Count;
                if (version % snapshotEvery == 0)
                    snapshots.Add(new Snapshot(streams[k].Stream, version, AccountGrain.StateSchemaVersion, [],
                        JsonSerializer.Serialize(states[k], EventSerializer.Options)));
            }
            if (i % BulkPostingsPerAppend == 0 || i == transfers)
            {
                var appends = Enumerable.Range(0, 2).Select(k => new StreamAppend(streams[k].Stream, Account.StreamType, tenant,
                    versions[k] == 0 ? ExpectedVersion.NoStream : ExpectedVersion.Exactly(versions[k]), hashes[k], pending[k])).ToList();
                var heads = await store.AppendAsync(appends, null, snapshots, ct);
                for (var k = 0; k < 2; k++)
                {
                    (versions[k], hashes[k]) = (heads[streams[k].Stream].Version, heads[streams[k].Stream].LastHash);
                    pending[k] = [];
                }
                snapshots = [];
            }
        }
        var appended = Stopwatch.GetElapsedTime(started);

        // The projections apply the 2 × events like any others: wait for the statement (and the rest) to pass the last one.
        var caughtUp = Stopwatch.GetTimestamp();
        await using (var conn = new NpgsqlConnection(cfg.Owner))
        {
            await conn.OpenAsync(ct);
            await using var poll = new NpgsqlCommand(
                """
                SELECT count(*) FROM projection_checkpoints c, events e
                WHERE e.stream_id = $1 AND e.version = $2 AND (c.transaction_id, c.global_position) >= (e.transaction_id, e.global_position)
                """, conn);
            poll.Parameters.Add(new() { Value = streams[0].Stream });
            poll.Parameters.Add(new() { Value = versions[0] });
            var projections = Escrow.Projections.ProjectionCatalog.All().Count();
            while ((long)(await poll.ExecuteScalarAsync(ct))! < projections)
            {
                if (Stopwatch.GetElapsedTime(caughtUp) > TimeSpan.FromMinutes(30))
                    throw new CliException($"the projections did not apply the {2 * events:N0} bulk events within 30 minutes");
                await Task.Delay(200, ct);
            }
        }
        var applied = Stopwatch.GetElapsedTime(caughtUp);
        var before = transfers / 2;
        var built = $"in bulk: {2L * events:N0} events (with the payer's legs) appended in {appended.TotalSeconds:0.0} s " +
                    $"({2L * events / appended.TotalSeconds:N0} events/s) while the projections applied them; every projection had the last " +
                    $"{applied.TotalSeconds:0.0} s after it";
        return (t0.AddMilliseconds(before).AddTicks(5_000), before * one, built);
    }
}
