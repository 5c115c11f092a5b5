using System.Text.Json;
using System.Text.Json.Nodes;
using Escrow.Domain;
using Escrow.Domain.Iso20022;
using Escrow.Domain.Payments;
using Escrow.EventStore;
using Npgsql;
using NpgsqlTypes;

namespace Escrow.Projections;

/// <summary>
/// One row of <c>payment_status</c> (see <c>sql/009_payment_read_models.sql</c>). Amounts are major units
/// (decimal) of their currency; instants UTC truncated to microseconds (PostgreSQL's precision), so a row
/// read back from the table equals the row folded in memory.
/// </summary>
public sealed record PaymentStatusRow
{
    public required string Uetr { get; init; }
    public required string Tenant { get; init; }
    /// <summary>The <see cref="PaymentStatus"/> name after the last event (<c>Initiated</c>, <c>Accepted</c>, ...).</summary>
    public required string Status { get; init; }
    /// <summary>Debtor agent of the pacs.008 (BIC, else clearing member id).</summary>
    public string? SourceAgent { get; init; }
    /// <summary>Creditor agent of the pacs.008, or of the proxy resolution before the pacs.008.</summary>
    public string? DestinationAgent { get; init; }
    /// <summary>The quote's source currency, else the pacs.008 settlement currency.</summary>
    public string? SourceCurrency { get; init; }
    /// <summary>The quote's target currency, else the pacs.008 settlement currency (no FX).</summary>
    public string? DestinationCurrency { get; init; }
    public decimal? SourceAmount { get; init; }
    public decimal? DestinationAmount { get; init; }
    /// <summary>The selected quote's rate: destination units per source unit.</summary>
    public decimal? Rate { get; init; }
    public string? QuoteId { get; init; }
    public string? FxpId { get; init; }
    /// <summary>pacs.002 RJCT reason code (else its text), or the validation / proxy-resolution failure reason.</summary>
    public string? RejectionReason { get; init; }
    /// <summary>Cumulative amount returned by pacs.004, in the settlement currency.</summary>
    public decimal ReturnedAmount { get; init; }
    public DateTimeOffset? InitiatedAt { get; init; }
    /// <summary>PaymentAccepted: settlement confirmed (pacs.002 ACSC/ACCC, or implied by a pacs.004).</summary>
    public DateTimeOffset? SettledAt { get; init; }
    /// <summary>The outcome: PaymentCompleted, or PaymentRejected / PaymentValidationFailed / ProxyResolutionFailed. Set once.</summary>
    public DateTimeOffset? CompletedAt { get; init; }
    /// <summary><see cref="CompletedAt"/> − <see cref="InitiatedAt"/> in seconds (microsecond precision), when both are known.</summary>
    public decimal? DurationSeconds { get; init; }
    public long Version { get; init; }
    public long GlobalPosition { get; init; }
    /// <summary>The <c>At</c> of the last event.</summary>
    public DateTimeOffset UpdatedAt { get; init; }
    /// <summary>The aggregate's folded state (the raw XML of the pacs.008 left out).</summary>
    public required PaymentState State { get; init; }
}

/// <summary>One row of <c>payment_timeline</c>: one per payment event.</summary>
public sealed record PaymentTimelineRow(
    string Uetr, long Sequence, long GlobalPosition, string Tenant, string EventType, string Status, DateTimeOffset OccurredAt,
    string Actor, string DetailsJson);

/// <summary>
/// The pure fold behind the payment read models, shared by <see cref="PaymentsProjection"/> and the verifier
/// (<c>escrow verify</c>): the status is the aggregate's own <see cref="Payment.Evolve"/>, the other columns
/// are taken from the events as described on <see cref="PaymentStatusRow"/>.
/// </summary>
public static class PaymentReadModel
{
    /// <summary>Event data fields left out of a timeline row's details: the key, the instant (own columns) and the bulky evidence.</summary>
    private static readonly string[] OmittedDetails = ["uetr", "at", "rawXml", "fingerprint"];

    /// <summary>Applies one stored event of stream <c>payment-{institution}-{uetr}</c> to its row (null before the first event).</summary>
    public static (PaymentStatusRow Row, PaymentTimelineRow Timeline) Apply(PaymentStatusRow? row, StoredEvent stored)
    {
        if (!PaymentStreams.TryUetr(stored.StreamId, out var uetr))
            throw new ArgumentException($"'{stored.StreamId}' is not a payment stream", nameof(stored));
        var evt = EventSerializer.Deserialize(stored);
        var (tenant, actor) = TenantAndActor(stored);
        row ??= new PaymentStatusRow { Uetr = uetr, Tenant = tenant, Status = PaymentStatus.None.ToString(), State = PaymentState.Empty(uetr) };
        var state = Payment.Evolve(row.State, evt);
        if (state.Instruction is { RawXml: not null } instruction)
            state = state with { Instruction = instruction with { RawXml = null } };   // evidence stays in the log, not in every row
        var at = Micro(((IPaymentEvent)evt).At);
        var next = row with { State = state, Status = state.Status.ToString(), Version = stored.Version, GlobalPosition = stored.GlobalPosition, UpdatedAt = at };
        next = evt switch
        {
            QuoteRequested q => next with { SourceCurrency = q.SourceCurrency, DestinationCurrency = q.TargetCurrency, SourceAmount = q.Amount },
            QuoteSelected s => Amounts(next with { QuoteId = s.QuoteId, FxpId = s.FxpId, Rate = s.Rate }),
            ProxyResolved p => next with { DestinationAgent = p.CreditorAgent },
            ProxyResolutionFailed f => Outcome(next with { RejectionReason = f.Reason }, at),
            PaymentInitiated i => Amounts(next with
            {
                SourceAgent = i.DebtorAgent,
                DestinationAgent = i.CreditorAgent ?? next.DestinationAgent,
                SourceCurrency = next.SourceCurrency ?? i.Currency,
                DestinationCurrency = next.DestinationCurrency ?? i.Currency,
                InitiatedAt = at,
            }),
            PaymentValidationFailed f => Outcome(next with { RejectionReason = f.Reason }, at),
            PaymentAccepted => next with { SettledAt = next.SettledAt ?? at },
            PaymentRejected r => Outcome(next with { RejectionReason = r.ReasonCode ?? r.ReasonText }, at),
            PaymentCompleted => Outcome(next, at),
            PaymentReturned r => next with { ReturnedAmount = r.TotalReturned },
            _ => next,
        };
        // The event's current stored name: a payment event written under its former SCREAMING_SNAKE_CASE name reads as today's.
        var timeline = new PaymentTimelineRow(uetr, stored.Version, stored.GlobalPosition, next.Tenant, EventRegistry.CurrentName(stored.EventType), next.Status, at, actor,
            Details(stored.DataJson));
        return (next, timeline);
    }

    /// <summary>
    /// Source and destination amounts once the settlement amount is known: the pacs.008 settles in the quote's source
    /// currency (destination = amount × rate) or in its target currency (source = amount ÷ rate), each rounded to the
    /// other currency's ISO 4217 minor unit (midpoint away from zero); without a quote both are the settlement amount.
    /// </summary>
    private static PaymentStatusRow Amounts(PaymentStatusRow r)
    {
        if (r.State.Instruction is not { } i) return r;
        if (r.Rate is not { } rate) return r with { SourceAmount = i.Amount, DestinationAmount = i.Amount };
        return i.Currency == r.DestinationCurrency && r.SourceCurrency != r.DestinationCurrency
            ? r with { DestinationAmount = i.Amount, SourceAmount = Round(i.Amount / rate, r.SourceCurrency) }
            : r with { SourceAmount = i.Amount, DestinationAmount = Round(i.Amount * rate, r.DestinationCurrency) };
    }

    private static decimal Round(decimal amount, string? currency) =>
        Currency.TryParse(currency, out var c) ? decimal.Round(amount, c.Value.MinorUnits, MidpointRounding.AwayFromZero) : amount;

    /// <summary>The first outcome fixes <c>completed_at</c> and the duration; later events (notifications, returns) do not move them.</summary>
    private static PaymentStatusRow Outcome(PaymentStatusRow r, DateTimeOffset at)
    {
        if (r.CompletedAt is not null) return r;
        return r with
        {
            CompletedAt = at,
            DurationSeconds = r.InitiatedAt is { } start ? (at - start).Ticks / (decimal)TimeSpan.TicksPerSecond : null,
        };
    }

    /// <summary>Truncates to whole microseconds, UTC (timestamptz precision).</summary>
    public static DateTimeOffset Micro(DateTimeOffset t)
    {
        var utc = t.ToUniversalTime();
        return new DateTimeOffset(utc.Ticks - utc.Ticks % 10, TimeSpan.Zero);
    }

    private static (string Tenant, string Actor) TenantAndActor(StoredEvent e)
    {
        using var doc = JsonDocument.Parse(e.MetadataJson);
        var root = doc.RootElement;
        return (root.TryGetProperty("tenant", out var t) ? t.GetString() ?? "" : "",
                root.TryGetProperty("actor", out var a) ? a.GetString() ?? "" : "");
    }

    private static string Details(string dataJson)
    {
        var node = JsonNode.Parse(dataJson)!.AsObject();
        foreach (var name in OmittedDetails) node.Remove(name);
        return node.ToJsonString();
    }

    /// <summary>Whether <paramref name="value"/> is a UETR (lower-case UUIDv4, as the streams are keyed).</summary>
    public static bool IsUetr(string? value) => IsoParser.IsUetr(value);
}

/// <summary>
/// Projection <c>payments</c>: <c>payment_status</c> (one row per UETR: status, agents, currencies, amounts, rate,
/// quote, FXP, rejection reason, returned amount, initiated / settled / completed instants and the duration) and
/// <c>payment_timeline</c> (one row per payment event with its status after, actor and details). Both tables move
/// together under one checkpoint; each row is folded by <see cref="PaymentReadModel.Apply"/>.
/// </summary>
public sealed class PaymentsProjection : IProjection
{
    /// <summary>Only payment streams: the ledger's postings are not fetched for this projection.</summary>
    public IReadOnlyList<string>? StreamPrefixes => [PaymentStreams.Prefix];

    public const string ProjectionName = "payments";
    public string Name => ProjectionName;

    private const string Columns =
        "uetr, tenant, status, source_agent, destination_agent, source_currency, destination_currency, source_amount, destination_amount, rate, " +
        "quote_id, fxp_id, rejection_reason, returned_amount, initiated_at, settled_at, completed_at, duration_seconds, version, global_position, " +
        "updated_at, state";

    /// <summary>The select list of <see cref="Read"/>: every column of <c>payment_status</c>, <c>state</c> as text.</summary>
    public const string SelectList =
        "uetr, tenant, status, source_agent, destination_agent, source_currency, destination_currency, source_amount, destination_amount, rate, " +
        "quote_id, fxp_id, rejection_reason, returned_amount, initiated_at, settled_at, completed_at, duration_seconds, version, global_position, " +
        "updated_at, state::text";

    public async Task ApplyAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, IReadOnlyList<StoredEvent> events, CancellationToken ct)
    {
        var mine = events.Where(e => PaymentStreams.TryUetr(e.StreamId, out _)).ToList();
        if (mine.Count == 0) return;
        // Rows are keyed by their stream (institution and UETR): the same UETR may exist in two institutions.
        var ids = mine.Select(e => e.StreamId).Distinct().ToArray();
        var rows = new Dictionary<string, PaymentStatusRow>(StringComparer.Ordinal);
        var sel = new NpgsqlCommand(
            $"SELECT {SelectList} FROM payment_status WHERE (tenant, uetr) IN (SELECT * FROM unnest($1::text[], $2::text[]))", connection, transaction);
        await using (sel.ConfigureAwait(false))
        {
            sel.Parameters.Add(new() { Value = ids.Select(id => id[PaymentStreams.Prefix.Length..^37]).ToArray() });
            sel.Parameters.Add(new() { Value = ids.Select(id => id[^36..]).ToArray() });
            var r = await sel.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await using var rScope = r.ConfigureAwait(false);
            while (await r.ReadAsync(ct).ConfigureAwait(false))
            {
                var row = Read(r);
                rows[PaymentStreams.StreamId(row.Tenant, row.Uetr)] = row;
            }
        }

        var timeline = new List<PaymentTimelineRow>(mine.Count);
        foreach (var e in mine)
        {
            var (row, t) = PaymentReadModel.Apply(rows.GetValueOrDefault(e.StreamId), e);
            rows[e.StreamId] = row;
            timeline.Add(t);
        }

        var list = ids.Select(id => rows[id]).ToList();
        var up = new NpgsqlCommand(
            $"""
            INSERT INTO payment_status ({Columns})
            SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::numeric[], $9::numeric[],
                $10::numeric[], $11::text[], $12::text[], $13::text[], $14::numeric[], $15::timestamptz[], $16::timestamptz[], $17::timestamptz[],
                $18::numeric[], $19::bigint[], $20::bigint[], $21::timestamptz[], $22::jsonb[])
            ON CONFLICT (tenant, uetr) DO UPDATE SET status = excluded.status, source_agent = excluded.source_agent,
                destination_agent = excluded.destination_agent, source_currency = excluded.source_currency,
                destination_currency = excluded.destination_currency, source_amount = excluded.source_amount,
                destination_amount = excluded.destination_amount, rate = excluded.rate, quote_id = excluded.quote_id, fxp_id = excluded.fxp_id,
                rejection_reason = excluded.rejection_reason, returned_amount = excluded.returned_amount, initiated_at = excluded.initiated_at,
                settled_at = excluded.settled_at, completed_at = excluded.completed_at, duration_seconds = excluded.duration_seconds,
                version = excluded.version, global_position = excluded.global_position, updated_at = excluded.updated_at, state = excluded.state
            """, connection, transaction);
        await using (up.ConfigureAwait(false))
        {
            up.Parameters.Add(new() { Value = list.Select(x => x.Uetr).ToArray() });
            up.Parameters.Add(new() { Value = list.Select(x => x.Tenant).ToArray() });
            up.Parameters.Add(new() { Value = list.Select(x => x.Status).ToArray() });
            up.Parameters.Add(new() { Value = list.Select(x => x.SourceAgent).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
            up.Parameters.Add(new() { Value = list.Select(x => x.DestinationAgent).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
            up.Parameters.Add(new() { Value = list.Select(x => x.SourceCurrency).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
            up.Parameters.Add(new() { Value = list.Select(x => x.DestinationCurrency).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
            up.Parameters.Add(new() { Value = list.Select(x => x.SourceAmount).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Numeric });
            up.Parameters.Add(new() { Value = list.Select(x => x.DestinationAmount).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Numeric });
            up.Parameters.Add(new() { Value = list.Select(x => x.Rate).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Numeric });
            up.Parameters.Add(new() { Value = list.Select(x => x.QuoteId).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
            up.Parameters.Add(new() { Value = list.Select(x => x.FxpId).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
            up.Parameters.Add(new() { Value = list.Select(x => x.RejectionReason).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
            up.Parameters.Add(new() { Value = list.Select(x => x.ReturnedAmount).ToArray() });
            up.Parameters.Add(new() { Value = list.Select(x => x.InitiatedAt).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.TimestampTz });
            up.Parameters.Add(new() { Value = list.Select(x => x.SettledAt).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.TimestampTz });
            up.Parameters.Add(new() { Value = list.Select(x => x.CompletedAt).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.TimestampTz });
            up.Parameters.Add(new() { Value = list.Select(x => x.DurationSeconds).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Numeric });
            up.Parameters.Add(new() { Value = list.Select(x => x.Version).ToArray() });
            up.Parameters.Add(new() { Value = list.Select(x => x.GlobalPosition).ToArray() });
            up.Parameters.Add(new() { Value = list.Select(x => x.UpdatedAt).ToArray() });
            up.Parameters.Add(new() { Value = list.Select(x => JsonSerializer.Serialize(x.State, EventSerializer.Options)).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Jsonb });
            await up.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }

        var ins = new NpgsqlCommand(
            """
            INSERT INTO payment_timeline (uetr, sequence, global_position, tenant, event_type, status, occurred_at, actor, details)
            SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::timestamptz[], $8::text[], $9::jsonb[])
            """, connection, transaction);
        await using var insScope = ins.ConfigureAwait(false);
        ins.Parameters.Add(new() { Value = timeline.Select(t => t.Uetr).ToArray() });
        ins.Parameters.Add(new() { Value = timeline.Select(t => t.Sequence).ToArray() });
        ins.Parameters.Add(new() { Value = timeline.Select(t => t.GlobalPosition).ToArray() });
        ins.Parameters.Add(new() { Value = timeline.Select(t => t.Tenant).ToArray() });
        ins.Parameters.Add(new() { Value = timeline.Select(t => t.EventType).ToArray() });
        ins.Parameters.Add(new() { Value = timeline.Select(t => t.Status).ToArray() });
        ins.Parameters.Add(new() { Value = timeline.Select(t => t.OccurredAt).ToArray() });
        ins.Parameters.Add(new() { Value = timeline.Select(t => t.Actor).ToArray() });
        ins.Parameters.Add(new() { Value = timeline.Select(t => t.DetailsJson).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Jsonb });
        await ins.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    /// <summary>Reads a row selected with the projection's column list (state as text).</summary>
    public static PaymentStatusRow Read(NpgsqlDataReader r)
    {
        string? S(int i) => r.IsDBNull(i) ? null : r.GetString(i);
        decimal? D(int i) => r.IsDBNull(i) ? null : r.GetDecimal(i);
        DateTimeOffset? T(int i) => r.IsDBNull(i) ? null : r.GetFieldValue<DateTimeOffset>(i);
        return new PaymentStatusRow
        {
            Uetr = r.GetString(0), Tenant = r.GetString(1), Status = r.GetString(2), SourceAgent = S(3), DestinationAgent = S(4),
            SourceCurrency = S(5), DestinationCurrency = S(6), SourceAmount = D(7), DestinationAmount = D(8), Rate = D(9), QuoteId = S(10),
            FxpId = S(11), RejectionReason = S(12), ReturnedAmount = r.GetDecimal(13), InitiatedAt = T(14), SettledAt = T(15), CompletedAt = T(16),
            DurationSeconds = D(17), Version = r.GetInt64(18), GlobalPosition = r.GetInt64(19), UpdatedAt = r.GetFieldValue<DateTimeOffset>(20),
            State = JsonSerializer.Deserialize<PaymentState>(r.GetString(21), EventSerializer.Options)!,
        };
    }

    public async Task ResetAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken ct)
    {
        var cmd = new NpgsqlCommand("DELETE FROM payment_timeline; DELETE FROM payment_status", connection, transaction);
        await using var cmdScope = cmd.ConfigureAwait(false);
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }
}
