using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;
using Escrow.Domain.Iso20022;
using Escrow.Domain.Payments;
using FsCheck;
using FsCheck.Fluent;
using static Escrow.Domain.Tests.Payments.PaymentSpec;

namespace Escrow.Domain.Tests.Payments;

/// <summary>
/// Invariants of the payment aggregate on random command sequences drawn from a pool that covers every
/// command, right and wrong (repeats, conflicts, out-of-order messages, over-returns, expired quotes).
/// </summary>
public class PaymentProperties
{
    private static readonly string[] StableCodes = typeof(PaymentRejectionCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static).Select(f => (string)f.GetValue(null)!).ToArray();

    private static readonly PaymentCommand[] Pool =
    [
        new RequestQuote(U, "USD", "EUR", 1000m, At(0)),
        new GenerateQuote(U, "q1", "fxp-a", 0.92m, 0.002m, At(10), At(1)),
        new GenerateQuote(U, "q2", "fxp-b", 0.93m, 0.001m, At(30), At(1)),
        new SelectQuote(U, "q1", At(5)),
        new SelectQuote(U, "q1", At(20)), // expired
        new SelectQuote(U, "q2", At(20)),
        new RequestProxyResolution(U, "MOBILE", "+49", At(3)),
        new ResolveProxy(U, "Bob", "CRED-1", "021040078", At(4)),
        new FailProxyResolution(U, "unknown", At(4)),
        new InitiatePayment(Pacs008(), At(5)),
        new InitiatePayment(Pacs008(amount: 999m, msgId: "other"), At(5)),
        new ValidatePayment(U, null, At(6)),
        new ValidatePayment(U, "sanctions", At(6)),
        new ForwardPayment(U, "021040078", At(7)),
        new ReportStatus(Pacs002("ACSC"), At(8)),
        new ReportStatus(Pacs002("RJCT", "AC04"), At(8)),
        new ReportStatus(Pacs002("ACSP"), At(8)),
        new ReportStatus(Pacs002("ACSC", original: Usd(5m)), At(8)),
        new CompletePayment(U, Usd(1000m), "N1", At(9)),
        new NotifyFxp(U, At(10)),
        new NotifySender(U, At(10)),
        new RequestReturn(Camt056(), At(10)),
        new RequestReturn(Camt056("CASE-2"), At(10)),
        new AnswerReturn(Camt029("CNCL"), At(11)),
        new AnswerReturn(Camt029("RJCR"), At(11)),
        new AnswerReturn(Camt029("PECR"), At(11)),
        new ReturnPayment(Pacs004(400m, returnId: "R1"), At(12)),
        new ReturnPayment(Pacs004(600m, returnId: "R2"), At(12)),
        new ReturnPayment(Pacs004(700m, returnId: "R3"), At(12)),
        new ReturnPayment(Pacs004(1000m, "EUR", returnId: "R4"), At(12)),
    ];

    private static readonly Arbitrary<int[]> Scripts = Arb.From(Gen.ArrayOf(Gen.Choose(0, Pool.Length - 1)));

    private static void Holds(Action<PaymentState, PaymentCommand, Decision, PaymentState> step) =>
        Check.One(
            Config.QuickThrowOnFailure.WithMaxTest(500).WithQuietOnSuccess(true),
            Prop.ForAll(Scripts, script =>
            {
                var state = PaymentState.Empty(U);
                foreach (var i in script)
                {
                    var command = Pool[i];
                    var decision = Payment.Decide(state, command);
                    var after = decision.Events.Aggregate(state, (s, e) => Payment.Evolve(s, e.Event));
                    step(state, command, decision, after);
                    state = after;
                }
            }));

    private static void Require(bool condition, string what)
    {
        if (!condition)
            throw new InvalidOperationException(what);
    }

    [Fact]
    public void Rejections_use_stable_codes_and_events_go_to_the_uetr_stream() => Holds((_, command, d, _) =>
    {
        Require(!d.IsRejected || StableCodes.Contains(d.Rejection!.Code), $"{command}: unstable code {d.Rejection}");
        Require(d.Events.All(e => e.StreamId == U), $"{command}: event on another stream");
    });

    [Fact]
    public void Returned_never_exceeds_paid_and_only_grows() => Holds((before, command, _, after) =>
    {
        Require(after.ReturnedAmount >= before.ReturnedAmount, $"{command}: returned amount shrank");
        Require(after.ReturnedAmount == 0 || after.ReturnedAmount <= after.Instruction!.Amount, $"{command}: returned {after.ReturnedAmount} > paid");
        Require(after.Status != PaymentStatus.Returned || after.ReturnedAmount == after.Instruction!.Amount, $"{command}: Returned but not all of it");
    });

    [Fact]
    public void Settlement_and_rejection_are_final() => Holds((before, command, _, after) =>
    {
        Require(!before.IsSettled || after.IsSettled, $"{command}: un-settled a payment");
        Require(before.Status != PaymentStatus.Rejected || after.Status == PaymentStatus.Rejected, $"{command}: left Rejected");
        Require(before.Instruction is null || after.Instruction == before.Instruction, $"{command}: changed the instruction");
    });

    [Fact]
    public void Repeating_an_accepted_command_appends_nothing() => Holds((_, command, d, after) =>
    {
        if (d.IsRejected || d.Events.Count == 0)
            return;
        var again = Payment.Decide(after, command);
        Require(again.Events.Count == 0, $"{command} repeated produced {string.Join(", ", again.Events)}");
    });

    [Fact]
    public void Every_payment_event_round_trips_through_the_event_store_json()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web) { Converters = { new JsonStringEnumConverter() } };
        var events = new List<object>();
        var state = PaymentState.Empty(U);
        PaymentCommand[] happy =
        [
            Pool[0], Pool[1], Pool[3], Pool[6], Pool[7], Pool[9], Pool[11], Pool[13], Pool[14], Pool[18], Pool[19], Pool[20], Pool[21], Pool[23], Pool[26],
        ];
        foreach (var c in happy)
        {
            var d = Payment.Decide(state, c);
            Assert.False(d.IsRejected, $"{c}: {d.Rejection}");
            events.AddRange(d.Events.Select(e => e.Event));
            state = d.Events.Aggregate(state, (s, e) => Payment.Evolve(s, e.Event));
        }
        events.Add(new ProxyResolutionFailed(U, "x", At(1)));
        events.Add(new PaymentValidationFailed(U, "x", At(1)));
        events.Add(new PaymentRejected(U, "AC04", "text", "m", At(1)));
        events.Add(new PaymentCompleted(U, "m", At(1)));
        events.Add(new ReturnAnswered(U, "c", "CNCL", null, "m", At(1)));
        Assert.Equal(18, events.Select(e => e.GetType()).Distinct().Count());
        foreach (var e in events)
        {
            var json = JsonSerializer.Serialize(e, e.GetType(), options);
            var back = JsonSerializer.Deserialize(json, EventRegistry.ForType(e.GetType()).Type, options);
            Assert.Equal(e, back);
        }
        Assert.Equal(PaymentStatus.PartiallyReturned, state.Status);
    }

    [Fact]
    public void Generated_messages_drive_a_payment_to_completion_through_the_import()
    {
        var p = new PaymentInstruction("MSG-9", At(0), U, "E2E-9", Usd(250.5m), new DateOnly(2026, 4, 13),
            new Party("Alice", "A-1"), new Agent("BANKUS33", null), new Party("Bob", "B-1"), new Agent("BANKGB2L", null));
        var state = PaymentState.Empty(U);
        foreach (var xml in new[] { IsoWriter.Pacs008(p), IsoWriter.Pacs002(p, "STS-9", At(1), "ACSC"), IsoWriter.Camt054(p, "NTF-9", At(2), "B-1") })
        {
            var message = IsoParser.Parse(xml).Message!;
            foreach (var command in PaymentImport.Commands(message, message.Info.CreatedAt!.Value).Commands)
            {
                var d = Payment.Decide(state, command);
                Assert.False(d.IsRejected, d.Rejection?.ToString());
                state = d.Events.Aggregate(state, (s, e) => Payment.Evolve(s, e.Event));
            }
        }
        Assert.Equal(PaymentStatus.Completed, state.Status);
        Assert.Equal(3, state.Version);
    }
}
