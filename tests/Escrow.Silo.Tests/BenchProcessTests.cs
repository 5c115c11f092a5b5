using Escrow.Silo.Ledger;
using Escrow.Testing;
using Xunit.Abstractions;

namespace Escrow.Silo.Tests;

/// <summary>
/// <c>escrow bench</c> as a user runs it, shortened: the silo in a process of its own (<c>--silo-process</c>), a small
/// as-of account built through the API and a larger one in bulk; every as-of answer is checked by the bench (it exits 1
/// on a wrong one), and the ledger it leaves behind passes <c>escrow verify</c>'s checks.
/// </summary>
public class BenchProcessTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_short_bench_with_the_silo_in_its_own_process_answers_every_as_of_request_right_and_leaves_a_ledger_that_verifies()
    {
        await using var db = new PgDatabase();
        await db.InitializeAsync();
        try
        {
            var (code, lines) = await Repository.RunEscrowAsync(db, TimeSpan.FromMinutes(5), null,
                "bench", "--clients", "4", "--seconds", "2", "--accounts", "20", "--warm-up", "1", "--peer", "none",
                "--as-of-events", "10,25000", "--silo-process");
            foreach (var l in lines) output.WriteLine(l);
            var text = string.Join('\n', lines);

            Assert.True(code == 0, text);
            Assert.Contains(lines, l => l.Contains("started a silo process (pid ", StringComparison.Ordinal));
            // The silo's CPU is measured apart from the load generator's.
            Assert.Contains(lines, l => l.StartsWith("| CPU per transfer, full load: silo process + PostgreSQL (load generator excluded) | ", StringComparison.Ordinal));
            // The 25,000-event account was built in bulk and replayed from a kept snapshot; every answer of both accounts was right.
            Assert.Contains(lines, l => l.StartsWith("| account of 25,000 events: built | in bulk: 50,000 events", StringComparison.Ordinal));
            Assert.Contains(lines, l => l.StartsWith("| balance as of T, 25,000-event account, replay from the kept snapshot at v12,500: ", StringComparison.Ordinal));
            Assert.Equal(4, lines.Count(l => l.StartsWith("| balance as of T, ", StringComparison.Ordinal) && l.Contains("every answer right", StringComparison.Ordinal)));

            // The silo process stopped with the bench.
            Assert.Equal(0L, await db.ScalarAsync<long>(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND usename = 'escrow_app'"));

            // The bulk account's legs, hash chains and kept snapshots are those the grains would have written.
            var report = await LedgerVerifier.RunAsync(db.Store, default);
            Assert.True(report.Ok, string.Join('\n', report.Lines));
            Assert.Contains(report.Lines, l => l.StartsWith("kept account snapshots vs replay: ", StringComparison.Ordinal) && l.EndsWith(", 0 mismatches", StringComparison.Ordinal));
            Assert.True(await db.ScalarAsync<long>("SELECT count(*) FROM snapshot_history WHERE stream_id LIKE '%-asof25000%'") >= 2 * 25_000 / 50);
        }
        finally
        {
            await db.DisposeAsync();
        }
    }
}
