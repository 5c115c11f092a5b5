using Npgsql;

namespace Escrow.EventStore;

/// <summary>
/// Runs a write batch as one implicit transaction on a connection of its own and tells the two ways it can fail without
/// an answer apart: the connection could not be opened (the driver's exception: nothing was sent, nothing written) or
/// the batch was sent and its answer lost (<see cref="WriteOutcomeUnknownException"/>: it may have committed). A
/// <see cref="PostgresException"/> is PostgreSQL's own answer (the transaction rolled back) and passes through.
/// </summary>
public static class OutcomeAwareWrites
{
    public static async Task ExecuteAsync(NpgsqlDataSource dataSource, Action<NpgsqlBatch> fill, CancellationToken ct)
    {
        var connection = await dataSource.OpenConnectionAsync(ct).ConfigureAwait(false);
        await using var connectionScope = connection.ConfigureAwait(false);
        var batch = connection.CreateBatch();
        await using var batchScope = batch.ConfigureAwait(false);
        fill(batch);
        try
        {
            await batch.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not PostgresException and not OperationCanceledException)
        {
            throw new WriteOutcomeUnknownException(ex);
        }
    }
}
