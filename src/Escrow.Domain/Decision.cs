namespace Escrow.Domain;

/// <summary>One event to be appended to one stream.</summary>
public sealed record PendingEvent(string StreamId, object Event);

/// <summary>
/// The outcome of a pure <c>Decide</c>: either the events to append (possibly to several streams, to be
/// committed in one transaction or not at all) or a <see cref="Rejection"/>. Never both.
/// </summary>
public sealed record Decision
{
    private Decision(IReadOnlyList<PendingEvent> events, Rejection? rejection)
    {
        Events = events;
        Rejection = rejection;
    }

    public IReadOnlyList<PendingEvent> Events { get; }
    public Rejection? Rejection { get; }
    public bool IsRejected => Rejection is not null;

    /// <summary>The same decision with every event's stream id rewritten (aggregate id → stream id).</summary>
    public Decision MapStreams(Func<string, string> streamId) =>
        IsRejected ? this : new(Events.Select(e => e with { StreamId = streamId(e.StreamId) }).ToList(), null);

    public static Decision Accept(params PendingEvent[] events) => new(events, null);
    public static Decision Reject(string code, string message) => new([], new Rejection(code, message));
    public static Decision Reject(Rejection rejection) => new([], rejection);
}
