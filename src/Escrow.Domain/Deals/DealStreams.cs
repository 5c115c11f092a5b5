using Escrow.Domain.Accounts;

namespace Escrow.Domain.Deals;

/// <summary>Deal stream ids are <c>deal-{dealId}</c>; a deal decision's events go to the deal and account streams.</summary>
public static class DealStreams
{
    public const string Prefix = "deal-";
    public static string StreamId(string dealId) => Prefix + dealId;
    public static bool TryDealId(string streamId, out string dealId) => StreamIds.TryStrip(streamId, Prefix, out dealId);

    /// <summary>
    /// Maps a deal decision's pending events to stream ids by event type, not by id: a deal id and an account
    /// id may be spelled alike, so "which stream" is decided by whether the event is a deal or a ledger event.
    /// </summary>
    public static IReadOnlyList<PendingEvent> ToStreams(Decision decision) =>
        decision.Events.Select(e => e.Event switch
        {
            IDealEvent => e with { StreamId = StreamId(e.StreamId) },
            IAccountEvent => e with { StreamId = AccountStreams.StreamId(e.StreamId) },
            _ => throw new InvalidOperationException($"a deal decision produced {e.Event.GetType().Name}"),
        }).ToList();
}
