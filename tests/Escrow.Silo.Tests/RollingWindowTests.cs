using Escrow.Silo.Dashboard;
using Escrow.Testing;

namespace Escrow.Silo.Tests;

/// <summary>The dashboard's rolling window on a fake clock: per-second counts, percentiles within the bins' ±10 %, reuse of old buckets.</summary>
public class RollingWindowTests
{
    private static readonly DateTimeOffset Start = new(2031, 5, 1, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Each_second_keeps_its_counts_and_its_latency_percentiles()
    {
        var clock = new ManualClock(Start);
        var w = new RollingWindow(clock);
        // Second 1: 100 commands of 1..100 ms, 3 of them rejected, 2 events per accepted command.
        for (var i = 1; i <= 100; i++) w.Record(rejected: i <= 3, events: i <= 3 ? 0 : 2, milliseconds: i);
        clock.Advance(TimeSpan.FromSeconds(2));
        // Second 3: one slow command.
        w.Record(false, 1, 900);

        var s = w.Series(3);
        Assert.Equal([Start, Start.AddSeconds(1), Start.AddSeconds(2)], s.Select(p => p.At));
        Assert.Equal([100L, 0, 1], s.Select(p => p.Commands));
        Assert.Equal([3L, 0, 0], s.Select(p => p.Rejections));
        Assert.Equal([194L, 0, 1], s.Select(p => p.Events));
        Assert.InRange(s[0].P50!.Value, 50 / 1.1, 50 * 1.1);
        Assert.InRange(s[0].P99!.Value, 99 / 1.1, 99 * 1.1);
        Assert.Null(s[1].P50);
        Assert.InRange(s[2].P99!.Value, 900 / 1.1, 900 * 1.1);
        Assert.Equal((101L, 3L, 195L), (w.TotalCommands, w.TotalRejections, w.TotalEvents));

        var (p50, p99, n) = w.Percentiles(60);
        Assert.Equal(101, n);
        Assert.InRange(p50!.Value, 51 / 1.1, 51 * 1.1);
        Assert.InRange(p99!.Value, 100 / 1.1, 100 * 1.1);
    }

    [Fact]
    public void A_bucket_is_cleared_when_its_second_comes_round_again_and_older_seconds_read_as_empty()
    {
        var clock = new ManualClock(Start);
        var w = new RollingWindow(clock);
        w.Record(false, 2, 5);
        clock.Advance(TimeSpan.FromSeconds(RollingWindow.Seconds));   // the same bucket, ten minutes later
        Assert.All(w.Series(RollingWindow.Seconds), p => Assert.Equal(0, p.Commands));
        w.Record(true, 0, 7);
        var last = w.Series(1).Single();
        Assert.Equal((1L, 1L, 0L), (last.Commands, last.Rejections, last.Events));
        Assert.Equal(2, w.TotalCommands);   // totals since start keep everything
    }
}
