using System.CommandLine;

namespace Escrow.Cli;

/// <summary><c>escrow import berka &lt;dir&gt;</c> (placeholder until the importer lands).</summary>
internal static class BerkaCommand
{
    public static void Add(RootCommand root)
    {
        _ = root;
    }
}
