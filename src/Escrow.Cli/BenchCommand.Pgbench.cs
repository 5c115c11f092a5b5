using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Npgsql;
using Spectre.Console;

namespace Escrow.Cli;

internal static partial class BenchCommand
{
    // ---------------------------------------------------------------- pgbench

    private static string? FindPgbench()
    {
        if (Directory.Exists("/usr/lib/postgresql"))
        {
            var found = Directory.GetDirectories("/usr/lib/postgresql")
                .Select(d => (Dir: d, Version: double.TryParse(Path.GetFileName(d), NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : 0))
                .OrderByDescending(d => d.Version)
                .Select(d => Path.Combine(d.Dir, "bin", "pgbench"))
                .FirstOrDefault(File.Exists);
            if (found is not null) return found;
        }
        return (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, "pgbench")).FirstOrDefault(File.Exists);
    }

    [GeneratedRegex(@"^tps = ([0-9]+(?:\.[0-9]+)?)", RegexOptions.Multiline)]
    private static partial Regex TpsLine();

    [GeneratedRegex(@"^latency average = ([0-9]+(?:\.[0-9]+)?) ms", RegexOptions.Multiline)]
    private static partial Regex LatencyLine();

    /// <summary>
    /// pgbench as the schema owner against the same server and database: a custom script of one single-row INSERT
    /// per transaction into a scratch table (created first, dropped after), same client count, same duration.
    /// </summary>
    private static async Task<PgbenchResult> RunPgbenchAsync(string pgbench, NpgsqlConnectionStringBuilder owner, string run, int clients, int seconds, CancellationToken ct)
    {
        var table = $"bench_pgbench_{run}";
        var script = Path.Combine(Path.GetTempPath(), $"escrow-bench-{run}.sql");
        await ExecuteAsync(owner.ConnectionString,
            $"CREATE TABLE {table} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, payload text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())", ct);
        try
        {
            await File.WriteAllTextAsync(script, $"INSERT INTO {table} (payload) VALUES (md5(random()::text));\n", ct);
            var psi = new ProcessStartInfo(pgbench)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            var host = owner.Host ?? "127.0.0.1";
            var user = owner.Username ?? Environment.UserName;
            var database = owner.Database ?? user;
            string[] args = ["-h", host, "-p", owner.Port.ToString(CultureInfo.InvariantCulture), "-U", user,
                "-c", clients.ToString(CultureInfo.InvariantCulture), "-j", Math.Min(2, clients).ToString(CultureInfo.InvariantCulture),
                "-T", seconds.ToString(CultureInfo.InvariantCulture), "-n", "-f", script, database];
            foreach (var a in args) psi.ArgumentList.Add(a);
            if (!string.IsNullOrEmpty(owner.Password)) psi.Environment["PGPASSWORD"] = owner.Password;
            var command = "pgbench " + string.Join(' ', args);

            var cpu = CpuSample.Take();
            using var process = Process.Start(psi) ?? throw new CliException($"could not start {pgbench}");
            var stdout = process.StandardOutput.ReadToEndAsync(ct);
            var stderr = process.StandardError.ReadToEndAsync(ct);
            try
            {
                await process.WaitForExitAsync(ct);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                throw;
            }
            var (busy, _, steal) = cpu.Since();
            var output = await stdout;
            var errors = await stderr;
            var tps = TpsLine().Match(output);
            if (process.ExitCode != 0 || !tps.Success)
                throw new CliException($"pgbench failed (exit {process.ExitCode}): {errors.Trim()} {output.Trim()}");
            var latency = LatencyLine().Match(output);
            return new PgbenchResult(double.Parse(tps.Groups[1].Value, CultureInfo.InvariantCulture),
                latency.Success ? double.Parse(latency.Groups[1].Value, CultureInfo.InvariantCulture) : null, busy, steal, command);
        }
        finally
        {
            File.Delete(script);
            await ExecuteAsync(owner.ConnectionString, $"DROP TABLE IF EXISTS {table}", CancellationToken.None);
        }
    }

    private static async Task ExecuteAsync(string connectionString, string sql, CancellationToken ct)
    {
        await using var conn = new NpgsqlConnection(connectionString);
        await conn.OpenAsync(ct);
        await using var cmd = new NpgsqlCommand(sql, conn);
        await cmd.ExecuteNonQueryAsync(ct);
    }

    private static async Task<ServerInfo> ServerInfoAsync(string ownerConnectionString, CancellationToken ct)
    {
        await using var conn = new NpgsqlConnection(ownerConnectionString);
        await conn.OpenAsync(ct);
        await using var cmd = new NpgsqlCommand(
            "SELECT current_setting('server_version'), current_setting('fsync'), current_setting('synchronous_commit'), current_setting('wal_sync_method')", conn);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        await r.ReadAsync(ct);
        return new ServerInfo(r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3));
    }

    /// <summary>This database's commits and inserted rows, and the cluster's WAL counters (whatever columns this server version has).</summary>
    private static async Task<Dictionary<string, double>> PgStatsAsync(string ownerConnectionString, CancellationToken ct)
    {
        var stats = new Dictionary<string, double>(StringComparer.Ordinal);
        await using var conn = new NpgsqlConnection(ownerConnectionString);
        await conn.OpenAsync(ct);
        foreach (var sql in new[]
                 {
                     "SELECT xact_commit, xact_rollback, tup_inserted, tup_updated FROM pg_stat_database WHERE datname = current_database()",
                     "SELECT * FROM pg_stat_wal",
                 })
        {
            await using var cmd = new NpgsqlCommand(sql, conn);
            await using var r = await cmd.ExecuteReaderAsync(ct);
            if (!await r.ReadAsync(ct)) continue;
            for (var i = 0; i < r.FieldCount; i++)
                if (!r.IsDBNull(i) && r.GetValue(i) is var v and (long or int or short or double or float or decimal))
                    stats[r.GetName(i)] = Convert.ToDouble(v, CultureInfo.InvariantCulture);
        }
        return stats;
    }
}
