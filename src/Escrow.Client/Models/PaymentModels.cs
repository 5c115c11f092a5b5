using System.Text.Json;

namespace Escrow.Client;

/// <summary>Body of <c>POST /payments/quotes</c>: quote <paramref name="Amount"/> of <paramref name="SourceCurrency"/> into <paramref name="TargetCurrency"/>.</summary>
/// <param name="SourceCurrency">ISO 4217 code paid by the debtor.</param>
/// <param name="TargetCurrency">ISO 4217 code received by the creditor (not the source currency).</param>
/// <param name="Amount">Major units of the source currency, &gt; 0.</param>
/// <param name="Uetr">The payment's UETR (a lower-case UUIDv4, ISO 20022 UUIDv4Identifier); default a new one.</param>
public sealed record QuoteRequest(string SourceCurrency, string TargetCurrency, decimal Amount, string? Uetr = null);

/// <summary>Body of <c>POST /payments/{uetr}/initiation</c>. The creditor comes from the proxy resolution when there was one; otherwise <paramref name="CreditorAccount"/> and <paramref name="CreditorAgent"/> are required.</summary>
/// <param name="DebtorAccount">An open customer account of the caller's institution, in the payment's currency.</param>
/// <param name="Amount">Major units of <paramref name="Currency"/>.</param>
/// <param name="Currency">ISO 4217 code (default: the quote's source currency).</param>
/// <param name="DebtorName">Debtor's name for the pacs.008.</param>
/// <param name="DebtorAgent">Debtor agent's BIC or clearing member id (default: the institution id).</param>
/// <param name="CreditorName">Creditor's name.</param>
/// <param name="CreditorAccount">Creditor's account (IBAN or other).</param>
/// <param name="CreditorAgent">Creditor agent's BIC (ISO 9362) or clearing member id.</param>
/// <param name="EndToEndId">The end-to-end id of the pacs.008 (default derived from the UETR).</param>
public sealed record InitiationRequest(
    string DebtorAccount, decimal Amount, string? Currency = null, string? DebtorName = null, string? DebtorAgent = null,
    string? CreditorName = null, string? CreditorAccount = null, string? CreditorAgent = null, string? EndToEndId = null);

/// <summary>Body of <c>POST /fxps/{fxpId}/rates</c>: an FX provider's rate for a currency pair.</summary>
/// <param name="SourceCurrency">ISO 4217 code converted from.</param>
/// <param name="TargetCurrency">ISO 4217 code converted to.</param>
/// <param name="Rate">Mid rate: target units per source unit, &gt; 0.</param>
/// <param name="ValidForSeconds">How long a quote from this rate is valid, 1–86400.</param>
/// <param name="Spread">Fraction taken off the mid rate for the customer, 0 ≤ spread &lt; 1.</param>
public sealed record FxpRateRequest(string SourceCurrency, string TargetCurrency, decimal Rate, int ValidForSeconds, decimal? Spread = null);

/// <summary>Body of <c>POST /proxies</c>: an alias (phone, e-mail, IBAN…) and the creditor it names.</summary>
/// <param name="ProxyType">Proxy type, e.g. <c>MOBL</c>, <c>EMAL</c>, <c>IBAN</c>.</param>
/// <param name="ProxyValue">The alias.</param>
/// <param name="CreditorAccount">Creditor's account.</param>
/// <param name="CreditorAgent">Creditor agent's BIC or clearing member id.</param>
/// <param name="CreditorName">Creditor's name.</param>
public sealed record ProxyRequest(string ProxyType, string ProxyValue, string CreditorAccount, string CreditorAgent, string? CreditorName = null);

/// <summary>An FX provider's quote on a payment.</summary>
/// <param name="QuoteId">Select it with <see cref="PaymentsClient.SelectQuoteAsync"/>.</param>
/// <param name="FxpId">The FX provider.</param>
/// <param name="Rate">Customer rate: target units per source unit (mid × (1 − spread)).</param>
/// <param name="Spread">The provider's spread, a fraction.</param>
/// <param name="ValidUntil">After this instant the quote can no longer be selected (UTC).</param>
public sealed record PaymentQuote(string QuoteId, string FxpId, decimal Rate, decimal Spread, DateTimeOffset ValidUntil);

/// <summary>The pacs.008 instruction of a payment.</summary>
/// <param name="MessageId">The pacs.008's MsgId.</param>
/// <param name="EndToEndId">End-to-end id.</param>
/// <param name="Amount">Interbank settlement amount, major units.</param>
/// <param name="Currency">ISO 4217 code.</param>
/// <param name="SettlementDate">Interbank settlement date.</param>
/// <param name="DebtorName">Debtor's name.</param>
/// <param name="DebtorAccount">Debtor's account.</param>
/// <param name="DebtorAgent">Debtor agent (BIC or clearing member id).</param>
/// <param name="CreditorName">Creditor's name.</param>
/// <param name="CreditorAccount">Creditor's account.</param>
/// <param name="CreditorAgent">Creditor agent.</param>
/// <param name="InitiatedAt">When it was initiated (UTC).</param>
public sealed record PaymentInstruction(
    string? MessageId, string? EndToEndId, decimal Amount, string Currency, DateOnly? SettlementDate,
    string? DebtorName, string? DebtorAccount, string? DebtorAgent, string? CreditorName, string? CreditorAccount, string? CreditorAgent,
    DateTimeOffset InitiatedAt);

/// <summary>How a payment moves money in this ledger.</summary>
/// <param name="Direction"><c>Outgoing</c> (our customer is the debtor) or <c>Incoming</c> (the creditor).</param>
/// <param name="CustomerAccount">The customer's account here.</param>
/// <param name="ClearingAccount">The external account mirroring the counterparty agent.</param>
/// <param name="FxpSourceAccount">FX: the provider's account in the source currency.</param>
/// <param name="FxpTargetAccount">FX: the provider's account in the target currency.</param>
/// <param name="TargetAmount">FX: the converted amount, major units of <paramref name="TargetCurrency"/>.</param>
/// <param name="TargetCurrency">FX: ISO 4217 code converted to.</param>
public sealed record PaymentBooking(
    string Direction, string CustomerAccount, string ClearingAccount, string? FxpSourceAccount, string? FxpTargetAccount,
    decimal? TargetAmount, string? TargetCurrency);

/// <summary>A payment now (from its stream), keyed by UETR.</summary>
/// <param name="Uetr">UETR (UUIDv4).</param>
/// <param name="Status">Lifecycle status: <c>QuoteRequested</c> … <c>Initiated</c>, <c>Accepted</c>, <c>Completed</c>, <c>Rejected</c>, <c>Returned</c>, …</param>
/// <param name="Version">The payment stream's version.</param>
/// <param name="Changed">False when the command was an idempotent repeat that appended nothing (the same pacs.008 again).</param>
/// <param name="SourceCurrency">Quoted source currency.</param>
/// <param name="TargetCurrency">Quoted target currency.</param>
/// <param name="Quotes">The quotes received.</param>
/// <param name="SelectedQuote">The selected quote.</param>
/// <param name="ResolvedCreditorAccount">The creditor account a proxy resolved to.</param>
/// <param name="ProxyFailureReason">Why a proxy resolution failed.</param>
/// <param name="Instruction">The pacs.008 instruction, once initiated.</param>
/// <param name="Booking">How it moves money here (null: it only passes through).</param>
/// <param name="SettlementStatus">pacs.002 status (ACSC, ACCC, …) once settled.</param>
/// <param name="RejectionReason">Reason of a rejection.</param>
/// <param name="ValidationFailure">Why validation failed.</param>
/// <param name="ReturnRequest">State of a return request (camt.056 / camt.029).</param>
/// <param name="ReturnCaseId">Case id of the return request.</param>
/// <param name="ReturnedAmount">Returned so far (pacs.004), major units.</param>
/// <param name="SenderNotified">The sender was told the outcome.</param>
/// <param name="FxpNotified">The FX provider was told the outcome.</param>
/// <param name="LastActivityAt">Last event (UTC).</param>
public sealed record Payment(
    string Uetr, string Status, long Version, bool Changed, string? SourceCurrency, string? TargetCurrency,
    IReadOnlyList<PaymentQuote> Quotes, PaymentQuote? SelectedQuote, string? ResolvedCreditorAccount, string? ProxyFailureReason,
    PaymentInstruction? Instruction, PaymentBooking? Booking, string? SettlementStatus, string? RejectionReason,
    string? ValidationFailure, string ReturnRequest, string? ReturnCaseId, decimal ReturnedAmount, bool SenderNotified, bool FxpNotified,
    DateTimeOffset? LastActivityAt);

/// <summary>What one command of an imported message did.</summary>
/// <param name="Uetr">The payment.</param>
/// <param name="Command">Command name.</param>
/// <param name="Outcome"><c>accepted</c>, <c>rejected</c> or <c>replayed</c>.</param>
/// <param name="HttpStatus">The status it would have answered alone.</param>
/// <param name="Code">Problem code when refused.</param>
/// <param name="Detail">Problem detail when refused.</param>
/// <param name="PaymentStatus">The payment's status after it.</param>
public sealed record ImportedCommand(string Uetr, string Command, string Outcome, int HttpStatus, string? Code, string? Detail, string? PaymentStatus);

/// <summary>The report of an imported message that is not about one payment (a head.001 alone, a camt.054 with several entries).</summary>
/// <param name="Message">Its definition, e.g. <c>camt.054.001.08</c>.</param>
/// <param name="MessageId">Its MsgId.</param>
/// <param name="Schema">The XSD check: <c>valid against …</c> or <c>not validated (…)</c>.</param>
/// <param name="Skipped">Why it changed no payment, if it did not.</param>
/// <param name="Commands">What each command did.</param>
public sealed record ImportReport(string Message, string? MessageId, string Schema, string? Skipped, IReadOnlyList<ImportedCommand> Commands);

/// <summary>The answer to <c>POST /payments/messages</c>: the payment a message was about, or a report for a message about several or none.</summary>
/// <param name="Payment">Set when the message concerned one payment.</param>
/// <param name="Report">Set otherwise.</param>
public sealed record PaymentMessageResult(Payment? Payment, ImportReport? Report);

/// <summary>An FX provider's published rate.</summary>
/// <param name="Tenant">Institution.</param>
/// <param name="FxpId">Provider id.</param>
/// <param name="SourceCurrency">ISO 4217 from.</param>
/// <param name="TargetCurrency">ISO 4217 to.</param>
/// <param name="Rate">Mid rate, target per source unit.</param>
/// <param name="Spread">Fraction.</param>
/// <param name="ValidFor">Validity of quotes from it.</param>
/// <param name="PublishedBy">Key id.</param>
/// <param name="PublishedAt">When (UTC).</param>
public sealed record FxpRate(string Tenant, string FxpId, string SourceCurrency, string TargetCurrency, decimal Rate, decimal Spread, TimeSpan ValidFor,
    string PublishedBy, DateTimeOffset PublishedAt);

/// <summary>A proxy directory entry.</summary>
/// <param name="Tenant">Institution.</param>
/// <param name="ProxyType">Proxy type.</param>
/// <param name="ProxyValue">The alias.</param>
/// <param name="CreditorName">Creditor's name.</param>
/// <param name="CreditorAccount">Creditor's account.</param>
/// <param name="CreditorAgent">Creditor agent.</param>
/// <param name="RegisteredBy">Key id.</param>
/// <param name="RegisteredAt">When (UTC).</param>
public sealed record ProxyEntry(string Tenant, string ProxyType, string ProxyValue, string? CreditorName, string CreditorAccount, string CreditorAgent,
    string RegisteredBy, DateTimeOffset RegisteredAt);

/// <summary>A payment as the read model <c>payment_status</c> holds it (may trail its stream by the projection lag). Amounts in major units.</summary>
/// <param name="Uetr">UETR.</param>
/// <param name="Tenant">Institution.</param>
/// <param name="Status">Status after the last event.</param>
/// <param name="SourceAgent">Debtor agent.</param>
/// <param name="DestinationAgent">Creditor agent.</param>
/// <param name="SourceCurrency">ISO 4217 from.</param>
/// <param name="DestinationCurrency">ISO 4217 to.</param>
/// <param name="SourceAmount">Amount sent.</param>
/// <param name="DestinationAmount">Amount received.</param>
/// <param name="Rate">Applied rate.</param>
/// <param name="QuoteId">Selected quote.</param>
/// <param name="FxpId">FX provider.</param>
/// <param name="RejectionReason">Reason of a rejection.</param>
/// <param name="ReturnedAmount">Returned so far.</param>
/// <param name="InitiatedAt">Initiated (UTC).</param>
/// <param name="SettledAt">Settled (UTC).</param>
/// <param name="CompletedAt">Completed (UTC).</param>
/// <param name="DurationSeconds">Completed − initiated, seconds.</param>
/// <param name="Version">Stream version applied.</param>
/// <param name="UpdatedAt">Row updated (UTC).</param>
public sealed record PaymentStatusSummary(
    string Uetr, string Tenant, string Status, string? SourceAgent, string? DestinationAgent, string? SourceCurrency,
    string? DestinationCurrency, decimal? SourceAmount, decimal? DestinationAmount, decimal? Rate, string? QuoteId, string? FxpId,
    string? RejectionReason, decimal ReturnedAmount, DateTimeOffset? InitiatedAt, DateTimeOffset? SettledAt, DateTimeOffset? CompletedAt,
    decimal? DurationSeconds, long Version, DateTimeOffset UpdatedAt);

/// <summary>A page of payments in UETR order.</summary>
/// <param name="Payments">The rows.</param>
/// <param name="NextAfter">Pass as <c>after</c> for the next page; null at the end.</param>
public sealed record PaymentPage(IReadOnlyList<PaymentStatusSummary> Payments, string? NextAfter);

/// <summary>One event of a payment (read model <c>payment_timeline</c>).</summary>
/// <param name="Sequence">The event's version in the payment's stream.</param>
/// <param name="EventType">Stored event name, e.g. <c>PaymentInitiated</c>.</param>
/// <param name="Status">Status after it.</param>
/// <param name="OccurredAt">When (UTC).</param>
/// <param name="Actor">Who.</param>
/// <param name="Details">Event-specific details.</param>
public sealed record PaymentTimelineEntry(long Sequence, string EventType, string Status, DateTimeOffset OccurredAt, string Actor, JsonElement Details);

/// <summary>Statistics of one corridor (source currency → destination currency).</summary>
/// <param name="Corridor"><c>SRC-DST</c>, e.g. <c>USD-EUR</c>.</param>
/// <param name="SourceCurrency">ISO 4217 from.</param>
/// <param name="DestinationCurrency">ISO 4217 to.</param>
/// <param name="Payments">All payments.</param>
/// <param name="Settled">Settlement confirmed.</param>
/// <param name="Failed">Rejected or failed.</param>
/// <param name="InFlight">Neither yet.</param>
/// <param name="Returned">Returned (partly or wholly).</param>
/// <param name="SuccessRate">Settled ÷ (settled + failed); null while none has an outcome.</param>
/// <param name="Completed">Settled and completed.</param>
/// <param name="P50DurationSeconds">Median initiated → completed, seconds.</param>
/// <param name="P95DurationSeconds">95th percentile, seconds.</param>
public sealed record PaymentCorridorStats(
    string Corridor, string SourceCurrency, string DestinationCurrency, long Payments, long Settled, long Failed, long InFlight,
    long Returned, double? SuccessRate, long Completed, double? P50DurationSeconds, double? P95DurationSeconds);
