using Escrow.EventStore;
using Microsoft.Extensions.Options;
using Orleans.EventSourcing;
using Orleans.Storage;

namespace Escrow.Silo.Grains.EventLog;

/// <summary>
/// The log-consistency provider of every escrow grain (<c>[LogConsistencyProvider(ProviderName = EventLogProvider.Name)]</c>):
/// its storage is the PostgreSQL event log, one row per event. Built as our own <see cref="ILogViewAdaptorFactory"/> rather
/// than on <c>CustomStorage</c>, because the built-in primary-based adaptors retry a failed write by themselves: after a
/// version conflict they append the same events again without deciding again, and after an outage they retry forever
/// while the caller waits. Here a write happens only inside the grain's call, once: a conflict re-reads the stream and
/// answers false (the grain decides again), an outage throws to the caller and leaves nothing queued that could commit
/// later.
/// </summary>
public sealed class EventLogProvider(PgEventStore store, IOptions<SiloOptions> options) : ILogViewAdaptorFactory
{
    /// <summary>The provider's name in the silo.</summary>
    public const string Name = "EventLog";

    public bool UsesStorageProvider => false;

    public ILogViewAdaptor<TLogView, TLogEntry> MakeLogViewAdaptor<TLogView, TLogEntry>(
        ILogViewAdaptorHost<TLogView, TLogEntry> hostGrain, TLogView initialState, string grainTypeName, IGrainStorage? grainStorage,
        ILogConsistencyProtocolServices services)
        where TLogView : class, new()
        where TLogEntry : class
    {
        if (hostGrain is not IEventLogHost host || initialState is not IStreamView)
            throw new InvalidOperationException($"{grainTypeName} uses the {Name} provider: it must implement {nameof(IEventLogHost)} and its state {nameof(IStreamView)}");
        var adaptor = new EventLogAdaptor<TLogView, TLogEntry>(hostGrain, host, store, options.Value.SnapshotEvery);
        host.Attach(adaptor);
        return adaptor;
    }
}
