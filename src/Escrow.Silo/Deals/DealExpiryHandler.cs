using System.Security.Cryptography;
using System.Text;
using Escrow.Domain.Deals;
using Escrow.Silo.Hosting;
using Escrow.Silo.Ledger;
using Escrow.Silo.Timers;

namespace Escrow.Silo.Deals;

/// <summary>
/// Fires a deal's expiry timer: runs <see cref="ExpireDeal"/> through the deal command path with the timer's
/// idempotency key, so a second firing of the same arming replays the first answer instead of expiring twice.
/// A refusal (the deal was released meanwhile) is a final outcome, not a retry.
/// </summary>
public sealed class DealExpiryHandler(DealService deals) : ITimerHandler
{
    public string Kind => DealService.ExpiryTimerKind;

    public async Task<TimerOutcome> FireAsync(DueTimer timer, CancellationToken ct)
    {
        if (!DealStreams.TryParse(timer.StreamId, out var tenant, out var dealId))
            return TimerOutcome.Done($"not a deal stream: {timer.StreamId}");
        var context = new CommandContext(tenant, "timer", timer.IdempotencyKey,
            SHA256.HashData(Encoding.UTF8.GetBytes(timer.IdempotencyKey)), Guid.CreateVersion7(), Operation: "ExpireDeal");
        var outcome = await deals.ExecuteAsync(new ExpireDeal(dealId, LedgerService.Now), context, ct).ConfigureAwait(false);
        return outcome.Status >= 500
            ? new TimerOutcome($"failed {outcome.Status}", Retry: true)
            : TimerOutcome.Done(outcome.Accepted ? "expired" : $"refused {outcome.RejectionCode ?? outcome.Status.ToString(System.Globalization.CultureInfo.InvariantCulture)}");
    }
}

/// <summary>Runs this silo's timer firer (one leader in the cluster fires; the others wait to take over).</summary>
internal sealed class TimerHostedService(TimerFirer firer, Microsoft.Extensions.Options.IOptions<SiloOptions> options) : Microsoft.Extensions.Hosting.BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        options.Value.RunTimers ? firer.RunAsync(stoppingToken) : Task.CompletedTask;
}
