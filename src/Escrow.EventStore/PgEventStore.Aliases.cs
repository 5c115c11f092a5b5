using Npgsql;

namespace Escrow.EventStore;

// Stream aliases: streams created before account and deal ids were per institution keep the id their events' hashes
// cover (account-{id}); migration 021 gave each its new id (account-{tenant}/{id}) in stream_aliases. The store reads and
// writes such a stream under its new id and hands its events out under it, so nothing above the store sees the old form.
public sealed partial class PgEventStore
{
    private Task<StreamAliases>? _aliases;

    /// <summary>
    /// The stream id <paramref name="streamId"/> is stored under: itself, or for a stream renamed by migration 021 its old
    /// id (the one its events' hashes cover). The alias table never changes after the migration, so it is read once.
    /// </summary>
    public async ValueTask<string> StoredStreamIdAsync(string streamId, CancellationToken ct) =>
        (await AliasesAsync(ct).ConfigureAwait(false)).Stored(streamId);

    private async ValueTask<StreamAliases> AliasesAsync(CancellationToken ct)
    {
        var load = _aliases;
        if (load is null)
        {
            load = LoadAliasesAsync();
            load = Interlocked.CompareExchange(ref _aliases, load, null) ?? load;
        }
        try
        {
            return await load.WaitAsync(ct).ConfigureAwait(false);
        }
        catch when (load.IsFaulted)
        {
            _ = Interlocked.CompareExchange(ref _aliases, null, load);   // PostgreSQL unreachable: try again next time
            throw;
        }
    }

    private async Task<StreamAliases> LoadAliasesAsync()
    {
        var cmd = DataSource.CreateCommand("SELECT alias, stream_id FROM stream_aliases");
        await using var cmdScope = cmd.ConfigureAwait(false);
        var toStored = new Dictionary<string, string>(StringComparer.Ordinal);
        try
        {
            var r = await cmd.ExecuteReaderAsync(CancellationToken.None).ConfigureAwait(false);
            await using var rScope = r.ConfigureAwait(false);
            while (await r.ReadAsync(CancellationToken.None).ConfigureAwait(false))
                toStored[r.GetString(0)] = r.GetString(1);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedTable)
        {
            // Not migrated yet (only the migration tests use a store before migrating): no aliases, and look again next time.
            _aliases = null;
            return StreamAliases.None;
        }
        return toStored.Count == 0 ? StreamAliases.None : new StreamAliases(toStored);
    }

    private async ValueTask<IReadOnlyList<StoredEvent>> ToCurrentAsync(IReadOnlyList<StoredEvent> events, CancellationToken ct)
    {
        var aliases = await AliasesAsync(ct).ConfigureAwait(false);
        if (aliases.IsEmpty) return events;
        var list = events.ToArray();
        for (var i = 0; i < list.Length; i++)
            if (aliases.TryCurrent(list[i].StreamId, out var current))
                list[i] = list[i] with { StreamId = current };
        return list;
    }
}

/// <summary>New stream id → stored stream id, and back, for the streams renamed by migration 021.</summary>
internal sealed class StreamAliases
{
    public static readonly StreamAliases None = new(new Dictionary<string, string>(StringComparer.Ordinal));

    private readonly Dictionary<string, string> _toStored;
    private readonly Dictionary<string, string> _toCurrent;

    public StreamAliases(Dictionary<string, string> toStored)
    {
        _toStored = toStored;
        _toCurrent = toStored.ToDictionary(kv => kv.Value, kv => kv.Key, StringComparer.Ordinal);
    }

    public bool IsEmpty => _toStored.Count == 0;

    public string Stored(string streamId) => _toStored.TryGetValue(streamId, out var stored) ? stored : streamId;

    public bool TryCurrent(string storedId, out string current) => _toCurrent.TryGetValue(storedId, out current!);
}
