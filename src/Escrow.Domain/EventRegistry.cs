using Escrow.Domain.Accounts;
using Escrow.Domain.Deals;

namespace Escrow.Domain;

/// <summary>
/// Stable stored names and schema versions of every event type. Every stored name is the event type's name in
/// PascalCase (<c>AccountDebited</c>, <c>DealFunded</c>, <c>PaymentAccepted</c>). A name once written stays readable
/// forever: the payment events were first stored in SCREAMING_SNAKE_CASE (<c>PAYMENT_ACCEPTED</c>), and those names
/// read as the same types (<see cref="Entry.FormerNames"/>); new events are written under the PascalCase name. A
/// changed shape gets a new schema version and an upcaster (see the event store) that converts the old JSON on read,
/// so every historical version stays readable.
/// </summary>
public static class EventRegistry
{
    /// <summary>One event type: the name it is written under, its schema version, and the names it was written under before.</summary>
    public sealed record Entry(string Name, int SchemaVersion, Type Type, params string[] FormerNames);

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
        new("QuoteRequested", 1, typeof(Payments.QuoteRequested), "QUOTE_REQUESTED"),
        new("QuoteGenerated", 1, typeof(Payments.QuoteGenerated), "QUOTE_GENERATED"),
        new("QuoteSelected", 1, typeof(Payments.QuoteSelected), "QUOTE_SELECTED"),
        new("QuotesExpired", 1, typeof(Payments.QuotesExpired), "QUOTES_EXPIRED"),
        new("ProxyResolutionRequested", 1, typeof(Payments.ProxyResolutionRequested), "PROXY_RESOLUTION_REQUESTED"),
        new("ProxyResolved", 1, typeof(Payments.ProxyResolved), "PROXY_RESOLVED"),
        new("ProxyResolutionFailed", 1, typeof(Payments.ProxyResolutionFailed), "PROXY_RESOLUTION_FAILED"),
        new("PaymentInitiated", 1, typeof(Payments.PaymentInitiated), "PAYMENT_INITIATED"),
        new("PaymentValidated", 1, typeof(Payments.PaymentValidated), "PAYMENT_VALIDATED"),
        new("PaymentValidationFailed", 1, typeof(Payments.PaymentValidationFailed), "PAYMENT_VALIDATION_FAILED"),
        new("PaymentForwarded", 1, typeof(Payments.PaymentForwarded), "PAYMENT_FORWARDED"),
        new("PaymentAccepted", 1, typeof(Payments.PaymentAccepted), "PAYMENT_ACCEPTED"),
        new("PaymentRejected", 1, typeof(Payments.PaymentRejected), "PAYMENT_REJECTED"),
        new("PaymentCompleted", 1, typeof(Payments.PaymentCompleted), "PAYMENT_COMPLETED"),
        new("FxpNotified", 1, typeof(Payments.FxpNotified), "FXP_NOTIFIED"),
        new("SenderNotified", 1, typeof(Payments.SenderNotified), "SENDER_NOTIFIED"),
        new("ReturnRequested", 1, typeof(Payments.ReturnRequested), "RETURN_REQUESTED"),
        new("ReturnAnswered", 1, typeof(Payments.ReturnAnswered), "RETURN_ANSWERED"),
        new("PaymentReturned", 1, typeof(Payments.PaymentReturned), "PAYMENT_RETURNED"),
        new("LegalHoldPlaced", 1, typeof(Subjects.LegalHoldPlaced)),
        new("LegalHoldReleased", 1, typeof(Subjects.LegalHoldReleased)),
        new("PersonalDataErased", 1, typeof(Subjects.PersonalDataErased)),
    ];

    private static readonly Dictionary<string, Entry> ByName =
        Entries.SelectMany(e => e.FormerNames.Prepend(e.Name).Select(name => (name, e))).ToDictionary(x => x.name, x => x.e, StringComparer.Ordinal);
    private static readonly Dictionary<Type, Entry> ByType = Entries.ToDictionary(e => e.Type);

    public static IReadOnlyList<Entry> All => Entries;

    public static Entry ForType(Type type) =>
        ByType.TryGetValue(type, out var e) ? e : throw new InvalidOperationException($"event type {type.Name} has no stored name");

    /// <summary>The entry of a stored name, current or former.</summary>
    public static bool TryForName(string name, out Entry entry) => ByName.TryGetValue(name, out entry!);

    /// <summary>The current name of a stored name (a former name maps to the name its type is written under now); an unknown name as it is.</summary>
    public static string CurrentName(string storedName) => TryForName(storedName, out var e) ? e.Name : storedName;
}
