using System.Text.Json;
using Escrow.EventStore;
using Escrow.Grains;

namespace Escrow.Silo.Hosting;

/// <summary>
/// How the HTTP frontend answers a grain's <see cref="CommandResult{TView}"/>: 201 for a command that created something,
/// 200 for another accepted one, the problem details of a refusal (404 for the <c>*_not_found</c> codes, 422 for
/// <c>idempotency_key_reused</c>, 409 for every other rule), or, for an answer stored before commands ran on grains, that
/// answer verbatim. Deterministic, so a retry under the same Idempotency-Key gets the same bytes.
/// </summary>
public static class CommandAnswers
{
    /// <summary>The HTTP status of <paramref name="result"/> (also recorded in the audit log's status column).</summary>
    public static int Status<TView>(CommandResult<TView> result) where TView : class =>
        result.StoredAnswer is { } stored ? stored.Status
        : result.Accepted ? (result.Created ? 201 : 200)
        : result.Rejection!.Code == Grains.StreamGrainCodes.IdempotencyKeyReused ? 422
        : Problems.StatusFor(result.Rejection.Code);

    /// <summary>The answer to send: status and JSON body (<paramref name="body"/> picks what of the view the API shows).</summary>
    public static CommandOutcome ToOutcome<TView>(CommandResult<TView> result, Func<TView, object>? body = null) where TView : class
    {
        if (result.StoredAnswer is { } stored) return new CommandOutcome(stored.Status, stored.Body, Replayed: true);
        var status = Status(result);
        if (!result.Accepted)
            return Problems.Outcome(status, result.Rejection!.Code, result.Rejection.Message) with { Replayed = result.Replayed };
        var json = JsonSerializer.Serialize(body is null ? result.View! : body(result.View!), EventSerializer.Options);
        return new CommandOutcome(status, json, result.Replayed) { EventsAppended = result.EventsAppended };
    }
}
