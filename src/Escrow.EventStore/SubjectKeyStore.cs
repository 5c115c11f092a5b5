using System.Collections.Concurrent;
using Npgsql;
using NpgsqlTypes;

namespace Escrow.EventStore;

/// <summary>A write names a data subject whose personal data was erased: nothing more may be sealed for it.</summary>
public sealed class SubjectErasedException(string tenant, string subject)
    : Exception($"the personal data of subject '{subject}' (institution '{tenant}') was erased; use a new subject id")
{
    public string Tenant { get; } = tenant;
    public string Subject { get; } = subject;
}

/// <summary>
/// The data subjects' keys (table <c>data_subjects</c>, migration 024), with a cache per process. A key is made the first
/// time something is sealed for its subject and lives until the subject is erased (<see cref="DestroyAsync"/>): then the
/// row keeps only the time. The cache holds keys and erasures; a destroyed key leaves every silo's cache when the database
/// notifies <see cref="ErasedChannel"/> (the table's trigger, on commit), and a silo that lost its listening session
/// forgets everything (<see cref="ForgetAll"/>).
/// <para>Keys are held in the clear in PostgreSQL here. To keep them in a KMS or an HSM instead, store each key wrapped by a
/// key-encryption key that never leaves it (envelope encryption) and unwrap on load; docs/compliance.md.</para>
/// </summary>
public sealed class SubjectKeyStore(NpgsqlDataSource dataSource)
{
    /// <summary>The LISTEN/NOTIFY channel of erasures; the payload is <c>{tenant}/{subject}</c>.</summary>
    public const string ErasedChannel = "escrow_subject_erased";

    /// <summary>A cached subject: its key, or null once erased.</summary>
    private sealed record Entry(byte[]? Key);

    /// <summary>More cached subjects than this and the cache starts again empty (it refills from the table).</summary>
    private const int MaxCached = 200_000;

    private readonly ConcurrentDictionary<(string Tenant, string Subject), Entry> _cache = new();

    /// <summary>
    /// Counts <see cref="Forget"/> and <see cref="ForgetAll"/> calls. A key read from the table is cached only when no erasure
    /// was heard while the read was under way: else the notification may have come before the read's answer, and the key
    /// read before the erasure committed would stay cached.
    /// </summary>
    private long _generation;

    /// <summary>
    /// The keys of <paramref name="subjects"/> (same order), made for those that have none yet. Throws
    /// <see cref="SubjectErasedException"/> when one was erased.
    /// </summary>
    public async Task<IReadOnlyList<byte[]>> KeysForSealingAsync(string tenant, IReadOnlyList<string> subjects, CancellationToken ct)
    {
        foreach (var s in subjects)
            if (!PersonalData.IsSubjectId(s)) throw new ArgumentException($"'{s}' is not a subject id", nameof(subjects));
        var found = new Dictionary<string, byte[]?>(StringComparer.Ordinal);
        foreach (var s in subjects)
            if (_cache.TryGetValue((tenant, s), out var cached)) found[s] = cached.Key;
        var missing = subjects.Where(s => !found.ContainsKey(s)).Distinct(StringComparer.Ordinal).ToArray();
        if (missing.Length > 0)
        {
            var generation = Interlocked.Read(ref _generation);
            var batch = dataSource.CreateBatch();
            await using var batchScope = batch.ConfigureAwait(false);
            var insert = new NpgsqlBatchCommand(
                "INSERT INTO data_subjects (tenant, subject, key) SELECT $1, s, k FROM unnest($2::text[], $3::bytea[]) AS t(s, k) ON CONFLICT DO NOTHING");
            insert.Parameters.Add(new() { Value = tenant });
            insert.Parameters.Add(new() { Value = missing });
            insert.Parameters.Add(new() { Value = missing.Select(_ => PersonalData.NewKey()).ToArray() });
            batch.BatchCommands.Add(insert);
            batch.BatchCommands.Add(Select(tenant, missing));
            var reader = await batch.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await using var readerScope = reader.ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                var key = reader.IsDBNull(1) ? null : reader.GetFieldValue<byte[]>(1);
                found[reader.GetString(0)] = key;
                Remember(tenant, reader.GetString(0), key, generation);
            }
        }
        var keys = new byte[subjects.Count][];
        for (var i = 0; i < subjects.Count; i++)
        {
            if (!found.TryGetValue(subjects[i], out var key)) throw new InvalidOperationException($"subject {tenant}/{subjects[i]} has no row");
            keys[i] = key ?? throw new SubjectErasedException(tenant, subjects[i]);
        }
        return keys;
    }

    /// <summary>Seals <paramref name="text"/> for <paramref name="subjects"/> (see <see cref="PersonalData.Seal"/>).</summary>
    public async Task<string?> SealAsync(string tenant, IReadOnlyList<string> subjects, string? text, CancellationToken ct = default)
    {
        if (string.IsNullOrWhiteSpace(text) || PersonalData.IsSealed(text)) return text;
        return PersonalData.Seal(tenant, subjects, await KeysForSealingAsync(tenant, subjects, ct).ConfigureAwait(false), text);
    }

    /// <summary>
    /// Opens every envelope in <paramref name="envelopes"/>: the text, <see cref="PersonalData.Erased"/> or
    /// <see cref="PersonalData.Unreadable"/> for each (one query for the subjects not cached).
    /// </summary>
    public async Task<IReadOnlyDictionary<string, string>> OpenAllAsync(IEnumerable<string> envelopes, CancellationToken ct)
    {
        var distinct = envelopes.Distinct(StringComparer.Ordinal).ToList();
        var wanted = new HashSet<(string, string)>();
        var found = new Dictionary<(string, string), byte[]?>();
        foreach (var env in distinct)
            if (PersonalData.TryParse(env, out var t, out var ss))
                foreach (var s in ss)
                    if (_cache.TryGetValue((t, s), out var cached)) found[(t, s)] = cached.Key;
                    else wanted.Add((t, s));
        if (wanted.Count > 0)
        {
            var generation = Interlocked.Read(ref _generation);
            var cmd = dataSource.CreateCommand(
                "SELECT d.subject, d.key, d.tenant FROM data_subjects d JOIN unnest($1::text[], $2::text[]) AS w(t, s) ON d.tenant = w.t AND d.subject = w.s");
            cmd.Parameters.Add(new() { Value = wanted.Select(w => w.Item1).ToArray() });
            cmd.Parameters.Add(new() { Value = wanted.Select(w => w.Item2).ToArray() });
            await using var cmdScope = cmd.ConfigureAwait(false);
            var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await using var readerScope = reader.ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                var (tenant, subject) = (reader.GetString(2), reader.GetString(0));
                var key = reader.IsDBNull(1) ? null : reader.GetFieldValue<byte[]>(1);
                found[(tenant, subject)] = key;
                Remember(tenant, subject, key, generation);
            }
        }
        var opened = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var env in distinct)
        {
            PersonalData.TryParse(env, out var tenant, out _);
            opened[env] = PersonalData.Open(env,
                s => found.TryGetValue((tenant, s), out var k) ? k : null,
                s => found.TryGetValue((tenant, s), out var k) && k is null);   // a row without a key: erased (no row: unreadable)
        }
        return opened;
    }

    /// <summary>Opens one envelope (see <see cref="OpenAllAsync"/>); text that is not an envelope is returned as it is.</summary>
    public async Task<string?> OpenAsync(string? value, CancellationToken ct = default) =>
        PersonalData.IsSealed(value) ? (await OpenAllAsync([value!], ct).ConfigureAwait(false))[value!] : value;

    /// <summary>
    /// Destroys the key of a subject (idempotent; a subject never seen gets a row that says it was erased, so nothing can be
    /// sealed for it afterwards). Answers when the key was destroyed (the first erasure's time).
    /// </summary>
    public async Task<DateTimeOffset> DestroyAsync(string tenant, string subject, DateTimeOffset at, CancellationToken ct)
    {
        var cmd = dataSource.CreateCommand("""
            INSERT INTO data_subjects AS d (tenant, subject, key, erased_at) VALUES ($1, $2, NULL, $3)
            ON CONFLICT (tenant, subject) DO UPDATE SET key = NULL, erased_at = COALESCE(d.erased_at, EXCLUDED.erased_at)
            RETURNING erased_at
            """);
        cmd.Parameters.Add(new() { Value = tenant });
        cmd.Parameters.Add(new() { Value = subject });
        cmd.Parameters.Add(new() { Value = at, NpgsqlDbType = NpgsqlDbType.TimestampTz });
        await using var cmdScope = cmd.ConfigureAwait(false);
        var erasedAt = (DateTime)(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
        Interlocked.Increment(ref _generation);
        _cache[(tenant, subject)] = new Entry(null);
        return new DateTimeOffset(erasedAt, TimeSpan.Zero);
    }

    /// <summary>When <paramref name="subject"/>'s key was destroyed, or null (it has a key, or none was ever made).</summary>
    public async Task<DateTimeOffset?> ErasedAtAsync(string tenant, string subject, CancellationToken ct)
    {
        var cmd = dataSource.CreateCommand("SELECT erased_at FROM data_subjects WHERE tenant = $1 AND subject = $2");
        await using var cmdScope = cmd.ConfigureAwait(false);
        cmd.Parameters.Add(new() { Value = tenant });
        cmd.Parameters.Add(new() { Value = subject });
        return await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false) is DateTime t ? new DateTimeOffset(t, TimeSpan.Zero) : null;
    }

    /// <summary>Drops one subject (<c>{tenant}/{subject}</c>, the notification's payload) from this process's cache.</summary>
    public void Forget(string tenantSlashSubject)
    {
        var slash = tenantSlashSubject.IndexOf('/');
        Interlocked.Increment(ref _generation);
        if (slash > 0) _cache.TryRemove((tenantSlashSubject[..slash], tenantSlashSubject[(slash + 1)..]), out _);
    }

    /// <summary>Empties this process's cache (its listening session was lost: erasures meanwhile went unheard).</summary>
    public void ForgetAll()
    {
        Interlocked.Increment(ref _generation);
        _cache.Clear();
    }

    private static NpgsqlBatchCommand Select(string tenant, string[] subjects)
    {
        var select = new NpgsqlBatchCommand("SELECT subject, key FROM data_subjects WHERE tenant = $1 AND subject = ANY($2)");
        select.Parameters.Add(new() { Value = tenant });
        select.Parameters.Add(new() { Value = subjects });
        return select;
    }

    /// <summary>Caches what a read that began at <paramref name="generation"/> found, unless an erasure was heard since.</summary>
    private void Remember(string tenant, string subject, byte[]? key, long generation)
    {
        if (key is not null && Interlocked.Read(ref _generation) != generation) return;
        if (_cache.Count >= MaxCached) _cache.Clear();
        _cache[(tenant, subject)] = new Entry(key);
    }
}
