using System.Text.Json;
using Escrow.EventStore;

namespace Escrow.Silo.Hosting;

/// <summary>
/// Folds a stream straight from the event log, without an activation: "as of an instant". A fold that would need events
/// of an archived month (escrow archive) is refused with 410 <c>events_archived</c>: the statement index still answers a
/// balance as of any instant, and <c>escrow archive restore</c> puts a month back.
/// </summary>
public static class StreamReplay
{
    /// <summary>The refusal of a fold that needs archived events.</summary>
    public const string EventsArchived = "events_archived";

    private static async Task RefuseIfArchivedAsync(PgEventStore store, string streamId, long from, CancellationToken ct)
    {
        if (await store.ArchivedHeadAsync(streamId, ct).ConfigureAwait(false) is { } head && from < head.Version)
            throw new Http.BadRequestException(EventsArchived,
                $"events 1..{head.Version} of stream {streamId} were archived (escrow archive); a balance as of this instant comes from " +
                "the statement index (source=statement), or restore the month (escrow archive restore)", StatusCodes.Status410Gone);
    }

    /// <summary>Folds <paramref name="streamId"/> from its first event up to <paramref name="upTo"/> (occurred_at, inclusive; null: all), ignoring snapshots: the audit path.</summary>
    public static async Task<(TState State, long Version)> ReplayAsync<TState>(
        PgEventStore store, string streamId, TState empty, Func<TState, object, TState> evolve, DateTimeOffset? upTo, CancellationToken ct)
    {
        var state = empty;
        long version = 0;
        while (true)
        {
            var page = await store.ReadStreamAsync(streamId, version, ct, upTo, 1000).ConfigureAwait(false);
            // Only a first page that is empty or does not begin at version 1 can mean archived events: checked then alone.
            if (version == 0 && (page.Count == 0 || page[0].Version != 1)) await RefuseIfArchivedAsync(store, streamId, 0, ct).ConfigureAwait(false);
            if (page.Count == 0) break;
            foreach (var e in page) state = evolve(state, EventSerializer.Deserialize(e));
            version = page[^1].Version;
        }
        return (state, version);
    }

    /// <summary>
    /// The same fold up to <paramref name="upTo"/> for a stream whose events never occur before the one ahead of them (an
    /// account's: the domain refuses a back-dated posting, so "as of T" is a prefix of the stream), started from the last
    /// kept snapshot (of state schema <paramref name="snapshotSchemaVersion"/>) that stands in for events all at or before
    /// that instant (<see cref="PgEventStore.ReadSnapshotAtAsync"/>), or from the first event when there is none, and stopped
    /// at the first event after the instant: time in proportion to the events between that snapshot and the instant, not to
    /// the stream's length. Returns the version the fold started after (0: the first event). The answer equals
    /// <see cref="ReplayAsync{TState}"/>'s as long as the kept snapshots are folds of their events and the stream is in time
    /// order, both of which <c>escrow verify</c> checks.
    /// </summary>
    public static async Task<(TState State, long Version, long FromSnapshot)> ReplayPrefixFromSnapshotAsync<TState>(
        PgEventStore store, string streamId, TState empty, Func<TState, object, TState> evolve, DateTimeOffset upTo, int snapshotSchemaVersion,
        int pageSize, CancellationToken ct)
    {
        var state = empty;
        long from = 0;
        if (await store.ReadSnapshotAtAsync(streamId, snapshotSchemaVersion, upTo, ct).ConfigureAwait(false) is { } snap
            && JsonSerializer.Deserialize<TState>(snap.StateJson, EventSerializer.Options) is { } kept)
            (state, from) = (kept, snap.Version);
        // Version ranges of pageSize, each read with the instant's filter: in a stream in time order the events at or before T
        // are a prefix, so a range that comes back short (or with a gap) holds the last of them. A range bounds the index scan;
        // the filter alone would walk the whole rest of the stream looking for more.
        var version = from;
        while (true)
        {
            var page = await store.ReadStreamRangeAsync(streamId, version, version + pageSize, upTo, ct).ConfigureAwait(false);
            // Only a first range that is empty or does not begin right after the start can mean archived events: checked then alone.
            if (version == from && (page.Count == 0 || page[0].Version != from + 1))
                await RefuseIfArchivedAsync(store, streamId, from, ct).ConfigureAwait(false);
            foreach (var e in page)
            {
                if (e.Version != version + 1) return (state, version, from);
                state = evolve(state, EventSerializer.Deserialize(e));
                version = e.Version;
            }
            if (page.Count < pageSize) return (state, version, from);
        }
    }
}
