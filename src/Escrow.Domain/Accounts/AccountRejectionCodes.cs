namespace Escrow.Domain.Accounts;

/// <summary>
/// Stable rejection codes of the account aggregate (snake_case, never renamed once published). The money checks
/// (<c>invalid_amount</c>, <c>amount_precision</c>, <c>unknown_currency</c>) are the ledger's too, and deals and payments
/// that move money refuse with these codes unchanged.
/// </summary>
public static class AccountRejectionCodes
{
    public const string AccountNotFound = "account_not_found";
    public const string UnknownCurrency = "unknown_currency";
    public const string AccountExists = "account_exists";
    public const string AccountFrozen = "account_frozen";
    public const string AccountClosed = "account_closed";
    public const string AccountNotFrozen = "account_not_frozen";
    public const string BalanceNotZero = "balance_not_zero";
    public const string InsufficientFunds = "insufficient_funds";
    public const string CurrencyMismatch = "currency_mismatch";
    public const string InvalidAmount = "invalid_amount";
    public const string AmountPrecision = "amount_precision";
    public const string SameAccount = "same_account";
    public const string InvalidOverdraft = "invalid_overdraft";
    public const string BackdatedPosting = "backdated_posting";
    public const string PostingNotFound = "posting_not_found";
    public const string PostingAlreadyReversed = "posting_already_reversed";
    public const string ReversalOfReversal = "reversal_of_reversal";
    /// <summary>A hold with this id is already open on the account.</summary>
    public const string HoldExists = "hold_exists";
    /// <summary>The account has no open hold with this id.</summary>
    public const string HoldNotFound = "hold_not_found";
    /// <summary>A debit capturing a hold names another amount or currency than the hold's.</summary>
    public const string HoldMismatch = "hold_mismatch";
    /// <summary>An account with open holds cannot be closed.</summary>
    public const string HoldsPending = "holds_pending";
    /// <summary>An account that is a party to a live escrow deal cannot be closed.</summary>
    public const string LiveDeals = "live_deals";
}
