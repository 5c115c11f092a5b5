using Npgsql;
using NpgsqlTypes;

namespace Escrow.EventStore;

// Idempotency and audit records written on their own (outside an append) and the lookup of a stored answer.
public sealed partial class PgEventStore
{
    /// <summary>
    /// The INSERT of one idempotency record, for a batch of the caller's: with the write it answers for, so both commit or
    /// neither. A second record for the same (tenant, key) fails the batch with a unique violation on <c>idempotency_pkey</c>
    /// (an in-flight first one is waited for).
    /// </summary>
    public static NpgsqlBatchCommand IdempotencyInsert(IdempotencyRecord r)
    {
        var c = new NpgsqlBatchCommand(
            "INSERT INTO idempotency (tenant, key, request_hash, status_code, response_body) VALUES ($1, $2, $3, $4, $5)");
        c.Parameters.Add(new() { Value = r.Tenant });
        c.Parameters.Add(new() { Value = r.Key });
        c.Parameters.Add(new() { Value = r.RequestHash });
        c.Parameters.Add(new() { Value = r.StatusCode });
        c.Parameters.Add(new() { Value = r.ResponseBody });
        return c;
    }

    /// <summary>The INSERT of one audit record, for a batch (the append's, or one of its own).</summary>
    public static NpgsqlBatchCommand AuditInsert(AuditRecord a)
    {
        var c = new NpgsqlBatchCommand(
            """
            INSERT INTO audit_log (audit_id, at, actor, tenant, operation, outcome, status, code, payload_sha256, stream_ids, correlation_id, idempotency_key)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
            """);
        c.Parameters.Add(new() { Value = a.AuditId });
        c.Parameters.Add(new() { Value = a.At.ToUniversalTime() });
        c.Parameters.Add(new() { Value = a.Actor });
        c.Parameters.Add(new() { Value = a.Tenant });
        c.Parameters.Add(new() { Value = a.Operation });
        c.Parameters.Add(new() { Value = a.Outcome });
        c.Parameters.Add(new() { Value = a.Status });
        c.Parameters.Add(new() { Value = (object?)a.Code ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
        c.Parameters.Add(new() { Value = a.PayloadSha256 });
        c.Parameters.Add(new() { Value = a.StreamIds.ToArray() });
        c.Parameters.Add(new() { Value = a.CorrelationId });
        c.Parameters.Add(new() { Value = (object?)a.IdempotencyKey ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
        return c;
    }

    /// <summary>Writes one audit record in its own transaction (rejections without a key, refusals, replays).</summary>
    public async Task AppendAuditAsync(AuditRecord audit, CancellationToken ct)
    {
        await OutcomeAwareWrites.ExecuteAsync(DataSource, batch => batch.BatchCommands.Add(AuditInsert(audit)), ct).ConfigureAwait(false);
    }

    private static Exception Translate(PostgresException ex, IdempotencyRecord? idem)
    {
        if (ex.SqlState == "ES409")
        {
            // Npgsql redacts DETAIL unless "Include Error Detail" is on, so the message text carries the facts.
            var m = System.Text.RegularExpressions.Regex.Match(ex.MessageText, @"^wrong expected version for stream (.*): expected (\d+), actual (\d+)$");
            if (m.Success)
                return new WrongExpectedVersionException(m.Groups[1].Value,
                    long.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture),
                    long.Parse(m.Groups[3].Value, System.Globalization.CultureInfo.InvariantCulture));
        }
        if (ex.SqlState == PostgresErrorCodes.UniqueViolation && ex.ConstraintName == "idempotency_pkey" && idem is not null)
            return new IdempotencyKeyTakenException(idem.Tenant, idem.Key);
        return ex;
    }

    /// <summary>
    /// Stores the answer to a rejected command under its idempotency key, in its own transaction, with its
    /// audit record when given (both or neither).
    /// </summary>
    public async Task SaveIdempotencyAsync(IdempotencyRecord record, CancellationToken ct, AuditRecord? audit = null)
    {
        try
        {
            await OutcomeAwareWrites.ExecuteAsync(DataSource, batch =>
            {
                batch.BatchCommands.Add(IdempotencyInsert(record));
                if (audit is not null) batch.BatchCommands.Add(AuditInsert(audit));
            }, ct).ConfigureAwait(false);
        }
        catch (PostgresException ex)
        {
            throw Translate(ex, record);
        }
    }

    public async Task<IdempotencyRecord?> FindIdempotencyAsync(string tenant, string key, CancellationToken ct)
    {
        var cmd = DataSource.CreateCommand(
            "SELECT request_hash, status_code, response_body FROM idempotency WHERE tenant = $1 AND key = $2");
        await using var cmdScope = cmd.ConfigureAwait(false);
        cmd.Parameters.Add(new() { Value = tenant });
        cmd.Parameters.Add(new() { Value = key });
        var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        await using var rScope = r.ConfigureAwait(false);
        if (!await r.ReadAsync(ct).ConfigureAwait(false)) return null;
        return new IdempotencyRecord(tenant, key, (byte[])r[0], r.GetInt32(1), r.GetString(2));
    }
}
