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
/// It costs a query only when there can be something to read, and at most once per
/// <see cref="EventLogStreamOptions.HotPollInterval"/> unless its last batch was full (so a busy log is read in batches of
/// many commits, not one transaction per commit): after a wake-up <c>NOTIFY</c> (<see cref="LogNotifications"/>), for a
/// while after a batch, and otherwise once per <see cref="EventLogStreamOptions.PollInterval"/>.
/// </para>
/// </summary>
internal sealed class EventLogQueueReceiver(
    IProjection projection, StreamId streamId, PgEventStore store, Npgsql.NpgsqlDataSource readers, LogNotifications notifications,
    EventLogStreamOptions options, string siloId, ILogger logger) : IQueueAdapterReceiver
{
    private GlobalCheckpoint _cursor;
    private int _beat;
    private long _lastMarked;

    /// <summary>How often a pulling receiver writes its name again if the record names someone else (<see cref="ProjectionQueues.ReassertPulledAsync"/>).</summary>
    private static readonly TimeSpan MarkAgain = TimeSpan.FromSeconds(5);
    private long _seenWakeUps = -1, _lastRead, _hotUntil, _lastSent;
    private bool _lastFull;
    // Batches handed to the agent and not yet reported delivered (purged from its cache), and since when the oldest waits.
    private int _outstanding;
    private long _outstandingSince;

    /// <summary>Most batches read ahead of the projection grain: one being applied and one waiting.</summary>
    private const int ReadAhead = 2;

    /// <summary>
    /// After this long without a delivery report, outstanding batches are taken as given up (a delivery that failed for
    /// good is removed from the cache without a report) and reading resumes.
    /// </summary>
    private static readonly TimeSpan DeliveryReportWait = TimeSpan.FromSeconds(1);

    /// <summary>The position after which the next batch starts (the last one returned, or the checkpoint at start).</summary>
    public GlobalCheckpoint Cursor => _cursor;

    public async Task Initialize(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        notifications.EnsureStarted();
        _cursor = await ProjectionRunner.CheckpointAsync(store.DataSource, projection.Name, cts.Token).ConfigureAwait(false);
        _lastSent = Stopwatch.GetTimestamp();
        await ProjectionQueues.MarkPulledAsync(store.DataSource, projection.Name, siloId, cts.Token).ConfigureAwait(false);
        _lastMarked = Stopwatch.GetTimestamp();
        logger.LogInformation("pulling projection {Projection} from {Checkpoint}", projection.Name, _cursor);
    }

#pragma warning disable CS0618 // the agent calls the overloads with a token; these only satisfy the interface
    public Task<IList<IBatchContainer>> GetQueueMessagesAsync(int maxCount) => GetQueueMessagesAsync(maxCount, CancellationToken.None);
    public Task MessagesDeliveredAsync(IList<IBatchContainer> messages) => MessagesDeliveredAsync(messages, CancellationToken.None);
#pragma warning restore CS0618

    /// <summary>The agent reports the batches its cache let go of: delivered to the projection grain (or given up).</summary>
    public Task MessagesDeliveredAsync(IList<IBatchContainer> messages, CancellationToken cancellationToken)
    {
        var delivered = messages.Count(m => m is LogBatch);
        if (delivered > 0)
        {
            _outstanding = Math.Max(0, _outstanding - delivered);
            _outstandingSince = Stopwatch.GetTimestamp();
        }
        return Task.CompletedTask;
    }

    public async Task<IList<IBatchContainer>> GetQueueMessagesAsync(int maxCount, CancellationToken cancellationToken)
    {
        var now = Stopwatch.GetTimestamp();
        // Read ahead of the grain by at most ReadAhead batches: while it applies one, the log keeps the rest, and the next
        // read takes all of it (batches grow with the backlog instead of queueing up small in the agent's cache).
        if (_outstanding >= ReadAhead)
        {
            if (Elapsed(_outstandingSince, now) < DeliveryReportWait) return [];
            _outstanding = 0;
        }
        var wakeUps = notifications.Count;
        // A full batch means more is waiting: read on at once. Otherwise gather: the agent calls again right after a batch,
        // and reading then would cut the log into batches of one commit each (a transaction per commit and projection);
        // after a wake-up or while hot, read at most once per HotPollInterval, and otherwise once per PollInterval.
        var sinceRead = Elapsed(_lastRead, now);
        var due = _lastFull
            || sinceRead >= options.HotPollInterval && (wakeUps != _seenWakeUps || now < _hotUntil)
            || sinceRead >= options.PollInterval;
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
                Sent(now);
                return [batch];
            }
        }
        if (Elapsed(_lastMarked, now) >= MarkAgain)
        {
            _lastMarked = now;
            await ProjectionQueues.ReassertPulledAsync(store.DataSource, projection.Name, siloId, cancellationToken).ConfigureAwait(false);
        }
        if (Elapsed(_lastSent, now) >= options.HeartbeatInterval)
        {
            _lastSent = now;
            _beat++;
            Sent(now);
            return [new LogBatch(streamId, Token(_cursor, _beat), Token(_cursor, _beat), 0, [])];
        }
        return [];
    }

    private async Task<(StoredEvent[] Events, GlobalCheckpoint Last, int Scanned)> ReadAsync(CancellationToken ct)
    {
        // The reader's sessions plan the commit-order read generically (see LogReaders): planning it per read cost more than running it.
        var conn = await readers.OpenConnectionAsync(ct).ConfigureAwait(false);
        await using var connScope = conn.ConfigureAwait(false);
        if (projection.StreamPrefixes is { } prefixes)
        {
            var (events, last, scanned) = await store.ReadAllAsync(_cursor, options.BatchSize, prefixes, conn, null, ct).ConfigureAwait(false);
            return ([.. events], last, scanned);
        }
        var all = await store.ReadAllAsync(_cursor, options.BatchSize, ct, conn).ConfigureAwait(false);
        return ([.. all], all.Count > 0 ? all[^1].Checkpoint : _cursor, all.Count);
    }

    private void Sent(long now)
    {
        if (_outstanding++ == 0) _outstandingSince = now;
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
