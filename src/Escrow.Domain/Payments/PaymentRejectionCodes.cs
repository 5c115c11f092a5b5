using Escrow.Domain.Accounts;

namespace Escrow.Domain.Payments;

/// <summary>Stable rejection codes of the payment aggregate (snake_case, never renamed once published).</summary>
public static class PaymentRejectionCodes
{
    /// <summary>The command names another UETR than the state it was decided on (a host bug).</summary>
    public const string UetrMismatch = "uetr_mismatch";
    /// <summary>The UETR is not a lower-case UUIDv4.</summary>
    public const string InvalidUetr = "invalid_uetr";
    /// <summary>A status, return or completion for a UETR with no history at all.</summary>
    public const string UnknownUetr = "unknown_uetr";
    /// <summary>A status, return or completion for a UETR that has quotes/proxy history but no pacs.008 yet (out of order).</summary>
    public const string PaymentNotInitiated = "payment_not_initiated";
    /// <summary>A second pacs.008 for an initiated UETR with different business content; the message names the UETR.</summary>
    public const string UetrConflict = "uetr_conflict";
    public const string InvalidTransition = "invalid_transition";
    public const string QuoteAlreadyRequested = "quote_already_requested";
    public const string QuoteNotRequested = "quote_not_requested";
    public const string QuoteExists = "quote_exists";
    public const string QuoteNotFound = "quote_not_found";
    public const string QuoteExpired = "quote_expired";
    /// <summary><see cref="ExpireQuotes"/> while a quote is still valid (or the payment is not waiting for a selection).</summary>
    public const string QuotesNotExpired = "quotes_not_expired";
    public const string QuoteAlreadySelected = "quote_already_selected";
    public const string QuoteNotSelected = "quote_not_selected";
    public const string InvalidRate = "invalid_rate";
    public const string InvalidProxy = "invalid_proxy";
    public const string ProxyResolutionNotRequested = "proxy_resolution_not_requested";
    public const string ProxyNotResolved = "proxy_not_resolved";
    public const string ProxyResolutionFailed = "proxy_resolution_failed";
    public const string CreditorMismatch = "creditor_mismatch";
    public const string PaymentNotValidated = "payment_not_validated";
    public const string PaymentValidationFailed = "payment_validation_failed";
    public const string PaymentAlreadyRejected = "payment_already_rejected";
    public const string PaymentAlreadySettled = "payment_already_settled";
    public const string PaymentNotAccepted = "payment_not_accepted";
    public const string PaymentNotFinal = "payment_not_final";
    public const string NoFxp = "no_fxp";
    public const string PaymentNotReturnable = "payment_not_returnable";
    public const string PaymentAlreadyReturned = "payment_already_returned";
    public const string ReturnAlreadyRequested = "return_already_requested";
    public const string ReturnNotRequested = "return_not_requested";
    public const string ReturnAlreadyAnswered = "return_already_answered";
    public const string InvalidReturnStatus = "invalid_return_status";
    public const string CaseMismatch = "case_mismatch";
    /// <summary>A pacs.004 whose cumulative returned amount would exceed what was paid.</summary>
    public const string ReturnExceedsPaid = "return_exceeds_paid";
    /// <summary>An amount quoted from the original (pacs.002 / camt.056 / pacs.004 OrgnlTxRef, camt.054) differs from the pacs.008's.</summary>
    public const string AmountMismatch = "amount_mismatch";
    /// <summary>A message's <c>OrgnlEndToEndId</c> differs from the pacs.008's end-to-end id (the original message id is not
    /// compared: the Fedwire samples quote one that matches no pacs.008).</summary>
    public const string EndToEndMismatch = "end_to_end_mismatch";
    public const string CurrencyMismatch = AccountRejectionCodes.CurrencyMismatch;
    public const string UnknownCurrency = AccountRejectionCodes.UnknownCurrency;
    public const string InvalidAmount = AccountRejectionCodes.InvalidAmount;
    public const string AmountPrecision = AccountRejectionCodes.AmountPrecision;
}
