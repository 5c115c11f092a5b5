using System.Text.Json;
using Escrow.EventStore;
using Escrow.Projections;
using Npgsql;
using Escrow.Domain.Payments;

namespace Escrow.Silo.Ledger;

/// <summary>
/// Part of <c>escrow verify</c> (<see cref="LedgerVerifier"/>): <c>payment_status</c> and <c>payment_timeline</c> equal
/// a replay of the payment streams up to the <c>payments</c> projection's checkpoint. The verifier feeds every event
/// of its single pass over the log to <see cref="Observe"/> (in the same REPEATABLE READ snapshot as the tables are
/// read), then calls <see cref="CompareAsync"/>. Rows are folded with <see cref="PaymentReadModel.Apply"/>, the
/// projection's own fold; every column is compared (the folded state as canonical JSON), and the timeline by
/// (sequence, event type, status, time, actor).
/// </summary>
public sealed class PaymentReadModelCheck(GlobalCheckpoint checkpoint)
{
    private readonly Dictionary<string, PaymentStatusRow> _rows = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<PaymentTimelineRow>> _timeline = new(StringComparer.Ordinal);

    /// <summary>
    /// Payment streams left out of the comparison (by stream id): those whose first months were archived and not replayed,
    /// so the replay cannot rebuild their rows.
    /// </summary>
    public HashSet<string> Unchecked { get; } = new(StringComparer.Ordinal);

    /// <summary>Folds <paramref name="e"/> when it is a payment event at or before the checkpoint; ignores anything else.</summary>
    public void Observe(StoredEvent e)
    {
        // Keyed by stream (institution and UETR): a UETR is unique per institution only.
        if (!PaymentStreams.TryUetr(e.StreamId, out _) || e.Checkpoint.CompareTo(checkpoint) > 0 || Unchecked.Contains(e.StreamId)) return;
        var (row, t) = PaymentReadModel.Apply(_rows.GetValueOrDefault(e.StreamId), e);
        _rows[e.StreamId] = row;
        if (!_timeline.TryGetValue(e.StreamId, out var list)) _timeline[e.StreamId] = list = [];
        list.Add(t);
    }

    /// <summary>Compares the tables with the replay; adds report lines; answers whether they are equal.</summary>
    public async Task<bool> CompareAsync(NpgsqlConnection conn, NpgsqlTransaction tx, List<string> lines, CancellationToken ct)
    {
        var mismatches = 0;
        var seen = 0;
        await using (var cmd = new NpgsqlCommand($"SELECT {PaymentsProjection.SelectList} FROM payment_status", conn, tx))
        await using (var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false))
        {
            while (await r.ReadAsync(ct).ConfigureAwait(false))
            {
                var stored = PaymentsProjection.Read(r);
                if (Unchecked.Contains(PaymentStreams.StreamId(stored.Tenant, stored.Uetr))) continue;
                seen++;
                var replayed = _rows.GetValueOrDefault(PaymentStreams.StreamId(stored.Tenant, stored.Uetr));
                if (replayed is not null && PaymentStatusView.From(replayed) == PaymentStatusView.From(stored) && replayed.GlobalPosition == stored.GlobalPosition
                    && Json(replayed) == Json(stored))
                    continue;
                if (mismatches++ < 10)
                    lines.Add($"payment_status MISMATCH {stored.Uetr} of {stored.Tenant}: read model {stored.Status} v{stored.Version}, replay " +
                              (replayed is null ? "absent" : $"{replayed.Status} v{replayed.Version}") + Diff(stored, replayed));
            }
        }
        mismatches += Math.Abs(_rows.Count - seen);
        lines.Add($"payment_status vs replay: {seen:N0} rows, {_rows.Count:N0} expected, {mismatches} mismatches");

        var timelineMismatches = 0;
        long timelineRows = 0;
        await using (var cmd = new NpgsqlCommand(
            "SELECT uetr, sequence, event_type, status, occurred_at, actor, tenant FROM payment_timeline ORDER BY tenant, uetr, sequence", conn, tx))
        await using (var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false))
        {
            string? current = null;
            List<PaymentTimelineRow>? list = null;
            var idx = 0;
            while (await r.ReadAsync(ct).ConfigureAwait(false))
            {
                var uetr = r.GetString(0);
                var stream = PaymentStreams.StreamId(r.GetString(6), uetr);
                if (Unchecked.Contains(stream)) continue;
                timelineRows++;
                if (stream != current) { current = stream; idx = 0; _timeline.TryGetValue(stream, out list); }
                var same = list is not null && idx < list.Count && list[idx].Sequence == r.GetInt64(1) && list[idx].EventType == r.GetString(2)
                           && list[idx].Status == r.GetString(3) && list[idx].OccurredAt == r.GetFieldValue<DateTimeOffset>(4)
                           && list[idx].Actor == r.GetString(5) && list[idx].Tenant == r.GetString(6);
                if (!same && timelineMismatches++ < 10)
                    lines.Add($"payment_timeline MISMATCH {uetr} of {r.GetString(6)} #{r.GetInt64(1)}: read model {r.GetString(2)} → {r.GetString(3)}");
                idx++;
            }
        }
        var expectedTimeline = _timeline.Values.Sum(l => (long)l.Count);
        timelineMismatches += (int)Math.Abs(expectedTimeline - timelineRows);
        lines.Add($"payment_timeline vs replay: {timelineRows:N0} rows, {expectedTimeline:N0} expected, {timelineMismatches} mismatches" +
                  (Unchecked.Count > 0 ? $" ({Unchecked.Count:N0} payments with archived months not compared; give --archive to replay them)" : ""));
        return mismatches == 0 && timelineMismatches == 0;
    }

    private static string Json(PaymentStatusRow r) => JsonSerializer.Serialize(r.State, EventSerializer.Options);

    private static string Diff(PaymentStatusRow stored, PaymentStatusRow? replayed)
    {
        if (replayed is null) return "";
        var a = PaymentStatusView.From(stored);
        var b = PaymentStatusView.From(replayed);
        var diffs = typeof(PaymentStatusView).GetProperties()
            .Where(p => !Equals(p.GetValue(a), p.GetValue(b)))
            .Select(p => $"{p.Name} {p.GetValue(a) ?? "null"} ≠ {p.GetValue(b) ?? "null"}")
            .ToList();
        return diffs.Count == 0 ? " (state differs)" : " (" + string.Join("; ", diffs) + ")";
    }
}
