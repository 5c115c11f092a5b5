using System.IO.Compression;
using System.Net;
using Escrow.Silo.Hosting;
using Escrow.Testing;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace Escrow.Silo.Tests;

/// <summary>
/// Monthly partitions of the events table (migration 025) and their archival (<c>escrow archive</c>): partitions made ahead
/// of a (fake) ledger clock and rolled over at a month's end; months archived to files while the ledger keeps serving, the
/// archived months still verified (from the heads, and from the files), balances as of any instant still answered, a
/// signed checkpoint still proven, and the months restored.
/// </summary>
public class PartitionArchiveTests(PgDatabase db, ITestOutputHelper output) : IClassFixture<PgDatabase>
{
    private async Task<(int Code, string Text)> EscrowAsync(string? workDir, params string[] args)
    {
        var (code, lines) = await Repository.RunEscrowAsync(db, TimeSpan.FromMinutes(3), workDir, args);
        var text = string.Join('\n', lines);
        output.WriteLine($"escrow {string.Join(' ', args)} -> {code}\n{text}");
        return (code, text);
    }

    private async Task<List<string>> PartitionsAsync() =>
        await db.QueryListAsync<string>("SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'events'::regclass ORDER BY 1");

    [Fact]
    public async Task Archived_months_leave_the_database_yet_verify_serve_balances_as_of_any_instant_prove_a_checkpoint_and_restore()
    {
        var work = Directory.CreateTempSubdirectory("escrow-archive-");
        var archiveDir = Path.Combine(work.FullName, "archive");
        try
        {
            var institution = SiloFactory.NewInstitution();
            string a = "arc-alice", b = "arc-bob", deal = "arc-deal";
            DateTimeOffset t1, t2;
            long p1, p2;
            decimal aliceAtT1, aliceAtT2, aliceNow;
            await using (var silo = new SiloFactory(db))
            {
                var writer = await silo.ClientForAsync(institution);
                // Batch 1 (will be recorded three months ago): accounts, a deposit, a transfer, a deal created and funded.
                Assert.Equal(HttpStatusCode.Created, (await writer.OpenAsync(a)).StatusCode);
                Assert.Equal(HttpStatusCode.Created, (await writer.OpenAsync(b)).StatusCode);
                Assert.Equal(HttpStatusCode.Created, (await writer.DepositAsync(a, 1000m)).StatusCode);
                Assert.Equal(HttpStatusCode.Created, (await writer.TransferAsync(a, b, 100m)).StatusCode);
                Assert.Equal(HttpStatusCode.Created, (await writer.CommandAsync("/deals", $$"""
                    {"dealId":"{{deal}}","templateId":"default","buyerAccount":"{{a}}","sellerAccount":"{{b}}","amount":200,"currency":"EUR",
                     "expiresAt":"{{DateTimeOffset.UtcNow.AddDays(30):O}}"}
                    """)).StatusCode);
                Assert.Equal(HttpStatusCode.OK, (await writer.CommandAsync($"/deals/{deal}/fund", null)).StatusCode);
                p1 = await db.ScalarAsync<long>("SELECT max(global_position) FROM events");
                await Task.Delay(20);
                t1 = DateTimeOffset.UtcNow;
                await Task.Delay(20);
                // Batch 2 (two months ago): two transfers.
                Assert.Equal(HttpStatusCode.Created, (await writer.TransferAsync(a, b, 50m)).StatusCode);
                Assert.Equal(HttpStatusCode.Created, (await writer.TransferAsync(a, b, 50m)).StatusCode);
                p2 = await db.ScalarAsync<long>("SELECT max(global_position) FROM events");
                await Task.Delay(20);
                t2 = DateTimeOffset.UtcNow;
                await Task.Delay(20);
                // Batch 3 stays in this month.
                Assert.Equal(HttpStatusCode.Created, (await writer.TransferAsync(a, b, 25m)).StatusCode);
                await writer.WaitForProjectionsAsync();
                aliceAtT1 = await writer.BalanceAsync(a, $"?at={Uri.EscapeDataString(t1.ToString("O"))}&source=genesis");
                aliceAtT2 = await writer.BalanceAsync(a, $"?at={Uri.EscapeDataString(t2.ToString("O"))}&source=genesis");
                aliceNow = await writer.BalanceAsync(a);
                Assert.Equal(700m, aliceAtT1);
                Assert.Equal(600m, aliceAtT2);
                Assert.Equal(575m, aliceNow);
            }
            var (code, text) = await EscrowAsync(work.FullName, "checkpoint", "keygen", "--out", "keys");
            Assert.Equal(0, code);
            (code, _) = await EscrowAsync(work.FullName, "checkpoint", "create", "--key", "keys/checkpoint-key.pem", "--out", "cp.json");
            Assert.Equal(0, code);

            // The database's clock decides where an event goes: move the first two batches to earlier months (recorded_at is
            // not hashed; only a superuser could do this, and here it stands in for the passing of three months).
            var now = DateTime.UtcNow;
            var m3 = new DateOnly(now.Year, now.Month, 1).AddMonths(-3);
            var m2 = m3.AddMonths(1);
            await db.ExecAsOwnerAsync($"""
                SELECT create_event_partition('{m3:yyyy-MM-dd}'); SELECT create_event_partition('{m2:yyyy-MM-dd}');
                SET session_replication_role = replica;
                UPDATE events SET recorded_at = recorded_at - interval '3 months' WHERE global_position <= {p1};
                UPDATE events SET recorded_at = recorded_at - interval '2 months' WHERE global_position > {p1} AND global_position <= {p2};
                """);
            var aged = await db.ScalarAsync<long>($"SELECT count(*) FROM events_{m3:yyyy_MM}");
            Assert.True(aged > 0);

            // Only ended months: a cutoff after the current month is refused and archives nothing.
            (code, text) = await EscrowAsync(work.FullName, "archive", "--before", $"{m3.AddMonths(4):yyyy-MM}", "--out", archiveDir);
            Assert.NotEqual(0, code);
            Assert.Contains("only months that have ended", text);
            Assert.Equal(0, await db.ScalarAsync<long>("SELECT count(*) FROM event_archives"));
            (code, text) = await EscrowAsync(work.FullName, "archive", "--before", $"{m2.AddMonths(1):yyyy-MM}", "--out", archiveDir);
            Assert.Equal(0, code);
            Assert.Contains($"archived {m3:yyyy-MM}: {aged:N0} events", text);
            Assert.Contains($"archived {m2:yyyy-MM}", text);
            var parts = await PartitionsAsync();
            Assert.DoesNotContain($"events_{m3:yyyy_MM}", parts);
            Assert.DoesNotContain($"events_{m2:yyyy_MM}", parts);
            Assert.True(File.Exists(Path.Combine(archiveDir, $"events-{m3:yyyy-MM}.csv.gz")));
            Assert.Equal(0, await db.ScalarAsync<long>($"SELECT count(*) FROM events WHERE global_position <= {p2}"));
            var aliceStream = $"account-{institution}/{a}";
            var aliceHead = await db.ScalarAsync<long>($"SELECT last_version FROM archived_stream_heads WHERE stream_id = '{aliceStream}' AND month = '{m2:yyyy-MM-dd}'");
            Assert.Equal(1, await db.ScalarAsync<long>($"SELECT count(*) FROM snapshot_history WHERE stream_id = '{aliceStream}' AND version = {aliceHead}"));

            // Verify: from the archived heads, from the files, and the checkpoint signed before.
            (code, text) = await EscrowAsync(work.FullName, "verify");
            Assert.Equal(0, code);
            Assert.Contains("archived months: 2", text);
            (code, text) = await EscrowAsync(work.FullName, "verify", "--archive", archiveDir);
            Assert.Equal(0, code);
            Assert.Contains($"archive {m3:yyyy-MM}: events-{m3:yyyy-MM}.csv.gz SHA-256 OK", text);
            Assert.Contains("account_statement vs replay", text);
            Assert.DoesNotContain("not compared", text);
            (code, text) = await EscrowAsync(work.FullName, "verify", "--checkpoint", "cp.json", "--public-key", "keys/checkpoint-key.pub.pem");
            Assert.Equal(0, code);
            Assert.Contains("the log still holds exactly what it saw", text);
            (code, text) = await EscrowAsync(work.FullName, "rebuild", "account_balances");
            Assert.NotEqual(0, code);
            Assert.Contains("archive restore", text);

            // A file changed after archiving is named.
            var tampered = Path.Combine(work.FullName, "tampered");
            Directory.CreateDirectory(tampered);
            foreach (var f in Directory.GetFiles(archiveDir)) File.Copy(f, Path.Combine(tampered, Path.GetFileName(f)));
            var victim = Path.Combine(tampered, $"events-{m2:yyyy-MM}.csv.gz");
            string csv;
            using (var gz = new GZipStream(File.OpenRead(victim), CompressionMode.Decompress))
            using (var reader = new StreamReader(gz)) csv = reader.ReadToEnd();
            Assert.Contains("\"\"amount\"\": 50", csv);
            using (var gz = new GZipStream(File.Create(victim), CompressionLevel.Optimal))
            using (var writer = new StreamWriter(gz)) writer.Write(csv.Replace("\"\"amount\"\": 50", "\"\"amount\"\": 5", StringComparison.Ordinal));
            (code, text) = await EscrowAsync(work.FullName, "verify", "--archive", tampered);
            Assert.Equal(1, code);
            Assert.Contains($"archive {m2:yyyy-MM} ALTERED", text);

            // A new silo (no activation kept) serves the archived accounts and deal from the kept snapshots at their heads.
            await using (var silo = new SiloFactory(db))
            {
                var writer = await silo.ClientForAsync(institution);
                Assert.Equal(HttpStatusCode.Forbidden, (await writer.GetAsync("/archives")).StatusCode);
                var auditor = await silo.ClientForAsync(institution, "auditor");
                var archives = await (await auditor.GetAsync("/archives")).JsonAsync();
                Assert.Equal([$"{m3:yyyy-MM}", $"{m2:yyyy-MM}"], archives.GetProperty("archived").EnumerateArray().Select(x => x.GetProperty("month").GetString()));
                Assert.Equal(aged, archives.GetProperty("archived")[0].GetProperty("events").GetInt64());
                Assert.DoesNotContain(archives.GetProperty("partitions").EnumerateArray(), x => x.GetProperty("name").GetString() == $"events_{m3:yyyy_MM}");
                Assert.Contains(archives.GetProperty("partitions").EnumerateArray(), x => x.GetProperty("name").GetString() == $"events_{now:yyyy_MM}");
                Assert.Equal(aliceNow, await writer.BalanceAsync(a));
                Assert.Equal(HttpStatusCode.Created, (await writer.TransferAsync(a, b, 10m)).StatusCode);
                var released = await writer.CommandAsync($"/deals/{deal}/release", """{"amount":200}""");
                Assert.Equal(HttpStatusCode.OK, released.StatusCode);
                Assert.Equal(0m, (await released.JsonAsync()).GetProperty("held").GetDecimal());
                await writer.WaitForProjectionsAsync();
                // As of an instant after the archived months: replayed from the kept snapshot at the archived head.
                var atT2 = await (await writer.GetAsync($"/accounts/{a}/balance?at={Uri.EscapeDataString(t2.ToString("O"))}&source=events")).JsonAsync();
                Assert.Equal(aliceAtT2, atT2.GetProperty("balance").GetDecimal());
                Assert.Equal(aliceHead, atT2.GetProperty("fromSnapshot").GetInt64());
                // Inside the archived months: the statement index answers; a replay would need the archive.
                Assert.Equal(aliceAtT1, await writer.BalanceAsync(a, $"?at={Uri.EscapeDataString(t1.ToString("O"))}&source=statement"));
                var replay = await writer.GetAsync($"/accounts/{a}/balance?at={Uri.EscapeDataString(t1.ToString("O"))}&source=events");
                Assert.Equal(HttpStatusCode.Gone, replay.StatusCode);
                Assert.Equal("events_archived", (await replay.JsonAsync()).GetProperty("code").GetString());
                Assert.Equal(HttpStatusCode.Gone, (await writer.GetAsync($"/accounts/{a}/balance?at={Uri.EscapeDataString(t2.ToString("O"))}&source=genesis")).StatusCode);
            }
            (code, text) = await EscrowAsync(work.FullName, "verify");
            Assert.Equal(0, code);

            // Restore, newest first (the older month first is refused): the months are back and everything checks from the first event again.
            (code, text) = await EscrowAsync(work.FullName, "archive", "restore", $"{m3:yyyy-MM}", "--from", archiveDir);
            Assert.NotEqual(0, code);
            Assert.Contains("newest first", text);
            (code, _) = await EscrowAsync(work.FullName, "archive", "restore", $"{m2:yyyy-MM}", "--from", archiveDir);
            Assert.Equal(0, code);
            (code, _) = await EscrowAsync(work.FullName, "archive", "restore", $"{m3:yyyy-MM}", "--from", archiveDir);
            Assert.Equal(0, code);
            Assert.Equal(aged, await db.ScalarAsync<long>($"SELECT count(*) FROM events_{m3:yyyy_MM}"));
            Assert.Equal(0, await db.ScalarAsync<long>("SELECT count(*) FROM event_archives"));
            (code, text) = await EscrowAsync(work.FullName, "verify");
            Assert.Equal(0, code);
            Assert.DoesNotContain("archived months", text);
            (code, _) = await EscrowAsync(work.FullName, "rebuild", "account_balances");
            Assert.Equal(0, code);
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }
}

/// <summary>Partitions made ahead of a fake ledger clock and rolled over at a month's end (a database of its own: it makes five years of them).</summary>
public class PartitionRolloverTests(PgDatabase db) : IClassFixture<PgDatabase>
{
    private async Task<List<string>> PartitionsAsync() =>
        await db.QueryListAsync<string>("SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'events'::regclass ORDER BY 1");

    [Fact]
    public async Task Partitions_are_made_ahead_of_the_ledger_clock_and_an_event_lands_in_its_month_across_a_month_end()
    {
        var clock = new ManualClock(new DateTimeOffset(2031, 1, 31, 23, 59, 0, TimeSpan.Zero));
        await using var silo = new SiloFactory(db, runProjections: false, clock: clock);
        _ = silo.Server;
        var maintenance = silo.Services.GetRequiredService<EventPartitionMaintenance>();
        await maintenance.RunOnceAsync(default);
        var parts = await PartitionsAsync();
        Assert.Contains("events_2031_01", parts);
        Assert.Contains("events_2031_04", parts);
        Assert.DoesNotContain("events_2031_05", parts);
        Assert.Equal(0, await maintenance.RunOnceAsync(default));   // nothing new within the month

        clock.Advance(TimeSpan.FromMinutes(1.5));   // 2031-02-01T00:00:30Z: the month rolled over
        Assert.Equal(1, await maintenance.RunOnceAsync(default));
        Assert.Contains("events_2031_05", await PartitionsAsync());

        // The boundary is exact: the last microsecond of January and the first instant of February go to their own months.
        await db.ExecAsOwnerAsync("INSERT INTO streams (stream_id, stream_type, tenant, version, last_hash) VALUES ('rollover-test', 'test', 't', 2, '\\x" + new string('0', 64) + "')");
        var zero = new string('0', 64);
        string Insert(int version, string recordedAt) => $$"""
            INSERT INTO events (stream_id, version, event_id, event_type, schema_version, data, metadata, occurred_at, recorded_at, prev_hash, hash)
            VALUES ('rollover-test', {{version}}, gen_random_uuid(), 'Test', 1, '{}', '{}', now(), '{{recordedAt}}', '\x{{zero}}', '\x{{zero}}')
            RETURNING tableoid::regclass::text
            """;
        Assert.Equal("events_2031_01", await db.ScalarAsync<string>(Insert(1, "2031-01-31 23:59:59.999999+00")));
        Assert.Equal("events_2031_02", await db.ScalarAsync<string>(Insert(2, "2031-02-01 00:00:00+00")));
        // The application role may make partitions (through the function) but not touch the table's definition.
        await using var app = db.DataSource.CreateCommand("SELECT ensure_event_partitions(now())");
        Assert.Equal(0, (int)(await app.ExecuteScalarAsync())!);
        await using var drop = db.DataSource.CreateCommand("DROP TABLE events_2031_05");
        await Assert.ThrowsAsync<Npgsql.PostgresException>(() => drop.ExecuteNonQueryAsync());
    }
}

/// <summary><c>escrow bench partitions</c> at a tiny size: it runs, prints its table and drops its two databases.</summary>
public class PartitionBenchTests(PgDatabase db, ITestOutputHelper output) : IClassFixture<PgDatabase>
{
    [Fact]
    public async Task The_partitions_bench_prints_both_logs_and_the_ratio_and_leaves_no_database_behind()
    {
        var (code, lines) = await Repository.RunEscrowAsync(db, TimeSpan.FromMinutes(3), null,
            "bench", "partitions", "--events-per-month", "400", "--samples", "10", "--concurrent-seconds", "1");
        var text = string.Join('\n', lines);
        output.WriteLine(text);
        Assert.Equal(0, code);
        Assert.Contains("400 events in 4 partitions", text);     // this month and three made ahead
        Assert.Contains("4,800 events in 15 partitions", text);  // twelve months of 400, and three ahead
        Assert.Contains("append (existing", text);               // the table (its cells wrap at the console's width)
        Assert.Contains("appends/s, 8", text);
        Assert.Equal(0, await db.ScalarAsync<long>("SELECT count(*) FROM pg_database WHERE datname LIKE 'escrow_bench_p%'"));
    }
}
