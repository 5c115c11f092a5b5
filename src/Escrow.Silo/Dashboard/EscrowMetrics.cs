using System.Runtime.CompilerServices;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Escrow.Silo.Hosting;

namespace Escrow.Silo.Dashboard;

/// <summary>
/// The silo's metrics: one <see cref="Meter"/> named <see cref="MeterName"/> (read it with
/// <c>dotnet-counters monitor --counters Orleans.Escrow</c> or any OpenTelemetry metrics exporter) and an
/// in-memory <see cref="RollingWindow"/> of the last minutes that feeds <c>/dashboard</c>. Both are fed from the
/// same call, <see cref="RecordCommand(string, string, string, string?, int, double)"/>, which the ledger, deal and
/// payment services make once per command they send to a grain; the grains report their activations
/// (<see cref="GrainActivation"/>). One instance per silo (a singleton in DI), so two silos in one process keep separate
/// numbers.
/// <para>Instruments (names, units and tags are documented in docs/operations.md, "Metrics"):</para>
/// <list type="bullet">
/// <item><c>escrow.commands</c> counter {command}: tags <c>aggregate.type</c>, <c>operation</c>, <c>outcome</c>
/// (accepted / rejected / replayed / error), <c>rejection.code</c> (rejected only).</item>
/// <item><c>escrow.command.duration</c> histogram, ms: the same tags but <c>rejection.code</c>.</item>
/// <item><c>escrow.events.appended</c> counter {event}: tag <c>aggregate.type</c>.</item>
/// <item><c>escrow.activations</c> observable gauge {activation}: tag <c>aggregate.type</c>.</item>
/// <item><c>escrow.projection.lag.events</c> {event} and <c>escrow.projection.lag.time</c> ms: observable gauges, tag
/// <c>projection</c>; <c>escrow.timers.due</c> {timer}: observable gauge. These three read a cache that a
/// sampler refreshes from PostgreSQL (see <see cref="DashboardSampler"/>).</item>
/// </list>
/// </summary>
public sealed class EscrowMetrics : IDisposable
{
    /// <summary>The meter's name, also what <c>dotnet-counters --counters</c> takes.</summary>
    public const string MeterName = "Orleans.Escrow";

    /// <summary>Outcome tag values.</summary>
    public const string Accepted = "accepted", Rejected = "rejected", Replayed = "replayed", Error = "error";

    private readonly Meter _meter;
    private readonly Counter<long> _commands;
    private readonly Histogram<double> _duration;
    private readonly Counter<long> _events;
    private readonly TimeProvider _clock;

    /// <summary>Creates the meter (through <paramref name="meterFactory"/> when DI provides one).</summary>
    public EscrowMetrics(TimeProvider clock, IMeterFactory? meterFactory = null)
    {
        _clock = clock;
        _meter = meterFactory?.Create(MeterName) ?? new Meter(MeterName);
        _commands = _meter.CreateCounter<long>("escrow.commands", "{command}", "Commands this silo sent to grains and answered, by outcome");
        _duration = _meter.CreateHistogram<double>("escrow.command.duration", "ms", "Time from sending a command to its grain to its answer (the wait for the grain's turn included)");
        _events = _meter.CreateCounter<long>("escrow.events.appended", "{event}", "Events appended by accepted commands");
        _meter.CreateObservableGauge("escrow.activations", ObserveActivations, "{activation}", "In-memory activations of this silo, by aggregate type");
        _meter.CreateObservableGauge("escrow.projection.lag.events", () => Observed().Projections.Select(p =>
            new Measurement<long>(p.EventsBehind, new KeyValuePair<string, object?>("projection", p.Name))), "{event}", "Events committed but not yet applied, per projection");
        _meter.CreateObservableGauge("escrow.projection.lag.time", () => Observed().Projections.Select(p =>
            new Measurement<double>(p.LagMilliseconds, new KeyValuePair<string, object?>("projection", p.Name))), "ms", "Age of the oldest unapplied event, per projection");
        _meter.CreateObservableGauge("escrow.timers.due", () => Observed().TimersDue, "{timer}", "Deal expiry reminders due now and not yet decided (cluster-wide)");
        Window = new RollingWindow(clock);
    }

    /// <summary>The last ten minutes of this silo's commands in 1 s buckets (for the dashboard's charts).</summary>
    public RollingWindow Window { get; }

    /// <summary>The newest sample of the database-backed gauges (projection lag, timers due).</summary>
    public DatabaseSample Sampled { get; internal set; } = DatabaseSample.Empty;

    /// <summary>Called when a listener reads a database-backed gauge: the sampler then keeps the sample fresh.</summary>
    internal Action? OnObserved { get; set; }

    private DatabaseSample Observed()
    {
        OnObserved?.Invoke();
        return Sampled;
    }

    private readonly ConcurrentDictionary<string, StrongBox<int>> _grainActivations = new(StringComparer.Ordinal);

    /// <summary>A grain of <paramref name="aggregateType"/> was activated (+1) or deactivated (−1) in this silo.</summary>
    public void GrainActivation(string aggregateType, int delta) =>
        Interlocked.Add(ref _grainActivations.GetOrAdd(aggregateType, static _ => new StrongBox<int>()).Value, delta);

    /// <summary>Grain activations of this silo by aggregate type (account, deal, payment).</summary>
    public IReadOnlyDictionary<string, int> Activations()
    {
        var total = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (type, n) in _grainActivations)
            if (Volatile.Read(ref n.Value) is > 0 and var v) total[type] = v;
        return total;
    }

    private IEnumerable<Measurement<int>> ObserveActivations() =>
        Activations().Select(kv => new Measurement<int>(kv.Value, new KeyValuePair<string, object?>("aggregate.type", kv.Key)));

    /// <summary>
    /// Runs one command (<paramref name="run"/>: its trip to the grain and back) and records it: count, outcome, duration and
    /// events appended; a command that throws is recorded with outcome <see cref="Error"/> and the exception passes on.
    /// </summary>
    public async Task<CommandOutcome> RecordAsync(string aggregateType, string operation, Func<Task<CommandOutcome>> run)
    {
        var start = Start();
        CommandOutcome outcome;
        try
        {
            outcome = await run().ConfigureAwait(false);
        }
        catch
        {
            RecordCommand(aggregateType, operation, Error, "exception", 0, Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            throw;
        }
        RecordCommand(aggregateType, operation, outcome, outcome.EventsAppended, start);
        return outcome;
    }

    /// <summary>A start mark for <see cref="RecordCommand(string, string, CommandOutcome, int, long)"/> (a Stopwatch timestamp).</summary>
    public static long Start() => Stopwatch.GetTimestamp();

    /// <summary>Records a command answered with <paramref name="outcome"/>, started at <paramref name="startTimestamp"/> (<see cref="Start"/>).</summary>
    public void RecordCommand(string aggregateType, string operation, CommandOutcome outcome, int eventsAppended, long startTimestamp) =>
        RecordCommand(aggregateType, operation,
            outcome.Replayed ? Replayed : outcome.Accepted ? Accepted : Rejected,
            outcome.Replayed || outcome.Accepted ? null : outcome.RejectionCode ?? $"http_{outcome.Status}",
            eventsAppended, Stopwatch.GetElapsedTime(startTimestamp).TotalMilliseconds);

    /// <summary>
    /// Records one command. <paramref name="outcome"/> is <see cref="Accepted"/>, <see cref="Rejected"/>,
    /// <see cref="Replayed"/> (answered from the idempotency record) or <see cref="Error"/> (an exception: the
    /// client got a 500 or a cancellation); <paramref name="rejectionCode"/> is the stable problem code of a
    /// rejection (a bounded set, safe as a tag); <paramref name="eventsAppended"/> counts the events the command
    /// committed; <paramref name="milliseconds"/> is its duration. Cheap: three instrument calls (no-ops without a
    /// listener) and one short lock.
    /// </summary>
    public void RecordCommand(string aggregateType, string operation, string outcome, string? rejectionCode, int eventsAppended, double milliseconds)
    {
        var type = new KeyValuePair<string, object?>("aggregate.type", aggregateType);
        var op = new KeyValuePair<string, object?>("operation", operation);
        var oc = new KeyValuePair<string, object?>("outcome", outcome);
        if (_commands.Enabled)
        {
            if (rejectionCode is null) _commands.Add(1, type, op, oc);
            else _commands.Add(1, type, op, oc, new KeyValuePair<string, object?>("rejection.code", rejectionCode));
        }
        if (_duration.Enabled) _duration.Record(milliseconds, type, op, oc);
        if (eventsAppended > 0 && _events.Enabled) _events.Add(eventsAppended, type);
        Window.Record(outcome is Rejected or Error, eventsAppended, milliseconds);
    }

    public void Dispose() => _meter.Dispose();
}

/// <summary>Projection lag and timers due as last sampled from the database.</summary>
public sealed record DatabaseSample(IReadOnlyList<Escrow.Projections.ProjectionStatus> Projections, long TimersDue, DateTimeOffset? At)
{
    public static readonly DatabaseSample Empty = new([], 0, null);
}

/// <summary>One second of the rolling window. Latencies in ms; percentiles from a log-scale histogram (±10 %).</summary>
public sealed record WindowPoint(DateTimeOffset At, long Commands, long Rejections, long Events, double? P50, double? P99);

/// <summary>
/// The last <see cref="Seconds"/> seconds of commands in 1 s buckets: commands, rejections (rejected or failed),
/// events appended, and a latency histogram per bucket with bins growing by 20 % from 0.01 ms to about a minute,
/// so p50/p99 are exact to ±10 %. A bucket is reused when its second comes round again. Recording takes one
/// uncontended lock (a few tens of nanoseconds); reading copies what it needs under the same lock.
/// </summary>
public sealed class RollingWindow(TimeProvider clock)
{
    /// <summary>How many seconds the window keeps.</summary>
    public const int Seconds = 600;
    private const int Bins = 88;               // 0.01 ms × 1.2^87 ≈ 78 s
    private const double FirstBound = 0.01, Growth = 1.2;
    private static readonly double LogGrowth = Math.Log(Growth);

    private sealed class Bucket
    {
        public long Second = long.MinValue;
        public long Commands, Rejections, Events;
        public readonly int[] Latency = new int[Bins];
    }

    private readonly Bucket[] _buckets = Enumerable.Range(0, Seconds).Select(_ => new Bucket()).ToArray();
    private readonly Lock _lock = new();

    /// <summary>Totals since this silo started.</summary>
    public long TotalCommands { get; private set; }
    public long TotalRejections { get; private set; }
    public long TotalEvents { get; private set; }

    private static int Bin(double ms) =>
        ms <= FirstBound ? 0 : Math.Min(Bins - 1, (int)Math.Ceiling(Math.Log(ms / FirstBound) / LogGrowth));

    /// <summary>A bin's value: the geometric middle of its range (bin i holds (0.01·1.2^(i-1), 0.01·1.2^i] ms).</summary>
    private static double BinValue(int bin) => FirstBound * Math.Pow(Growth, bin - 0.5);

    public void Record(bool rejected, int events, double milliseconds)
    {
        var second = clock.GetUtcNow().ToUnixTimeSeconds();
        var bin = Bin(milliseconds);
        lock (_lock)
        {
            var b = _buckets[(int)(second % Seconds)];
            if (b.Second != second)
            {
                b.Second = second;
                b.Commands = b.Rejections = b.Events = 0;
                Array.Clear(b.Latency);
            }
            b.Commands++;
            b.Latency[bin]++;
            TotalCommands++;
            if (rejected) { b.Rejections++; TotalRejections++; }
            if (events > 0) { b.Events += events; TotalEvents += events; }
        }
    }

    /// <summary>The last <paramref name="seconds"/> complete-or-current seconds, oldest first (empty seconds as zeros).</summary>
    /// <summary>Commands, rejections and events per second over the last <paramref name="seconds"/> whole seconds (the current one is still filling).</summary>
    public (int Seconds, double Commands, double Rejections, double Events) Recent(int seconds = 10)
    {
        var series = Series(seconds + 1);
        var last = series.Count > seconds ? series.Take(series.Count - 1).Skip(Math.Max(0, series.Count - 1 - seconds)).ToList() : series.ToList();
        double Rate(long n) => last.Count == 0 ? 0 : (double)n / last.Count;
        return (last.Count, Rate(last.Sum(p => p.Commands)), Rate(last.Sum(p => p.Rejections)), Rate(last.Sum(p => p.Events)));
    }

    public IReadOnlyList<WindowPoint> Series(int seconds)
    {
        seconds = Math.Clamp(seconds, 1, Seconds);
        var now = clock.GetUtcNow().ToUnixTimeSeconds();
        var points = new List<WindowPoint>(seconds);
        var latency = new int[Bins];
        lock (_lock)
        {
            for (var s = now - seconds + 1; s <= now; s++)
            {
                var b = _buckets[(int)(s % Seconds)];
                var at = DateTimeOffset.FromUnixTimeSeconds(s);
                if (b.Second != s) { points.Add(new WindowPoint(at, 0, 0, 0, null, null)); continue; }
                Array.Copy(b.Latency, latency, Bins);
                points.Add(new WindowPoint(at, b.Commands, b.Rejections, b.Events, Percentile(latency, b.Commands, 0.50), Percentile(latency, b.Commands, 0.99)));
            }
        }
        return points;
    }

    /// <summary>p50 and p99 over the last <paramref name="seconds"/> seconds taken together (null when no command ran).</summary>
    public (double? P50, double? P99, long Commands) Percentiles(int seconds)
    {
        seconds = Math.Clamp(seconds, 1, Seconds);
        var now = clock.GetUtcNow().ToUnixTimeSeconds();
        var sum = new int[Bins];
        long n = 0;
        lock (_lock)
        {
            for (var s = now - seconds + 1; s <= now; s++)
            {
                var b = _buckets[(int)(s % Seconds)];
                if (b.Second != s) continue;
                for (var i = 0; i < Bins; i++) sum[i] += b.Latency[i];
                n += b.Commands;
            }
        }
        return (Percentile(sum, n, 0.50), Percentile(sum, n, 0.99), n);
    }

    private static double? Percentile(int[] histogram, long count, double q)
    {
        if (count == 0) return null;
        var rank = (long)Math.Ceiling(q * count);
        long seen = 0;
        for (var i = 0; i < Bins; i++)
        {
            seen += histogram[i];
            if (seen >= rank) return Math.Round(BinValue(i), 3);
        }
        return Math.Round(BinValue(Bins - 1), 3);
    }
}
