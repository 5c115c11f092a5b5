using System.Globalization;
using Escrow.Domain.Iso20022;

namespace Escrow.Domain.Payments;

/// <summary>
/// The payment aggregate, keyed by UETR, as two pure functions in the style of the account aggregate.
/// <see cref="Decide"/> never does I/O and never reads a clock: every instant comes in on the command.
/// Every event goes to stream <c>state.Uetr</c>; the host maps it with <see cref="Decision.MapStreams"/>.
/// <para><b>Lifecycle.</b> QuoteRequested → QuoteGenerated (one per FXP quote) → QuoteSelected, or QuotesExpired when the
/// latest quote lapsed unselected (the payment ends there; a selection is refused
/// when <c>At &gt; ValidUntil</c>) → ProxyResolutionRequested → ProxyResolved | ProxyResolutionFailed →
/// PaymentInitiated (pacs.008) → PaymentValidated | PaymentValidationFailed → PaymentForwarded →
/// PaymentAccepted (pacs.002 ACSC/ACCC) | PaymentRejected (RJCT) → PaymentCompleted → FxpNotified,
/// SenderNotified. Quote and proxy steps are optional: an imported pacs.008 initiates a fresh UETR directly,
/// and a status report from the network (pacs.002) is accepted from Initiated, Validated or Forwarded — the
/// clearing system's word is authoritative over our internal progress. Returns: ReturnRequested (camt.056),
/// ReturnAnswered (camt.029 CNCL/RJCR/PECR), PaymentReturned (pacs.004, full or partial, cumulative ≤ settled).
/// A pacs.004 for a payment not yet accepted proves settlement: the decision is PaymentAccepted (status ACSC,
/// message id of the pacs.004) followed by PaymentReturned (the Fedwire samples omit the pacs.002 there).</para>
/// <para><b>Idempotence.</b> A command that would repeat what the state already says (the identical pacs.008
/// again — same <see cref="Fingerprint"/> —, a second ACSC, the same pacs.004 return id, the same camt.056 case...)
/// is an accepted decision with <b>no events</b>. The host must then append nothing and answer as it answered the
/// first time: HTTP 200 with the payment's current state (not 201, not an error), and for an imported file report
/// it as "duplicate, already applied".</para>
/// <para><b>Ledger postings the host must make</b> (money movement is not in this aggregate; each posting is one
/// debit and one credit committed in the same transaction as the payment event; posting ids derive from the
/// UETR so a retry cannot post twice). For an outgoing payment with debtor account D (a customer account),
/// the operator's internal hold account <c>payments-hold-{CUR}</c> and the external clearing account of the
/// creditor agent <c>clearing-{agentId}-{CUR}</c>:</para>
/// <list type="bullet">
/// <item>Quote*, Proxy*, PaymentValidated, PaymentForwarded, PaymentCompleted, FxpNotified, SenderNotified,
/// ReturnRequested, ReturnAnswered: no posting.</item>
/// <item>PaymentInitiated: <b>hold</b> — posting <c>pay-{uetr}-hold</c>: debit D, credit <c>payments-hold-{CUR}</c>,
/// settlement amount. Refused by the account (<c>insufficient_funds</c>, <c>account_frozen</c>) ⇒ do not append the
/// event; answer with the account's rejection.</item>
/// <item>PaymentValidationFailed and PaymentRejected: <b>void the hold</b> — reverse <c>pay-{uetr}-hold</c>
/// (posting <c>pay-{uetr}-void</c>: debit <c>payments-hold-{CUR}</c>, credit D).</item>
/// <item>PaymentAccepted: <b>settle</b> — posting <c>pay-{uetr}-settle</c>: debit <c>payments-hold-{CUR}</c>,
/// credit <c>clearing-{creditorAgent}-{CUR}</c>, settlement amount.</item>
/// <item>PaymentReturned: <b>return</b> — posting <c>pay-{uetr}-return-{returnId}</c>: debit
/// <c>clearing-{creditorAgent}-{CUR}</c>, credit D, the returned amount (partial returns post only their amount).
/// When the decision also carries the implied PaymentAccepted, post the settle posting first.</item>
/// <item>A selected quote (FX) converts at the quote's rate on the FXP's accounts; FX postings and fees are not
/// specified here.</item>
/// </list>
/// <para>For an incoming payment (we are the creditor's agent) mirror it: PaymentAccepted debits
/// <c>clearing-{debtorAgent}-{CUR}</c> and credits the creditor's account; PaymentReturned debits the creditor's
/// account and credits the clearing account.</para>
/// </summary>
public static class Payment
{
    /// <summary>Stream type recorded in the streams table.</summary>
    public const string StreamType = "payment";

    public static Decision Decide(PaymentState state, PaymentCommand command)
    {
        if (!string.Equals(state.Uetr, command.Uetr, StringComparison.Ordinal))
            return Decision.Reject(PaymentRejectionCodes.UetrMismatch, $"command for UETR {command.Uetr} decided on the state of {state.Uetr}");
        return command switch
        {
            RequestQuote c => DecideRequestQuote(state, c),
            GenerateQuote c => DecideGenerateQuote(state, c),
            SelectQuote c => DecideSelectQuote(state, c),
            ExpireQuotes c => DecideExpireQuotes(state, c),
            RequestProxyResolution c => DecideRequestProxy(state, c),
            ResolveProxy c => state.Status == PaymentStatus.ProxyResolutionRequested
                ? Emit(state, new ProxyResolved(c.Uetr, c.CreditorName, c.CreditorAccount, c.CreditorAgent, c.At))
                : Decision.Reject(PaymentRejectionCodes.ProxyResolutionNotRequested, $"payment {c.Uetr} has no proxy resolution in progress (status {state.Status})"),
            FailProxyResolution c => state.Status == PaymentStatus.ProxyResolutionRequested
                ? Emit(state, new ProxyResolutionFailed(c.Uetr, c.Reason, c.At))
                : Decision.Reject(PaymentRejectionCodes.ProxyResolutionNotRequested, $"payment {c.Uetr} has no proxy resolution in progress (status {state.Status})"),
            InitiatePayment c => DecideInitiate(state, c),
            _ when !state.IsInitiated => NotInitiated(state, command),
            ValidatePayment c => DecideValidate(state, c),
            ForwardPayment c => DecideForward(state, c),
            ReportStatus c => DecideStatus(state, c),
            CompletePayment c => DecideComplete(state, c),
            NotifyFxp c => DecideNotifyFxp(state, c),
            NotifySender c => DecideNotifySender(state, c),
            RequestReturn c => DecideRequestReturn(state, c),
            AnswerReturn c => DecideAnswerReturn(state, c),
            ReturnPayment c => DecideReturn(state, c),
            _ => throw new ArgumentOutOfRangeException(nameof(command), command.GetType().Name, "unknown payment command"),
        };
    }

    public static PaymentState Evolve(PaymentState state, object @event)
    {
        var next = @event switch
        {
            QuoteRequested e => state with { Status = PaymentStatus.QuoteRequested, SourceCurrency = e.SourceCurrency, TargetCurrency = e.TargetCurrency },
            QuoteGenerated e => state with
            {
                Status = PaymentStatus.Quoted,
                Quotes = state.Quotes.SetItem(e.QuoteId, new Quote(e.QuoteId, e.FxpId, e.Rate, e.Spread, e.ValidUntil)),
            },
            QuotesExpired => state with { Status = PaymentStatus.QuotesExpired },
            QuoteSelected e => state with { Status = PaymentStatus.QuoteSelected, SelectedQuote = state.Quotes.GetValueOrDefault(e.QuoteId) },
            ProxyResolutionRequested => state with { Status = PaymentStatus.ProxyResolutionRequested },
            ProxyResolved e => state with { Status = PaymentStatus.ProxyResolved, ResolvedCreditorAccount = e.CreditorAccount },
            ProxyResolutionFailed e => state with { Status = PaymentStatus.ProxyResolutionFailed, ProxyFailureReason = e.Reason },
            PaymentInitiated e => state with { Status = PaymentStatus.Initiated, Instruction = e },
            PaymentValidated => state with { Status = PaymentStatus.Validated },
            PaymentValidationFailed e => state with { Status = PaymentStatus.ValidationFailed, ValidationFailure = e.Reason },
            PaymentForwarded => state with { Status = PaymentStatus.Forwarded },
            PaymentAccepted e => state with { Status = PaymentStatus.Accepted, SettlementStatus = e.Status },
            PaymentRejected e => state with { Status = PaymentStatus.Rejected, RejectionReason = e.ReasonCode },
            PaymentCompleted => state with { Status = PaymentStatus.Completed },
            FxpNotified => Notified(state with { FxpNotified = true }),
            SenderNotified => Notified(state with { SenderNotified = true }),
            ReturnRequested e => state with { ReturnRequest = ReturnRequestStatus.Requested, ReturnCaseId = e.CaseId, ReturnReason = e.ReasonCode },
            ReturnAnswered e => state with { ReturnRequest = AnswerStatus(e.Status) ?? state.ReturnRequest },
            PaymentReturned e => state with
            {
                Status = e.Full ? PaymentStatus.Returned : PaymentStatus.PartiallyReturned,
                ReturnedAmount = e.TotalReturned,
                ReturnIds = state.ReturnIds.Add(e.ReturnId ?? e.MessageId ?? ""),
            },
            _ => throw new ArgumentOutOfRangeException(nameof(@event), @event.GetType().Name, "unknown payment event"),
        };
        return next with { Version = state.Version + 1, LastAt = ((IPaymentEvent)@event).At };
    }

    /// <summary>Folds a whole history from the empty state.</summary>
    public static PaymentState Fold(string uetr, IEnumerable<object> events) => events.Aggregate(PaymentState.Empty(uetr), Evolve);

    /// <summary>
    /// The canonical business content of a pacs.008: message, instruction and end-to-end ids, amount, currency,
    /// settlement date, debtor and creditor names and accounts, debtor/creditor agent ids. Agents' names and
    /// addresses and the XML's layout are not part of it (Fedwire re-delivers a pacs.008 with the creditor
    /// agent's display name changed).
    /// </summary>
    public static string Fingerprint(CreditTransferMessage m) => string.Join('|',
        m.Info.MessageId, m.InstructionId, m.EndToEndId, IsoWriter.FormatAmount(m.Settlement), m.Settlement.Currency.Code,
        m.SettlementDate?.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
        m.Debtor.Name, m.Debtor.Account, m.DebtorAgent.Id, m.Creditor.Name, m.Creditor.Account, m.CreditorAgent.Id);

    // ----- quotes and proxy -----

    private static Decision DecideRequestQuote(PaymentState s, RequestQuote c)
    {
        if (s.Status != PaymentStatus.None)
            return Decision.Reject(PaymentRejectionCodes.QuoteAlreadyRequested, $"payment {c.Uetr} already has history (status {s.Status})");
        if (!PaymentUetr(c.Uetr, out var bad))
            return bad;
        if (!Currency.TryParse(c.SourceCurrency, out var source) || !Currency.TryParse(c.TargetCurrency, out _))
            return Decision.Reject(PaymentRejectionCodes.UnknownCurrency, $"'{c.SourceCurrency}' or '{c.TargetCurrency}' is not an ISO 4217 currency");
        if (Money.ValidatePositive(c.Amount, source.Value) is { } r)
            return Decision.Reject(r);
        return Emit(s, new QuoteRequested(c.Uetr, c.SourceCurrency, c.TargetCurrency, c.Amount, c.At));
    }

    private static Decision DecideGenerateQuote(PaymentState s, GenerateQuote c)
    {
        if (s.Status is not (PaymentStatus.QuoteRequested or PaymentStatus.Quoted))
            return Decision.Reject(PaymentRejectionCodes.QuoteNotRequested, $"payment {c.Uetr} is not collecting quotes (status {s.Status})");
        if (c.Rate <= 0 || c.Spread < 0)
            return Decision.Reject(PaymentRejectionCodes.InvalidRate, $"rate must be > 0 and spread ≥ 0, got rate {c.Rate}, spread {c.Spread}");
        if (c.ValidUntil <= c.At)
            return Decision.Reject(PaymentRejectionCodes.QuoteExpired, $"quote {c.QuoteId} is valid until {c.ValidUntil:O}, not after {c.At:O}");
        if (s.Quotes.TryGetValue(c.QuoteId, out var q))
            return q == new Quote(c.QuoteId, c.FxpId, c.Rate, c.Spread, c.ValidUntil)
                ? Decision.Accept()
                : Decision.Reject(PaymentRejectionCodes.QuoteExists, $"quote {c.QuoteId} of payment {c.Uetr} already exists with other terms");
        return Emit(s, new QuoteGenerated(c.Uetr, c.QuoteId, c.FxpId, c.Rate, c.Spread, c.ValidUntil, c.At));
    }

    private static Decision DecideSelectQuote(PaymentState s, SelectQuote c)
    {
        if (s.Status == PaymentStatus.QuoteSelected || s.SelectedQuote is not null)
            return s.SelectedQuote?.QuoteId == c.QuoteId
                ? Decision.Accept()
                : Decision.Reject(PaymentRejectionCodes.QuoteAlreadySelected, $"payment {c.Uetr} already selected quote {s.SelectedQuote?.QuoteId}");
        if (s.Status == PaymentStatus.QuotesExpired)
            return Decision.Reject(PaymentRejectionCodes.QuoteExpired, $"every quote of payment {c.Uetr} expired unselected (latest valid until {LatestValidUntil(s):O})");
        if (s.Status != PaymentStatus.Quoted)
            return Decision.Reject(PaymentRejectionCodes.QuoteNotFound, $"payment {c.Uetr} has no quotes (status {s.Status})");
        if (!s.Quotes.TryGetValue(c.QuoteId, out var q))
            return Decision.Reject(PaymentRejectionCodes.QuoteNotFound, $"payment {c.Uetr} has no quote {c.QuoteId}");
        if (c.At > q.ValidUntil)
            return Decision.Reject(PaymentRejectionCodes.QuoteExpired, $"quote {q.QuoteId} expired at {q.ValidUntil:O}; selected at {c.At:O}");
        return Emit(s, new QuoteSelected(c.Uetr, q.QuoteId, q.FxpId, q.Rate, c.At));
    }

    /// <summary>The instant after which no quote of <paramref name="s"/> can be selected (the latest <see cref="Quote.ValidUntil"/>); null without quotes.</summary>
    public static DateTimeOffset? LatestValidUntil(PaymentState s) => s.Quotes.Count == 0 ? null : s.Quotes.Values.Max(q => q.ValidUntil);

    private static Decision DecideExpireQuotes(PaymentState s, ExpireQuotes c)
    {
        if (s.Status == PaymentStatus.QuotesExpired) return Decision.Accept();
        if (s.Status != PaymentStatus.Quoted || LatestValidUntil(s) is not { } until)
            return Decision.Reject(PaymentRejectionCodes.QuotesNotExpired, $"payment {c.Uetr} is not waiting for a quote selection (status {s.Status})");
        if (c.At <= until)
            return Decision.Reject(PaymentRejectionCodes.QuotesNotExpired, $"a quote of payment {c.Uetr} is valid until {until:O}");
        return Emit(s, new QuotesExpired(c.Uetr, c.At));
    }

    private static Decision DecideRequestProxy(PaymentState s, RequestProxyResolution c)
    {
        if (s.Status is not (PaymentStatus.None or PaymentStatus.QuoteSelected))
            return Decision.Reject(PaymentRejectionCodes.InvalidTransition, $"payment {c.Uetr} cannot resolve a proxy in status {s.Status}");
        if (!PaymentUetr(c.Uetr, out var bad))
            return bad;
        if (string.IsNullOrWhiteSpace(c.ProxyType) || string.IsNullOrWhiteSpace(c.ProxyValue))
            return Decision.Reject(PaymentRejectionCodes.InvalidProxy, "proxy type and value are required");
        return Emit(s, new ProxyResolutionRequested(c.Uetr, c.ProxyType, c.ProxyValue, c.At));
    }

    // ----- initiation and processing -----

    private static Decision DecideInitiate(PaymentState s, InitiatePayment c)
    {
        var m = c.Message;
        var fingerprint = Fingerprint(m);
        if (s.Instruction is { } existing)
            return existing.Fingerprint == fingerprint
                ? Decision.Accept()
                : Decision.Reject(PaymentRejectionCodes.UetrConflict,
                    $"UETR {c.Uetr} was already initiated by pacs.008 {existing.MessageId} ({existing.Amount} {existing.Currency}, " +
                    $"end-to-end {existing.EndToEndId}); pacs.008 {m.Info.MessageId} ({m.Settlement}, end-to-end {m.EndToEndId}) differs");
        if (!PaymentUetr(c.Uetr, out var bad))
            return bad;
        switch (s.Status)
        {
            case PaymentStatus.QuoteRequested or PaymentStatus.Quoted:
                return Decision.Reject(PaymentRejectionCodes.QuoteNotSelected, $"payment {c.Uetr} has quotes but none selected");
            case PaymentStatus.ProxyResolutionRequested:
                return Decision.Reject(PaymentRejectionCodes.ProxyNotResolved, $"payment {c.Uetr} waits for its proxy resolution");
            case PaymentStatus.ProxyResolutionFailed:
                return Decision.Reject(PaymentRejectionCodes.ProxyResolutionFailed, $"payment {c.Uetr}: proxy resolution failed ({s.ProxyFailureReason})");
        }
        var currency = m.Settlement.Currency.Code;
        if (s.SourceCurrency is not null && currency != s.SourceCurrency && currency != s.TargetCurrency)
            return Decision.Reject(PaymentRejectionCodes.CurrencyMismatch, $"pacs.008 settles in {currency}; the quote was {s.SourceCurrency}→{s.TargetCurrency}");
        if (s.ResolvedCreditorAccount is { } resolved && m.Creditor.Account != resolved)
            return Decision.Reject(PaymentRejectionCodes.CreditorMismatch, $"pacs.008 credits account {m.Creditor.Account}; the proxy resolved to {resolved}");
        return Emit(s, new PaymentInitiated(
            c.Uetr, m.Info.MessageId, m.EndToEndId, m.Settlement.Amount, currency, m.SettlementDate,
            m.Debtor.Name, m.Debtor.Account, m.DebtorAgent.Id, m.Creditor.Name, m.Creditor.Account, m.CreditorAgent.Id,
            fingerprint, m.RawXml, c.At, c.Booking));
    }

    private static Decision DecideValidate(PaymentState s, ValidatePayment c) => (s.Status, c.FailureReason) switch
    {
        (PaymentStatus.Initiated, null) => Emit(s, new PaymentValidated(c.Uetr, c.At)),
        (PaymentStatus.Initiated, { } reason) => Emit(s, new PaymentValidationFailed(c.Uetr, reason, c.At)),
        (PaymentStatus.ValidationFailed, not null) => Decision.Accept(),
        (PaymentStatus.ValidationFailed, null) => Decision.Reject(PaymentRejectionCodes.PaymentValidationFailed, $"payment {c.Uetr} already failed validation: {s.ValidationFailure}"),
        (_, null) => Decision.Accept(), // validated already (or further along): nothing to add
        _ => Decision.Reject(PaymentRejectionCodes.InvalidTransition, $"payment {c.Uetr} cannot fail validation in status {s.Status}"),
    };

    private static Decision DecideForward(PaymentState s, ForwardPayment c) => s.Status switch
    {
        PaymentStatus.Validated => Emit(s, new PaymentForwarded(c.Uetr, c.NextAgent, c.At)),
        PaymentStatus.Forwarded => Decision.Accept(),
        PaymentStatus.Initiated => Decision.Reject(PaymentRejectionCodes.PaymentNotValidated, $"payment {c.Uetr} is not validated yet"),
        PaymentStatus.ValidationFailed => Decision.Reject(PaymentRejectionCodes.PaymentValidationFailed, $"payment {c.Uetr} failed validation: {s.ValidationFailure}"),
        _ => Decision.Reject(PaymentRejectionCodes.InvalidTransition, $"payment {c.Uetr} cannot be forwarded in status {s.Status}"),
    };

    private static Decision DecideStatus(PaymentState s, ReportStatus c)
    {
        var m = c.Message;
        if (EndToEnd(s, m.OriginalEndToEndId, "pacs.002") is { } other)
            return other;
        if (m.OriginalAmount is { } original && Mismatch(s, original, "pacs.002 OrgnlTxRef") is { } mismatch)
            return mismatch;
        var status = m.Status;
        if (status is "ACSC" or "ACCC")
        {
            if (s.IsSettled)
                return Decision.Accept();
            return s.Status switch
            {
                PaymentStatus.Rejected => Decision.Reject(PaymentRejectionCodes.PaymentAlreadyRejected, $"payment {c.Uetr} was rejected ({s.RejectionReason}); {status} refused"),
                PaymentStatus.ValidationFailed => Decision.Reject(PaymentRejectionCodes.PaymentValidationFailed, $"payment {c.Uetr} failed validation; {status} refused"),
                _ => Emit(s, new PaymentAccepted(c.Uetr, status, m.Info.MessageId, c.At)),
            };
        }
        if (status == "RJCT")
        {
            if (s.Status == PaymentStatus.Rejected)
                return Decision.Accept();
            if (s.IsSettled)
                return Decision.Reject(PaymentRejectionCodes.PaymentAlreadySettled, $"payment {c.Uetr} is already settled ({s.SettlementStatus}); RJCT refused");
            if (s.Status == PaymentStatus.ValidationFailed)
                return Decision.Reject(PaymentRejectionCodes.PaymentValidationFailed, $"payment {c.Uetr} failed validation; RJCT refused");
            return Emit(s, new PaymentRejected(c.Uetr, m.ReasonCode, m.ReasonText, m.Info.MessageId, c.At));
        }
        // ACTC, ACSP, ACCP, ACWC, PDNG...: intermediate, informational; no transition.
        return Decision.Accept();
    }

    private static Decision DecideComplete(PaymentState s, CompletePayment c)
    {
        if (c.Amount is { } amount && Mismatch(s, amount, "completion") is { } mismatch)
            return mismatch;
        return s.Status switch
        {
            PaymentStatus.Accepted => Emit(s, new PaymentCompleted(c.Uetr, c.MessageId, c.At)),
            PaymentStatus.Completed or PaymentStatus.Notified => Decision.Accept(),
            PaymentStatus.Rejected => Decision.Reject(PaymentRejectionCodes.PaymentAlreadyRejected, $"payment {c.Uetr} was rejected"),
            PaymentStatus.Initiated or PaymentStatus.Validated or PaymentStatus.Forwarded or PaymentStatus.ValidationFailed =>
                Decision.Reject(PaymentRejectionCodes.PaymentNotAccepted, $"payment {c.Uetr} is not accepted yet (status {s.Status})"),
            _ => Decision.Reject(PaymentRejectionCodes.InvalidTransition, $"payment {c.Uetr} cannot complete in status {s.Status}"),
        };
    }

    private static bool IsFinal(PaymentState s) => s.Status is PaymentStatus.Completed or PaymentStatus.Notified or PaymentStatus.Rejected
        or PaymentStatus.ValidationFailed or PaymentStatus.Returned or PaymentStatus.PartiallyReturned;

    private static Decision DecideNotifyFxp(PaymentState s, NotifyFxp c)
    {
        if (s.SelectedQuote is not { } q)
            return Decision.Reject(PaymentRejectionCodes.NoFxp, $"payment {c.Uetr} used no FX quote");
        if (s.FxpNotified)
            return Decision.Accept();
        return IsFinal(s)
            ? Emit(s, new FxpNotified(c.Uetr, q.FxpId, c.At))
            : Decision.Reject(PaymentRejectionCodes.PaymentNotFinal, $"payment {c.Uetr} has no outcome yet (status {s.Status})");
    }

    private static Decision DecideNotifySender(PaymentState s, NotifySender c)
    {
        if (s.SenderNotified)
            return Decision.Accept();
        return IsFinal(s)
            ? Emit(s, new SenderNotified(c.Uetr, s.Status.ToString(), c.At))
            : Decision.Reject(PaymentRejectionCodes.PaymentNotFinal, $"payment {c.Uetr} has no outcome yet (status {s.Status})");
    }

    // ----- returns -----

    private static Decision? NotReturnable(PaymentState s, string uetr) => s.Status switch
    {
        PaymentStatus.Rejected or PaymentStatus.ValidationFailed =>
            Decision.Reject(PaymentRejectionCodes.PaymentNotReturnable, $"payment {uetr} never settled (status {s.Status})"),
        PaymentStatus.Returned => Decision.Reject(PaymentRejectionCodes.PaymentAlreadyReturned, $"payment {uetr} is fully returned"),
        _ => null,
    };

    private static Decision DecideRequestReturn(PaymentState s, RequestReturn c)
    {
        var m = c.Message;
        if (s.ReturnRequest != ReturnRequestStatus.None && s.ReturnCaseId == m.CaseId)
            return Decision.Accept();
        if (NotReturnable(s, c.Uetr) is { } refused)
            return refused;
        if (EndToEnd(s, m.OriginalEndToEndId, "camt.056") is { } other)
            return other;
        if (m.OriginalAmount is { } original && Mismatch(s, original, "camt.056 OrgnlIntrBkSttlmAmt") is { } mismatch)
            return mismatch;
        if (s.ReturnRequest is ReturnRequestStatus.Requested or ReturnRequestStatus.Pending)
            return Decision.Reject(PaymentRejectionCodes.ReturnAlreadyRequested, $"payment {c.Uetr} already has an open recall (case {s.ReturnCaseId})");
        return Emit(s, new ReturnRequested(c.Uetr, m.CaseId, m.ReasonCode, m.ReasonText, m.Info.MessageId, c.At));
    }

    private static ReturnRequestStatus? AnswerStatus(string status) => status switch
    {
        "CNCL" => ReturnRequestStatus.Cancelled,
        "RJCR" => ReturnRequestStatus.RejectedByCreditorAgent,
        "PECR" => ReturnRequestStatus.Pending,
        _ => null,
    };

    private static Decision DecideAnswerReturn(PaymentState s, AnswerReturn c)
    {
        var m = c.Message;
        if (AnswerStatus(m.Status) is not { } answer)
            return Decision.Reject(PaymentRejectionCodes.InvalidReturnStatus, $"camt.029 status '{m.Status}' is not CNCL, RJCR or PECR");
        if (s.ReturnRequest == ReturnRequestStatus.None)
            return Decision.Reject(PaymentRejectionCodes.ReturnNotRequested, $"payment {c.Uetr} has no recall to answer");
        if (EndToEnd(s, m.OriginalEndToEndId, "camt.029") is { } other)
            return other;
        if (m.CaseId is not null && s.ReturnCaseId is not null && m.CaseId != s.ReturnCaseId)
            return Decision.Reject(PaymentRejectionCodes.CaseMismatch, $"camt.029 answers case {m.CaseId}; the open recall is case {s.ReturnCaseId}");
        if (s.ReturnRequest == answer)
            return Decision.Accept();
        if (s.ReturnRequest is ReturnRequestStatus.Cancelled or ReturnRequestStatus.RejectedByCreditorAgent)
            return Decision.Reject(PaymentRejectionCodes.ReturnAlreadyAnswered, $"the recall of payment {c.Uetr} was already answered ({s.ReturnRequest})");
        return Emit(s, new ReturnAnswered(c.Uetr, m.CaseId, m.Status, m.ReasonCode, m.Info.MessageId, c.At));
    }

    private static Decision DecideReturn(PaymentState s, ReturnPayment c)
    {
        var m = c.Message;
        var returnId = m.ReturnId ?? m.Info.MessageId ?? "";
        if (s.ReturnIds.Contains(returnId))
            return Decision.Accept();
        if (NotReturnable(s, c.Uetr) is { } refused)
            return refused;
        var paid = s.Instruction!;
        if (EndToEnd(s, m.OriginalEndToEndId, "pacs.004") is { } other)
            return other;
        if (m.Returned.Currency.Code != paid.Currency)
            return Decision.Reject(PaymentRejectionCodes.CurrencyMismatch, $"pacs.004 returns {m.Returned.Currency.Code}; payment {c.Uetr} was paid in {paid.Currency}");
        if (m.OriginalAmount is { } original && Mismatch(s, original, "pacs.004 original amount") is { } mismatch)
            return mismatch;
        var total = s.ReturnedAmount + m.Returned.Amount;
        if (total > paid.Amount)
            return Decision.Reject(PaymentRejectionCodes.ReturnExceedsPaid,
                $"returning {m.Returned.Amount} {paid.Currency} of payment {c.Uetr} would return {total} in all; only {paid.Amount} was paid ({s.ReturnedAmount} already returned)");
        var returned = new PaymentReturned(c.Uetr, m.ReturnId ?? m.Info.MessageId, m.Returned.Amount, paid.Currency, total, total == paid.Amount,
            m.ReasonCode, m.Info.MessageId, c.At);
        return s.IsSettled
            ? Emit(s, returned)
            : Decision.Accept(new PendingEvent(s.Uetr, new PaymentAccepted(c.Uetr, "ACSC", m.Info.MessageId, c.At)), new PendingEvent(s.Uetr, returned));
    }

    // ----- helpers -----

    private static Decision NotInitiated(PaymentState s, PaymentCommand c) => s.Version == 0
        ? Decision.Reject(PaymentRejectionCodes.UnknownUetr, $"no payment with UETR {c.Uetr}")
        : Decision.Reject(PaymentRejectionCodes.PaymentNotInitiated, $"payment {c.Uetr} has no pacs.008 yet (status {s.Status}); {c.GetType().Name} is out of order");

    private static Decision? Mismatch(PaymentState s, Money given, string what)
    {
        var paid = s.Instruction!;
        if (given.Currency.Code != paid.Currency)
            return Decision.Reject(PaymentRejectionCodes.CurrencyMismatch, $"{what} is in {given.Currency.Code}; payment {s.Uetr} is in {paid.Currency}");
        if (given.Amount != paid.Amount)
            return Decision.Reject(PaymentRejectionCodes.AmountMismatch, $"{what} says {given.Amount} {paid.Currency}; payment {s.Uetr} is {paid.Amount} {paid.Currency}");
        return null;
    }

    private static Decision? EndToEnd(PaymentState s, string? quoted, string what) =>
        quoted is not null && s.Instruction!.EndToEndId is { } own && quoted != own
            ? Decision.Reject(PaymentRejectionCodes.EndToEndMismatch, $"{what} names end-to-end id {quoted}; payment {s.Uetr} has {own}")
            : null;

    private static bool PaymentUetr(string uetr, out Decision rejection)
    {
        rejection = Decision.Reject(PaymentRejectionCodes.InvalidUetr, $"UETR '{uetr}' is not a lower-case UUIDv4");
        return IsoParser.IsUetr(uetr);
    }

    private static PaymentState Notified(PaymentState s) =>
        s.Status == PaymentStatus.Completed && s.SenderNotified && (s.FxpNotified || s.SelectedQuote is null)
            ? s with { Status = PaymentStatus.Notified }
            : s;

    private static Decision Emit(PaymentState s, object e) => Decision.Accept(new PendingEvent(s.Uetr, e));
}
