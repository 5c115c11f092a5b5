using System.Data;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Npgsql;

namespace Escrow.EventStore;

/// <summary>One stream's head as a checkpoint saw it: its (stored) id, last version and the chain hash recomputed from content.</summary>
public sealed record CheckpointLeaf(string Stream, long Version, string Hash);

/// <summary>
/// What a checkpoint attests (and what is signed): the log's commit-order position, how many streams and events lie at or
/// before it, and the Merkle root over every stream's head (<see cref="LogCheckpoints.MerkleRoot"/>), at <see cref="CreatedAt"/>.
/// </summary>
public sealed record CheckpointStatement(string Format, DateTimeOffset CreatedAt, string TransactionId, long GlobalPosition, long Streams, long Events, string MerkleRoot);

/// <summary>A signed checkpoint as written to a file: the statement, the signature over its canonical JSON, the signer's public key, and the leaves.</summary>
public sealed record SignedCheckpoint(CheckpointStatement Statement, string Algorithm, string PublicKey, string Signature, IReadOnlyList<CheckpointLeaf> Leaves);

/// <summary>The outcome of checking a checkpoint against the log: <see cref="Findings"/> names every difference (empty when it holds).</summary>
public sealed record CheckpointCheck(bool Ok, IReadOnlyList<string> Findings, long StreamsChecked, long EventsChecked);

/// <summary>
/// Signed checkpoints: attestation of the whole log without trusting the database. A checkpoint folds every event at or
/// below the commit-safe horizon in commit order, recomputes each stream's SHA-256 chain from the events' content (not
/// from the stored hashes), and commits to every stream's head in one Merkle root (leaf <c>SHA-256(0x00 ‖ stream ‖ 0x00 ‖
/// version, 8 bytes big-endian ‖ head hash)</c>, node <c>SHA-256(0x01 ‖ left ‖ right)</c>, leaves ordered by stream id,
/// an odd node carried up: the domain-separated shape of RFC 6962's Merkle tree). The operator signs the statement with an
/// ECDSA P-256 key held outside the database. Checking it later folds the log again up to the same position: an event
/// changed, inserted or deleted at or before it changes its stream's head, even when the forger recomputed the stored
/// chain, and the stream is named with the versions concerned.
/// </summary>
public static class LogCheckpoints
{
    public const string Format = "orleans-escrow-checkpoint/1";
    public const string Algorithm = "ECDSA-P256-SHA256";

    public static readonly JsonSerializerOptions FileJson = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    /// <summary>
    /// Every stream's head (by stored id) recomputed from content, folding the events at or before <paramref name="upTo"/>
    /// (null: at or below the commit-safe horizon, whose set of events can no longer change), in one REPEATABLE READ
    /// snapshot; and the position of the last event folded.
    /// </summary>
    private static async Task<(SortedDictionary<string, (long Version, byte[] Hash)> Heads, GlobalCheckpoint Last, long Events, List<string> Broken)> FoldAsync(
        PgEventStore store, GlobalCheckpoint? upTo, CancellationToken ct)
    {
        var heads = new SortedDictionary<string, (long Version, byte[] Hash)>(StringComparer.Ordinal);
        var broken = new List<string>();
        var last = GlobalCheckpoint.Start;
        long events = 0;
        var conn = await store.DataSource.OpenConnectionAsync(ct).ConfigureAwait(false);
        await using var connScope = conn.ConfigureAwait(false);
        var tx = await conn.BeginTransactionAsync(IsolationLevel.RepeatableRead, ct).ConfigureAwait(false);
        await using var txScope = tx.ConfigureAwait(false);
        // Streams whose first months were archived continue from their head in the newest month archived at or before the
        // position (a checkpoint older than later archived months folds as it saw the log); the archived events count as
        // folded (their chains are checked against the files by escrow verify --archive). A month archived across the
        // position holds events the fold would need: it is named, the checkpoint cannot be checked without that file.
        var position = upTo?.Position ?? long.MaxValue;
        var straddling = new NpgsqlCommand("SELECT to_char(month, 'YYYY-MM') FROM event_archives WHERE first_position <= $1 AND last_position > $1", conn, tx);
        await using (straddling.ConfigureAwait(false))
        {
            straddling.Parameters.Add(new() { Value = position });
            var r = await straddling.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await using var rScope = r.ConfigureAwait(false);
            while (await r.ReadAsync(ct).ConfigureAwait(false))
                broken.Add($"the events up to the checkpoint's position include month {r.GetString(0)}, which is archived: check it with escrow verify --archive and an older checkpoint");
        }
        var seed = new NpgsqlCommand("""
            SELECT DISTINCT ON (h.stream_id) h.stream_id, h.last_version, h.last_hash
            FROM archived_stream_heads h JOIN event_archives a ON a.month = h.month
            WHERE a.last_position <= $1 ORDER BY h.stream_id, h.last_version DESC
            """, conn, tx);
        await using (seed.ConfigureAwait(false))
        {
            seed.Parameters.Add(new() { Value = position });
            var r = await seed.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await using var rScope = r.ConfigureAwait(false);
            while (await r.ReadAsync(ct).ConfigureAwait(false)) heads[r.GetString(0)] = (r.GetInt64(1), (byte[])r[2]);
        }
        var archivedEvents = new NpgsqlCommand("SELECT coalesce(sum(events), 0)::bigint FROM event_archives WHERE last_position <= $1", conn, tx);
        await using (archivedEvents.ConfigureAwait(false))
        {
            archivedEvents.Parameters.Add(new() { Value = position });
            events = (long)(await archivedEvents.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
        }
        var cursor = GlobalCheckpoint.Start;
        while (true)
        {
            var page = await store.ReadAllAsync(cursor, 5000, untilHorizon: upTo is null, ct, conn, tx).ConfigureAwait(false);
            if (page.Count == 0) break;
            foreach (var e in page)
            {
                if (upTo is { } limit && e.Checkpoint.CompareTo(limit) > 0) goto done;
                var (version, prev) = heads.TryGetValue(e.StoredStreamId, out var h) ? h : (0L, HashChain.Genesis);
                if (e.Version != version + 1)
                    broken.Add($"stream {e.StoredStreamId}: version {e.Version} follows version {version} (global position {e.GlobalPosition})");
                var hash = HashChain.Compute(prev, e.StoredStreamId, e.Version, e.EventType, e.SchemaVersion, e.OccurredAt, e.DataJson, e.MetadataJson);
                if (!hash.AsSpan().SequenceEqual(e.Hash))
                    broken.Add($"stream {e.StoredStreamId} version {e.Version} (global position {e.GlobalPosition}): the stored hash does not match the event's content");
                heads[e.StoredStreamId] = (e.Version, hash);
                last = e.Checkpoint;
                events++;
            }
            cursor = page[^1].Checkpoint;
        }
        done:
        await tx.CommitAsync(ct).ConfigureAwait(false);
        return (heads, last, events, broken);
    }

    /// <summary>
    /// Computes a checkpoint of the log as it stands (every event below the commit-safe horizon, once that has passed the
    /// events committed when the call began), stamped <paramref name="now"/>.
    /// Throws <see cref="InvalidOperationException"/> when a stored hash does not match its event's content (the log is
    /// already broken: <c>escrow verify</c> names where).
    /// </summary>
    public static async Task<(CheckpointStatement Statement, IReadOnlyList<CheckpointLeaf> Leaves)> ComputeAsync(PgEventStore store, DateTimeOffset now, CancellationToken ct)
    {
        await WaitForHorizonAsync(store, ct).ConfigureAwait(false);
        var (heads, last, events, broken) = await FoldAsync(store, null, ct).ConfigureAwait(false);
        if (broken.Count > 0) throw new InvalidOperationException("the log's chains are broken; no checkpoint taken: " + string.Join("; ", broken.Take(5)));
        var leaves = heads.Select(kv => new CheckpointLeaf(kv.Key, kv.Value.Version, Convert.ToHexStringLower(kv.Value.Hash))).ToList();
        var statement = new CheckpointStatement(Format, now, last.TransactionId.ToString(CultureInfo.InvariantCulture), last.Position, leaves.Count, events,
            Convert.ToHexStringLower(MerkleRoot(leaves)));
        return (statement, leaves);
    }

    /// <summary>How long <see cref="ComputeAsync"/> waits for the commit-safe horizon to pass the events committed when it began.</summary>
    public static readonly TimeSpan HorizonWait = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Waits until every transaction older than the newest committed event has ended (the horizon is cluster-wide: a long
    /// transaction in any database holds it back), so the checkpoint covers everything committed when it began; after
    /// <see cref="HorizonWait"/> it goes on with what is final by then.
    /// </summary>
    private static async Task WaitForHorizonAsync(PgEventStore store, CancellationToken ct)
    {
        var cmd = store.DataSource.CreateCommand(
            """
            SELECT coalesce((SELECT pg_snapshot_xmin(pg_current_snapshot()) > e.transaction_id
                             FROM events e ORDER BY e.transaction_id DESC, e.global_position DESC LIMIT 1), true)
            """);
        await using var cmdScope = cmd.ConfigureAwait(false);
        var waiting = System.Diagnostics.Stopwatch.StartNew();
        while (!(bool)(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false))! && waiting.Elapsed < HorizonWait)
            await Task.Delay(50, ct).ConfigureAwait(false);
    }

    /// <summary>The Merkle root over <paramref name="leaves"/> in stream-id order (32 zero bytes for none).</summary>
    public static byte[] MerkleRoot(IReadOnlyList<CheckpointLeaf> leaves)
    {
        if (leaves.Count == 0) return new byte[32];
        var level = leaves.OrderBy(l => l.Stream, StringComparer.Ordinal).Select(LeafHash).ToList();
        while (level.Count > 1)
        {
            var next = new List<byte[]>((level.Count + 1) / 2);
            for (var i = 0; i < level.Count; i += 2)
                next.Add(i + 1 < level.Count ? SHA256.HashData([0x01, .. level[i], .. level[i + 1]]) : level[i]);
            level = next;
        }
        return level[0];
    }

    private static byte[] LeafHash(CheckpointLeaf leaf)
    {
        var version = new byte[8];
        System.Buffers.Binary.BinaryPrimitives.WriteInt64BigEndian(version, leaf.Version);
        return SHA256.HashData([0x00, .. Encoding.UTF8.GetBytes(leaf.Stream), 0x00, .. version, .. Convert.FromHexString(leaf.Hash)]);
    }

    /// <summary>The bytes that are signed: the statement's canonical JSON (sorted keys, compact).</summary>
    public static byte[] SignedBytes(CheckpointStatement statement) => HashChain.Canonical(JsonSerializer.Serialize(statement, FileJson));

    /// <summary>Signs the statement with <paramref name="key"/> (ECDSA P-256, SHA-256; IEEE P1363 signature).</summary>
    public static SignedCheckpoint Sign(CheckpointStatement statement, IReadOnlyList<CheckpointLeaf> leaves, ECDsa key) =>
        new(statement, Algorithm, Convert.ToBase64String(key.ExportSubjectPublicKeyInfo()),
            Convert.ToBase64String(key.SignData(SignedBytes(statement), HashAlgorithmName.SHA256)), leaves);

    /// <summary>
    /// Checks <paramref name="checkpoint"/> against the log: its signature (by <paramref name="trustedKey"/> when given, else
    /// by the key it names), its leaves against its root, and the log folded again up to its position against every leaf.
    /// </summary>
    public static async Task<CheckpointCheck> VerifyAsync(PgEventStore store, SignedCheckpoint checkpoint, ECDsa? trustedKey, CancellationToken ct)
    {
        var findings = new List<string>();
        var s = checkpoint.Statement;
        if (s.Format != Format || checkpoint.Algorithm != Algorithm)
            return new CheckpointCheck(false, [$"not a checkpoint this version can check ({s.Format}, {checkpoint.Algorithm})"], 0, 0);
        using (var named = ECDsa.Create())
        {
            named.ImportSubjectPublicKeyInfo(Convert.FromBase64String(checkpoint.PublicKey), out _);
            var key = trustedKey ?? named;
            if (trustedKey is not null && !trustedKey.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(named.ExportSubjectPublicKeyInfo()))
                findings.Add("the checkpoint names another signer than the trusted public key");
            if (!key.VerifyData(SignedBytes(s), Convert.FromBase64String(checkpoint.Signature), HashAlgorithmName.SHA256))
                findings.Add("the signature does not hold: the statement is not the one signed");
        }
        if (Convert.ToHexStringLower(MerkleRoot(checkpoint.Leaves)) != s.MerkleRoot)
            findings.Add("the checkpoint's leaves do not hash to its signed Merkle root: the file was changed");

        var upTo = new GlobalCheckpoint(ulong.Parse(s.TransactionId, CultureInfo.InvariantCulture), s.GlobalPosition);
        var (heads, _, events, broken) = await FoldAsync(store, upTo, ct).ConfigureAwait(false);
        findings.AddRange(broken);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var leaf in checkpoint.Leaves)
        {
            seen.Add(leaf.Stream);
            if (!heads.TryGetValue(leaf.Stream, out var now))
                findings.Add($"stream {leaf.Stream}: the checkpoint saw versions 1..{leaf.Version}; the log has none of them (deleted)");
            else if (now.Version < leaf.Version)
                findings.Add($"stream {leaf.Stream}: the checkpoint saw versions 1..{leaf.Version}; the log ends at {now.Version} (versions {now.Version + 1}..{leaf.Version} deleted)");
            else if (now.Version > leaf.Version)
                findings.Add($"stream {leaf.Stream}: the log holds versions {leaf.Version + 1}..{now.Version} at or before the checkpoint's position, which it did not see (inserted)");
            else if (Convert.ToHexStringLower(now.Hash) != leaf.Hash)
                findings.Add($"stream {leaf.Stream}: versions 1..{leaf.Version} no longer hash to the head the checkpoint saw (an event at or before version {leaf.Version} was changed)");
        }
        foreach (var (stream, head) in heads)
            if (!seen.Contains(stream))
                findings.Add($"stream {stream}: versions 1..{head.Version} lie at or before the checkpoint's position, which saw no such stream (inserted)");
        if (events != s.Events && findings.Count == 0)
            findings.Add($"the checkpoint counted {s.Events} events at or before its position; the log holds {events}");
        return new CheckpointCheck(findings.Count == 0, findings, heads.Count, events);
    }
}
