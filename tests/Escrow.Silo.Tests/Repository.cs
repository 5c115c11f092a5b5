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

    /// <summary>
    /// Runs the built <c>escrow</c> CLI with <paramref name="args"/> against <paramref name="db"/> (its application and owner
    /// connection strings in the environment), in <paramref name="workDir"/> when given; waits at most
    /// <paramref name="timeout"/>. Returns the exit code and every line of output (standard error prefixed <c>stderr: </c>).
    /// </summary>
    public static async Task<(int Code, IReadOnlyList<string> Lines)> RunEscrowAsync(Escrow.Testing.PgDatabase db, TimeSpan timeout, string? workDir, params string[] args)
    {
        var psi = new System.Diagnostics.ProcessStartInfo("dotnet", [BuiltProgram("Escrow.Cli", "escrow.dll"), .. args])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        if (workDir is not null) psi.WorkingDirectory = workDir;
        psi.Environment["Escrow__ConnectionString"] = db.AppConnectionString;
        psi.Environment["Escrow__OwnerConnectionString"] = db.OwnerConnectionString;
        var lines = new System.Collections.Concurrent.ConcurrentQueue<string>();
        using var process = new System.Diagnostics.Process { StartInfo = psi };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lines.Enqueue(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lines.Enqueue("stderr: " + e.Data); };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using (var cts = new CancellationTokenSource(timeout))
            await process.WaitForExitAsync(cts.Token);
        process.WaitForExit();   // the output is drained
        return (process.ExitCode, [.. lines]);
    }
}
