using Escrow.Domain.Accounts;
namespace Escrow.Domain;

/// <summary>
/// An amount in one ISO 4217 currency. Amounts are <see cref="decimal"/> in major units
/// (12.34 EUR is <c>12.34m</c>), never binary floating point.
/// </summary>
public readonly record struct Money(decimal Amount, Currency Currency)
{
    /// <summary>
    /// Checks a positive posting amount: greater than zero (<see cref="AccountRejectionCodes.InvalidAmount"/>) and
    /// no more decimals than the currency's ISO 4217 minor unit (<see cref="AccountRejectionCodes.AmountPrecision"/>).
    /// </summary>
    /// <summary>
    /// The largest amount one posting may move: 10^15 major units. Far above any real payment, far below
    /// <see cref="decimal.MaxValue"/>, so balances and sums of balances can never overflow.
    /// </summary>
    public const decimal MaxAmount = 1_000_000_000_000_000m;

    public static Rejection? ValidatePositive(decimal amount, Currency currency)
    {
        if (amount <= 0)
            return new(AccountRejectionCodes.InvalidAmount, $"amount must be greater than zero, got {amount}");
        if (amount > MaxAmount)
            return new(AccountRejectionCodes.InvalidAmount, $"amount {amount} is above the largest amount a posting may move ({MaxAmount})");
        if (!currency.FitsMinorUnit(amount))
            return new(AccountRejectionCodes.AmountPrecision,
                $"amount {amount} has more decimals than {currency.Code} allows ({currency.MinorUnits}, ISO 4217 minor unit)");
        return null;
    }

    public override string ToString() => $"{Amount} {Currency.Code}";
}
