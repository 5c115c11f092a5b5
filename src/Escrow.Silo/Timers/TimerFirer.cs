using System.Security.Cryptography;
using System.Text;
using Npgsql;

namespace Escrow.Silo.Timers;

/// <summary>What firing a timer did: <see cref="Retry"/> leaves it due (a transient failure).</summary>
public sealed record TimerOutcome(string Description, bool Retry = false)
{
    public static TimerOutcome Done(string description) => new(description);
}

/// <summary>
/// Fires timers of one <see cref="Kind"/>. A handler must be idempotent by <see cref="DueTimer.IdempotencyKey"/>:
/// run its command with that key, so a repeated firing is answered from the stored result.
/// </summary>
public interface ITimerHandler
{
    string Kind { get; }
    Task<TimerOutcome> FireAsync(DueTimer timer, CancellationToken ct);
}

public sealed record TimerFirerOptions
{
    /// <summary>How often the leader looks for due timers.</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromSeconds(1);
    /// <summary>How often a non-leader tries to take over.</summary>
    public TimeSpan LeaderRetry { get; init; } = TimeSpan.FromSeconds(2);
    public int BatchSize { get; init; } = 100;
}

/// <summary>
/// Fires due timers. Exactly one firer in the cluster is active: it holds a session advisory lock on a
/// dedicated connection, so when its silo dies the lock goes with the connection and another silo's firer
/// takes over on its next try. "Due" is judged by the injected <see cref="TimeProvider"/>. A firing runs
/// the handler, then marks the arming fired; a crash in between makes the next leader fire it again, and
/// the handler's idempotency key turns that into a replay of the first result.
/// </summary>
public sealed class TimerFirer(TimerStore store, IEnumerable<ITimerHandler> handlers, TimeProvider clock, TimerFirerOptions options, ILogger logger)
{
    private readonly Dictionary<string, ITimerHandler> _handlers = handlers.ToDictionary(h => h.Kind, StringComparer.Ordinal);
    /// <summary>The session advisory lock key of the firer's leadership: the first 8 bytes (little-endian) of SHA-256("escrow:timer-firer").</summary>
    public static readonly long LockKey = BitConverter.ToInt64(SHA256.HashData(Encoding.UTF8.GetBytes("escrow:timer-firer")), 0);

    public bool IsLeader { get; private set; }
    public long Fired { get; private set; }

    public async Task RunAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await using var conn = await store.DataSource.OpenConnectionAsync(ct).ConfigureAwait(false);
                await using (var lockCmd = new NpgsqlCommand("SELECT pg_try_advisory_lock($1)", conn))
                {
                    lockCmd.Parameters.Add(new() { Value = LockKey });
                    if (!(bool)(await lockCmd.ExecuteScalarAsync(ct).ConfigureAwait(false))!)
                    {
                        await Task.Delay(options.LeaderRetry, clock, ct).ConfigureAwait(false);
                        continue;
                    }
                }
                IsLeader = true;
                try
                {
                    while (!ct.IsCancellationRequested)
                    {
                        // Keep the lock connection alive and notice if the database dropped it.
                        await using (var ping = new NpgsqlCommand("SELECT 1", conn))
                            await ping.ExecuteScalarAsync(ct).ConfigureAwait(false);
                        var n = await FireDueAsync(ct).ConfigureAwait(false);
                        if (n < options.BatchSize)
                            await Task.Delay(options.PollInterval, clock, ct).ConfigureAwait(false);
                    }
                }
                finally
                {
                    IsLeader = false;
                    // Give the lock back before the connection returns to the pool (see ReleaseLockAsync).
                    await Escrow.Projections.ProjectionRunner.ReleaseLockAsync(conn, LockKey).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is NpgsqlException or TimeoutException or InvalidOperationException)
            {
                IsLeader = false;
                logger.LogWarning(ex, "timer firer lost its connection; retrying");
                try { await Task.Delay(options.LeaderRetry, clock, ct).ConfigureAwait(false); }
                catch (OperationCanceledException) { return; }
            }
        }
    }

    /// <summary>Fires every timer due now (one pass); returns how many were handled. Public for tests and tools.</summary>
    public async Task<int> FireDueAsync(CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        var due = await store.DueAsync(now, options.BatchSize, ct).ConfigureAwait(false);
        var handled = 0;
        foreach (var t in due)
        {
            if (!_handlers.TryGetValue(t.Kind, out var handler))
            {
                await store.MarkFailedAsync(t, $"no handler for timer kind '{t.Kind}'", ct).ConfigureAwait(false);
                continue;
            }
            TimerOutcome outcome;
            try
            {
                outcome = await handler.FireAsync(t, ct).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is NpgsqlException or TimeoutException)
            {
                // Transient: leave it due; the same idempotency key makes the retry safe.
                await store.MarkFailedAsync(t, ex.Message, ct).ConfigureAwait(false);
                continue;
            }
            if (outcome.Retry)
            {
                await store.MarkFailedAsync(t, outcome.Description, ct).ConfigureAwait(false);
                continue;
            }
            await store.MarkFiredAsync(t, outcome.Description, clock.GetUtcNow(), ct).ConfigureAwait(false);
            Fired++;
            handled++;
        }
        return handled;
    }
}
