using Escrow.Domain.Iso20022;

namespace Escrow.Domain.Tests.Iso20022;

public class IsoWriterTests
{
    private static readonly DateTimeOffset T = new(2026, 4, 13, 9, 15, 0, TimeSpan.Zero);

    public static PaymentInstruction Instruction(string currency = "EUR", decimal amount = 1234.5m) => new(
        "MSG-1", T, "0f8fad5b-d9cb-469f-a165-70867728950e", "E2E-1", new Money(amount, Currency.Parse(currency)),
        new DateOnly(2026, 4, 13), new Party("Alice & Co <GmbH>", "DE89370400440532013000"), new Agent("DEUTDEFF", null, "Deutsche Bank"),
        new Party("Bob", "FR7630006000011234567890189"), new Agent(null, "021040078"));

    [Theory]
    [InlineData("EUR", 1234.5)]
    [InlineData("JPY", 1500)]
    [InlineData("KWD", 12.345)]
    public void Pacs008_round_trips_through_the_parser(string currency, decimal amount)
    {
        var p = Instruction(currency, amount);
        var xml = IsoWriter.Pacs008(p);

        var m = Assert.IsType<CreditTransferMessage>(IsoParser.Parse(xml).Message);
        Assert.Equal(("pacs.008", "001.08", "MSG-1", T), (m.Info.Type, m.Info.Version, m.Info.MessageId, m.Info.CreatedAt!.Value));
        Assert.Equal((p.Uetr, p.EndToEndId, p.Amount, p.SettlementDate), (m.Uetr, m.EndToEndId!, m.Settlement, m.SettlementDate!.Value));
        Assert.Equal(p.Debtor, m.Debtor);
        Assert.Equal(p.Creditor, m.Creditor);
        Assert.Equal(p.DebtorAgent, m.DebtorAgent);
        Assert.Equal(p.CreditorAgent, m.CreditorAgent);
    }

    [Fact]
    public void Pacs002_round_trips_through_the_parser()
    {
        var p = Instruction();
        var accepted = Assert.IsType<StatusReportMessage>(IsoParser.Parse(IsoWriter.Pacs002(p, "STS-1", T, "ACSC")).Message);
        Assert.Equal((p.Uetr, "ACSC", (string?)null, "MSG-1", p.Amount), (accepted.Uetr, accepted.Status, accepted.ReasonCode, accepted.OriginalMessageId!, accepted.OriginalAmount!.Value));

        var rejected = Assert.IsType<StatusReportMessage>(IsoParser.Parse(IsoWriter.Pacs002(p, "STS-2", T, "RJCT", "AC04")).Message);
        Assert.Equal(("RJCT", "AC04"), (rejected.Status, rejected.ReasonCode));
    }

    [Fact]
    public void Camt054_round_trips_through_the_parser()
    {
        var p = Instruction();
        var n = Assert.IsType<NotificationMessage>(IsoParser.Parse(IsoWriter.Camt054(p, "NTF-1", T, "acct-bob")).Message);
        var tx = Assert.Single(n.Transactions);
        Assert.Equal(new NotificationTransaction("acct-bob", null, "CRDT", "BOOK", p.Amount, p.Uetr, p.EndToEndId), tx);
    }

    [Fact]
    public void Generated_camt054_is_valid_against_the_iso_base_schema()
    {
        var validator = new IsoSchemaValidator(IsoData.SchemaDirectory);
        var report = validator.Validate(IsoWriter.Camt054(Instruction(), "NTF-1", T, "acct-bob"));
        Assert.True(report.Outcome == SchemaOutcome.Valid, report.ToString());
    }

    [Fact]
    public void Generated_pacs008_in_version_09_is_valid_against_the_iso_base_schema()
    {
        var validator = new IsoSchemaValidator(IsoData.SchemaDirectory);
        var report = validator.Validate(IsoWriter.Pacs008(Instruction(), "001.09"));
        Assert.True(report.Outcome == SchemaOutcome.Valid, report.ToString());
    }

    [Fact]
    public void Generated_pacs002_in_version_11_is_valid_against_the_iso_base_schema()
    {
        var validator = new IsoSchemaValidator(IsoData.SchemaDirectory);
        var report = validator.Validate(IsoWriter.Pacs002(Instruction(), "STS-1", T, "RJCT", "AC04", "001.11"));
        Assert.True(report.Outcome == SchemaOutcome.Valid, report.ToString());
    }
}
