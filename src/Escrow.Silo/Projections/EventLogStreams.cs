using Microsoft.Extensions.Options;
using Orleans.Runtime.MembershipService.SiloMetadata;
using Orleans.Configuration;
using Orleans.Streams;

namespace Escrow.Silo.Projections;

/// <summary>
/// The stream provider that feeds the projection grains from the event log (<see cref="EventLogQueueAdapterFactory"/>):
/// its name, its stream namespace, and its registration in a silo.
/// </summary>
public static class EventLogStreams
{
    /// <summary>The stream provider's name.</summary>
    public const string ProviderName = "event-log";

    /// <summary>The namespace of the projection streams; the stream's key is the projection's name.</summary>
    public const string Namespace = "projection";

    /// <summary>Projection <paramref name="projectionName"/>'s stream.</summary>
    public static StreamId StreamOf(string projectionName) => StreamId.Create(Namespace, projectionName);

    /// <summary>
    /// Registers the provider: queues shared by <see cref="ProjectionQueueBalancer"/> among the silos that pull projections
    /// (published in their silo metadata), pulling agents poll their receiver every <see cref="EventLogStreamOptions.HotPollInterval"/>
    /// (the receiver itself decides whether that costs a query), subscriptions are implicit only (the projection grains'),
    /// and a batch is delivered alone (one transaction each).
    /// </summary>
    public static ISiloBuilder AddEventLogStreams(this ISiloBuilder silo)
    {
        // Whether this silo pulls projection queues, for the other silos' balancers (ProjectionQueueBalancer).
        var pulls = silo.Configuration.GetValue("Escrow:RunProjections", true);
        silo.UseSiloMetadata(new Dictionary<string, string> { [ProjectionQueueBalancer.MetadataKey] = pulls ? "true" : "false" });
        silo.Services.AddSingleton<LogNotifications>();
        silo.Services.AddSingleton<LogReaders>();
        silo.Services.AddSingleton<IOptions<EventLogStreamOptions>>(sp =>
        {
            var o = sp.GetRequiredService<IOptions<SiloOptions>>().Value;
            return Options.Create(new EventLogStreamOptions
            {
                BatchSize = o.ProjectionBatchSize,
                PollInterval = TimeSpan.FromMilliseconds(o.ProjectionPollMilliseconds),
            });
        });
        silo.AddPersistentStreams(ProviderName, EventLogQueueAdapterFactory.Create, stream =>
        {
            stream.ConfigureStreamPubSub(StreamPubSubType.ImplicitOnly);
            stream.ConfigurePartitionBalancing(ProjectionQueueBalancer.Create);
            // A silo started with RunProjections=false (the CLI's in-process silo, some tests) pulls no queue.
            stream.ConfigureLifecycle(lifecycle => lifecycle.Configure<IOptions<SiloOptions>>((l, o) =>
                l.StartupState = o.Value.RunProjections ? StreamLifecycleOptions.RunState.AgentsStarted : StreamLifecycleOptions.RunState.Initialized));
            stream.ConfigurePullingAgent(agent => agent.Configure<IOptions<EventLogStreamOptions>>((a, o) =>
            {
                a.GetQueueMsgsTimerPeriod = o.Value.HotPollInterval;
                a.BatchContainerBatchSize = 1;
            }));
        });
        return silo;
    }
}
