namespace Escrow.Silo;

/// <summary>Configuration section <c>Escrow</c>.</summary>
public sealed class SiloOptions
{
    /// <summary>Connection string of the application role (escrow_app): INSERT/SELECT on events.</summary>
    public string ConnectionString { get; set; } = "";
    /// <summary>Connection string of the schema owner; when set, migrations run at start.</summary>
    public string? OwnerConnectionString { get; set; }
    public int SnapshotEvery { get; set; } = 50;
    /// <summary>A grain unused this long is deactivated (Orleans <c>GrainCollectionOptions.CollectionAge</c>; at least the collector's one-minute quantum).</summary>
    public int IdleTimeoutSeconds { get; set; } = 300;
    public int MaxConcurrencyRetries { get; set; } = 20;
    /// <summary>
    /// Pull the event log's projection queues in this silo (Orleans's queue balancer shares them among the silos that do);
    /// false for a silo that only serves commands (the CLI's in-process silo).
    /// </summary>
    public bool RunProjections { get; set; } = true;
    /// <summary>Most log events in one projection batch (one queue message, applied in one transaction).</summary>
    public int ProjectionBatchSize { get; set; } = 500;
    /// <summary>How often (ms) a queue receiver reads the log when no wake-up NOTIFY arrives.</summary>
    public int ProjectionPollMilliseconds { get; set; } = 1000;
    public int MaxPoolSize { get; set; } = 64;
    /// <summary>Group commit: most commands in one append transaction (1 turns batching off). See <c>GroupCommitOptions</c>.</summary>
    public int AppendBatchSize { get; set; } = 64;
    /// <summary>Group commit: most append transactions in flight at once from this silo.</summary>
    public int AppendBatchesInFlight { get; set; } = 2;
    /// <summary>The Orleans cluster this silo joins (<c>ClusterOptions.ClusterId</c>): silos of one cluster share the membership table rows of this id.</summary>
    public string ClusterId { get; set; } = "escrow";
    /// <summary>The Orleans service id (<c>ClusterOptions.ServiceId</c>); stays the same across deployments of one system.</summary>
    public string ServiceId { get; set; } = "orleans-escrow";
    /// <summary>The IP address this silo listens on and advertises to the others (loopback by default: one machine).</summary>
    public string AdvertisedAddress { get; set; } = "127.0.0.1";
    /// <summary>Silo-to-silo port (Orleans's default 11111); 0 takes a free port at start. Several silos on one machine need distinct ports.</summary>
    public int SiloPort { get; set; } = 11111;
    /// <summary>Gateway port for Orleans clients (Orleans's default 30000); 0 takes a free port at start.</summary>
    public int GatewayPort { get; set; } = 30000;
    /// <summary>The operator's root API key (env <c>Escrow__RootApiKey</c>); without it no request can create institutions.</summary>
    public string? RootApiKey { get; set; }
    /// <summary>How long (seconds) a silo trusts a looked-up API key before looking it up again. Revocations are pushed to
    /// every silo (<see cref="Tenancy.KeyRevocationListener"/>), so this bounds only a revocation whose notification was lost.</summary>
    public int KeyCacheSeconds { get; set; } = 60;

    /// <summary>Serve Microsoft's Orleans Dashboard under <c>/orleans-dashboard</c> (root and auditor keys); false leaves it and
    /// its grain-call profiler out of the silo. Read when the silo is built.</summary>
    public bool OrleansDashboard { get; set; } = true;
    /// <summary>Open the Orleans Dashboard's live log stream (its "trace" view) to the root key; off by default, as the log may
    /// name any institution's accounts.</summary>
    public bool OrleansDashboardTrace { get; set; }
    /// <summary>Profile every grain call even while nobody watches the Orleans Dashboard (Orleans otherwise stops a minute
    /// after the last look): the benchmark's worst case.</summary>
    public bool OrleansDashboardProfileAlways { get; set; }

    /// <summary>
    /// Directory of the ISO 20022 base schemas (<c>*.xsd</c>) that received messages are validated against, by exact
    /// namespace version. Default: <c>$ESCROW_DATA_DIR/iso20022/xsd-iso-base</c>, else <c>../shared/data/iso20022/xsd-iso-base</c>
    /// when it exists; without one, messages are parsed but not schema-validated.
    /// </summary>
    public string? IsoSchemaDirectory { get; set; }

    /// <summary>The schema directory to use, or null when none exists.</summary>
    public string? ResolveIsoSchemaDirectory()
    {
        if (!string.IsNullOrEmpty(IsoSchemaDirectory))
            return Directory.Exists(IsoSchemaDirectory) ? IsoSchemaDirectory : throw new DirectoryNotFoundException($"Escrow:IsoSchemaDirectory '{IsoSchemaDirectory}' does not exist");
        var data = Environment.GetEnvironmentVariable("ESCROW_DATA_DIR") is { Length: > 0 } d ? d : Path.Combine("..", "shared", "data");
        var dir = Path.Combine(data, "iso20022", "xsd-iso-base");
        return Directory.Exists(dir) ? Path.GetFullPath(dir) : null;
    }
}
