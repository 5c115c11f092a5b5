using Escrow.Domain.Accounts;

namespace Escrow.Domain.Deals;

/// <summary>Deal stream ids are <c>deal-{tenant}/{dealId}</c> (see <see cref="StreamIds"/>); a deal decision's events go to the deal and account streams.</summary>
public static class DealStreams
{
    public const string Prefix = "deal-";

    /// <summary>The stream id of deal <paramref name="dealId"/> of institution <paramref name="tenant"/>.</summary>
    public static string StreamId(string tenant, string dealId) => StreamIds.Of(Prefix, tenant, dealId);

    /// <summary>The institution and deal id of a deal stream id; false for any other stream.</summary>
    public static bool TryParse(string streamId, out string tenant, out string dealId) => StreamIds.TryParse(streamId, Prefix, out tenant, out dealId);

    /// <summary>The deal id (within its institution) of a deal stream id; false for any other stream.</summary>
    public static bool TryDealId(string streamId, out string dealId) => TryParse(streamId, out _, out dealId);

    /// <summary>
    /// Maps a deal decision's pending events to stream ids of <paramref name="tenant"/> by event type, not by id: a deal id and
    /// an account id may be spelled alike, so "which stream" is decided by whether the event is a deal or a ledger event.
    /// </summary>
    public static IReadOnlyList<PendingEvent> ToStreams(Decision decision, string tenant) =>
        decision.Events.Select(e => e.Event switch
        {
            IDealEvent => e with { StreamId = StreamId(tenant, e.StreamId) },
            IAccountEvent => e with { StreamId = AccountStreams.StreamId(tenant, e.StreamId) },
            _ => throw new InvalidOperationException($"a deal decision produced {e.Event.GetType().Name}"),
        }).ToList();
}
