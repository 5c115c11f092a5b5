using System.Diagnostics;
using Escrow.EventStore;
using Escrow.Projections;
using Orleans.Streams;

namespace Escrow.Silo.Projections;

/// <summary>
/// Reads one projection's queue, which is the event log itself: each call returns at most one <see cref="LogBatch"/> of the
/// events committed after the last one it returned, in commit order (only events below the commit-safe horizon, so none
/// can appear later before them). It starts at the projection's checkpoint; it writes nothing but its own name in
/// <c>projection_checkpoints.pulled_by</c>: the projection grain moves the checkpoint when it applies a batch, and
/// <see cref="ProjectionRunner.ApplyDeliveredAsync"/> makes a lost, repeated or late batch harmless.
/// <para>
/// It costs a query only when there can be something to read: after a wake-up <c>NOTIFY</c> (<see cref="LogNotifications"/>),
/// at <see cref="EventLogStreamOptions.HotPollInterval"/> for a while after a batch, and otherwise once per
/// <see cref="EventLogStreamOptions.PollInterval"/>.
/// </para>
/// </summary>
internal sealed class EventLogQueueReceiver(
    IProjection projection, StreamId streamId, PgEventStore store, LogNotifications notifications, EventLogStreamOptions options,
    string siloId, ILogger logger) : IQueueAdapterReceiver
{
    private GlobalCheckpoint _cursor;
    private int _beat;
    private long _seenWakeUps = -1, _lastRead, _hotUntil, _lastSent;
    private bool _lastFull;

    /// <summary>The position after which the next batch starts (the last one returned, or the checkpoint at start).</summary>
    public GlobalCheckpoint Cursor => _cursor;

    public async Task Initialize(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        notifications.EnsureStarted();
        _cursor = await ProjectionRunner.CheckpointAsync(store.DataSource, projection.Name, cts.Token).ConfigureAwait(false);
        _lastSent = Stopwatch.GetTimestamp();
        await ProjectionQueues.MarkPulledAsync(store.DataSource, projection.Name, siloId, cts.Token).ConfigureAwait(false);
        logger.LogInformation("pulling projection {Projection} from {Checkpoint}", projection.Name, _cursor);
    }

#pragma warning disable CS0618 // the agent calls the overload with a token; this one only satisfies the interface
    public Task<IList<IBatchContainer>> GetQueueMessagesAsync(int maxCount) => GetQueueMessagesAsync(maxCount, CancellationToken.None);
    public Task MessagesDeliveredAsync(IList<IBatchContainer> messages) => Task.CompletedTask;
#pragma warning restore CS0618

    public Task MessagesDeliveredAsync(IList<IBatchContainer> messages, CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task<IList<IBatchContainer>> GetQueueMessagesAsync(int maxCount, CancellationToken cancellationToken)
    {
        var now = Stopwatch.GetTimestamp();
        var wakeUps = notifications.Count;
        var due = wakeUps != _seenWakeUps || _lastFull
            || Elapsed(_lastRead, now) >= (now < _hotUntil ? options.HotPollInterval : options.PollInterval);
        if (due)
        {
            _seenWakeUps = wakeUps;
            _lastRead = now;
            var (events, last, scanned) = await ReadAsync(cancellationToken).ConfigureAwait(false);
            _lastFull = scanned >= options.BatchSize;
            if (scanned > 0)
            {
                var batch = new LogBatch(streamId, Token(_cursor, 0), Token(last, 0), scanned, events);
                _cursor = last;
                _beat = 0;
                _hotUntil = now + (long)(options.HotWindow.TotalSeconds * Stopwatch.Frequency);
                _lastSent = now;
                return [batch];
            }
        }
        if (Elapsed(_lastSent, now) >= options.HeartbeatInterval)
        {
            _lastSent = now;
            _beat++;
            return [new LogBatch(streamId, Token(_cursor, _beat), Token(_cursor, _beat), 0, [])];
        }
        return [];
    }

    private async Task<(StoredEvent[] Events, GlobalCheckpoint Last, int Scanned)> ReadAsync(CancellationToken ct)
    {
        if (projection.StreamPrefixes is { } prefixes)
        {
            var conn = await store.DataSource.OpenConnectionAsync(ct).ConfigureAwait(false);
            await using var connScope = conn.ConfigureAwait(false);
            var (events, last, scanned) = await store.ReadAllAsync(_cursor, options.BatchSize, prefixes, conn, null, ct).ConfigureAwait(false);
            return ([.. events], last, scanned);
        }
        var all = await store.ReadAllAsync(_cursor, options.BatchSize, ct).ConfigureAwait(false);
        return ([.. all], all.Count > 0 ? all[^1].Checkpoint : _cursor, all.Count);
    }

    private static LogSequenceToken Token(GlobalCheckpoint at, int beat) => new(at.TransactionId, at.Position, beat);

    private static TimeSpan Elapsed(long from, long now) => TimeSpan.FromSeconds((double)(now - from) / Stopwatch.Frequency);

    public async Task Shutdown(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await ProjectionQueues.UnmarkPulledAsync(store.DataSource, projection.Name, siloId, cts.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is Npgsql.NpgsqlException or OperationCanceledException or TimeoutException)
        {
            // Only information for operators: the next owner's receiver overwrites it.
        }
    }
}
