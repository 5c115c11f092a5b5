using Escrow.EventStore;
using Escrow.Silo.Tenancy;

namespace Escrow.Silo.Http;

/// <summary>
/// The events table's monthly partitions and archived months over HTTP (root and auditors; docs/compliance.md):
/// <c>GET /archives</c> answers the partitions attached (name, first and last instant) and every archived month (file,
/// SHA-256, events, streams, global positions, when and by whom). Archiving and restoring are the schema owner's
/// (<c>escrow archive</c>): the silo's role may not detach or make tables.
/// </summary>
public static class ArchiveEndpoints
{
    /// <summary>One archived month as the API shows it (the SHA-256 in lower-case hex).</summary>
    public sealed record ArchivedMonthView(string Month, string FileName, string FileSha256, long Events, long Streams, long? FirstPosition,
        long? LastPosition, DateTimeOffset ArchivedAt, string ArchivedBy);

    /// <summary>The answer of <c>GET /archives</c>.</summary>
    public sealed record ArchivesView(IReadOnlyList<EventPartition> Partitions, IReadOnlyList<ArchivedMonthView> Archived);

    public static void MapArchives(this IEndpointRouteBuilder app)
    {
        app.MapGet("/archives", async (PgEventStore store, CancellationToken ct) =>
        {
            var archived = await EventArchives.ListAsync(store.DataSource, ct);
            return Results.Ok(new ArchivesView(await store.ListPartitionsAsync(ct), [.. archived.Select(a => new ArchivedMonthView(
                a.Month.ToString("yyyy-MM", System.Globalization.CultureInfo.InvariantCulture), a.FileName, Convert.ToHexStringLower(a.FileSha256),
                a.Events, a.Streams, a.FirstPosition, a.LastPosition, a.ArchivedAt, a.ArchivedBy))]));
        }).WithTags("Audit").RequireRoles(Role.Root, Role.Auditor).Produces<ArchivesView>()
          .Doc("getArchives", "The events table's monthly partitions and archived months (root, auditor)",
               "Partitions attached (events_YYYY_MM, [from, to) of recorded_at) and every month archived by escrow archive: its file, the file's " +
               "SHA-256 (publish it with the signed checkpoints), events, streams, global positions. See docs/compliance.md.");
    }
}
