namespace Escrow.Domain.Deals;

/// <summary>The three ledger accounts of a deal: where money comes from, goes to, and waits in between.</summary>
public sealed record DealAccounts(string Buyer, string Seller, string Escrow)
{
    /// <summary>The three ids, buyer, seller, escrow.</summary>
    public IReadOnlyList<string> Ids => [Buyer, Seller, Escrow];

    /// <summary>The accounts recorded on a deal, or null when the deal does not exist.</summary>
    public static DealAccounts? Of(DealState deal) =>
        deal.Exists ? new(deal.BuyerAccount, deal.SellerAccount, deal.EscrowAccount) : null;
}

/// <summary>
/// A command on one deal. Amounts are <see cref="decimal"/> in major units of the deal currency; every instant
/// comes in on the command (<paramref name="At"/>): the aggregate never reads a clock.
/// <para>
/// <see cref="Accounts"/> names every ledger account the command may read or write, so that the host knows which
/// account streams to load (and lock, in ordinal order) before <see cref="Deal.Decide"/>. A
/// <see cref="CreateDeal"/> names them itself; every other command learns them from the deal: the host loads the
/// deal first and passes <c>command.For(dealState)</c>, as it fills <c>ReversePosting.Original</c> from the log.
/// </para>
/// </summary>
public abstract record DealCommand(string DealId, DateTimeOffset At)
{
    public abstract DealCommandKind Kind { get; }

    /// <summary>The deal's accounts as the host found them on the deal (null until <see cref="For"/>).</summary>
    public DealAccounts? DealAccounts { get; init; }

    /// <summary>Every account this command reads or writes: buyer, seller, escrow (none for commands that move no money).</summary>
    public virtual IReadOnlyList<string> Accounts => DealAccounts?.Ids ?? [];

    /// <summary>This command bound to the accounts recorded on <paramref name="deal"/>.</summary>
    public DealCommand For(DealState deal) => this with { DealAccounts = Deals.DealAccounts.Of(deal) };
}

/// <summary>
/// Create deal <paramref name="DealId"/> for <paramref name="Tenant"/> (the institution), from template/asset
/// <paramref name="TemplateId"/>: <paramref name="Amount"/> (major units, positive, at most the ISO 4217 minor-unit
/// decimals of <paramref name="Currency"/>) to be held in <paramref name="EscrowAccount"/> (the deal's own internal
/// ledger account, e.g. <c>escrow-{dealId}</c>, opened by the host) between <paramref name="BuyerAccount"/> and
/// <paramref name="SellerAccount"/>, until <paramref name="ExpiresAt"/> (after <paramref name="At"/>). <paramref name="Subjects"/>
/// are the data subjects whose keys seal the deal's personal fields (terms, reasons, evidence, notes); the host sets them
/// from the buyer's and seller's accounts.
/// </summary>
public sealed record CreateDeal(
    string DealId, string Tenant, string TemplateId, string BuyerAccount, string SellerAccount, string EscrowAccount,
    decimal Amount, string Currency, DateTimeOffset ExpiresAt, bool RefundAtExpiry, string? ExternalReference,
    string? Terms, DateTimeOffset At, IReadOnlyList<string>? Subjects = null) : DealCommand(DealId, At)
{
    public override DealCommandKind Kind => DealCommandKind.Create;

    public override IReadOnlyList<string> Accounts => [BuyerAccount, SellerAccount, EscrowAccount];
}

/// <summary>Move the deal amount buyer → escrow.</summary>
public sealed record FundDeal(string DealId, DateTimeOffset At) : DealCommand(DealId, At)
{
    public override DealCommandKind Kind => DealCommandKind.Fund;
}

/// <summary>Move <paramref name="Amount"/> (major units, positive, at most what is held) escrow → seller.</summary>
public sealed record ReleaseDeal(string DealId, decimal Amount, DateTimeOffset At) : DealCommand(DealId, At)
{
    public override DealCommandKind Kind => DealCommandKind.Release;
}

/// <summary>Refund everything held escrow → buyer and end the deal.</summary>
public sealed record CancelDeal(string DealId, string? Reason, DateTimeOffset At) : DealCommand(DealId, At)
{
    public override DealCommandKind Kind => DealCommandKind.Cancel;
}

/// <summary>Fired by the host's durable timer at or after the deal's expiry instant.</summary>
public sealed record ExpireDeal(string DealId, DateTimeOffset At) : DealCommand(DealId, At)
{
    public override DealCommandKind Kind => DealCommandKind.Expire;
}

/// <summary><paramref name="By"/> disputes the deal for <paramref name="Reason"/> (required). Moves no money.</summary>
public sealed record OpenDispute(string DealId, DealParty By, string Reason, DateTimeOffset At) : DealCommand(DealId, At)
{
    public override DealCommandKind Kind => DealCommandKind.OpenDispute;

    public override IReadOnlyList<string> Accounts => [];
}

/// <summary>
/// Add evidence <paramref name="EvidenceId"/> of <paramref name="Type"/> to the dispute. Exactly one of
/// <paramref name="Content"/> and <paramref name="ContentReference"/>; <paramref name="Sha256"/> is the SHA-256 of the
/// content as 64 hex digits (any case; stored lower case), computed by the server; for inline content the aggregate
/// checks it against the UTF-8 bytes, unless <paramref name="ContentSealed"/>: then the host checked it against the text
/// before sealing it for the deal's data subjects (the content is an envelope). Moves no money.
/// </summary>
public sealed record SubmitEvidence(
    string DealId, string EvidenceId, string Type, string? Content, string? ContentReference, string Sha256,
    string SubmittedBy, DateTimeOffset At, bool ContentSealed = false) : DealCommand(DealId, At)
{
    public override DealCommandKind Kind => DealCommandKind.SubmitEvidence;

    public override IReadOnlyList<string> Accounts => [];
}

/// <summary>
/// <paramref name="DecidedBy"/> ends the dispute: <paramref name="BuyerShare"/> escrow → buyer,
/// <paramref name="SellerShare"/> escrow → seller; both ≥ 0 and together exactly what is held.
/// </summary>
public sealed record ResolveDispute(
    string DealId, string DecidedBy, decimal BuyerShare, decimal SellerShare, string? Note, DateTimeOffset At)
    : DealCommand(DealId, At)
{
    public override DealCommandKind Kind => DealCommandKind.Resolve;
}
