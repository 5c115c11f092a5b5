using System.Collections.Immutable;

namespace Escrow.Domain.Accounts;

/// <summary>
/// The folded state of one account stream. <see cref="Balance"/> is in major units of
/// <see cref="Currency"/>; it is signed (credits minus debits), and across every account of one
/// currency the balances sum to zero.
/// </summary>
public sealed record AccountState
{
    public static AccountState Empty(string accountId) => new() { AccountId = accountId };

    public required string AccountId { get; init; }
    public bool Exists { get; init; }
    public string Owner { get; init; } = "";

    /// <summary>The data subject whose key seals <see cref="Owner"/>, or null (see <see cref="AccountOpened"/>).</summary>
    public string? Subject { get; init; }
    public string Currency { get; init; } = "";
    public AccountKind Kind { get; init; }
    public decimal OverdraftLimit { get; init; }
    public AccountStatus Status { get; init; }
    public decimal Balance { get; init; }
    public DateTimeOffset? OpenedAt { get; init; }
    public DateTimeOffset? LastActivityAt { get; init; }
    public long PostingCount { get; init; }

    /// <summary>Posting ids already reversed on this account (a posting is reversed at most once).</summary>
    public ImmutableHashSet<string> ReversedPostings { get; init; } = ImmutableHashSet<string>.Empty;

    /// <summary>Escrow deals this account is a live party to (buyer or seller, not yet in an end state).</summary>
    public ImmutableHashSet<string> LiveDeals { get; init; } = ImmutableHashSet<string>.Empty;

    /// <summary>Open holds by hold id: amounts (major units) reserved for pending debits.</summary>
    public ImmutableDictionary<string, decimal> Holds { get; init; } = ImmutableDictionary<string, decimal>.Empty;

    /// <summary>The sum of <see cref="Holds"/>: money reserved but not yet debited.</summary>
    public decimal Held { get; init; }

    /// <summary>
    /// The lowest balance a debit may leave: minus the overdraft limit for a customer account,
    /// none (<c>null</c>) for the operator's internal and external accounts.
    /// </summary>
    public decimal? Floor => Kind == AccountKind.Customer ? -OverdraftLimit : null;

    /// <summary>Balance minus open holds minus the floor: what a debit may take now (unbounded accounts report <c>null</c>).</summary>
    public decimal? Available => Floor is { } f ? Balance - Held - f : null;
}
