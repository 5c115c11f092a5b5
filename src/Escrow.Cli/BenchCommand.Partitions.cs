using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Escrow.EventStore;
using Npgsql;
using Spectre.Console;

namespace Escrow.Cli;

internal static partial class BenchCommand
{
    // ---------------------------------------------------------------- partitions

    /// <summary>
    /// <c>escrow bench partitions</c>: do appends and reads slow down as months accumulate in the events table? Two databases on
    /// the same server, migrated alike: one whose log holds one month of events, one that holds twelve months of as many
    /// events each (twelve partitions, twelve times the rows). The same operations run against both, alternating in rounds so
    /// that drift of the machine falls on both: appends to existing and to new streams (the store's append, one event, one
    /// transaction), reading a whole stream of this month and of the oldest month, reading a page of the global log's
    /// tail, and appends from 8 concurrent writers. The table gives p50 / p99 and the ratio 12 months ÷ 1 month. Statements are
/// prepared as in the silo (<c>Max Auto Prepare</c> 64).
    /// </summary>
    private static Command PartitionsCommand()
    {
        var perMonth = new Option<int>("--events-per-month") { Description = "Events in each month (50 per stream)", DefaultValueFactory = _ => 100_000 };
        var samples = new Option<int>("--samples") { Description = "Samples of each operation on each database", DefaultValueFactory = _ => 1000 };
        var seconds = new Option<int>("--concurrent-seconds") { Description = "Seconds of 8 concurrent writers on each database", DefaultValueFactory = _ => 5 };
        var keep = new Option<bool>("--keep") { Description = "Keep the two databases afterwards (their names are printed)" };
        var cmd = new Command("partitions", "Appends and reads against a log of 1 month and one of 12 monthly partitions (12× the events); prints a table.")
        {
            perMonth, samples, seconds, keep,
        };
        cmd.SetAction(async (pr, ct) => await RunPartitionsAsync(pr.GetValue(perMonth), pr.GetValue(samples), pr.GetValue(seconds), pr.GetValue(keep), ct));
        return cmd;
    }

    private const int EventsPerStream = 50;

    private sealed class PartitionDb(string name, string connectionString, int months) : IAsyncDisposable
    {
        public string Name { get; } = name;
        public int Months { get; } = months;
        public NpgsqlDataSource DataSource { get; } = NpgsqlDataSource.Create(connectionString);
        private PgEventStore? _store;
        public PgEventStore Store => _store ??= new PgEventStore(DataSource);
        public List<(string Id, long Version, byte[] Hash)> Current { get; } = [];
        public List<string> Oldest { get; } = [];
        public Dictionary<string, List<double>> Samples { get; } = new(StringComparer.Ordinal);
        public long Events { get; set; }
        public int Partitions { get; set; }
        public double ConcurrentPerSecond { get; set; }
        public void Add(string op, double ms) => (Samples.TryGetValue(op, out var l) ? l : Samples[op] = []).Add(ms);
        public ValueTask DisposeAsync() => DataSource.DisposeAsync();
    }

    private static async Task<int> RunPartitionsAsync(int perMonth, int samples, int concurrentSeconds, bool keep, CancellationToken ct)
    {
        if (perMonth < 8 * EventsPerStream || samples < 10)
            throw new CliException($"--events-per-month ≥ {8 * EventsPerStream} (a stream of {EventsPerStream} for each of the 8 concurrent writers) and --samples ≥ 10");
        var cfg = CliConfig.FromEnvironment();
        var stamp = TimeProvider.System.GetUtcNow().ToString("yyyyMMddHHmmss", CultureInfo.InvariantCulture);
        var dbs = new List<PartitionDb>();
        try
        {
            foreach (var months in new[] { 1, 12 })
            {
                var name = $"escrow_bench_p{months}_{stamp}";
                await using (var admin = NpgsqlDataSource.Create(cfg.Owner))
                await using (var create = admin.CreateCommand($"CREATE DATABASE {name}"))
                    await create.ExecuteNonQueryAsync(ct);
                // Statements prepared as the silo's pools prepare them (Max Auto Prepare 64, SiloHost): a partitioned table costs
                // planning in proportion to its partitions, which a prepared statement pays once.
                var cs = new NpgsqlConnectionStringBuilder(cfg.Owner) { Database = name, MaxPoolSize = 20, MaxAutoPrepare = 64 }.ConnectionString;
                await Migrator.MigrateAsync(cs, ct);
                var db = new PartitionDb(name, cs, months);
                dbs.Add(db);
                var started = Stopwatch.GetTimestamp();
                await FillAsync(db, perMonth, ct);
                AnsiConsole.MarkupLine($"[grey]{name}: {db.Events:N0} events in {db.Partitions} partitions (filled in {Stopwatch.GetElapsedTime(started).TotalSeconds:N1} s)[/]");
            }
            // Rounds of 100 samples per operation, alternating the databases.
            for (var done = 0; done < samples; done += 100)
                foreach (var db in dbs)
                    await SampleRoundAsync(db, Math.Min(100, samples - done), ct);
            foreach (var db in dbs) db.ConcurrentPerSecond = await ConcurrentAppendsAsync(db, concurrentSeconds, ct);
            PrintPartitionTable(dbs[0], dbs[1], perMonth, samples);
            return 0;
        }
        finally
        {
            foreach (var db in dbs) await db.DisposeAsync();
            NpgsqlConnection.ClearAllPools();
            if (!keep)
            {
                await using var admin = NpgsqlDataSource.Create(cfg.Owner);
                foreach (var db in dbs)
                {
                    await using var drop = admin.CreateCommand($"DROP DATABASE IF EXISTS {db.Name} WITH (FORCE)");
                    await drop.ExecuteNonQueryAsync(CancellationToken.None);
                }
            }
            else foreach (var db in dbs) Console.WriteLine($"kept database {db.Name}");
        }
    }

    /// <summary>
    /// Fills <paramref name="db"/>: for each of its months (this one and the ones before), <paramref name="perMonth"/> events in
    /// streams of 50, recorded in that month (so each month's partition holds its own), in one statement per month.
    /// </summary>
    private static async Task FillAsync(PartitionDb db, int perMonth, CancellationToken ct)
    {
        var streams = perMonth / EventsPerStream;
        var now = TimeProvider.System.GetUtcNow().UtcDateTime;
        var thisMonth = new DateTime(now.Year, now.Month, 1, 0, 0, 0, DateTimeKind.Utc);
        for (var back = db.Months - 1; back >= 0; back--)
        {
            var month = thisMonth.AddMonths(-back);
            var tag = month.ToString("yyyy_MM", CultureInfo.InvariantCulture);
            // Spread over the month's first days (this month's: up to now).
            var spread = Math.Max(1, (int)Math.Min((now - thisMonth).TotalSeconds, 5 * 86400) - 1);
            await using var create = db.DataSource.CreateCommand($"SELECT create_event_partition('{month:yyyy-MM-dd}')");
            await create.ExecuteNonQueryAsync(ct);
            await using var fill = db.DataSource.CreateCommand($"""
                INSERT INTO streams (stream_id, stream_type, tenant, version, last_hash)
                SELECT format('bench-{tag}-%s', s), 'bench', 'bench', {EventsPerStream}, decode(md5('h' || s) || md5('t' || s), 'hex')
                FROM generate_series(1, {streams}) s;
                INSERT INTO events (stream_id, version, event_id, event_type, schema_version, data, metadata, occurred_at, recorded_at, prev_hash, hash)
                SELECT format('bench-{tag}-%s', s), v, gen_random_uuid(), 'BenchEvent', 1,
                       jsonb_build_object('postingId', format('p-{tag}-%s-%s', s, v), 'amount', v, 'currency', 'EUR', 'reference', repeat('x', 120)),
                       jsonb_build_object('correlationId', gen_random_uuid(), 'actor', 'bench', 'tenant', 'bench'),
                       '{month:yyyy-MM-dd}'::timestamptz + make_interval(secs => ((s * {EventsPerStream} + v) % {spread})),
                       '{month:yyyy-MM-dd}'::timestamptz + make_interval(secs => ((s * {EventsPerStream} + v) % {spread})),
                       decode(md5('p' || s || '-' || v) || md5('q' || s || '-' || v), 'hex'), decode(md5('h' || s || '-' || v) || md5('k' || s || '-' || v), 'hex')
                FROM generate_series(1, {streams}) s, generate_series(1, {EventsPerStream}) v ORDER BY v, s;
                """);
            fill.CommandTimeout = 3600;
            await fill.ExecuteNonQueryAsync(ct);
            if (back == db.Months - 1)
                for (var i = 1; i <= Math.Min(streams, 2000); i++) db.Oldest.Add($"bench-{tag}-{i}");
            if (back == 0)
            {
                await using var heads = db.DataSource.CreateCommand($"SELECT stream_id, version, last_hash FROM streams WHERE stream_id LIKE 'bench-{tag}-%' LIMIT 2000");
                await using var r = await heads.ExecuteReaderAsync(ct);
                while (await r.ReadAsync(ct)) db.Current.Add((r.GetString(0), r.GetInt64(1), (byte[])r[2]));
            }
        }
        foreach (var sql in new[] { "VACUUM ANALYZE events", "ANALYZE streams" })
        {
            await using var analyze = db.DataSource.CreateCommand(sql);
            analyze.CommandTimeout = 3600;
            await analyze.ExecuteNonQueryAsync(ct);
        }
        db.Events = (long)(await Scalar(db.DataSource, "SELECT count(*) FROM events", ct))!;
        db.Partitions = (int)(long)(await Scalar(db.DataSource, "SELECT count(*) FROM pg_inherits WHERE inhparent = 'events'::regclass", ct))!;
    }

    private static async Task<object?> Scalar(NpgsqlDataSource ds, string sql, CancellationToken ct)
    {
        await using var cmd = ds.CreateCommand(sql);
        return await cmd.ExecuteScalarAsync(ct);
    }

    private static NewEvent BenchEvent(int n) => new("BenchEvent", 1,
        $$"""{"postingId":"p-{{Guid.NewGuid():N}}","amount":{{n}},"currency":"EUR","reference":"bench"}""",
        new EventMetadata(Guid.CreateVersion7(), Guid.NewGuid(), null, "bench", "bench", null), TimeProvider.System.GetUtcNow());

    private static async Task SampleRoundAsync(PartitionDb db, int count, CancellationToken ct)
    {
        var random = new Random(count * 7919 + db.Months);
        for (var i = 0; i < count; i++)
        {
            // Append one event to an existing stream of this month.
            var k = random.Next(db.Current.Count);
            var (id, version, hash) = db.Current[k];
            var t = Stopwatch.GetTimestamp();
            var heads = await db.Store.AppendAsync([new StreamAppend(id, "bench", "bench", ExpectedVersion.Exactly(version), hash, [BenchEvent(i)])], null, null, ct);
            db.Add("append (existing stream)", Stopwatch.GetElapsedTime(t).TotalMilliseconds);
            db.Current[k] = (id, heads[id].Version, heads[id].LastHash);

            // Append the first event of a new stream.
            var fresh = $"bench-new-{Guid.NewGuid():N}";
            t = Stopwatch.GetTimestamp();
            await db.Store.AppendAsync([new StreamAppend(fresh, "bench", "bench", ExpectedVersion.NoStream, HashChain.Genesis, [BenchEvent(i)])], null, null, ct);
            db.Add("append (new stream)", Stopwatch.GetElapsedTime(t).TotalMilliseconds);

            // Read a whole stream: one of this month, one of the oldest month.
            t = Stopwatch.GetTimestamp();
            var page = await db.Store.ReadStreamAsync(db.Current[random.Next(db.Current.Count)].Id, 0, ct);
            db.Add("read a stream of this month", Stopwatch.GetElapsedTime(t).TotalMilliseconds);
            if (page.Count < EventsPerStream) throw new InvalidOperationException($"{db.Name}: a stream read back {page.Count} events");
            t = Stopwatch.GetTimestamp();
            page = await db.Store.ReadStreamAsync(db.Oldest[random.Next(db.Oldest.Count)], 0, ct);
            db.Add($"read a stream of the oldest month", Stopwatch.GetElapsedTime(t).TotalMilliseconds);
            if (page.Count < EventsPerStream) throw new InvalidOperationException($"{db.Name}: a stream read back {page.Count} events");
        }
        // The global log's tail, as a projection reads it: 1,000 events after a position near the end.
        for (var i = 0; i < Math.Max(1, count / 10); i++)
        {
            await using var at = db.DataSource.CreateCommand(
                "SELECT transaction_id::text, global_position FROM events ORDER BY transaction_id DESC, global_position DESC " +
                "OFFSET least(1500, (SELECT count(*) FROM events) / 2) LIMIT 1");
            await using var r = await at.ExecuteReaderAsync(ct);
            await r.ReadAsync(ct);
            var from = new GlobalCheckpoint(ulong.Parse(r.GetString(0), CultureInfo.InvariantCulture), r.GetInt64(1));
            await r.DisposeAsync();
            var t = Stopwatch.GetTimestamp();
            var tail = await db.Store.ReadAllAsync(from, 1000, ct);
            db.Add("read 1,000 events of the global log's tail", Stopwatch.GetElapsedTime(t).TotalMilliseconds);
            if (tail.Count == 0) throw new InvalidOperationException($"{db.Name}: the global log's tail read nothing");
        }
    }

    private static async Task<double> ConcurrentAppendsAsync(PartitionDb db, int seconds, CancellationToken ct)
    {
        long appended = 0;
        var until = Stopwatch.GetTimestamp() + (long)(seconds * Stopwatch.Frequency);
        var writers = Enumerable.Range(0, 8).Select(async w =>
        {
            var mine = db.Current.Where((_, i) => i % 8 == w).ToList();
            var n = 0;
            while (Stopwatch.GetTimestamp() < until)
            {
                var k = n++ % mine.Count;
                var (id, version, hash) = mine[k];
                var heads = await db.Store.AppendAsync([new StreamAppend(id, "bench", "bench", ExpectedVersion.Exactly(version), hash, [BenchEvent(n)])], null, null, ct);
                mine[k] = (id, heads[id].Version, heads[id].LastHash);
                Interlocked.Increment(ref appended);
            }
        }).ToList();
        var started = Stopwatch.GetTimestamp();
        await Task.WhenAll(writers);
        return appended / Stopwatch.GetElapsedTime(started).TotalSeconds;
    }

    private static void PrintPartitionTable(PartitionDb one, PartitionDb twelve, int perMonth, int samples)
    {
        var table = new Table().AddColumns("operation", $"1 month ({one.Events:N0} events, {one.Partitions} partitions) p50 / p99 ms",
            $"12 months ({twelve.Events:N0} events, {twelve.Partitions} partitions) p50 / p99 ms", "12 months ÷ 1 month (p50)");
        foreach (var op in one.Samples.Keys)
        {
            var a = one.Samples[op].Order().ToArray();
            var b = twelve.Samples[op].Order().ToArray();
            table.AddRow(op, $"{Ms(Percentile(a, 0.5))} / {Ms(Percentile(a, 0.99))}", $"{Ms(Percentile(b, 0.5))} / {Ms(Percentile(b, 0.99))}",
                (Percentile(b, 0.5) / Percentile(a, 0.5)).ToString("0.00", CultureInfo.InvariantCulture));
        }
        table.AddRow("appends/s, 8 concurrent writers", one.ConcurrentPerSecond.ToString("N0", CultureInfo.InvariantCulture),
            twelve.ConcurrentPerSecond.ToString("N0", CultureInfo.InvariantCulture),
            (twelve.ConcurrentPerSecond / one.ConcurrentPerSecond).ToString("0.00", CultureInfo.InvariantCulture));
        AnsiConsole.Write(table);
        Console.WriteLine($"machine: {Environment.ProcessorCount} cores, {MemoryTotal()} RAM, load avg {File.ReadAllText("/proc/loadavg").Split(' ')[0]}; " +
                          $"{perMonth:N0} events per month in streams of {EventsPerStream}; {samples:N0} samples per operation and database, alternating in rounds of 100");
    }
}
