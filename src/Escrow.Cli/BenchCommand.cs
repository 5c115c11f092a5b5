using System.CommandLine;

namespace Escrow.Cli;

/// <summary><c>escrow bench</c> (placeholder until the benchmark lands).</summary>
internal static class BenchCommand
{
    public static void Add(RootCommand root)
    {
        _ = root;
    }
}
