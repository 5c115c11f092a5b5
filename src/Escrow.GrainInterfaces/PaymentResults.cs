using Escrow.Domain.Payments;

namespace Escrow.Grains;

/// <summary>The business content of a payment's pacs.008 as the API answers it (amounts in major units of <see cref="Currency"/>, ISO 4217).</summary>
[GenerateSerializer, Immutable]
public sealed record PaymentInstructionView(
    [property: Id(0)] string? MessageId, [property: Id(1)] string? EndToEndId, [property: Id(2)] decimal Amount, [property: Id(3)] string Currency,
    [property: Id(4)] DateOnly? SettlementDate, [property: Id(5)] string? DebtorName, [property: Id(6)] string? DebtorAccount,
    [property: Id(7)] string? DebtorAgent, [property: Id(8)] string? CreditorName, [property: Id(9)] string? CreditorAccount,
    [property: Id(10)] string? CreditorAgent, [property: Id(11)] DateTimeOffset InitiatedAt);

/// <summary>
/// A payment, keyed by its institution and UETR (ISO 20022 <c>UETR</c>, a UUIDv4). <see cref="Status"/> is the lifecycle
/// status (<see cref="PaymentStatus"/>); <see cref="Changed"/> is false when the command was an idempotent repeat (for
/// example the identical pacs.008 delivered again) that appended nothing. <see cref="Booking"/> says how the payment moves
/// money in this ledger (null: it only passes through). <see cref="Version"/> counts the events of the payment's stream.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record PaymentView(
    [property: Id(0)] string Uetr, [property: Id(1)] string Status, [property: Id(2)] long Version, [property: Id(3)] bool Changed,
    [property: Id(4)] string? SourceCurrency, [property: Id(5)] string? TargetCurrency, [property: Id(6)] IReadOnlyList<Quote> Quotes,
    [property: Id(7)] Quote? SelectedQuote, [property: Id(8)] string? ResolvedCreditorAccount, [property: Id(9)] string? ProxyFailureReason,
    [property: Id(10)] PaymentInstructionView? Instruction, [property: Id(11)] PaymentBooking? Booking, [property: Id(12)] string? SettlementStatus,
    [property: Id(13)] string? RejectionReason, [property: Id(14)] string? ValidationFailure, [property: Id(15)] string ReturnRequest,
    [property: Id(16)] string? ReturnCaseId, [property: Id(17)] decimal ReturnedAmount, [property: Id(18)] bool SenderNotified,
    [property: Id(19)] bool FxpNotified, [property: Id(20)] DateTimeOffset? LastActivityAt)
{
    /// <summary>The view of a payment state <paramref name="s"/> at stream version <paramref name="version"/>; <paramref name="changed"/>: the call appended events.</summary>
    public static PaymentView From(PaymentState s, long version, bool changed) => new(
        s.Uetr, s.Status.ToString(), version, changed, s.SourceCurrency, s.TargetCurrency,
        s.Quotes.Values.OrderBy(q => q.QuoteId, StringComparer.Ordinal).ToList(), s.SelectedQuote, s.ResolvedCreditorAccount, s.ProxyFailureReason,
        s.Instruction is { } i
            ? new PaymentInstructionView(i.MessageId, i.EndToEndId, i.Amount, i.Currency, i.SettlementDate, i.DebtorName, i.DebtorAccount,
                i.DebtorAgent, i.CreditorName, i.CreditorAccount, i.CreditorAgent, i.At)
            : null,
        s.Instruction?.Booking, s.SettlementStatus, s.RejectionReason, s.ValidationFailure, s.ReturnRequest.ToString(), s.ReturnCaseId,
        s.ReturnedAmount, s.SenderNotified, s.FxpNotified, s.LastAt);
}
