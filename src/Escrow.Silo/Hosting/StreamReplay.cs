using Escrow.EventStore;

namespace Escrow.Silo.Hosting;

/// <summary>Folds a stream straight from the event log, without an activation: the audit path of "as of an instant".</summary>
public static class StreamReplay
{
    /// <summary>Folds <paramref name="streamId"/> from its first event up to <paramref name="upTo"/> (occurred_at, inclusive; null: all).</summary>
    public static async Task<(TState State, long Version)> ReplayAsync<TState>(
        PgEventStore store, string streamId, TState empty, Func<TState, object, TState> evolve, DateTimeOffset? upTo, CancellationToken ct)
    {
        var state = empty;
        long version = 0;
        while (true)
        {
            var page = await store.ReadStreamAsync(streamId, version, ct, upTo, 1000).ConfigureAwait(false);
            if (page.Count == 0) break;
            foreach (var e in page) state = evolve(state, EventSerializer.Deserialize(e));
            version = page[^1].Version;
        }
        return (state, version);
    }
}
