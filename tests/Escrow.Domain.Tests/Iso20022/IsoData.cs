namespace Escrow.Domain.Tests.Iso20022;

/// <summary>The real ISO 20022 samples: $ESCROW_DATA_DIR/iso20022, else ../shared/data/iso20022 next to the repository (SOURCES.md).</summary>
internal static class IsoData
{
    public static string Root => Escrow.Testing.TestData.Folder("iso20022", "fedwire-2025", "the ISO 20022 samples");

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
