using System.Collections.Immutable;

namespace Escrow.Domain.Deals;

/// <summary>One piece of evidence as recorded (its content stays in the event; the hash proves it).</summary>
public sealed record DealEvidence(string EvidenceId, string Type, string? ContentReference, string Sha256, string SubmittedBy, DateTimeOffset At);

/// <summary>
/// An open or past dispute: who opened it, why, when, and the expiry time that was left at that moment
/// (<see cref="ExpiryRemaining"/>, never negative).
/// </summary>
public sealed record DealDispute(DealParty OpenedBy, string Reason, DateTimeOffset OpenedAt, TimeSpan ExpiryRemaining, DealStatus StatusBefore);

/// <summary>How a dispute was decided. Shares are major units.</summary>
public sealed record DealResolution(string DecidedBy, decimal BuyerShare, decimal SellerShare, string? Note, DateTimeOffset At);

/// <summary>
/// The folded state of one deal stream (version-agnostic: the host tracks stream versions). Amounts are
/// <see cref="decimal"/> in major units of <see cref="Currency"/>. At every version
/// <c><see cref="Funded"/> = <see cref="Released"/> + <see cref="Refunded"/> + <see cref="Held"/></c> and
/// <c><see cref="Held"/> ≥ 0</c>; <see cref="Held"/> equals the escrow account's ledger balance when the escrow
/// account serves this deal only.
/// </summary>
public sealed record DealState
{
    public static DealState Empty(string dealId) => new() { DealId = dealId };

    public required string DealId { get; init; }
    public DealStatus Status { get; init; }
    public bool Exists => Status != DealStatus.None;

    public string Tenant { get; init; } = "";
    public string TemplateId { get; init; } = "";
    public string BuyerAccount { get; init; } = "";
    public string SellerAccount { get; init; } = "";
    public string EscrowAccount { get; init; } = "";
    /// <summary>The agreed amount, what funding moves.</summary>
    public decimal Amount { get; init; }
    public string Currency { get; init; } = "";
    public DateTimeOffset ExpiresAt { get; init; }
    public bool RefundAtExpiry { get; init; }
    public string? ExternalReference { get; init; }
    public string? Terms { get; init; }

    /// <summary>The data subjects whose keys seal the deal's personal fields (null for deals created before they were named).</summary>
    public IReadOnlyList<string>? Subjects { get; init; }
    public DateTimeOffset? CreatedAt { get; init; }
    public DateTimeOffset? LastActivityAt { get; init; }

    /// <summary>Total moved buyer → escrow.</summary>
    public decimal Funded { get; init; }
    /// <summary>Total moved escrow → seller (releases and the seller's share of a resolution).</summary>
    public decimal Released { get; init; }
    /// <summary>Total moved escrow → buyer (cancel, expiry refund, the buyer's share of a resolution).</summary>
    public decimal Refunded { get; init; }
    /// <summary>What the escrow account holds for this deal now.</summary>
    public decimal Held { get; init; }
    /// <summary>Number of releases so far (names the next release posting).</summary>
    public int ReleaseCount { get; init; }

    /// <summary>The dispute, once one was opened (kept after resolution).</summary>
    public DealDispute? Dispute { get; init; }
    public DealResolution? Resolution { get; init; }
    /// <summary>Evidence in submission order; append-only.</summary>
    public ImmutableList<DealEvidence> Evidence { get; init; } = [];

    /// <summary>True while a dispute pauses expiry.</summary>
    public bool ExpiryPaused => Status == DealStatus.Disputed;

    /// <summary>
    /// While the expiry is paused (disputed): the time that was left when the dispute opened. A host that resumes
    /// the deal re-arms its timer at <see cref="ExpiryOnResume"/>. Null otherwise.
    /// </summary>
    public TimeSpan? ExpiryRemaining => ExpiryPaused ? Dispute?.ExpiryRemaining : null;

    /// <summary>The expiry instant if the paused clock restarts at <paramref name="resumedAt"/>.</summary>
    public DateTimeOffset? ExpiryOnResume(DateTimeOffset resumedAt) => ExpiryRemaining is { } left ? resumedAt + left : null;

    /// <summary>
    /// When the host's expiry timer should fire now: the expiry instant while <see cref="DealCommandKind.Expire"/>
    /// can succeed (created; funded or partially released with refund at expiry), null when paused or terminal.
    /// </summary>
    public DateTimeOffset? ExpiryTimer => Status switch
    {
        DealStatus.Created => ExpiresAt,
        DealStatus.Funded or DealStatus.PartiallyReleased when RefundAtExpiry => ExpiresAt,
        _ => null,
    };

    /// <summary>True in RELEASED, CANCELLED, EXPIRED and RESOLVED: no command applies any more.</summary>
    public bool IsTerminal => Exists && !DealTransitions.Table.Any(t => t.From == Status);
}
