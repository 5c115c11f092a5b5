using System.Globalization;
using System.Text.RegularExpressions;
using System.Xml;
using System.Xml.Linq;

namespace Escrow.Domain.Iso20022;

/// <summary>
/// Parses ISO 20022 payment messages by element local names and paths, whatever the namespace version:
/// the message type and version come from the Document's namespace
/// (<c>urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08</c>), and a well-formed message of a version this code
/// has never seen is parsed the same way, not refused. Accepted shapes: a bare <c>Document</c>, a bare
/// <c>AppHdr</c> (head.001), or any envelope element (SWIFT <c>Envelope</c>, <c>BizMsg</c>...) holding an
/// <c>AppHdr</c> and a <c>Document</c>. Pure: no I/O; DTDs are refused (no entity expansion).
/// <para>
/// Never throws: every failure is an <see cref="IsoError"/> with a code from <see cref="IsoErrorCodes"/>.
/// </para>
/// </summary>
public static partial class IsoParser
{
    /// <summary>Message types this parser reads, by the first child element of <c>Document</c> (for namespace-less documents).</summary>
    private static readonly Dictionary<string, string> TypeByRootElement = new(StringComparer.Ordinal)
    {
        ["FIToFICstmrCdtTrf"] = "pacs.008",
        ["FIToFIPmtStsRpt"] = "pacs.002",
        ["PmtRtr"] = "pacs.004",
        ["FIToFIPmtCxlReq"] = "camt.056",
        ["RsltnOfInvstgtn"] = "camt.029",
        ["BkToCstmrDbtCdtNtfctn"] = "camt.054",
    };

    /// <summary>The supported message types.</summary>
    public static IReadOnlyCollection<string> SupportedTypes => TypeByRootElement.Values;

    [GeneratedRegex(@"([a-z]{4})\.(\d{3})\.(\d{3})\.(\d{2})$")]
    private static partial Regex NamespaceVersion();

    [GeneratedRegex("^[a-f0-9]{8}-[a-f0-9]{4}-4[a-f0-9]{3}-[89ab][a-f0-9]{3}-[a-f0-9]{12}$")]
    private static partial Regex Uuid4();

    /// <summary>True for a lower-case UUIDv4 (the ISO 20022 <c>UUIDv4Identifier</c> pattern).</summary>
    public static bool IsUetr(string? value) => value is not null && Uuid4().IsMatch(value);

    /// <summary>
    /// How deep a message's elements may nest. ISO 20022 messages are a few dozen levels deep at most (a pacs.008 inside its
    /// business application header about 12); a deeper document is refused by one linear pass before anything is built from it.
    /// </summary>
    public const int MaxDepth = 64;

    /// <summary>Parses one message (XML text). Never throws.</summary>
    public static IsoParseResult Parse(string xml)
    {
        XDocument doc;
        try
        {
            var settings = new XmlReaderSettings { DtdProcessing = DtdProcessing.Prohibit, XmlResolver = null };
            using (var scan = XmlReader.Create(new StringReader(xml ?? ""), settings))
                while (scan.Read())
                    if (scan.Depth > MaxDepth)
                        return IsoParseResult.Fail(IsoErrorCodes.TooDeep, $"elements nest deeper than {MaxDepth} levels (line {((IXmlLineInfo)scan).LineNumber})");
            using var reader = XmlReader.Create(new StringReader(xml ?? ""), settings);
            doc = XDocument.Load(reader, LoadOptions.None);
        }
        catch (XmlException e)
        {
            return IsoParseResult.Fail(IsoErrorCodes.MalformedXml, $"not well-formed XML: {e.Message}");
        }
        try
        {
            return IsoParseResult.Ok(ParseDocument(doc.Root!, xml!));
        }
        catch (IsoParseException e)
        {
            return IsoParseResult.Fail(e.Code, e.Message);
        }
    }

    private sealed class IsoParseException(string code, string message) : Exception(message)
    {
        public string Code { get; } = code;
    }

    private static IsoParseException Error(string code, string message) => new(code, message);

    private static IsoMessage ParseDocument(XElement root, string raw)
    {
        var header = root.Name.LocalName == "AppHdr" ? root : root.Elements().FirstOrDefault(e => e.Name.LocalName == "AppHdr");
        var document = root.Name.LocalName == "Document" ? root : root.Elements().FirstOrDefault(e => e.Name.LocalName == "Document");
        var bah = header is null ? null : ParseHeader(header);
        if (document is null)
        {
            if (bah is not null)
                return new HeaderOnlyMessage(new MessageInfo("head.001", bah.Version, bah.BusinessMessageId, bah.CreatedAt, bah), bah);
            throw Error(IsoErrorCodes.UnknownMessageType, $"root element <{root.Name.LocalName}> is neither a Document, an AppHdr nor an envelope holding them");
        }

        var body = document.Elements().FirstOrDefault()
            ?? throw Error(IsoErrorCodes.UnknownMessageType, "the Document element is empty");
        var (type, version) = TypeOf(document.Name.NamespaceName);
        TypeByRootElement.TryGetValue(body.Name.LocalName, out var typeByBody);
        if (type is null)
        {
            // No ISO namespace: recognise the message by its root element, version unknown.
            type = typeByBody ?? throw Error(IsoErrorCodes.UnknownMessageType,
                $"namespace '{document.Name.NamespaceName}' names no ISO 20022 message and <{body.Name.LocalName}> is not a known message");
            version = "unknown";
        }
        if (!TypeByRootElement.ContainsValue(type))
            throw Error(IsoErrorCodes.UnknownMessageType, $"message type {type}.{version} is not supported (supported: {string.Join(", ", SupportedTypes)})");
        if (typeByBody != type)
            throw Error(IsoErrorCodes.UnknownMessageType, $"namespace says {type} but the Document holds <{body.Name.LocalName}>");

        return type switch
        {
            "pacs.008" => CreditTransfer(body, Info(type, version!, body, bah), raw),
            "pacs.002" => StatusReport(body, Info(type, version!, body, bah)),
            "pacs.004" => Return(body, Info(type, version!, body, bah)),
            "camt.056" => CancellationRequest(body, AssignmentInfo(type, version!, body, bah)),
            "camt.029" => Resolution(body, AssignmentInfo(type, version!, body, bah)),
            _ => Notification(body, Info(type, version!, body, bah)),
        };
    }

    /// <summary>(type, version) from a namespace such as <c>urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08</c>; nulls when it names none.</summary>
    public static (string? Type, string? Version) TypeOf(string ns)
    {
        var m = NamespaceVersion().Match(ns ?? "");
        return m.Success ? ($"{m.Groups[1].Value}.{m.Groups[2].Value}", $"{m.Groups[3].Value}.{m.Groups[4].Value}") : (null, null);
    }

    // ----- per message -----

    private static CreditTransferMessage CreditTransfer(XElement body, MessageInfo info, string raw)
    {
        var txs = Children(body, "CdtTrfTxInf").ToList();
        var tx = txs.FirstOrDefault() ?? throw Error(IsoErrorCodes.MissingElement, "pacs.008 has no CdtTrfTxInf");
        var uetr = Uetr(Text(tx, "PmtId/UETR"), "PmtId/UETR");
        var settlement = Amount(Path(tx, "IntrBkSttlmAmt"), "IntrBkSttlmAmt")
            ?? throw Error(IsoErrorCodes.MissingElement, "pacs.008 has no CdtTrfTxInf/IntrBkSttlmAmt");
        var instructed = Amount(Path(tx, "InstdAmt"), "InstdAmt");
        DateOnly? date = DateOnly.TryParseExact(Text(tx, "IntrBkSttlmDt") ?? Text(body, "GrpHdr/IntrBkSttlmDt"), "yyyy-MM-dd",
            CultureInfo.InvariantCulture, DateTimeStyles.None, out var d) ? d : null;
        return new CreditTransferMessage(
            info, uetr, Text(tx, "PmtId/InstrId"), Text(tx, "PmtId/EndToEndId"), settlement, instructed, date,
            PartyOf(tx, "Dbtr", "DbtrAcct"), AgentOf(Path(tx, "DbtrAgt")), PartyOf(tx, "Cdtr", "CdtrAcct"), AgentOf(Path(tx, "CdtrAgt")),
            Path(tx, "InstgAgt") is { } ig ? AgentOf(ig) : null, Path(tx, "InstdAgt") is { } id ? AgentOf(id) : null,
            txs.Count, raw);
    }

    private static StatusReportMessage StatusReport(XElement body, MessageInfo info)
    {
        var tx = Child(body, "TxInfAndSts");
        var uetr = Uetr(Text(tx, "OrgnlUETR"), "TxInfAndSts/OrgnlUETR");
        var status = Text(tx, "TxSts") ?? Text(body, "OrgnlGrpInfAndSts/GrpSts")
            ?? throw Error(IsoErrorCodes.MissingElement, "pacs.002 has neither TxInfAndSts/TxSts nor a group status");
        var reason = Path(tx, "StsRsnInf/Rsn");
        return new StatusReportMessage(
            info, uetr, Text(tx, "OrgnlGrpInf/OrgnlMsgId"), Text(tx, "OrgnlEndToEndId"), status,
            Text(reason, "Cd") ?? Text(reason, "Prtry"), Text(tx, "StsRsnInf/AddtlInf"),
            Amount(Path(tx, "OrgnlTxRef/IntrBkSttlmAmt"), "OrgnlTxRef/IntrBkSttlmAmt"));
    }

    private static PaymentReturnMessage Return(XElement body, MessageInfo info)
    {
        var tx = Child(body, "TxInf") ?? throw Error(IsoErrorCodes.MissingElement, "pacs.004 has no TxInf");
        var uetr = Uetr(Text(tx, "OrgnlUETR"), "TxInf/OrgnlUETR");
        var returned = Amount(Path(tx, "RtrdIntrBkSttlmAmt"), "RtrdIntrBkSttlmAmt")
            ?? throw Error(IsoErrorCodes.MissingElement, "pacs.004 has no TxInf/RtrdIntrBkSttlmAmt");
        var reason = Path(tx, "RtrRsnInf/Rsn");
        return new PaymentReturnMessage(
            info, uetr, Text(tx, "RtrId"), Text(tx, "OrgnlGrpInf/OrgnlMsgId"), Text(tx, "OrgnlEndToEndId"), returned,
            Amount(Path(tx, "OrgnlTxRef/IntrBkSttlmAmt"), "OrgnlTxRef/IntrBkSttlmAmt") ?? Amount(Path(tx, "OrgnlIntrBkSttlmAmt"), "OrgnlIntrBkSttlmAmt"),
            Text(reason, "Cd") ?? Text(reason, "Prtry"), Text(tx, "RtrRsnInf/AddtlInf"));
    }

    private static CancellationRequestMessage CancellationRequest(XElement body, MessageInfo info)
    {
        var tx = Path(body, "Undrlyg/TxInf") ?? throw Error(IsoErrorCodes.MissingElement, "camt.056 has no Undrlyg/TxInf");
        var uetr = Uetr(Text(tx, "OrgnlUETR"), "Undrlyg/TxInf/OrgnlUETR");
        var reason = Path(tx, "CxlRsnInf/Rsn");
        return new CancellationRequestMessage(
            info, uetr, Text(body, "Case/Id") ?? Text(tx, "Case/Id"), Text(tx, "OrgnlGrpInf/OrgnlMsgId"), Text(tx, "OrgnlEndToEndId"),
            Amount(Path(tx, "OrgnlIntrBkSttlmAmt"), "OrgnlIntrBkSttlmAmt"),
            Text(reason, "Cd") ?? Text(reason, "Prtry"), Text(tx, "CxlRsnInf/AddtlInf"));
    }

    private static ResolutionMessage Resolution(XElement body, MessageInfo info)
    {
        var tx = Path(body, "CxlDtls/TxInfAndSts");
        var uetr = Uetr(Text(tx, "OrgnlUETR"), "CxlDtls/TxInfAndSts/OrgnlUETR");
        var status = Text(body, "Sts/Conf") ?? Text(tx, "TxCxlSts")
            ?? throw Error(IsoErrorCodes.MissingElement, "camt.029 has neither Sts/Conf nor TxInfAndSts/TxCxlSts");
        var reason = Path(tx, "CxlStsRsnInf/Rsn");
        return new ResolutionMessage(
            info, uetr, Text(body, "RslvdCase/Id"), Text(tx, "OrgnlGrpInf/OrgnlMsgId"), Text(tx, "OrgnlEndToEndId"), status,
            Text(reason, "Cd") ?? Text(reason, "Prtry"));
    }

    private static NotificationMessage Notification(XElement body, MessageInfo info)
    {
        var result = new List<NotificationTransaction>();
        foreach (var ntfctn in Children(body, "Ntfctn"))
        {
            var account = Text(ntfctn, "Acct/Id/IBAN") ?? Text(ntfctn, "Acct/Id/Othr/Id");
            foreach (var entry in Children(ntfctn, "Ntry"))
            {
                var entryAmount = Amount(Path(entry, "Amt"), "Ntry/Amt")
                    ?? throw Error(IsoErrorCodes.MissingElement, "camt.054 entry has no Amt");
                var side = Text(entry, "CdtDbtInd") ?? throw Error(IsoErrorCodes.MissingElement, "camt.054 entry has no CdtDbtInd");
                var status = Text(entry, "Sts/Cd") ?? Text(entry, "Sts");
                var reference = Text(entry, "NtryRef");
                var details = Children(entry, "NtryDtls").SelectMany(n => Children(n, "TxDtls")).ToList();
                if (details.Count == 0)
                    result.Add(new(account, reference, side, status, entryAmount, null, null));
                foreach (var tx in details)
                {
                    var uetrText = Text(tx, "Refs/UETR");
                    var uetr = uetrText is null ? null : Uetr(uetrText, "TxDtls/Refs/UETR");
                    var amount = Amount(Path(tx, "Amt"), "TxDtls/Amt") ?? Amount(Path(tx, "AmtDtls/TxAmt/Amt"), "TxDtls/AmtDtls/TxAmt/Amt") ?? entryAmount;
                    result.Add(new(account, reference, Text(tx, "CdtDbtInd") ?? side, status, amount, uetr, Text(tx, "Refs/EndToEndId")));
                }
            }
        }
        return new NotificationMessage(info, result);
    }

    // ----- header, info, parties -----

    private static BusinessHeader ParseHeader(XElement hdr)
    {
        var (_, version) = TypeOf(hdr.Name.NamespaceName);
        return new BusinessHeader(
            version ?? "unknown", AgentOf(Path(hdr, "Fr/FIId"))?.Id, AgentOf(Path(hdr, "To/FIId"))?.Id,
            Text(hdr, "BizMsgIdr"), Text(hdr, "MsgDefIdr"), Text(hdr, "BizSvc"), Instant(Text(hdr, "CreDt"), "AppHdr/CreDt"));
    }

    private static MessageInfo Info(string type, string version, XElement body, BusinessHeader? bah) =>
        new(type, version, Text(body, "GrpHdr/MsgId"), Instant(Text(body, "GrpHdr/CreDtTm"), "GrpHdr/CreDtTm"), bah);

    private static MessageInfo AssignmentInfo(string type, string version, XElement body, BusinessHeader? bah) =>
        new(type, version, Text(body, "Assgnmt/Id"), Instant(Text(body, "Assgnmt/CreDtTm"), "Assgnmt/CreDtTm"), bah);

    private static Party PartyOf(XElement tx, string party, string account)
    {
        var p = Path(tx, party);
        // Some versions wrap the party in Pty (pacs.004 RtrChain); accept both.
        var name = Text(p, "Nm") ?? Text(p, "Pty/Nm");
        var acct = Path(tx, account + "/Id");
        return new Party(name, Text(acct, "IBAN") ?? Text(acct, "Othr/Id"));
    }

    private static Agent AgentOf(XElement? agent)
    {
        var fi = Child(agent, "FinInstnId");
        return new Agent(Text(fi, "BICFI") ?? Text(fi, "BIC"), Text(fi, "ClrSysMmbId/MmbId"), Text(fi, "Nm"));
    }

    private static string Uetr(string? value, string path)
    {
        if (value is null)
            throw Error(IsoErrorCodes.MissingUetr, $"no UETR ({path})");
        if (!IsUetr(value))
            throw Error(IsoErrorCodes.InvalidUetr, $"UETR '{value}' at {path} is not a lower-case UUIDv4");
        return value;
    }

    private static Money? Amount(XElement? element, string path)
    {
        if (element is null)
            return null;
        var code = element.Attribute("Ccy")?.Value;
        if (!Currency.TryParse(code, out var currency))
            throw Error(IsoErrorCodes.UnknownCurrency, $"{path}: '{code}' is not an ISO 4217 currency with a minor unit");
        if (!decimal.TryParse(element.Value.Trim(), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var amount) || amount <= 0)
            throw Error(IsoErrorCodes.InvalidAmount, $"{path}: '{element.Value}' is not a positive decimal amount");
        if (!currency.Value.FitsMinorUnit(amount))
            throw Error(IsoErrorCodes.AmountPrecision, $"{path}: {amount} has more decimals than {currency.Value.Code} allows ({currency.Value.MinorUnits})");
        return new Money(amount, currency.Value);
    }

    private static DateTimeOffset? Instant(string? text, string path)
    {
        if (text is null)
            return null;
        if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t))
            return t;
        throw Error(IsoErrorCodes.InvalidDateTime, $"{path}: '{text}' is not an ISO 8601 date-time");
    }

    // ----- namespace-agnostic navigation -----

    private static XElement? Child(XElement? e, string local) => e?.Elements().FirstOrDefault(x => x.Name.LocalName == local);

    private static IEnumerable<XElement> Children(XElement e, string local) => e.Elements().Where(x => x.Name.LocalName == local);

    private static XElement? Path(XElement? e, string path)
    {
        foreach (var step in path.Split('/'))
            e = Child(e, step);
        return e;
    }

    private static string? Text(XElement? e, string path) =>
        Path(e, path)?.Value.Trim() is { Length: > 0 } s ? s : null;
}
