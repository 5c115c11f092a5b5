using Escrow.Domain.Accounts;
using Escrow.Domain.Deals;
using Escrow.Domain.Tests.Accounts;
using static Escrow.Domain.Tests.Deals.DealSpec;

namespace Escrow.Domain.Tests.Deals;

public class CreateSpecs
{
    [Fact]
    public void A_deal_is_created_with_its_terms_and_no_money() =>
        Given(Books())
            .When(Create())
            .Then(Created())
            .AndDeal(d =>
            {
                Assert.Equal(DealStatus.Created, d.Status);
                Assert.Equal((Buyer, Seller, EscrowAcct), (d.BuyerAccount, d.SellerAccount, d.EscrowAccount));
                Assert.Equal(("bank-1", "tpl-goods", "ext-1", "goods on delivery"), (d.Tenant, d.TemplateId, d.ExternalReference, d.Terms));
                Assert.Equal((100m, "EUR", At(Expiry), true), (d.Amount, d.Currency, d.ExpiresAt, d.RefundAtExpiry));
                Assert.Equal((0m, 0m, 0m, 0m), (d.Funded, d.Released, d.Refunded, d.Held));
                Assert.Equal(At(Expiry), d.ExpiryTimer);
            })
            .AndBalance(EscrowAcct, 0m);

    [Fact]
    public void The_escrow_account_may_be_opened_by_the_host_after_the_deal() =>
        Given(AccountSpec.Opened(Buyer), AccountSpec.Opened(Seller)).When(Create()).Then(Created());

    [Fact]
    public void Create_names_the_three_accounts_it_reads() =>
        Assert.Equal([Buyer, Seller, EscrowAcct], Create().Accounts);

    [Fact]
    public void A_deal_id_is_created_once() =>
        Given(Books(), Created()).When(Create()).ThenRejected(DealRejectionCodes.DealExists, "d-1");

    [Theory]
    [InlineData("tenant")]
    [InlineData("template")]
    [InlineData("buyer")]
    [InlineData("seller")]
    [InlineData("escrow")]
    public void Required_fields_are_required(string field) =>
        Given(Books()).When(field switch
        {
            "tenant" => Create(tenant: " "),
            "template" => Create(template: ""),
            "buyer" => Create(buyer: ""),
            "seller" => Create(seller: ""),
            _ => Create(escrow: ""),
        }).ThenRejected(DealRejectionCodes.MissingField);

    [Fact]
    public void The_currency_must_be_iso_4217() =>
        Given(Books()).When(Create(currency: "XXX")).ThenRejected(AccountRejectionCodes.UnknownCurrency);

    [Theory]
    [InlineData("0", "EUR", AccountRejectionCodes.InvalidAmount)]
    [InlineData("-5", "EUR", AccountRejectionCodes.InvalidAmount)]
    [InlineData("1.001", "EUR", AccountRejectionCodes.AmountPrecision)]
    [InlineData("1.5", "JPY", AccountRejectionCodes.AmountPrecision)]
    public void The_amount_is_positive_within_the_minor_unit(string amount, string currency, string code) =>
        Given(Books(currency: currency)).When(Create(Dec(amount), currency)).ThenRejected(code);

    [Fact]
    public void A_jpy_deal_has_whole_yen() =>
        Given(Books(currency: "JPY")).When(Create(1500m, "JPY")).Then(Created(1500m, "JPY"));

    [Theory]
    [InlineData(Buyer, Buyer, EscrowAcct)]
    [InlineData(Buyer, Seller, Buyer)]
    [InlineData(Buyer, Seller, Seller)]
    public void Buyer_seller_and_escrow_are_three_accounts(string buyer, string seller, string escrow) =>
        Given(Books()).When(Create(buyer: buyer, seller: seller, escrow: escrow)).ThenRejected(AccountRejectionCodes.SameAccount);

    [Theory]
    [InlineData(1)]
    [InlineData(0)]
    public void The_expiry_is_after_creation(int expiresAt) =>
        Given(Books()).When(Create(expiresAt: expiresAt, at: 1)).ThenRejected(DealRejectionCodes.InvalidExpiry);

    [Theory]
    [InlineData("ghost", Seller)]
    [InlineData(Buyer, "ghost")]
    public void Buyer_and_seller_accounts_must_exist(string buyer, string seller) =>
        Given(Books()).When(Create(buyer: buyer, seller: seller)).ThenRejected(AccountRejectionCodes.AccountNotFound, "ghost");

    [Fact]
    public void A_closed_party_account_is_refused() =>
        Given(AccountSpec.Opened(Buyer), AccountSpec.Opened(Seller), AccountSpec.Closed(Seller))
            .When(Create(at: 10, expiresAt: 200)).ThenRejected(AccountRejectionCodes.AccountClosed);

    [Fact]
    public void Party_accounts_are_kept_in_the_deal_currency() =>
        Given(AccountSpec.Opened(Buyer), AccountSpec.Opened(Seller, "CZK"))
            .When(Create()).ThenRejected(AccountRejectionCodes.CurrencyMismatch, Seller);

    [Theory]
    [InlineData("customer")]
    [InlineData("czk")]
    [InlineData("not empty")]
    [InlineData("closed")]
    public void An_existing_escrow_account_must_be_an_empty_internal_account_in_the_deal_currency(string why) =>
        Given([AccountSpec.Opened(Buyer), AccountSpec.Opened(Seller), AccountSpec.Opened(Cash, kind: AccountKind.Internal), .. why switch
        {
            "customer" => new[] { AccountSpec.Opened(EscrowAcct) },
            "czk" => [AccountSpec.Opened(EscrowAcct, "CZK", AccountKind.Internal)],
            "not empty" => [AccountSpec.Opened(EscrowAcct, kind: AccountKind.Internal), AccountSpec.Posted("x", Cash, EscrowAcct, 1m)],
            _ => [AccountSpec.Opened(EscrowAcct, kind: AccountKind.Internal), AccountSpec.Closed(EscrowAcct)],
        }]).When(Create(at: 10, expiresAt: 200)).ThenRejected(DealRejectionCodes.InvalidEscrowAccount, EscrowAcct);
}

public class FundSpecs
{
    [Fact]
    public void Funding_moves_the_amount_from_the_buyer_into_escrow_in_the_same_decision() =>
        Given(Books(150m), Created())
            .When(Fund(at: 10))
            .Then(Funded(100m, at: 10))
            .AndDeal(d =>
            {
                Assert.Equal(DealStatus.Funded, d.Status);
                Assert.Equal((100m, 100m), (d.Funded, d.Held));
            })
            .AndBalance(Buyer, 50m)
            .AndBalance(EscrowAcct, 100m);

    [Fact]
    public void The_buyer_must_have_the_amount_available() =>
        Given(Books(99.99m), Created()).When(Fund()).ThenRejected(AccountRejectionCodes.InsufficientFunds, Buyer);

    [Fact]
    public void A_frozen_buyer_cannot_fund() =>
        Given(Books(), Created(), AccountSpec.Frozen(Buyer, at: 3)).When(Fund()).ThenRejected(AccountRejectionCodes.AccountFrozen);

    [Fact]
    public void The_escrow_account_must_be_open() =>
        Given(AccountSpec.Opened(Buyer), AccountSpec.Opened(Seller), Created()).When(Fund()).ThenRejected(AccountRejectionCodes.AccountNotFound, EscrowAcct);

    [Fact]
    public void Funding_is_not_back_dated_before_the_accounts_last_activity() =>
        Given(Books(), Created(), AccountSpec.Posted("late", Cash, Buyer, 1m, at: 20)).When(Fund(at: 10)).ThenRejected(AccountRejectionCodes.BackdatedPosting);

    [Theory]
    [InlineData(Expiry)]
    [InlineData(Expiry + 1)]
    public void A_deal_is_not_funded_at_or_after_its_expiry(int at) =>
        Given(Books(), Created()).When(Fund(at)).ThenRejected(DealRejectionCodes.DealExpired);

    [Fact]
    public void An_unknown_deal_is_not_found() =>
        Given(Books()).When(Fund()).ThenRejected(DealRejectionCodes.DealNotFound, D);

    [Fact]
    public void A_deal_is_funded_once() =>
        Given(Books(300m), Created(), Funded()).When(Fund())
            .ThenRejected(DealRejectionCodes.InvalidTransition, "deal d-1 is FUNDED; fund requires CREATED");

    [Fact]
    public void The_host_binds_a_command_to_the_deals_accounts() =>
        Assert.Equal([Buyer, Seller, EscrowAcct], Fund().For(Given(Books(), Created()).Deal).Accounts);

    [Fact]
    public void An_unbound_command_sees_no_accounts_and_moves_no_money() =>
        Given(Books(), Created()).WhenUnbound(Fund()).ThenRejected(AccountRejectionCodes.AccountNotFound);
}
