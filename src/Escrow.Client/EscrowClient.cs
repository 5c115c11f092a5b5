namespace Escrow.Client;

/// <summary>
/// Typed client of an Orleans.Escrow silo's HTTP API, grouped by area: <see cref="Accounts"/>,
/// <see cref="Deals"/>, <see cref="Payments"/>, <see cref="Institutions"/>, <see cref="Audit"/>, <see cref="Cluster"/>.
/// <para>
/// Every command is sent with an <c>Idempotency-Key</c>: the caller's, or a new GUID per logical call that
/// every retry of that call reuses, so the silo applies the command at most once. Transient failures
/// (connection errors, lost answers, attempt timeouts, 408, 429, 502, 503, 504) are retried with bounded
/// exponential backoff (<see cref="EscrowClientOptions.MaxRetries"/>); 4xx business answers never are —
/// they are thrown as <see cref="EscrowProblemException"/> subclasses carrying the RFC 7807 problem.
/// </para>
/// Thread-safe; one instance per base address and key. Register with
/// <c>services.AddEscrowClient(o => { o.BaseAddress = …; o.ApiKey = …; })</c>,
/// or construct over your own <see cref="HttpClient"/>.
/// </summary>
public sealed class EscrowClient
{
    /// <summary>Creates a client over <paramref name="http"/> (its handlers, timeout and base address are used).</summary>
    /// <param name="http">The HTTP client; not disposed by this class.</param>
    /// <param name="options">Base address (unless <paramref name="http"/> has one), API key, retry settings.</param>
    /// <exception cref="ArgumentException">No base address in either.</exception>
    public EscrowClient(HttpClient http, EscrowClientOptions options)
    {
        var transport = new EscrowTransport(http, options);
        Options = options;
        Accounts = new AccountsClient(transport);
        Deals = new DealsClient(transport);
        Payments = new PaymentsClient(transport);
        Institutions = new InstitutionsClient(transport);
        Audit = new AuditClient(transport);
        Cluster = new ClusterClient(transport);
    }

    /// <summary>Creates a client with its own <see cref="HttpClient"/> for <paramref name="baseAddress"/> and <paramref name="apiKey"/> (for scripts and samples; prefer one long-lived instance).</summary>
    /// <param name="baseAddress">The silo, e.g. <c>http://127.0.0.1:5080</c>.</param>
    /// <param name="apiKey">The API key, or null for the public routes only.</param>
    public EscrowClient(Uri baseAddress, string? apiKey)
        : this(new HttpClient { BaseAddress = baseAddress, Timeout = Timeout.InfiniteTimeSpan }, new EscrowClientOptions { BaseAddress = baseAddress, ApiKey = apiKey })
    {
    }

    /// <summary>The settings this client was built with.</summary>
    public EscrowClientOptions Options { get; }

    /// <summary>Ledger accounts: open, deposit, withdraw, transfer, reverse, freeze, unfreeze, close; account, balance (as of an instant), statement, events.</summary>
    public AccountsClient Accounts { get; }

    /// <summary>Escrow deals and deal templates: create, fund, release, cancel, dispute, evidence, resolve; deal (as of an instant), timeline, events, list.</summary>
    public DealsClient Deals { get; }

    /// <summary>Cross-border payments by UETR: ISO 20022 messages in and out, quotes, proxies, initiation, FX rates, status, timeline, corridors, list.</summary>
    public PaymentsClient Payments { get; }

    /// <summary>Root only: institutions (tenants) and their API keys.</summary>
    public InstitutionsClient Institutions { get; }

    /// <summary>Root and auditor: the write-once audit log, as JSON pages or CSV.</summary>
    public AuditClient Audit { get; }

    /// <summary>Health, projection checkpoints and lag, silo membership.</summary>
    public ClusterClient Cluster { get; }
}
