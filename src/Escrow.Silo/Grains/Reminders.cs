namespace Escrow.Silo.Grains;

/// <summary>What the grains' reminder ticks share.</summary>
internal static class Reminders
{
    /// <summary>
    /// How soon a failed tick is tried again. Orleans would tick again only at the reminder's next period (a minute), and a
    /// tick fails mostly for a few seconds: PostgreSQL briefly unreachable, or a grain the tick calls (a deal's parties'
    /// accounts) on a silo that died and that the cluster has not yet declared dead.
    /// </summary>
    public static readonly TimeSpan FailedTickRetry = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Runs <paramref name="tick"/>; if it throws, registers reminder <paramref name="name"/> of <paramref name="grain"/> again
    /// to fire <see cref="FailedTickRetry"/> from now (then every <paramref name="period"/>), and rethrows. The tick decides
    /// on fresh state under its idempotency key, so running it again has no second effect.
    /// </summary>
    public static async Task RetrySoonOnFailureAsync<T>(Grain grain, string name, TimeSpan period, Func<Task<T>> tick)
    {
        try
        {
            await tick();
        }
        catch (Exception)
        {
            try
            {
                await grain.RegisterOrUpdateReminder(name, FailedTickRetry, period);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // The reminder table is out of reach too: the reminder's own period brings the next tick.
            }
            throw;
        }
    }
}
