namespace Escrow.Client;

/// <summary>Settings of an <see cref="EscrowClient"/>.</summary>
public sealed class EscrowClientOptions
{
    /// <summary>The silo (or the frontend in front of several), e.g. <c>http://127.0.0.1:5080/</c>. Required unless the <see cref="HttpClient"/> given to the client already has a base address.</summary>
    public Uri? BaseAddress { get; set; }

    /// <summary>The clock a <c>Retry-After</c> date is measured against (default: the system clock; a test may inject its own).</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>The API key (<c>esk_…</c>, or the configured root key), sent as <c>Authorization: Bearer</c>. Null sends no key (only <c>/health</c> and <c>/openapi</c> answer then).</summary>
    public string? ApiKey { get; set; }

    /// <summary>Root keys only: the tenant commands act for (header <c>X-Escrow-Tenant</c>; the silo's default is <c>default</c>). Ignored by the silo for other keys.</summary>
    public string? Tenant { get; set; }

    /// <summary>How many times a transient failure is retried after the first attempt (default 4; 0 disables retries).</summary>
    public int MaxRetries { get; set; } = 4;

    /// <summary>Backoff before the first retry; doubled for each further one, with full jitter (default 200 ms).</summary>
    public TimeSpan InitialBackoff { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Upper bound of one backoff (default 5 s).</summary>
    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Longest <c>Retry-After</c> (of a 429 or 503) the client waits for; a longer one ends the retries with the error (default 30 s).</summary>
    public TimeSpan MaxRetryAfter { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Time given to one attempt before it is abandoned and treated as a transient failure (default 30 s; <see cref="Timeout.InfiniteTimeSpan"/> for none). The caller's cancellation token bounds the whole call.</summary>
    public TimeSpan AttemptTimeout { get; set; } = TimeSpan.FromSeconds(30);
}
