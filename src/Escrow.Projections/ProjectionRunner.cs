using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Escrow.EventStore;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Escrow.Projections;

public sealed record ProjectionRunnerOptions
{
    /// <summary>Events per transaction.</summary>
    public int BatchSize { get; init; } = 500;
    /// <summary>Fallback poll interval when no NOTIFY arrives (a lost notification only delays, never loses).</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromSeconds(1);
    /// <summary>How often a silo that does not hold the projection's lock tries to take it over.</summary>
    public TimeSpan LeaderRetry { get; init; } = TimeSpan.FromSeconds(2);
    /// <summary>
    /// After a wake-up, wait this long before reading, so that one batch carries the events of many appends instead of
    /// one transaction per append (fewer commits and statements per event; the lag grows by at most this much).
    /// </summary>
    public TimeSpan GatherDelay { get; init; } = TimeSpan.FromMilliseconds(10);
    /// <summary>
    /// For <see cref="HotWindow"/> after the last event or wake-up, poll at this interval instead of <see cref="PollInterval"/>:
    /// a read can come back short because a transaction that started earlier (another projection's batch) still holds the
    /// commit-safe horizon, and the NOTIFY of the events it held back has already been consumed.
    /// </summary>
    public TimeSpan HotPollInterval { get; init; } = TimeSpan.FromMilliseconds(10);
    /// <summary>How long after activity the runner keeps polling at <see cref="HotPollInterval"/>.</summary>
    public TimeSpan HotWindow { get; init; } = TimeSpan.FromMilliseconds(250);
}

/// <summary>Where a projection stands: its checkpoint and how far behind the log it is.</summary>
public sealed record ProjectionStatus(
    string Name, ulong TransactionId, long Position, long EventsApplied, long EventsBehind, double LagMilliseconds, DateTimeOffset UpdatedAt);

/// <summary>
/// Runs one projection: catches up from its checkpoint, then waits for <c>NOTIFY</c> (or the poll
/// interval). Exactly one runner per projection is active in the cluster: it holds a session-level
/// PostgreSQL advisory lock on its LISTEN connection, so if that silo dies the lock is released with the
/// connection and another silo takes over. Each batch reads events, applies them and advances the
/// checkpoint in one transaction.
/// </summary>
public sealed class ProjectionRunner(PgEventStore store, IProjection projection, ProjectionRunnerOptions options, ILogger logger)
{
    public IProjection Projection => projection;

    /// <summary>True while this runner holds the cluster-wide lock for its projection.</summary>
    public bool IsLeader { get; private set; }

    private long LockKey => LockKeyFor(projection.Name);

    /// <summary>
    /// The session advisory lock key of a projection's leadership: the first 8 bytes (little-endian) of
    /// SHA-256("projection:" + name). Public so the cluster can tell which silo holds which lease (pg_locks).
    /// </summary>
    public static long LockKeyFor(string projectionName) =>
        BitConverter.ToInt64(SHA256.HashData(Encoding.UTF8.GetBytes("projection:" + projectionName)), 0);

    public async Task RunAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                var conn = await store.DataSource.OpenConnectionAsync(ct).ConfigureAwait(false);
                await using var connScope = conn.ConfigureAwait(false);
                if (!await TryLockAsync(conn, ct).ConfigureAwait(false))
                {
                    await Task.Delay(options.LeaderRetry, ct).ConfigureAwait(false);
                    continue;
                }
                IsLeader = true;
                var wake = new SemaphoreSlim(0);
                conn.Notification += (_, _) => wake.Release();
                var listen = new NpgsqlCommand($"LISTEN {PgEventStore.NotifyChannel}", conn);
                await using (listen.ConfigureAwait(false))
                    await listen.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                using var waiter = CancellationTokenSource.CreateLinkedTokenSource(ct);
                var pump = PumpNotificationsAsync(conn, waiter.Token);
                try
                {
                    var woke = false;
                    var hotUntil = 0L;
                    while (!ct.IsCancellationRequested)
                    {
                        // The lock lives on this connection: if the database dropped it (the pump failed), the
                        // lock is gone and another silo may already lead. Stop applying and compete again.
                        if (pump.IsCompleted)
                            throw new InvalidOperationException($"the lock connection of projection {projection.Name} closed", pump.Exception?.GetBaseException());
                        var n = await ProcessBatchAsync(ct).ConfigureAwait(false);
                        if (n >= options.BatchSize) continue;
                        if (n > 0 || woke) hotUntil = Stopwatch.GetTimestamp() + (long)(options.HotWindow.TotalSeconds * Stopwatch.Frequency);
                        var hot = Stopwatch.GetTimestamp() < hotUntil;
                        woke = await wake.WaitAsync(hot ? options.HotPollInterval : options.PollInterval, ct).ConfigureAwait(false);
                        while (wake.CurrentCount > 0) await wake.WaitAsync(ct).ConfigureAwait(false);
                        if (woke && options.GatherDelay > TimeSpan.Zero) await Task.Delay(options.GatherDelay, ct).ConfigureAwait(false);
                    }
                }
                finally
                {
                    await waiter.CancelAsync().ConfigureAwait(false);
                    try { await pump.ConfigureAwait(false); }
                    catch (OperationCanceledException) { /* stopping */ }
                    catch (Exception ex) when (ex is NpgsqlException or System.IO.IOException or InvalidOperationException) { /* the connection broke: the lock went with it */ }
                    IsLeader = false;
                    await ReleaseLockAsync(conn, LockKey).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is NpgsqlException or InvalidOperationException or TimeoutException)
            {
                // The database went away or a batch failed: its transaction rolled back, so the checkpoint
                // did not move. Back off, reconnect, and resume from the checkpoint.
                IsLeader = false;
                logger.LogWarning(ex, "projection {Projection} stopped; retrying", projection.Name);
                try { await Task.Delay(options.LeaderRetry, ct).ConfigureAwait(false); }
                catch (OperationCanceledException) { return; }
            }
        }
    }

    /// <summary>
    /// Gives session advisory lock <paramref name="key"/> back on <paramref name="conn"/> before its connection returns to the pool. Without this the
    /// pooled connection would keep the lock (Npgsql resets a pooled session only when it is next handed out),
    /// and no silo — this one included — could lead until then. A broken connection is not pooled: its lock
    /// ended with the session, so a failure here is ignored.
    /// </summary>
    public static async Task ReleaseLockAsync(NpgsqlConnection conn, long key)
    {
        if (conn.State != System.Data.ConnectionState.Open) return;
        try
        {
            var cmd = new NpgsqlCommand("SELECT pg_advisory_unlock($1)", conn);
            await using var cmdScope = cmd.ConfigureAwait(false);
            cmd.Parameters.Add(new() { Value = key });
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await cmd.ExecuteScalarAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is NpgsqlException or InvalidOperationException or OperationCanceledException or TimeoutException or System.IO.IOException)
        {
            // The session is gone or unusable; Npgsql does not return a broken connection to the pool.
        }
    }

    private static async Task PumpNotificationsAsync(NpgsqlConnection conn, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
            await conn.WaitAsync(ct).ConfigureAwait(false);
    }

    private async Task<bool> TryLockAsync(NpgsqlConnection conn, CancellationToken ct)
    {
        var cmd = new NpgsqlCommand("SELECT pg_try_advisory_lock($1)", conn);
        await using var cmdScope = cmd.ConfigureAwait(false);
        cmd.Parameters.Add(new() { Value = LockKey });
        return (bool)(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
    }

    /// <summary>
    /// Applies one batch (at most <see cref="ProjectionRunnerOptions.BatchSize"/> events) and advances the
    /// checkpoint in the same transaction. Returns the number of events the checkpoint passed (with
    /// <see cref="IProjection.StreamPrefixes"/>, more than were applied: other streams' events are passed, not fetched). Safe to call from any
    /// process: the checkpoint row is locked for the duration, so two callers never apply the same batch.
    /// </summary>
    public async Task<int> ProcessBatchAsync(CancellationToken ct)
    {
        var conn = await store.DataSource.OpenConnectionAsync(ct).ConfigureAwait(false);
        await using var connScope = conn.ConfigureAwait(false);
        var tx = await conn.BeginTransactionAsync(ct).ConfigureAwait(false);
        await using var txScope = tx.ConfigureAwait(false);
        var cp = await LockCheckpointAsync(conn, tx, projection.Name, ct).ConfigureAwait(false);
        IReadOnlyList<StoredEvent> events;
        GlobalCheckpoint last;
        int scanned;
        if (projection.StreamPrefixes is { } prefixes)
            (events, last, scanned) = await store.ReadAllAsync(cp, options.BatchSize, prefixes, conn, tx, ct).ConfigureAwait(false);
        else
        {
            events = await store.ReadAllAsync(cp, options.BatchSize, ct, conn, tx).ConfigureAwait(false);
            scanned = events.Count;
            last = scanned > 0 ? events[^1].Checkpoint : cp;
        }
        if (scanned == 0)
        {
            await tx.RollbackAsync(ct).ConfigureAwait(false);
            return 0;
        }
        if (events.Count > 0) await projection.ApplyAsync(conn, tx, events, ct).ConfigureAwait(false);
        var upd = new NpgsqlCommand(
            "UPDATE projection_checkpoints SET transaction_id = $2::text::xid8, global_position = $3, events_applied = events_applied + $4, updated_at = now() WHERE projection = $1",
            conn, tx);
        await using (upd.ConfigureAwait(false))
        {
            upd.Parameters.Add(new() { Value = projection.Name });
            upd.Parameters.Add(new() { Value = last.TransactionId.ToString(System.Globalization.CultureInfo.InvariantCulture) });
            upd.Parameters.Add(new() { Value = last.Position });
            upd.Parameters.Add(new() { Value = (long)scanned });
            await upd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
        await tx.CommitAsync(ct).ConfigureAwait(false);
        return scanned;
    }

    /// <summary>Processes batches until none is left; returns the events the checkpoint passed.</summary>
    public async Task<long> CatchUpAsync(IProgress<long>? progress, CancellationToken ct)
    {
        long total = 0;
        int n;
        while ((n = await ProcessBatchAsync(ct).ConfigureAwait(false)) > 0)
        {
            total += n;
            progress?.Report(total);
        }
        return total;
    }

    /// <summary>
    /// Applies batches until no committed event lies beyond the checkpoint. <see cref="CatchUpAsync"/> stops at
    /// the first empty batch, which can come early: an event above the cluster-wide horizon (some older
    /// transaction, in any database, still running) is committed but not yet readable. This waits it out,
    /// up to <paramref name="timeout"/>; returns the events the checkpoint passed.
    /// </summary>
    public async Task<long> CatchUpToHeadAsync(TimeSpan timeout, IProgress<long>? progress, CancellationToken ct)
    {
        var start = Stopwatch.GetTimestamp();
        long total = 0;
        while (true)
        {
            total += await CatchUpAsync(progress is null ? null : new Progress<long>(n => progress.Report(total + n)), ct).ConfigureAwait(false);
            if ((await StatusAsync(store, projection.Name, ct).ConfigureAwait(false)).EventsBehind == 0) return total;
            if (Stopwatch.GetElapsedTime(start) > timeout)
                throw new TimeoutException($"projection {projection.Name} did not reach the head of the log within {timeout}");
            await Task.Delay(10, ct).ConfigureAwait(false);
        }
    }

    private static async Task<GlobalCheckpoint> LockCheckpointAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string name, CancellationToken ct)
    {
        // The row exists after the first batch ever; only then is the INSERT needed (one statement less per batch).
        for (var attempt = 0; ; attempt++)
        {
            // force_generic_plan for this transaction: the commit-order read that follows was re-planned on every batch
            // (PostgreSQL kept choosing a custom plan for its row comparison; 0.2 ms of planning per batch), while its
            // generic plan is the same index scan on events_commit_order.
            var generic = new NpgsqlCommand("SET LOCAL plan_cache_mode = force_generic_plan", conn, tx);
            await using (generic.ConfigureAwait(false))
                await generic.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            var sel = new NpgsqlCommand(
                "SELECT transaction_id::text, global_position FROM projection_checkpoints WHERE projection = $1 FOR UPDATE", conn, tx);
            await using (sel.ConfigureAwait(false))
            {
                sel.Parameters.Add(new() { Value = name });
                var r = await sel.ExecuteReaderAsync(ct).ConfigureAwait(false);
                await using var rScope = r.ConfigureAwait(false);
                if (await r.ReadAsync(ct).ConfigureAwait(false))
                    return new GlobalCheckpoint(ulong.Parse(r.GetString(0), System.Globalization.CultureInfo.InvariantCulture), r.GetInt64(1));
            }
            if (attempt > 0) throw new InvalidOperationException($"projection checkpoint '{name}' could not be created");
            var ins = new NpgsqlCommand("INSERT INTO projection_checkpoints (projection) VALUES ($1) ON CONFLICT DO NOTHING", conn, tx);
            await using var insScope = ins.ConfigureAwait(false);
            ins.Parameters.Add(new() { Value = name });
            await ins.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Empties the read model and moves the checkpoint back to the start, in one transaction that holds
    /// the checkpoint row lock (a concurrent batch waits, then continues from position 0).
    /// </summary>
    public async Task ResetAsync(CancellationToken ct)
    {
        var conn = await store.DataSource.OpenConnectionAsync(ct).ConfigureAwait(false);
        await using var connScope = conn.ConfigureAwait(false);
        var tx = await conn.BeginTransactionAsync(ct).ConfigureAwait(false);
        await using var txScope = tx.ConfigureAwait(false);
        await LockCheckpointAsync(conn, tx, projection.Name, ct).ConfigureAwait(false);
        await projection.ResetAsync(conn, tx, ct).ConfigureAwait(false);
        var upd = new NpgsqlCommand(
            "UPDATE projection_checkpoints SET transaction_id = '0', global_position = 0, events_applied = 0, updated_at = now() WHERE projection = $1", conn, tx);
        await using (upd.ConfigureAwait(false))
        {
            upd.Parameters.Add(new() { Value = projection.Name });
            await upd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
        await tx.CommitAsync(ct).ConfigureAwait(false);
    }

    /// <summary>The projection's checkpoint, the events visible to it but not yet applied, and the age of the oldest of them.</summary>
    public static async Task<ProjectionStatus> StatusAsync(PgEventStore store, string name, CancellationToken ct)
    {
        // Read the checkpoint first, then count with plain parameters, so the row comparison can use the
        // (transaction_id, global_position) index instead of scanning the whole log.
        ulong tx = 0; long pos = 0, applied = 0; DateTimeOffset updated = DateTimeOffset.UnixEpoch;
        var cp = store.DataSource.CreateCommand(
            "SELECT transaction_id::text AS tx_text, global_position, events_applied, updated_at FROM projection_checkpoints WHERE projection = $1");
        await using (cp.ConfigureAwait(false))
        {
            cp.Parameters.Add(new() { Value = name });
            var r = await cp.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await using var rScope = r.ConfigureAwait(false);
            if (await r.ReadAsync(ct).ConfigureAwait(false))
            {
                tx = ulong.Parse(r.GetString(0), System.Globalization.CultureInfo.InvariantCulture);
                pos = r.GetInt64(1); applied = r.GetInt64(2); updated = r.GetFieldValue<DateTimeOffset>(3);
            }
        }
        var cmd = store.DataSource.CreateCommand(
            """
            SELECT count(*), extract(epoch FROM now() - min(e.recorded_at)) * 1000
            FROM events e WHERE (e.transaction_id, e.global_position) > ($1::text::xid8, $2)
            """);
        await using var cmdScope = cmd.ConfigureAwait(false);
        cmd.Parameters.Add(new() { Value = tx.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        cmd.Parameters.Add(new() { Value = pos });
        var c = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        await using var cScope = c.ConfigureAwait(false);
        await c.ReadAsync(ct).ConfigureAwait(false);
        return new ProjectionStatus(name, tx, pos, applied, c.GetInt64(0), c.IsDBNull(1) ? 0 : Math.Max(0, (double)c.GetDecimal(1)), updated);
    }

    internal static long Elapsed(long start) => (long)Stopwatch.GetElapsedTime(start).TotalMilliseconds;
}
