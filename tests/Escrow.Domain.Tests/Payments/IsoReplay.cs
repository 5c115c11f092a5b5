using System.Globalization;
using System.Text.RegularExpressions;
using Escrow.Domain.Iso20022;
using Escrow.Domain.Payments;
using Escrow.Domain.Tests.Iso20022;

namespace Escrow.Domain.Tests.Payments;

/// <summary>What happened to one file in a replay.</summary>
internal sealed record FileOutcome(string File, string Message, string Outcome, string? RejectionCode, string? Uetr, PaymentStatus? StatusAfter)
{
    public override string ToString() =>
        $"{File} | {Message} | {Outcome} | {(StatusAfter is { } s ? s.ToString() : "-")}";
}

/// <summary>
/// Replays sample files through parser → <see cref="PaymentImport"/> → <see cref="Payment.Decide"/> /
/// <see cref="Payment.Evolve"/>, keeping one state per UETR (a "store" of one scenario). Every command's instant
/// is the message's creation time (else the header's, else a fixed instant).
/// </summary>
internal sealed class IsoReplay
{
    private static readonly DateTimeOffset Fallback = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public Dictionary<string, PaymentState> States { get; } = new(StringComparer.Ordinal);
    public List<FileOutcome> Outcomes { get; } = [];

    public FileOutcome Apply(string file) => Apply(file, IsoData.Read(file));

    public FileOutcome Apply(string file, string xml)
    {
        var parsed = IsoParser.Parse(xml);
        if (!parsed.IsSuccess)
            return Add(new(file, "(unparsed)", $"parse error {parsed.Error}", parsed.Error!.Code, null, null));
        var m = parsed.Message!;
        var label = m.Info.Definition;
        var plan = PaymentImport.Commands(m, m.Info.CreatedAt ?? m.Info.Header?.CreatedAt ?? Fallback);
        if (plan.Commands.Count == 0)
            return Add(new(file, label, "skipped: " + plan.Skipped, null, null, null));

        var parts = new List<string>();
        string? code = null;
        string? uetr = null;
        foreach (var command in plan.Commands)
        {
            uetr = command.Uetr;
            var state = States.TryGetValue(command.Uetr, out var s) ? s : PaymentState.Empty(command.Uetr);
            var decision = Payment.Decide(state, command);
            if (decision.IsRejected)
            {
                code ??= decision.Rejection!.Code;
                parts.Add("rejected " + decision.Rejection);
                continue;
            }
            if (decision.Events.Count == 0)
            {
                parts.Add("no-op (already applied)");
                continue;
            }
            States[command.Uetr] = decision.Events.Aggregate(state, (st, e) => Payment.Evolve(st, e.Event));
            parts.Add("applied " + string.Join(" + ", decision.Events.Select(e => EventRegistry.ForType(e.Event.GetType()).Name)));
        }
        return Add(new(file, label, string.Join("; ", parts), code, uetr, uetr is not null && States.TryGetValue(uetr, out var after) ? after.Status : null));
    }

    private FileOutcome Add(FileOutcome o)
    {
        Outcomes.Add(o);
        return o;
    }

    // ----- Fedwire scenario naming -----

    private static readonly Regex Name = new(@"^(?<flow>[A-Za-z]+)_(?<kind>Scenario|Variation)(?<n>\d+)(_Step(?<step>\d+))?_(?<msg>.+)$");

    /// <summary>"customercredittransfer/scenario1" (flow names are case-insensitive: Paymentreturn = PaymentReturn).</summary>
    public static string ScenarioOf(string fileName)
    {
        var m = Name.Match(fileName);
        if (!m.Success)
            throw new InvalidOperationException($"not a Fedwire scenario name: {fileName}");
        return $"{m.Groups["flow"].Value.ToLowerInvariant()}/{m.Groups["kind"].Value.ToLowerInvariant()}{m.Groups["n"].Value}";
    }

    /// <summary>Replay order inside a scenario: by step, the header before the document it describes, then by name.</summary>
    public static (int Step, int HeaderFirst, string Name) OrderOf(string fileName)
    {
        var m = Name.Match(fileName);
        var step = m.Groups["step"].Success ? int.Parse(m.Groups["step"].Value, CultureInfo.InvariantCulture) : 1;
        return (step, m.Groups["msg"].Value.StartsWith("head.001", StringComparison.Ordinal) ? 0 : 1, fileName);
    }

    /// <summary>The Fedwire files grouped by scenario, each group in replay order.</summary>
    public static IReadOnlyDictionary<string, IReadOnlyList<string>> FedwireScenarios() =>
        IsoData.AllMessageFiles()
            .Where(f => f.StartsWith("fedwire-2025/", StringComparison.Ordinal))
            .GroupBy(f => ScenarioOf(Path.GetFileName(f)))
            .ToDictionary(g => g.Key, g => (IReadOnlyList<string>)g.OrderBy(f => OrderOf(Path.GetFileName(f))).ToList(), StringComparer.Ordinal);
}
