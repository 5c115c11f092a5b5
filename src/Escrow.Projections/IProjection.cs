using Escrow.EventStore;
using Npgsql;

namespace Escrow.Projections;

/// <summary>
/// A read model fed from the global log. <see cref="ApplyAsync"/> runs inside the runner's transaction,
/// the same one that advances the checkpoint, so a batch is applied exactly once or not at all.
/// </summary>
public interface IProjection
{
    /// <summary>Stable name; the key of its checkpoint row and the argument of <c>escrow rebuild</c>.</summary>
    string Name { get; }

    Task ApplyAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, IReadOnlyList<StoredEvent> events, CancellationToken ct);

    /// <summary>
    /// The stream-id prefixes (e.g. <c>deal-</c>) whose events this projection applies; null for every stream. Events of
    /// other streams still move the checkpoint, in the same commit order, but their data and metadata are not fetched
    /// from PostgreSQL, and <see cref="ApplyAsync"/> sees only matching events (a batch may then be empty).
    /// </summary>
    IReadOnlyList<string>? StreamPrefixes => null;

    /// <summary>Deletes every row of the read model (before a rebuild from position 0).</summary>
    Task ResetAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken ct);
}
