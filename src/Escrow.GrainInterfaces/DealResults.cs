using Escrow.Domain.Deals;

namespace Escrow.Grains;

/// <summary>
/// A deal as the API answers it. Amounts in major units of <see cref="Currency"/> (ISO 4217); the escrow invariant holds at
/// every version: <see cref="Funded"/> = <see cref="Released"/> + <see cref="Refunded"/> + <see cref="Held"/>.
/// <see cref="Version"/> counts the events of the deal's stream.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record DealView(
    [property: Id(0)] string DealId, [property: Id(1)] string Tenant, [property: Id(2)] string TemplateId, [property: Id(3)] string Status,
    [property: Id(4)] string BuyerAccount, [property: Id(5)] string SellerAccount, [property: Id(6)] string EscrowAccount,
    [property: Id(7)] decimal Amount, [property: Id(8)] string Currency, [property: Id(9)] decimal Funded, [property: Id(10)] decimal Released,
    [property: Id(11)] decimal Refunded, [property: Id(12)] decimal Held, [property: Id(13)] DateTimeOffset ExpiresAt,
    [property: Id(14)] bool RefundAtExpiry, [property: Id(15)] bool ExpiryPaused, [property: Id(16)] string? ExternalReference,
    [property: Id(17)] string? Terms, [property: Id(18)] int EvidenceCount, [property: Id(19)] long Version)
{
    /// <summary>The view of a deal state <paramref name="s"/> at stream version <paramref name="version"/>.</summary>
    public static DealView From(DealState s, long version) => new(
        s.DealId, s.Tenant, s.TemplateId, s.Status.Wire(), s.BuyerAccount, s.SellerAccount, s.EscrowAccount, s.Amount, s.Currency,
        s.Funded, s.Released, s.Refunded, s.Held, s.ExpiresAt, s.RefundAtExpiry, s.ExpiryPaused, s.ExternalReference, s.Terms,
        s.Evidence.Count, version);
}
