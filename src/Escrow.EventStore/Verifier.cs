using System.Runtime.CompilerServices;

namespace Escrow.EventStore;

/// <summary>The first link of a stream's hash chain that does not hold.</summary>
public sealed record BrokenLink(string StreamId, long Version, long GlobalPosition, string Reason);

/// <summary>
/// Walks every stream's SHA-256 chain and reports the first broken link of each broken stream. A stream whose first months
/// were archived (escrow archive) is walked from its last archived head (<see cref="PgEventStore.ArchivedHeadsAsync"/>):
/// its live events must continue that head's version and hash; <c>escrow verify --archive</c> checks the archived part
/// against the files.
/// </summary>
public static class ChainVerifier
{
    public sealed record Progress(long Streams, long Events);

    public static async IAsyncEnumerable<BrokenLink> VerifyAsync(
        PgEventStore store, IProgress<Progress>? progress, [EnumeratorCancellation] CancellationToken ct)
    {
        long streams = 0, events = 0;
        var ids = new List<(string Id, long Version, byte[] LastHash)>();
        await foreach (var s in store.ListStreamsAsync(ct).ConfigureAwait(false))
            ids.Add((s.StreamId, s.Version, s.LastHash));
        var archived = await store.ArchivedHeadsAsync(ct).ConfigureAwait(false);
        foreach (var (id, headVersion, headHash) in ids)
        {
            var prev = HashChain.Genesis;
            long expected = 1;
            BrokenLink? broken = null;
            long after = 0;
            if (archived.TryGetValue(id, out var start)) (prev, expected, after) = (start.Hash, start.Version + 1, start.Version);
            while (broken is null)
            {
                var page = await store.ReadStreamAsync(id, after, ct, limit: 1000).ConfigureAwait(false);
                if (page.Count == 0) break;
                foreach (var e in page)
                {
                    events++;
                    if (e.Version != expected)
                    { broken = new(id, expected, e.GlobalPosition, $"version {expected} is missing (found {e.Version})"); break; }
                    if (!e.PrevHash.AsSpan().SequenceEqual(prev))
                    { broken = new(id, e.Version, e.GlobalPosition, "prev_hash does not equal the previous event's hash"); break; }
                    var h = HashChain.Compute(prev, e.StoredStreamId, e.Version, e.EventType, e.SchemaVersion, e.OccurredAt, e.DataJson, e.MetadataJson);
                    if (!h.AsSpan().SequenceEqual(e.Hash))
                    { broken = new(id, e.Version, e.GlobalPosition, "stored hash does not match the event's content"); break; }
                    prev = h;
                    expected++;
                }
                after = page[^1].Version;
            }
            if (broken is null && (expected - 1 != headVersion || !prev.AsSpan().SequenceEqual(headHash)))
                broken = new(id, expected, 0, $"stream head says version {headVersion}, the chain ends at {expected - 1}");
            streams++;
            progress?.Report(new(streams, events));
            if (broken is not null) yield return broken;
        }
    }
}

/// <summary>The result of checking one stream's chain: <see cref="Broken"/> is null when every link holds.</summary>
/// <param name="StreamId">The stream checked.</param>
/// <param name="HeadVersion">The version the <c>streams</c> row held when the check began (0: no such stream).</param>
/// <param name="EventsChecked">Events whose links were recomputed.</param>
/// <param name="Broken">The first link that does not hold, or null.</param>
public sealed record StreamChainCheck(string StreamId, long HeadVersion, long EventsChecked, BrokenLink? Broken)
{
    public bool Ok => Broken is null;
}

/// <summary>One stream's chain, checked the way <see cref="ChainVerifier"/> checks all of them.</summary>
public static class StreamChainVerifier
{
    /// <summary>
    /// Reads the stream's head (version, last hash) first, then recomputes every link up to that version: each
    /// version present once and in order, each <c>prev_hash</c> equal to the previous hash, each stored hash equal to
    /// SHA-256 of the event's canonical content (<see cref="HashChain.Compute"/>), and the last hash equal to the head's.
    /// Events appended after the head was read are outside the check, so a concurrent writer never shows as a break.
    /// Returns <see cref="StreamChainCheck.HeadVersion"/> 0 for a stream that does not exist.
    /// </summary>
    public static async Task<StreamChainCheck> VerifyAsync(PgEventStore store, string streamId, CancellationToken ct)
    {
        long headVersion;
        byte[] headHash;
        var cmd = store.DataSource.CreateCommand("SELECT version, last_hash FROM streams WHERE stream_id = $1");
        await using (cmd.ConfigureAwait(false))
        {
            cmd.Parameters.Add(new() { Value = await store.StoredStreamIdAsync(streamId, ct).ConfigureAwait(false) });
            var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await using var rScope = r.ConfigureAwait(false);
            if (!await r.ReadAsync(ct).ConfigureAwait(false)) return new StreamChainCheck(streamId, 0, 0, null);
            headVersion = r.GetInt64(0);
            headHash = (byte[])r[1];
        }
        var prev = HashChain.Genesis;
        long expected = 1, checkedEvents = 0, after = 0;
        if (await store.ArchivedHeadAsync(streamId, ct).ConfigureAwait(false) is { } start)
            (prev, expected, after) = (start.Hash, start.Version + 1, start.Version);   // the archived part: escrow verify --archive
        while (after < headVersion)
        {
            var page = await store.ReadStreamAsync(streamId, after, ct, limit: (int)Math.Min(1000, headVersion - after)).ConfigureAwait(false);
            if (page.Count == 0) break;
            foreach (var e in page)
            {
                checkedEvents++;
                if (e.Version != expected)
                    return new(streamId, headVersion, checkedEvents, new(streamId, expected, e.GlobalPosition, $"version {expected} is missing (found {e.Version})"));
                if (!e.PrevHash.AsSpan().SequenceEqual(prev))
                    return new(streamId, headVersion, checkedEvents, new(streamId, e.Version, e.GlobalPosition, "prev_hash does not equal the previous event's hash"));
                var h = HashChain.Compute(prev, e.StoredStreamId, e.Version, e.EventType, e.SchemaVersion, e.OccurredAt, e.DataJson, e.MetadataJson);
                if (!h.AsSpan().SequenceEqual(e.Hash))
                    return new(streamId, headVersion, checkedEvents, new(streamId, e.Version, e.GlobalPosition, "stored hash does not match the event's content"));
                prev = h;
                expected++;
            }
            after = page[^1].Version;
        }
        if (expected - 1 != headVersion)
            return new(streamId, headVersion, checkedEvents, new(streamId, expected, 0, $"stream head says version {headVersion}, the chain ends at {expected - 1}"));
        if (!prev.AsSpan().SequenceEqual(headHash))
            return new(streamId, headVersion, checkedEvents, new(streamId, headVersion, 0, "the stream head's last_hash does not equal the last event's hash"));
        return new(streamId, headVersion, checkedEvents, null);
    }
}
