namespace Escrow.Domain.Tests.Iso20022;

/// <summary>The real ISO 20022 samples: $ESCROW_DATA_DIR/iso20022, else ../shared/data/iso20022 next to the repository (SOURCES.md).</summary>
internal static class IsoData
{
    public static string Root
    {
        get
        {
            var root = Environment.GetEnvironmentVariable("ESCROW_DATA_DIR");
            if (string.IsNullOrEmpty(root))
            {
                var dir = new DirectoryInfo(AppContext.BaseDirectory);
                while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Orleans.Escrow.sln"))) dir = dir.Parent;
                root = dir is null ? "/work/shared/data" : Path.Combine(dir.FullName, "..", "shared", "data");
            }
            var iso = Path.GetFullPath(Path.Combine(root, "iso20022"));
            if (!Directory.Exists(Path.Combine(iso, "fedwire-2025")))
                throw new InvalidOperationException($"the ISO 20022 samples are not at {iso}; set ESCROW_DATA_DIR");
            return iso;
        }
    }

    public static readonly string[] MessageFolders = ["fedwire-2025", "cbpr-usage-rules", "camt054-postfinance"];

    /// <summary>Every sample message file, as "folder/name", sorted.</summary>
    public static IReadOnlyList<string> AllMessageFiles() =>
        MessageFolders
            .SelectMany(f => Directory.EnumerateFiles(Path.Combine(Root, f)).Select(p => f + "/" + Path.GetFileName(p)))
            .Order(StringComparer.Ordinal)
            .ToList();

    public static string Read(string relative) => File.ReadAllText(Path.Combine(Root, relative));

    public static string SchemaDirectory => Path.Combine(Root, "xsd-iso-base");
}
