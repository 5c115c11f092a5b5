using Escrow.EventStore;
using Escrow.Projections;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Providers.Streams.Common;
using Orleans.Streams;

namespace Escrow.Silo.Projections;

/// <summary>
/// The Orleans persistent stream provider whose queues are the event log: one queue per projection
/// (<see cref="ProjectionCatalog"/>), each read in commit order by an <see cref="EventLogQueueReceiver"/>, each carrying
/// one stream (namespace <see cref="EventLogStreams.Namespace"/>, key = the projection's name) to which the projection's
/// grain is implicitly subscribed. Orleans's pulling agents and queue balancer decide which silo reads which queue and
/// move a queue when a silo joins, leaves or dies. Nothing is ever written to these queues (the grains' commits are the
/// messages), so the adapter is read-only.
/// </summary>
internal sealed class EventLogQueueAdapterFactory(
    string providerName, PgEventStore store, LogNotifications notifications, LogReaders readers, EventLogStreamOptions options,
    ILocalSiloDetails silo, ILoggerFactory loggers) : IQueueAdapterFactory, IQueueAdapter
{
    private readonly IReadOnlyList<IProjection> _projections = ProjectionCatalog.All();
    // 16 batches: with fewer than 20, the cache's buckets hold one batch each, so a delivered batch is let go of (and reported
    // to its receiver, which reads ahead by at most two) at the agent's next read.
    private readonly SimpleQueueAdapterCache _cache = new(new SimpleQueueCacheOptions { CacheSize = 16 }, providerName, loggers);
    private EventLogQueueMapper? _mapper;

    /// <summary>The factory Orleans calls when the provider starts (see <see cref="EventLogStreams.AddEventLogStreams"/>).</summary>
    public static EventLogQueueAdapterFactory Create(IServiceProvider services, string name) => new(
        name, services.GetRequiredService<PgEventStore>(), services.GetRequiredService<LogNotifications>(), services.GetRequiredService<LogReaders>(),
        services.GetRequiredService<IOptions<EventLogStreamOptions>>().Value, services.GetRequiredService<ILocalSiloDetails>(),
        services.GetRequiredService<ILoggerFactory>());

    public string Name => providerName;
    public bool IsRewindable => false;
    public StreamProviderDirection Direction => StreamProviderDirection.ReadOnly;

#pragma warning disable CS0618 // Orleans calls the overload with a token; this one only satisfies the interface
    public Task<IQueueAdapter> CreateAdapter() => Task.FromResult<IQueueAdapter>(this);
#pragma warning restore CS0618

    public IQueueAdapterCache GetQueueAdapterCache() => _cache;

    public IStreamQueueMapper GetStreamQueueMapper() => _mapper ??= new EventLogQueueMapper(providerName, _projections);

    /// <summary>A delivery that keeps failing is given up after the pulling agent's retries; the projection grain heals the gap from the log.</summary>
    public Task<IStreamFailureHandler> GetDeliveryFailureHandler(QueueId queueId) => Task.FromResult<IStreamFailureHandler>(new NoOpStreamDeliveryFailureHandler());

    public IQueueAdapterReceiver CreateReceiver(QueueId queueId)
    {
        var projection = ((EventLogQueueMapper)GetStreamQueueMapper()).ProjectionOf(queueId);
        return new EventLogQueueReceiver(projection, EventLogStreams.StreamOf(projection.Name), store, readers.DataSource, notifications, options,
            silo.SiloAddress.ToParsableString(), loggers.CreateLogger<EventLogQueueReceiver>());
    }

    public Task QueueMessageBatchAsync<T>(StreamId streamId, IEnumerable<T> events, StreamSequenceToken? token, Dictionary<string, object>? requestContext) =>
        throw new NotSupportedException("the event log's streams are read-only: events enter the log by the grains' commits");
}

/// <summary>
/// Queue <c>i</c> carries projection <c>i</c>'s stream, and only it; <see cref="ProjectionQueueBalancer"/> decides which
/// silo pulls it.
/// </summary>
internal sealed class EventLogQueueMapper : IStreamQueueMapper
{
    private readonly IReadOnlyList<IProjection> _projections;
    private readonly QueueId[] _queues;

    public EventLogQueueMapper(string providerName, IReadOnlyList<IProjection> projections)
    {
        _projections = projections;
        _queues = [.. projections.Select((_, i) => QueueId.GetQueueId(providerName, (uint)i, (uint)i))];
    }

    public IEnumerable<QueueId> GetAllQueues() => _queues;

    public QueueId GetQueueForStream(StreamId streamId)
    {
        var name = streamId.GetKeyAsString();
        for (var i = 0; i < _projections.Count; i++)
            if (_projections[i].Name == name) return _queues[i];
        throw new ArgumentException($"stream {streamId} is no projection's", nameof(streamId));
    }

    public IProjection ProjectionOf(QueueId queue) => _projections[(int)queue.GetNumericId()];
}
