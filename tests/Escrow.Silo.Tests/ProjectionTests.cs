using System.Text.Json;
using System.Net;
using Escrow.EventStore;
using Escrow.Projections;
using Escrow.Silo.Ledger;
using Escrow.Silo.Projections;
using Escrow.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace Escrow.Silo.Tests;

/// <summary>Read models: crash safety, rebuild, and "balance as of T" from the index and from events.</summary>
public class ProjectionTests : IClassFixture<PgDatabase>
{
    private readonly PgDatabase _db;
    public ProjectionTests(PgDatabase db) => _db = db;

    /// <summary>Applies part of a batch, then dies, like a silo killed mid-batch.</summary>
    private sealed class CrashingProjection(IProjection inner, int applyBeforeCrash) : IProjection
    {
        public string Name => inner.Name;
        public async Task ApplyAsync(NpgsqlConnection c, NpgsqlTransaction t, IReadOnlyList<StoredEvent> events, CancellationToken ct)
        {
            await inner.ApplyAsync(c, t, events.Take(applyBeforeCrash).ToList(), ct);
            throw new InvalidOperationException("simulated crash in the middle of a batch");
        }
        public Task ResetAsync(NpgsqlConnection c, NpgsqlTransaction t, CancellationToken ct) => inner.ResetAsync(c, t, ct);
    }

    [Fact]
    public async Task A_projection_stopped_mid_batch_resumes_and_its_read_model_equals_a_replay()
    {
        await using var silo = new SiloFactory(_db, runProjections: false);
        var http = await silo.ClientForAsync();
        var ids = Enumerable.Range(0, 6).Select(i => $"crash-{i}-{Guid.NewGuid():N}"[..20]).ToList();
        foreach (var id in ids) { await http.OpenAsync(id); await http.DepositAsync(id, 100m); }
        for (var i = 0; i < 30; i++)
            Assert.Equal(HttpStatusCode.Created, (await http.TransferAsync(ids[i % 6], ids[(i + 1) % 6], 1.5m)).StatusCode);

        var options = new ProjectionRunnerOptions { BatchSize = 40 };
        foreach (var p in ProjectionCatalog.All())
        {
            var before = await ProjectionRunner.StatusAsync(_db.Store, p.Name, default);
            var crashing = new ProjectionRunner(_db.Store, new CrashingProjection(p, 17), options);
            await Assert.ThrowsAsync<InvalidOperationException>(() => crashing.ProcessBatchAsync(default));
            var after = await ProjectionRunner.StatusAsync(_db.Store, p.Name, default);
            Assert.Equal(before.Position, after.Position);          // checkpoint did not move
            Assert.Equal(before.EventsApplied, after.EventsApplied);

            var runner = new ProjectionRunner(_db.Store, p, options);
            Assert.True(await runner.CatchUpToHeadAsync(TimeSpan.FromSeconds(60), null, default) > 0);
        }
        var report = await LedgerVerifier.RunAsync(_db.Store, default);
        Assert.True(report.Ok, string.Join("\n", report.Lines));
        Assert.Contains(report.Lines, l => l.StartsWith("account_statement vs replay", StringComparison.Ordinal) && l.EndsWith(" 0 mismatches", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Verify_detects_a_read_model_that_differs_from_the_log()
    {
        await using var db = new PgDatabase();
        await db.InitializeAsync();
        try
        {
            await using (var silo = new SiloFactory(db, runProjections: true))
            {
                var http = await silo.ClientForAsync();
                await http.OpenAsync("tamper-1");
                await http.DepositAsync("tamper-1", 10m);
                await http.WaitForProjectionsAsync();
            }
            Assert.True((await LedgerVerifier.RunAsync(db.Store, default)).Ok);
            await db.ExecAsOwnerAsync("UPDATE account_balances SET balance = balance + 1 WHERE account_id = 'tamper-1'");
            var report = await LedgerVerifier.RunAsync(db.Store, default);
            Assert.False(report.Ok);
            Assert.Contains(report.Lines, l => l.Contains("account_balances MISMATCH ", StringComparison.Ordinal) && l.Contains("/tamper-1:", StringComparison.Ordinal));

            // Rebuild from position 0 repairs it.
            var runner = new ProjectionRunner(db.Store, new AccountBalancesProjection(), new ProjectionRunnerOptions());
            await runner.ResetAsync(default);
            await runner.CatchUpToHeadAsync(TimeSpan.FromSeconds(60), null, default);
            Assert.True((await LedgerVerifier.RunAsync(db.Store, default)).Ok);
        }
        finally
        {
            await db.DisposeAsync();
        }
    }

    [Fact]
    public async Task The_projection_grains_keep_the_read_models_from_the_event_log_stream_and_refill_a_reset_one_without_new_events()
    {
        var db = new PgDatabase();
        await db.InitializeAsync();
        try
        {
            await using var silo = new SiloFactory(db, runProjections: true);
            var http = await silo.ClientForAsync();
            var ids = Enumerable.Range(0, 5).Select(i => $"stream-{i}-{Guid.NewGuid():N}"[..20]).ToList();
            foreach (var id in ids) { await http.OpenAsync(id); await http.DepositAsync(id, 10m * (ids.IndexOf(id) + 1)); }
            async Task<bool> CaughtUpAsync()
            {
                foreach (var p in ProjectionCatalog.All())
                    if ((await ProjectionRunner.StatusAsync(db.Store, p.Name, default)).EventsBehind > 0) return false;
                return true;
            }
            // Fed by the stream alone: nothing else in this process applies the log.
            await EscrowTestCluster.WaitUntilAsync(CaughtUpAsync, TimeSpan.FromSeconds(30), "the projections did not catch up");
            var events = await db.EventCountAsync();
            foreach (var p in ProjectionCatalog.All())
                Assert.Equal(events, await db.ScalarAsync<long>($"SELECT events_applied FROM projection_checkpoints WHERE projection = '{p.Name}'"));
            var balances = $"SELECT string_agg(account_id || '=' || balance, ',' ORDER BY account_id) FROM account_balances WHERE account_id LIKE 'stream-%'";
            var before = await db.ScalarAsync<string>(balances);
            // The silo that pulls the queue says so.
            Assert.NotNull(await db.ScalarAsync<string>("SELECT pulled_by FROM projection_checkpoints WHERE projection = 'account_balances'"));

            // An operator's rebuild empties the read model and stops there (interrupted): no event arrives afterwards, yet the
            // queue's heartbeat shows the projection grain its checkpoint fell behind what was delivered, and it reads the log.
            await new ProjectionRunner(db.Store, new AccountBalancesProjection(), new ProjectionRunnerOptions()).ResetAsync(default);
            Assert.Equal(0L, await db.ScalarAsync<long>("SELECT count(*) FROM account_balances WHERE account_id LIKE 'stream-%'"));
            await EscrowTestCluster.WaitUntilAsync(CaughtUpAsync, TimeSpan.FromSeconds(30), "the reset read model was not refilled");
            Assert.Equal(before, await db.ScalarAsync<string>(balances));
            Assert.Equal(events, await db.EventCountAsync());
            Assert.Equal(events, await db.ScalarAsync<long>("SELECT events_applied FROM projection_checkpoints WHERE projection = 'account_balances'"));
            Assert.True((await LedgerVerifier.RunAsync(db.Store, default)).Ok);
        }
        finally
        {
            await db.DisposeAsync();
        }
    }

    [Fact]
    public async Task Balance_as_of_an_instant_agrees_between_the_statement_index_and_a_replay_of_events()
    {
        var clock = new ManualClock(new DateTimeOffset(2025, 3, 15, 9, 0, 0, TimeSpan.Zero));
        // A snapshot every 5 versions: most instants fall after several kept snapshots.
        await using var silo = new SiloFactory(_db, runProjections: true, clock: clock, snapshotEvery: 5);
        var http = await silo.ClientForAsync();
        var a = "asof-" + Guid.NewGuid().ToString("N")[..8];
        var b = "asof-" + Guid.NewGuid().ToString("N")[..8];
        // Its own currency, so its house cash account has only this clock's history (postings are stamped
        // max(clock, last activity of every touched account), and other tests in the class use the real clock).
        const string chf = "CHF";
        await http.OpenAsync(a, chf); await http.OpenAsync(b, chf);
        var expected = new List<(DateTimeOffset At, decimal Balance)>();
        decimal balance = 0;
        var rnd = new Random(42);
        for (var i = 0; i < 40; i++)
        {
            clock.Advance(TimeSpan.FromMinutes(rnd.Next(1, 90)));
            if (balance > 20 && rnd.Next(3) == 0)
            {
                Assert.Equal(HttpStatusCode.Created, (await http.TransferAsync(a, b, 20m, chf)).StatusCode);
                balance -= 20;
            }
            else
            {
                var amt = rnd.Next(1, 5000) / 100m;
                Assert.Equal(HttpStatusCode.Created, (await http.DepositAsync(a, amt, chf)).StatusCode);
                balance += amt;
            }
            expected.Add((clock.GetUtcNow(), balance));
        }
        await http.WaitForProjectionsAsync();

        // Before the account existed: 404. At each posting instant, and between postings: the running balance.
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync($"/accounts/{a}/balance?at=2025-03-15T08:00:00Z")).StatusCode);
        foreach (var (at, bal) in expected)
        {
            foreach (var t in new[] { at, at.AddSeconds(30) })
            {
                var q = Uri.EscapeDataString(t.ToString("O"));
                var fromIndex = await (await http.GetAsync($"/accounts/{a}/balance?at={q}")).JsonAsync();
                var fromEvents = await (await http.GetAsync($"/accounts/{a}/balance?at={q}&source=events")).JsonAsync();
                var fromGenesis = await (await http.GetAsync($"/accounts/{a}/balance?at={q}&source=genesis")).JsonAsync();
                Assert.Equal("statement", fromIndex.GetProperty("source").GetString());
                Assert.Equal("events", fromEvents.GetProperty("source").GetString());
                Assert.True(bal == fromIndex.GetProperty("balance").GetDecimal(),
                    $"at {t:O}: expected {bal}, index said {fromIndex}; statement: {await (await http.GetAsync($"/accounts/{a}/statement?limit=3")).Content.ReadAsStringAsync()}");
                Assert.Equal(bal, fromEvents.GetProperty("balance").GetDecimal());
                Assert.Equal(bal, fromGenesis.GetProperty("balance").GetDecimal());
                Assert.Equal(JsonValueKind.Null, fromGenesis.GetProperty("fromSnapshot").ValueKind);
                // The replay started from the last kept snapshot at or before the version it reached (every event of this
                // account is stamped by one clock that only moves forward).
                var version = fromEvents.GetProperty("version").GetInt64();
                Assert.Equal(version, fromGenesis.GetProperty("version").GetInt64());
                var snapshot = fromEvents.GetProperty("fromSnapshot");
                Assert.Equal(version >= 5 ? version / 5 * 5 : (long?)null, snapshot.ValueKind == JsonValueKind.Null ? null : snapshot.GetInt64());
            }
        }
    }

    [Fact]
    public async Task A_pulling_silo_writes_its_name_again_when_the_record_of_who_pulls_a_queue_lost_it()
    {
        await using var db = new PgDatabase();
        await db.InitializeAsync();
        try
        {
            await using var silo = new SiloFactory(db, runProjections: true);
            var http = await silo.ClientForAsync();
            await http.OpenAsync("pulled-1");
            async Task<bool> AllNamedAsync() =>
                (await ProjectionQueues.ListAsync(db.DataSource, default)).Select(h => h.Lease).Order(StringComparer.Ordinal)
                    .SequenceEqual(ProjectionQueues.Known.Order(StringComparer.Ordinal));
            await EscrowTestCluster.WaitUntilAsync(AllNamedAsync, TimeSpan.FromSeconds(30), "the silo's queues were not all named");
            // What a second silo that briefly pulled a queue leaves behind when it stops: the record names no one.
            await db.ExecAsOwnerAsync("UPDATE projection_checkpoints SET pulled_by = NULL, pulled_since = NULL");
            Assert.Empty(await ProjectionQueues.ListAsync(db.DataSource, default));
            await EscrowTestCluster.WaitUntilAsync(AllNamedAsync, TimeSpan.FromSeconds(20), "the pulling silo did not write its name again");
        }
        finally
        {
            await db.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_kept_snapshot_that_is_not_the_fold_of_its_events_misleads_only_the_snapshot_replay_and_verify_names_it()
    {
        await using var db = new PgDatabase();
        await db.InitializeAsync();
        try
        {
            await using var silo = new SiloFactory(db, runProjections: true, snapshotEvery: 5);
            var http = await silo.ClientForAsync();
            var a = "kept-" + Guid.NewGuid().ToString("N")[..8];
            await http.OpenAsync(a);
            for (var i = 0; i < 12; i++) Assert.Equal(HttpStatusCode.Created, (await http.DepositAsync(a, 1m)).StatusCode);
            await http.WaitForProjectionsAsync();
            var report = await LedgerVerifier.RunAsync(db.Store, default);
            Assert.True(report.Ok, string.Join("\n", report.Lines));
            Assert.Contains(report.Lines, l => l.StartsWith("kept account snapshots vs replay: ", StringComparison.Ordinal) && l.EndsWith(" 0 mismatches", StringComparison.Ordinal));

            // Someone with the schema owner's rights keeps a forged snapshot at version 12, anchored to the right event hash.
            await db.ExecAsOwnerAsync(
                $$"""
                INSERT INTO snapshot_history (stream_id, version, schema_version, hash, state, occurred_to)
                SELECT h.stream_id, 12, h.schema_version, e.hash, jsonb_set(h.state, '{balance}', '1000000'), e.occurred_at
                FROM snapshot_history h JOIN events e ON e.stream_id = h.stream_id AND e.version = 12
                WHERE h.stream_id LIKE '%/{{a}}' AND h.version = 10
                """);
            var at = Uri.EscapeDataString(DateTimeOffset.UtcNow.AddMinutes(5).ToString("O"));
            var fromEvents = await (await http.GetAsync($"/accounts/{a}/balance?at={at}&source=events")).JsonAsync();
            var fromGenesis = await (await http.GetAsync($"/accounts/{a}/balance?at={at}&source=genesis")).JsonAsync();
            Assert.Equal(12, fromEvents.GetProperty("fromSnapshot").GetInt64());
            Assert.Equal(1_000_001m, fromEvents.GetProperty("balance").GetDecimal());   // the forged state, then deposit 13
            Assert.Equal(12m, fromGenesis.GetProperty("balance").GetDecimal());

            report = await LedgerVerifier.RunAsync(db.Store, default);
            Assert.False(report.Ok);
            Assert.Contains(report.Lines, l => l.StartsWith("kept snapshot MISMATCH: ", StringComparison.Ordinal) && l.Contains($"/{a} v12", StringComparison.Ordinal));
        }
        finally
        {
            await db.DisposeAsync();
        }
    }

    [Fact]
    public async Task Balance_as_of_an_instant_comes_from_the_statement_only_once_its_projection_has_passed_the_accounts_last_event()
    {
        var db = new PgDatabase();
        await db.InitializeAsync();
        try
        {
            // No stream pulls the queues here: the test moves each projection itself.
            await using var silo = new SiloFactory(db, runProjections: false);
            var http = await silo.ClientForAsync();
            var a = "late-" + Guid.NewGuid().ToString("N")[..8];
            await http.OpenAsync(a);
            await http.DepositAsync(a, 40m);
            var balances = new ProjectionRunner(db.Store, new AccountBalancesProjection(), new ProjectionRunnerOptions());
            var statement = new ProjectionRunner(db.Store, new AccountStatementProjection(), new ProjectionRunnerOptions());
            await balances.CatchUpToHeadAsync(TimeSpan.FromSeconds(30), null, default);
            await statement.CatchUpToHeadAsync(TimeSpan.FromSeconds(30), null, default);
            var at = Uri.EscapeDataString(DateTimeOffset.UtcNow.AddMinutes(1).ToString("O"));
            var caughtUp = await (await http.GetAsync($"/accounts/{a}/balance?at={at}")).JsonAsync();
            Assert.Equal(("statement", 40m), (caughtUp.GetProperty("source").GetString(), caughtUp.GetProperty("balance").GetDecimal()));

            // A second deposit: the balances catch up, the statement does not yet. The index would say 40; the answer
            // must come from the events until the statement's projection has passed the deposit.
            await http.DepositAsync(a, 2m);
            await balances.CatchUpToHeadAsync(TimeSpan.FromSeconds(30), null, default);
            var behind = await (await http.GetAsync($"/accounts/{a}/balance?at={at}")).JsonAsync();
            Assert.Equal(("events", 42m), (behind.GetProperty("source").GetString(), behind.GetProperty("balance").GetDecimal()));
            await statement.CatchUpToHeadAsync(TimeSpan.FromSeconds(30), null, default);
            var again = await (await http.GetAsync($"/accounts/{a}/balance?at={at}")).JsonAsync();
            Assert.Equal(("statement", 42m), (again.GetProperty("source").GetString(), again.GetProperty("balance").GetDecimal()));
        }
        finally
        {
            await db.DisposeAsync();
        }
    }
}
