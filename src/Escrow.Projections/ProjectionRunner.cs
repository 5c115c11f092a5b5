using System.Diagnostics;
using Escrow.EventStore;
using Npgsql;

namespace Escrow.Projections;

public sealed record ProjectionRunnerOptions
{
    /// <summary>Events per transaction when the runner reads the log itself (catch-up, rebuild, a gap in the delivered batches).</summary>
    public int BatchSize { get; init; } = 500;
}

/// <summary>What <see cref="ProjectionRunner.ApplyDeliveredAsync"/> did with a delivered batch.</summary>
public enum DeliveryOutcome
{
    /// <summary>The batch began exactly at the checkpoint: its events were applied and the checkpoint moved to its end.</summary>
    Applied,
    /// <summary>The checkpoint was already at or past the batch's end (a redelivery, or a rebuild got there first): nothing changed.</summary>
    AlreadyApplied,
    /// <summary>The checkpoint lay before the batch's start (a batch was lost or the read model was reset): the runner read the missing events from the log, up to at least the batch's end unless its time budget ran out first.</summary>
    CaughtUpFromLog,
}

/// <summary>Where a projection stands: its checkpoint and how far behind the log it is.</summary>
public sealed record ProjectionStatus(
    string Name, ulong TransactionId, long Position, long EventsApplied, long EventsBehind, double LagMilliseconds, DateTimeOffset UpdatedAt);

/// <summary>
/// Applies the log to one projection's read model. Every change happens in a transaction that first locks the projection's
/// checkpoint row and ends by moving it, so an event is applied exactly once or not at all, whoever calls and however
/// often: the projection grain with the batches its Orleans stream delivers (<see cref="ApplyDeliveredAsync"/>), or
/// <c>escrow rebuild</c> and the tests reading the log themselves (<see cref="ProcessBatchAsync"/>).
/// </summary>
public sealed class ProjectionRunner(PgEventStore store, IProjection projection, ProjectionRunnerOptions options)
{
    public IProjection Projection => projection;

    /// <summary>
    /// Applies a batch read from the log by someone else (the stream's queue receiver): <paramref name="events"/> are the
    /// projection's events (after <see cref="IProjection.StreamPrefixes"/>) in commit order between <paramref name="from"/>
    /// (exclusive) and <paramref name="to"/> (inclusive), and <paramref name="scanned"/> the log's events in that range.
    /// Only if the checkpoint is exactly <paramref name="from"/> are they applied (and the checkpoint set to
    /// <paramref name="to"/>) in one transaction; a checkpoint at or past <paramref name="to"/> means they were applied
    /// already; a checkpoint before <paramref name="from"/> means events in between never arrived, and the runner reads the
    /// log from the checkpoint until it has passed <paramref name="to"/>. So a lost, repeated or stale batch never loses
    /// or doubles an event. Reading a gap stops after <c>gapBudget</c> (the rest is read at the next call), so a caller
    /// with a call timeout (a grain) keeps each call short.
    /// </summary>
    public async Task<DeliveryOutcome> ApplyDeliveredAsync(GlobalCheckpoint from, GlobalCheckpoint to, int scanned, IReadOnlyList<StoredEvent> events,
        TimeSpan gapBudget, CancellationToken ct)
    {
        var conn = await store.DataSource.OpenConnectionAsync(ct).ConfigureAwait(false);
        await using (conn.ConfigureAwait(false))
        {
            var tx = await conn.BeginTransactionAsync(ct).ConfigureAwait(false);
            await using var txScope = tx.ConfigureAwait(false);
            var cp = await LockCheckpointAsync(conn, tx, projection.Name, ct, readsLog: false).ConfigureAwait(false);
            if (cp.CompareTo(to) >= 0)
            {
                await tx.RollbackAsync(ct).ConfigureAwait(false);
                return DeliveryOutcome.AlreadyApplied;
            }
            if (cp == from)
            {
                if (events.Count > 0) await projection.ApplyAsync(conn, tx, events, ct).ConfigureAwait(false);
                await MoveCheckpointAsync(conn, tx, to, scanned, ct).ConfigureAwait(false);
                await tx.CommitAsync(ct).ConfigureAwait(false);
                return DeliveryOutcome.Applied;
            }
            await tx.RollbackAsync(ct).ConfigureAwait(false);
        }
        // Behind the batch (or inside it, after a rebuild moved the checkpoint): the log is the truth, read it.
        var started = Stopwatch.GetTimestamp();
        while (Stopwatch.GetElapsedTime(started) < gapBudget)
        {
            var cp = await CheckpointAsync(ct).ConfigureAwait(false);
            if (cp.CompareTo(to) >= 0) return DeliveryOutcome.CaughtUpFromLog;
            if (await ProcessBatchAsync(ct).ConfigureAwait(false) == 0)
            {
                // The end of the batch is committed, so it is readable once the horizon passes it (an older transaction
                // still running holds it back for a moment).
                await Task.Delay(10, ct).ConfigureAwait(false);
            }
        }
        return DeliveryOutcome.CaughtUpFromLog;
    }

    /// <summary>The projection's checkpoint now (the start of the log if it has none yet).</summary>
    public async Task<GlobalCheckpoint> CheckpointAsync(CancellationToken ct) => await CheckpointAsync(store.DataSource, projection.Name, ct).ConfigureAwait(false);

    /// <summary>The checkpoint of projection <paramref name="name"/> (the start of the log if it has none yet).</summary>
    public static async Task<GlobalCheckpoint> CheckpointAsync(NpgsqlDataSource dataSource, string name, CancellationToken ct)
    {
        var cmd = dataSource.CreateCommand("SELECT transaction_id::text, global_position FROM projection_checkpoints WHERE projection = $1");
        await using var cmdScope = cmd.ConfigureAwait(false);
        cmd.Parameters.Add(new() { Value = name });
        var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        await using var rScope = r.ConfigureAwait(false);
        return await r.ReadAsync(ct).ConfigureAwait(false)
            ? new GlobalCheckpoint(ulong.Parse(r.GetString(0), System.Globalization.CultureInfo.InvariantCulture), r.GetInt64(1))
            : GlobalCheckpoint.Start;
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
        await MoveCheckpointAsync(conn, tx, last, scanned, ct).ConfigureAwait(false);
        await tx.CommitAsync(ct).ConfigureAwait(false);
        return scanned;
    }

    private async Task MoveCheckpointAsync(NpgsqlConnection conn, NpgsqlTransaction tx, GlobalCheckpoint to, int scanned, CancellationToken ct)
    {
        var upd = new NpgsqlCommand(
            "UPDATE projection_checkpoints SET transaction_id = $2::text::xid8, global_position = $3, events_applied = events_applied + $4, updated_at = now() WHERE projection = $1",
            conn, tx);
        await using var updScope = upd.ConfigureAwait(false);
        upd.Parameters.Add(new() { Value = projection.Name });
        upd.Parameters.Add(new() { Value = to.TransactionId.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        upd.Parameters.Add(new() { Value = to.Position });
        upd.Parameters.Add(new() { Value = (long)scanned });
        await upd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
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

    private static async Task<GlobalCheckpoint> LockCheckpointAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string name, CancellationToken ct,
        bool readsLog = true)
    {
        // The row exists after the first batch ever; only then is the INSERT needed (one statement less per batch).
        for (var attempt = 0; ; attempt++)
        {
            if (readsLog)
            {
                // force_generic_plan for this transaction: the commit-order read that follows was re-planned on every batch
                // (PostgreSQL kept choosing a custom plan for its row comparison; 0.2 ms of planning per batch), while its
                // generic plan is the same index scan on events_commit_order. (A delivered batch reads no log: not needed.)
                var generic = new NpgsqlCommand("SET LOCAL plan_cache_mode = force_generic_plan", conn, tx);
                await using (generic.ConfigureAwait(false))
                    await generic.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }
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
