namespace Escrow.Silo.Hosting;

/// <summary>
/// Grain calls of the HTTP frontend and the importers, sent again when Orleans could not deliver them because the grain's
/// silo was stopping or had gone (<see cref="SiloUnavailableException"/>, <see cref="OrleansMessageRejectionException"/>):
/// the next attempt activates the grain on a silo that stays. A command that may have run before its silo went carries an
/// idempotency key (every HTTP command does, and so do the importers' and the reminders'), so the repeat applies it once
/// or answers what it did; reads are always safe to repeat. Any other failure is the caller's to see.
/// </summary>
public static class GrainCalls
{
    /// <summary>Attempts in all, 50 ms × attempt apart (a clean stop hands its grains over within that).</summary>
    public const int Attempts = 5;

    public static async Task<T> RetryAsync<T>(Func<Task<T>> call, CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await call().WaitAsync(ct).ConfigureAwait(false);
            }
            catch (Exception ex) when (attempt < Attempts && SiloLeft(ex))
            {
                await Task.Delay(TimeSpan.FromMilliseconds(50 * attempt), ct).ConfigureAwait(false);
            }
        }
    }

    /// <summary>True when Orleans says the call's target silo was stopping or gone.</summary>
    public static bool SiloLeft(Exception? ex)
    {
        for (; ex is not null; ex = ex.InnerException)
            if (ex is SiloUnavailableException or OrleansMessageRejectionException) return true;
        return false;
    }
}
