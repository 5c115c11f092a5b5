namespace Escrow.Silo.Tests;

/// <summary>The checkout the tests run from, and programs of it built beside them (run as processes of their own).</summary>
internal static class Repository
{
    /// <summary>The directory holding <c>Orleans.Escrow.sln</c>, above the test assembly.</summary>
    public static string Root()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Orleans.Escrow.sln"))) return d.FullName;
        throw new InvalidOperationException("Orleans.Escrow.sln not found above " + AppContext.BaseDirectory);
    }

    /// <summary><c>src/{project}/bin/{Debug|Release, as this test assembly}/net10.0/{dll}</c>; the test fails when it is not built.</summary>
    public static string BuiltProgram(string project, string dll)
    {
        var configuration = AppContext.BaseDirectory.Contains("/bin/Debug/", StringComparison.Ordinal) ? "Debug" : "Release";
        var path = Path.Combine(Root(), "src", project, "bin", configuration, "net10.0", dll);
        Assert.True(File.Exists(path), $"{project} is not built at {path}");
        return path;
    }
}
