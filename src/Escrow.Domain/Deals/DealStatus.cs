namespace Escrow.Domain.Deals;

/// <summary>
/// Where a deal (an escrow position) stands. The stored and displayed name is SCREAMING_SNAKE
/// (<see cref="DealStatusNames.Wire"/>): <c>CREATED</c>, <c>FUNDED</c>, <c>PARTIALLY_RELEASED</c>, ...
/// Which command may move a deal from which status to which is decided by <see cref="DealTransitions.Table"/> alone.
/// </summary>
public enum DealStatus
{
    /// <summary>No deal on this stream yet; only <see cref="CreateDeal"/> applies.</summary>
    None,
    /// <summary>Terms agreed, no money held.</summary>
    Created,
    /// <summary>The whole amount moved from the buyer into the deal's escrow account.</summary>
    Funded,
    /// <summary>Part of the funded amount released to the seller; the rest still held.</summary>
    PartiallyReleased,
    /// <summary>Terminal: everything released to the seller (possibly over several releases).</summary>
    Released,
    /// <summary>Terminal: what was held refunded to the buyer.</summary>
    Cancelled,
    /// <summary>Terminal: expired unfunded, or funded with refund at expiry (what was held refunded to the buyer).</summary>
    Expired,
    /// <summary>A party disputes the deal: money frozen in escrow, expiry paused, evidence accepted.</summary>
    Disputed,
    /// <summary>Terminal: the dispute was decided and what was held split between buyer and seller.</summary>
    Resolved,
}

/// <summary>The kind of a <see cref="DealCommand"/>: the first column of <see cref="DealTransitions.Table"/>.</summary>
public enum DealCommandKind
{
    Create,
    Fund,
    Release,
    Cancel,
    Expire,
    OpenDispute,
    SubmitEvidence,
    Resolve,
}

/// <summary>Who speaks for a deal: one of its two parties.</summary>
public enum DealParty
{
    Buyer,
    Seller,
}

/// <summary>Display names of <see cref="DealStatus"/>.</summary>
public static class DealStatusNames
{
    /// <summary>SCREAMING_SNAKE name, e.g. <c>PARTIALLY_RELEASED</c>; <see cref="DealStatus.None"/> is <c>NONE</c>.</summary>
    public static string Wire(this DealStatus status) => status switch
    {
        DealStatus.None => "NONE",
        DealStatus.Created => "CREATED",
        DealStatus.Funded => "FUNDED",
        DealStatus.PartiallyReleased => "PARTIALLY_RELEASED",
        DealStatus.Released => "RELEASED",
        DealStatus.Cancelled => "CANCELLED",
        DealStatus.Expired => "EXPIRED",
        DealStatus.Disputed => "DISPUTED",
        DealStatus.Resolved => "RESOLVED",
        _ => throw new ArgumentOutOfRangeException(nameof(status), status, "unknown deal status"),
    };

    /// <summary>Lower-case verb used in messages: <c>release</c>, <c>open dispute</c>, ...</summary>
    public static string Verb(this DealCommandKind kind) => kind switch
    {
        DealCommandKind.Create => "create",
        DealCommandKind.Fund => "fund",
        DealCommandKind.Release => "release",
        DealCommandKind.Cancel => "cancel",
        DealCommandKind.Expire => "expire",
        DealCommandKind.OpenDispute => "open dispute",
        DealCommandKind.SubmitEvidence => "submit evidence",
        DealCommandKind.Resolve => "resolve",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown deal command"),
    };
}
