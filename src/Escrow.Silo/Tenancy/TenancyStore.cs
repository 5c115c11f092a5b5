using System.Security.Cryptography;
using System.Text;
using Escrow.EventStore;
using Npgsql;

namespace Escrow.Silo.Tenancy;

public sealed record Institution(string InstitutionId, string Name, DateTimeOffset CreatedAt, string CreatedBy, int Keys);

/// <summary>A key as created: <see cref="ApiKey"/> is the secret, shown this once and stored only as its SHA-256.</summary>
public sealed record CreatedKey(string KeyId, string InstitutionId, string Role, string? Name, string ApiKey);

/// <summary>A revoked key: it no longer authenticates (at once on the silo that revoked it, within the key cache time on the others).</summary>
public sealed record RevokedKey(string KeyId, string InstitutionId, DateTimeOffset RevokedAt, string RevokedBy, string? Reason);

/// <summary>Institutions and API keys in PostgreSQL (application role: SELECT and INSERT only).</summary>
public sealed class TenancyStore(PgEventStore store, [FromKeyedServices(LedgerClock.Key)] TimeProvider clock)
{
    /// <summary>A new key: "esk_" and 256 random bits, base64url.</summary>
    public static string NewSecret() => "esk_" + Base64Url(RandomNumberGenerator.GetBytes(32));

    public static byte[] Hash(string key) => SHA256.HashData(Encoding.UTF8.GetBytes(key));

    private static string Base64Url(byte[] b) => Convert.ToBase64String(b).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>The INSERT of a new institution, for a caller's batch; fails with a unique violation on <c>institutions_pkey</c> when the id is taken.</summary>
    public NpgsqlBatchCommand InstitutionInsert(string id, string name, string actor, DateTimeOffset at)
    {
        var c = new NpgsqlBatchCommand("INSERT INTO institutions (institution_id, name, created_by, created_at) VALUES ($1, $2, $3, $4)");
        c.Parameters.Add(new() { Value = id });
        c.Parameters.Add(new() { Value = name });
        c.Parameters.Add(new() { Value = actor });
        c.Parameters.Add(new() { Value = at });
        return c;
    }

    /// <summary>Creates an institution with its audit record in one transaction; false when the id is taken.</summary>
    public async Task<bool> CreateInstitutionAsync(string id, string name, string actor, AuditRecord audit, CancellationToken ct)
    {
        try
        {
            await OutcomeAwareWrites.ExecuteAsync(store.DataSource, batch =>
            {
                batch.BatchCommands.Add(InstitutionInsert(id, name, actor, clock.GetUtcNow()));
                batch.BatchCommands.Add(PgEventStore.AuditInsert(audit));
            }, ct).ConfigureAwait(false);
            return true;
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.UniqueViolation && ex.ConstraintName == "institutions_pkey")
        {
            return false;
        }
    }

    /// <summary>
    /// A new key of <paramref name="role"/> for an institution, and the INSERT that stores it (its secret only as SHA-256),
    /// for a caller's batch; the INSERT fails with a foreign-key violation when the institution does not exist.
    /// </summary>
    public (CreatedKey Key, NpgsqlBatchCommand Insert) NewKey(string institution, Role role, string? name, string actor)
    {
        var secret = NewSecret();
        var keyId = "key_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
        var c = new NpgsqlBatchCommand(
            "INSERT INTO api_keys (key_id, institution_id, role, name, secret_sha256, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)");
        c.Parameters.Add(new() { Value = keyId });
        c.Parameters.Add(new() { Value = institution });
        c.Parameters.Add(new() { Value = Caller.RoleName(role) });
        c.Parameters.Add(new() { Value = (object?)name ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
        c.Parameters.Add(new() { Value = Hash(secret) });
        c.Parameters.Add(new() { Value = actor });
        c.Parameters.Add(new() { Value = clock.GetUtcNow() });
        return (new CreatedKey(keyId, institution, Caller.RoleName(role), name, secret), c);
    }

    /// <summary>Creates a key of <paramref name="role"/> for an institution, with its audit record; null when the institution does not exist.</summary>
    public async Task<CreatedKey?> CreateKeyAsync(string institution, Role role, string? name, string actor, AuditRecord audit, CancellationToken ct)
    {
        var (key, insert) = NewKey(institution, role, name, actor);
        try
        {
            await OutcomeAwareWrites.ExecuteAsync(store.DataSource, batch =>
            {
                batch.BatchCommands.Add(insert);
                batch.BatchCommands.Add(PgEventStore.AuditInsert(audit with { StreamIds = [.. audit.StreamIds, key.KeyId] }));
            }, ct).ConfigureAwait(false);
            return key;
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.ForeignKeyViolation)
        {
            return null;
        }
    }

    /// <summary>Whether institution <paramref name="id"/> exists.</summary>
    public async Task<bool> InstitutionExistsAsync(string id, CancellationToken ct)
    {
        await using var cmd = store.DataSource.CreateCommand("SELECT EXISTS (SELECT 1 FROM institutions WHERE institution_id = $1)");
        cmd.Parameters.Add(new() { Value = id });
        return (bool)(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
    }

    /// <summary>Whether <paramref name="keyId"/> is a key of <paramref name="institution"/> (keys are never deleted).</summary>
    public async Task<bool> KeyExistsAsync(string institution, string keyId, CancellationToken ct)
    {
        await using var cmd = store.DataSource.CreateCommand("SELECT EXISTS (SELECT 1 FROM api_keys WHERE key_id = $1 AND institution_id = $2)");
        cmd.Parameters.Add(new() { Value = keyId });
        cmd.Parameters.Add(new() { Value = institution });
        return (bool)(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
    }

    /// <summary>
    /// The INSERT that revokes a key, for a caller's batch; fails with a unique violation on <c>api_key_revocations_pkey</c>
    /// when it is already revoked.
    /// </summary>
    public static NpgsqlBatchCommand RevocationInsert(string keyId, DateTimeOffset at, string actor, string? reason)
    {
        var c = new NpgsqlBatchCommand("INSERT INTO api_key_revocations (key_id, revoked_at, revoked_by, reason) VALUES ($1, $2, $3, $4)");
        c.Parameters.Add(new() { Value = keyId });
        c.Parameters.Add(new() { Value = at });
        c.Parameters.Add(new() { Value = actor });
        c.Parameters.Add(new() { Value = (object?)reason ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
        return c;
    }

    public async Task<IReadOnlyList<Institution>> ListInstitutionsAsync(CancellationToken ct)
    {
        await using var cmd = store.DataSource.CreateCommand(
            """
            SELECT i.institution_id, i.name, i.created_at, i.created_by, (SELECT count(*) FROM api_keys k WHERE k.institution_id = i.institution_id)::int
            FROM institutions i ORDER BY i.institution_id
            """);
        var list = new List<Institution>();
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false))
            list.Add(new Institution(r.GetString(0), r.GetString(1), r.GetFieldValue<DateTimeOffset>(2), r.GetString(3), r.GetInt32(4)));
        return list;
    }

    /// <summary>The key whose secret hashes to <paramref name="sha256"/>, if any.</summary>
    public async Task<Caller?> FindKeyAsync(byte[] sha256, CancellationToken ct)
    {
        // A revoked key (sql/017) no longer authenticates.
        await using var cmd = store.DataSource.CreateCommand(
            "SELECT k.key_id, k.institution_id, k.role FROM api_keys k WHERE k.secret_sha256 = $1 " +
            "AND NOT EXISTS (SELECT 1 FROM api_key_revocations r WHERE r.key_id = k.key_id)");
        cmd.Parameters.Add(new() { Value = sha256 });
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        if (!await r.ReadAsync(ct).ConfigureAwait(false)) return null;
        return Caller.TryParseRole(r.GetString(2), out var role) ? new Caller(r.GetString(0), r.GetString(1), role) : null;
    }
}
