using Escrow.EventStore;
using Npgsql;

namespace Escrow.Testing;

/// <summary>
/// A throwaway database per test class on the test PostgreSQL server named by <c>ESCROW_TEST_PG</c>
/// (deploy/test.sh starts one). Migrated as the owner; <see cref="AppConnectionString"/> connects as the
/// restricted application role, exactly like a silo.
/// </summary>
public sealed class PgDatabase : IAsyncLifetime
{
    public string Name { get; } = "t_" + Guid.NewGuid().ToString("N")[..16];
    public string AdminConnectionString { get; private set; } = "";
    public string OwnerConnectionString { get; private set; } = "";
    public string AppConnectionString { get; private set; } = "";
    public NpgsqlDataSource DataSource { get; private set; } = null!;
    public PgEventStore Store { get; private set; } = null!;

    /// <summary>Migrate only up to this migration (its file name's number, e.g. "020"): a database as an older release left it.</summary>
    public string? MigrateUpTo { get; init; }

    public static string ServerConnectionString =>
        Environment.GetEnvironmentVariable("ESCROW_TEST_PG") is { Length: > 0 } cs
            ? cs
            : throw new InvalidOperationException(
                "ESCROW_TEST_PG is not set: run the tests with 'bash deploy/test.sh', which starts a throwaway PostgreSQL");

    public async Task InitializeAsync()
    {
        AdminConnectionString = ServerConnectionString;
        await using (var admin = new NpgsqlConnection(AdminConnectionString))
        {
            await admin.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE {Name}", admin);
            await create.ExecuteNonQueryAsync();
        }
        OwnerConnectionString = new NpgsqlConnectionStringBuilder(AdminConnectionString) { Database = Name }.ConnectionString;
        AppConnectionString = new NpgsqlConnectionStringBuilder(AdminConnectionString) { Database = Name, Username = "escrow_app", MaxPoolSize = 100 }.ConnectionString;
        await Migrator.MigrateAsync(OwnerConnectionString, MigrateUpTo is { } upTo
            ? [.. Migrator.Embedded().Where(m => string.CompareOrdinal(m.Name[..3], upTo) <= 0)]
            : Migrator.Embedded());
        DataSource = NpgsqlDataSource.Create(AppConnectionString);
        Store = new PgEventStore(DataSource);
    }

    public NpgsqlDataSource OwnerDataSource() => NpgsqlDataSource.Create(OwnerConnectionString);

    public async Task<T> ScalarAsync<T>(string sql)
    {
        await using var ds = OwnerDataSource();
        await using var cmd = ds.CreateCommand(sql);
        var value = await cmd.ExecuteScalarAsync();
        return value is DBNull ? default! : (T)value!;   // SQL NULL reads as null (a poll may see a column not yet set)
    }

    /// <summary>The first column of every row of <paramref name="sql"/>, in order.</summary>
    public async Task<List<T>> QueryListAsync<T>(string sql)
    {
        await using var ds = OwnerDataSource();
        await using var cmd = ds.CreateCommand(sql);
        await using var r = await cmd.ExecuteReaderAsync();
        var list = new List<T>();
        while (await r.ReadAsync()) list.Add(r.GetFieldValue<T>(0));
        return list;
    }

    public async Task ExecAsOwnerAsync(string sql)
    {
        await using var ds = OwnerDataSource();
        await using var cmd = ds.CreateCommand(sql);
        await cmd.ExecuteNonQueryAsync();
    }

    public async Task DisposeAsync()
    {
        await DataSource.DisposeAsync();
        NpgsqlConnection.ClearAllPools();
        await using var admin = new NpgsqlConnection(AdminConnectionString);
        await admin.OpenAsync();
        await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS {Name} WITH (FORCE)", admin);
        await drop.ExecuteNonQueryAsync();
    }
}
