namespace Escrow.Testing;

/// <summary>
/// The real input data (../shared/data/SOURCES.md): <c>$ESCROW_DATA_DIR</c>, else <c>../shared/data</c> next to the
/// repository. Never committed into the project.
/// </summary>
public static class TestData
{
    /// <summary>The data root.</summary>
    public static string Root
    {
        get
        {
            var root = Environment.GetEnvironmentVariable("ESCROW_DATA_DIR");
            if (!string.IsNullOrEmpty(root)) return Path.GetFullPath(root);
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Orleans.Escrow.sln"))) dir = dir.Parent;
            return Path.GetFullPath(dir is null ? "/work/shared/data" : Path.Combine(dir.FullName, "..", "shared", "data"));
        }
    }

    /// <summary><paramref name="folder"/> under the data root; throws naming the path when <paramref name="marker"/> is not in it.</summary>
    public static string Folder(string folder, string marker, string what)
    {
        var path = Path.Combine(Root, folder);
        if (!Path.Exists(Path.Combine(path, marker)))
            throw new InvalidOperationException($"{what} is not at {path}; set ESCROW_DATA_DIR");
        return path;
    }
}
