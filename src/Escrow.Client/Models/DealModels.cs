using System.Text.Json.Serialization;

namespace Escrow.Client;

/// <summary>The wire names of a deal's states (<c>status</c> of <see cref="Deal"/>, <c>state</c> filter of the deal list).</summary>
public static class DealStates
{
    /// <summary>Created, not funded yet.</summary>
    public const string Created = "CREATED";
    /// <summary>The buyer's money is held in the deal's escrow account.</summary>
    public const string Funded = "FUNDED";
    /// <summary>Part of the held money went to the seller.</summary>
    public const string PartiallyReleased = "PARTIALLY_RELEASED";
    /// <summary>Everything went to the seller (end state).</summary>
    public const string Released = "RELEASED";
    /// <summary>What was held went back to the buyer (end state).</summary>
    public const string Cancelled = "CANCELLED";
    /// <summary>The expiry timer fired (end state; refunded when agreed).</summary>
    public const string Expired = "EXPIRED";
    /// <summary>A party opened a dispute; expiry is paused.</summary>
    public const string Disputed = "DISPUTED";
    /// <summary>A dispute was resolved by splitting the held money (end state).</summary>
    public const string Resolved = "RESOLVED";
}

/// <summary>Which party of a deal opens a dispute.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<DealParty>))]
public enum DealParty
{
    /// <summary>The paying party.</summary>
    Buyer,
    /// <summary>The receiving party.</summary>
    Seller,
}

/// <summary>Body of <c>POST /templates</c>: an escrow product of the caller's institution; never changed once created.</summary>
/// <param name="TemplateId">Id of the template (account-id syntax); <c>default</c> is reserved for the built-in one.</param>
/// <param name="Name">Display name (default: the id).</param>
/// <param name="Currency">ISO 4217 code deals from this template must use.</param>
/// <param name="MinAmount">Smallest deal amount, major units, inclusive, &gt; 0.</param>
/// <param name="MaxAmount">Largest deal amount, major units, inclusive, ≥ <paramref name="MinAmount"/>.</param>
/// <param name="DefaultExpiryDays">Days until a deal expires unless it says otherwise, 1–3650 (default 7).</param>
/// <param name="RefundAtExpiry">Whether an expired funded deal refunds the buyer (default false).</param>
public sealed record DealTemplateRequest(
    string TemplateId, string Currency, decimal MinAmount, decimal MaxAmount, string? Name = null, int? DefaultExpiryDays = null, bool? RefundAtExpiry = null);

/// <summary>An institution's escrow product.</summary>
/// <param name="Tenant">The institution that owns it.</param>
/// <param name="TemplateId">Its id.</param>
/// <param name="Name">Display name.</param>
/// <param name="Currency">ISO 4217 code of its deals.</param>
/// <param name="MinAmount">Smallest amount, major units, inclusive.</param>
/// <param name="MaxAmount">Largest amount, major units, inclusive.</param>
/// <param name="DefaultExpiry">How long a deal from it lives unless it says otherwise.</param>
/// <param name="RefundAtExpiry">Whether an expired funded deal refunds the buyer.</param>
/// <param name="CreatedBy">Key id of the creator.</param>
/// <param name="CreatedAt">Creation time (UTC).</param>
public sealed record DealTemplate(
    string Tenant, string TemplateId, string Name, string Currency, decimal MinAmount, decimal MaxAmount,
    TimeSpan DefaultExpiry, bool RefundAtExpiry, string CreatedBy, DateTimeOffset CreatedAt);

/// <summary>Body of <c>POST /deals</c>.</summary>
/// <param name="BuyerAccount">The buyer's customer account (same institution, deal currency).</param>
/// <param name="SellerAccount">The seller's customer account (same institution, deal currency).</param>
/// <param name="Amount">Major units, &gt; 0; within the template's range.</param>
/// <param name="Currency">ISO 4217 code; the template's currency.</param>
/// <param name="DealId">Optional id (account-id syntax, at most 57 characters); default a new <c>d-…</c> id. The deal's escrow account is <c>escrow-{dealId}</c>.</param>
/// <param name="TemplateId">Template (default: the built-in <c>default</c>: any currency and amount, 7 days).</param>
/// <param name="ExpiresAt">Expiry instant (default: now + the template's expiry).</param>
/// <param name="RefundAtExpiry">Refund the buyer when a funded deal expires (default: the template's).</param>
/// <param name="ExternalReference">The caller's reference (order number, …).</param>
/// <param name="Terms">Free-text terms of the deal.</param>
public sealed record CreateDealRequest(
    string BuyerAccount, string SellerAccount, decimal Amount, string Currency,
    string? DealId = null, string? TemplateId = null, DateTimeOffset? ExpiresAt = null, bool? RefundAtExpiry = null,
    string? ExternalReference = null, string? Terms = null);

/// <summary>
/// Body of <c>POST /deals/{id}/evidence</c>: exactly one of <paramref name="Content"/> (inline; the silo computes its
/// SHA-256) or <paramref name="ContentReference"/> with <paramref name="Sha256"/> (64 hex digits). Evidence is append-only.
/// </summary>
/// <param name="EvidenceId">Unique within the deal (409 when reused).</param>
/// <param name="Type">What it is: <c>photo</c>, <c>invoice</c>, <c>message</c>, …</param>
/// <param name="Content">Inline text content.</param>
/// <param name="ContentReference">Where the document is kept (URL, document id).</param>
/// <param name="Sha256">SHA-256 of the referenced document, hex.</param>
public sealed record EvidenceRequest(string EvidenceId, string Type, string? Content = null, string? ContentReference = null, string? Sha256 = null);

/// <summary>A deal as the silo answers it (replayed from its stream). Amounts in major units of <see cref="Currency"/>.</summary>
/// <param name="DealId">The deal id.</param>
/// <param name="Tenant">The institution that owns it.</param>
/// <param name="TemplateId">Template it was made from.</param>
/// <param name="Status">One of <see cref="DealStates"/>.</param>
/// <param name="BuyerAccount">Buyer's account.</param>
/// <param name="SellerAccount">Seller's account.</param>
/// <param name="EscrowAccount">The deal's own escrow account, <c>escrow-{dealId}</c>.</param>
/// <param name="Amount">Agreed amount.</param>
/// <param name="Currency">ISO 4217 code.</param>
/// <param name="Funded">Moved buyer → escrow.</param>
/// <param name="Released">Moved escrow → seller.</param>
/// <param name="Refunded">Moved escrow → buyer.</param>
/// <param name="Held">In escrow now: funded = released + refunded + held at every version.</param>
/// <param name="ExpiresAt">Expiry instant (UTC).</param>
/// <param name="RefundAtExpiry">Whether expiry refunds the buyer.</param>
/// <param name="ExpiryPaused">True while disputed.</param>
/// <param name="ExternalReference">The caller's reference.</param>
/// <param name="Terms">Terms text.</param>
/// <param name="EvidenceCount">Evidence records submitted.</param>
/// <param name="Version">The deal stream's version.</param>
public sealed record Deal(
    string DealId, string Tenant, string TemplateId, string Status, string BuyerAccount, string SellerAccount, string EscrowAccount,
    decimal Amount, string Currency, decimal Funded, decimal Released, decimal Refunded, decimal Held,
    DateTimeOffset ExpiresAt, bool RefundAtExpiry, bool ExpiryPaused, string? ExternalReference, string? Terms,
    int EvidenceCount, long Version);

/// <summary>One transition of a deal (read model <c>deal_timeline</c>; may trail the stream by the projection lag).</summary>
/// <param name="Version">Deal stream version of the transition.</param>
/// <param name="EventType">Stored event name.</param>
/// <param name="FromStatus">State before.</param>
/// <param name="ToStatus">State after.</param>
/// <param name="Actor">Key id (or <c>system</c> for the timer) that caused it.</param>
/// <param name="Amount">Money moved, major units, when any.</param>
/// <param name="OccurredAt">When (UTC).</param>
public sealed record DealTimelineEntry(long Version, string EventType, string FromStatus, string ToStatus, string Actor, decimal? Amount, DateTimeOffset OccurredAt);

/// <summary>A row of the deal list (read model <c>deal_status</c>; may trail the stream by the projection lag).</summary>
/// <param name="DealId">The deal id.</param>
/// <param name="Tenant">Owning institution.</param>
/// <param name="Status">One of <see cref="DealStates"/>.</param>
/// <param name="Currency">ISO 4217 code.</param>
/// <param name="Amount">Agreed amount, major units.</param>
/// <param name="Funded">Funded, major units.</param>
/// <param name="Released">Released, major units.</param>
/// <param name="Refunded">Refunded, major units.</param>
/// <param name="Held">Held, major units.</param>
/// <param name="ExpiresAt">Expiry (UTC).</param>
/// <param name="LastActivityAt">Last transition (UTC).</param>
public sealed record DealSummary(string DealId, string Tenant, string Status, string Currency, decimal Amount, decimal Funded, decimal Released,
    decimal Refunded, decimal Held, DateTimeOffset ExpiresAt, DateTimeOffset LastActivityAt);

/// <summary>A page of the deal list, ordered by deal id.</summary>
/// <param name="Deals">The rows.</param>
/// <param name="NextAfter">Pass as <c>after</c> for the next page; null on the last page.</param>
public sealed record DealPage(IReadOnlyList<DealSummary> Deals, string? NextAfter);
