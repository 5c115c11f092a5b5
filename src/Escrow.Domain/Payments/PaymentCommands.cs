using Escrow.Domain.Iso20022;

namespace Escrow.Domain.Payments;

/// <summary>A command on one payment, addressed by its UETR. <paramref name="At"/> is the instant the host supplies (no clock reads).</summary>
public abstract record PaymentCommand(string Uetr, DateTimeOffset At);

public sealed record RequestQuote(string Uetr, string SourceCurrency, string TargetCurrency, decimal Amount, DateTimeOffset At)
    : PaymentCommand(Uetr, At);

public sealed record GenerateQuote(
    string Uetr, string QuoteId, string FxpId, decimal Rate, decimal Spread, DateTimeOffset ValidUntil, DateTimeOffset At)
    : PaymentCommand(Uetr, At);

/// <summary>Take a quote; <paramref name="At"/> is "now" and decides expiry (expired when <c>At &gt; ValidUntil</c>).</summary>
public sealed record SelectQuote(string Uetr, string QuoteId, DateTimeOffset At) : PaymentCommand(Uetr, At);

/// <summary>
/// Record that every quote of the payment lapsed unselected: accepted only when the payment is <c>Quoted</c> and
/// <paramref name="At"/> is after the latest <see cref="Quote.ValidUntil"/>. Sent by the payment grain's quote-expiry
/// reminder, never by a client.
/// </summary>
public sealed record ExpireQuotes(string Uetr, DateTimeOffset At) : PaymentCommand(Uetr, At);

public sealed record RequestProxyResolution(string Uetr, string ProxyType, string ProxyValue, DateTimeOffset At) : PaymentCommand(Uetr, At);

public sealed record ResolveProxy(string Uetr, string? CreditorName, string CreditorAccount, string CreditorAgent, DateTimeOffset At)
    : PaymentCommand(Uetr, At);

public sealed record FailProxyResolution(string Uetr, string Reason, DateTimeOffset At) : PaymentCommand(Uetr, At);

/// <summary>Initiate with a parsed pacs.008 (its UETR is the payment's). <paramref name="Booking"/>: how the host will move
/// money for it (null: a pass-through payment, no account of this ledger is a party).</summary>
public sealed record InitiatePayment(CreditTransferMessage Message, DateTimeOffset At, PaymentBooking? Booking = null) : PaymentCommand(Message.Uetr, At);

/// <summary>Record the host's validation result: <paramref name="FailureReason"/> null means valid.</summary>
public sealed record ValidatePayment(string Uetr, string? FailureReason, DateTimeOffset At) : PaymentCommand(Uetr, At);

public sealed record ForwardPayment(string Uetr, string? NextAgent, DateTimeOffset At) : PaymentCommand(Uetr, At);

/// <summary>Apply a pacs.002 status (ACSC/ACCC accept, RJCT reject, other codes are informational).</summary>
public sealed record ReportStatus(StatusReportMessage Message, DateTimeOffset At) : PaymentCommand(Message.Uetr, At);

/// <summary>The creditor was credited; <paramref name="Amount"/> (when known, e.g. from a camt.054) must equal the settled amount.</summary>
public sealed record CompletePayment(string Uetr, Money? Amount, string? MessageId, DateTimeOffset At) : PaymentCommand(Uetr, At);

public sealed record NotifyFxp(string Uetr, DateTimeOffset At) : PaymentCommand(Uetr, At);

public sealed record NotifySender(string Uetr, DateTimeOffset At) : PaymentCommand(Uetr, At);

/// <summary>Apply a camt.056 recall request.</summary>
public sealed record RequestReturn(CancellationRequestMessage Message, DateTimeOffset At) : PaymentCommand(Message.Uetr, At);

/// <summary>Apply a camt.029 answer to the recall.</summary>
public sealed record AnswerReturn(ResolutionMessage Message, DateTimeOffset At) : PaymentCommand(Message.Uetr, At);

/// <summary>Apply a pacs.004 return (full or partial).</summary>
public sealed record ReturnPayment(PaymentReturnMessage Message, DateTimeOffset At) : PaymentCommand(Message.Uetr, At);
