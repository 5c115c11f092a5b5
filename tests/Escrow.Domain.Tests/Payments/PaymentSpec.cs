using Escrow.Domain.Iso20022;
using Escrow.Domain.Payments;

namespace Escrow.Domain.Tests.Payments;

/// <summary>
/// Given/when/then for the payment aggregate: <c>Given(events...)</c> folds a history of one payment with
/// <see cref="Payment.Evolve"/>, <c>When(command)</c> runs <see cref="Payment.Decide"/>, <c>Then(events)</c> /
/// <c>ThenNoOp()</c> / <c>ThenRejected(code)</c> check the decision. Every event goes to the UETR's stream.
/// </summary>
internal static class PaymentSpec
{
    public const string U = "0f8fad5b-d9cb-469f-a165-70867728950e";
    public static readonly DateTimeOffset T0 = new(2026, 4, 13, 9, 0, 0, TimeSpan.Zero);

    public static DateTimeOffset At(int minute) => T0.AddMinutes(minute);

    public static PaymentScenario Given(params object[] history) => new(Payment.Fold(U, history));

    public static Money Usd(decimal amount) => new(amount, Currency.Parse("USD"));

    // ----- messages -----

    public static MessageInfo Info(string type, string id, int minute = 0) => new(type, "001.08", id, At(minute), null);

    public static CreditTransferMessage Pacs008(decimal amount = 1000m, string currency = "USD", string msgId = "M8", string uetr = U, string creditorAccount = "CRED-1") =>
        new(Info("pacs.008", msgId), uetr, "I1", "E2E-1", new Money(amount, Currency.Parse(currency)), null, new DateOnly(2026, 4, 13),
            new Party("Alice", "DEBT-1"), new Agent(null, "011104238"), new Party("Bob", creditorAccount), new Agent(null, "021040078"),
            null, null, 1, "<Document/>");

    public static StatusReportMessage Pacs002(string status, string? reason = null, Money? original = null, string uetr = U) =>
        new(Info("pacs.002", "M2-" + status), uetr, "M8", "E2E-1", status, reason, null, original);

    public static PaymentReturnMessage Pacs004(decimal amount, string currency = "USD", string returnId = "R1", Money? original = null) =>
        new(Info("pacs.004", "M4-" + returnId), U, returnId, "M8", "E2E-1", new Money(amount, Currency.Parse(currency)), original, "AC04", null);

    public static CancellationRequestMessage Camt056(string caseId = "CASE-1", Money? original = null) =>
        new(Info("camt.056", "M56-" + caseId), U, caseId, "M8", "E2E-1", original, "DUPL", "duplicate");

    public static ResolutionMessage Camt029(string status, string caseId = "CASE-1") =>
        new(Info("camt.029", "M29-" + status), U, caseId, "M8", "E2E-1", status, null);

    // ----- history -----

    public static QuoteRequested QuoteRequestedEvent(int at = 0) => new(U, "USD", "EUR", 1000m, At(at));
    public static QuoteGenerated QuoteEvent(string id = "q1", string fxp = "fxp-a", int validUntil = 10, int at = 1) => new(U, id, fxp, 0.92m, 0.002m, At(validUntil), At(at));
    public static QuoteSelected SelectedEvent(string id = "q1", string fxp = "fxp-a", int at = 2) => new(U, id, fxp, 0.92m, At(at));
    public static ProxyResolutionRequested ProxyRequestedEvent(int at = 3) => new(U, "MOBILE", "+491701234567", At(at));
    public static ProxyResolved ProxyResolvedEvent(string account = "CRED-1", int at = 4) => new(U, "Bob", account, "021040078", At(at));
    public static ProxyResolutionFailed ProxyFailedEvent(int at = 4) => new(U, "unknown proxy", At(at));

    public static PaymentInitiated InitiatedEvent(decimal amount = 1000m, string currency = "USD", int at = 5) =>
        (PaymentInitiated)Payment.Decide(PaymentState.Empty(U), new InitiatePayment(Pacs008(amount, currency), At(at))).Events.Single().Event;

    public static PaymentValidated ValidatedEvent(int at = 6) => new(U, At(at));
    public static PaymentForwarded ForwardedEvent(int at = 7) => new(U, "021040078", At(at));
    public static PaymentAccepted AcceptedEvent(int at = 8) => new(U, "ACSC", "M2-ACSC", At(at));
    public static PaymentRejected RejectedEvent(int at = 8) => new(U, "AC04", null, "M2-RJCT", At(at));
    public static PaymentCompleted CompletedEvent(int at = 9) => new(U, "NTF-1", At(at));
    public static ReturnRequested ReturnRequestedEvent(string caseId = "CASE-1", int at = 10) => new(U, caseId, "DUPL", "duplicate", "M56-" + caseId, At(at));
    public static PaymentReturned ReturnedEvent(decimal amount, decimal total, bool full, string returnId = "R1", int at = 12) =>
        new(U, returnId, amount, "USD", total, full, "AC04", "M4-" + returnId, At(at));

    /// <summary>A payment initiated, validated, forwarded and accepted.</summary>
    public static object[] Settled(decimal amount = 1000m) => [InitiatedEvent(amount), ValidatedEvent(), ForwardedEvent(), AcceptedEvent()];
}

internal sealed class PaymentScenario(PaymentState state)
{
    public PaymentState State { get; } = state;

    public PaymentOutcome When(PaymentCommand command) => new(command, State, Payment.Decide(State, command));
}

internal sealed class PaymentOutcome(PaymentCommand command, PaymentState before, Decision decision)
{
    public Decision Decision { get; } = decision;

    /// <summary>Accepted with exactly these events, in order, all on the UETR's stream.</summary>
    public PaymentOutcome Then(params object[] expected)
    {
        Assert.True(Decision.Rejection is null, $"{command} was rejected: {Decision.Rejection}");
        Assert.NotEmpty(expected);
        Assert.Equal(expected, Decision.Events.Select(e => e.Event));
        Assert.All(Decision.Events, e => Assert.Equal(before.Uetr, e.StreamId));
        return this;
    }

    /// <summary>Accepted with no events: an idempotent repeat; the host appends nothing and answers as the first time.</summary>
    public PaymentOutcome ThenNoOp()
    {
        Assert.True(Decision.Rejection is null, $"{command} was rejected: {Decision.Rejection}");
        Assert.Empty(Decision.Events);
        return this;
    }

    /// <summary>Refused with the stable <paramref name="code"/>; nothing written.</summary>
    public PaymentOutcome ThenRejected(string code)
    {
        Assert.True(Decision.IsRejected, $"{command} was accepted with {string.Join(", ", Decision.Events)}");
        Assert.Equal(code, Decision.Rejection!.Code);
        Assert.False(string.IsNullOrWhiteSpace(Decision.Rejection.Message));
        Assert.Empty(Decision.Events);
        return this;
    }

    public PaymentOutcome AndState(Action<PaymentState> check)
    {
        check(Decision.Events.Select(e => e.Event).Aggregate(before, Payment.Evolve));
        return this;
    }

    public string Message => Decision.Rejection!.Message;
}
