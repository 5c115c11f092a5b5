using Escrow.Domain.Accounts;
namespace Escrow.Domain.Deals;

/// <summary>
/// Stable rejection codes of the deal aggregate (snake_case, never renamed once published). A deal command
/// that moves money may also be refused with a ledger code from <see cref="AccountRejectionCodes"/>, unchanged:
/// <c>insufficient_funds</c>, <c>account_not_found</c>, <c>account_frozen</c>, <c>account_closed</c>,
/// <c>currency_mismatch</c>, <c>backdated_posting</c>; amounts with <c>invalid_amount</c> / <c>amount_precision</c>;
/// the currency with <c>unknown_currency</c>; identical accounts with <c>same_account</c>.
/// </summary>
public static class DealRejectionCodes
{
    /// <summary>A command other than create on a deal that does not exist.</summary>
    public const string DealNotFound = "deal_not_found";
    /// <summary>Create on a deal id that already has a deal.</summary>
    public const string DealExists = "deal_exists";
    /// <summary>The command is not allowed in the deal's current status (no row in <see cref="DealTransitions.Table"/>).</summary>
    public const string InvalidTransition = "invalid_transition";
    /// <summary>A required text field (id, party, reason, evidence type, ...) is empty.</summary>
    public const string MissingField = "missing_field";
    /// <summary>The expiry instant is not after the creation instant.</summary>
    public const string InvalidExpiry = "invalid_expiry";
    /// <summary>Fund at or after the deal's expiry instant.</summary>
    public const string DealExpired = "deal_expired";
    /// <summary>Expire before the deal's expiry instant.</summary>
    public const string NotExpired = "not_expired";
    /// <summary>Expire on a funded deal whose terms keep the money in escrow at expiry (refundAtExpiry false).</summary>
    public const string RefundAtExpiryNotAgreed = "refund_at_expiry_not_agreed";
    /// <summary>A release larger than what the deal holds.</summary>
    public const string AmountExceedsHeld = "amount_exceeds_held";
    /// <summary>A resolution whose buyer and seller shares do not add up exactly to what is held.</summary>
    public const string SplitMismatch = "split_mismatch";
    /// <summary>A second submission of an evidence id already on the deal (evidence is append-only).</summary>
    public const string EvidenceExists = "evidence_exists";
    /// <summary>Evidence carries both or neither of content and reference.</summary>
    public const string InvalidEvidence = "invalid_evidence";
    /// <summary>The content hash is not 64 hexadecimal digits (SHA-256).</summary>
    public const string InvalidContentHash = "invalid_content_hash";
    /// <summary>The content hash is not the SHA-256 of the inline content (UTF-8).</summary>
    public const string ContentHashMismatch = "content_hash_mismatch";
    /// <summary>The escrow account exists but is not an empty internal account in the deal currency.</summary>
    public const string InvalidEscrowAccount = "invalid_escrow_account";
    /// <summary>A buyer or seller that is not a customer account (an escrow, cash or clearing account).</summary>
    public const string InvalidParty = "invalid_party";
}
