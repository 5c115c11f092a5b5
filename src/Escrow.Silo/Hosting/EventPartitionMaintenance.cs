using Escrow.EventStore;

namespace Escrow.Silo.Hosting;

/// <summary>
/// Keeps the events table's monthly partitions made ahead of time (migration 025): at start and every
/// <see cref="Period"/> of the ledger clock it asks for the partitions through three months after the clock's now
/// (<see cref="PgEventStore.EnsurePartitionsAsync"/>; the database also counts from its own clock, which decides where an
/// event goes). Every silo does it; making a partition that exists is a no-op. A failure (PostgreSQL unreachable) is
/// logged and tried again after <see cref="RetryAfter"/>: the partitions already made cover three months.
/// </summary>
public sealed class EventPartitionMaintenance(PgEventStore store, [FromKeyedServices(LedgerClock.Key)] TimeProvider clock,
    ILogger<EventPartitionMaintenance> logger) : BackgroundService
{
    /// <summary>How often the partitions are checked.</summary>
    public static readonly TimeSpan Period = TimeSpan.FromHours(1);

    /// <summary>How soon a failed check is tried again.</summary>
    public static readonly TimeSpan RetryAfter = TimeSpan.FromMinutes(1);

    /// <summary>Makes what is missing now; answers how many partitions were made.</summary>
    public async Task<int> RunOnceAsync(CancellationToken ct)
    {
        var made = await store.EnsurePartitionsAsync(clock.GetUtcNow(), ct).ConfigureAwait(false);
        if (made > 0) logger.LogInformation("made {Partitions} monthly partitions of the events table ahead of time", made);
        return made;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            var wait = Period;
            try
            {
                await RunOnceAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is Npgsql.NpgsqlException or TimeoutException or System.IO.IOException)
            {
                logger.LogWarning(ex, "could not check the events table's partitions; trying again in {Delay}", RetryAfter);
                wait = RetryAfter;
            }
            try
            {
                await Task.Delay(wait, clock, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }
}
