namespace Escrow.Domain.Subjects;

/// <summary>
/// Marker for events of a data subject's stream (<c>subject-{tenant}/{subject}</c>). A data subject (GDPR art. 4(1)) is the
/// person whose personal data the ledger holds sealed under the subject's key; the subject id is the opaque reference the
/// institution chose (a customer number), never the data itself. Every event is schema version 1 and carries <c>At</c>.
/// </summary>
public interface ISubjectEvent
{
    string Subject { get; }
    DateTimeOffset At { get; }
}

/// <summary>
/// Stored name <c>LegalHoldPlaced</c>, schema 1: the subject's personal data must be kept (litigation, an investigation, a
/// regulator's order; GDPR art. 17(3)(b) and (e)): erasure is refused until the hold is released.
/// </summary>
public sealed record LegalHoldPlaced(string Subject, string Reason, string By, DateTimeOffset At) : ISubjectEvent;

/// <summary>Stored name <c>LegalHoldReleased</c>, schema 1: the hold placed earlier no longer applies.</summary>
public sealed record LegalHoldReleased(string Subject, string? Reason, string By, DateTimeOffset At) : ISubjectEvent;

/// <summary>
/// Stored name <c>PersonalDataErased</c>, schema 1: the subject's key is destroyed (GDPR art. 17(1)); every value sealed for it
/// reads as erased from then on. Amounts, currencies, account ids and times were never sealed: the books still add up.
/// </summary>
public sealed record PersonalDataErased(string Subject, string By, string? Reason, DateTimeOffset At) : ISubjectEvent;
