using System.Text.Json.Nodes;
using Escrow.Domain.Accounts;
using Escrow.EventStore;

namespace Escrow.Silo.Ledger;

public sealed record StatementLine(
    long Version, long GlobalPosition, string PostingId, string Kind, string Counterparty, string? Reference, string? ReversalOf,
    decimal Amount, decimal BalanceAfter, DateTimeOffset OccurredAt);

public sealed record StatementPage(string AccountId, IReadOnlyList<StatementLine> Lines, long? NextAfterVersion);

/// <summary>
/// Balance of an account as of an instant; <see cref="Source"/> says what answered: <c>aggregate</c> (now, the grain),
/// <c>statement</c> (the statement index), <c>events</c> (a replay of the stream; <see cref="FromSnapshot"/> is the version of
/// the kept snapshot it started from, null when it started at the first event).
/// </summary>
public sealed record BalanceAt(string AccountId, string Currency, decimal Balance, DateTimeOffset? At, long Version, string Source, long? FromSnapshot = null);

/// <summary>Where a balance as of an instant comes from (<c>GET /accounts/{id}/balance?source=</c>).</summary>
public enum BalanceSource
{
    /// <summary>The statement index when its projection has caught up with the account; a replay otherwise.</summary>
    Statement,

    /// <summary>A replay of the stream from its last kept snapshot at or before the instant.</summary>
    Events,

    /// <summary>A replay of the stream from its first event, ignoring snapshots: the audit path (time grows with the stream).</summary>
    Genesis,
}

/// <summary>One event of a stream with its metadata: the audit view.</summary>
public sealed record AuditEvent(
    long GlobalPosition, long Version, string EventType, int SchemaVersion, JsonNode? Data, JsonNode? Metadata,
    DateTimeOffset OccurredAt, DateTimeOffset RecordedAt, string PrevHash, string Hash)
{
    /// <summary>A stored event as the audit view shows it: data and metadata as JSON, hash links in lower-case hex.</summary>
    public static AuditEvent From(StoredEvent e) => new(e.GlobalPosition, e.Version, e.EventType, e.SchemaVersion,
        JsonNode.Parse(e.DataJson), JsonNode.Parse(e.MetadataJson), e.OccurredAt, e.RecordedAt,
        Convert.ToHexStringLower(e.PrevHash), Convert.ToHexStringLower(e.Hash));
}

/// <summary>Read side of the ledger: read models for speed, the log for audits.</summary>
public sealed class LedgerQueries(PgEventStore store, LedgerService ledger)
{
    /// <summary>
    /// Balance of account <paramref name="accountId"/> of <paramref name="tenant"/> as of <paramref name="at"/> (inclusive, by occurred_at). From the <c>account_statement</c>
    /// index when the projection has caught up with the account's stream; from a replay of the stream
    /// otherwise, or when <paramref name="source"/> asks for one (<see cref="BalanceSource"/>). Null when the account
    /// does not exist (or did not exist yet at that instant).
    /// </summary>
    /// <remarks>Pass <c>known</c>, the account as its grain answered just now, when the caller has already asked (null: asked here).</remarks>
    public async Task<BalanceAt?> BalanceAsync(string tenant, string accountId, DateTimeOffset? at, BalanceSource source, CancellationToken ct,
        (AccountState State, long Version)? known = null)
    {
        var fromEvents = source != BalanceSource.Statement;
        var (current, version) = known ?? await ledger.StateAsync(tenant, accountId, ct).ConfigureAwait(false);
        if (!current.Exists) return null;
        if (at is null && !fromEvents)
            return new BalanceAt(accountId, current.Currency, current.Balance, null, version, "aggregate");
        if (at is { } t && current.OpenedAt > t) return null;

        if (!fromEvents && at is { } when)
        {
            // One statement: the balance from the statement index, and whether both read models have caught up with the
            // stream's head in the log (not the activation's view, which may not have read another grain's append yet): the
            // balances row by its version, the statement by its projection's checkpoint against the head event (an index
            // probe each, whatever the account's length; a count of its statement rows cost time in proportion to it).
            await using var cmd = store.DataSource.CreateCommand(
                """
                SELECT b.version >= h.version,
                       (SELECT s.balance_after FROM account_statement s WHERE s.tenant = $3 AND s.account_id = $1 AND s.occurred_at <= $2
                        ORDER BY s.occurred_at DESC, s.version DESC LIMIT 1),
                       (SELECT s.version FROM account_statement s WHERE s.tenant = $3 AND s.account_id = $1 AND s.occurred_at <= $2
                        ORDER BY s.occurred_at DESC, s.version DESC LIMIT 1),
                       coalesce((SELECT (c.transaction_id, c.global_position) >= (e.transaction_id, e.global_position)
                                 FROM events e, projection_checkpoints c
                                 WHERE e.stream_id = h.stream_id AND e.version = h.version AND c.projection = 'account_statement'), false)
                FROM account_balances b, streams h WHERE b.tenant = $3 AND b.account_id = $1 AND h.stream_id = $4
                """);
            cmd.Parameters.Add(new() { Value = accountId });
            cmd.Parameters.Add(new() { Value = when.ToUniversalTime() });
            cmd.Parameters.Add(new() { Value = tenant });
            cmd.Parameters.Add(new() { Value = await store.StoredStreamIdAsync(AccountStreams.StreamId(tenant, accountId), ct).ConfigureAwait(false) });
            await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            if (await r.ReadAsync(ct).ConfigureAwait(false) && r.GetBoolean(0) && r.GetBoolean(3))
                return new BalanceAt(accountId, current.Currency, r.IsDBNull(1) ? 0m : r.GetDecimal(1), at, r.IsDBNull(2) ? 0 : r.GetInt64(2), "statement");
        }
        if (source == BalanceSource.Genesis || at is null)
        {
            var (past, pastVersion) = await ledger.ReplayAsync(tenant, accountId, at, ct).ConfigureAwait(false);
            return new BalanceAt(accountId, current.Currency, past.Balance, at, pastVersion, "events");
        }
        var (state, replayedTo, fromSnapshot) = await ledger.ReplayFromSnapshotAsync(tenant, accountId, at.Value, ct).ConfigureAwait(false);
        return new BalanceAt(accountId, current.Currency, state.Balance, at, replayedTo, "events", fromSnapshot > 0 ? fromSnapshot : null);
    }

    /// <summary>A page of the statement of account <paramref name="accountId"/> of <paramref name="tenant"/>, ordered by stream version, after <paramref name="afterVersion"/>.</summary>
    public async Task<StatementPage> StatementAsync(string tenant, string accountId, long afterVersion, int limit, CancellationToken ct)
    {
        await using var cmd = store.DataSource.CreateCommand(
            """
            SELECT version, global_position, posting_id, kind, counterparty, reference, reversal_of, amount, balance_after, occurred_at
            FROM account_statement WHERE tenant = $4 AND account_id = $1 AND version > $2 ORDER BY version LIMIT $3
            """);
        cmd.Parameters.Add(new() { Value = accountId });
        cmd.Parameters.Add(new() { Value = afterVersion });
        cmd.Parameters.Add(new() { Value = limit + 1 });
        cmd.Parameters.Add(new() { Value = tenant });
        var lines = new List<StatementLine>();
        await using (var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false))
            while (await r.ReadAsync(ct).ConfigureAwait(false))
                lines.Add(new StatementLine(r.GetInt64(0), r.GetInt64(1), r.GetString(2), r.GetString(3), r.GetString(4),
                    r.IsDBNull(5) ? null : r.GetString(5), r.IsDBNull(6) ? null : r.GetString(6), r.GetDecimal(7), r.GetDecimal(8),
                    r.GetFieldValue<DateTimeOffset>(9)));
        long? next = null;
        if (lines.Count > limit)
        {
            lines.RemoveAt(lines.Count - 1);
            next = lines[^1].Version;
        }
        return new StatementPage(accountId, lines, next);
    }

    /// <summary>Events of account <paramref name="accountId"/> of <paramref name="tenant"/> after <paramref name="afterVersion"/> in the audit view.</summary>
    public Task<IReadOnlyList<AuditEvent>> StreamAsync(string tenant, string accountId, long afterVersion, int limit, CancellationToken ct) =>
        StreamAsync(store, AccountStreams.StreamId(tenant, accountId), afterVersion, limit, ct);

    /// <summary>Events of any stream after <paramref name="afterVersion"/> (at most <paramref name="limit"/>) in the audit view.</summary>
    public static async Task<IReadOnlyList<AuditEvent>> StreamAsync(PgEventStore store, string streamId, long afterVersion, int limit, CancellationToken ct)
    {
        var events = await store.ReadStreamAsync(streamId, afterVersion, ct, limit: limit).ConfigureAwait(false);
        return events.Select(AuditEvent.From).ToList();
    }
}
