using Escrow.Domain.Accounts;
using Escrow.Domain.Deals;

namespace Escrow.Domain;

/// <summary>
/// Stable stored names and schema versions of every event type. A stored name is never renamed; a
/// changed shape gets a new schema version and an upcaster (see the event store) that converts the old
/// JSON on read, so every historical version stays readable.
/// </summary>
public static class EventRegistry
{
    public sealed record Entry(string Name, int SchemaVersion, Type Type);

    private static readonly Entry[] Entries =
    [
        new("AccountOpened", 1, typeof(AccountOpened)),
        new("AccountDebited", 1, typeof(AccountDebited)),
        new("AccountCredited", 1, typeof(AccountCredited)),
        new("AccountFrozen", 1, typeof(AccountFrozen)),
        new("AccountUnfrozen", 1, typeof(AccountUnfrozen)),
        new("AccountClosed", 1, typeof(AccountClosed)),
        new("HoldPlaced", 1, typeof(HoldPlaced)),
        new("HoldReleased", 1, typeof(HoldReleased)),
        new("AccountDealJoined", 1, typeof(AccountDealJoined)),
        new("AccountDealLeft", 1, typeof(AccountDealLeft)),
        new("DealCreated", 1, typeof(DealCreated)),
        new("DealFunded", 1, typeof(DealFunded)),
        new("DealReleased", 1, typeof(DealReleased)),
        new("DealCancelled", 1, typeof(DealCancelled)),
        new("DealExpired", 1, typeof(DealExpired)),
        new("DealDisputeOpened", 1, typeof(DealDisputeOpened)),
        new("DealEvidenceSubmitted", 1, typeof(DealEvidenceSubmitted)),
        new("DealResolved", 1, typeof(DealResolved)),
        new("QUOTE_REQUESTED", 1, typeof(Payments.QuoteRequested)),
        new("QUOTE_GENERATED", 1, typeof(Payments.QuoteGenerated)),
        new("QUOTE_SELECTED", 1, typeof(Payments.QuoteSelected)),
        new("PROXY_RESOLUTION_REQUESTED", 1, typeof(Payments.ProxyResolutionRequested)),
        new("PROXY_RESOLVED", 1, typeof(Payments.ProxyResolved)),
        new("PROXY_RESOLUTION_FAILED", 1, typeof(Payments.ProxyResolutionFailed)),
        new("PAYMENT_INITIATED", 1, typeof(Payments.PaymentInitiated)),
        new("PAYMENT_VALIDATED", 1, typeof(Payments.PaymentValidated)),
        new("PAYMENT_VALIDATION_FAILED", 1, typeof(Payments.PaymentValidationFailed)),
        new("PAYMENT_FORWARDED", 1, typeof(Payments.PaymentForwarded)),
        new("PAYMENT_ACCEPTED", 1, typeof(Payments.PaymentAccepted)),
        new("PAYMENT_REJECTED", 1, typeof(Payments.PaymentRejected)),
        new("PAYMENT_COMPLETED", 1, typeof(Payments.PaymentCompleted)),
        new("FXP_NOTIFIED", 1, typeof(Payments.FxpNotified)),
        new("SENDER_NOTIFIED", 1, typeof(Payments.SenderNotified)),
        new("RETURN_REQUESTED", 1, typeof(Payments.ReturnRequested)),
        new("RETURN_ANSWERED", 1, typeof(Payments.ReturnAnswered)),
        new("PAYMENT_RETURNED", 1, typeof(Payments.PaymentReturned)),
    ];

    private static readonly Dictionary<string, Entry> ByName = Entries.ToDictionary(e => e.Name, StringComparer.Ordinal);
    private static readonly Dictionary<Type, Entry> ByType = Entries.ToDictionary(e => e.Type);

    public static IReadOnlyList<Entry> All => Entries;

    public static Entry ForType(Type type) =>
        ByType.TryGetValue(type, out var e) ? e : throw new InvalidOperationException($"event type {type.Name} has no stored name");

    public static bool TryForName(string name, out Entry entry) => ByName.TryGetValue(name, out entry!);
}
