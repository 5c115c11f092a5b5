using System.Text;
using Escrow.Domain.Payments;
using Escrow.Domain.Tests.Iso20022;
using Xunit.Abstractions;

namespace Escrow.Domain.Tests.Payments;

public class IsoReplayTests(ITestOutputHelper output)
{
    private const string FedwireUetr = "8a562c67-ca16-48ba-b074-65581be6f011";

    /// <summary>
    /// The state each Fedwire scenario's name implies: a CustomerCreditTransfer scenario ends with its pacs.002
    /// (ACSC accepted, Scenario2's RJCT E433 rejected), a Variation is a lone pacs.008 (initiated), a PaymentReturn
    /// ends with its pacs.004 (Scenario1 returns 151,000.74 of 1,510,000.74 after a DUPL recall answered CNCL:
    /// partially returned; Scenario4 returns everything, AC04: returned).
    /// </summary>
    public static readonly Dictionary<string, PaymentStatus> Expected = new(StringComparer.Ordinal)
    {
        ["customercredittransfer/scenario1"] = PaymentStatus.Accepted,
        ["customercredittransfer/scenario2"] = PaymentStatus.Rejected,
        ["customercredittransfer/scenario3"] = PaymentStatus.Accepted,
        ["customercredittransfer/scenario4"] = PaymentStatus.Accepted,
        ["customercredittransfer/scenario5"] = PaymentStatus.Accepted,
        ["customercredittransfer/variation1"] = PaymentStatus.Initiated,
        ["customercredittransfer/variation2"] = PaymentStatus.Initiated,
        ["customercredittransfer/variation3"] = PaymentStatus.Initiated,
        ["paymentreturn/scenario1"] = PaymentStatus.PartiallyReturned,
        ["paymentreturn/scenario4"] = PaymentStatus.Returned,
    };

    public static TheoryData<string> Scenarios() => new(IsoReplay.FedwireScenarios().Keys.Order(StringComparer.Ordinal));

    [Theory]
    [MemberData(nameof(Scenarios))]
    public void Each_fedwire_scenario_replays_to_the_state_its_name_implies(string scenario)
    {
        var replay = new IsoReplay();
        foreach (var file in IsoReplay.FedwireScenarios()[scenario])
        {
            var o = replay.Apply(file);
            output.WriteLine(o.ToString());
            Assert.Null(o.RejectionCode);
        }
        var state = Assert.Single(replay.States).Value;
        Assert.Equal(FedwireUetr, state.Uetr);
        Assert.Equal(Expected[scenario], state.Status);
    }

    [Fact]
    public void Every_scenario_has_an_expectation() =>
        Assert.Equal(Expected.Keys.Order(StringComparer.Ordinal), IsoReplay.FedwireScenarios().Keys.Order(StringComparer.Ordinal));

    [Fact]
    public void Fedwire_details_survive_the_replay()
    {
        var rejected = new IsoReplay();
        foreach (var f in IsoReplay.FedwireScenarios()["customercredittransfer/scenario2"])
            rejected.Apply(f);
        Assert.Equal("E433", rejected.States[FedwireUetr].RejectionReason);

        var recalled = new IsoReplay();
        foreach (var f in IsoReplay.FedwireScenarios()["paymentreturn/scenario1"])
            recalled.Apply(f);
        var s = recalled.States[FedwireUetr];
        Assert.Equal((ReturnRequestStatus.Cancelled, "DUPL", 151000.74m, 1510000.74m), (s.ReturnRequest, s.ReturnReason, s.ReturnedAmount, s.Instruction!.Amount));

        // Step 2 of Scenario 1 is the same pacs.008 delivered on to Bank B: an idempotent no-op.
        var cct = new IsoReplay();
        var outcomes = IsoReplay.FedwireScenarios()["customercredittransfer/scenario1"].Select(cct.Apply).ToList();
        Assert.Contains(outcomes, o => o.File.EndsWith("Step2_pacs.008", StringComparison.Ordinal) && o.Outcome.StartsWith("no-op", StringComparison.Ordinal));
    }

    [Fact]
    public void Two_scenarios_with_the_same_uetr_in_one_state_detect_the_conflict()
    {
        var replay = new IsoReplay();
        foreach (var f in IsoReplay.FedwireScenarios()["customercredittransfer/scenario1"])
            replay.Apply(f);

        // Scenario 3's pacs.008 is byte-identical to Scenario 1's: a no-op, nothing appended.
        var identical = replay.Apply("fedwire-2025/CustomerCreditTransfer_Scenario3_Step1_pacs.008");
        Assert.StartsWith("no-op", identical.Outcome, StringComparison.Ordinal);
        Assert.Equal(PaymentStatus.Accepted, identical.StatusAfter);

        // Scenario 2's pacs.008 reuses the UETR with another message id and end-to-end id: refused, naming the UETR.
        var different = replay.Apply("fedwire-2025/CustomerCreditTransfer_Scenario2_Step1_pacs.008");
        Assert.Equal(PaymentRejectionCodes.UetrConflict, different.RejectionCode);
        Assert.Contains(FedwireUetr, different.Outcome, StringComparison.Ordinal);

        // and its RJCT cannot undo Scenario 1's settlement.
        var status = replay.Apply("fedwire-2025/CustomerCreditTransfer_Scenario2_Step2_pacs.002");
        Assert.Equal(PaymentRejectionCodes.PaymentAlreadySettled, status.RejectionCode);
        Assert.Equal(PaymentStatus.Accepted, replay.States[FedwireUetr].Status);
        Assert.Equal(2 + 2 - 2, replay.States[FedwireUetr].Version); // initiated + accepted only
    }

    [Fact]
    public void Scenario4_redelivery_with_another_agent_display_name_is_the_same_content()
    {
        var replay = new IsoReplay();
        replay.Apply("fedwire-2025/CustomerCreditTransfer_Scenario4_Step1_pacs.008");
        var o = replay.Apply("fedwire-2025/CustomerCreditTransfer_Scenario4_Step2_pacs.008");
        Assert.StartsWith("no-op", o.Outcome, StringComparison.Ordinal);
    }

    /// <summary>
    /// The per-file report: every sample file (Fedwire per scenario, one state each; CBPR+ and PostFinance each in
    /// their own state) → message → outcome → state reached. Written to the test output directory as
    /// <c>iso20022-replay-report.md</c>; asserts every file is covered exactly once.
    /// </summary>
    [Fact]
    public void Report_covers_every_sample_file()
    {
        var outcomes = new List<(string Group, FileOutcome Outcome)>();
        foreach (var (scenario, files) in IsoReplay.FedwireScenarios().OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            var replay = new IsoReplay();
            outcomes.AddRange(files.Select(f => (scenario, replay.Apply(f))));
        }
        foreach (var file in IsoData.AllMessageFiles().Where(f => !f.StartsWith("fedwire-2025/", StringComparison.Ordinal)))
            outcomes.Add((file.Split('/')[0], new IsoReplay().Apply(file)));

        var report = new StringBuilder()
            .AppendLine("# ISO 20022 sample replay")
            .AppendLine()
            .AppendLine("| group | file | message | outcome | state reached |")
            .AppendLine("|---|---|---|---|---|");
        foreach (var (group, o) in outcomes)
            report.AppendLine($"| {group} | {Path.GetFileName(o.File)} | {o.Message} | {o.Outcome.Replace('|', '/')} | {(o.StatusAfter?.ToString() ?? "-")} |");
        report.AppendLine()
            .AppendLine($"files: {outcomes.Count}; applied: {outcomes.Count(o => o.Outcome.Outcome.StartsWith("applied", StringComparison.Ordinal))}; " +
                        $"no-op: {outcomes.Count(o => o.Outcome.Outcome.StartsWith("no-op", StringComparison.Ordinal))}; " +
                        $"skipped: {outcomes.Count(o => o.Outcome.Outcome.StartsWith("skipped", StringComparison.Ordinal))}; " +
                        $"rejected: {outcomes.Count(o => o.Outcome.RejectionCode is not null)}; " +
                        $"parse errors: {outcomes.Count(o => o.Outcome.Outcome.StartsWith("parse error", StringComparison.Ordinal))}");

        // The same Fedwire files replayed into ONE store (one state per UETR), scenario after scenario: the reused
        // UETR 8a562c67-... meets other content and is refused, identical content is a no-op.
        var shared = new IsoReplay();
        var sharedOutcomes = IsoReplay.FedwireScenarios().OrderBy(kv => kv.Key, StringComparer.Ordinal).SelectMany(kv => kv.Value).Select(shared.Apply).ToList();
        report.AppendLine()
            .AppendLine("## All Fedwire scenarios into one store")
            .AppendLine()
            .AppendLine("| file | message | outcome | state reached |")
            .AppendLine("|---|---|---|---|");
        foreach (var o in sharedOutcomes.Where(o => !o.Outcome.StartsWith("skipped", StringComparison.Ordinal)))
            report.AppendLine($"| {Path.GetFileName(o.File)} | {o.Message} | {o.Outcome.Replace('|', '/')} | {(o.StatusAfter?.ToString() ?? "-")} |");
        report.AppendLine()
            .AppendLine($"one store: {sharedOutcomes.Count(o => o.RejectionCode is not null)} rejected ({string.Join(", ", sharedOutcomes.Where(o => o.RejectionCode is not null).GroupBy(o => o.RejectionCode).Select(g => $"{g.Key} ×{g.Count()}"))}), " +
                        $"{sharedOutcomes.Count(o => o.Outcome.StartsWith("no-op", StringComparison.Ordinal))} no-op; final state {shared.States[FedwireUetr].Status}");

        var text = report.ToString();
        var path = Path.Combine(AppContext.BaseDirectory, "iso20022-replay-report.md");
        File.WriteAllText(path, text);
        output.WriteLine(path);
        output.WriteLine(text);

        Assert.Equal(IsoData.AllMessageFiles(), outcomes.Select(o => o.Outcome.File).Order(StringComparer.Ordinal));
        Assert.DoesNotContain(outcomes, o => o.Outcome.Outcome.StartsWith("parse error", StringComparison.Ordinal));
        // Fedwire never rejects inside a scenario; the only rejections are the CBPR+ status, return and notification
        // whose UETRs have no pacs.008 in the sample set (a status for an unknown UETR).
        Assert.All(outcomes.Where(o => o.Outcome.RejectionCode is not null), o =>
        {
            Assert.StartsWith("cbpr-usage-rules/", o.Outcome.File, StringComparison.Ordinal);
            Assert.Equal(PaymentRejectionCodes.UnknownUetr, o.Outcome.RejectionCode);
        });
        Assert.Contains(sharedOutcomes, o => o.RejectionCode == PaymentRejectionCodes.UetrConflict && o.Outcome.Contains(FedwireUetr, StringComparison.Ordinal));
        Assert.Contains(sharedOutcomes, o => o.File.EndsWith("Scenario3_Step1_pacs.008", StringComparison.Ordinal) && o.Outcome.StartsWith("no-op", StringComparison.Ordinal));
    }
}
