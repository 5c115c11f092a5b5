namespace Escrow.Domain.Subjects;

/// <summary>The data subject aggregate: legal holds and erasure (GDPR art. 17, with its exceptions of art. 17(3)).</summary>
public static class Subject
{
    public const string StreamType = "subject";

    /// <summary>Rejection codes (409).</summary>
    public const string LegalHoldInForce = "legal_hold", DisputeOpen = "open_dispute", SubjectErased = "subject_erased",
        LegalHoldAlreadyPlaced = "legal_hold_already_placed", MissingReason = "missing_reason";

    public static Decision Decide(SubjectState s, SubjectCommand c) => c switch
    {
        PlaceLegalHold p when string.IsNullOrWhiteSpace(p.Reason) => Decision.Reject(MissingReason, "a legal hold needs a reason"),
        PlaceLegalHold when s.ErasedAt is not null =>
            Decision.Reject(SubjectErased, $"the personal data of subject '{s.Subject}' was erased at {s.ErasedAt:O}; there is nothing left to hold"),
        PlaceLegalHold when s.LegalHold is not null =>
            Decision.Reject(LegalHoldAlreadyPlaced, $"subject '{s.Subject}' is already under a legal hold ({s.LegalHold})"),
        PlaceLegalHold p => Accept(s, new LegalHoldPlaced(s.Subject, p.Reason, p.By, p.At)),
        ReleaseLegalHold when s.LegalHold is null => Decision.Accept(),
        ReleaseLegalHold r => Accept(s, new LegalHoldReleased(s.Subject, r.Reason, r.By, r.At)),
        EraseSubject when s.ErasedAt is not null => Decision.Accept(),
        EraseSubject when s.LegalHold is not null =>
            Decision.Reject(LegalHoldInForce, $"subject '{s.Subject}' is under a legal hold since {s.LegalHoldSince:O} ({s.LegalHold}); release it first"),
        EraseSubject e when e.OpenDisputes.Count > 0 =>
            Decision.Reject(DisputeOpen, $"deal(s) {string.Join(", ", e.OpenDisputes)} naming subject '{s.Subject}' are in dispute; erase after they are resolved"),
        EraseSubject e => Accept(s, new PersonalDataErased(s.Subject, e.By, e.Reason, e.At)),
        _ => throw new ArgumentOutOfRangeException(nameof(c), c.GetType().Name),
    };

    public static SubjectState Evolve(SubjectState s, object e) => e switch
    {
        LegalHoldPlaced p => s with { LegalHold = p.Reason, LegalHoldSince = p.At, LastActivityAt = p.At },
        LegalHoldReleased r => s with { LegalHold = null, LegalHoldSince = null, LastActivityAt = r.At },
        PersonalDataErased x => s with { ErasedAt = x.At, ErasedBy = x.By, LastActivityAt = x.At },
        _ => s,
    };

    private static Decision Accept(SubjectState s, ISubjectEvent e) => Decision.Accept(new PendingEvent(s.Subject, e));
}
