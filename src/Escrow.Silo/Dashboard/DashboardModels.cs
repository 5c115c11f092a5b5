using System.Text.Json.Nodes;
using Escrow.EventStore;
using Escrow.Silo.Cluster;
using Escrow.Silo.Deals;
using Escrow.Silo.Tenancy;

namespace Escrow.Silo.Dashboard;

// What the dashboard's API answers (GET /dashboard/api/*).
/// <summary>Who the dashboard is talking to: the key's id, institution and role.</summary>
public sealed record DashboardIdentity(string KeyId, string Institution, string Role);

/// <summary>Rates over a recent stretch of this silo's rolling window. Rates per second; latencies in ms (null: no command).</summary>
public sealed record DashboardRates(int Seconds, double CommandsPerSecond, double RejectionsPerSecond, double EventsPerSecond, double? P50, double? P99);

/// <summary>Totals since this silo started.</summary>
public sealed record DashboardTotals(long Commands, long Rejections, long Events);

/// <summary>
/// <c>GET /dashboard/api/overview</c>: the cluster's silos (Orleans's membership table), this silo's activations by aggregate
/// type, totals, recent rates and per-second series (oldest first) from its rolling window, and the cluster's rates.
/// </summary>
public sealed record DashboardOverview(
    DateTimeOffset Now, string SiloId, IReadOnlyList<SiloInfo> Silos, int SilosAlive, int SilosDead,
    IReadOnlyDictionary<string, int> Activations, DashboardTotals Totals, DashboardRates Recent, IReadOnlyList<WindowPoint> Series,
    DashboardClusterRates Cluster);

/// <summary>
/// The cluster's load: this silo's last 10 s plus every other alive silo's last 10 s as it reported them when asked
/// (<see cref="SiloLoadReport"/>). Rates per second; <see cref="Commands"/> since each silo started (a restarted silo starts at 0).
/// </summary>
public sealed record DashboardClusterRates(int Silos, double CommandsPerSecond, double RejectionsPerSecond, double EventsPerSecond, long Commands);

/// <summary>
/// One projection as the dashboard shows it: checkpoint (transaction id, position), events applied, lag in events and
/// ms, the silo whose pulling agent reads its stream queue now (null while none does), rebuild progress = applied ÷ (applied + behind), and dead letters (always
/// 0: a batch that fails rolls back and is retried, so a projection stalls instead of skipping an event).
/// </summary>
public sealed record DashboardProjection(
    string Name, ulong TransactionId, long Position, long EventsApplied, long EventsBehind, double LagMilliseconds, DateTimeOffset UpdatedAt,
    string? PulledBy, double Progress, long DeadLetters);

/// <summary><c>GET /dashboard/api/timers</c>: timers due now and the next pending ones (of the caller's tenant unless root).</summary>
public sealed record DashboardTimers(DateTimeOffset Now, long Due, long Pending, IReadOnlyList<ExpiryReminderRow> Next);

/// <summary>Rejections of one code in the window.</summary>
public sealed record RejectionCount(string Code, string Outcome, int Status, long Count, DateTimeOffset Last);

/// <summary><c>GET /dashboard/api/rejections</c>: rejected and refused requests by code among the last 10,000 audit records since <see cref="Since"/>.</summary>
public sealed record DashboardRejections(DateTimeOffset Since, IReadOnlyList<RejectionCount> ByCode, IReadOnlyList<AuditEntry> Recent);

/// <summary>A stream's head as the <c>streams</c> table holds it.</summary>
public sealed record StreamInfo(string StreamId, string StreamType, string Tenant, long Version, string LastHash, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt);

/// <summary>A stream's state folded from its events up to <see cref="At"/> (now when null), as JSON.</summary>
public sealed record StreamState(string StreamId, string StreamType, DateTimeOffset? At, long Version, JsonNode? State);

/// <summary>The hash-chain check of one stream (see <see cref="StreamChainVerifier"/>).</summary>
public sealed record StreamVerification(string StreamId, bool Ok, long HeadVersion, long EventsChecked, long? BrokenVersion, long? BrokenGlobalPosition, string? Reason);
