namespace Escrow.Domain.Payments;

/// <summary>
/// Marker for events of a payment stream. The aggregate's stream id is the UETR string (a lower-case
/// UUIDv4); the host maps it to its own stream naming (for example <c>payment-{uetr}</c>) with
/// <see cref="Decision.MapStreams"/>. Every event is schema version 1 and carries <c>At</c>, the
/// instant that came in on the command. Amounts are major units (decimal), currencies ISO 4217 codes.
/// </summary>
public interface IPaymentEvent
{
    string Uetr { get; }
    DateTimeOffset At { get; }
}

/// <summary><c>QuoteRequested</c>: the sender asks FX providers to quote <paramref name="Amount"/> of <paramref name="SourceCurrency"/> into <paramref name="TargetCurrency"/>.</summary>
public sealed record QuoteRequested(string Uetr, string SourceCurrency, string TargetCurrency, decimal Amount, DateTimeOffset At) : IPaymentEvent;

/// <summary><c>QuoteGenerated</c>: FX provider <paramref name="FxpId"/> offers <paramref name="Rate"/> (target per source unit) with <paramref name="Spread"/>, valid until <paramref name="ValidUntil"/> (inclusive).</summary>
public sealed record QuoteGenerated(
    string Uetr, string QuoteId, string FxpId, decimal Rate, decimal Spread, DateTimeOffset ValidUntil, DateTimeOffset At) : IPaymentEvent;

/// <summary><c>QuotesExpired</c>: every quote lapsed (the latest valid until before <paramref name="At"/>) and none was selected; the payment ends here.</summary>
public sealed record QuotesExpired(string Uetr, DateTimeOffset At) : IPaymentEvent;

/// <summary><c>QuoteSelected</c>: the sender takes quote <paramref name="QuoteId"/> (checked unexpired at <paramref name="At"/>).</summary>
public sealed record QuoteSelected(string Uetr, string QuoteId, string FxpId, decimal Rate, DateTimeOffset At) : IPaymentEvent;

/// <summary><c>ProxyResolutionRequested</c>: resolve a proxy (phone, e-mail, alias) to the creditor's account.</summary>
public sealed record ProxyResolutionRequested(string Uetr, string ProxyType, string ProxyValue, DateTimeOffset At) : IPaymentEvent;

/// <summary><c>ProxyResolved</c>: the proxy names this creditor, account and agent.</summary>
public sealed record ProxyResolved(
    string Uetr, string? CreditorName, string CreditorAccount, string CreditorAgent, DateTimeOffset At) : IPaymentEvent;

/// <summary><c>ProxyResolutionFailed</c>: no creditor for the proxy; the payment cannot be initiated.</summary>
public sealed record ProxyResolutionFailed(string Uetr, string Reason, DateTimeOffset At) : IPaymentEvent;

/// <summary>
/// <c>PaymentInitiated</c>: the pacs.008. <paramref name="Fingerprint"/> is the canonical business content
/// (ids, amount, parties, agent ids — not names or addresses of agents, nor whitespace) used to tell an
/// identical re-delivery (no-op) from a conflicting second pacs.008 for the same UETR.
/// <paramref name="RawXml"/> is the message as received, kept for audit. <paramref name="Booking"/> (absent from the
/// stored JSON when null) is how the payment moves money in this ledger, fixed at initiation (see
/// <see cref="PaymentBooking"/>); null means the payment only passes through (no account of ours is a party).
/// </summary>
public sealed record PaymentInitiated(
    string Uetr, string? MessageId, string? EndToEndId, decimal Amount, string Currency, DateOnly? SettlementDate,
    string? DebtorName, string? DebtorAccount, string? DebtorAgent, string? CreditorName, string? CreditorAccount,
    string? CreditorAgent, string Fingerprint, string? RawXml, DateTimeOffset At,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    PaymentBooking? Booking = null) : IPaymentEvent;

/// <summary><c>PaymentValidated</c>: the instruction passed validation (schema, sanctions, limits — the host's checks).</summary>
public sealed record PaymentValidated(string Uetr, DateTimeOffset At) : IPaymentEvent;

/// <summary><c>PaymentValidationFailed</c>: the instruction failed validation; terminal.</summary>
public sealed record PaymentValidationFailed(string Uetr, string Reason, DateTimeOffset At) : IPaymentEvent;

/// <summary><c>PaymentForwarded</c>: the pacs.008 was sent on to <paramref name="NextAgent"/>.</summary>
public sealed record PaymentForwarded(string Uetr, string? NextAgent, DateTimeOffset At) : IPaymentEvent;

/// <summary><c>PaymentAccepted</c>: a pacs.002 with ACSC or ACCC (settled). <paramref name="MessageId"/> is the pacs.002's (or, for a settlement implied by a return, the pacs.004's).</summary>
public sealed record PaymentAccepted(string Uetr, string Status, string? MessageId, DateTimeOffset At) : IPaymentEvent;

/// <summary><c>PaymentRejected</c>: a pacs.002 with RJCT and its reason code; terminal.</summary>
public sealed record PaymentRejected(string Uetr, string? ReasonCode, string? ReasonText, string? MessageId, DateTimeOffset At) : IPaymentEvent;

/// <summary><c>PaymentCompleted</c>: the creditor was credited (for example a camt.054 CRDT BOOK notification).</summary>
public sealed record PaymentCompleted(string Uetr, string? MessageId, DateTimeOffset At) : IPaymentEvent;

/// <summary><c>FxpNotified</c>: the FX provider of the selected quote was told the outcome.</summary>
public sealed record FxpNotified(string Uetr, string FxpId, DateTimeOffset At) : IPaymentEvent;

/// <summary><c>SenderNotified</c>: the sender was told the outcome (<paramref name="Outcome"/> is the status name at that time).</summary>
public sealed record SenderNotified(string Uetr, string Outcome, DateTimeOffset At) : IPaymentEvent;

/// <summary><c>ReturnRequested</c>: a camt.056 recall/cancellation request with its reason (DUPL, FRAD, CUST...).</summary>
public sealed record ReturnRequested(string Uetr, string? CaseId, string? ReasonCode, string? ReasonText, string? MessageId, DateTimeOffset At) : IPaymentEvent;

/// <summary><c>ReturnAnswered</c>: a camt.029 answer: CNCL (accepted, funds will come back), RJCR (refused), PECR (pending).</summary>
public sealed record ReturnAnswered(string Uetr, string? CaseId, string Status, string? ReasonCode, string? MessageId, DateTimeOffset At) : IPaymentEvent;

/// <summary>
/// <c>PaymentReturned</c>: a pacs.004 returned <paramref name="Amount"/>; <paramref name="TotalReturned"/> is the
/// cumulative amount after it; <paramref name="Full"/> when that equals the settled amount (partial otherwise).
/// </summary>
public sealed record PaymentReturned(
    string Uetr, string? ReturnId, decimal Amount, string Currency, decimal TotalReturned, bool Full,
    string? ReasonCode, string? MessageId, DateTimeOffset At) : IPaymentEvent;
