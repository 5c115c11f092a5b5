using Escrow.Domain;
using Escrow.Domain.Iso20022;
using Escrow.Domain.Payments;
using Escrow.EventStore;
using Escrow.Projections;

namespace Escrow.Testing;

/// <summary>
/// Just enough of a payment host for read-model tests: folds each UETR's state, runs the pure
/// <see cref="Payment.Decide"/> and appends the events to stream <c>payment-{uetr}</c> (type <c>payment</c>, the
/// given tenant) through <see cref="PgEventStore"/> with the expected version. Every event's <c>occurred_at</c> is
/// the command's instant. A rejected decision fails the test.
/// </summary>
public sealed class PaymentSeeder(PgEventStore store)
{
    private readonly Dictionary<string, (long Version, byte[] Hash)> _heads = new(StringComparer.Ordinal);
    public Dictionary<string, PaymentState> States { get; } = new(StringComparer.Ordinal);

    /// <summary>The name each event is stored under, from its current name (default: that name; a test of old data maps it back).</summary>
    public Func<string, string> StoredName { get; init; } = name => name;

    /// <summary>Decides and appends; answers the number of events appended (0 for an idempotent no-op).</summary>
    public async Task<int> RunAsync(PaymentCommand command, string tenant, string actor = "payments-desk")
    {
        var state = States.GetValueOrDefault(command.Uetr) ?? PaymentState.Empty(command.Uetr);
        var decision = Payment.Decide(state, command);
        if (decision.IsRejected) throw new InvalidOperationException($"{command.GetType().Name} for {command.Uetr} rejected: {decision.Rejection}");
        if (decision.Events.Count == 0) return 0;
        var stream = PaymentStreams.StreamId(tenant, command.Uetr);
        var head = _heads.GetValueOrDefault(stream, (0, HashChain.Genesis));
        var events = decision.Events.Select(pe =>
        {
            var (type, schema, json) = EventSerializer.Serialize(pe.Event);
            return new NewEvent(StoredName(type), schema, json, new EventMetadata(Guid.NewGuid(), Guid.NewGuid(), null, actor, tenant, null), command.At);
        }).ToList();
        var heads = await store.AppendAsync(
            [new StreamAppend(stream, Payment.StreamType, tenant, ExpectedVersion.Exactly(head.Item1), head.Item2, events)], null, null, default);
        foreach (var (id, h) in heads) _heads[id] = (h.Version, h.LastHash);
        States[command.Uetr] = decision.Events.Aggregate(state, (s, e) => Payment.Evolve(s, e.Event));
        return events.Count;
    }

    /// <summary>
    /// Imports one ISO 20022 message like the silo would (parser → <see cref="PaymentImport"/>), each command at
    /// <paramref name="at"/>, else at the message's creation time (whole seconds in the samples). Answers the events appended.
    /// </summary>
    public async Task<int> ImportAsync(string xml, string tenant, DateTimeOffset? at = null, string actor = "iso-import")
    {
        var parsed = IsoParser.Parse(xml);
        if (!parsed.IsSuccess) throw new InvalidOperationException($"parse error {parsed.Error}");
        var m = parsed.Message!;
        var plan = PaymentImport.Commands(m, at ?? m.Info.CreatedAt ?? m.Info.Header?.CreatedAt ?? DateTimeOffset.UnixEpoch);
        var n = 0;
        foreach (var c in plan.Commands) n += await RunAsync(c, tenant, actor);
        return n;
    }

    /// <summary>A parsed pacs.008 written by <see cref="IsoWriter"/> (debtor agent → creditor agent, settlement amount and currency).</summary>
    public static (PaymentInstruction Instruction, CreditTransferMessage Message) Pacs008(
        string uetr, decimal amount, string currency, DateTimeOffset at, string debtorAgent = "BANKUS33XXX", string creditorAgent = "BANKDEFFXXX",
        string creditorAccount = "DE89370400440532013000")
    {
        var p = new PaymentInstruction("MSG-" + uetr[..8], at, uetr, "E2E-" + uetr[..8], new Money(amount, Currency.Parse(currency)),
            DateOnly.FromDateTime(at.UtcDateTime), new Party("Debtor Ltd", "US-ACC-1"), new Agent(debtorAgent, null),
            new Party("Creditor GmbH", creditorAccount), new Agent(creditorAgent, null));
        var parsed = IsoParser.Parse(IsoWriter.Pacs008(p));
        return (p, (CreditTransferMessage)(parsed.Message ?? throw new InvalidOperationException($"parse error {parsed.Error}")));
    }

    /// <summary>A parsed pacs.002 for <paramref name="original"/> with <paramref name="status"/> (ACSC, RJCT + reason).</summary>
    public static StatusReportMessage Pacs002(PaymentInstruction original, DateTimeOffset at, string status, string? reason = null) =>
        (StatusReportMessage)IsoParser.Parse(IsoWriter.Pacs002(original, "STS-" + original.Uetr[..8] + status, at, status, reason)).Message!;

    /// <summary>A straight-through payment: pacs.008 at <paramref name="initiated"/>, validated, forwarded, ACSC, then camt.054 at <paramref name="completed"/>.</summary>
    public async Task CompletedAsync(string uetr, decimal amount, string currency, DateTimeOffset initiated, DateTimeOffset completed, string tenant)
    {
        var (p, m) = Pacs008(uetr, amount, currency, initiated);
        await RunAsync(new InitiatePayment(m, initiated), tenant);
        await RunAsync(new ValidatePayment(uetr, null, initiated), tenant);
        await RunAsync(new ForwardPayment(uetr, p.CreditorAgent.Id, initiated), tenant);
        await RunAsync(new ReportStatus(Pacs002(p, completed, "ACSC"), completed), tenant);
        await ImportAsync(IsoWriter.Camt054(p, "NTF-" + uetr[..8], completed, "DE89370400440532013000"), tenant, completed, "camt054");
    }

    /// <summary>Quote, select (<paramref name="rate"/> from FXP <paramref name="fxp"/>) before the payment.</summary>
    public async Task QuotedAsync(string uetr, string source, string target, decimal amount, decimal rate, string fxp, DateTimeOffset at, string tenant)
    {
        await RunAsync(new RequestQuote(uetr, source, target, amount, at), tenant, "sender");
        await RunAsync(new GenerateQuote(uetr, "q-" + fxp, fxp, rate, 0.002m, at.AddMinutes(5), at), tenant, fxp);
        await RunAsync(new SelectQuote(uetr, "q-" + fxp, at), tenant, "sender");
    }
}

/// <summary>The real ISO 20022 samples: $ESCROW_DATA_DIR/iso20022, else ../shared/data/iso20022 next to the repository.</summary>
public static class IsoSamples
{
    /// <summary>The UETR every Fedwire 2025 sample uses (the scenarios reuse it).</summary>
    public const string FedwireUetr = "8a562c67-ca16-48ba-b074-65581be6f011";

    public static string Root => TestData.Folder("iso20022", "fedwire-2025", "the ISO 20022 samples");

    /// <summary>
    /// A Fedwire sample with its UETR replaced by <paramref name="uetr"/>: the scenarios all reuse one UETR, so a
    /// test that keeps several of them in one database gives each its own.
    /// </summary>
    public static string Fedwire(string file, string uetr) =>
        File.ReadAllText(Path.Combine(Root, "fedwire-2025", file)).Replace(FedwireUetr, uetr, StringComparison.Ordinal);
}
