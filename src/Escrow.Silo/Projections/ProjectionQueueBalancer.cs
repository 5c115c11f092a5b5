using Microsoft.Extensions.Options;
using Orleans.Runtime.MembershipService.SiloMetadata;
using Orleans.Streams;

namespace Escrow.Silo.Projections;

/// <summary>
/// Orleans's queue balancer for the event-log stream provider, restricted to the silos that pull projections: a silo
/// started with <see cref="SiloOptions.RunProjections"/> false (the CLI's in-process silo) still joins the cluster and
/// serves grains, but must not be given a queue it will never read. Each silo publishes whether it pulls in its Orleans
/// silo metadata (<see cref="MetadataKey"/>); every silo sorts the active silos that do by address and gives queue
/// <c>i</c> to the <c>i mod n</c>-th, so all agree on one owner per queue once they see the same membership. It is
/// recomputed on every membership change and every <see cref="Recheck"/> (a newcomer's metadata arrives shortly after
/// it turns active). Two silos that briefly disagree both read the queue; nothing is applied twice (the checkpoint decides).
/// </summary>
internal sealed class ProjectionQueueBalancer(IServiceProvider services, ISiloMetadataCache metadata, IOptions<SiloOptions> options,
    ILogger<ProjectionQueueBalancer> logger) : QueueBalancerBase(services, logger)
{
    /// <summary>The silo metadata key: <c>"false"</c> on a silo that pulls no projection queue (absent or anything else: it pulls).</summary>
    public const string MetadataKey = "escrow-projections";

    /// <summary>How often the owners are recomputed without a membership change.</summary>
    private static readonly TimeSpan Recheck = TimeSpan.FromSeconds(2);

    private readonly object _lock = new();
    private List<QueueId> _all = [];
    private HashSet<SiloAddress> _active = [];
    private HashSet<QueueId> _mine = [];
    private Task? _recheck;

    public static IStreamQueueBalancer Create(IServiceProvider services, string name) =>
        ActivatorUtilities.CreateInstance<ProjectionQueueBalancer>(services);

    public override Task Initialize(IStreamQueueMapper queueMapper)
    {
        _all = [.. queueMapper.GetAllQueues().OrderBy(q => q.GetNumericId())];
        _recheck = Task.Run(RecheckAsync);
        return base.Initialize(queueMapper);
    }

    public override async Task Shutdown()
    {
        await base.Shutdown().ConfigureAwait(false);
        if (_recheck is not null) await _recheck.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    public override IEnumerable<QueueId> GetMyQueues()
    {
        lock (_lock) return [.. _mine];
    }

    protected override void OnClusterMembershipChange(HashSet<SiloAddress> activeSilos)
    {
        lock (_lock) _active = activeSilos;
        Rebalance();
    }

    private async Task RecheckAsync()
    {
        using var timer = new PeriodicTimer(Recheck);
        try
        {
            while (await timer.WaitForNextTickAsync(Cancellation).ConfigureAwait(false)) Rebalance();
        }
        catch (OperationCanceledException) { }
    }

    /// <summary>Whether <paramref name="silo"/> pulls projections: this silo by its own options, another by its metadata.</summary>
    private bool Pulls(SiloAddress silo) => silo.Equals(SiloAddress)
        ? options.Value.RunProjections
        : !(metadata.GetSiloMetadata(silo).Metadata.TryGetValue(MetadataKey, out var v) && v == "false");

    private void Rebalance()
    {
        bool changed;
        lock (_lock)
        {
            var pullers = _active.Where(Pulls).OrderBy(s => s.ToParsableString(), StringComparer.Ordinal).ToList();
            var mine = new HashSet<QueueId>();
            var me = pullers.IndexOf(SiloAddress);
            if (me >= 0)
                for (var i = 0; i < _all.Count; i++)
                    if (i % pullers.Count == me) mine.Add(_all[i]);
            changed = !mine.SetEquals(_mine);
            _mine = mine;
        }
        if (changed) _ = NotifyListeners();
    }
}
