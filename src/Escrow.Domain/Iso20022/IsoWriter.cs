using System.Globalization;
using System.Xml.Linq;

namespace Escrow.Domain.Iso20022;

/// <summary>What the writer needs to describe one credit transfer.</summary>
public sealed record PaymentInstruction(
    string MessageId, DateTimeOffset CreatedAt, string Uetr, string EndToEndId, Money Amount, DateOnly SettlementDate,
    Party Debtor, Agent DebtorAgent, Party Creditor, Agent CreditorAgent);

/// <summary>
/// Writes pacs.008, pacs.002 and camt.054 documents (bare <c>Document</c>, no envelope) for a payment.
/// Versions default to those the Fedwire and CBPR+ samples use; any version string can be passed, the
/// element paths written are common to 001.08 and later. Amounts carry exactly the currency's minor unit.
/// </summary>
public static class IsoWriter
{
    private const string NsPrefix = "urn:iso:std:iso:20022:tech:xsd:";

    public static string Pacs008(PaymentInstruction p, string version = "001.08")
    {
        XNamespace ns = NsPrefix + "pacs.008." + version;
        var tx = new XElement(ns + "CdtTrfTxInf",
            new XElement(ns + "PmtId",
                new XElement(ns + "InstrId", p.MessageId),
                new XElement(ns + "EndToEndId", p.EndToEndId),
                new XElement(ns + "UETR", p.Uetr)),
            AmountElement(ns + "IntrBkSttlmAmt", p.Amount),
            new XElement(ns + "IntrBkSttlmDt", p.SettlementDate.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)),
            AmountElement(ns + "InstdAmt", p.Amount),
            new XElement(ns + "ChrgBr", "SLEV"),
            PartyElement(ns, "Dbtr", p.Debtor.Name),
            AccountElement(ns, "DbtrAcct", p.Debtor.Account),
            AgentElement(ns, "DbtrAgt", p.DebtorAgent),
            AgentElement(ns, "CdtrAgt", p.CreditorAgent),
            PartyElement(ns, "Cdtr", p.Creditor.Name),
            AccountElement(ns, "CdtrAcct", p.Creditor.Account));
        return Serialize(new XElement(ns + "Document",
            new XElement(ns + "FIToFICstmrCdtTrf",
                new XElement(ns + "GrpHdr",
                    new XElement(ns + "MsgId", p.MessageId),
                    new XElement(ns + "CreDtTm", Instant(p.CreatedAt)),
                    new XElement(ns + "NbOfTxs", "1"),
                    new XElement(ns + "SttlmInf", new XElement(ns + "SttlmMtd", "CLRG"))),
                tx)));
    }

    /// <summary>A pacs.002 for <paramref name="original"/>: <paramref name="status"/> (ACSC, RJCT...) and, for a rejection, a reason code.</summary>
    public static string Pacs002(
        PaymentInstruction original, string messageId, DateTimeOffset createdAt, string status, string? reasonCode = null,
        string version = "001.10")
    {
        XNamespace ns = NsPrefix + "pacs.002." + version;
        return Serialize(new XElement(ns + "Document",
            new XElement(ns + "FIToFIPmtStsRpt",
                new XElement(ns + "GrpHdr",
                    new XElement(ns + "MsgId", messageId),
                    new XElement(ns + "CreDtTm", Instant(createdAt))),
                new XElement(ns + "TxInfAndSts",
                    new XElement(ns + "OrgnlGrpInf",
                        new XElement(ns + "OrgnlMsgId", original.MessageId),
                        new XElement(ns + "OrgnlMsgNmId", "pacs.008.001.08")),
                    new XElement(ns + "OrgnlEndToEndId", original.EndToEndId),
                    new XElement(ns + "OrgnlUETR", original.Uetr),
                    new XElement(ns + "TxSts", status),
                    reasonCode is null ? null : new XElement(ns + "StsRsnInf", new XElement(ns + "Rsn", new XElement(ns + "Cd", reasonCode))),
                    new XElement(ns + "OrgnlTxRef", AmountElement(ns + "IntrBkSttlmAmt", original.Amount))))));
    }

    /// <summary>A camt.054 booked entry for <paramref name="original"/> on <paramref name="accountId"/> (CRDT for the creditor, DBIT for the debtor).</summary>
    public static string Camt054(
        PaymentInstruction original, string messageId, DateTimeOffset createdAt, string accountId, string creditDebit = "CRDT",
        string version = "001.08")
    {
        XNamespace ns = NsPrefix + "camt.054." + version;
        return Serialize(new XElement(ns + "Document",
            new XElement(ns + "BkToCstmrDbtCdtNtfctn",
                new XElement(ns + "GrpHdr",
                    new XElement(ns + "MsgId", messageId),
                    new XElement(ns + "CreDtTm", Instant(createdAt))),
                new XElement(ns + "Ntfctn",
                    new XElement(ns + "Id", messageId),
                    new XElement(ns + "CreDtTm", Instant(createdAt)),
                    new XElement(ns + "Acct", new XElement(ns + "Id", new XElement(ns + "Othr", new XElement(ns + "Id", accountId)))),
                    new XElement(ns + "Ntry",
                        AmountElement(ns + "Amt", original.Amount),
                        new XElement(ns + "CdtDbtInd", creditDebit),
                        new XElement(ns + "Sts", new XElement(ns + "Cd", "BOOK")),
                        new XElement(ns + "BkTxCd", new XElement(ns + "Domn",
                            new XElement(ns + "Cd", "PMNT"),
                            new XElement(ns + "Fmly", new XElement(ns + "Cd", creditDebit == "CRDT" ? "RCDT" : "ICDT"), new XElement(ns + "SubFmlyCd", "XBCT")))),
                        new XElement(ns + "NtryDtls", new XElement(ns + "TxDtls",
                            new XElement(ns + "Refs",
                                new XElement(ns + "EndToEndId", original.EndToEndId),
                                new XElement(ns + "UETR", original.Uetr)),
                            AmountElement(ns + "Amt", original.Amount),
                            new XElement(ns + "CdtDbtInd", creditDebit))))))));
    }

    /// <summary>Amount text with exactly the currency's ISO 4217 minor-unit decimals (<c>510000.74</c>, <c>1500</c> for JPY).</summary>
    public static string FormatAmount(Money m) =>
        m.Amount.ToString("F" + m.Currency.MinorUnits.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);

    private static XElement AmountElement(XName name, Money m) => new(name, new XAttribute("Ccy", m.Currency.Code), FormatAmount(m));

    private static XElement? PartyElement(XNamespace ns, string name, string? partyName) =>
        new(ns + name, partyName is null ? null : new XElement(ns + "Nm", partyName));

    private static XElement? AccountElement(XNamespace ns, string name, string? account) =>
        account is null ? null : new XElement(ns + name, new XElement(ns + "Id", new XElement(ns + "Othr", new XElement(ns + "Id", account))));

    private static XElement AgentElement(XNamespace ns, string name, Agent a) =>
        new(ns + name, new XElement(ns + "FinInstnId",
            a.Bic is null ? null : new XElement(ns + "BICFI", a.Bic),
            a.ClearingMemberId is null ? null : new XElement(ns + "ClrSysMmbId", new XElement(ns + "MmbId", a.ClearingMemberId)),
            a.Name is null ? null : new XElement(ns + "Nm", a.Name)));

    private static string Instant(DateTimeOffset t) => t.ToString("yyyy-MM-dd'T'HH:mm:sszzz", CultureInfo.InvariantCulture);

    private static string Serialize(XElement root) =>
        new XDocument(new XDeclaration("1.0", "UTF-8", null), root).Declaration + Environment.NewLine + root;
}
