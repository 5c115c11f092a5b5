using System.Collections.Immutable;
using System.Text;

namespace Escrow.Domain.Deals;

/// <summary>
/// One allowed move of a deal: <see cref="Command"/> takes a deal in <see cref="From"/> to <see cref="To"/>
/// when <see cref="When"/> holds, moving money as <see cref="Money"/> says.
/// </summary>
public sealed record DealTransition(DealCommandKind Command, DealStatus From, DealStatus To, string When, string Money);

/// <summary>
/// The one table of allowed deal transitions. <see cref="Deal.Decide"/> consults it before any other rule:
/// a command whose (kind, current status) has no row is rejected with <c>invalid_transition</c> naming the current
/// status and the statuses the command requires, and every accepted decision lands on a row's target status.
/// Source: the deal lifecycle in docs/deals.md.
/// </summary>
public static class DealTransitions
{
    private const string None = "—";

    /// <summary>Every allowed transition, in lifecycle order.</summary>
    public static readonly ImmutableArray<DealTransition> Table =
    [
        new(DealCommandKind.Create, DealStatus.None, DealStatus.Created, "valid terms; buyer and seller accounts exist in the deal currency", None),
        new(DealCommandKind.Fund, DealStatus.Created, DealStatus.Funded, "before expiry; buyer has the amount available", "amount: buyer → escrow"),
        new(DealCommandKind.Release, DealStatus.Funded, DealStatus.PartiallyReleased, "0 < amount < held", "amount: escrow → seller"),
        new(DealCommandKind.Release, DealStatus.Funded, DealStatus.Released, "amount = held", "amount: escrow → seller"),
        new(DealCommandKind.Release, DealStatus.PartiallyReleased, DealStatus.PartiallyReleased, "0 < amount < held", "amount: escrow → seller"),
        new(DealCommandKind.Release, DealStatus.PartiallyReleased, DealStatus.Released, "amount = held", "amount: escrow → seller"),
        new(DealCommandKind.Cancel, DealStatus.Funded, DealStatus.Cancelled, "always", "held: escrow → buyer"),
        new(DealCommandKind.Cancel, DealStatus.PartiallyReleased, DealStatus.Cancelled, "always", "held: escrow → buyer"),
        new(DealCommandKind.Expire, DealStatus.Created, DealStatus.Expired, "at ≥ expiry", None),
        new(DealCommandKind.Expire, DealStatus.Funded, DealStatus.Expired, "at ≥ expiry and refund at expiry agreed", "held: escrow → buyer"),
        new(DealCommandKind.Expire, DealStatus.PartiallyReleased, DealStatus.Expired, "at ≥ expiry and refund at expiry agreed", "held: escrow → buyer"),
        new(DealCommandKind.OpenDispute, DealStatus.Funded, DealStatus.Disputed, "a party, with a reason; expiry paused", None),
        new(DealCommandKind.OpenDispute, DealStatus.PartiallyReleased, DealStatus.Disputed, "a party, with a reason; expiry paused", None),
        new(DealCommandKind.SubmitEvidence, DealStatus.Disputed, DealStatus.Disputed, "new evidence id; SHA-256 of the content", None),
        new(DealCommandKind.Resolve, DealStatus.Disputed, DealStatus.Resolved, "buyer share + seller share = held", "buyer share: escrow → buyer; seller share: escrow → seller"),
    ];

    /// <summary>True when the table has a row taking a deal in <paramref name="from"/> to <paramref name="to"/> by <paramref name="command"/>.</summary>
    public static bool Allows(DealCommandKind command, DealStatus from, DealStatus to) =>
        Table.Any(t => t.Command == command && t.From == from && t.To == to);

    /// <summary>The statuses <paramref name="command"/> may start from, in table order.</summary>
    public static IReadOnlyList<DealStatus> SourcesOf(DealCommandKind command) =>
        Table.Where(t => t.Command == command).Select(t => t.From).Distinct().ToList();

    /// <summary>The table as a GitHub Markdown table, one row per transition.</summary>
    public static string ToMarkdown()
    {
        var sb = new StringBuilder();
        sb.Append("| command | from | to | when | money |\n");
        sb.Append("|---|---|---|---|---|\n");
        foreach (var t in Table)
        {
            var from = t.From == DealStatus.None ? None : t.From.Wire();
            sb.Append($"| {t.Command} | {from} | {t.To.Wire()} | {t.When} | {t.Money} |\n");
        }
        return sb.ToString();
    }
}
