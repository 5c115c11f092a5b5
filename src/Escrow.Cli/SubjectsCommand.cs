using System.CommandLine;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Spectre.Console;

namespace Escrow.Cli;

/// <summary>
/// <c>escrow subjects erase|hold|release|show ID --institution I [--reason R] [--url URL]</c>: data subjects (GDPR art. 17,
/// docs/compliance.md) through the HTTP API of a running silo (root key from <c>Escrow__RootApiKey</c>) or of one started in
/// this process. Each change is sent once with an Idempotency-Key, so it is audited like any request; the answer is printed
/// as JSON. Exit 0 on 2xx, 1 on a refusal (a legal hold, an open dispute), with the problem printed.
/// </summary>
internal static class SubjectsCommand
{
    public static void Add(RootCommand root)
    {
        var subjects = new Command("subjects", "Data subjects: erase personal data (crypto-shredding), legal holds.");
        foreach (var (name, description, path) in new[]
        {
            ("erase", "Erase the subject's personal data: record PersonalDataErased and destroy its key (idempotent).", "erasure"),
            ("hold", "Place a legal hold: erasure is refused until it is released (--reason required).", "legal-hold"),
            ("release", "Release the subject's legal hold.", "legal-hold/release"),
            ("show", "Show the subject's legal hold and erasure.", null),
        })
        {
            var id = new Argument<string>("subject") { Description = "The subject id (the institution's opaque reference, e.g. cust-42)" };
            var institution = new Option<string>("--institution") { Description = "The institution the subject belongs to", Required = true };
            var reason = new Option<string?>("--reason") { Description = "Why (kept in clear: no personal data)" };
            var url = new Option<string?>("--url") { Description = "Base address of a running silo (root key from Escrow__RootApiKey); default: an in-process silo" };
            var cmd = new Command(name, description) { id, institution, reason, url };
            var route = path;
            cmd.SetAction(async (pr, ct) => await RunAsync(pr.GetValue(id)!, pr.GetValue(institution)!, route, pr.GetValue(reason), pr.GetValue(url), ct));
            subjects.Subcommands.Add(cmd);
        }
        root.Subcommands.Add(subjects);
    }

    private static async Task<int> RunAsync(string subject, string institution, string? route, string? reason, string? url, CancellationToken ct)
    {
        await using var silo = await CliSilo.StartAsync(url, m => AnsiConsole.MarkupLine($"[grey]{Markup.Escape(m)}[/]"), ct);
        using var request = new HttpRequestMessage(route is null ? HttpMethod.Get : HttpMethod.Post,
            $"subjects/{Uri.EscapeDataString(subject)}{(route is null ? "" : "/" + route)}");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", silo.RootKey);
        request.Headers.Add("X-Escrow-Tenant", institution);
        if (route is not null)
        {
            request.Headers.Add("Idempotency-Key", $"cli-subjects-{Guid.NewGuid():N}");
            request.Content = new StringContent(JsonSerializer.Serialize(new { reason }), Encoding.UTF8, "application/json");
        }
        using var response = await silo.Http.SendAsync(request, ct);
        var body = await response.Content.ReadAsStringAsync(ct);
        Console.WriteLine(body);
        if (response.IsSuccessStatusCode) return 0;
        await Console.Error.WriteLineAsync($"{(int)response.StatusCode} {response.ReasonPhrase}");
        return 1;
    }
}
