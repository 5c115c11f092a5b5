using System.Text.Json.Serialization;

namespace Escrow.Client;

/// <summary>The role of an API key.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<ApiKeyRole>))]
public enum ApiKeyRole
{
    /// <summary>Acts for its institution: commands and queries on its own accounts and deals.</summary>
    Writer,
    /// <summary>Reads its institution's accounts, streams and audit log; may not write.</summary>
    Auditor,
    /// <summary>The operator: institutions and keys, every tenant.</summary>
    Root,
}

/// <summary>An institution (tenant).</summary>
/// <param name="InstitutionId">1–32 of <c>a-z0-9-</c>.</param>
/// <param name="Name">Display name.</param>
/// <param name="CreatedAt">Creation time (UTC).</param>
/// <param name="CreatedBy">Key id of the creator (<c>root</c>, <c>cli</c>, …).</param>
/// <param name="Keys">Number of API keys it has.</param>
public sealed record Institution(string InstitutionId, string Name, DateTimeOffset CreatedAt, string CreatedBy, int Keys);

/// <summary>A newly created API key. <see cref="ApiKey"/> is the secret: shown this once, the silo keeps only its SHA-256.</summary>
/// <param name="KeyId">Public id of the key (the actor in audit records), e.g. <c>key_3f…</c>.</param>
/// <param name="InstitutionId">The institution it acts for.</param>
/// <param name="Role"><c>writer</c>, <c>auditor</c> or <c>root</c>.</param>
/// <param name="Name">Optional label.</param>
/// <param name="ApiKey">The secret (<c>esk_…</c>); send as <c>Authorization: Bearer</c>.</param>
public sealed record CreatedApiKey(string KeyId, string InstitutionId, string Role, string? Name, string ApiKey);

/// <summary>A revoked API key: it no longer authenticates (at once on the silo that revoked it, within its key cache time on the others).</summary>
/// <param name="KeyId">The key.</param>
/// <param name="InstitutionId">Its institution.</param>
/// <param name="RevokedAt">When (UTC).</param>
/// <param name="RevokedBy">The key id that revoked it.</param>
/// <param name="Reason">Optional reason.</param>
public sealed record RevokedApiKey(string KeyId, string InstitutionId, DateTimeOffset RevokedAt, string RevokedBy, string? Reason);

/// <summary>Filters of <c>GET /audit</c>. Every member is optional; an auditor always sees only its own tenant.</summary>
public sealed record AuditQuery
{
    /// <summary>Only records of this actor (key id, <c>root</c>, <c>system</c>, …).</summary>
    public string? Actor { get; init; }
    /// <summary>Records at or after this instant.</summary>
    public DateTimeOffset? From { get; init; }
    /// <summary>Records at or before this instant.</summary>
    public DateTimeOffset? To { get; init; }
    /// <summary>Only records touching this stream, e.g. <c>account-alice</c>.</summary>
    public string? Stream { get; init; }
    /// <summary>A deal's trail (shorthand for <c>stream=deal-{id}</c>).</summary>
    public string? Deal { get; init; }
    /// <summary>Root only: one tenant (default every tenant).</summary>
    public string? Tenant { get; init; }
    /// <summary><c>accepted</c>, <c>rejected</c>, <c>replayed</c> or <c>refused</c>.</summary>
    public string? Outcome { get; init; }
}

/// <summary>One record of the write-once audit log.</summary>
/// <param name="Position">Order of the log; pages continue after it.</param>
/// <param name="AuditId">Record id.</param>
/// <param name="At">When (UTC).</param>
/// <param name="Actor">Key id, <c>root</c>, <c>system</c>, <c>cli</c>, <c>anonymous</c>, … (never a secret).</param>
/// <param name="Tenant">The institution acted for.</param>
/// <param name="Operation">Command name (<c>OpenAccount</c>, <c>Post.Transfer</c>, …) or <c>METHOD path</c> for refusals.</param>
/// <param name="Outcome"><c>accepted</c>, <c>rejected</c>, <c>replayed</c> or <c>refused</c>.</param>
/// <param name="Status">HTTP status answered.</param>
/// <param name="Code">Problem code when not accepted.</param>
/// <param name="PayloadSha256">SHA-256 of the canonical request, hex.</param>
/// <param name="StreamIds">Streams the command touched.</param>
/// <param name="CorrelationId">Correlation id (also on the events).</param>
/// <param name="IdempotencyKey">The request's Idempotency-Key, if any.</param>
public sealed record AuditEntry(
    long Position, Guid AuditId, DateTimeOffset At, string Actor, string Tenant, string Operation, string Outcome, int Status,
    string? Code, string PayloadSha256, IReadOnlyList<string> StreamIds, Guid CorrelationId, string? IdempotencyKey);

/// <summary>A page of audit records.</summary>
/// <param name="Records">Records in log order.</param>
/// <param name="NextAfter">Pass as <c>after</c> for the next page; null on the last page.</param>
public sealed record AuditPage(IReadOnlyList<AuditEntry> Records, long? NextAfter);

/// <summary>A page of the audit log as RFC 4180 CSV.</summary>
/// <param name="Csv">Header row and records, CRLF line ends.</param>
/// <param name="NextAfter">From the <c>X-Next-After</c> header; null on the last page.</param>
public sealed record AuditCsvPage(string Csv, long? NextAfter);

/// <summary>A projection's checkpoint and lag.</summary>
/// <param name="Name">Projection name, e.g. <c>account_balances</c>.</param>
/// <param name="TransactionId">Checkpoint: transaction id of the last applied event.</param>
/// <param name="Position">Checkpoint: global position of the last applied event.</param>
/// <param name="EventsApplied">Events applied since the projection started from zero.</param>
/// <param name="EventsBehind">Committed events not applied yet.</param>
/// <param name="LagMilliseconds">Age of the oldest unapplied event, ms (0 when caught up).</param>
/// <param name="UpdatedAt">When the checkpoint last moved (UTC).</param>
public sealed record ProjectionStatus(string Name, ulong TransactionId, long Position, long EventsApplied, long EventsBehind, double LagMilliseconds, DateTimeOffset UpdatedAt);

/// <summary>A silo's status in Orleans's membership table.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<SiloStatus>))]
public enum SiloStatus
{
    /// <summary>Active in the cluster.</summary>
    Alive,
    /// <summary>Gone: it stopped (and recorded its own end) or the other silos declared it dead (a crash, a partition).</summary>
    Dead,
    /// <summary>Starting and joining the cluster.</summary>
    Joining,
    /// <summary>Shutting down.</summary>
    Stopping,
}

/// <summary>One silo of the cluster: its Orleans membership row, the leases it holds and, while alive, its load.</summary>
/// <param name="SiloId">Its Orleans silo address, <c>{ip}:{port}@{generation}</c>; a restarted silo is a new member.</param>
/// <param name="Address">Its HTTP address when started with one, else its host name.</param>
/// <param name="Name">Its Orleans silo name.</param>
/// <param name="Status">Alive, dead, joining or stopping.</param>
/// <param name="StartedAt">Start (UTC).</param>
/// <param name="LastBeat">Its last I-am-alive write to the membership table (UTC; every 30 s by default).</param>
/// <param name="Activations">Grain activations in its memory now (0 unless alive).</param>
/// <param name="Leases">The cluster's single-holder jobs this silo leads now: <c>projection:{name}</c>, <c>timer-firer</c>.</param>
/// <param name="CommandsPerSecond">Commands per second over its last 10 whole seconds (0 unless alive).</param>
/// <param name="RejectionsPerSecond">Rejected commands per second, same window.</param>
/// <param name="EventsPerSecond">Events appended per second, same window.</param>
/// <param name="Commands">Commands since the silo started.</param>
public sealed record SiloInfo(string SiloId, string Address, string Name, SiloStatus Status, DateTimeOffset StartedAt, DateTimeOffset LastBeat,
    int Activations, IReadOnlyList<string>? Leases,
    double CommandsPerSecond = 0, double RejectionsPerSecond = 0, double EventsPerSecond = 0, long Commands = 0);
