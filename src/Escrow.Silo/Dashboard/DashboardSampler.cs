using Escrow.EventStore;
using Escrow.Projections;
using Npgsql;

namespace Escrow.Silo.Dashboard;

/// <summary>
/// Refreshes <see cref="EscrowMetrics.Sampled"/> (projection lag, timers due) from PostgreSQL once a second, but
/// only while someone looks: a metrics listener reading the gauges or a dashboard request marks interest
/// (<see cref="Touch"/>); after 30 s without interest the sampler idles and costs the database nothing.
/// </summary>
public sealed class DashboardSampler(EscrowMetrics metrics, PgEventStore store, [FromKeyedServices(LedgerClock.Key)] TimeProvider clock, ILogger<DashboardSampler> logger) : BackgroundService
{
    private long _interestUntil;

    /// <summary>Asks for fresh samples for the next 30 seconds.</summary>
    public void Touch() => Interlocked.Exchange(ref _interestUntil, clock.GetUtcNow().AddSeconds(30).ToUnixTimeMilliseconds());

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        metrics.OnObserved = Touch;
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1), clock);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                if (clock.GetUtcNow().ToUnixTimeMilliseconds() > Interlocked.Read(ref _interestUntil)) continue;
                try
                {
                    metrics.Sampled = await SampleAsync(store, clock.GetUtcNow(), stoppingToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is NpgsqlException or InvalidOperationException or TimeoutException)
                {
                    // The database is away (or not migrated yet): keep the last sample; the next tick tries again.
                    logger.LogDebug(ex, "dashboard sample failed");
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // stopping
        }
    }

    /// <summary>Every projection's status and the number of deal expiry reminders due at <paramref name="now"/>.</summary>
    public static async Task<DatabaseSample> SampleAsync(PgEventStore store, DateTimeOffset now, CancellationToken ct)
    {
        var projections = new List<ProjectionStatus>();
        foreach (var p in ProjectionCatalog.All())
            projections.Add(await ProjectionRunner.StatusAsync(store, p.Name, ct).ConfigureAwait(false));
        return new DatabaseSample(projections, await Deals.ExpiryReminders.DueAsync(store.DataSource, now, null, ct).ConfigureAwait(false), now);
    }
}
