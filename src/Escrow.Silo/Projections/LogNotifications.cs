using Escrow.EventStore;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Escrow.Silo.Projections;

/// <summary>
/// The silo's one <c>LISTEN</c> on the event log's wake-up channel (<see cref="PgEventStore.NotifyChannel"/>), shared by
/// every queue receiver of the silo: <see cref="Count"/> grows with each notification, so a receiver that saw the same
/// count at its last read knows nothing was announced since and can skip the query. A lost notification (the listening
/// connection broke) only delays a read until the receiver's poll interval; the log, not the notification, is the truth.
/// </summary>
public sealed class LogNotifications(PgEventStore store, IOptions<SiloOptions> options, Cluster.SiloIdentity identity, ILogger<LogNotifications> logger)
    : IAsyncDisposable
{
    private NpgsqlDataSource? _readers;

    /// <summary>
    /// The sessions the queue receivers read the log with: the event store's connection string with
    /// <c>plan_cache_mode=force_generic_plan</c>, because PostgreSQL re-planned the commit-order read (a row comparison) on
    /// every call with a custom plan, about 0.2 ms each, while its generic plan is the same index scan. Created once per
    /// silo from the application role's connection string, like the silo's other pools.
    /// </summary>
    public NpgsqlDataSource Readers
    {
        get
        {
            lock (_stop)
            {
                if (_readers is null)
                {
                    var cs = new NpgsqlConnectionStringBuilder(options.Value.ConnectionString)
                    {
                        MaxPoolSize = 8, ApplicationName = identity.ApplicationName,
                    };
                    if (cs.MaxAutoPrepare == 0) cs.MaxAutoPrepare = 16;
                    cs.Options = $"{cs.Options} -c plan_cache_mode=force_generic_plan".Trim();
                    _readers = NpgsqlDataSource.Create(cs);
                }
                return _readers;
            }
        }
    }

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
        if (_readers is not null) await _readers.DisposeAsync().ConfigureAwait(false);
    }
}
