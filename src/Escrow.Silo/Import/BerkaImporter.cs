using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Escrow.Domain.Accounts;
using Escrow.EventStore;
using Escrow.Silo.Hosting;
using Escrow.Silo.Ledger;

namespace Escrow.Silo.Import;

/// <summary>
/// Replays the Berka bank (PKDD'99) into the ledger through the same command path as the HTTP API
/// (<see cref="LedgerService.ExecuteAsync"/>), so every domain rule applies and every command is
/// idempotent under a key derived from the source. See docs/berka-import.md.
/// <para>
/// Order. The domain refuses back-dating per account, so what must hold is that every account stream
/// receives its postings in date order. Each customer account is one chain: its opening, then its
/// transactions day by day, each day in the order the bank's balance column implies. Chains run
/// concurrently. A house account (cash, interest, a clearing account) is shared by many chains, so it
/// has a gate per date: a posting dated D on it waits until every posting of the earlier dates on that
/// house account has been decided. There is no global barrier per day, so the month-end interest run
/// on the interest account does not hold back the next days' cash deposits. Dependencies only ever
/// point to earlier dates, so the chains cannot wait on each other in a cycle.
/// </para>
/// <para>
/// Speed. Each command is one append transaction, and each append NOTIFYs, which PostgreSQL serializes
/// per database through the commit's WAL flush: the import is bound by ~32,700 serial commits, not by
/// this class (about 55 s on the shared 2-core machine with durable commits, under 30 s without the flush wait).
/// </para>
/// </summary>
public sealed class BerkaImporter(LedgerService ledger, BerkaImportOptions? options = null, TimeProvider? clock = null)
{
    private readonly BerkaImportOptions _options = options ?? new BerkaImportOptions();
    private readonly TimeProvider _clock = clock ?? TimeProvider.System;

    /// <summary>
    /// Commands queued per house account. Its postings serialize in its grain's turns anyway; a few in
    /// flight keep its turn busy (the next one does its idempotency look-up while one appends), more
    /// would only hold connections that other house accounts could use.
    /// </summary>
    private const int InFlightPerHouseAccount = 6;

    /// <summary>Per account: what this run knows about it. Only its own chain touches it, one step at a time.</summary>
    private sealed class Track
    {
        public bool OpenedThisRun;
        public decimal? Ledger;     // the ledger's running balance after the last command of this run
        public decimal? BankLast;   // the bank's recorded balance after the account's previous transaction in this file
    }

    /// <summary>The per-date gate of one house account (see the class remarks).</summary>
    private sealed class HouseGate
    {
        private readonly DateOnly[] _days;
        private readonly int[] _remaining;
        private readonly TaskCompletionSource[] _done;
        private int _frontier;
        public readonly SemaphoreSlim InFlight = new(InFlightPerHouseAccount, InFlightPerHouseAccount);

        public HouseGate(IEnumerable<DateOnly> postingDates)
        {
            var counts = postingDates.GroupBy(d => d).OrderBy(g => g.Key).ToList();
            _days = counts.Select(g => g.Key).ToArray();
            _remaining = counts.Select(g => g.Count()).ToArray();
            _done = _days.Select(_ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).ToArray();
        }

        /// <summary>Completes when every posting on this account dated before <paramref name="day"/> has been decided.</summary>
        public Task BeforeAsync(DateOnly day, CancellationToken ct)
        {
            var i = Array.BinarySearch(_days, day);
            return i <= 0 ? Task.CompletedTask : _done[i - 1].Task.WaitAsync(ct);
        }

        public void Decided(DateOnly day)
        {
            var i = Array.BinarySearch(_days, day);
            lock (_remaining)
            {
                _remaining[i]--;
                while (_frontier < _days.Length && _remaining[_frontier] == 0)
                    _done[_frontier++].TrySetResult();
            }
        }
    }

    private sealed class Run(int total, int maxConcurrency, Guid correlation, IProgress<BerkaProgress>? progress)
    {
        public readonly int Total = total;
        public readonly Guid Correlation = correlation;
        public readonly IProgress<BerkaProgress>? Progress = progress;
        /// <summary>Bounds the database work of the whole import (connections are shared with other users of the server).</summary>
        public readonly SemaphoreSlim Slots = new(maxConcurrency, maxConcurrency);
        public int Done, Applied, Skipped, Rejected, Matched, Within, Opened, AlreadyOpen, OpenRejected, HouseOpened;
        public int LastReported, LatestDay;
        public readonly ConcurrentDictionary<string, int> Codes = new(StringComparer.Ordinal);
        public readonly ConcurrentBag<BerkaReconciliationRow> Unmatched = [];
        public Dictionary<string, HouseGate> Gates = new(StringComparer.Ordinal);

        public void Reject(string code)
        {
            Interlocked.Increment(ref Rejected);
            Codes.AddOrUpdate(code, 1, (_, n) => n + 1);
        }

        public void Count(DateOnly day)
        {
            var done = Interlocked.Increment(ref Done);
            var dn = day.DayNumber;
            int seen;
            while ((seen = Volatile.Read(ref LatestDay)) < dn && Interlocked.CompareExchange(ref LatestDay, dn, seen) != seen) { }
            var last = Volatile.Read(ref LastReported);
            if (done - last >= 200 && Interlocked.CompareExchange(ref LastReported, done, last) == last)
                Progress?.Report(new BerkaProgress(BerkaPhase.Importing, done, Total, DateOnly.FromDayNumber(Math.Max(dn, Volatile.Read(ref LatestDay)))));
        }
    }

    /// <summary>Imports <c>account.asc</c> and <c>trans.asc</c> of <paramref name="directory"/>.</summary>
    public async Task<BerkaImportSummary> ImportAsync(string directory, IProgress<BerkaProgress>? progress, CancellationToken ct)
    {
        if (_options.OverdraftLimit < 0 || decimal.Round(_options.OverdraftLimit, 2) != _options.OverdraftLimit)
            throw new ArgumentException("the overdraft limit must be ≥ 0 CZK with at most 2 decimals", nameof(options));
        var started = _clock.GetTimestamp();
        progress?.Report(new BerkaProgress(BerkaPhase.Reading, 0, 0, null));
        var accounts = await BerkaFiles.ReadAccountsAsync(Path.Combine(directory, "account.asc"), ct).ConfigureAwait(false);
        var transactions = await BerkaFiles.ReadTransactionsAsync(Path.Combine(directory, "trans.asc"), ct).ConfigureAwait(false);
        var run = new Run(transactions.Count, Math.Max(1, _options.MaxConcurrency), Guid.CreateVersion7(_clock.GetUtcNow()), progress);

        // The chart opens on the earliest date of the source, before any customer account: a house
        // account's open date is part of its idempotent request, so it must not depend on which file
        // of the bank comes first (account.asc is the same in every extract).
        var chartDay = accounts.Select(a => a.Opened).Concat(transactions.Select(t => t.Date)).DefaultIfEmpty(new DateOnly(1993, 1, 1)).Min();
        progress?.Report(new BerkaProgress(BerkaPhase.OpeningChart, 0, run.Total, chartDay));
        var house = BerkaChart.Fixed.Concat(transactions.Select(t => t.Bank).Distinct(StringComparer.Ordinal)
                .Select(BerkaChart.Clearing).Where(id => id != BerkaChart.ClearingUnknown).Order(StringComparer.Ordinal)
                .Select(id => (id, AccountKind.External)))
            .ToList();
        foreach (var (id, kind) in house)
            await OpenHouseAsync(id, kind, chartDay, run, ct).ConfigureAwait(false);

        run.Gates = transactions.Select(t => (t, plan: BerkaMapping.Plan(t))).Where(x => x.plan is not null)
            .GroupBy(x => x.plan!.CounterAccount, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => new HouseGate(g.Select(x => x.t.Date)), StringComparer.Ordinal);

        var byId = accounts.GroupBy(a => a.AccountId).ToDictionary(g => g.Key, g => g.First());
        var chains = transactions.GroupBy(t => t.AccountId)
            .Select(g => (Id: g.Key, Open: byId.GetValueOrDefault(g.Key), Days: g.GroupBy(t => t.Date).OrderBy(d => d.Key).Select(d => d.ToList()).ToList()))
            .OrderBy(c => c.Days[0][0].Date).ThenBy(c => c.Id)
            .ToList();
        progress?.Report(new BerkaProgress(BerkaPhase.Importing, 0, run.Total, transactions.Count == 0 ? null : chartDay));
        using (var failed = CancellationTokenSource.CreateLinkedTokenSource(ct))
        {
            // A failed chain cancels the others; WhenAll then throws its exception (cancelled chains do not count as faults).
            await Task.WhenAll(chains.Select(c => ChainAsync(c.Open, c.Days, run, failed))).ConfigureAwait(false);
        }

        // Accounts without a transaction in this file (account.asc runs to 1997); they open after the
        // replay so the log reads roughly in date order.
        progress?.Report(new BerkaProgress(BerkaPhase.OpeningLaterAccounts, run.Done, run.Total, null));
        var withTransactions = chains.Select(c => c.Id).ToHashSet();
        await Parallel.ForEachAsync(accounts.Where(a => !withTransactions.Contains(a.AccountId)).OrderBy(a => a.Opened).ThenBy(a => a.AccountId),
            new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, _options.MaxConcurrency), CancellationToken = ct },
            async (a, t) => await OpenCustomerAsync(a, new Track(), run, t).ConfigureAwait(false)).ConfigureAwait(false);

        var unmatched = run.Unmatched.OrderBy(r => r.Date).ThenBy(r => r.AccountId, StringComparer.Ordinal).ThenBy(r => r.TransId).ToList();
        if (_options.UnmatchedReportPath is { } reportPath)
            await WriteUnmatchedCsvAsync(reportPath, unmatched, ct).ConfigureAwait(false);
        progress?.Report(new BerkaProgress(BerkaPhase.Done, run.Done, run.Total, null));

        var dates = transactions.Select(t => t.Date).ToList();
        return new BerkaImportSummary(
            directory, accounts.Count, run.Opened, run.AlreadyOpen, run.OpenRejected, run.HouseOpened,
            transactions.Count, run.Applied, run.Skipped, run.Rejected,
            new SortedDictionary<string, int>(run.Codes, StringComparer.Ordinal),
            run.Matched, run.Within, unmatched.Count, unmatched,
            dates.Count == 0 ? null : dates.Min(), dates.Count == 0 ? null : dates.Max(),
            _options.OverdraftLimit, _clock.GetElapsedTime(started));
    }

    private async Task ChainAsync(BerkaAccount? open, List<List<BerkaTransaction>> days, Run run, CancellationTokenSource failed)
    {
        try
        {
            // Let the caller start every chain before the first one runs.
            await Task.Yield();
            var track = new Track();
            // An account missing from account.asc is not opened: its postings are rejected (account_not_found) and reported.
            if (open is not null)
                await OpenCustomerAsync(open, track, run, failed.Token).ConfigureAwait(false);
            foreach (var rows in days)
                await ImportAccountDayAsync(rows, track, run, failed.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            await failed.CancelAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Writes the unmatched rows: trans_id, account, date, amount (signed, as it moves the customer), bank balance, ledger balance, difference (ledger - bank), note.</summary>
    public static async Task WriteUnmatchedCsvAsync(string path, IEnumerable<BerkaReconciliationRow> rows, CancellationToken ct)
    {
        if (Path.GetDirectoryName(Path.GetFullPath(path)) is { Length: > 0 } dir) Directory.CreateDirectory(dir);
        var w = new StreamWriter(path, false, new UTF8Encoding(false));
        await using (w.ConfigureAwait(false))
        {
            await w.WriteLineAsync("trans_id,account,date,amount,bank_balance,ledger_balance,difference,note".AsMemory(), ct).ConfigureAwait(false);
            foreach (var r in rows)
            {
                var line = string.Join(',',
                    r.TransId.ToString(CultureInfo.InvariantCulture), r.AccountId, r.Date.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
                    r.Amount.ToString(CultureInfo.InvariantCulture), r.BankBalance.ToString(CultureInfo.InvariantCulture),
                    r.LedgerBalance.ToString(CultureInfo.InvariantCulture), r.Difference.ToString(CultureInfo.InvariantCulture), r.Note ?? "");
                await w.WriteLineAsync(line.AsMemory(), ct).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Orders one account's transactions of one day. The source gives no order within a day, but the
    /// bank's balance column does: next comes the row whose recorded balance equals the previous
    /// balance (<paramref name="anchor"/>) plus its signed amount; failing that, the row that comes
    /// closest within <paramref name="tolerance"/> (the bank's month-end interest and fee rows drift by
    /// 0.10 CZK, and the drift must not scramble the order); failing that (or with no previous balance),
    /// the head of a chain, a row whose balance-before is no other row's balance; else the lowest
    /// trans_id. Ties go to the lowest trans_id, so the order is deterministic. On the 1993 file this
    /// greedy choice reconciles exactly as well as trying every permutation of each day (at most 5 rows).
    /// </summary>
    public static List<BerkaTransaction> OrderDay(IReadOnlyList<BerkaTransaction> rows, decimal? anchor, decimal tolerance = 0.10m)
    {
        var remaining = rows.OrderBy(t => t.TransId).ToList();
        var ordered = new List<BerkaTransaction>(remaining.Count);
        while (remaining.Count > 0)
        {
            BerkaTransaction? next = null;
            if (anchor is { } a)
            {
                next = remaining.FirstOrDefault(t => t.Balance == a + t.Signed)
                    ?? remaining.Where(t => Math.Abs(t.Balance - (a + t.Signed)) <= tolerance)
                        .OrderBy(t => Math.Abs(t.Balance - (a + t.Signed))).ThenBy(t => t.TransId).FirstOrDefault();
            }
            if (next is null && remaining.Count > 1)
                next = remaining.FirstOrDefault(t => !remaining.Any(o => !ReferenceEquals(o, t) && o.Balance == t.Balance - t.Signed));
            next ??= remaining[0];
            remaining.Remove(next);
            ordered.Add(next);
            anchor = next.Balance;
        }
        return ordered;
    }

    private async Task ImportAccountDayAsync(List<BerkaTransaction> rows, Track track, Run run, CancellationToken ct)
    {
        var accountId = BerkaChart.Customer(rows[0].AccountId);
        var day = rows[0].Date;
        // The bank's balance before the day anchors the order; on the account's first day in this file the
        // ledger's balance stands in for it (only worth a read when there is something to order).
        var anchor = track.BankLast;
        if (anchor is null && rows.Count > 1)
            anchor = await LedgerBalanceBeforeAsync(accountId, day, track, run, ct).ConfigureAwait(false);

        foreach (var t in OrderDay(rows, anchor, _options.Tolerance))
        {
            decimal ledgerBalance;
            string? note = null;
            var plan = BerkaMapping.Plan(t);
            if (plan is null)
            {
                note = "berka_unknown_type";
                run.Reject(note);
                ledgerBalance = await LedgerBalanceBeforeAsync(accountId, day, track, run, ct).ConfigureAwait(false);
            }
            else
            {
                var at = Midnight(t.Date);
                var postingId = $"berka-{t.TransId.ToString(CultureInfo.InvariantCulture)}";
                var cmd = t.IsCredit
                    ? new Post(postingId, plan.CounterAccount, accountId, t.Amount, BerkaChart.Currency, plan.Kind, plan.Reference, at)
                    : new Post(postingId, accountId, plan.CounterAccount, t.Amount, BerkaChart.Currency, plan.Kind, plan.Reference, at);
                var gate = run.Gates[plan.CounterAccount];
                await gate.BeforeAsync(t.Date, ct).ConfigureAwait(false);
                CommandOutcome outcome;
                await gate.InFlight.WaitAsync(ct).ConfigureAwait(false);
                try
                {
                    outcome = await ExecuteAsync(cmd, $"berka:trans:{t.TransId.ToString(CultureInfo.InvariantCulture)}", run, ct).ConfigureAwait(false);
                }
                finally
                {
                    gate.InFlight.Release();
                }
                // Decided either way: a rejected posting leaves the house account as it was, later dates may go.
                gate.Decided(t.Date);

                if (outcome.Accepted && BalanceOf(outcome.Body, accountId) is { } after)
                {
                    if (outcome.Replayed) Interlocked.Increment(ref run.Skipped);
                    else Interlocked.Increment(ref run.Applied);
                    ledgerBalance = after;
                    track.Ledger = after;
                }
                else
                {
                    note = outcome.Accepted ? "unreadable_answer" : CodeOf(outcome);
                    run.Reject(note);
                    ledgerBalance = await LedgerBalanceBeforeAsync(accountId, day, track, run, ct).ConfigureAwait(false);
                }
            }
            track.BankLast = t.Balance;

            var diff = Math.Abs(ledgerBalance - t.Balance);
            if (note is null && diff == 0) Interlocked.Increment(ref run.Matched);
            else if (note is null && diff <= _options.Tolerance) Interlocked.Increment(ref run.Within);
            else run.Unmatched.Add(new BerkaReconciliationRow(t.TransId, accountId, t.Date, t.Signed, t.Balance, ledgerBalance, note));
            run.Count(t.Date);
        }
    }

    /// <summary>
    /// The ledger's balance of the account as this run left it, or, before this run touched it, as of the
    /// end of the previous day (a replay of its stream: correct even when a re-import meets the account's
    /// postings already in the log).
    /// </summary>
    private async Task<decimal> LedgerBalanceBeforeAsync(string accountId, DateOnly day, Track track, Run run, CancellationToken ct)
    {
        if (track.Ledger is { } known) return known;
        if (track.OpenedThisRun) return (track.Ledger = 0m).Value;
        await run.Slots.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var (state, _) = await ledger.ReplayAsync(_options.Tenant, accountId, Midnight(day).AddTicks(-10), ct).ConfigureAwait(false);
            track.Ledger = state.Balance;
            return state.Balance;
        }
        finally
        {
            run.Slots.Release();
        }
    }

    private async Task OpenHouseAsync(string id, AccountKind kind, DateOnly chartDay, Run run, CancellationToken ct)
    {
        var outcome = await ExecuteAsync(new OpenAccount(id, BerkaChart.Owner, BerkaChart.Currency, kind, 0m, Midnight(chartDay)),
            $"berka:open:{id}", run, ct).ConfigureAwait(false);
        if (outcome.Accepted)
        {
            if (!outcome.Replayed) run.HouseOpened++;
            return;
        }
        // Opened earlier by other means or under another chart date: fine as long as it exists and can take postings.
        var (state, _) = await ledger.StateAsync(_options.Tenant, id, ct).ConfigureAwait(false);
        if (!state.Exists || state.Currency != BerkaChart.Currency || state.Kind == AccountKind.Customer)
            throw new InvalidOperationException($"cannot open house account '{id}': {outcome.Body}");
    }

    private async Task OpenCustomerAsync(BerkaAccount a, Track track, Run run, CancellationToken ct)
    {
        var id = BerkaChart.Customer(a.AccountId);
        var outcome = await ExecuteAsync(
            new OpenAccount(id, $"berka-owner-of-{a.AccountId.ToString(CultureInfo.InvariantCulture)}", BerkaChart.Currency, AccountKind.Customer,
                _options.OverdraftLimit, Midnight(a.Opened)),
            $"berka:open:{a.AccountId.ToString(CultureInfo.InvariantCulture)}", run, ct).ConfigureAwait(false);
        if (outcome.Accepted && !outcome.Replayed)
        {
            track.OpenedThisRun = true;
            Interlocked.Increment(ref run.Opened);
        }
        else if (outcome.Accepted || CodeOf(outcome) == AccountRejectionCodes.AccountExists)
        {
            Interlocked.Increment(ref run.AlreadyOpen);
        }
        else
        {
            // e.g. idempotency_key_reused: an earlier import opened it with another overdraft limit.
            Interlocked.Increment(ref run.OpenRejected);
            run.Codes.AddOrUpdate("open:" + CodeOf(outcome), 1, (_, n) => n + 1);
        }
    }

    private async Task<CommandOutcome> ExecuteAsync(AccountCommand command, string idempotencyKey, Run run, CancellationToken ct)
    {
        var context = new CommandContext(_options.Tenant, _options.Actor, idempotencyKey, RequestHash(command), run.Correlation);
        await run.Slots.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            return await ledger.ExecuteAsync(command, context, ct).ConfigureAwait(false);
        }
        finally
        {
            run.Slots.Release();
        }
    }

    /// <summary>
    /// SHA-256 of the command as canonical JSON: everything in it comes from the source, so a re-import
    /// sends the same hash and gets the stored answer, while a changed row under an old key is refused (422).
    /// </summary>
    private static byte[] RequestHash(AccountCommand command) =>
        SHA256.HashData(Encoding.UTF8.GetBytes($"berka-import {command.GetType().Name}\n" +
                                               JsonSerializer.Serialize(command, command.GetType(), EventSerializer.Options)));

    private static DateTimeOffset Midnight(DateOnly day) => new(day.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);

    /// <summary>The customer's balance after the posting, from the answer (fresh or replayed from the idempotency record).</summary>
    private static decimal? BalanceOf(string body, string accountId)
    {
        using var doc = JsonDocument.Parse(body);
        if (!doc.RootElement.TryGetProperty("accounts", out var list) || list.ValueKind != JsonValueKind.Array) return null;
        foreach (var a in list.EnumerateArray())
            if (a.TryGetProperty("accountId", out var id) && id.GetString() == accountId && a.TryGetProperty("balance", out var b))
                return b.GetDecimal();
        return null;
    }

    /// <summary>The rejection code; a replayed answer carries it only in its problem body.</summary>
    private static string CodeOf(CommandOutcome o)
    {
        if (o.RejectionCode is { } code) return code;
        try
        {
            using var doc = JsonDocument.Parse(o.Body);
            if (doc.RootElement.TryGetProperty("code", out var c) && c.GetString() is { } s) return s;
        }
        catch (JsonException)
        {
            // fall through: an answer that is not a problem document
        }
        return $"http_{o.Status.ToString(CultureInfo.InvariantCulture)}";
    }
}
