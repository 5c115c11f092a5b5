using System.CommandLine;
using System.Globalization;
using Escrow.Cli;
using Escrow.EventStore;
using Escrow.Projections;
using Escrow.Silo;
using Escrow.Silo.Http;
using Escrow.Silo.Ledger;
using Escrow.Silo.Tenancy;
using Spectre.Console;

var root = new RootCommand("escrow: the event-sourced ledger's command-line tool. Connection settings come from " +
                           "Escrow__ConnectionString (application role) and Escrow__OwnerConnectionString (schema owner).");

var migrate = new Command("migrate", "Apply the SQL migrations of sql/ (as the schema owner); a no-op when up to date.");
migrate.SetAction(async (_, ct) =>
{
    var cfg = CliConfig.FromEnvironment();
    var applied = await Migrator.MigrateAsync(cfg.Owner, ct);
    Console.WriteLine(applied.Count == 0 ? "schema is up to date" : $"applied {string.Join(", ", applied)}");
    return 0;
});
root.Subcommands.Add(migrate);

var urls = new Option<string>("--urls") { Description = "HTTP address(es) to listen on", DefaultValueFactory = _ => "http://127.0.0.1:5080" };
var serve = new Command("serve", "Run a silo: the Orleans runtime with the account, deal and payment grains, the HTTP frontend, projection runners.") { urls };
serve.SetAction(async (pr, ct) =>
{
    var app = SiloHost.Build(["--urls", pr.GetValue(urls)!]);
    await app.RunAsync(ct);
    return 0;
});
root.Subcommands.Add(serve);

var accountArg = new Argument<string>("account-id") { Description = "Account id, for example berka-576" };
var institutionOption = new Option<string>("--institution")
{
    Description = "The institution whose account it is (account ids are per institution; the Berka import uses 'default')",
    DefaultValueFactory = _ => CommandRequests.DefaultTenant,
};
var atOption = new Option<string?>("--at") { Description = "ISO 8601 instant, e.g. 1993-03-15T14:47:00Z (default: now)" };
var fromEvents = new Option<bool>("--from-events") { Description = "Answer by replaying the stream from its first event (the audit path, ignoring snapshots) instead of the statement index" };
var balance = new Command("balance", "Print an account's balance, now or as of an instant.") { accountArg, institutionOption, atOption, fromEvents };
balance.SetAction(async (pr, ct) =>
{
    var cfg = CliConfig.FromEnvironment();
    await using var silo = await cfg.StartSiloAsync(ct);
    var queries = silo.Services.GetRequiredService<LedgerQueries>();
    DateTimeOffset? at = null;
    if (pr.GetValue(atOption) is { } text)
    {
        if (!DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var t))
            throw new CliException($"'--at {text}' is not an ISO 8601 instant");
        at = t;
    }
    var b = await queries.BalanceAsync(Tenants.Id(pr.GetValue(institutionOption), "--institution"), pr.GetValue(accountArg)!, at, pr.GetValue(fromEvents) ? BalanceSource.Genesis : BalanceSource.Statement, ct)
        ?? throw new CliException($"account '{pr.GetValue(accountArg)}' of '{pr.GetValue(institutionOption)}' does not exist{(at is null ? "" : $" at {at:O}")}");
    Console.WriteLine($"{b.AccountId}  {b.Balance.ToString(CultureInfo.InvariantCulture)} {b.Currency}  as of {(b.At?.ToString("O") ?? "now")}  (version {b.Version}, from {b.Source})");
    return 0;
});
root.Subcommands.Add(balance);

var statement = new Command("statement", "Print an account's statement with the running balance.") { accountArg, institutionOption };
statement.SetAction(async (pr, ct) =>
{
    var cfg = CliConfig.FromEnvironment();
    await using var silo = await cfg.StartSiloAsync(ct);
    var queries = silo.Services.GetRequiredService<LedgerQueries>();
    var table = new Table().AddColumns("version", "occurred at", "posting", "kind", "counterparty", "amount", "balance");
    long after = 0;
    while (true)
    {
        var page = await queries.StatementAsync(Tenants.Id(pr.GetValue(institutionOption), "--institution"), pr.GetValue(accountArg)!, after, 1000, ct);
        foreach (var l in page.Lines)
            table.AddRow(l.Version.ToString(CultureInfo.InvariantCulture), l.OccurredAt.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture),
                Markup.Escape(l.PostingId), l.Kind, Markup.Escape(l.Counterparty), l.Amount.ToString(CultureInfo.InvariantCulture),
                l.BalanceAfter.ToString(CultureInfo.InvariantCulture));
        if (page.NextAfterVersion is not { } next) break;
        after = next;
    }
    AnsiConsole.Write(table);
    return 0;
});
root.Subcommands.Add(statement);

var checkpointOption = new Option<string?>("--checkpoint") { Description = "Also prove that the log still holds exactly what this signed checkpoint file saw (escrow checkpoint create)" };
var publicKeyOption = new Option<string?>("--public-key") { Description = "The checkpoint signer's public key (PEM); without it the key named in the file is used, which proves integrity but not who signed" };
var archiveOption = new Option<string?>("--archive") { Description = "Directory of the archived months' files (escrow archive): check them against their recorded SHA-256 and replay them first" };
var verify = new Command("verify", "Check every hash chain, zero-sum per currency, and that read models equal a replay of the log.") { checkpointOption, publicKeyOption, archiveOption };
verify.SetAction(async (pr, ct) =>
{
    var cfg = CliConfig.FromEnvironment();
    await using var ds = cfg.DataSource();
    var store = new PgEventStore(ds);
    var checkpointOk = pr.GetValue(checkpointOption) is not { } file || await CheckpointCommand.VerifyAsync(store, file, pr.GetValue(publicKeyOption), ct);
    var report = await LedgerVerifier.RunAsync(store, ct, archiveDirectory: pr.GetValue(archiveOption));
    foreach (var line in report.Lines) Console.WriteLine(line);
    var ok = report.Ok && checkpointOk;
    Console.WriteLine(ok ? "verify: OK" : "verify: FAILED");
    return ok ? 0 : 1;
});
root.Subcommands.Add(verify);
root.Subcommands.Add(CheckpointCommand.Build());

var projectionArg = new Argument<string>("projection") { Description = $"One of: {string.Join(", ", ProjectionCatalog.All().Select(p => p.Name))}" };
var rebuild = new Command("rebuild", "Empty a read model and rebuild it from position 0.") { projectionArg };
rebuild.SetAction(async (pr, ct) =>
{
    var cfg = CliConfig.FromEnvironment();
    var name = pr.GetValue(projectionArg)!;
    var projection = ProjectionCatalog.All().FirstOrDefault(p => p.Name == name)
        ?? throw new CliException($"unknown projection '{name}'; known: {string.Join(", ", ProjectionCatalog.All().Select(p => p.Name))}");
    await using var ds = cfg.DataSource();
    if (await EventArchives.ListAsync(ds, ct) is { Count: > 0 } archived)
        throw new CliException($"{archived.Count} months of events are archived ({archived[0].Month:yyyy-MM} first): a rebuild from position 0 would " +
                               "miss them. Put them back first: escrow archive restore MONTH --from DIR (for each), then rebuild.");
    var runner = new ProjectionRunner(new PgEventStore(ds), projection, new ProjectionRunnerOptions { BatchSize = 2000 });
    var started = System.Diagnostics.Stopwatch.GetTimestamp();
    await runner.ResetAsync(ct);
    long applied = 0;
    await AnsiConsole.Progress().StartAsync(async p =>
    {
        var task = p.AddTask($"rebuilding {name}", maxValue: double.MaxValue);
        task.IsIndeterminate = true;
        applied = await runner.CatchUpToHeadAsync(TimeSpan.FromMinutes(10), new Progress<long>(n => task.Description = $"rebuilding {name}: {n:N0} events"), ct);
        task.StopTask();
    });
    var seconds = System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds;
    Console.WriteLine($"rebuilt {name} from position 0: {applied:N0} events applied in {seconds:N2} s ({applied / Math.Max(seconds, 1e-3):N0} events/s)");
    return 0;
});
root.Subcommands.Add(rebuild);

BerkaCommand.Add(root);
TenancyCommands.Add(root);
BenchCommand.Add(root);
DemoCommand.Add(root);
PaymentsCommand.Add(root);
SubjectsCommand.Add(root);
ArchiveCommand.Add(root);
ClusterCommands.Add(root);

try
{
    // The default handler would print a CliException as an unhandled stack trace; the catches below print one line.
    return await root.Parse(args).InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (CliException ex)
{
    Console.Error.WriteLine($"escrow: {ex.Message}");
    return 2;
}
catch (BadRequestException ex)
{
    Console.Error.WriteLine($"escrow: {ex.Message}");
    return 2;
}
catch (MigrationChecksumException ex)
{
    Console.Error.WriteLine($"escrow: {ex.Message}");
    return 2;
}
