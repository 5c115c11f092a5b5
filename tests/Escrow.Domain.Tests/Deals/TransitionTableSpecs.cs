using Escrow.Domain.Deals;

namespace Escrow.Domain.Tests.Deals;

public class TransitionTableSpecs
{
    [Fact]
    public void The_markdown_rendering_lists_every_transition()
    {
        var lines = DealTransitions.ToMarkdown().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("| command | from | to | when | money |", lines[0]);
        Assert.Equal("|---|---|---|---|---|", lines[1]);
        Assert.Equal(DealTransitions.Table.Length, lines.Length - 2);
        foreach (var (t, line) in DealTransitions.Table.Zip(lines.Skip(2)))
        {
            var cells = line.Trim('|').Split('|').Select(c => c.Trim()).ToArray();
            Assert.Equal(t.Command.ToString(), cells[0]);
            Assert.Equal(t.From == DealStatus.None ? "—" : t.From.Wire(), cells[1]);
            Assert.Equal(t.To.Wire(), cells[2]);
        }
    }

    [Fact]
    public void The_table_holds_exactly_the_lifecycle_of_issue_3()
    {
        var expected = new (DealCommandKind, DealStatus, DealStatus)[]
        {
            (DealCommandKind.Create, DealStatus.None, DealStatus.Created),
            (DealCommandKind.Fund, DealStatus.Created, DealStatus.Funded),
            (DealCommandKind.Release, DealStatus.Funded, DealStatus.PartiallyReleased),
            (DealCommandKind.Release, DealStatus.Funded, DealStatus.Released),
            (DealCommandKind.Release, DealStatus.PartiallyReleased, DealStatus.PartiallyReleased),
            (DealCommandKind.Release, DealStatus.PartiallyReleased, DealStatus.Released),
            (DealCommandKind.Cancel, DealStatus.Funded, DealStatus.Cancelled),
            (DealCommandKind.Cancel, DealStatus.PartiallyReleased, DealStatus.Cancelled),
            (DealCommandKind.Expire, DealStatus.Created, DealStatus.Expired),
            (DealCommandKind.Expire, DealStatus.Funded, DealStatus.Expired),
            (DealCommandKind.Expire, DealStatus.PartiallyReleased, DealStatus.Expired),
            (DealCommandKind.OpenDispute, DealStatus.Funded, DealStatus.Disputed),
            (DealCommandKind.OpenDispute, DealStatus.PartiallyReleased, DealStatus.Disputed),
            (DealCommandKind.SubmitEvidence, DealStatus.Disputed, DealStatus.Disputed),
            (DealCommandKind.Resolve, DealStatus.Disputed, DealStatus.Resolved),
        };
        Assert.Equal(expected, DealTransitions.Table.Select(t => (t.Command, t.From, t.To)));
        Assert.Equal(DealTransitions.Table.Length, DealTransitions.Table.Select(t => (t.Command, t.From, t.To)).Distinct().Count());
    }

    [Fact]
    public void Every_status_is_reachable_and_the_terminal_ones_have_no_way_out()
    {
        var targets = DealTransitions.Table.Select(t => t.To).ToHashSet();
        Assert.All(Enum.GetValues<DealStatus>().Where(s => s != DealStatus.None), s => Assert.Contains(s, targets));
        var terminal = Enum.GetValues<DealStatus>().Where(s => DealTransitions.Table.All(t => t.From != s));
        Assert.Equal([DealStatus.Released, DealStatus.Cancelled, DealStatus.Expired, DealStatus.Resolved], terminal);
        Assert.All(Enum.GetValues<DealCommandKind>(), k => Assert.NotEmpty(DealTransitions.SourcesOf(k)));
    }

    [Fact]
    public void Every_deal_event_has_a_stable_name_and_schema_1()
    {
        var dealEvents = typeof(IDealEvent).Assembly.GetTypes().Where(t => typeof(IDealEvent).IsAssignableFrom(t) && !t.IsInterface).ToList();
        Assert.Equal(8, dealEvents.Count);
        foreach (var type in dealEvents)
        {
            var entry = EventRegistry.ForType(type);
            Assert.Equal(type.Name, entry.Name);
            Assert.StartsWith("Deal", entry.Name, StringComparison.Ordinal);
            Assert.Equal(1, entry.SchemaVersion);
        }
        Assert.Equal(EventRegistry.All.Count, EventRegistry.All.Select(e => e.Name).Distinct().Count());
    }
}
