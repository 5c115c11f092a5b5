using System.CommandLine;
using Escrow.EventStore;
using Escrow.Silo.Ledger;

namespace Escrow.Cli;

/// <summary>
/// <c>escrow archive</c>: monthly partitions of the events table out to files and back (docs/compliance.md, docs/operations.md).
/// <list type="bullet">
/// <item><c>escrow archive --retention-months N --out DIR</c> (or <c>--before YYYY-MM</c>): every month that ends before the
/// cutoff, oldest first (<see cref="EventArchiver"/>).</item>
/// <item><c>escrow archive list</c>: the partitions attached and the months archived.</item>
/// <item><c>escrow archive restore YYYY-MM --from DIR</c>: a month back from its file (checked against its SHA-256).</item>
/// </list>
/// Runs as the schema owner (<c>Escrow__OwnerConnectionString</c>): it detaches and drops partitions.
/// </summary>
internal static class ArchiveCommand
{
    public static void Add(RootCommand root)
    {
        var retention = new Option<int?>("--retention-months") { Description = "Keep this many whole months before the current one in the database (archive what is older)" };
        var before = new Option<string?>("--before") { Description = "Archive every month before this one (YYYY-MM) instead" };
        var outDir = new Option<string>("--out") { Description = "Directory the month files are written to", Required = true };
        var archive = new Command("archive", "Move months of events older than the retention window to compressed files (events-YYYY-MM.csv.gz), keeping snapshots at each stream's archived head.")
        {
            retention, before, outDir,
        };
        archive.SetAction(async (pr, ct) =>
        {
            var cfg = CliConfig.FromEnvironment();
            var cutoff = pr.GetValue(before) is { } b ? EventArchiver.ParseMonth(b)
                : pr.GetValue(retention) is { } n && n >= 0 ? EventArchiver.RetentionCutoff(TimeProvider.System.GetUtcNow(), n)
                : throw new CliException("give --retention-months N (N ≥ 0) or --before YYYY-MM");
            await using var owner = Npgsql.NpgsqlDataSource.Create(cfg.Owner);
            var done = await EventArchiver.ArchiveBeforeAsync(owner, cutoff, pr.GetValue(outDir)!, "cli", Console.WriteLine, ct);
            foreach (var m in done)
                Console.WriteLine($"archived {m.Month:yyyy-MM}: {m.Events:N0} events of {m.Streams:N0} streams to {m.Path} (SHA-256 {m.Sha256}), {m.SnapshotsKept:N0} snapshots kept at the heads");
            if (done.Count == 0) Console.WriteLine($"nothing to archive before {cutoff:yyyy-MM}");
            return 0;
        });

        var list = new Command("list", "The attached monthly partitions and the archived months.");
        list.SetAction(async (pr, ct) =>
        {
            var cfg = CliConfig.FromEnvironment();
            await using var ds = cfg.DataSource();
            foreach (var p in await new PgEventStore(ds).ListPartitionsAsync(ct))
                Console.WriteLine($"attached {p.Name}: [{p.From:yyyy-MM-dd}, {p.To:yyyy-MM-dd})");
            foreach (var a in await EventArchives.ListAsync(ds, ct))
                Console.WriteLine($"archived {a.Month:yyyy-MM}: {a.FileName} SHA-256 {Convert.ToHexStringLower(a.FileSha256)}, {a.Events:N0} events, {a.Streams:N0} streams, by {a.ArchivedBy} at {a.ArchivedAt:O}");
            return 0;
        });

        var monthArg = new Argument<string>("month") { Description = "The month to put back (YYYY-MM)" };
        var from = new Option<string>("--from") { Description = "Directory holding the month's file", Required = true };
        var restore = new Command("restore", "Put the newest archived month back into the events table from its file (checked against its recorded SHA-256).") { monthArg, from };
        restore.SetAction(async (pr, ct) =>
        {
            var cfg = CliConfig.FromEnvironment();
            var month = EventArchiver.ParseMonth(pr.GetValue(monthArg)!);
            await using var owner = Npgsql.NpgsqlDataSource.Create(cfg.Owner);
            var archived = await EventArchives.ListAsync(owner, ct);
            var record = archived.FirstOrDefault(a => a.Month == month) ?? throw new CliException($"{month:yyyy-MM} is not archived");
            // Newest first: a month below a later archived one would sit under that month's heads, where the checks start.
            if (archived[^1].Month != month)
                throw new CliException($"restore {archived[^1].Month:yyyy-MM} first: archived months come back newest first");
            await using var conn = await owner.OpenConnectionAsync(ct);
            var restored = await EventArchives.RestoreAsync(conn, record, Path.Combine(pr.GetValue(from)!, record.FileName), ct);
            Console.WriteLine($"restored {month:yyyy-MM}: {restored:N0} events");
            return 0;
        });
        archive.Subcommands.Add(list);
        archive.Subcommands.Add(restore);
        root.Subcommands.Add(archive);
    }
}
