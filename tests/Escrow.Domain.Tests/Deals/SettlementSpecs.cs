using Escrow.Domain.Accounts;
using Escrow.Domain.Deals;
using Escrow.Domain.Tests.Accounts;
using static Escrow.Domain.Tests.Deals.DealSpec;

namespace Escrow.Domain.Tests.Deals;

public class ReleaseSpecs
{
    private static DealScenario FundedDeal(params PendingEvent[][] more) => Given([Books(), Created(), Funded(), .. more]);

    [Fact]
    public void A_partial_release_pays_the_seller_and_keeps_the_rest_held() =>
        FundedDeal()
            .When(Release(30m))
            .Then(Released(1, 30m, at: 10))
            .AndDeal(d =>
            {
                Assert.Equal(DealStatus.PartiallyReleased, d.Status);
                Assert.Equal((100m, 30m, 0m, 70m), (d.Funded, d.Released, d.Refunded, d.Held));
            })
            .AndBalance(EscrowAcct, 70m)
            .AndBalance(Seller, 30m);

    [Fact]
    public void Several_partial_releases_get_their_own_postings() =>
        FundedDeal(Released(1, 30m))
            .When(Release(20m))
            .Then(Released(2, 20m, at: 10))
            .AndDeal(d => Assert.Equal((DealStatus.PartiallyReleased, 50m, 50m, 2), (d.Status, d.Released, d.Held, d.ReleaseCount)));

    [Fact]
    public void Releasing_the_rest_completes_the_deal() =>
        FundedDeal(Released(1, 30m))
            .When(Release(70m))
            .Then(Released(2, 70m, at: 10))
            .AndDeal(d =>
            {
                Assert.Equal((DealStatus.Released, 100m, 0m), (d.Status, d.Released, d.Held));
                Assert.True(d.IsTerminal);
                Assert.Null(d.ExpiryTimer);
            })
            .AndBalance(EscrowAcct, 0m)
            .AndBalance(Seller, 100m);

    [Fact]
    public void Releasing_everything_at_once_completes_the_deal() =>
        FundedDeal().When(Release(100m)).Then(Released(1, 100m, at: 10)).AndDeal(d => Assert.Equal(DealStatus.Released, d.Status));

    [Fact]
    public void A_frozen_seller_still_receives_money() =>
        FundedDeal(AccountSpec.Frozen(Seller, at: 4)).When(Release(100m)).Then(Released(1, 100m, at: 10)).AndBalance(Seller, 100m);

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public void No_more_than_what_is_held_is_released(int partial) =>
        (partial == 0 ? FundedDeal() : FundedDeal(Released(1, 60m)))
            .When(Release(partial == 0 ? 100.01m : 40.01m)).ThenRejected(DealRejectionCodes.AmountExceedsHeld);

    [Theory]
    [InlineData("0", AccountRejectionCodes.InvalidAmount)]
    [InlineData("-1", AccountRejectionCodes.InvalidAmount)]
    [InlineData("0.001", AccountRejectionCodes.AmountPrecision)]
    public void A_release_amount_is_positive_within_the_minor_unit(string amount, string code) =>
        FundedDeal().When(Release(Dec(amount))).ThenRejected(code);

    [Fact]
    public void An_unfunded_deal_releases_nothing() =>
        Given(Books(), Created()).When(Release(1m))
            .ThenRejected(DealRejectionCodes.InvalidTransition, "deal d-1 is CREATED; release requires FUNDED or PARTIALLY_RELEASED");

    [Fact]
    public void A_released_deal_releases_nothing_more() =>
        FundedDeal(Released(1, 100m)).When(Release(1m)).ThenRejected(DealRejectionCodes.InvalidTransition, "is RELEASED");

    [Fact]
    public void A_disputed_deal_releases_nothing() =>
        FundedDeal(Disputed()).When(Release(1m)).ThenRejected(DealRejectionCodes.InvalidTransition, "is DISPUTED");

    [Fact]
    public void An_unknown_deal_is_not_found() => Given(Books()).When(Release(1m)).ThenRejected(DealRejectionCodes.DealNotFound);
}

public class CancelSpecs
{
    [Fact]
    public void Cancelling_a_funded_deal_refunds_everything_to_the_buyer() =>
        Given(Books(), Created(), Funded())
            .When(Cancel())
            .Then(Cancelled(100m, at: 10))
            .AndDeal(d => Assert.Equal((DealStatus.Cancelled, 100m, 0m, 100m, 0m), (d.Status, d.Funded, d.Released, d.Refunded, d.Held)))
            .AndBalance(Buyer, 100m)
            .AndBalance(EscrowAcct, 0m);

    [Fact]
    public void Cancelling_a_partially_released_deal_refunds_the_rest() =>
        Given(Books(), Created(), Funded(), Released(1, 25m))
            .When(Cancel(reason: null))
            .Then(Cancelled(75m, at: 10, reason: null))
            .AndDeal(d => Assert.Equal((DealStatus.Cancelled, 25m, 75m, 0m), (d.Status, d.Released, d.Refunded, d.Held)))
            .AndBalance(Buyer, 75m)
            .AndBalance(Seller, 25m);

    [Fact]
    public void An_unfunded_deal_is_not_cancelled_it_expires() =>
        Given(Books(), Created()).When(Cancel())
            .ThenRejected(DealRejectionCodes.InvalidTransition, "deal d-1 is CREATED; cancel requires FUNDED or PARTIALLY_RELEASED");

    [Fact]
    public void A_disputed_deal_is_resolved_not_cancelled() =>
        Given(Books(), Created(), Funded(), Disputed()).When(Cancel()).ThenRejected(DealRejectionCodes.InvalidTransition, "is DISPUTED");

    [Fact]
    public void A_cancelled_deal_stays_cancelled() =>
        Given(Books(), Created(), Funded(), Cancelled(100m)).When(Cancel()).ThenRejected(DealRejectionCodes.InvalidTransition, "is CANCELLED");

    [Fact]
    public void A_closed_buyer_account_blocks_the_refund() =>
        Given(Books(100m), Created(), Funded(),
                AccountSpec.Closed(Buyer, at: 4))
            .When(Cancel()).ThenRejected(AccountRejectionCodes.AccountClosed, Buyer);
}

public class ExpireSpecs
{
    [Fact]
    public void An_unfunded_deal_expires_without_money() =>
        Given(Books(), Created())
            .When(Expire())
            .Then(ExpiredUnfunded())
            .AndDeal(d =>
            {
                Assert.Equal((DealStatus.Expired, 0m, 0m), (d.Status, d.Funded, d.Held));
                Assert.Null(d.ExpiryTimer);
            });

    [Fact]
    public void A_funded_deal_refunding_at_expiry_refunds_what_is_held() =>
        Given(Books(), Created(refundAtExpiry: true), Funded())
            .When(Expire(Expiry + 5))
            .Then(ExpiredRefunding(100m, Expiry + 5))
            .AndDeal(d => Assert.Equal((DealStatus.Expired, 100m, 100m, 0m), (d.Status, d.Funded, d.Refunded, d.Held)))
            .AndBalance(Buyer, 100m)
            .AndBalance(EscrowAcct, 0m);

    [Fact]
    public void A_partially_released_deal_refunding_at_expiry_refunds_the_rest() =>
        Given(Books(), Created(), Funded(), Released(1, 40m))
            .When(Expire())
            .Then(ExpiredRefunding(60m))
            .AndDeal(d => Assert.Equal((40m, 60m, 0m), (d.Released, d.Refunded, d.Held)))
            .AndBalance(Buyer, 60m)
            .AndBalance(Seller, 40m);

    [Fact]
    public void A_funded_deal_whose_terms_keep_the_money_does_not_expire() =>
        Given(Books(), Created(refundAtExpiry: false), Funded())
            .When(Expire()).ThenRejected(DealRejectionCodes.RefundAtExpiryNotAgreed);

    [Fact]
    public void Terms_that_keep_the_money_need_no_timer_once_funded()
    {
        Assert.Equal(At(Expiry), Given(Books(), Created(refundAtExpiry: false)).Deal.ExpiryTimer);
        Assert.Null(Given(Books(), Created(refundAtExpiry: false), Funded()).Deal.ExpiryTimer);
        Assert.Equal(At(Expiry), Given(Books(), Created(refundAtExpiry: true), Funded()).Deal.ExpiryTimer);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Nothing_expires_before_its_expiry_instant(bool funded) =>
        (funded ? Given(Books(), Created(), Funded()) : Given(Books(), Created()))
            .When(Expire(Expiry - 1)).ThenRejected(DealRejectionCodes.NotExpired);

    [Fact]
    public void A_dispute_pauses_expiry() =>
        Given(Books(), Created(), Funded(), Disputed()).When(Expire(Expiry + 50))
            .ThenRejected(DealRejectionCodes.InvalidTransition, "expiry is paused while disputed");

    [Fact]
    public void A_released_deal_does_not_expire() =>
        Given(Books(), Created(), Funded(), Released(1, 100m)).When(Expire())
            .ThenRejected(DealRejectionCodes.InvalidTransition, "deal d-1 is RELEASED; expire requires CREATED or FUNDED or PARTIALLY_RELEASED");

    [Fact]
    public void A_release_that_reaches_the_deal_before_the_timer_wins_the_race() =>
        Given(Books(), Created(), Funded()).When(Release(100m, at: Expiry + 1)).Then(Released(1, 100m, at: Expiry + 1));

    [Fact]
    public void An_expired_deal_expires_once() =>
        Given(Books(), Created(), ExpiredUnfunded()).When(Expire(Expiry + 1)).ThenRejected(DealRejectionCodes.InvalidTransition, "is EXPIRED");

    [Fact]
    public void An_unknown_deal_is_not_found() => Given(Books()).When(Expire()).ThenRejected(DealRejectionCodes.DealNotFound);
}
