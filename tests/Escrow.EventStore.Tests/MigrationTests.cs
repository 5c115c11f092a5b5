using Escrow.EventStore;
using Escrow.Testing;
using Npgsql;

namespace Escrow.EventStore.Tests;

public class MigrationTests : IClassFixture<PgDatabase>
{
    private readonly PgDatabase _db;
    public MigrationTests(PgDatabase db) => _db = db;

    [Fact]
    public async Task Rerunning_migrations_is_a_no_op()
    {
        var applied = await Migrator.MigrateAsync(_db.OwnerConnectionString);
        Assert.Empty(applied);
        Assert.Equal(Migrator.Embedded().Count, (int)await _db.ScalarAsync<long>("SELECT count(*) FROM schema_migrations"));
    }

    [Fact]
    public async Task An_edited_applied_migration_stops_start_up_with_a_clear_error()
    {
        var edited = Migrator.Embedded().Select((m, i) => i == 0 ? m with { Checksum = "0000", Sql = m.Sql + "\n-- edited" } : m).ToList();
        var ex = await Assert.ThrowsAsync<MigrationChecksumException>(() => Migrator.MigrateAsync(_db.OwnerConnectionString, edited));
        Assert.Contains(edited[0].Name, ex.Message);
        Assert.Contains("must not change", ex.Message);
    }

    [Fact]
    public async Task A_new_migration_file_is_applied_once_and_recorded_with_its_checksum()
    {
        var extra = new Migrator.Migration("999_test_extra.sql", "CREATE TABLE test_extra (id int)", "abc123");
        var list = Migrator.Embedded().Append(extra).ToList();
        Assert.Equal(["999_test_extra.sql"], await Migrator.MigrateAsync(_db.OwnerConnectionString, list));
        Assert.Empty(await Migrator.MigrateAsync(_db.OwnerConnectionString, list));
        Assert.Equal("abc123", await _db.ScalarAsync<string>("SELECT checksum FROM schema_migrations WHERE name = '999_test_extra.sql'"));
    }
}
