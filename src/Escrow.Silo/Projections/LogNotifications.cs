using Escrow.EventStore;
using Npgsql;

namespace Escrow.Silo.Projections;

/// <summary>
/// The silo's one <c>LISTEN</c> on the event log's wake-up channel (<see cref="PgEventStore.NotifyChannel"/>), shared by
/// every queue receiver of the silo: <see cref="Count"/> grows with each notification, so a receiver that saw the same
/// count at its last read knows nothing was announced since and can skip the query. A lost notification (the listening
/// connection broke) only delays a read until the receiver's poll interval; the log, not the notification, is the truth.
/// </summary>
public sealed class LogNotifications(PgEventStore store, ILogger<LogNotifications> logger) : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private Task? _loop;
    private long _count;

    /// <summary>Notifications received so far (plus one per reconnection, when some may have been missed).</summary>
    public long Count => Interlocked.Read(ref _count);

    /// <summary>Starts listening, once; later calls do nothing.</summary>
    public void EnsureStarted()
    {
        lock (_stop)
            _loop ??= Task.Run(() => ListenAsync(_stop.Token));
    }

    private async Task ListenAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                var conn = await store.DataSource.OpenConnectionAsync(ct).ConfigureAwait(false);
                await using var connScope = conn.ConfigureAwait(false);
                conn.Notification += (_, _) => Interlocked.Increment(ref _count);
                var listen = new NpgsqlCommand($"LISTEN {PgEventStore.NotifyChannel}", conn);
                await using (listen.ConfigureAwait(false))
                    await listen.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                // Anything committed while no connection listened was not announced: wake every receiver once.
                Interlocked.Increment(ref _count);
                while (!ct.IsCancellationRequested)
                    await conn.WaitAsync(ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is NpgsqlException or System.IO.IOException or InvalidOperationException or TimeoutException)
            {
                logger.LogWarning(ex, "the event log's wake-up channel closed; listening again");
                try { await Task.Delay(TimeSpan.FromSeconds(1), ct).ConfigureAwait(false); }
                catch (OperationCanceledException) { return; }
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            try { await _loop.ConfigureAwait(false); }
            catch (OperationCanceledException) { }
        }
        _stop.Dispose();
    }
}
