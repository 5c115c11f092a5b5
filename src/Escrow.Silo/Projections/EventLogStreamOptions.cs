namespace Escrow.Silo.Projections;

/// <summary>How the event log's queue receivers read (<see cref="EventLogQueueReceiver"/>); from <see cref="SiloOptions"/>.</summary>
public sealed record EventLogStreamOptions
{
    /// <summary>Most log events in one batch (one message of the queue, applied in one transaction).</summary>
    public int BatchSize { get; init; } = 500;

    /// <summary>Read the log at least this often when no wake-up arrives (a lost notification only delays).</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// For <see cref="HotWindow"/> after a batch, read at this interval even without a wake-up: a read can come back short
    /// because an older transaction (another projection's batch) still held the commit-safe horizon, and the wake-up of
    /// the events it held back was already used. Also the pulling agent's timer period.
    /// </summary>
    public TimeSpan HotPollInterval { get; init; } = TimeSpan.FromMilliseconds(10);

    /// <summary>How long after a batch the receiver keeps reading at <see cref="HotPollInterval"/>.</summary>
    public TimeSpan HotWindow { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>An idle queue sends an empty heartbeat batch this often, so a projection behind what was delivered catches up without new events.</summary>
    public TimeSpan HeartbeatInterval { get; init; } = TimeSpan.FromSeconds(5);
}
