using Escrow.EventStore;
using Escrow.Testing;
using Npgsql;

namespace Escrow.EventStore.Tests;

/// <summary>Sealed personal data (<see cref="PersonalData"/>) and the subjects' keys (<see cref="SubjectKeyStore"/>, sql/024).</summary>
public class PersonalDataTests : IClassFixture<PgDatabase>
{
    private readonly PgDatabase _db;
    public PersonalDataTests(PgDatabase db) => _db = db;

    private static string Tenant() => "t" + Guid.NewGuid().ToString("N")[..10];

    [Fact]
    public async Task A_sealed_value_opens_while_every_subject_has_its_key_and_reads_as_erased_once_any_one_of_them_is_destroyed()
    {
        var keys = new SubjectKeyStore(_db.DataSource);
        var tenant = Tenant();
        var both = await keys.SealAsync(tenant, ["cust-1", "cust-2"], "deliver to Jana Novakova, Praha 4");
        var one = await keys.SealAsync(tenant, ["cust-2"], "Petr Svoboda");
        Assert.StartsWith($"pii:v1;{tenant};cust-1,cust-2;", both);
        Assert.DoesNotContain("Novakova", both);
        Assert.Matches(PersonalData.EnvelopePattern(), both!);
        // Deterministic: the same text for the same subjects seals alike (a retried command is byte-identical).
        Assert.Equal(both, await keys.SealAsync(tenant, ["cust-1", "cust-2"], "deliver to Jana Novakova, Praha 4"));
        Assert.NotEqual(both, await keys.SealAsync(tenant, ["cust-2", "cust-1"], "deliver to Jana Novakova, Praha 4"));
        // Blank values and envelopes pass as they are.
        Assert.Null(await keys.SealAsync(tenant, ["cust-1"], null));
        Assert.Equal(" ", await keys.SealAsync(tenant, ["cust-1"], " "));
        Assert.Equal(one, await keys.SealAsync(tenant, ["cust-1"], one));

        Assert.Equal("deliver to Jana Novakova, Praha 4", await keys.OpenAsync(both));
        var fresh = new SubjectKeyStore(_db.DataSource);   // another silo: nothing cached
        Assert.Equal("Petr Svoboda", await fresh.OpenAsync(one));

        var erasedAt = await keys.DestroyAsync(tenant, "cust-1", DateTimeOffset.UtcNow, default);
        Assert.Equal(PersonalData.Erased, await keys.OpenAsync(both));
        Assert.Equal(PersonalData.Erased, await new SubjectKeyStore(_db.DataSource).OpenAsync(both));
        Assert.Equal("Petr Svoboda", await keys.OpenAsync(one));   // cust-2 keeps its key
        // Idempotent: the first erasure's time stays.
        Assert.Equal(erasedAt, await keys.DestroyAsync(tenant, "cust-1", DateTimeOffset.UtcNow.AddHours(1), default));
        Assert.Equal(erasedAt, await keys.ErasedAtAsync(tenant, "cust-1", default));
        await Assert.ThrowsAsync<SubjectErasedException>(() => keys.SealAsync(tenant, ["cust-1"], "anything new"));
        await Assert.ThrowsAsync<SubjectErasedException>(() => fresh.SealAsync(tenant, ["cust-1"], "anything new"));
        // The same subject id of another institution is another subject.
        var elsewhere = await keys.SealAsync(Tenant(), ["cust-1"], "someone else");
        Assert.Equal("someone else", await keys.OpenAsync(elsewhere));
    }

    [Fact]
    public async Task A_relabelled_or_damaged_envelope_does_not_open_and_a_subject_never_seen_cannot_be_read()
    {
        var keys = new SubjectKeyStore(_db.DataSource);
        var tenant = Tenant();
        var sealedValue = (await keys.SealAsync(tenant, ["a-1"], "Alice Example"))!;
        await keys.SealAsync(tenant, ["b-1"], "make b-1's key");
        // The header is authenticated: moving the ciphertext under another subject (who has a key) does not open it.
        Assert.Equal(PersonalData.Unreadable, await keys.OpenAsync(sealedValue.Replace(";a-1;", ";b-1;", StringComparison.Ordinal)));
        var flipped = sealedValue[..^3] + (sealedValue[^3] == 'A' ? 'B' : 'A') + sealedValue[^2..];
        Assert.Equal(PersonalData.Unreadable, await keys.OpenAsync(flipped));
        Assert.Equal(PersonalData.Unreadable, await keys.OpenAsync(sealedValue.Replace(";a-1;", ";nobody;", StringComparison.Ordinal)));
        Assert.Equal("plain text", await keys.OpenAsync("plain text"));
    }

    [Fact]
    public async Task The_database_never_hands_a_destroyed_key_back_nor_replaces_a_key_and_notifies_each_erasure()
    {
        var keys = new SubjectKeyStore(_db.DataSource);
        var tenant = Tenant();
        await keys.SealAsync(tenant, ["k-1", "k-2"], "x");
        await using var owner = _db.OwnerDataSource();
        var replace = await Assert.ThrowsAsync<PostgresException>(async () =>
        {
            await using var cmd = owner.CreateCommand($"UPDATE data_subjects SET key = '\\x{new string('a', 64)}' WHERE tenant = '{tenant}' AND subject = 'k-2'");
            await cmd.ExecuteNonQueryAsync();
        });
        Assert.Contains("cannot be replaced", replace.MessageText);

        await using var listener = await _db.DataSource.OpenConnectionAsync();
        var heard = new List<string>();
        listener.Notification += (_, e) => { lock (heard) heard.Add(e.Channel + " " + e.Payload); };
        await using (var listen = new NpgsqlCommand("LISTEN " + SubjectKeyStore.ErasedChannel, listener)) await listen.ExecuteNonQueryAsync();
        await keys.DestroyAsync(tenant, "k-1", DateTimeOffset.UtcNow, default);
        await keys.DestroyAsync(tenant, "never-seen", DateTimeOffset.UtcNow, default);
        await listener.WaitAsync(TimeSpan.FromSeconds(5));
        await listener.WaitAsync(TimeSpan.FromMilliseconds(300));
        lock (heard)
        {
            Assert.Contains($"{SubjectKeyStore.ErasedChannel} {tenant}/k-1", heard);
            Assert.Contains($"{SubjectKeyStore.ErasedChannel} {tenant}/never-seen", heard);
        }

        var back = await Assert.ThrowsAsync<PostgresException>(async () =>
        {
            await using var cmd = owner.CreateCommand(
                $"UPDATE data_subjects SET key = '\\x{new string('b', 64)}', erased_at = NULL WHERE tenant = '{tenant}' AND subject = 'k-1'");
            await cmd.ExecuteNonQueryAsync();
        });
        Assert.Contains("cannot come back", back.MessageText);
        // A subject erased before anything was sealed for it takes nothing afterwards either.
        await Assert.ThrowsAsync<SubjectErasedException>(() => new SubjectKeyStore(_db.DataSource).SealAsync(tenant, ["never-seen"], "y"));
    }
}
