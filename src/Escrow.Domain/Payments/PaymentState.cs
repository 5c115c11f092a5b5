using System.Collections.Immutable;

namespace Escrow.Domain.Payments;

/// <summary>Where a payment is in its lifecycle.</summary>
public enum PaymentStatus
{
    /// <summary>No event yet: an unknown UETR.</summary>
    None,
    QuoteRequested,
    Quoted,
    QuoteSelected,
    ProxyResolutionRequested,
    ProxyResolved,
    ProxyResolutionFailed,
    Initiated,
    Validated,
    ValidationFailed,
    Forwarded,
    Accepted,
    Rejected,
    Completed,
    /// <summary>Completed (or rejected / failed) and the sender — and the FXP when a quote was used — told.</summary>
    Notified,
    PartiallyReturned,
    Returned,
    /// <summary>Every quote lapsed unselected (<see cref="QuotesExpired"/>): the payment ends without moving money.</summary>
    QuotesExpired,
}

/// <summary>Where a recall (camt.056 / camt.029) stands.</summary>
public enum ReturnRequestStatus
{
    None,
    Requested,
    /// <summary>camt.029 CNCL: the recall is accepted.</summary>
    Cancelled,
    /// <summary>camt.029 RJCR: the recall is refused.</summary>
    RejectedByCreditorAgent,
    /// <summary>camt.029 PECR: pending.</summary>
    Pending,
}

/// <summary>A quote offered by an FX provider.</summary>
public sealed record Quote(string QuoteId, string FxpId, decimal Rate, decimal Spread, DateTimeOffset ValidUntil);

/// <summary>The folded state of one payment stream (keyed by UETR).</summary>
public sealed record PaymentState
{
    public required string Uetr { get; init; }
    public PaymentStatus Status { get; init; }
    /// <summary>Number of events folded; 0 means the UETR is unknown.</summary>
    public int Version { get; init; }
    public string? SourceCurrency { get; init; }
    public string? TargetCurrency { get; init; }
    public ImmutableDictionary<string, Quote> Quotes { get; init; } = ImmutableDictionary<string, Quote>.Empty;
    public Quote? SelectedQuote { get; init; }
    public string? ResolvedCreditorAccount { get; init; }
    public string? ProxyFailureReason { get; init; }
    /// <summary>The PaymentInitiated event (the pacs.008's business content), once initiated.</summary>
    public PaymentInitiated? Instruction { get; init; }
    public string? SettlementStatus { get; init; }
    public string? RejectionReason { get; init; }
    public string? ValidationFailure { get; init; }
    public bool FxpNotified { get; init; }
    public bool SenderNotified { get; init; }
    public ReturnRequestStatus ReturnRequest { get; init; }
    public string? ReturnCaseId { get; init; }
    public string? ReturnReason { get; init; }
    public decimal ReturnedAmount { get; init; }
    public ImmutableHashSet<string> ReturnIds { get; init; } = ImmutableHashSet<string>.Empty;
    public DateTimeOffset? LastAt { get; init; }

    /// <summary>True once a pacs.008 was accepted for this UETR.</summary>
    public bool IsInitiated => Instruction is not null;

    /// <summary>True once settlement was confirmed (accepted, and everything after it).</summary>
    public bool IsSettled => SettlementStatus is not null;

    public static PaymentState Empty(string uetr) => new() { Uetr = uetr };
}
