namespace Escrow.Domain.Iso20022;

/// <summary>A parse failure with a stable snake_case <see cref="Code"/> (see <see cref="IsoErrorCodes"/>) and a human message.</summary>
public sealed record IsoError(string Code, string Message)
{
    public override string ToString() => $"{Code}: {Message}";
}

/// <summary>Stable codes of <see cref="IsoError"/>; never renamed once published.</summary>
public static class IsoErrorCodes
{
    /// <summary>Not well-formed XML (or a DTD, which is refused).</summary>
    public const string MalformedXml = "malformed_xml";
    /// <summary>Elements nested deeper than <see cref="IsoParser.MaxDepth"/> levels.</summary>
    public const string TooDeep = "xml_too_deep";
    /// <summary>Well-formed, but not a head.001, pacs.002/004/008 or camt.029/054/056 message.</summary>
    public const string UnknownMessageType = "unknown_message_type";
    /// <summary>A payment message without <c>UETR</c> / <c>OrgnlUETR</c>.</summary>
    public const string MissingUetr = "missing_uetr";
    /// <summary>A UETR that is not a UUIDv4 (ISO <c>UUIDv4Identifier</c> pattern).</summary>
    public const string InvalidUetr = "invalid_uetr";
    /// <summary>A mandatory element (message id, amount, status...) is absent.</summary>
    public const string MissingElement = "missing_element";
    /// <summary>An amount that is not a positive decimal.</summary>
    public const string InvalidAmount = "invalid_amount";
    /// <summary>An amount whose <c>Ccy</c> is missing or not an ISO 4217 code with a minor unit.</summary>
    public const string UnknownCurrency = "unknown_currency";
    /// <summary>An amount with more decimals than its currency's ISO 4217 minor unit.</summary>
    public const string AmountPrecision = "amount_precision";
    /// <summary>A date-time that is not ISO 8601.</summary>
    public const string InvalidDateTime = "invalid_datetime";
}

/// <summary>Either a parsed message or a typed error; never both.</summary>
public sealed record IsoParseResult(IsoMessage? Message, IsoError? Error)
{
    public bool IsSuccess => Message is not null;
    public static IsoParseResult Ok(IsoMessage message) => new(message, null);
    public static IsoParseResult Fail(string code, string message) => new(null, new IsoError(code, message));
}

/// <summary>
/// The business application header (head.001), when present: either wrapped with the Document in an
/// envelope (SWIFT CBPR+) or as a separate file (Fedwire samples).
/// </summary>
public sealed record BusinessHeader(
    string Version, string? From, string? To, string? BusinessMessageId, string? MessageDefinitionId,
    string? BusinessService, DateTimeOffset? CreatedAt);

/// <summary>
/// What every message carries: its type (<c>pacs.008</c>), its version (<c>001.08</c>, from the namespace),
/// message id (<c>GrpHdr/MsgId</c>, or <c>Assgnmt/Id</c> for camt.029/056) and creation time.
/// </summary>
public sealed record MessageInfo(string Type, string Version, string? MessageId, DateTimeOffset? CreatedAt, BusinessHeader? Header)
{
    /// <summary>For example <c>pacs.008.001.08</c>.</summary>
    public string Definition => $"{Type}.{Version}";
}

/// <summary>A financial institution: BIC (<c>BICFI</c>, or <c>BIC</c> in old versions) and/or clearing member id (<c>ClrSysMmbId/MmbId</c>).</summary>
public sealed record Agent(string? Bic, string? ClearingMemberId, string? Name = null)
{
    /// <summary>The identifier used for comparisons: BIC when present, else the clearing member id.</summary>
    public string? Id => Bic ?? ClearingMemberId;
}

/// <summary>A debtor or creditor: name and account (IBAN or <c>Othr/Id</c>).</summary>
public sealed record Party(string? Name, string? Account);

/// <summary>A parsed message. Pattern-match on the concrete type.</summary>
public abstract record IsoMessage(MessageInfo Info);

/// <summary>A head.001 on its own (no Document): informational, changes no payment.</summary>
public sealed record HeaderOnlyMessage(MessageInfo Info, BusinessHeader AppHeader) : IsoMessage(Info);

/// <summary>
/// pacs.008 FI-to-FI customer credit transfer, first <c>CdtTrfTxInf</c> (the samples carry one transaction;
/// <see cref="TransactionCount"/> tells when there are more). <see cref="Settlement"/> is
/// <c>IntrBkSttlmAmt</c>; <see cref="Instructed"/> is <c>InstdAmt</c> when present.
/// </summary>
public sealed record CreditTransferMessage(
    MessageInfo Info, string Uetr, string? InstructionId, string? EndToEndId, Money Settlement, Money? Instructed,
    DateOnly? SettlementDate, Party Debtor, Agent DebtorAgent, Party Creditor, Agent CreditorAgent,
    Agent? InstructingAgent, Agent? InstructedAgent, int TransactionCount, string RawXml) : IsoMessage(Info);

/// <summary>pacs.002 status of one transaction: <c>TxSts</c> (ACSC, ACCC, ACSP, RJCT...) and the first <c>StsRsnInf/Rsn</c> code.</summary>
public sealed record StatusReportMessage(
    MessageInfo Info, string Uetr, string? OriginalMessageId, string? OriginalEndToEndId, string Status,
    string? ReasonCode, string? ReasonText, Money? OriginalAmount) : IsoMessage(Info);

/// <summary>pacs.004 payment return: <c>RtrdIntrBkSttlmAmt</c> and <c>RtrRsnInf/Rsn</c>.</summary>
public sealed record PaymentReturnMessage(
    MessageInfo Info, string Uetr, string? ReturnId, string? OriginalMessageId, string? OriginalEndToEndId,
    Money Returned, Money? OriginalAmount, string? ReasonCode, string? ReasonText) : IsoMessage(Info);

/// <summary>camt.056 FI-to-FI cancellation (recall) request: <c>CxlRsnInf/Rsn</c> and the original amount when given.</summary>
public sealed record CancellationRequestMessage(
    MessageInfo Info, string Uetr, string? CaseId, string? OriginalMessageId, string? OriginalEndToEndId,
    Money? OriginalAmount, string? ReasonCode, string? ReasonText) : IsoMessage(Info);

/// <summary>camt.029 resolution of investigation: <c>Sts/Conf</c> (CNCL, RJCR, PECR) or the transaction's <c>TxCxlSts</c>.</summary>
public sealed record ResolutionMessage(
    MessageInfo Info, string Uetr, string? CaseId, string? OriginalMessageId, string? OriginalEndToEndId,
    string Status, string? ReasonCode) : IsoMessage(Info);

/// <summary>One transaction of a camt.054 entry (or the entry itself when it has no details).</summary>
public sealed record NotificationTransaction(
    string? AccountId, string? EntryReference, string CreditDebit, string? EntryStatus, Money Amount,
    string? Uetr, string? EndToEndId);

/// <summary>camt.054 bank-to-customer debit/credit notification, flattened to transactions.</summary>
public sealed record NotificationMessage(MessageInfo Info, IReadOnlyList<NotificationTransaction> Transactions) : IsoMessage(Info);
