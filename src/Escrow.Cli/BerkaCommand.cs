using System.CommandLine;
using System.Globalization;
using Escrow.Silo.Import;
using Npgsql;
using Spectre.Console;

namespace Escrow.Cli;

/// <summary>
/// <c>escrow import berka &lt;dir&gt; [--report &lt;csv&gt;] [--overdraft &lt;CZK&gt;]</c>: replays the Berka bank's
/// account.asc and trans.asc through the ledger's command path (see <see cref="BerkaImporter"/>).
/// </summary>
internal static class BerkaCommand
{
    public static void Add(RootCommand root)
    {
        var dir = new Argument<string>("dir") { Description = "Folder with account.asc and trans.asc, for example ../shared/data/berka" };
        var report = new Option<string?>("--report") { Description = "Write the transactions whose ledger balance differs from the bank's by more than 0.10 CZK to this CSV file" };
        var overdraft = new Option<decimal>("--overdraft")
        {
            Description = "Overdraft limit of every customer account in CZK (the data's lowest balance is -5,343.70)",
            DefaultValueFactory = _ => new BerkaImportOptions().OverdraftLimit,
        };
        var asyncCommit = new Option<bool>("--async-commit")
        {
            Description = "Commit the import's own sessions with synchronous_commit=off (about 40% faster). A PostgreSQL crash " +
                          "during the import may then lose its last commits, events and idempotency records together; run the import again to restore them",
        };
        var berka = new Command("berka", "Import the PKDD'99 Berka bank: open every account, replay every transaction as a posting, reconcile with the bank's balances.")
        {
            dir, report, overdraft, asyncCommit,
        };
        berka.SetAction(async (pr, ct) =>
        {
            var folder = pr.GetValue(dir)!;
            foreach (var file in (string[])["account.asc", "trans.asc"])
                if (!File.Exists(Path.Combine(folder, file)))
                    throw new CliException($"{Path.Combine(folder, file)} does not exist");
            var limit = pr.GetValue(overdraft);
            if (limit < 0 || decimal.Round(limit, 2) != limit)
                throw new CliException($"--overdraft {limit} must be ≥ 0 with at most 2 decimals");

            var cfg = CliConfig.FromEnvironment();
            var cs = new NpgsqlConnectionStringBuilder(cfg.ConnectionString);
            if (cs.MaxAutoPrepare == 0)
            {
                // The import sends the same handful of statements 30,000 times each (idempotency look-up,
                // stream bump, event insert): prepared once per connection they skip PostgreSQL's parse and
                // plan, which measured about 40% of the import's time on the 2-core machine.
                cs.MaxAutoPrepare = 32;
                cs.AutoPrepareMinUsages = 2;
            }
            if (pr.GetValue(asyncCommit))
            {
                // Only this process's sessions: the silo and every other client keep durable commits. Every
                // command's events and its idempotency record share one transaction, so a lost tail is lost
                // whole and the next run re-applies exactly that tail.
                cs.Options = $"{cs.Options} -c synchronous_commit=off".Trim();
            }
            await using var silo = await cfg.StartSiloAsync(ct, cs.ConnectionString);
            var importer = new BerkaImporter(silo.Services.GetRequiredService<Escrow.Silo.Ledger.LedgerService>(),
                new BerkaImportOptions { OverdraftLimit = limit, UnmatchedReportPath = pr.GetValue(report) });

            BerkaImportSummary summary = null!;
            await AnsiConsole.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
                .StartAsync(async p =>
                {
                    var task = p.AddTask("reading files", maxValue: 1);
                    // Spectre's task is thread-safe; the importer reports from its worker threads.
                    var progress = new Progress<BerkaProgress>(e =>
                    {
                        if (e.Total > 0) task.MaxValue = e.Total;
                        task.Value = Math.Min(e.Done, task.MaxValue);
                        task.Description = e.Phase switch
                        {
                            BerkaPhase.Reading => "reading files",
                            BerkaPhase.OpeningChart => "opening the bank's chart",
                            BerkaPhase.Importing => $"importing {e.Day:yyyy-MM-dd}",
                            BerkaPhase.OpeningLaterAccounts => "opening accounts of later years",
                            _ => "done",
                        };
                    });
                    summary = await importer.ImportAsync(folder, progress, ct);
                    task.Value = task.MaxValue;
                    task.Description = "done";
                    task.StopTask();
                });

            AnsiConsole.Write(Table(summary, pr.GetValue(report)));
            return summary.PostingsRejected == 0 && summary.AccountsRejected == 0 ? 0 : 1;
        });

        // Other importers may hang under the same "import" verb: share it rather than declare it twice.
        var import = root.Subcommands.FirstOrDefault(c => c.Name == "import");
        if (import is null)
        {
            import = new Command("import", "Import external data into the ledger.");
            root.Subcommands.Add(import);
        }
        import.Subcommands.Add(berka);
    }

    private static Table Table(BerkaImportSummary s, string? reportPath)
    {
        static string N(int n) => n.ToString("N0", CultureInfo.InvariantCulture);
        var t = new Table().AddColumns("", "value").Title($"Berka import of {Markup.Escape(s.Directory)}");
        t.AddRow("transactions in file", $"{N(s.Transactions)} ({s.FirstDate:yyyy-MM-dd} .. {s.LastDate:yyyy-MM-dd})");
        t.AddRow("accounts in file", N(s.AccountsInFile));
        t.AddRow("accounts opened", N(s.AccountsOpened));
        t.AddRow("accounts already open", N(s.AccountsAlreadyOpen));
        if (s.AccountsRejected > 0) t.AddRow("[red]accounts refused[/]", N(s.AccountsRejected));
        t.AddRow("house accounts opened", N(s.HouseAccountsOpened));
        t.AddRow("overdraft limit", $"{s.OverdraftLimit.ToString("N2", CultureInfo.InvariantCulture)} CZK");
        t.AddRow("postings applied", N(s.PostingsApplied));
        t.AddRow("skipped (already imported)", N(s.PostingsSkipped));
        t.AddRow(s.PostingsRejected > 0 ? "[red]rejected[/]" : "rejected", N(s.PostingsRejected));
        foreach (var (code, n) in s.Rejections)
            t.AddRow($"  {Markup.Escape(code)}", N(n));
        t.AddRow("reconciled: equal to the bank", N(s.Matched));
        t.AddRow("reconciled: within 0.10 CZK", N(s.WithinTolerance));
        t.AddRow("reconciled: unmatched", N(s.Unmatched) + (reportPath is null ? "" : $" (see {Markup.Escape(reportPath)})"));
        t.AddRow("elapsed", $"{s.Elapsed.TotalSeconds.ToString("F1", CultureInfo.InvariantCulture)} s");
        return t;
    }
}
