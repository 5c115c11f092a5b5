namespace Escrow.Domain.Deals;

/// <summary>
/// Marker for events of a deal's stream (the host maps the deal id to the stream name). Every deal event is
/// schema version 1, stored under its type name (listed in <see cref="EventRegistry"/>), and carries <c>At</c>.
/// All amounts are <see cref="decimal"/> in major units of the deal's ISO 4217 currency.
/// Events that move money name the ledger posting (<c>PostingId</c>) whose <c>AccountDebited</c> /
/// <c>AccountCredited</c> legs are committed in the same append.
/// </summary>
public interface IDealEvent
{
    DateTimeOffset At { get; }
}

/// <summary>
/// Stored name <c>DealCreated</c>, schema 1: the terms. <paramref name="Amount"/> (major units, positive) in
/// <paramref name="Currency"/> (ISO 4217) is what funding moves from <paramref name="BuyerAccount"/> into
/// <paramref name="EscrowAccount"/>. At <paramref name="ExpiresAt"/> the deal expires: unfunded, without money;
/// funded, only if <paramref name="RefundAtExpiry"/> (what is held goes back to the buyer).
/// </summary>
/// <remarks><paramref name="Subjects"/> (absent from the stored JSON when null: deals created before personal data was sealed)
/// are the data subjects whose keys seal <paramref name="Terms"/> and the deal's later reasons, evidence and notes.</remarks>
public sealed record DealCreated(
    string DealId, string Tenant, string TemplateId, string BuyerAccount, string SellerAccount, string EscrowAccount,
    decimal Amount, string Currency, DateTimeOffset ExpiresAt, bool RefundAtExpiry, string? ExternalReference,
    string? Terms, DateTimeOffset At,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    IReadOnlyList<string>? Subjects = null) : IDealEvent;

/// <summary>Stored name <c>DealFunded</c>, schema 1: <paramref name="Amount"/> moved buyer → escrow by posting <paramref name="PostingId"/>.</summary>
public sealed record DealFunded(string DealId, string PostingId, decimal Amount, string Currency, DateTimeOffset At) : IDealEvent;

/// <summary>Stored name <c>DealReleased</c>, schema 1: <paramref name="Amount"/> (part or all of what is held) moved escrow → seller.</summary>
public sealed record DealReleased(string DealId, string PostingId, decimal Amount, string Currency, DateTimeOffset At) : IDealEvent;

/// <summary>Stored name <c>DealCancelled</c>, schema 1: everything held (<paramref name="Refunded"/>) moved escrow → buyer.</summary>
public sealed record DealCancelled(string DealId, string PostingId, decimal Refunded, string Currency, string? Reason, DateTimeOffset At) : IDealEvent;

/// <summary>
/// Stored name <c>DealExpired</c>, schema 1. Unfunded: <paramref name="Refunded"/> is 0 and <paramref name="PostingId"/> null.
/// Funded with refund at expiry: what was held moved escrow → buyer by <paramref name="PostingId"/>.
/// </summary>
public sealed record DealExpired(string DealId, string? PostingId, decimal Refunded, string Currency, DateTimeOffset At) : IDealEvent;

/// <summary>
/// Stored name <c>DealDisputeOpened</c>, schema 1: <paramref name="OpenedBy"/> disputes the deal for <paramref name="Reason"/>.
/// Expiry pauses at <paramref name="At"/>; the time left (expiry − <paramref name="At"/>, at least zero) is kept in
/// <see cref="DealState.ExpiryRemaining"/>.
/// </summary>
public sealed record DealDisputeOpened(string DealId, DealParty OpenedBy, string Reason, DateTimeOffset At) : IDealEvent;

/// <summary>
/// Stored name <c>DealEvidenceSubmitted</c>, schema 1: one immutable piece of evidence. Exactly one of
/// <paramref name="Content"/> (inline text) and <paramref name="ContentReference"/> (where the document lives) is set;
/// <paramref name="Sha256"/> is the lower-case hex SHA-256 of the content (of its UTF-8 bytes when inline).
/// </summary>
public sealed record DealEvidenceSubmitted(
    string DealId, string EvidenceId, string Type, string? Content, string? ContentReference, string Sha256,
    string SubmittedBy, DateTimeOffset At) : IDealEvent;

/// <summary>
/// Stored name <c>DealResolved</c>, schema 1: <paramref name="DecidedBy"/> split what was held:
/// <paramref name="BuyerShare"/> escrow → buyer (posting <paramref name="BuyerPostingId"/>), <paramref name="SellerShare"/>
/// escrow → seller (posting <paramref name="SellerPostingId"/>). A zero share has no posting (its id is null).
/// </summary>
public sealed record DealResolved(
    string DealId, string DecidedBy, decimal BuyerShare, decimal SellerShare, string Currency,
    string? BuyerPostingId, string? SellerPostingId, string? Note, DateTimeOffset At) : IDealEvent;
