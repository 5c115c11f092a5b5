using Escrow.Domain.Deals;
using Escrow.Grains;
using Npgsql;

namespace Escrow.Silo.Deals;

/// <summary>
/// Moves deal expiries armed before they were Orleans reminders (rows of the old <c>timers</c> table, not yet fired or
/// cancelled) onto their deals' reminders once, when a silo has started: each deal's grain decides with
/// <see cref="IDealGrain.ExpireIfDue"/> (expires it if due, registers its reminder otherwise), then the row is closed with
/// the outcome <c>moved to an Orleans reminder</c>. Nothing writes that table any more, so after the first start this is one
/// query that finds nothing. Several silos starting at once may move the same row: the expiry's idempotency key makes that
/// harmless.
/// </summary>
internal sealed class TimerUpgrade(NpgsqlDataSource dataSource, IGrainFactory grains, IHostApplicationLifetime lifetime, ILogger<TimerUpgrade> logger)
    : BackgroundService
{
    public const string MovedOutcome = "moved to an Orleans reminder";

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Grains answer once the silo (and the host around it) has started.
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var registration = lifetime.ApplicationStarted.Register(() => started.TrySetResult());
        await started.Task.WaitAsync(stoppingToken);
        try
        {
            var armed = new List<(string TimerId, string StreamId)>();
            await using (var cmd = dataSource.CreateCommand(
                "SELECT timer_id, stream_id FROM timers WHERE kind = 'deal-expiry' AND fired_at IS NULL AND cancelled_at IS NULL"))
            await using (var r = await cmd.ExecuteReaderAsync(stoppingToken))
                while (await r.ReadAsync(stoppingToken)) armed.Add((r.GetString(0), r.GetString(1)));
            foreach (var (timerId, streamId) in armed)
            {
                if (DealStreams.TryParse(streamId, out var tenant, out var dealId))
                    await grains.GetGrain<IDealGrain>(GrainKeys.Of(tenant, dealId)).ExpireIfDue().WaitAsync(stoppingToken);
                await using var close = dataSource.CreateCommand(
                    "UPDATE timers SET cancelled_at = now(), outcome = $2 WHERE timer_id = $1 AND fired_at IS NULL AND cancelled_at IS NULL");
                close.Parameters.Add(new() { Value = timerId });
                close.Parameters.Add(new() { Value = MovedOutcome });
                await close.ExecuteNonQueryAsync(stoppingToken);
            }
            if (armed.Count > 0) logger.LogInformation("moved {Count} armed deal expiries onto Orleans reminders", armed.Count);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // The rows stay armed: the next start moves them.
            logger.LogWarning(ex, "could not move the armed deal expiries onto Orleans reminders; the next start tries again");
        }
    }
}
