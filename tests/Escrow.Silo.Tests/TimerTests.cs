using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Escrow.Domain.Accounts;
using Escrow.Projections;
using Escrow.Silo.Hosting;
using Escrow.Silo.Ledger;
using Escrow.Silo.Timers;
using Escrow.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace Escrow.Silo.Tests;

/// <summary>Durable timers: due by the injected clock, durable across restarts, one firer per cluster, at most one effect.</summary>
public sealed class TimerTests(PgDatabase db) : IClassFixture<PgDatabase>, IAsyncLifetime
{
    private readonly PgDatabase _db = db;

    /// <summary>The ledger's silo (its own timer firer off: the tests run theirs by hand, each a "silo" of the timer service).</summary>
    private SiloFactory _silo = null!;

    public Task InitializeAsync()
    {
        _silo = new SiloFactory(_db, runProjections: false, settings: new Dictionary<string, string> { ["Escrow:RunTimers"] = "false" });
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _silo.DisposeAsync();

    private static readonly DateTimeOffset T0 = new(2031, 6, 1, 12, 0, 0, TimeSpan.Zero);

    /// <summary>Fires a ledger transfer through the real command path, keyed by the timer's idempotency key.</summary>
    private sealed class TransferHandler(LedgerService ledger) : ITimerHandler
    {
        public int Calls;
        public string Kind => "test-transfer";
        public async Task<TimerOutcome> FireAsync(DueTimer timer, CancellationToken ct)
        {
            Interlocked.Increment(ref Calls);
            var p = JsonDocument.Parse(timer.PayloadJson).RootElement;
            var ctx = new CommandContext("default", "timer", timer.IdempotencyKey,
                SHA256.HashData(Encoding.UTF8.GetBytes(timer.IdempotencyKey)), Guid.NewGuid());
            var outcome = await ledger.ExecuteAsync(new Post("tp-" + timer.TimerId + "-" + timer.Generation, p.GetProperty("from").GetString()!,
                p.GetProperty("to").GetString()!, p.GetProperty("amount").GetDecimal(), "EUR", PostingKind.Transfer, "scheduled", LedgerService.Now), ctx, ct);
            return TimerOutcome.Done($"{outcome.Status}{(outcome.Replayed ? " (replayed)" : "")}");
        }
    }

    private (LedgerService Ledger, TransferHandler Handler, TimerStore Store, TimerFirer Firer) Silo(ManualClock clock)
    {
        var ledger = _silo.Services.GetRequiredService<LedgerService>();
        var handler = new TransferHandler(ledger);
        var store = new TimerStore(_db.DataSource);
        var firer = new TimerFirer(store, [handler], clock, new TimerFirerOptions { PollInterval = TimeSpan.FromMilliseconds(20), LeaderRetry = TimeSpan.FromMilliseconds(50) }, NullLogger.Instance);
        return (ledger, handler, store, firer);
    }

    private async Task<(string From, string To)> AccountsAsync(LedgerService ledger)
    {
        var from = "tf-" + Guid.NewGuid().ToString("N")[..10];
        var to = "tt-" + Guid.NewGuid().ToString("N")[..10];
        var cash = "tcash-" + Guid.NewGuid().ToString("N")[..10];
        var ctx = new CommandContext("default", "test", null, [], Guid.NewGuid());
        foreach (var (id, kind) in new[] { (from, AccountKind.Customer), (to, AccountKind.Customer), (cash, AccountKind.Internal) })
            Assert.True((await ledger.ExecuteAsync(new OpenAccount(id, "o", "EUR", kind, 0, LedgerService.Now), ctx, default)).Accepted);
        Assert.True((await ledger.ExecuteAsync(new Post("seed-" + from, cash, from, 100m, "EUR", PostingKind.Deposit, null, LedgerService.Now), ctx, default)).Accepted);
        return (from, to);
    }

    private static TimerSchedule Transfer(string id, string from, string to, decimal amount, DateTimeOffset due) =>
        new(id, "test-transfer", AccountStreams.StreamId("default", from), "default", due,
            JsonSerializer.Serialize(new { from, to, amount }));

    [Fact]
    public async Task A_timer_fires_when_the_injected_clock_reaches_its_due_time_and_not_before()
    {
        var clock = new ManualClock(T0);
        var s = Silo(clock);
        var (from, to) = await AccountsAsync(s.Ledger);
        var id = "due-" + Guid.NewGuid();
        await s.Store.ArmAsync(Transfer(id, from, to, 10m, T0.AddMinutes(30)), default);

        clock.Advance(TimeSpan.FromMinutes(29));
        Assert.Equal(0, await s.Firer.FireDueAsync(default));
        Assert.Equal(0, s.Handler.Calls);

        clock.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(1, await s.Firer.FireDueAsync(default));
        var row = await s.Store.GetAsync(id, default);
        Assert.NotNull(row!.FiredAt);
        Assert.Equal("201", row.Outcome);
        Assert.Equal(90m, (await s.Ledger.StateAsync("default", from, default)).State.Balance);
        Assert.Equal(0, await s.Firer.FireDueAsync(default));   // fired timers stay fired
    }

    [Fact]
    public async Task Firing_again_after_a_crash_before_the_timer_was_marked_has_no_second_effect()
    {
        var clock = new ManualClock(T0);
        var s = Silo(clock);
        var (from, to) = await AccountsAsync(s.Ledger);
        var id = "crash-" + Guid.NewGuid();
        await s.Store.ArmAsync(Transfer(id, from, to, 25m, T0), default);
        Assert.Equal(1, await s.Firer.FireDueAsync(default));

        // The silo died after the command committed but before the timer was marked: un-mark it as the owner.
        await _db.ExecAsOwnerAsync($"UPDATE timers SET fired_at = NULL, outcome = NULL WHERE timer_id = '{id}'");
        var restarted = Silo(clock);
        Assert.Equal(1, await restarted.Firer.FireDueAsync(default));

        Assert.Equal(1, restarted.Handler.Calls);
        Assert.Equal("201 (replayed)", (await restarted.Store.GetAsync(id, default))!.Outcome);
        Assert.Equal(75m, (await restarted.Ledger.StateAsync("default", from, default)).State.Balance);
        Assert.Equal(25m, (await restarted.Ledger.StateAsync("default", to, default)).State.Balance);
    }

    [Fact]
    public async Task A_timer_armed_before_a_silo_restart_is_fired_by_the_next_silo()
    {
        var clock = new ManualClock(T0);
        var first = Silo(clock);
        var (from, to) = await AccountsAsync(first.Ledger);
        var id = "restart-" + Guid.NewGuid();
        await first.Store.ArmAsync(Transfer(id, from, to, 5m, T0.AddHours(1)), default);
        Assert.Equal(0, await first.Firer.FireDueAsync(default));
        // first silo goes away; a new one starts later
        clock.Advance(TimeSpan.FromHours(2));
        var second = Silo(clock);
        Assert.Equal(1, await second.Firer.FireDueAsync(default));
        Assert.Equal(0, first.Handler.Calls);
        Assert.Equal(1, second.Handler.Calls);
        Assert.Equal(95m, (await second.Ledger.StateAsync("default", from, default)).State.Balance);
    }

    [Fact]
    public async Task Re_arming_moves_the_timer_and_cancelling_stops_it()
    {
        var clock = new ManualClock(T0);
        var s = Silo(clock);
        var (from, to) = await AccountsAsync(s.Ledger);
        var moved = "rearm-" + Guid.NewGuid();
        var cancelled = "cancel-" + Guid.NewGuid();
        await s.Store.ArmAsync(Transfer(moved, from, to, 1m, T0.AddMinutes(5)), default);
        await s.Store.ArmAsync(Transfer(moved, from, to, 2m, T0.AddMinutes(50)), default);   // e.g. paused while disputed, re-armed later
        await s.Store.ArmAsync(Transfer(cancelled, from, to, 3m, T0.AddMinutes(5)), default);
        await s.Store.CancelAsync(cancelled, default);

        clock.Advance(TimeSpan.FromMinutes(10));
        Assert.Equal(0, await s.Firer.FireDueAsync(default));
        clock.Advance(TimeSpan.FromMinutes(45));
        Assert.Equal(1, await s.Firer.FireDueAsync(default));
        Assert.Equal(2, (await s.Store.GetAsync(moved, default))!.Generation);
        Assert.NotNull((await s.Store.GetAsync(cancelled, default))!.CancelledAt);
        Assert.Null((await s.Store.GetAsync(cancelled, default))!.FiredAt);
        Assert.Equal(98m, (await s.Ledger.StateAsync("default", from, default)).State.Balance);
    }

    [Fact]
    [Trait("Tier", "Slow")]
    public async Task Two_silos_running_firers_fire_each_timer_once_and_only_one_leads()
    {
        var clock = new ManualClock(T0);
        var a = Silo(clock);
        var b = Silo(clock);
        var (from, to) = await AccountsAsync(a.Ledger);
        var ids = Enumerable.Range(0, 20).Select(i => $"lead-{i}-{Guid.NewGuid():N}").ToList();
        foreach (var id in ids) await a.Store.ArmAsync(Transfer(id, from, to, 1m, T0), default);

        using var stop = new CancellationTokenSource();
        var runs = new[] { a.Firer.RunAsync(stop.Token), b.Firer.RunAsync(stop.Token) };
        var bothLed = false;
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (DateTime.UtcNow < deadline)
        {
            bothLed |= a.Firer.IsLeader && b.Firer.IsLeader;
            var rows = await Task.WhenAll(ids.Select(id => a.Store.GetAsync(id, default)));
            if (rows.All(r => r!.FiredAt is not null)) break;
            await Task.Delay(10);
        }
        await stop.CancelAsync();
        await Task.WhenAll(runs);

        Assert.False(bothLed, "two firers held the leadership at once");
        Assert.Equal(20, a.Handler.Calls + b.Handler.Calls);
        Assert.True(a.Handler.Calls == 0 || b.Handler.Calls == 0, $"both fired: {a.Handler.Calls} and {b.Handler.Calls}");
        Assert.Equal(80m, (await a.Ledger.StateAsync("default", from, default)).State.Balance);
    }
}
