using Escrow.Domain.Payments;
using static Escrow.Domain.Tests.Payments.PaymentSpec;
using C = Escrow.Domain.Payments.PaymentRejectionCodes;

namespace Escrow.Domain.Tests.Payments;

public class QuoteAndProxySpecs
{
    [Fact]
    public void Quote_requested() =>
        Given().When(new RequestQuote(U, "USD", "EUR", 1000m, At(0))).Then(new QuoteRequested(U, "USD", "EUR", 1000m, At(0)))
            .AndState(s => Assert.Equal(PaymentStatus.QuoteRequested, s.Status));

    [Fact]
    public void Quote_request_twice_is_refused() =>
        Given(QuoteRequestedEvent()).When(new RequestQuote(U, "USD", "EUR", 1000m, At(1))).ThenRejected(C.QuoteAlreadyRequested);

    [Theory]
    [InlineData("USD", "XXX", 10, C.UnknownCurrency)]
    [InlineData("USD", "EUR", 0, C.InvalidAmount)]
    [InlineData("USD", "EUR", 1.001, C.AmountPrecision)]
    public void Quote_request_is_checked(string from, string to, decimal amount, string code) =>
        Given().When(new RequestQuote(U, from, to, amount, At(0))).ThenRejected(code);

    [Fact]
    public void Quote_request_needs_a_uuid4_uetr() =>
        new PaymentScenario(PaymentState.Empty("not-a-uetr")).When(new RequestQuote("not-a-uetr", "USD", "EUR", 1m, At(0))).ThenRejected(C.InvalidUetr);

    [Fact]
    public void Quotes_from_several_fxps() =>
        Given(QuoteRequestedEvent(), QuoteEvent("q1", "fxp-a"))
            .When(new GenerateQuote(U, "q2", "fxp-b", 0.93m, 0.001m, At(15), At(2)))
            .Then(new QuoteGenerated(U, "q2", "fxp-b", 0.93m, 0.001m, At(15), At(2)))
            .AndState(s => Assert.Equal(2, s.Quotes.Count));

    [Fact]
    public void Quotes_lapsed_unselected_expire_after_the_latest_validity_and_end_the_payment() =>
        Given(QuoteRequestedEvent(), QuoteEvent("q1", "fxp-a", validUntil: 10), QuoteEvent("q2", "fxp-b", validUntil: 15))
            .When(new ExpireQuotes(U, At(16))).Then(new QuotesExpired(U, At(16)))
            .AndState(s => Assert.Equal(PaymentStatus.QuotesExpired, s.Status));

    [Fact]
    public void Quotes_do_not_expire_while_one_is_still_valid() =>
        Given(QuoteRequestedEvent(), QuoteEvent("q1", "fxp-a", validUntil: 10), QuoteEvent("q2", "fxp-b", validUntil: 15))
            .When(new ExpireQuotes(U, At(15))).ThenRejected(C.QuotesNotExpired);

    [Fact]
    public void A_selected_quote_never_expires() =>
        Given(QuoteRequestedEvent(), QuoteEvent("q1"), new QuoteSelected(U, "q1", "fxp-a", 0.92m, At(5)))
            .When(new ExpireQuotes(U, At(60))).ThenRejected(C.QuotesNotExpired);

    [Fact]
    public void Expiring_expired_quotes_again_changes_nothing() =>
        Given(QuoteRequestedEvent(), QuoteEvent("q1"), new QuotesExpired(U, At(11))).When(new ExpireQuotes(U, At(70))).ThenNoOp();

    [Fact]
    public void A_quote_of_a_payment_whose_quotes_expired_cannot_be_selected() =>
        Given(QuoteRequestedEvent(), QuoteEvent("q1"), new QuotesExpired(U, At(11))).When(new SelectQuote(U, "q1", At(5))).ThenRejected(C.QuoteExpired);

    [Fact]
    public void Quote_without_request_is_refused() =>
        Given().When(new GenerateQuote(U, "q1", "fxp-a", 0.9m, 0m, At(10), At(1))).ThenRejected(C.QuoteNotRequested);

    [Theory]
    [InlineData(0, 0)]
    [InlineData(-1, 0)]
    [InlineData(0.9, -0.1)]
    public void Quote_needs_positive_rate_and_non_negative_spread(decimal rate, decimal spread) =>
        Given(QuoteRequestedEvent()).When(new GenerateQuote(U, "q1", "fxp-a", rate, spread, At(10), At(1))).ThenRejected(C.InvalidRate);

    [Fact]
    public void Quote_already_expired_when_generated_is_refused() =>
        Given(QuoteRequestedEvent()).When(new GenerateQuote(U, "q1", "fxp-a", 0.9m, 0m, At(1), At(1))).ThenRejected(C.QuoteExpired);

    [Fact]
    public void Same_quote_again_is_a_no_op_and_other_terms_are_refused()
    {
        var given = Given(QuoteRequestedEvent(), QuoteEvent("q1", "fxp-a", validUntil: 10));
        given.When(new GenerateQuote(U, "q1", "fxp-a", 0.92m, 0.002m, At(10), At(2))).ThenNoOp();
        given.When(new GenerateQuote(U, "q1", "fxp-a", 0.95m, 0.002m, At(10), At(2))).ThenRejected(C.QuoteExists);
    }

    [Fact]
    public void Quote_selected_within_validity() =>
        Given(QuoteRequestedEvent(), QuoteEvent(validUntil: 10)).When(new SelectQuote(U, "q1", At(10)))
            .Then(new QuoteSelected(U, "q1", "fxp-a", 0.92m, At(10)))
            .AndState(s => Assert.Equal("q1", s.SelectedQuote!.QuoteId));

    [Fact]
    public void Selecting_an_expired_quote_is_refused_by_the_instant_on_the_command()
    {
        var given = Given(QuoteRequestedEvent(), QuoteEvent(validUntil: 10));
        given.When(new SelectQuote(U, "q1", At(10).AddTicks(1))).ThenRejected(C.QuoteExpired);
        given.When(new SelectQuote(U, "q1", At(11))).ThenRejected(C.QuoteExpired);
        given.When(new SelectQuote(U, "q1", At(9))).Then(new QuoteSelected(U, "q1", "fxp-a", 0.92m, At(9)));
    }

    [Fact]
    public void Selecting_an_unknown_quote_is_refused()
    {
        Given(QuoteRequestedEvent(), QuoteEvent()).When(new SelectQuote(U, "nope", At(2))).ThenRejected(C.QuoteNotFound);
        Given(QuoteRequestedEvent()).When(new SelectQuote(U, "q1", At(2))).ThenRejected(C.QuoteNotFound);
    }

    [Fact]
    public void Selecting_again_is_a_no_op_and_another_quote_is_refused()
    {
        var given = Given(QuoteRequestedEvent(), QuoteEvent("q1"), QuoteEvent("q2", "fxp-b"), SelectedEvent("q1"));
        given.When(new SelectQuote(U, "q1", At(3))).ThenNoOp();
        given.When(new SelectQuote(U, "q2", At(3))).ThenRejected(C.QuoteAlreadySelected);
    }

    [Fact]
    public void Proxy_resolution_after_the_quote() =>
        Given(QuoteRequestedEvent(), QuoteEvent(), SelectedEvent())
            .When(new RequestProxyResolution(U, "MOBILE", "+491701234567", At(3))).Then(ProxyRequestedEvent());

    [Fact]
    public void Proxy_resolution_without_a_quote() =>
        Given().When(new RequestProxyResolution(U, "MOBILE", "+491701234567", At(3))).Then(ProxyRequestedEvent());

    [Fact]
    public void Proxy_resolution_with_an_unselected_quote_is_refused() =>
        Given(QuoteRequestedEvent(), QuoteEvent()).When(new RequestProxyResolution(U, "MOBILE", "+49", At(3))).ThenRejected(C.InvalidTransition);

    [Fact]
    public void Proxy_needs_type_and_value() =>
        Given().When(new RequestProxyResolution(U, "MOBILE", " ", At(3))).ThenRejected(C.InvalidProxy);

    [Fact]
    public void Proxy_resolved() =>
        Given(ProxyRequestedEvent()).When(new ResolveProxy(U, "Bob", "CRED-1", "021040078", At(4))).Then(ProxyResolvedEvent())
            .AndState(s => Assert.Equal("CRED-1", s.ResolvedCreditorAccount));

    [Fact]
    public void Proxy_resolution_failed_with_a_reason() =>
        Given(ProxyRequestedEvent()).When(new FailProxyResolution(U, "unknown proxy", At(4))).Then(ProxyFailedEvent())
            .AndState(s => Assert.Equal(PaymentStatus.ProxyResolutionFailed, s.Status));

    [Fact]
    public void Proxy_answer_without_request_is_refused()
    {
        Given().When(new ResolveProxy(U, "Bob", "CRED-1", "x", At(4))).ThenRejected(C.ProxyResolutionNotRequested);
        Given(ProxyRequestedEvent(), ProxyResolvedEvent()).When(new FailProxyResolution(U, "late", At(5))).ThenRejected(C.ProxyResolutionNotRequested);
    }
}

public class InitiationSpecs
{
    [Fact]
    public void Pacs008_initiates_a_fresh_uetr_and_keeps_the_raw_xml() =>
        Given().When(new InitiatePayment(Pacs008(), At(5))).Then(InitiatedEvent())
            .AndState(s =>
            {
                Assert.Equal(PaymentStatus.Initiated, s.Status);
                Assert.Equal("<Document/>", s.Instruction!.RawXml);
                Assert.Equal((1000m, "USD"), (s.Instruction.Amount, s.Instruction.Currency));
            });

    [Fact]
    public void Pacs008_after_quote_and_proxy() =>
        Given(QuoteRequestedEvent(), QuoteEvent(), SelectedEvent(), ProxyRequestedEvent(), ProxyResolvedEvent())
            .When(new InitiatePayment(Pacs008(), At(5))).Then(InitiatedEvent());

    [Fact]
    public void Identical_pacs008_again_is_a_no_op() =>
        Given(InitiatedEvent()).When(new InitiatePayment(Pacs008(), At(6))).ThenNoOp();

    [Fact]
    public void Identical_pacs008_after_settlement_is_still_a_no_op() =>
        Given(Settled()).When(new InitiatePayment(Pacs008(), At(20))).ThenNoOp();

    [Fact]
    public void Different_pacs008_for_the_same_uetr_is_refused_naming_the_uetr()
    {
        var outcome = Given(InitiatedEvent()).When(new InitiatePayment(Pacs008(amount: 999m, msgId: "M8-other"), At(6))).ThenRejected(C.UetrConflict);
        Assert.Contains(U, outcome.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Pacs008_needs_a_uuid4_uetr()
    {
        const string v1 = "0f8fad5b-d9cb-169f-a165-70867728950e";
        new PaymentScenario(PaymentState.Empty(v1)).When(new InitiatePayment(Pacs008(uetr: v1), At(5))).ThenRejected(C.InvalidUetr);
    }

    [Fact]
    public void Command_for_another_uetr_is_refused() =>
        Given().When(new InitiatePayment(Pacs008(uetr: "1f8fad5b-d9cb-469f-a165-70867728950e"), At(5))).ThenRejected(C.UetrMismatch);

    [Fact]
    public void Pacs008_while_quotes_are_unselected_is_refused() =>
        Given(QuoteRequestedEvent(), QuoteEvent()).When(new InitiatePayment(Pacs008(), At(5))).ThenRejected(C.QuoteNotSelected);

    [Fact]
    public void Pacs008_while_the_proxy_is_unresolved_is_refused() =>
        Given(ProxyRequestedEvent()).When(new InitiatePayment(Pacs008(), At(5))).ThenRejected(C.ProxyNotResolved);

    [Fact]
    public void Pacs008_after_a_failed_proxy_resolution_is_refused() =>
        Given(ProxyRequestedEvent(), ProxyFailedEvent()).When(new InitiatePayment(Pacs008(), At(5))).ThenRejected(C.ProxyResolutionFailed);

    [Fact]
    public void Pacs008_to_another_creditor_than_the_proxy_resolved_is_refused() =>
        Given(ProxyRequestedEvent(), ProxyResolvedEvent("CRED-1")).When(new InitiatePayment(Pacs008(creditorAccount: "CRED-2"), At(5))).ThenRejected(C.CreditorMismatch);

    [Fact]
    public void Pacs008_in_a_currency_outside_the_quote_is_refused() =>
        Given(QuoteRequestedEvent(), QuoteEvent(), SelectedEvent()).When(new InitiatePayment(Pacs008(currency: "GBP"), At(5))).ThenRejected(C.CurrencyMismatch);

    [Fact]
    public void Validated() => Given(InitiatedEvent()).When(new ValidatePayment(U, null, At(6))).Then(ValidatedEvent());

    [Fact]
    public void Validation_failed_with_a_reason() =>
        Given(InitiatedEvent()).When(new ValidatePayment(U, "sanctions hit", At(6))).Then(new PaymentValidationFailed(U, "sanctions hit", At(6)))
            .AndState(s => Assert.Equal(PaymentStatus.ValidationFailed, s.Status));

    [Fact]
    public void Validation_repeats_are_no_ops_and_contradictions_refused()
    {
        Given(InitiatedEvent(), ValidatedEvent()).When(new ValidatePayment(U, null, At(7))).ThenNoOp();
        Given(InitiatedEvent(), ValidatedEvent()).When(new ValidatePayment(U, "late", At(7))).ThenRejected(C.InvalidTransition);
        Given(InitiatedEvent(), new PaymentValidationFailed(U, "x", At(6))).When(new ValidatePayment(U, "x", At(7))).ThenNoOp();
        Given(InitiatedEvent(), new PaymentValidationFailed(U, "x", At(6))).When(new ValidatePayment(U, null, At(7))).ThenRejected(C.PaymentValidationFailed);
    }

    [Fact]
    public void Forwarded() => Given(InitiatedEvent(), ValidatedEvent()).When(new ForwardPayment(U, "021040078", At(7))).Then(ForwardedEvent());

    [Fact]
    public void Forwarding_before_validation_is_refused() =>
        Given(InitiatedEvent()).When(new ForwardPayment(U, "x", At(7))).ThenRejected(C.PaymentNotValidated);

    [Fact]
    public void Forwarding_after_failed_validation_is_refused() =>
        Given(InitiatedEvent(), new PaymentValidationFailed(U, "x", At(6))).When(new ForwardPayment(U, "x", At(7))).ThenRejected(C.PaymentValidationFailed);

    [Fact]
    public void Forwarding_twice_is_a_no_op() =>
        Given(InitiatedEvent(), ValidatedEvent(), ForwardedEvent()).When(new ForwardPayment(U, "x", At(8))).ThenNoOp();
}

public class StatusSpecs
{
    private static object[] Forwarded => [InitiatedEvent(), ValidatedEvent(), ForwardedEvent()];

    [Theory]
    [InlineData("ACSC")]
    [InlineData("ACCC")]
    public void Accepted_by_pacs002(string status) =>
        Given(Forwarded).When(new ReportStatus(Pacs002(status), At(8))).Then(new PaymentAccepted(U, status, "M2-" + status, At(8)))
            .AndState(s => Assert.Equal(PaymentStatus.Accepted, s.Status));

    [Fact]
    public void Accepted_straight_after_initiation_as_the_network_says() =>
        Given(InitiatedEvent()).When(new ReportStatus(Pacs002("ACSC"), At(8))).Then(new PaymentAccepted(U, "ACSC", "M2-ACSC", At(8)));

    [Fact]
    public void Rejected_by_pacs002_with_reason() =>
        Given(Forwarded).When(new ReportStatus(Pacs002("RJCT", "AC04"), At(8))).Then(RejectedEvent())
            .AndState(s => Assert.Equal((PaymentStatus.Rejected, "AC04"), (s.Status, s.RejectionReason)));

    [Theory]
    [InlineData("ACTC")]
    [InlineData("ACSP")]
    [InlineData("PDNG")]
    public void Intermediate_statuses_are_informational(string status) =>
        Given(Forwarded).When(new ReportStatus(Pacs002(status), At(8))).ThenNoOp();

    [Fact]
    public void Pacs002_before_pacs008_is_refused()
    {
        Given().When(new ReportStatus(Pacs002("ACSC"), At(8))).ThenRejected(C.UnknownUetr);
        Given(QuoteRequestedEvent()).When(new ReportStatus(Pacs002("ACSC"), At(8))).ThenRejected(C.PaymentNotInitiated);
    }

    [Fact]
    public void Status_for_an_unknown_uetr_is_refused_naming_it()
    {
        var outcome = Given().When(new ReportStatus(Pacs002("RJCT"), At(8))).ThenRejected(C.UnknownUetr);
        Assert.Contains(U, outcome.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Pacs002_quoting_another_amount_or_currency_is_refused()
    {
        Given(Forwarded).When(new ReportStatus(Pacs002("ACSC", original: Usd(999m)), At(8))).ThenRejected(C.AmountMismatch);
        Given(Forwarded).When(new ReportStatus(Pacs002("ACSC", original: new Money(1000m, Currency.Parse("EUR"))), At(8))).ThenRejected(C.CurrencyMismatch);
        Given(Forwarded).When(new ReportStatus(Pacs002("ACSC", original: Usd(1000m)), At(8))).Then(new PaymentAccepted(U, "ACSC", "M2-ACSC", At(8)));
    }

    [Fact]
    public void Second_acceptance_is_a_no_op_and_rejection_after_settlement_refused()
    {
        Given(Settled()).When(new ReportStatus(Pacs002("ACCC"), At(9))).ThenNoOp();
        Given(Settled()).When(new ReportStatus(Pacs002("RJCT"), At(9))).ThenRejected(C.PaymentAlreadySettled);
    }

    [Fact]
    public void Second_rejection_is_a_no_op_and_acceptance_after_rejection_refused()
    {
        Given(InitiatedEvent(), RejectedEvent()).When(new ReportStatus(Pacs002("RJCT"), At(9))).ThenNoOp();
        Given(InitiatedEvent(), RejectedEvent()).When(new ReportStatus(Pacs002("ACSC"), At(9))).ThenRejected(C.PaymentAlreadyRejected);
    }

    [Fact]
    public void Status_after_failed_validation_is_refused() =>
        Given(InitiatedEvent(), new PaymentValidationFailed(U, "x", At(6))).When(new ReportStatus(Pacs002("ACSC"), At(8))).ThenRejected(C.PaymentValidationFailed);

    [Fact]
    public void Completed_after_acceptance() =>
        Given(Settled()).When(new CompletePayment(U, Usd(1000m), "NTF-1", At(9))).Then(CompletedEvent());

    [Fact]
    public void Completion_is_checked()
    {
        Given(Forwarded).When(new CompletePayment(U, null, "NTF-1", At(9))).ThenRejected(C.PaymentNotAccepted);
        Given(InitiatedEvent(), RejectedEvent()).When(new CompletePayment(U, null, "NTF-1", At(9))).ThenRejected(C.PaymentAlreadyRejected);
        Given(Settled()).When(new CompletePayment(U, Usd(10m), "NTF-1", At(9))).ThenRejected(C.AmountMismatch);
        Given().When(new CompletePayment(U, null, "NTF-1", At(9))).ThenRejected(C.UnknownUetr);
        Given([.. Settled(), CompletedEvent()]).When(new CompletePayment(U, null, "NTF-2", At(10))).ThenNoOp();
    }

    [Fact]
    public void Sender_notified_after_completion_makes_it_notified() =>
        Given([.. Settled(), CompletedEvent()]).When(new NotifySender(U, At(10))).Then(new SenderNotified(U, "Completed", At(10)))
            .AndState(s => Assert.Equal(PaymentStatus.Notified, s.Status));

    [Fact]
    public void With_a_quote_both_the_fxp_and_the_sender_are_notified()
    {
        object[] history = [QuoteRequestedEvent(), QuoteEvent(), SelectedEvent(), .. Settled(), CompletedEvent()];
        Given(history).When(new NotifyFxp(U, At(10))).Then(new FxpNotified(U, "fxp-a", At(10)))
            .AndState(s => Assert.Equal(PaymentStatus.Completed, s.Status));
        Given([.. history, new FxpNotified(U, "fxp-a", At(10))]).When(new NotifySender(U, At(11))).Then(new SenderNotified(U, "Completed", At(11)))
            .AndState(s => Assert.Equal(PaymentStatus.Notified, s.Status));
        Given([.. history, new FxpNotified(U, "fxp-a", At(10))]).When(new NotifyFxp(U, At(11))).ThenNoOp();
    }

    [Fact]
    public void Notifications_are_checked()
    {
        Given(Settled()).When(new NotifySender(U, At(10))).ThenRejected(C.PaymentNotFinal);
        Given([.. Settled(), CompletedEvent()]).When(new NotifyFxp(U, At(10))).ThenRejected(C.NoFxp);
        Given(InitiatedEvent(), RejectedEvent()).When(new NotifySender(U, At(10))).Then(new SenderNotified(U, "Rejected", At(10)));
        Given([.. Settled(), CompletedEvent(), new SenderNotified(U, "Completed", At(10))]).When(new NotifySender(U, At(11))).ThenNoOp();
    }
}

public class ReturnSpecs
{
    [Fact]
    public void Recall_requested_by_camt056() =>
        Given(Settled()).When(new RequestReturn(Camt056(), At(10))).Then(ReturnRequestedEvent())
            .AndState(s => Assert.Equal(ReturnRequestStatus.Requested, s.ReturnRequest));

    [Fact]
    public void Recall_quoting_another_amount_or_currency_is_refused()
    {
        Given(Settled()).When(new RequestReturn(Camt056(original: Usd(5m)), At(10))).ThenRejected(C.AmountMismatch);
        Given(Settled()).When(new RequestReturn(Camt056(original: new Money(1000m, Currency.Parse("JPY"))), At(10))).ThenRejected(C.CurrencyMismatch);
    }

    [Fact]
    public void Recall_checks()
    {
        Given().When(new RequestReturn(Camt056(), At(10))).ThenRejected(C.UnknownUetr);
        Given(InitiatedEvent(), RejectedEvent()).When(new RequestReturn(Camt056(), At(10))).ThenRejected(C.PaymentNotReturnable);
        Given([.. Settled(), ReturnRequestedEvent()]).When(new RequestReturn(Camt056(), At(11))).ThenNoOp();
        Given([.. Settled(), ReturnRequestedEvent()]).When(new RequestReturn(Camt056("CASE-2"), At(11))).ThenRejected(C.ReturnAlreadyRequested);
        Given([.. Settled(), ReturnedEvent(1000m, 1000m, true)]).When(new RequestReturn(Camt056("CASE-2"), At(13))).ThenRejected(C.PaymentAlreadyReturned);
    }

    [Theory]
    [InlineData("CNCL", ReturnRequestStatus.Cancelled)]
    [InlineData("RJCR", ReturnRequestStatus.RejectedByCreditorAgent)]
    [InlineData("PECR", ReturnRequestStatus.Pending)]
    public void Recall_answered_by_camt029(string status, ReturnRequestStatus expected) =>
        Given([.. Settled(), ReturnRequestedEvent()]).When(new AnswerReturn(Camt029(status), At(11)))
            .Then(new ReturnAnswered(U, "CASE-1", status, null, "M29-" + status, At(11)))
            .AndState(s => Assert.Equal(expected, s.ReturnRequest));

    [Fact]
    public void Answer_checks()
    {
        Given(Settled()).When(new AnswerReturn(Camt029("CNCL"), At(11))).ThenRejected(C.ReturnNotRequested);
        Given([.. Settled(), ReturnRequestedEvent()]).When(new AnswerReturn(Camt029("ACCP"), At(11))).ThenRejected(C.InvalidReturnStatus);
        Given([.. Settled(), ReturnRequestedEvent()]).When(new AnswerReturn(Camt029("CNCL", "OTHER"), At(11))).ThenRejected(C.CaseMismatch);
        var answered = Given([.. Settled(), ReturnRequestedEvent(), new ReturnAnswered(U, "CASE-1", "CNCL", null, "M29", At(11))]);
        answered.When(new AnswerReturn(Camt029("CNCL"), At(12))).ThenNoOp();
        answered.When(new AnswerReturn(Camt029("RJCR"), At(12))).ThenRejected(C.ReturnAlreadyAnswered);
        Given([.. Settled(), ReturnRequestedEvent(), new ReturnAnswered(U, "CASE-1", "PECR", null, "M29", At(11))])
            .When(new AnswerReturn(Camt029("CNCL"), At(12))).Then(new ReturnAnswered(U, "CASE-1", "CNCL", null, "M29-CNCL", At(12)));
    }

    [Fact]
    public void Full_return_by_pacs004() =>
        Given(Settled()).When(new ReturnPayment(Pacs004(1000m), At(12))).Then(ReturnedEvent(1000m, 1000m, true))
            .AndState(s => Assert.Equal((PaymentStatus.Returned, 1000m), (s.Status, s.ReturnedAmount)));

    [Fact]
    public void Partial_returns_add_up_to_at_most_what_was_paid()
    {
        Given(Settled()).When(new ReturnPayment(Pacs004(400m), At(12))).Then(ReturnedEvent(400m, 400m, false))
            .AndState(s => Assert.Equal((PaymentStatus.PartiallyReturned, 400m), (s.Status, s.ReturnedAmount)));
        var partly = Given([.. Settled(), ReturnedEvent(400m, 400m, false)]);
        partly.When(new ReturnPayment(Pacs004(600m, returnId: "R2"), At(13))).Then(ReturnedEvent(600m, 1000m, true, "R2", 13));
        partly.When(new ReturnPayment(Pacs004(600.01m, returnId: "R2"), At(13))).ThenRejected(C.ReturnExceedsPaid);
        partly.When(new ReturnPayment(Pacs004(400m), At(13))).ThenNoOp(); // the same return id again
    }

    [Fact]
    public void Return_above_what_was_paid_is_refused() =>
        Given(Settled()).When(new ReturnPayment(Pacs004(1000.01m), At(12))).ThenRejected(C.ReturnExceedsPaid);

    [Fact]
    public void Return_in_another_currency_is_refused() =>
        Given(Settled()).When(new ReturnPayment(Pacs004(1000m, "EUR"), At(12))).ThenRejected(C.CurrencyMismatch);

    [Fact]
    public void Return_quoting_another_original_amount_is_refused() =>
        Given(Settled()).When(new ReturnPayment(Pacs004(100m, original: Usd(2000m)), At(12))).ThenRejected(C.AmountMismatch);

    [Fact]
    public void Return_of_an_unsettled_payment_implies_its_settlement() =>
        Given(InitiatedEvent()).When(new ReturnPayment(Pacs004(1000m), At(12)))
            .Then(new PaymentAccepted(U, "ACSC", "M4-R1", At(12)), ReturnedEvent(1000m, 1000m, true));

    [Fact]
    public void Return_checks()
    {
        Given().When(new ReturnPayment(Pacs004(1m), At(12))).ThenRejected(C.UnknownUetr);
        Given(InitiatedEvent(), RejectedEvent()).When(new ReturnPayment(Pacs004(1m), At(12))).ThenRejected(C.PaymentNotReturnable);
        Given(InitiatedEvent(), new PaymentValidationFailed(U, "x", At(6))).When(new ReturnPayment(Pacs004(1m), At(12))).ThenRejected(C.PaymentNotReturnable);
        Given([.. Settled(), ReturnedEvent(1000m, 1000m, true)]).When(new ReturnPayment(Pacs004(1m, returnId: "R9"), At(13))).ThenRejected(C.PaymentAlreadyReturned);
    }
}

public class EndToEndSpecs
{
    [Fact]
    public void Messages_naming_another_end_to_end_id_are_refused()
    {
        Given(InitiatedEvent()).When(new ReportStatus(Pacs002("ACSC") with { OriginalEndToEndId = "E2E-X" }, At(8))).ThenRejected(C.EndToEndMismatch);
        Given(Settled()).When(new RequestReturn(Camt056() with { OriginalEndToEndId = "E2E-X" }, At(10))).ThenRejected(C.EndToEndMismatch);
        Given([.. Settled(), ReturnRequestedEvent()]).When(new AnswerReturn(Camt029("CNCL") with { OriginalEndToEndId = "E2E-X" }, At(11))).ThenRejected(C.EndToEndMismatch);
        Given(Settled()).When(new ReturnPayment(Pacs004(10m) with { OriginalEndToEndId = "E2E-X" }, At(12))).ThenRejected(C.EndToEndMismatch);
        Given(Settled()).When(new ReturnPayment(Pacs004(10m) with { OriginalEndToEndId = null }, At(12))).Then(ReturnedEvent(10m, 10m, false));
    }
}

public class PaymentEventRegistrySpecs
{
    private static readonly (string Name, string FormerName)[] Names =
    [
        ("QuoteRequested", "QUOTE_REQUESTED"),
        ("QuoteGenerated", "QUOTE_GENERATED"),
        ("QuoteSelected", "QUOTE_SELECTED"),
        ("ProxyResolutionRequested", "PROXY_RESOLUTION_REQUESTED"),
        ("ProxyResolved", "PROXY_RESOLVED"),
        ("ProxyResolutionFailed", "PROXY_RESOLUTION_FAILED"),
        ("PaymentInitiated", "PAYMENT_INITIATED"),
        ("PaymentValidated", "PAYMENT_VALIDATED"),
        ("PaymentValidationFailed", "PAYMENT_VALIDATION_FAILED"),
        ("PaymentForwarded", "PAYMENT_FORWARDED"),
        ("PaymentAccepted", "PAYMENT_ACCEPTED"),
        ("PaymentRejected", "PAYMENT_REJECTED"),
        ("PaymentCompleted", "PAYMENT_COMPLETED"),
        ("FxpNotified", "FXP_NOTIFIED"),
        ("SenderNotified", "SENDER_NOTIFIED"),
        ("ReturnRequested", "RETURN_REQUESTED"),
        ("ReturnAnswered", "RETURN_ANSWERED"),
        ("PaymentReturned", "PAYMENT_RETURNED"),
        ("QuotesExpired", "QUOTES_EXPIRED"),
    ];

    [Fact]
    public void Every_payment_event_is_written_under_its_PascalCase_name_schema_1()
    {
        var eventTypes = typeof(IPaymentEvent).Assembly.GetTypes().Where(t => t.IsClass && typeof(IPaymentEvent).IsAssignableFrom(t)).ToList();
        Assert.Equal(Names.Length, eventTypes.Count);
        foreach (var (name, _) in Names)
        {
            Assert.True(EventRegistry.TryForName(name, out var entry), name);
            Assert.Equal(name, entry.Name);
            Assert.Equal(name, entry.Type.Name);
            Assert.Equal(1, entry.SchemaVersion);
            Assert.Contains(entry.Type, eventTypes);
            Assert.NotNull(entry.Type.GetProperty("At"));
        }
    }

    [Fact]
    public void An_event_stored_under_its_former_SCREAMING_SNAKE_CASE_name_still_reads_as_its_type()
    {
        foreach (var (name, former) in Names)
        {
            Assert.True(EventRegistry.TryForName(former, out var entry), former);
            Assert.Equal(name, entry.Name);
            Assert.Equal(name, EventRegistry.CurrentName(former));
        }
    }
}
