using System.CommandLine;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Escrow.Domain.Iso20022;
using Escrow.Silo.Payments;
using Spectre.Console;

namespace Escrow.Cli;

/// <summary>
/// <c>escrow payments import &lt;dir&gt;</c>: replays a directory of ISO 20022 messages through <c>POST /payments/messages</c>
/// (the same path any client uses), in replay order (<see cref="IsoFiles"/>: Fedwire-style scenario files by step, every other
/// file by path), and reports every file: message, UETR, what it did (applied, duplicate, skipped, or the refusal's code) and
/// the payment's status after it. With <c>--tenant-per-scenario</c> each scenario is replayed in an institution of its own
/// (several Fedwire scenarios reuse one UETR). Exit code 0 unless a file met a server error or the silo was unreachable;
/// refusals are reported, not failures: they are the source's own content (or a replay into one store).
/// </summary>
internal static class PaymentsCommand
{
    private sealed record Row(string Group, string File, string Message, string? Uetr, string Outcome, string? Detail, int Http, string? StatusAfter);

    public static void Add(RootCommand root)
    {
        var dir = new Argument<DirectoryInfo>("dir") { Description = "Directory of ISO 20022 XML messages (searched recursively)" };
        var url = new Option<string?>("--url") { Description = "Base address of a running silo (root key from Escrow__RootApiKey); default: an in-process silo" };
        var tenant = new Option<string?>("--tenant") { Description = "Institution to import into (default: 'default')" };
        var perScenario = new Option<bool>("--tenant-per-scenario") { Description = "Replay each scenario (file group) in an institution of its own" };
        var report = new Option<FileInfo?>("--report") { Description = "Also write the per-file report as CSV" };
        var import = new Command("import", "Import ISO 20022 messages (pacs.008/002/004, camt.056/029/054, head.001) and report each file's outcome.")
        {
            dir, url, tenant, perScenario, report,
        };
        import.SetAction(async (pr, ct) => await ImportAsync(pr.GetValue(dir)!, pr.GetValue(url), pr.GetValue(tenant), pr.GetValue(perScenario), pr.GetValue(report), ct));
        root.Subcommands.Add(new Command("payments", "Cross-border payments (ISO 20022).") { import });
    }

    private static async Task<int> ImportAsync(DirectoryInfo dir, string? url, string? tenant, bool perScenario, FileInfo? reportFile, CancellationToken ct)
    {
        if (!dir.Exists) throw new CliException($"directory '{dir.FullName}' does not exist");
        var groups = IsoFiles.Groups(dir.FullName);
        await using var silo = await CliSilo.StartAsync(url, m => AnsiConsole.MarkupLine($"[grey]{Markup.Escape(m)}[/]"), ct);
        silo.Http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", silo.RootKey);
        var rows = new List<Row>();
        var serverErrors = 0;
        foreach (var (group, files) in groups)
        {
            var institution = perScenario ? InstitutionFor(group) : tenant ?? "default";
            if (perScenario)
            {
                using var create = await silo.Http.PostAsync("institutions",
                    new StringContent(JsonSerializer.Serialize(new { institutionId = institution, name = "replay of " + group }), Encoding.UTF8, "application/json"), ct);
            }
            foreach (var file in files)
            {
                var xml = await File.ReadAllTextAsync(file, ct);
                var parsed = IsoParser.Parse(xml);
                var label = parsed.Message?.Info.Definition ?? "(unparsed)";
                using var req = new HttpRequestMessage(HttpMethod.Post, "payments/messages") { Content = new StringContent(xml, Encoding.UTF8, "application/xml") };
                req.Headers.Add("X-Escrow-Tenant", institution);
                using var res = await silo.Http.SendAsync(req, ct);
                var status = (int)res.StatusCode;
                if (status >= 500) serverErrors++;
                using var body = JsonDocument.Parse(await res.Content.ReadAsStringAsync(ct) is { Length: > 0 } text ? text : "{}");
                var (outcome, detail, uetr) = Describe(status, body.RootElement, parsed.Message);
                string? after = null;
                if (uetr is not null)
                {
                    using var get = new HttpRequestMessage(HttpMethod.Get, $"payments/{uetr}");
                    get.Headers.Add("X-Escrow-Tenant", institution);
                    using var state = await silo.Http.SendAsync(get, ct);
                    if (state.IsSuccessStatusCode)
                        after = (await JsonDocument.ParseAsync(await state.Content.ReadAsStreamAsync(ct), cancellationToken: ct)).RootElement.GetProperty("status").GetString();
                }
                rows.Add(new Row(group, Path.GetRelativePath(dir.FullName, file), label, uetr, outcome, detail, status, after));
            }
        }

        var table = new Table().Border(TableBorder.Rounded).AddColumns("file", "message", "UETR", "outcome", "status after");
        foreach (var r in rows)
            table.AddRow(Markup.Escape(r.File), Markup.Escape(r.Message), Markup.Escape(r.Uetr ?? "-"), Markup.Escape(r.Outcome), Markup.Escape(r.StatusAfter ?? "-"));
        AnsiConsole.Write(table);
        var counts = rows.GroupBy(r => r.Outcome.Split(' ')[0]).OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => $"{g.Count().ToString(CultureInfo.InvariantCulture)} {g.Key}");
        AnsiConsole.MarkupLine($"{rows.Count.ToString(CultureInfo.InvariantCulture)} files: {Markup.Escape(string.Join(", ", counts))}" +
            (serverErrors > 0 ? $", [red]{serverErrors.ToString(CultureInfo.InvariantCulture)} server errors[/]" : ""));
        if (reportFile is not null)
        {
            var csv = new StringBuilder("group,file,message,uetr,outcome,detail,http,status_after\n");
            foreach (var r in rows)
                csv.AppendLine(string.Join(',', new[] { r.Group, r.File, r.Message, r.Uetr ?? "", r.Outcome, r.Detail ?? "", r.Http.ToString(CultureInfo.InvariantCulture), r.StatusAfter ?? "" }.Select(Csv)));
            await File.WriteAllTextAsync(reportFile.FullName, csv.ToString(), ct);
            AnsiConsole.MarkupLine($"report written to {Markup.Escape(reportFile.FullName)}");
        }
        return serverErrors == 0 ? 0 : 1;
    }

    /// <summary>What a file did, from the silo's answer: a payment (applied or duplicate), an import report (skipped, or per command), or a problem.</summary>
    private static (string Outcome, string? Detail, string? Uetr) Describe(int status, JsonElement body, IsoMessage? message)
    {
        var uetr = body.TryGetProperty("uetr", out var u) ? u.GetString() : Uetr(message);
        if (status >= 400)
            return ($"refused {(body.TryGetProperty("code", out var c) ? c.GetString() : "http " + status.ToString(CultureInfo.InvariantCulture))}",
                body.TryGetProperty("detail", out var d) ? d.GetString() : null, uetr);
        if (body.TryGetProperty("changed", out var changed))
            return (changed.GetBoolean() ? "applied" : "duplicate", changed.GetBoolean() ? null : "already applied; nothing appended", uetr);
        if (body.TryGetProperty("skipped", out var skipped) && skipped.ValueKind == JsonValueKind.String)
            return ("skipped", skipped.GetString(), uetr);
        if (body.TryGetProperty("commands", out var commands))
        {
            var parts = commands.EnumerateArray().Select(x => $"{x.GetProperty("outcome").GetString()} {x.GetProperty("uetr").GetString()}").ToList();
            return ("applied", string.Join("; ", parts), commands.EnumerateArray().Select(x => x.GetProperty("uetr").GetString()).FirstOrDefault());
        }
        return ("answered " + status.ToString(CultureInfo.InvariantCulture), null, uetr);
    }

    private static string? Uetr(IsoMessage? m) => m switch
    {
        CreditTransferMessage x => x.Uetr,
        StatusReportMessage x => x.Uetr,
        PaymentReturnMessage x => x.Uetr,
        CancellationRequestMessage x => x.Uetr,
        ResolutionMessage x => x.Uetr,
        _ => null,
    };

    /// <summary>An institution id (at most 32 of [a-z0-9-]) for a group: <c>r-</c> and the scenario's name, shortened with a hash when long.</summary>
    private static string InstitutionFor(string group)
    {
        var name = group.Contains(':', StringComparison.Ordinal) ? group[(group.IndexOf(':', StringComparison.Ordinal) + 1)..] : Path.GetFileNameWithoutExtension(group);
        var id = new string(name.ToLowerInvariant().Select(ch => char.IsAsciiLetterOrDigit(ch) ? ch : '-').ToArray()).Trim('-');
        if (id.Length > 30)
            id = id[..21] + "-" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(group)))[..8];
        return "r-" + id;
    }

    private static string Csv(string s) => s.Contains(',', StringComparison.Ordinal) || s.Contains('"', StringComparison.Ordinal)
        ? "\"" + s.Replace("\"", "\"\"", StringComparison.Ordinal) + "\""
        : s;
}
