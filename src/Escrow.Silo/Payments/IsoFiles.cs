using System.Globalization;
using System.Text.RegularExpressions;

namespace Escrow.Silo.Payments;

/// <summary>
/// Orders a directory of ISO 20022 message files for replay. Files named like the Fedwire 2025 samples
/// (<c>{Flow}_{Scenario|Variation}{n}[_Step{k}]_{message}</c>) are grouped by scenario (flow names compared without case:
/// <c>Paymentreturn</c> = <c>PaymentReturn</c>) and replayed by step, a head.001 before the document it describes; the
/// other files of a directory form one group, in name order.
/// </summary>
public static partial class IsoFiles
{
    [GeneratedRegex(@"^(?<flow>[A-Za-z]+)_(?<kind>Scenario|Variation)(?<n>\d+)(_Step(?<step>\d+))?_(?<msg>.+)$")]
    private static partial Regex FedwireName();

    /// <summary>The scenario a file belongs to (<c>customercredittransfer/scenario1</c>), or null for a file not named like a scenario step.</summary>
    public static string? ScenarioOf(string fileName)
    {
        var m = FedwireName().Match(fileName);
        return m.Success ? $"{m.Groups["flow"].Value.ToLowerInvariant()}/{m.Groups["kind"].Value.ToLowerInvariant()}{m.Groups["n"].Value}" : null;
    }

    private static (int Step, int HeaderFirst, string Name) OrderOf(string fileName)
    {
        var m = FedwireName().Match(fileName);
        var step = m.Success && m.Groups["step"].Success ? int.Parse(m.Groups["step"].Value, CultureInfo.InvariantCulture) : 1;
        return (step, m.Success && m.Groups["msg"].Value.StartsWith("head.001", StringComparison.Ordinal) ? 0 : 1, fileName);
    }

    /// <summary>Every regular file under <paramref name="directory"/> (recursively), grouped (scenario, else directory) and ordered for replay.</summary>
    public static IReadOnlyList<(string Group, IReadOnlyList<string> Files)> Groups(string directory) =>
        Directory.EnumerateFiles(directory, "*", SearchOption.AllDirectories)
            .Where(f => !Path.GetFileName(f).StartsWith('.') && !f.EndsWith(".xsd", StringComparison.OrdinalIgnoreCase) && !f.EndsWith(".md", StringComparison.OrdinalIgnoreCase))
            .GroupBy(f => ScenarioOf(Path.GetFileName(f)) is { } s
                ? Path.GetRelativePath(directory, Path.GetDirectoryName(f)!).Replace('\\', '/') + ":" + s
                : Path.GetRelativePath(directory, Path.GetDirectoryName(f)!).Replace('\\', '/'))
            .OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => (g.Key, (IReadOnlyList<string>)g.OrderBy(f => OrderOf(Path.GetFileName(f))).ToList()))
            .ToList();
}
