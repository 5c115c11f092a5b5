using System.Globalization;
using System.IO.Compression;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;
using Npgsql;

namespace Escrow.EventStore;

/// <summary>One archived month (table <c>event_archives</c>, migration 025).</summary>
public sealed record EventArchive(DateOnly Month, string FileName, byte[] FileSha256, long Events, long Streams, long? FirstPosition, long? LastPosition,
    DateTimeOffset ArchivedAt, string ArchivedBy);

/// <summary>
/// The file format of archived months and how to write, read and restore it. A month's events are written by
/// <c>COPY … TO STDOUT (FORMAT csv, HEADER)</c> in global-position order, in UTC, gzip-compressed, to
/// <c>events-YYYY-MM.csv.gz</c>: RFC 4180 CSV with PostgreSQL's own text forms (bytea as <c>\x…</c> hex, timestamptz as
/// <c>2026-12-08 01:27:55.478064+00</c>, jsonb as PostgreSQL prints it, which is what the hashes were computed over), so
/// the file can be checked with standard tools and restored byte for byte with <c>COPY … FROM</c>.
/// </summary>
public static class EventArchives
{
    /// <summary>The columns of an archive file, in order (the events table's).</summary>
    public const string Columns =
        "global_position, transaction_id, stream_id, version, event_id, event_type, schema_version, data, metadata, occurred_at, recorded_at, prev_hash, hash";

    /// <summary><c>events-YYYY-MM.csv.gz</c>.</summary>
    public static string FileName(DateOnly month) => $"events-{month:yyyy-MM}.csv.gz";

    /// <summary>The partition of a month: <c>events_YYYY_MM</c>.</summary>
    public static string PartitionName(DateOnly month) => $"events_{month:yyyy_MM}";

    /// <summary>Every archived month, oldest first.</summary>
    public static async Task<IReadOnlyList<EventArchive>> ListAsync(NpgsqlDataSource dataSource, CancellationToken ct)
    {
        var cmd = dataSource.CreateCommand(
            "SELECT month, file_name, file_sha256, events, streams, first_position, last_position, archived_at, archived_by FROM event_archives ORDER BY month");
        await using var cmdScope = cmd.ConfigureAwait(false);
        var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        await using var rScope = r.ConfigureAwait(false);
        var list = new List<EventArchive>();
        while (await r.ReadAsync(ct).ConfigureAwait(false))
            list.Add(new EventArchive(DateOnly.FromDateTime(r.GetDateTime(0)), r.GetString(1), (byte[])r[2], r.GetInt64(3), r.GetInt64(4),
                r.IsDBNull(5) ? null : r.GetInt64(5), r.IsDBNull(6) ? null : r.GetInt64(6),
                new DateTimeOffset(r.GetDateTime(7), TimeSpan.Zero), r.GetString(8)));
        return list;
    }

    /// <summary>
    /// Writes the events of partition <paramref name="partition"/> to <paramref name="path"/> (through a temporary file,
    /// renamed when complete) and answers the file's SHA-256 and the number of events written. Runs inside the caller's
    /// transaction on <paramref name="conn"/> (its session settings are set for that transaction only).
    /// </summary>
    public static async Task<(byte[] Sha256, long Events)> ExportAsync(NpgsqlConnection conn, string partition, string path, CancellationToken ct)
    {
        var tz = new NpgsqlCommand("SET LOCAL TimeZone = 'UTC'; SET LOCAL DateStyle = 'ISO, YMD'; SET LOCAL bytea_output = 'hex'", conn);
        await using (tz.ConfigureAwait(false))
            await tz.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        var temp = path + ".part";
        {
            var file = File.Create(temp);
            await using var fileScope = file.ConfigureAwait(false);
            var gzip = new GZipStream(file, CompressionLevel.Optimal);
            await using var gzipScope = gzip.ConfigureAwait(false);
            var writer = new StreamWriter(gzip, new UTF8Encoding(false));
            await using var writerScope = writer.ConfigureAwait(false);
            using var export = await conn.BeginTextExportAsync(
                $"COPY (SELECT {Columns} FROM {Quote(partition)} ORDER BY global_position) TO STDOUT (FORMAT csv, HEADER)", ct).ConfigureAwait(false);
            var buffer = new char[64 * 1024];
            int n;
            while ((n = await export.ReadAsync(buffer.AsMemory(), ct).ConfigureAwait(false)) > 0)
                await writer.WriteAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false);
        }
        File.Move(temp, path, overwrite: true);
        var events = 0L;
        await foreach (var _ in ReadAsync(path, null, ct).ConfigureAwait(false)) events++;
        return (await Sha256Async(path, ct).ConfigureAwait(false), events);
    }

    /// <summary>The SHA-256 of a file.</summary>
    public static async Task<byte[]> Sha256Async(string path, CancellationToken ct)
    {
        var stream = File.OpenRead(path);
        await using var scope = stream.ConfigureAwait(false);
        return await SHA256.HashDataAsync(stream, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// The events of an archive file in its order (global position). <paramref name="aliases"/> maps a stored stream id to the id
    /// it is read under (streams written before ids were per institution), as the event store does.
    /// </summary>
    public static async IAsyncEnumerable<StoredEvent> ReadAsync(string path, IReadOnlyDictionary<string, string>? aliases,
        [EnumeratorCancellation] CancellationToken ct)
    {
        var file = File.OpenRead(path);
        await using var fileScope = file.ConfigureAwait(false);
        var gzip = new GZipStream(file, CompressionMode.Decompress);
        await using var gzipScope = gzip.ConfigureAwait(false);
        using var reader = new StreamReader(gzip, Encoding.UTF8);
        var header = await ReadRecordAsync(reader, ct).ConfigureAwait(false);
        if (header is null || string.Join(", ", header) != Columns)
            throw new InvalidDataException($"{path} is not an events archive (its header is not '{Columns}')");
        while (await ReadRecordAsync(reader, ct).ConfigureAwait(false) is { } f)
        {
            if (f.Count != 13) throw new InvalidDataException($"{path}: a record has {f.Count} fields, not 13");
            var stored = f[2];
            yield return new StoredEvent(
                long.Parse(f[0], CultureInfo.InvariantCulture), ulong.Parse(f[1], CultureInfo.InvariantCulture),
                aliases is not null && aliases.TryGetValue(stored, out var alias) ? alias : stored,
                long.Parse(f[3], CultureInfo.InvariantCulture), f[5], int.Parse(f[6], CultureInfo.InvariantCulture), f[7], f[8],
                Timestamp(f[9]), Timestamp(f[10]), Bytea(f[11]), Bytea(f[12])) { StoredStreamId = stored };
        }
    }

    /// <summary>
    /// Puts an archived month back: checks the file against its recorded SHA-256, makes the month's partition again, copies
    /// the file into it (positions, transaction ids and hashes as they were) and forgets the archive record, in one
    /// transaction of <paramref name="conn"/> (the schema owner's). Answers the events restored.
    /// </summary>
    public static async Task<long> RestoreAsync(NpgsqlConnection conn, EventArchive archive, string path, CancellationToken ct)
    {
        if (!(await Sha256Async(path, ct).ConfigureAwait(false)).AsSpan().SequenceEqual(archive.FileSha256))
            throw new InvalidDataException($"{path} is not the file archived for {archive.Month:yyyy-MM} (its SHA-256 differs from the one recorded)");
        var tx = await conn.BeginTransactionAsync(ct).ConfigureAwait(false);
        await using var txScope = tx.ConfigureAwait(false);
        var forget = new NpgsqlBatch(conn, tx);
        await using (forget.ConfigureAwait(false))
        {
            foreach (var sql in new[] { "DELETE FROM archived_stream_heads WHERE month = $1", "DELETE FROM event_archives WHERE month = $1" })
            {
                var c = new NpgsqlBatchCommand(sql);
                c.Parameters.Add(new() { Value = archive.Month });
                forget.BatchCommands.Add(c);
            }
            await forget.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
        var make = new NpgsqlCommand("SELECT create_event_partition($1)", conn, tx);
        await using (make.ConfigureAwait(false))
        {
            make.Parameters.Add(new() { Value = archive.Month });
            if (await make.ExecuteScalarAsync(ct).ConfigureAwait(false) is not true)
                throw new InvalidOperationException($"the partition of {archive.Month:yyyy-MM} exists already");
        }
        ulong copied;
        {
            var file = File.OpenRead(path);
            await using var fileScope = file.ConfigureAwait(false);
            var gzip = new GZipStream(file, CompressionMode.Decompress);
            await using var gzipScope = gzip.ConfigureAwait(false);
            using var text = new StreamReader(gzip, Encoding.UTF8);
            using (var import = await conn.BeginTextImportAsync($"COPY events ({Columns}) FROM STDIN (FORMAT csv, HEADER)", ct).ConfigureAwait(false))
            {
                var buffer = new char[64 * 1024];
                int n;
                while ((n = await text.ReadAsync(buffer.AsMemory(), ct).ConfigureAwait(false)) > 0)
                    await import.WriteAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false);
            }
            var count = new NpgsqlCommand($"SELECT count(*) FROM {Quote(PartitionName(archive.Month))}", conn, tx);
            await using var countScope = count.ConfigureAwait(false);
            copied = (ulong)(long)(await count.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
        }
        if ((long)copied != archive.Events)
            throw new InvalidDataException($"{path} restored {copied} events, {archive.Events} were archived");
        await tx.CommitAsync(ct).ConfigureAwait(false);
        return (long)copied;
    }

    /// <summary>A quoted SQL identifier.</summary>
    public static string Quote(string identifier) => "\"" + identifier.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    private static byte[] Bytea(string text) =>
        text.StartsWith(@"\x", StringComparison.Ordinal) ? Convert.FromHexString(text.AsSpan(2)) : throw new InvalidDataException($"'{text}' is not a hex bytea");

    private static readonly string[] TimestampFormats = ["yyyy-MM-dd HH:mm:ss.FFFFFFzz", "yyyy-MM-dd HH:mm:sszz"];

    private static DateTimeOffset Timestamp(string text) =>
        DateTimeOffset.ParseExact(text, TimestampFormats, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal).ToUniversalTime();

    /// <summary>One RFC 4180 record (quoted fields may hold commas, quotes doubled and line breaks), or null at the end.</summary>
    private static async Task<List<string>?> ReadRecordAsync(StreamReader reader, CancellationToken ct)
    {
        var line = await reader.ReadLineAsync(ct).ConfigureAwait(false);
        if (line is null) return null;
        var fields = new List<string>();
        var field = new StringBuilder();
        var quoted = false;
        var i = 0;
        while (true)
        {
            if (i == line.Length)
            {
                if (!quoted)
                {
                    fields.Add(field.ToString());
                    return fields;
                }
                field.Append('\n');   // a line break inside a quoted field
                line = await reader.ReadLineAsync(ct).ConfigureAwait(false) ?? throw new InvalidDataException("the archive ends inside a quoted field");
                i = 0;
                continue;
            }
            var c = line[i++];
            if (quoted)
            {
                if (c != '"') field.Append(c);
                else if (i < line.Length && line[i] == '"') { field.Append('"'); i++; }
                else quoted = false;
            }
            else if (c == '"') quoted = true;
            else if (c == ',') { fields.Add(field.ToString()); field.Clear(); }
            else field.Append(c);
        }
    }
}
