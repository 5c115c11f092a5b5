using System.Data;
using System.Globalization;
using Escrow.Domain.Accounts;
using Escrow.Domain.Deals;
using Escrow.EventStore;
using Escrow.Grains;
using Escrow.Projections;
using Npgsql;

namespace Escrow.Silo.Ledger;

/// <summary>An <see cref="IProgress{T}"/> that reports on the caller's thread (Progress&lt;T&gt; posts to the pool and races).</summary>
public sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}

public sealed record VerifyReport(bool Ok, IReadOnlyList<string> Lines, long Streams, long Events);

/// <summary>
/// The auditor's check, run by <c>escrow verify</c>:
/// (1) every stream's SHA-256 chain holds; (2) per currency, all account balances (customer, internal and
/// external) sum to zero, from a replay of the log; (3) the read models (account_balances, account_statement,
/// payment_status, payment_timeline) equal a replay of the log up to their checkpoints; (4) no account event occurred before
/// its predecessor (as of T is a prefix) and every kept snapshot of an account
/// (snapshot_history, which a replay as of an instant starts from) is the fold of its events (all read in one REPEATABLE READ
/// snapshot, so a running silo does not disturb it).
/// <para>Archived months (escrow archive): with an archive directory (<c>escrow verify --archive DIR</c>) every archive file is checked against its
/// recorded SHA-256, its events' chains are recomputed from the first event and must end at the archived heads the live
/// chains continue from, and its events are replayed before the live log, so every check covers the whole history.
/// Without it, each stream's fold starts from the kept snapshot the archive step left at its archived head, the live
/// chains are checked from those heads, and what only the archived events could show (statement rows and payment
/// read-model rows of archived versions, kept snapshots below the heads) is counted as not compared.</para>
/// </summary>
public static class LedgerVerifier
{
    public static async Task<VerifyReport> RunAsync(PgEventStore store, CancellationToken ct, IProgress<string>? progress = null, string? archiveDirectory = null)
    {
        var lines = new List<string>();
        var ok = true;

        long streams = 0, chainEvents = 0;
        var broken = 0;
        await foreach (var b in ChainVerifier.VerifyAsync(store, new SyncProgress<ChainVerifier.Progress>(p => { streams = p.Streams; chainEvents = p.Events; }), ct).ConfigureAwait(false))
        {
            broken++;
            lines.Add($"hash chain BROKEN: stream {b.StreamId} at version {b.Version} (global position {b.GlobalPosition}): {b.Reason}");
        }
        ok &= broken == 0;
        lines.Add($"hash chains: {streams:N0} streams, {chainEvents:N0} events, {broken} broken");
        progress?.Report("chains checked");

        await using var conn = await store.DataSource.OpenConnectionAsync(ct).ConfigureAwait(false);
        await using var tx = await conn.BeginTransactionAsync(IsolationLevel.RepeatableRead, ct).ConfigureAwait(false);
        var cpBalances = await CheckpointAsync(conn, tx, AccountBalancesProjection.ProjectionName, ct).ConfigureAwait(false);
        var cpStatement = await CheckpointAsync(conn, tx, AccountStatementProjection.ProjectionName, ct).ConfigureAwait(false);
        var payments = new PaymentReadModelCheck(await CheckpointAsync(conn, tx, PaymentsProjection.ProjectionName, ct).ConfigureAwait(false));

        var kept = await KeptAccountSnapshotsAsync(conn, tx, ct).ConfigureAwait(false);
        var keptCount = kept.Count;
        var keptMismatches = new List<string>();
        var lastAt = new Dictionary<string, DateTimeOffset>(StringComparer.Ordinal);
        var backDated = new List<string>();
        var states = new Dictionary<string, (AccountState State, long Version)>(StringComparer.Ordinal);
        var deals = new Dictionary<string, DealState>(StringComparer.Ordinal);
        var dealViolations = new List<string>();
        Dictionary<string, (AccountState State, long Version)>? atBalances = null;
        var legs = new Dictionary<string, List<(long Version, string PostingId, decimal Amount, decimal After)>>(StringComparer.Ordinal);
        long events = 0;
        var archives = await EventArchives.ListAsync(store.DataSource, ct).ConfigureAwait(false);
        var archivedHeads = new Dictionary<string, long>(StringComparer.Ordinal);   // by current stream id
        if (archives.Count > 0)
        {
            var aliases = await AliasesAsync(conn, tx, ct).ConfigureAwait(false);
            foreach (var (stored, head) in await store.ArchivedHeadsAsync(ct).ConfigureAwait(false))
                archivedHeads[aliases.GetValueOrDefault(stored, stored)] = head.Version;
            if (archiveDirectory is not null)
            {
                var archiveOk = await ReplayArchivesAsync(conn, tx, archives, archiveDirectory, aliases, Observe, lines, ct).ConfigureAwait(false);
                ok &= archiveOk;
                archivedHeads.Clear();   // replayed: everything below compares the whole history
            }
            else
            {
                var seeded = await SeedFromArchivedHeadsAsync(conn, tx, archivedHeads, states, deals, lastAt, payments, ct).ConfigureAwait(false);
                foreach (var k in kept.Keys.Where(k => archivedHeads.TryGetValue(k.StreamId, out var h) && k.Version <= h).ToList()) kept.Remove(k);
                lines.Add($"archived months: {archives.Count} ({archives.Sum(a => a.Events):N0} events, {archivedHeads.Count:N0} streams), not replayed: " +
                          $"{seeded} streams folded from the kept snapshot at their archived head (give --archive DIR to check and replay the files)");
            }
        }
        var cursor = GlobalCheckpoint.Start;
        while (true)
        {
            var page = await store.ReadAllAsync(cursor, 5000, untilHorizon: false, ct, conn, tx).ConfigureAwait(false);
            if (page.Count == 0) break;
            foreach (var e in page) Observe(e);
            cursor = page[^1].Checkpoint;
        }

        void Observe(StoredEvent e)
        {
            {
                if (atBalances is null && e.Checkpoint.CompareTo(cpBalances) > 0)
                    atBalances = new(states, StringComparer.Ordinal);
                events++;
                payments.Observe(e);   // payment_status / payment_timeline are compared with this replay below
                // Accounts and deals are keyed {tenant}/{id} here: ids are unique per institution.
                if (DealStreams.TryParse(e.StreamId, out var dealTenant, out var dealId))
                {
                    // The escrow invariant at every version of every deal: funded = released + refunded + held, held >= 0.
                    var key = GrainKeys.Of(dealTenant, dealId);
                    var d = Deal.Evolve(deals.GetValueOrDefault(key) ?? DealState.Empty(dealId), EventSerializer.Deserialize(e));
                    deals[key] = d;
                    if (d.Funded != d.Released + d.Refunded + d.Held || d.Held < 0)
                        dealViolations.Add($"deal {key} v{e.Version}: funded {d.Funded} != released {d.Released} + refunded {d.Refunded} + held {d.Held}");
                    return;
                }
                if (!AccountStreams.TryParse(e.StreamId, out var accountTenant, out var accountId)) return;
                var id = GrainKeys.Of(accountTenant, accountId);
                var evt = EventSerializer.Deserialize(e);
                var s = states.TryGetValue(id, out var cur) ? cur.State : AccountState.Empty(accountId);
                s = Account.Evolve(s, evt);
                states[id] = (s, e.Version);
                if (lastAt.TryGetValue(id, out var previousAt) && e.OccurredAt < previousAt)
                    backDated.Add($"{id} v{e.Version} occurred at {e.OccurredAt:O}, before v{e.Version - 1} ({previousAt:O})");
                lastAt[id] = e.OccurredAt;
                if (kept.Remove((e.StreamId, e.Version), out var keptState) && !KeptStateEquals(keptState, s))
                    keptMismatches.Add($"{e.StreamId} v{e.Version}");
                if (e.Checkpoint.CompareTo(cpStatement) <= 0 && evt is AccountDebited or AccountCredited)
                {
                    var (pid, amt) = evt switch
                    {
                        AccountDebited d => (d.PostingId, -d.Amount),
                        AccountCredited c => (c.PostingId, c.Amount),
                        _ => throw new InvalidOperationException("unreachable"),
                    };
                    if (!legs.TryGetValue(id, out var l)) legs[id] = l = [];
                    l.Add((e.Version, pid, amt, s.Balance));
                }
            }
        }
        atBalances ??= states;
        lines.Add($"replayed {events:N0} events of {states.Count:N0} accounts and {deals.Count:N0} deals");

        // No account event occurred before the one ahead of it (the domain refuses back-dated postings): a balance as of T
        // is a prefix of the stream, which the replay from a kept snapshot relies on.
        foreach (var b in backDated.Take(10)) lines.Add("account stream OUT OF TIME ORDER: " + b);
        ok &= backDated.Count == 0;
        lines.Add($"account streams in time order: {lastAt.Count:N0} accounts, {backDated.Count} events before their predecessor");

        // Every kept snapshot of an account (a replay as of an instant starts from them) is the fold of its events.
        keptMismatches.AddRange(kept.Keys.Select(k => $"{k.StreamId} v{k.Version} (no such event)"));
        foreach (var m in keptMismatches.Take(10)) lines.Add("kept snapshot MISMATCH: " + m);
        ok &= keptMismatches.Count == 0;
        lines.Add($"kept account snapshots vs replay: {keptCount:N0} snapshots, {keptMismatches.Count} mismatches");

        // Escrow: the invariant held at every version, and each deal's escrow account holds exactly what the deal holds.
        foreach (var (key, d) in deals)
        {
            var escrowKey = GrainKeys.Of(GrainKeys.Parse(key).Tenant, d.EscrowAccount);
            var escrow = states.TryGetValue(escrowKey, out var acc) ? acc.State.Balance : 0m;
            if (escrow != d.Held)
                dealViolations.Add($"deal {key}: escrow account {escrowKey} holds {escrow}, the deal holds {d.Held}");
        }
        foreach (var v in dealViolations.Take(10)) lines.Add("escrow VIOLATED: " + v);
        ok &= dealViolations.Count == 0;
        lines.Add($"escrow: {deals.Count:N0} deals, funded = released + refunded + held at every version and escrow balance = held: " +
                  (dealViolations.Count == 0 ? "OK" : $"{dealViolations.Count} violations"));

        // Zero-sum per currency, from the replay.
        foreach (var g in states.Values.GroupBy(x => x.State.Currency).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var sum = g.Sum(x => x.State.Balance);
            ok &= sum == 0;
            lines.Add($"zero-sum {g.Key}: {g.Count():N0} accounts, sum of balances {sum.ToString(CultureInfo.InvariantCulture)} {(sum == 0 ? "OK" : "VIOLATED")}");
        }

        // account_balances equals the replay up to its checkpoint.
        var mismatches = 0;
        var seen = 0;
        await using (var cmd = new NpgsqlCommand("SELECT tenant || '/' || account_id, balance, version, status FROM account_balances", conn, tx))
        await using (var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false))
        {
            while (await r.ReadAsync(ct).ConfigureAwait(false))
            {
                seen++;
                var id = r.GetString(0);
                if (!atBalances.TryGetValue(id, out var exp) || exp.State.Balance != r.GetDecimal(1) || exp.Version != r.GetInt64(2) || exp.State.Status.ToString() != r.GetString(3))
                {
                    if (mismatches++ < 10)
                        lines.Add($"account_balances MISMATCH {id}: read model {r.GetDecimal(1)} v{r.GetInt64(2)} {r.GetString(3)}, replay {(exp.State is null ? "absent" : $"{exp.State.Balance} v{exp.Version} {exp.State.Status}")}");
                }
            }
        }
        mismatches += Math.Abs(atBalances.Count - seen);
        ok &= mismatches == 0;
        lines.Add($"account_balances vs replay: {seen:N0} rows, {atBalances.Count:N0} expected, {mismatches} mismatches");

        // account_statement equals the replay's posting legs up to its checkpoint.
        var stmtMismatch = 0;
        long stmtRows = 0, stmtUnchecked = 0;
        var expectedRows = legs.Values.Sum(l => (long)l.Count);
        await using (var cmd = new NpgsqlCommand("SELECT tenant || '/' || account_id, version, posting_id, amount, balance_after FROM account_statement ORDER BY tenant, account_id, version", conn, tx))
        await using (var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false))
        {
            string? current = null; var idx = 0; List<(long Version, string PostingId, decimal Amount, decimal After)>? list = null;
            while (await r.ReadAsync(ct).ConfigureAwait(false))
            {
                var id = r.GetString(0);
                if (archivedHeads.TryGetValue(AccountStreams.StreamId(GrainKeys.Parse(id).Tenant, GrainKeys.Parse(id).Id), out var head) && r.GetInt64(1) <= head)
                {
                    stmtUnchecked++;   // a posting of an archived month: only the archive can show it
                    continue;
                }
                stmtRows++;
                if (id != current) { current = id; idx = 0; legs.TryGetValue(id, out list); }
                var ok1 = list is not null && idx < list.Count && list[idx].Version == r.GetInt64(1) && list[idx].PostingId == r.GetString(2)
                          && list[idx].Amount == r.GetDecimal(3) && list[idx].After == r.GetDecimal(4);
                if (!ok1 && stmtMismatch++ < 10)
                    lines.Add($"account_statement MISMATCH {id} v{r.GetInt64(1)}: read model {r.GetDecimal(3)} → {r.GetDecimal(4)}");
                idx++;
            }
        }
        stmtMismatch += (int)Math.Abs(expectedRows - stmtRows);
        ok &= stmtMismatch == 0;
        lines.Add($"account_statement vs replay: {stmtRows:N0} rows, {expectedRows:N0} expected, {stmtMismatch} mismatches" +
                  (stmtUnchecked > 0 ? $" ({stmtUnchecked:N0} rows of archived months not compared)" : ""));

        ok &= await payments.CompareAsync(conn, tx, lines, ct).ConfigureAwait(false);
        await tx.CommitAsync(ct).ConfigureAwait(false);
        return new VerifyReport(ok, lines, streams, events);
    }

    private static async Task<Dictionary<string, string>> AliasesAsync(NpgsqlConnection conn, NpgsqlTransaction tx, CancellationToken ct)
    {
        var aliases = new Dictionary<string, string>(StringComparer.Ordinal);
        await using var cmd = new NpgsqlCommand("SELECT stream_id, alias FROM stream_aliases", conn, tx);
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false)) aliases[r.GetString(0)] = r.GetString(1);
        return aliases;
    }

    /// <summary>
    /// Checks each archive file (present, its SHA-256 the recorded one), recomputes its events' chains from each stream's
    /// first event (carried from month to month), requires every chain to end at the archived head recorded for that month,
    /// and hands every event to <paramref name="observe"/> in the file's order (global position), oldest month first.
    /// </summary>
    private static async Task<bool> ReplayArchivesAsync(NpgsqlConnection conn, NpgsqlTransaction tx, IReadOnlyList<EventArchive> archives, string directory,
        IReadOnlyDictionary<string, string> aliases, Action<StoredEvent> observe, List<string> lines, CancellationToken ct)
    {
        var ok = true;
        var chains = new Dictionary<string, (long Version, byte[] Hash)>(StringComparer.Ordinal);
        foreach (var a in archives)
        {
            var path = Path.Combine(directory, a.FileName);
            if (!File.Exists(path))
            {
                lines.Add($"archive {a.Month:yyyy-MM} MISSING: {path}");
                ok = false;
                continue;
            }
            if (!(await EventArchives.Sha256Async(path, ct).ConfigureAwait(false)).AsSpan().SequenceEqual(a.FileSha256))
            {
                lines.Add($"archive {a.Month:yyyy-MM} ALTERED: the SHA-256 of {path} is not the one recorded when it was archived");
                ok = false;
                continue;
            }
            long count = 0, broken = 0;
            await foreach (var e in EventArchives.ReadAsync(path, aliases, ct).ConfigureAwait(false))
            {
                count++;
                var (version, prev) = chains.TryGetValue(e.StoredStreamId, out var c) ? c : (0L, HashChain.Genesis);
                var hash = HashChain.Compute(prev, e.StoredStreamId, e.Version, e.EventType, e.SchemaVersion, e.OccurredAt, e.DataJson, e.MetadataJson);
                if (e.Version != version + 1 || !e.PrevHash.AsSpan().SequenceEqual(prev) || !hash.AsSpan().SequenceEqual(e.Hash))
                {
                    if (broken++ < 10) lines.Add($"archive {a.Month:yyyy-MM} hash chain BROKEN: stream {e.StoredStreamId} at version {e.Version} (global position {e.GlobalPosition})");
                }
                chains[e.StoredStreamId] = (e.Version, hash);
                observe(e);
            }
            long headMismatches = 0;
            await using (var cmd = new NpgsqlCommand("SELECT stream_id, last_version, last_hash FROM archived_stream_heads WHERE month = $1", conn, tx))
            {
                cmd.Parameters.Add(new() { Value = a.Month });
                await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
                while (await r.ReadAsync(ct).ConfigureAwait(false))
                    if (!chains.TryGetValue(r.GetString(0), out var c) || c.Version != r.GetInt64(1) || !c.Hash.AsSpan().SequenceEqual((byte[])r[2]))
                    {
                        if (headMismatches++ < 10) lines.Add($"archive {a.Month:yyyy-MM} head MISMATCH: stream {r.GetString(0)} v{r.GetInt64(1)} is not where its chain in the file ends");
                    }
            }
            var monthOk = broken == 0 && headMismatches == 0 && count == a.Events;
            ok &= monthOk;
            lines.Add($"archive {a.Month:yyyy-MM}: {a.FileName} SHA-256 OK, {count:N0} events ({a.Events:N0} recorded), {broken} broken links, " +
                      $"{headMismatches} archived heads off their chain: {(monthOk ? "OK" : "FAILED")}");
        }
        return ok;
    }

    /// <summary>
    /// Starts the fold of every account and deal with an archived head from the kept snapshot at that head (the archive step
    /// writes one for every grain stream); payments with an archived head are left out of the read-model comparison.
    /// Answers how many streams were seeded.
    /// </summary>
    private static async Task<int> SeedFromArchivedHeadsAsync(NpgsqlConnection conn, NpgsqlTransaction tx, IReadOnlyDictionary<string, long> heads,
        Dictionary<string, (AccountState State, long Version)> states, Dictionary<string, DealState> deals, Dictionary<string, DateTimeOffset> lastAt,
        PaymentReadModelCheck payments, CancellationToken ct)
    {
        var seeded = 0;
        await using var cmd = new NpgsqlCommand("""
            SELECT coalesce(a.alias, h.stream_id), h.version, h.state::text FROM snapshot_history h
            JOIN archived_stream_heads x ON x.stream_id = h.stream_id AND x.last_version = h.version AND x.last_hash = h.hash
            LEFT JOIN stream_aliases a ON a.stream_id = h.stream_id
            """, conn, tx);
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false))
        {
            var (id, version, json) = (r.GetString(0), r.GetInt64(1), r.GetString(2));
            if (!heads.TryGetValue(id, out var head) || head != version) continue;   // an earlier month's head
            if (AccountStreams.TryParse(id, out var tenant, out _))
            {
                var s = System.Text.Json.JsonSerializer.Deserialize<AccountState>(json, EventSerializer.Options)!;
                states[GrainKeys.Of(tenant, s.AccountId)] = (s, version);
                if (s.LastActivityAt is { } at) lastAt[GrainKeys.Of(tenant, s.AccountId)] = at;
                seeded++;
            }
            else if (DealStreams.TryParse(id, out var dealTenant, out var dealId))
            {
                deals[GrainKeys.Of(dealTenant, dealId)] = System.Text.Json.JsonSerializer.Deserialize<DealState>(json, EventSerializer.Options)!;
                seeded++;
            }
        }
        foreach (var id in heads.Keys.Where(k => Domain.Payments.PaymentStreams.TryUetr(k, out _))) payments.Unchecked.Add(id);
        return seeded;
    }

    /// <summary>Every kept snapshot of an account stream (sql/023), by the stream's current id and version: the state's JSON.</summary>
    private static async Task<Dictionary<(string StreamId, long Version), string>> KeptAccountSnapshotsAsync(NpgsqlConnection conn, NpgsqlTransaction tx, CancellationToken ct)
    {
        var kept = new Dictionary<(string, long), string>();
        await using var cmd = new NpgsqlCommand(
            "SELECT coalesce(a.alias, h.stream_id), h.version, h.state::text FROM snapshot_history h LEFT JOIN stream_aliases a ON a.stream_id = h.stream_id WHERE h.schema_version = $1",
            conn, tx);
        cmd.Parameters.Add(new() { Value = Grains.AccountGrain.StateSchemaVersion });
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false))
            if (AccountStreams.TryParse(r.GetString(0), out _, out _))
                kept[(r.GetString(0), r.GetInt64(1))] = r.GetString(2);
        return kept;
    }

    /// <summary>
    /// A kept state equals a replayed one when both, serialized by this process, give the same canonical JSON (jsonb reorders
    /// keys). The kept JSON is read into an <see cref="AccountState"/> first: its sets (live deals, reversed postings) are
    /// written in hash order, and string hashes differ from process to process, so the silo that wrote it may have listed
    /// the same set in another order.
    /// </summary>
    private static bool KeptStateEquals(string keptJson, AccountState replayed)
    {
        var kept = System.Text.Json.JsonSerializer.Deserialize<AccountState>(keptJson, EventSerializer.Options);
        return kept is not null && HashChain.Canonical(System.Text.Json.JsonSerializer.Serialize(kept, EventSerializer.Options)).AsSpan()
            .SequenceEqual(HashChain.Canonical(System.Text.Json.JsonSerializer.Serialize(replayed, EventSerializer.Options)));
    }

    private static async Task<GlobalCheckpoint> CheckpointAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string name, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("SELECT transaction_id::text, global_position FROM projection_checkpoints WHERE projection = $1", conn, tx);
        cmd.Parameters.Add(new() { Value = name });
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        return await r.ReadAsync(ct).ConfigureAwait(false)
            ? new GlobalCheckpoint(ulong.Parse(r.GetString(0), CultureInfo.InvariantCulture), r.GetInt64(1))
            : GlobalCheckpoint.Start;
    }
}
