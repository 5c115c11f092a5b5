using Escrow.Domain.Subjects;

namespace Escrow.Domain.Tests.Subjects;

/// <summary>The data subject aggregate: legal holds, open disputes and erasure (GDPR art. 17 and its exceptions).</summary>
public class SubjectSpecs
{
    private static readonly DateTimeOffset T = new(2026, 12, 8, 9, 0, 0, TimeSpan.Zero);

    private static SubjectState Fold(params object[] events) => events.Aggregate(SubjectState.Empty("cust-42"), Subject.Evolve);

    [Fact]
    public void Erasure_is_refused_under_a_legal_hold_and_an_open_dispute_and_is_recorded_once_when_neither_applies()
    {
        var held = Fold(new LegalHoldPlaced("cust-42", "court order", "root", T));
        Assert.Equal(Subject.LegalHoldInForce, Subject.Decide(held, new EraseSubject("cust-42", null, [], "root", T.AddHours(1))).Rejection?.Code);

        var released = Fold(new LegalHoldPlaced("cust-42", "court order", "root", T), new LegalHoldReleased("cust-42", null, "root", T.AddHours(1)));
        var disputed = Subject.Decide(released, new EraseSubject("cust-42", null, ["d-1", "d-2"], "root", T.AddHours(2)));
        Assert.Equal(Subject.DisputeOpen, disputed.Rejection?.Code);
        Assert.Contains("d-1, d-2", disputed.Rejection!.Message);

        var erase = Subject.Decide(released, new EraseSubject("cust-42", "art. 17", [], "root", T.AddHours(3)));
        var erased = Assert.IsType<PersonalDataErased>(Assert.Single(erase.Events).Event);
        Assert.Equal("root", erased.By);
        var after = Subject.Evolve(released, erased);
        Assert.Equal(T.AddHours(3), after.ErasedAt);
        // Idempotent: accepted again with nothing to write; nothing more can be held.
        var again = Subject.Decide(after, new EraseSubject("cust-42", null, ["d-9"], "root", T.AddHours(4)));
        Assert.False(again.IsRejected);
        Assert.Empty(again.Events);
        Assert.Equal(Subject.SubjectErased, Subject.Decide(after, new PlaceLegalHold("cust-42", "late", "root", T.AddHours(5))).Rejection?.Code);
    }

    [Fact]
    public void A_hold_needs_a_reason_is_placed_once_and_a_release_without_one_writes_nothing()
    {
        var empty = Fold();
        Assert.Equal(Subject.MissingReason, Subject.Decide(empty, new PlaceLegalHold("cust-42", " ", "root", T)).Rejection?.Code);
        var held = Fold(new LegalHoldPlaced("cust-42", "investigation", "root", T));
        Assert.Equal("investigation", held.LegalHold);
        Assert.Equal(Subject.LegalHoldAlreadyPlaced, Subject.Decide(held, new PlaceLegalHold("cust-42", "another", "root", T)).Rejection?.Code);
        var release = Subject.Decide(empty, new ReleaseLegalHold("cust-42", null, "root", T));
        Assert.False(release.IsRejected);
        Assert.Empty(release.Events);
    }
}
