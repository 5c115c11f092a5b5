using Escrow.Projections;
using Npgsql;

namespace Escrow.Silo.Projections;

/// <summary>Which silo pulls a projection's queue now.</summary>
/// <param name="Lease"><c>projection:{name}</c>, the queue of projection <c>name</c>.</param>
/// <param name="SiloId">The Orleans silo address of the silo whose pulling agent reads it.</param>
/// <param name="Since">When that silo's queue receiver started (the moment it took the queue over).</param>
public sealed record LeaseHolder(string Lease, string SiloId, DateTimeOffset Since);

/// <summary>
/// The event log's stream queues, one per projection (<see cref="ProjectionCatalog"/>), as operators see them. Orleans's
/// queue balancer decides which silo pulls which queue; each receiver writes its silo into
/// <c>projection_checkpoints.pulled_by</c> when it starts (sql/022) so that <c>escrow silos</c>, <c>GET /silos</c> and the
/// dashboard can say who pulls what without asking every silo. Information only, never a lock.
/// </summary>
public static class ProjectionQueues
{
    /// <summary>The name operators use for projection <paramref name="name"/>'s queue: <c>projection:{name}</c>.</summary>
    public static string Projection(string name) => "projection:" + name;

    /// <summary>Every queue of this build, by operator name.</summary>
    public static IReadOnlyList<string> Known { get; } = [.. ProjectionCatalog.All().Select(p => Projection(p.Name))];

    /// <summary>
    /// The queues pulled now by silos that Orleans's membership table lists as active, by name. A queue whose last puller
    /// died and whose new owner has not started yet is absent.
    /// </summary>
    public static async Task<IReadOnlyList<LeaseHolder>> ListAsync(NpgsqlDataSource dataSource, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(
            """
            SELECT c.projection, c.pulled_by, c.pulled_since FROM projection_checkpoints c
            WHERE c.pulled_by IS NOT NULL AND EXISTS (
                SELECT 1 FROM orleans_membership m
                WHERE m.status = 3 AND m.address || ':' || m.port || '@' || m.generation = c.pulled_by)
            ORDER BY c.projection
            """);
        var list = new List<LeaseHolder>();
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false))
            list.Add(new LeaseHolder(Projection(r.GetString(0)), r.GetString(1), r.GetFieldValue<DateTimeOffset>(2)));
        return list;
    }

    /// <summary>Records that silo <paramref name="siloId"/> pulls projection <paramref name="name"/>'s queue from now on.</summary>
    internal static async Task MarkPulledAsync(NpgsqlDataSource dataSource, string name, string siloId, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(
            """
            INSERT INTO projection_checkpoints (projection, pulled_by, pulled_since) VALUES ($1, $2, clock_timestamp())
            ON CONFLICT (projection) DO UPDATE SET pulled_by = EXCLUDED.pulled_by, pulled_since = EXCLUDED.pulled_since
            """);
        cmd.Parameters.Add(new() { Value = name });
        cmd.Parameters.Add(new() { Value = siloId });
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Writes <paramref name="siloId"/> again if the record names anyone else or no one: while the balancers of silos that
    /// joined together briefly disagree, a second silo may start the same queue's receiver (overwriting the record) and stop
    /// it (clearing its own entry), leaving the queue pulled by a silo the record does not name. Changes nothing otherwise.
    /// </summary>
    internal static async Task ReassertPulledAsync(NpgsqlDataSource dataSource, string name, string siloId, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(
            "UPDATE projection_checkpoints SET pulled_by = $2, pulled_since = clock_timestamp() WHERE projection = $1 AND pulled_by IS DISTINCT FROM $2");
        cmd.Parameters.Add(new() { Value = name });
        cmd.Parameters.Add(new() { Value = siloId });
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    /// <summary>Clears the record of <see cref="MarkPulledAsync"/> if it still names <paramref name="siloId"/> (a clean stop).</summary>
    internal static async Task UnmarkPulledAsync(NpgsqlDataSource dataSource, string name, string siloId, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(
            "UPDATE projection_checkpoints SET pulled_by = NULL, pulled_since = NULL WHERE projection = $1 AND pulled_by = $2");
        cmd.Parameters.Add(new() { Value = name });
        cmd.Parameters.Add(new() { Value = siloId });
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }
}
