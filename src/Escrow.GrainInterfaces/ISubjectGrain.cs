using Escrow.Domain.Subjects;
using Orleans.Concurrency;

namespace Escrow.Grains;

/// <summary>
/// A data subject: a journaled grain over the stream <c>subject-{institution}/{subject}</c>, keyed <c>{institution}/{subject}</c>.
/// Places and releases legal holds and erases the subject's personal data (GDPR art. 17) by recording
/// <see cref="PersonalDataErased"/> and then destroying the subject's key in <c>data_subjects</c>; every value sealed for the
/// subject reads as erased from then on, on every silo.
/// </summary>
public interface ISubjectGrain : IGrainWithStringKey
{
    /// <summary>
    /// Decides and commits <paramref name="command"/> (<see cref="Subject.Decide"/>). An erasure of an erased subject is
    /// accepted again with no new event, and destroys the key again should an earlier erasure have stopped between its event
    /// and the key. Refusals (409): <c>legal_hold</c>, <c>open_dispute</c>, <c>subject_erased</c>,
    /// <c>legal_hold_already_placed</c>; 400-like <c>missing_reason</c>; <c>idempotency_key_reused</c>. Throws when PostgreSQL
    /// cannot be reached.
    /// </summary>
    Task<CommandResult<SubjectView>> Execute(SubjectCommand command, CommandCall call);

    /// <summary>The subject's state now (read from the stream's tail).</summary>
    [AlwaysInterleave]
    Task<SubjectView> Get();
}

/// <summary>
/// A data subject as the API answers it: its legal hold (reason and since when) while one is in force, and when its
/// personal data was erased and by whom. <see cref="Version"/> counts the events of the subject's stream.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record SubjectView(
    [property: Id(0)] string Subject, [property: Id(1)] string Tenant, [property: Id(2)] string? LegalHold,
    [property: Id(3)] DateTimeOffset? LegalHoldSince, [property: Id(4)] bool Erased, [property: Id(5)] DateTimeOffset? ErasedAt,
    [property: Id(6)] string? ErasedBy, [property: Id(7)] long Version)
{
    /// <summary>The view of <paramref name="s"/> of institution <paramref name="tenant"/> at stream version <paramref name="version"/>.</summary>
    public static SubjectView From(SubjectState s, string tenant, long version) =>
        new(s.Subject, tenant, s.LegalHold, s.LegalHoldSince, s.ErasedAt is not null, s.ErasedAt, s.ErasedBy, version);
}
