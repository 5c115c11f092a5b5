using Escrow.Domain.Iso20022;

namespace Escrow.Domain.Tests.Iso20022;

public class IsoParserTests
{
    public static TheoryData<string> Files() => new(IsoData.AllMessageFiles());

    [Theory]
    [MemberData(nameof(Files))]
    public void Every_sample_file_parses_to_a_typed_message(string file)
    {
        var result = IsoParser.Parse(IsoData.Read(file));

        Assert.True(result.IsSuccess, $"{file}: {result.Error}");
        var m = result.Message!;
        var expectedType = file.Contains("head.001", StringComparison.Ordinal) ? "head.001"
            : file.Contains("pacs.008", StringComparison.Ordinal) || file.Contains("pacs008", StringComparison.Ordinal) ? "pacs.008"
            : file.Contains("pacs.002", StringComparison.Ordinal) || file.Contains("pacs002", StringComparison.Ordinal) ? "pacs.002"
            : file.Contains("pacs.004", StringComparison.Ordinal) || file.Contains("pacs004", StringComparison.Ordinal) ? "pacs.004"
            : file.Contains("camt.056", StringComparison.Ordinal) ? "camt.056"
            : file.Contains("camt.029", StringComparison.Ordinal) ? "camt.029"
            : "camt.054";
        Assert.Equal(expectedType, m.Info.Type);
        Assert.Matches(@"^\d{3}\.\d{2}$", m.Info.Version);
        Assert.False(string.IsNullOrEmpty(m.Info.MessageId), $"{file}: no message id");
    }

    [Fact]
    public void Fedwire_pacs008_fields()
    {
        var m = Assert.IsType<CreditTransferMessage>(IsoParser.Parse(IsoData.Read("fedwire-2025/CustomerCreditTransfer_Scenario1_Step1_pacs.008")).Message);

        Assert.Equal(("pacs.008", "001.08"), (m.Info.Type, m.Info.Version));
        Assert.Equal("20250310B1QDRCQR000001", m.Info.MessageId);
        Assert.Equal(new DateTimeOffset(2025, 3, 10, 9, 0, 0, TimeSpan.FromHours(-4)), m.Info.CreatedAt);
        Assert.Equal("8a562c67-ca16-48ba-b074-65581be6f011", m.Uetr);
        Assert.Equal("Scenario01EtoEId001", m.EndToEndId);
        Assert.Equal(new Money(510000.74m, Currency.Parse("USD")), m.Settlement);
        Assert.Equal(new Money(510000.74m, Currency.Parse("USD")), m.Instructed);
        Assert.Equal(new DateOnly(2025, 3, 10), m.SettlementDate);
        Assert.Equal(new Party("Corporation A", "5647772655"), m.Debtor);
        Assert.Equal(new Party("Corporation B", "567876543"), m.Creditor);
        Assert.Equal(new Agent(null, "011104238", "Bank A"), m.DebtorAgent);
        Assert.Equal("021040078", m.CreditorAgent.Id);
        Assert.Equal(1, m.TransactionCount);
        Assert.Null(m.Info.Header);
    }

    [Fact]
    public void Fedwire_pacs002_rejection_has_status_and_proprietary_reason()
    {
        var m = Assert.IsType<StatusReportMessage>(IsoParser.Parse(IsoData.Read("fedwire-2025/CustomerCreditTransfer_Scenario2_Step2_pacs.002")).Message);

        Assert.Equal("001.10", m.Info.Version);
        Assert.Equal("RJCT", m.Status);
        Assert.Equal("E433", m.ReasonCode);
        Assert.Equal("20250310B1QDRCQR000002", m.OriginalMessageId);
        Assert.Equal("8a562c67-ca16-48ba-b074-65581be6f011", m.Uetr);
    }

    [Fact]
    public void Fedwire_return_messages()
    {
        var recall = Assert.IsType<CancellationRequestMessage>(IsoParser.Parse(IsoData.Read("fedwire-2025/PaymentReturn_Scenario1_Step2_camt.056")).Message);
        Assert.Equal(("DUPL", "20250310B1QDRCQR000401"), (recall.ReasonCode, recall.Info.MessageId));
        Assert.Equal(new Money(1510000.74m, Currency.Parse("USD")), recall.OriginalAmount);
        Assert.Equal("20250310011104238Sc01Step1MsgIdDUPL", recall.CaseId);

        var answer = Assert.IsType<ResolutionMessage>(IsoParser.Parse(IsoData.Read("fedwire-2025/Paymentreturn_Scenario1_Step3_camt.029")).Message);
        Assert.Equal(("CNCL", "20250310011104238Sc01Step1MsgIdDUPL"), (answer.Status, answer.CaseId));

        var partial = Assert.IsType<PaymentReturnMessage>(IsoParser.Parse(IsoData.Read("fedwire-2025/PaymentReturn_Scenario1_Step4_pacs.004")).Message);
        Assert.Equal((151000.74m, "DUPL"), (partial.Returned.Amount, partial.ReasonCode));

        var full = Assert.IsType<PaymentReturnMessage>(IsoParser.Parse(IsoData.Read("fedwire-2025/PaymentReturn_Scenario4_Step2_pacs.004")).Message);
        Assert.Equal((2234578.88m, "AC04"), (full.Returned.Amount, full.ReasonCode));
    }

    [Fact]
    public void Cbpr_envelope_carries_the_header_and_bic_agents()
    {
        var m = Assert.IsType<CreditTransferMessage>(IsoParser.Parse(IsoData.Read("cbpr-usage-rules/pacs008_credit_transfer_sample.xml")).Message);

        Assert.Equal("a1b2c3d4-e5f6-4890-abcd-ef1234567890", m.Uetr);
        Assert.Equal(new Money(750000m, Currency.Parse("EUR")), m.Settlement);
        Assert.NotNull(m.Info.Header);
        Assert.Equal("001.02", m.Info.Header!.Version);
        Assert.Equal("pacs.008.001.08", m.Info.Header.MessageDefinitionId);
        Assert.NotNull(m.DebtorAgent.Bic);

        var status = Assert.IsType<StatusReportMessage>(IsoParser.Parse(IsoData.Read("cbpr-usage-rules/pacs002_status_report_sample.xml")).Message);
        Assert.Equal("ACSP", status.Status);
        Assert.Equal("WDCIUS3X", status.Info.Header!.From);
    }

    [Fact]
    public void Camt054_notifications_are_read()
    {
        var cbpr = Assert.IsType<NotificationMessage>(IsoParser.Parse(IsoData.Read("cbpr-usage-rules/camt054_credit_notification_sample.xml")).Message);
        var tx = Assert.Single(cbpr.Transactions);
        Assert.Equal(("3e7b91d4-af28-4c53-b6e1-92d4a7c83f52", "CRDT", "BOOK"), (tx.Uetr, tx.CreditDebit, tx.EntryStatus));
        Assert.Equal(new Money(1843750m, Currency.Parse("MXN")), tx.Amount);

        var postfinance = IsoData.AllMessageFiles().Where(f => f.StartsWith("camt054-postfinance/", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, postfinance.Count);
        foreach (var f in postfinance)
        {
            var n = Assert.IsType<NotificationMessage>(IsoParser.Parse(IsoData.Read(f)).Message);
            Assert.Equal("001.04", n.Info.Version);
            Assert.NotEmpty(n.Transactions);
            Assert.All(n.Transactions, t => Assert.Equal("CHF", t.Amount.Currency.Code));
        }
    }

    [Fact]
    public void Standalone_head001_is_a_header_only_message()
    {
        var m = Assert.IsType<HeaderOnlyMessage>(IsoParser.Parse(IsoData.Read("fedwire-2025/CustomerCreditTransfer_Scenario3_Step2_head.001")).Message);
        Assert.Equal("pacs.028.001.03", m.AppHeader.MessageDefinitionId);
        Assert.Equal("011104238", m.AppHeader.From);
    }

    // ----- typed errors -----

    private static IsoError Error(string xml)
    {
        var r = IsoParser.Parse(xml);
        Assert.False(r.IsSuccess);
        Assert.False(string.IsNullOrWhiteSpace(r.Error!.Message));
        return r.Error;
    }

    private static string Scenario1Pacs008 => IsoData.Read("fedwire-2025/CustomerCreditTransfer_Scenario1_Step1_pacs.008");

    [Theory]
    [InlineData("")]
    [InlineData("<Document")]
    [InlineData("<Document><a></b></Document>")]
    [InlineData("not xml at all")]
    [InlineData("<!DOCTYPE x [<!ENTITY a \"aaaa\">]><Document>&a;</Document>")]
    public void Malformed_xml_is_a_typed_error(string xml) => Assert.Equal(IsoErrorCodes.MalformedXml, Error(xml).Code);

    [Fact]
    public void Truncated_real_message_is_malformed() =>
        Assert.Equal(IsoErrorCodes.MalformedXml, Error(Scenario1Pacs008[..(Scenario1Pacs008.Length / 2)]).Code);

    [Theory]
    [InlineData("<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:pain.001.001.09\"><CstmrCdtTrfInitn/></Document>")]
    [InlineData("<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.08\"><BkToCstmrStmt/></Document>")]
    [InlineData("<Invoice><Total>1</Total></Invoice>")]
    [InlineData("<Document xmlns=\"urn:example\"><Something/></Document>")]
    [InlineData("<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08\"><PmtRtr/></Document>")]
    public void Unknown_message_type_is_a_typed_error(string xml) => Assert.Equal(IsoErrorCodes.UnknownMessageType, Error(xml).Code);

    [Fact]
    public void Missing_uetr_is_a_typed_error()
    {
        var xml = Scenario1Pacs008.Replace("<UETR>8a562c67-ca16-48ba-b074-65581be6f011</UETR>", "", StringComparison.Ordinal);
        Assert.Equal(IsoErrorCodes.MissingUetr, Error(xml).Code);
        var status = IsoData.Read("fedwire-2025/CustomerCreditTransfer_Scenario1_Step2_pacs.002")
            .Replace("<OrgnlUETR>8a562c67-ca16-48ba-b074-65581be6f011</OrgnlUETR>", "", StringComparison.Ordinal);
        Assert.Equal(IsoErrorCodes.MissingUetr, Error(status).Code);
    }

    [Fact]
    public void Uetr_that_is_not_a_uuid4_is_a_typed_error()
    {
        var xml = Scenario1Pacs008.Replace("8a562c67-ca16-48ba-b074-65581be6f011", "8a562c67-ca16-18ba-b074-65581be6f011", StringComparison.Ordinal);
        Assert.Equal(IsoErrorCodes.InvalidUetr, Error(xml).Code);
    }

    [Theory]
    [InlineData("<IntrBkSttlmAmt Ccy=\"XYZ\">510000.74</IntrBkSttlmAmt>", IsoErrorCodes.UnknownCurrency)]
    [InlineData("<IntrBkSttlmAmt>510000.74</IntrBkSttlmAmt>", IsoErrorCodes.UnknownCurrency)]
    [InlineData("<IntrBkSttlmAmt Ccy=\"USD\">51O000.74</IntrBkSttlmAmt>", IsoErrorCodes.InvalidAmount)]
    [InlineData("<IntrBkSttlmAmt Ccy=\"USD\">-5</IntrBkSttlmAmt>", IsoErrorCodes.InvalidAmount)]
    [InlineData("<IntrBkSttlmAmt Ccy=\"USD\">0</IntrBkSttlmAmt>", IsoErrorCodes.InvalidAmount)]
    [InlineData("<IntrBkSttlmAmt Ccy=\"USD\">510000.745</IntrBkSttlmAmt>", IsoErrorCodes.AmountPrecision)]
    [InlineData("<IntrBkSttlmAmt Ccy=\"JPY\">510000.74</IntrBkSttlmAmt>", IsoErrorCodes.AmountPrecision)]
    [InlineData("", IsoErrorCodes.MissingElement)]
    public void Bad_amount_or_currency_is_a_typed_error(string replacement, string code)
    {
        var xml = Scenario1Pacs008.Replace("<IntrBkSttlmAmt Ccy=\"USD\">510000.74</IntrBkSttlmAmt>", replacement, StringComparison.Ordinal);
        Assert.Equal(code, Error(xml).Code);
    }

    [Fact]
    public void Bad_creation_time_is_a_typed_error()
    {
        var xml = Scenario1Pacs008.Replace("<CreDtTm>2025-03-10T09:00:00-04:00</CreDtTm>", "<CreDtTm>yesterday</CreDtTm>", StringComparison.Ordinal);
        Assert.Equal(IsoErrorCodes.InvalidDateTime, Error(xml).Code);
    }

    [Theory]
    [InlineData("001.02")]
    [InlineData("001.12")]
    [InlineData("001.13")]
    public void Another_version_is_parsed_not_rejected(string version)
    {
        var xml = Scenario1Pacs008.Replace("pacs.008.001.08", "pacs.008." + version, StringComparison.Ordinal);
        var m = Assert.IsType<CreditTransferMessage>(IsoParser.Parse(xml).Message);
        Assert.Equal(version, m.Info.Version);
        Assert.Equal(510000.74m, m.Settlement.Amount);
    }

    [Fact]
    public void A_namespace_less_document_is_recognised_by_its_root_element()
    {
        var xml = Scenario1Pacs008.Replace(" xmlns=\"urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08\"", "", StringComparison.Ordinal);
        var m = Assert.IsType<CreditTransferMessage>(IsoParser.Parse(xml).Message);
        Assert.Equal(("pacs.008", "unknown"), (m.Info.Type, m.Info.Version));
    }

    [Fact]
    public void Random_garbage_never_throws()
    {
        var rng = new Random(42);
        var source = Scenario1Pacs008;
        for (var i = 0; i < 300; i++)
        {
            var chars = source.ToCharArray();
            for (var k = 0; k < 5; k++)
                chars[rng.Next(chars.Length)] = "<>&\"x9.-/ "[rng.Next(10)];
            var r = IsoParser.Parse(new string(chars));
            Assert.True(r.IsSuccess ^ (r.Error is not null));
        }
    }
}
