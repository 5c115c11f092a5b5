using System.Text.RegularExpressions;

namespace Escrow.Domain.Tests;

/// <summary>
/// The README and docs/ hold together: every relative link names a file that exists (and, with an anchor, a heading
/// that exists in it), every document in docs/ is linked from the README, and the README stays short.
/// </summary>
public partial class DocumentationTests
{
    private static readonly string Root = FindRoot();

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Orleans.Escrow.sln"))) return dir.FullName;
        throw new InvalidOperationException("Orleans.Escrow.sln not found above " + AppContext.BaseDirectory);
    }

    public static TheoryData<string> Documents()
    {
        var data = new TheoryData<string> { "README.md" };
        foreach (var f in Directory.GetFiles(Path.Combine(Root, "docs"), "*.md").Order(StringComparer.Ordinal))
            data.Add(Path.GetRelativePath(Root, f).Replace('\\', '/'));
        return data;
    }

    [Theory]
    [MemberData(nameof(Documents))]
    public void Every_relative_link_names_an_existing_file_and_heading(string document)
    {
        var path = Path.Combine(Root, document);
        var broken = new List<string>();
        foreach (Match m in Link().Matches(WithoutCode(File.ReadAllText(path))))
        {
            var target = m.Groups[1].Value;
            if (Uri.TryCreate(target, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" or "mailto") continue;
            var hash = target.IndexOf('#', StringComparison.Ordinal);
            var file = hash < 0 ? target : target[..hash];
            var anchor = hash < 0 ? null : target[(hash + 1)..];
            var resolved = file.Length == 0 ? path : Path.GetFullPath(Path.Combine(Path.GetDirectoryName(path)!, file));
            if (!File.Exists(resolved) && !Directory.Exists(resolved)) { broken.Add($"{target}: no such file"); continue; }
            if (anchor is not null && !Anchors(resolved).Contains(anchor)) broken.Add($"{target}: no heading #{anchor}");
        }
        Assert.True(broken.Count == 0, $"{document}: {string.Join("; ", broken)}");
    }

    [Fact]
    public void Every_document_in_docs_is_linked_from_the_readme_and_the_readme_stays_under_10_KB()
    {
        var readme = File.ReadAllText(Path.Combine(Root, "README.md"));
        foreach (var f in Directory.GetFiles(Path.Combine(Root, "docs"), "*.md"))
            Assert.Contains($"](docs/{Path.GetFileName(f)}", readme, StringComparison.Ordinal);
        Assert.True(new FileInfo(Path.Combine(Root, "README.md")).Length <= 10 * 1024, "README.md is over 10 KB");
    }

    /// <summary>GitHub's anchors of a markdown file's headings (lower case, punctuation dropped, spaces to hyphens).</summary>
    private static HashSet<string> Anchors(string markdownFile)
    {
        var anchors = new HashSet<string>(StringComparer.Ordinal);
        foreach (Match h in Heading().Matches(WithoutCode(File.ReadAllText(markdownFile))))
            anchors.Add(NotSlug().Replace(h.Groups[1].Value.Trim().ToLowerInvariant(), "").Replace(' ', '-'));
        return anchors;
    }

    /// <summary>The text without fenced code blocks (a <c>#</c> comment there is not a heading, a bracket not a link).</summary>
    private static string WithoutCode(string markdown) => Fence().Replace(markdown, "");

    [GeneratedRegex(@"\[[^\]]+\]\(([^)\s]+)\)")]
    private static partial Regex Link();

    [GeneratedRegex(@"^#{1,6} (.+)$", RegexOptions.Multiline)]
    private static partial Regex Heading();

    [GeneratedRegex(@"[^\w\- ]")]
    private static partial Regex NotSlug();

    [GeneratedRegex(@"^```.*?^```", RegexOptions.Multiline | RegexOptions.Singleline)]
    private static partial Regex Fence();
}
