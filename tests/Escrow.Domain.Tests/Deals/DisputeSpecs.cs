using Escrow.Domain.Accounts;
using Escrow.Domain.Deals;
using Escrow.Domain.Tests.Accounts;
using static Escrow.Domain.Tests.Deals.DealSpec;

namespace Escrow.Domain.Tests.Deals;

public class OpenDisputeSpecs
{
    [Fact]
    public void A_party_disputes_a_funded_deal_and_its_expiry_pauses() =>
        Given(Books(), Created(), Funded())
            .When(Dispute(DealParty.Seller, "buyer refuses delivery", at: 40))
            .Then(Disputed(DealParty.Seller, "buyer refuses delivery", at: 40))
            .AndDeal(d =>
            {
                Assert.Equal(DealStatus.Disputed, d.Status);
                Assert.Equal(new DealDispute(DealParty.Seller, "buyer refuses delivery", At(40), TimeSpan.FromMinutes(Expiry - 40), DealStatus.Funded), d.Dispute);
                Assert.True(d.ExpiryPaused);
                Assert.Null(d.ExpiryTimer);
                Assert.Equal(TimeSpan.FromMinutes(60), d.ExpiryRemaining);
                Assert.Equal(At(500 + 60), d.ExpiryOnResume(At(500)));
                Assert.Equal(100m, d.Held);
            });

    [Fact]
    public void A_partially_released_deal_can_be_disputed() =>
        Given(Books(), Created(), Funded(), Released(1, 10m))
            .When(Dispute())
            .Then(Disputed(at: 10))
            .AndDeal(d => Assert.Equal((DealStatus.Disputed, DealStatus.PartiallyReleased, 90m), (d.Status, d.Dispute!.StatusBefore, d.Held)));

    [Fact]
    public void A_dispute_opened_after_the_expiry_instant_has_no_time_left() =>
        Given(Books(), Created(), Funded())
            .When(Dispute(at: Expiry + 7))
            .Then(Disputed(at: Expiry + 7))
            .AndDeal(d => Assert.Equal(TimeSpan.Zero, d.ExpiryRemaining));

    [Fact]
    public void A_dispute_needs_a_reason() =>
        Given(Books(), Created(), Funded()).When(Dispute(reason: " ")).ThenRejected(DealRejectionCodes.MissingField, "reason");

    [Fact]
    public void A_dispute_is_opened_by_the_buyer_or_the_seller() =>
        Given(Books(), Created(), Funded()).When(Dispute(by: (DealParty)7)).ThenRejected(DealRejectionCodes.MissingField);

    [Fact]
    public void An_unfunded_deal_has_nothing_to_dispute() =>
        Given(Books(), Created()).When(Dispute())
            .ThenRejected(DealRejectionCodes.InvalidTransition, "deal d-1 is CREATED; open dispute requires FUNDED or PARTIALLY_RELEASED");

    [Fact]
    public void A_dispute_is_opened_once() =>
        Given(Books(), Created(), Funded(), Disputed()).When(Dispute(DealParty.Seller)).ThenRejected(DealRejectionCodes.InvalidTransition, "is DISPUTED");

    [Fact]
    public void A_dispute_moves_no_money_and_reads_no_account() => Assert.Empty(Dispute().Accounts);
}

public class EvidenceSpecs
{
    private static DealScenario InDispute(params PendingEvent[][] more) => Given([Books(), Created(), Funded(), Disputed(), .. more]);

    [Fact]
    public void Inline_evidence_is_recorded_with_its_hash() =>
        InDispute()
            .When(Evidence(content: "photo of the empty box", at: 10))
            .Then(EvidenceGiven(content: "photo of the empty box", at: 10))
            .AndDeal(d => Assert.Equal(
                [new DealEvidence("ev-1", "photo", null, Sha("photo of the empty box"), "buyer", At(10))], d.Evidence));

    [Fact]
    public void Referenced_evidence_keeps_its_hash_in_lower_case()
    {
        var hash = Sha("scan bytes");
        InDispute()
            .When(Evidence("ev-2", "invoice", content: null, reference: "s3://evidence/ev-2.pdf", sha: hash.ToUpperInvariant(), submitter: "seller"))
            .Then(new PendingEvent[] { new(D, new DealEvidenceSubmitted(D, "ev-2", "invoice", null, "s3://evidence/ev-2.pdf", hash, "seller", At(10))) });
    }

    [Fact]
    public void Evidence_is_appended_in_order() =>
        InDispute(EvidenceGiven("ev-1"))
            .When(Evidence("ev-2", content: "tracking says returned", at: 11))
            .AndDeal(d => Assert.Equal(["ev-1", "ev-2"], d.Evidence.Select(e => e.EvidenceId)));

    [Fact]
    public void Evidence_is_never_changed() =>
        InDispute(EvidenceGiven("ev-1"))
            .When(Evidence("ev-1", content: "a different photo")).ThenRejected(DealRejectionCodes.EvidenceExists, "ev-1");

    [Fact]
    public void Resubmitting_identical_evidence_is_refused_too() =>
        InDispute(EvidenceGiven("ev-1")).When(Evidence("ev-1")).ThenRejected(DealRejectionCodes.EvidenceExists);

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Evidence_carries_content_or_a_reference(bool both) =>
        InDispute().When(Evidence(content: both ? "x" : null, reference: both ? "s3://x" : null, sha: Sha("x")))
            .ThenRejected(DealRejectionCodes.InvalidEvidence);

    [Theory]
    [InlineData("")]
    [InlineData("abc")]
    [InlineData("zz4b2ed7b25c5e9fbb1e5e1cb6e8c34e3b4c19ffb6b4d0bd2b2b5ec3c8fd0fd1")]
    public void The_hash_is_a_sha256(string hash) =>
        InDispute().When(Evidence(reference: "s3://x", content: null, sha: hash)).ThenRejected(DealRejectionCodes.InvalidContentHash);

    [Fact]
    public void The_hash_of_inline_content_must_match_it() =>
        InDispute().When(Evidence(content: "photo", sha: Sha("another photo"))).ThenRejected(DealRejectionCodes.ContentHashMismatch);

    [Theory]
    [InlineData("id")]
    [InlineData("type")]
    [InlineData("submitter")]
    public void Evidence_fields_are_required(string field) =>
        InDispute().When(field switch
        {
            "id" => Evidence(id: ""),
            "type" => Evidence(type: " "),
            _ => Evidence(submitter: ""),
        }).ThenRejected(DealRejectionCodes.MissingField);

    [Fact]
    public void Evidence_is_accepted_only_in_a_dispute() =>
        Given(Books(), Created(), Funded()).When(Evidence())
            .ThenRejected(DealRejectionCodes.InvalidTransition, "deal d-1 is FUNDED; submit evidence requires DISPUTED");

    [Fact]
    public void A_resolved_dispute_takes_no_more_evidence() =>
        InDispute(ResolvedEvents(50m, 50m)).When(Evidence()).ThenRejected(DealRejectionCodes.InvalidTransition, "is RESOLVED");
}

public class ResolveSpecs
{
    private static DealScenario InDispute(params PendingEvent[][] more) => Given([Books(), Created(), Funded(), .. more, Disputed()]);

    [Fact]
    public void A_resolution_splits_what_is_held_between_buyer_and_seller() =>
        InDispute()
            .When(Resolve(30m, 70m, note: "partial delivery"))
            .Then(ResolvedEvents(30m, 70m, at: 10, note: "partial delivery"))
            .AndDeal(d =>
            {
                Assert.Equal((DealStatus.Resolved, 100m, 70m, 30m, 0m), (d.Status, d.Funded, d.Released, d.Refunded, d.Held));
                Assert.Equal(new DealResolution("arbiter", 30m, 70m, "partial delivery", At(10)), d.Resolution);
                Assert.True(d.IsTerminal);
                Assert.Null(d.ExpiryRemaining);
            })
            .AndBalance(Buyer, 30m)
            .AndBalance(Seller, 70m)
            .AndBalance(EscrowAcct, 0m);

    [Fact]
    public void A_zero_seller_share_has_no_seller_leg() =>
        InDispute().When(Resolve(100m, 0m)).Then(ResolvedEvents(100m, 0m, at: 10)).AndBalance(Buyer, 100m).AndBalance(Seller, 0m);

    [Fact]
    public void A_zero_buyer_share_has_no_buyer_leg() =>
        InDispute().When(Resolve(0m, 100m)).Then(ResolvedEvents(0m, 100m, at: 10)).AndBalance(Seller, 100m);

    [Fact]
    public void After_a_partial_release_only_the_rest_is_split() =>
        InDispute(Released(1, 40m))
            .When(Resolve(35.5m, 24.5m))
            .Then(ResolvedEvents(35.5m, 24.5m, at: 10))
            .AndDeal(d => Assert.Equal((64.5m, 35.5m, 0m), (d.Released, d.Refunded, d.Held)));

    [Theory]
    [InlineData("50", "49.99")]
    [InlineData("50", "50.01")]
    [InlineData("0", "0")]
    [InlineData("100", "100")]
    public void The_shares_add_up_exactly_to_what_is_held(string buyer, string seller) =>
        InDispute().When(Resolve(Dec(buyer), Dec(seller))).ThenRejected(DealRejectionCodes.SplitMismatch, "holds 100");

    [Theory]
    [InlineData("-10", "110", AccountRejectionCodes.InvalidAmount)]
    [InlineData("110", "-10", AccountRejectionCodes.InvalidAmount)]
    [InlineData("50.005", "49.995", AccountRejectionCodes.AmountPrecision)]
    public void Shares_are_non_negative_within_the_minor_unit(string buyer, string seller, string code) =>
        InDispute().When(Resolve(Dec(buyer), Dec(seller))).ThenRejected(code);

    [Fact]
    public void A_resolution_names_who_decided() =>
        InDispute().When(Resolve(50m, 50m, decidedBy: "")).ThenRejected(DealRejectionCodes.MissingField);

    [Fact]
    public void Only_a_dispute_is_resolved() =>
        Given(Books(), Created(), Funded()).When(Resolve(50m, 50m))
            .ThenRejected(DealRejectionCodes.InvalidTransition, "deal d-1 is FUNDED; resolve requires DISPUTED");

    [Fact]
    public void A_dispute_is_resolved_once() =>
        Given(Books(), Created(), Funded(), Disputed(), ResolvedEvents(50m, 50m)).When(Resolve(0m, 0m)).ThenRejected(DealRejectionCodes.InvalidTransition, "is RESOLVED");

    [Fact]
    public void A_closed_seller_account_blocks_the_seller_leg() =>
        InDispute(AccountSpec.Closed(Seller, at: 4)).When(Resolve(50m, 50m)).ThenRejected(AccountRejectionCodes.AccountClosed, Seller);
}
