using Escrow.Domain.Iso20022;
using Xunit.Abstractions;

namespace Escrow.Domain.Tests.Iso20022;

public class IsoSchemaValidatorTests(ITestOutputHelper output)
{
    private static readonly Lazy<IsoSchemaValidator> Validator = new(() => new IsoSchemaValidator(IsoData.SchemaDirectory));

    [Fact]
    public void Loads_the_five_iso_base_schemas() =>
        Assert.Equal(["camt.054.001.08", "camt.056.001.09", "pacs.002.001.11", "pacs.004.001.10", "pacs.008.001.09"], Validator.Value.Definitions);

    [Fact]
    public void Samples_whose_version_has_a_base_schema_are_validated_and_the_others_reported_not_validated()
    {
        var validated = new List<string>();
        foreach (var file in IsoData.AllMessageFiles())
        {
            var report = Validator.Value.Validate(IsoData.Read(file));
            output.WriteLine($"{file}: {report}");
            Assert.NotEqual(SchemaOutcome.Malformed, report.Outcome);
            var parsed = IsoParser.Parse(IsoData.Read(file)).Message!;
            var hasSchema = Validator.Value.Definitions.Contains(parsed.Info.Definition);
            if (!hasSchema)
            {
                Assert.Equal(SchemaOutcome.NotValidated, report.Outcome);
                Assert.Contains($"no schema for version {parsed.Info.Definition}", report.ToString(), StringComparison.Ordinal);
                continue;
            }
            Assert.True(report.Outcome == SchemaOutcome.Valid, $"{file}: {report}");
            validated.Add(file);
        }
        // pacs.004.001.10 (two Fedwire returns) and camt.054.001.08 (CBPR+) match a base schema.
        Assert.Equal(
            ["cbpr-usage-rules/camt054_credit_notification_sample.xml", "fedwire-2025/PaymentReturn_Scenario1_Step4_pacs.004", "fedwire-2025/PaymentReturn_Scenario4_Step2_pacs.004"],
            validated);
    }

    [Fact]
    public void A_message_violating_its_schema_is_invalid()
    {
        var xml = IsoData.Read("fedwire-2025/PaymentReturn_Scenario4_Step2_pacs.004")
            .Replace("<RtrdIntrBkSttlmAmt Ccy=\"USD\">2234578.88</RtrdIntrBkSttlmAmt>", "<RtrdIntrBkSttlmAmt Ccy=\"usd\">lots</RtrdIntrBkSttlmAmt>", StringComparison.Ordinal);
        var report = Validator.Value.Validate(xml);
        Assert.Equal(SchemaOutcome.Invalid, report.Outcome);
        Assert.NotEmpty(report.Errors);
    }

    [Fact]
    public void Malformed_input_is_reported_not_thrown() =>
        Assert.Equal(SchemaOutcome.Malformed, Validator.Value.Validate("<Document").Outcome);
}
