using System.Runtime.CompilerServices;

namespace Escrow.EventStore;

/// <summary>The first link of a stream's hash chain that does not hold.</summary>
public sealed record BrokenLink(string StreamId, long Version, long GlobalPosition, string Reason);

/// <summary>Walks every stream's SHA-256 chain and reports the first broken link of each broken stream.</summary>
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
        foreach (var (id, headVersion, headHash) in ids)
        {
            var prev = HashChain.Genesis;
            long expected = 1;
            BrokenLink? broken = null;
            long after = 0;
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
                    var h = HashChain.Compute(prev, e.StreamId, e.Version, e.EventType, e.SchemaVersion, e.OccurredAt, e.DataJson, e.MetadataJson);
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
