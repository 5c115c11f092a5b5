using System.Text.Json;
using Escrow.Domain.Deals;
using Escrow.EventStore;
using Npgsql;

namespace Escrow.Projections;

/// <summary>
/// Projection <c>deals</c>: <c>deal_status</c> (one row per deal: status, funded / released / refunded / held,
/// parties, expiry, and the folded state) and <c>deal_timeline</c> (one row per deal event: from → to status,
/// actor, amount, time). Both tables move together under one checkpoint. The row is evolved with the
/// aggregate's own <see cref="Deal.Evolve"/>, so the read model cannot disagree with the rules.
/// </summary>
public sealed class DealsProjection : IProjection
{
    /// <summary>Only deal streams: the ledger's postings are not fetched for this projection.</summary>
    public IReadOnlyList<string>? StreamPrefixes => [DealStreams.Prefix];

    public const string ProjectionName = "deals";
    public string Name => ProjectionName;

    public async Task ApplyAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, IReadOnlyList<StoredEvent> events, CancellationToken ct)
    {
        // Deals are keyed (tenant, deal id): ids are unique per institution.
        var mine = events.Select(e => DealStreams.TryParse(e.StreamId, out var t, out var id) ? (E: e, Key: (Tenant: t, Id: id)) : default)
            .Where(x => x.E is not null).ToList();
        if (mine.Count == 0) return;
        var ids = mine.Select(x => x.Key).Distinct().ToArray();
        var states = new Dictionary<(string Tenant, string Id), (DealState State, long Version, long Position)>();
        var sel = new NpgsqlCommand(
                   // unnest join, not ANY($1): see AccountBalancesProjection (generic plans scan the table for ANY over a parameter).
                   "SELECT d.tenant, d.deal_id, d.state::text AS state_text FROM unnest($1::text[], $2::text[]) AS u(tenant, deal_id) JOIN deal_status d ON d.tenant = u.tenant AND d.deal_id = u.deal_id",
                   connection, transaction);
        await using (sel.ConfigureAwait(false))
        {
            sel.Parameters.Add(new() { Value = ids.Select(k => k.Tenant).ToArray() });
            sel.Parameters.Add(new() { Value = ids.Select(k => k.Id).ToArray() });
            var r = await sel.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await using var rScope = r.ConfigureAwait(false);
            while (await r.ReadAsync(ct).ConfigureAwait(false))
                states[(r.GetString(0), r.GetString(1))] = (JsonSerializer.Deserialize<DealState>(r.GetString(2), EventSerializer.Options)!, 0, 0);
        }

        var timeline = new List<(string Deal, long Version, long Position, string Type, string From, string To, string Actor, decimal? Amount, DateTimeOffset At, string Tenant)>();
        foreach (var (e, key) in mine)
        {
            var evt = EventSerializer.Deserialize(e);
            var before = states.TryGetValue(key, out var cur) ? cur.State : DealState.Empty(key.Id);
            var after = Deal.Evolve(before, evt);
            states[key] = (after, e.Version, e.GlobalPosition);
            timeline.Add((key.Id, e.Version, e.GlobalPosition, e.EventType, before.Status.Wire(), after.Status.Wire(), ActorOf(e), AmountOf(evt),
                ((IDealEvent)evt).At, key.Tenant));
        }

        var rows = states.Where(s => s.Value.Version > 0).ToList();
        var up = new NpgsqlCommand(
            """
            INSERT INTO deal_status (deal_id, tenant, template_id, status, buyer_account, seller_account, escrow_account, currency, amount,
                funded, released, refunded, held, expires_at, refund_at_expiry, external_reference, evidence_count, created_at,
                last_activity_at, version, global_position, state)
            SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::numeric[],
                $10::numeric[], $11::numeric[], $12::numeric[], $13::numeric[], $14::timestamptz[], $15::boolean[], $16::text[], $17::int[],
                $18::timestamptz[], $19::timestamptz[], $20::bigint[], $21::bigint[], $22::jsonb[])
            ON CONFLICT (tenant, deal_id) DO UPDATE SET status = excluded.status, funded = excluded.funded, released = excluded.released,
                refunded = excluded.refunded, held = excluded.held, expires_at = excluded.expires_at, evidence_count = excluded.evidence_count,
                last_activity_at = excluded.last_activity_at, version = excluded.version, global_position = excluded.global_position,
                state = excluded.state
            """, connection, transaction);
        await using (up.ConfigureAwait(false))
        {
            var s = rows.Select(r => r.Value.State).ToList();
            up.Parameters.Add(new() { Value = rows.Select(r => r.Key.Id).ToArray() });
            up.Parameters.Add(new() { Value = rows.Select(r => r.Key.Tenant).ToArray() });
            up.Parameters.Add(new() { Value = s.Select(x => x.TemplateId).ToArray() });
            up.Parameters.Add(new() { Value = s.Select(x => x.Status.Wire()).ToArray() });
            up.Parameters.Add(new() { Value = s.Select(x => x.BuyerAccount).ToArray() });
            up.Parameters.Add(new() { Value = s.Select(x => x.SellerAccount).ToArray() });
            up.Parameters.Add(new() { Value = s.Select(x => x.EscrowAccount).ToArray() });
            up.Parameters.Add(new() { Value = s.Select(x => x.Currency).ToArray() });
            up.Parameters.Add(new() { Value = s.Select(x => x.Amount).ToArray() });
            up.Parameters.Add(new() { Value = s.Select(x => x.Funded).ToArray() });
            up.Parameters.Add(new() { Value = s.Select(x => x.Released).ToArray() });
            up.Parameters.Add(new() { Value = s.Select(x => x.Refunded).ToArray() });
            up.Parameters.Add(new() { Value = s.Select(x => x.Held).ToArray() });
            up.Parameters.Add(new() { Value = s.Select(x => x.ExpiresAt.ToUniversalTime()).ToArray() });
            up.Parameters.Add(new() { Value = s.Select(x => x.RefundAtExpiry).ToArray() });
            up.Parameters.Add(new() { Value = s.Select(x => x.ExternalReference).ToArray() });
            up.Parameters.Add(new() { Value = s.Select(x => x.Evidence.Count).ToArray() });
            up.Parameters.Add(new() { Value = s.Select(x => (x.CreatedAt ?? x.LastActivityAt ?? DateTimeOffset.UnixEpoch).ToUniversalTime()).ToArray() });
            up.Parameters.Add(new() { Value = s.Select(x => (x.LastActivityAt ?? DateTimeOffset.UnixEpoch).ToUniversalTime()).ToArray() });
            up.Parameters.Add(new() { Value = rows.Select(r => r.Value.Version).ToArray() });
            up.Parameters.Add(new() { Value = rows.Select(r => r.Value.Position).ToArray() });
            up.Parameters.Add(new() { Value = s.Select(x => JsonSerializer.Serialize(x, EventSerializer.Options)).ToArray(), NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Jsonb });
            await up.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }

        var ins = new NpgsqlCommand(
            """
            INSERT INTO deal_timeline (deal_id, version, global_position, event_type, from_status, to_status, actor, amount, occurred_at, tenant)
            SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::numeric[], $9::timestamptz[], $10::text[])
            """, connection, transaction);
        await using var insScope = ins.ConfigureAwait(false);
        ins.Parameters.Add(new() { Value = timeline.Select(t => t.Deal).ToArray() });
        ins.Parameters.Add(new() { Value = timeline.Select(t => t.Version).ToArray() });
        ins.Parameters.Add(new() { Value = timeline.Select(t => t.Position).ToArray() });
        ins.Parameters.Add(new() { Value = timeline.Select(t => t.Type).ToArray() });
        ins.Parameters.Add(new() { Value = timeline.Select(t => t.From).ToArray() });
        ins.Parameters.Add(new() { Value = timeline.Select(t => t.To).ToArray() });
        ins.Parameters.Add(new() { Value = timeline.Select(t => t.Actor).ToArray() });
        ins.Parameters.Add(new() { Value = timeline.Select(t => t.Amount).ToArray() });
        ins.Parameters.Add(new() { Value = timeline.Select(t => t.At.ToUniversalTime()).ToArray() });
        ins.Parameters.Add(new() { Value = timeline.Select(t => t.Tenant).ToArray() });
        await ins.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    private static string ActorOf(StoredEvent e)
    {
        using var doc = JsonDocument.Parse(e.MetadataJson);
        return doc.RootElement.TryGetProperty("actor", out var a) ? a.GetString() ?? "" : "";
    }

    private static decimal? AmountOf(object evt) => evt switch
    {
        DealCreated c => c.Amount,
        DealFunded f => f.Amount,
        DealReleased r => r.Amount,
        DealCancelled c => c.Refunded,
        DealExpired x => x.Refunded,
        DealResolved r => r.BuyerShare + r.SellerShare,
        _ => null,
    };

    public async Task ResetAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken ct)
    {
        var cmd = new NpgsqlCommand("DELETE FROM deal_timeline; DELETE FROM deal_status", connection, transaction);
        await using var cmdScope = cmd.ConfigureAwait(false);
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }
}
