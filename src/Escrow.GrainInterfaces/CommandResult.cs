using Escrow.Domain;

namespace Escrow.Grains;

/// <summary>
/// What a grain answers to a command: a domain result, never an HTTP answer. Either accepted (with <see cref="View"/>,
/// the aggregate after the command; <see cref="Created"/> when the command started the stream) or refused with a
/// <see cref="Rejection"/> (its code names the rule: <c>insufficient_funds</c>, <c>deal_not_found</c>,
/// <c>concurrency_conflict</c>, <c>idempotency_key_reused</c>, …). <see cref="Replayed"/>: the answer stored under the
/// command's idempotency key, returned again to a retry.
/// <para>A record stored under an idempotency key before commands ran on grains holds an HTTP answer: it comes back
/// unchanged as <see cref="StoredAnswer"/> (its status and body), so a retry across the upgrade gets its first answer.</para>
/// </summary>
[GenerateSerializer, Immutable]
public sealed record CommandResult<TView>(
    [property: Id(0)] bool Accepted,
    [property: Id(1)] bool Created,
    [property: Id(2)] TView? View,
    [property: Id(3)] Rejection? Rejection,
    [property: Id(4)] int EventsAppended = 0,
    [property: Id(5)] bool Replayed = false,
    [property: Id(6)] StoredAnswer? StoredAnswer = null) where TView : class
{
    /// <summary>An accepted command.</summary>
    public static CommandResult<TView> Accept(TView view, bool created, int events) => new(true, created, view, null, events);

    /// <summary>A refused command (nothing appended).</summary>
    public static CommandResult<TView> Refuse(Rejection rejection) => new(false, false, null, rejection);
}

/// <summary>An answer stored under an idempotency key by an earlier version (HTTP status and JSON body, verbatim).</summary>
[GenerateSerializer, Immutable]
public sealed record StoredAnswer([property: Id(0)] int Status, [property: Id(1)] string Body);

/// <summary>
/// A stream's confirmed state as its grain holds it: <see cref="Version"/> counts events (0: no stream),
/// <see cref="LastHash"/> is the SHA-256 chain hash of its last event (32 zero bytes for none), <see cref="Tenant"/> the
/// institution that owns it (null for no stream).
/// </summary>
[GenerateSerializer, Immutable]
public sealed record StreamSnapshot<TState>(
    [property: Id(0)] TState State,
    [property: Id(1)] long Version,
    [property: Id(2)] byte[] LastHash,
    [property: Id(3)] string? Tenant);
