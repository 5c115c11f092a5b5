using System.Security.Cryptography;
using System.Text;
using Npgsql;

namespace Escrow.EventStore;

/// <summary>
/// Applies the plain SQL files of <c>sql/</c> (embedded in this assembly) in name order, each in its own
/// transaction, recording name and SHA-256 checksum in <c>schema_migrations</c>. Re-running is a no-op.
/// A file whose text changed after it was applied stops start-up with <see cref="MigrationChecksumException"/>:
/// applied migrations are history, a change needs a new file. Must run as the schema owner.
/// </summary>
public static class Migrator
{
    // Any constant works; it keeps two silos from migrating the same database at once.
    private const long MigrationLockKey = 0x45_53_43_52_4F_57;

    public sealed record Migration(string Name, string Sql, string Checksum);

    public static IReadOnlyList<Migration> Embedded()
    {
        var asm = typeof(Migrator).Assembly;
        return asm.GetManifestResourceNames()
            .Where(n => n.StartsWith("sql/", StringComparison.Ordinal) && n.EndsWith(".sql", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal)
            .Select(n =>
            {
                using var s = asm.GetManifestResourceStream(n)!;
                using var r = new StreamReader(s, Encoding.UTF8);
                var sql = r.ReadToEnd();
                return new Migration(n["sql/".Length..], sql, Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(sql))));
            })
            .ToList();
    }

    /// <summary>Applies pending migrations; returns the names applied by this call.</summary>
    public static async Task<IReadOnlyList<string>> MigrateAsync(string ownerConnectionString, CancellationToken ct = default)
        => await MigrateAsync(ownerConnectionString, Embedded(), ct).ConfigureAwait(false);

    public static async Task<IReadOnlyList<string>> MigrateAsync(string ownerConnectionString, IReadOnlyList<Migration> migrations, CancellationToken ct = default)
    {
        var conn = new NpgsqlConnection(ownerConnectionString);
        await using var connScope = conn.ConfigureAwait(false);
        await conn.OpenAsync(ct).ConfigureAwait(false);
        var lockCmd = new NpgsqlCommand("SELECT pg_advisory_lock(@k)", conn);
        await using (lockCmd.ConfigureAwait(false))
        {
            lockCmd.Parameters.AddWithValue("k", MigrationLockKey);
            await lockCmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
        try
        {
            var create = new NpgsqlCommand(
                "CREATE TABLE IF NOT EXISTS schema_migrations (name text PRIMARY KEY, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())", conn);
            await using (create.ConfigureAwait(false))
                await create.ExecuteNonQueryAsync(ct).ConfigureAwait(false);

            var applied = new Dictionary<string, string>(StringComparer.Ordinal);
            var read = new NpgsqlCommand("SELECT name, checksum FROM schema_migrations", conn);
            await using (read.ConfigureAwait(false))
            {
                var r = await read.ExecuteReaderAsync(ct).ConfigureAwait(false);
                await using (r.ConfigureAwait(false))
                    while (await r.ReadAsync(ct).ConfigureAwait(false))
                        applied[r.GetString(0)] = r.GetString(1);
            }

            foreach (var m in migrations)
            {
                if (applied.TryGetValue(m.Name, out var sum) && sum != m.Checksum)
                    throw new MigrationChecksumException(m.Name, sum, m.Checksum);
            }

            var done = new List<string>();
            foreach (var m in migrations.Where(m => !applied.ContainsKey(m.Name)))
            {
                var tx = await conn.BeginTransactionAsync(ct).ConfigureAwait(false);
                await using var txScope = tx.ConfigureAwait(false);
                var apply = new NpgsqlCommand(m.Sql, conn, tx);
                await using (apply.ConfigureAwait(false))
                    await apply.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                var record = new NpgsqlCommand("INSERT INTO schema_migrations (name, checksum) VALUES (@n, @c)", conn, tx);
                await using (record.ConfigureAwait(false))
                {
                    record.Parameters.AddWithValue("n", m.Name);
                    record.Parameters.AddWithValue("c", m.Checksum);
                    await record.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                }
                await tx.CommitAsync(ct).ConfigureAwait(false);
                done.Add(m.Name);
            }
            return done;
        }
        finally
        {
            var unlock = new NpgsqlCommand("SELECT pg_advisory_unlock(@k)", conn);
            await using var unlockScope = unlock.ConfigureAwait(false);
            unlock.Parameters.AddWithValue("k", MigrationLockKey);
            await unlock.ExecuteNonQueryAsync(CancellationToken.None).ConfigureAwait(false);
        }
    }
}

/// <summary>An already-applied migration file was edited.</summary>
public sealed class MigrationChecksumException(string name, string applied, string current)
    : Exception($"migration '{name}' was applied with checksum {applied} but the file now has checksum {current}; " +
                "applied migrations must not change, add a new file instead")
{
    public string Name { get; } = name;
}
