namespace Escrow.Testing;

/// <summary>A TimeProvider the test moves by hand (the package with FakeTimeProvider is not in this package source).</summary>
public sealed class ManualClock(DateTimeOffset start) : TimeProvider
{
    private DateTimeOffset _now = start;
    private long _ticks;
    public override DateTimeOffset GetUtcNow() => _now;
    public override long GetTimestamp() => Interlocked.Read(ref _ticks);
    public override long TimestampFrequency => TimeSpan.TicksPerSecond;
    public void Advance(TimeSpan by)
    {
        _now += by;
        Interlocked.Add(ref _ticks, by.Ticks);
    }
}
