using Npgsql;
using NpgsqlTypes;

namespace Escrow.Silo.Timers;

/// <summary>
/// A durable timer to arm: <see cref="TimerId"/> is stable per purpose (re-arming the same id moves it and
/// bumps its generation), <see cref="DueAt"/> is UTC, <see cref="PayloadJson"/> is handed to the handler.
/// </summary>
public sealed record TimerSchedule(string TimerId, string Kind, string StreamId, string Tenant, DateTimeOffset DueAt, string PayloadJson = "{}");

/// <summary>A timer that is due: what a handler receives.</summary>
public sealed record DueTimer(string TimerId, string Kind, string StreamId, string Tenant, DateTimeOffset DueAt, string PayloadJson, int Generation, int Attempts)
{
    /// <summary>
    /// The idempotency key of the command this firing runs: the same for every attempt of one arming, so
    /// a firing repeated after a crash (command committed, timer not yet marked) is answered from the
    /// stored result instead of applied again.
    /// </summary>
    public string IdempotencyKey => $"timer:{TimerId}:{Generation}";
}

/// <summary>A timer row as listed (for the dashboard and tests).</summary>
public sealed record TimerRow(string TimerId, string Kind, string StreamId, string Tenant, DateTimeOffset DueAt, int Generation,
    DateTimeOffset? FiredAt, DateTimeOffset? CancelledAt, int Attempts, string? Outcome);

/// <summary>The <c>timers</c> table (sql/004_timers.sql).</summary>
public sealed class TimerStore(NpgsqlDataSource dataSource)
{
    public NpgsqlDataSource DataSource => dataSource;

    /// <summary>
    /// The statement that arms (or re-arms) a timer; add it to an event append's batch so the timer
    /// commits in the same transaction as the event that sets it.
    /// </summary>
    public static NpgsqlBatchCommand ArmCommand(TimerSchedule t)
    {
        var c = new NpgsqlBatchCommand(
            """
            INSERT INTO timers (timer_id, kind, stream_id, tenant, due_at, payload) VALUES ($1, $2, $3, $4, $5, $6::jsonb)
            ON CONFLICT (timer_id) DO UPDATE SET due_at = excluded.due_at, payload = excluded.payload, kind = excluded.kind,
                generation = timers.generation + 1, fired_at = NULL, cancelled_at = NULL, attempts = 0, outcome = NULL
            """);
        c.Parameters.Add(new() { Value = t.TimerId });
        c.Parameters.Add(new() { Value = t.Kind });
        c.Parameters.Add(new() { Value = t.StreamId });
        c.Parameters.Add(new() { Value = t.Tenant });
        c.Parameters.Add(new() { Value = t.DueAt.ToUniversalTime(), NpgsqlDbType = NpgsqlDbType.TimestampTz });
        c.Parameters.Add(new() { Value = t.PayloadJson });
        return c;
    }

    /// <summary>The statement that cancels a pending timer (a no-op when it already fired or does not exist).</summary>
    public static NpgsqlBatchCommand CancelCommand(string timerId)
    {
        var c = new NpgsqlBatchCommand("UPDATE timers SET cancelled_at = now() WHERE timer_id = $1 AND fired_at IS NULL AND cancelled_at IS NULL");
        c.Parameters.Add(new() { Value = timerId });
        return c;
    }

    public async Task ArmAsync(TimerSchedule t, CancellationToken ct) => await RunAsync(ArmCommand(t), ct).ConfigureAwait(false);

    public async Task CancelAsync(string timerId, CancellationToken ct) => await RunAsync(CancelCommand(timerId), ct).ConfigureAwait(false);

    private async Task RunAsync(NpgsqlBatchCommand command, CancellationToken ct)
    {
        await using var batch = dataSource.CreateBatch();
        batch.BatchCommands.Add(command);
        await batch.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    /// <summary>Timers due at <paramref name="now"/> (by the injected clock, not the database's), oldest first.</summary>
    public async Task<IReadOnlyList<DueTimer>> DueAsync(DateTimeOffset now, int limit, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(
            """
            SELECT timer_id, kind, stream_id, tenant, due_at, payload::text AS payload_text, generation, attempts
            FROM timers WHERE fired_at IS NULL AND cancelled_at IS NULL AND due_at <= $1
            ORDER BY due_at, timer_id LIMIT $2
            """);
        cmd.Parameters.Add(new() { Value = now.ToUniversalTime(), NpgsqlDbType = NpgsqlDbType.TimestampTz });
        cmd.Parameters.Add(new() { Value = limit });
        var list = new List<DueTimer>();
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false))
            list.Add(new DueTimer(r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetFieldValue<DateTimeOffset>(4),
                r.GetString(5), r.GetInt32(6), r.GetInt32(7)));
        return list;
    }

    /// <summary>
    /// Marks one arming as fired, unless it was re-armed meanwhile (generation check). A cancellation of the
    /// same arming does not stop the mark: the firing's own command may cancel its timer (an expired deal
    /// wants no expiry timer) in the same transaction as its events.
    /// </summary>
    public async Task<bool> MarkFiredAsync(DueTimer t, string outcome, DateTimeOffset at, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(
            "UPDATE timers SET fired_at = $3, outcome = $4, attempts = attempts + 1 WHERE timer_id = $1 AND generation = $2 AND fired_at IS NULL");
        cmd.Parameters.Add(new() { Value = t.TimerId });
        cmd.Parameters.Add(new() { Value = t.Generation });
        cmd.Parameters.Add(new() { Value = at.ToUniversalTime(), NpgsqlDbType = NpgsqlDbType.TimestampTz });
        cmd.Parameters.Add(new() { Value = outcome });
        return await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false) == 1;
    }

    /// <summary>Records a failed attempt; the timer stays due and is retried on the next pass.</summary>
    public async Task MarkFailedAsync(DueTimer t, string error, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(
            "UPDATE timers SET attempts = attempts + 1, outcome = $3 WHERE timer_id = $1 AND generation = $2 AND fired_at IS NULL");
        cmd.Parameters.Add(new() { Value = t.TimerId });
        cmd.Parameters.Add(new() { Value = t.Generation });
        cmd.Parameters.Add(new() { Value = "error: " + error });
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    public async Task<TimerRow?> GetAsync(string timerId, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(
            "SELECT timer_id, kind, stream_id, tenant, due_at, generation, fired_at, cancelled_at, attempts, outcome FROM timers WHERE timer_id = $1");
        cmd.Parameters.Add(new() { Value = timerId });
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        if (!await r.ReadAsync(ct).ConfigureAwait(false)) return null;
        return new TimerRow(r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetFieldValue<DateTimeOffset>(4), r.GetInt32(5),
            r.IsDBNull(6) ? null : r.GetFieldValue<DateTimeOffset>(6), r.IsDBNull(7) ? null : r.GetFieldValue<DateTimeOffset>(7),
            r.GetInt32(8), r.IsDBNull(9) ? null : r.GetString(9));
    }
}
