using System.Security.Cryptography;
using System.Text;
using Escrow.Domain.Accounts;
using Escrow.Domain.Deals;
using Escrow.Domain.Tests.Accounts;

namespace Escrow.Domain.Tests.Deals;

/// <summary>
/// Given/when/then for the deal aggregate. <c>Given(facts...)</c> folds the events of each fact per stream: the
/// deal stream (<see cref="D"/>) with <see cref="Deal.Evolve"/>, account streams with <see cref="Account.Evolve"/>.
/// <c>When(command)</c> decides as the host does: a command other than create is bound to the deal's accounts
/// (<see cref="DealCommand.For"/>), and <see cref="Deal.Decide"/> sees exactly the account streams the command names.
/// A fact that moves money is the deal event plus both posting legs, so facts compose as
/// <c>Given(Books(), Created(), Funded())</c>.
/// </summary>
internal static class DealSpec
{
    public const string D = "d-1";
    public const string Buyer = "buyer";
    public const string Seller = "seller";
    public const string EscrowAcct = "escrow-d-1";
    public const string Cash = "cash";

    /// <summary>Minute 0 of every scenario.</summary>
    public static readonly DateTimeOffset T0 = AccountSpec.T0;

    /// <summary>The default expiry: minute 100.</summary>
    public const int Expiry = 100;

    public static DateTimeOffset At(int minute) => T0.AddMinutes(minute);

    public static DealScenario Given(params PendingEvent[][] history) => new(history.SelectMany(h => h).ToList());

    public static string Sha(string content) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(content)));

    // ----- history: the books -----

    /// <summary>cash (internal), buyer and seller (customers), the escrow account (internal), all EUR; buyer holds <paramref name="buyerHas"/>.</summary>
    public static PendingEvent[] Books(decimal buyerHas = 100m, string currency = "EUR") =>
    [
        .. AccountSpec.Opened(Cash, currency, AccountKind.Internal, at: 0),
        .. AccountSpec.Opened(Buyer, currency, at: 0),
        .. AccountSpec.Opened(Seller, currency, at: 0),
        .. AccountSpec.Opened(EscrowAcct, currency, AccountKind.Internal, at: 0),
        .. (buyerHas > 0 ? AccountSpec.Posted("dep-1", Cash, Buyer, buyerHas, currency, at: 0, kind: PostingKind.Deposit) : []),
    ];

    /// <summary>Both legs of a deal posting, as <see cref="Deal"/> writes them.</summary>
    public static PendingEvent[] Legs(string postingId, string debit, string credit, decimal amount, string purpose, int at, string currency = "EUR") =>
        AccountSpec.Posted(postingId, debit, credit, amount, currency, at: 0, reference: $"deal {D} {purpose}")
            .Select(e => e with { Event = Restamp(e.Event, At(at)) }).ToArray();

    private static object Restamp(object e, DateTimeOffset at) => e switch
    {
        AccountDebited d => d with { At = at },
        AccountCredited c => c with { At = at },
        _ => e,
    };

    // ----- history: the deal -----

    public static PendingEvent[] Created(
        decimal amount = 100m, string currency = "EUR", int expiresAt = Expiry, bool refundAtExpiry = true, int at = 1) =>
        [new(D, new DealCreated(D, "bank-1", "tpl-goods", Buyer, Seller, EscrowAcct, amount, currency, At(expiresAt), refundAtExpiry, "ext-1", "goods on delivery", At(at)))];

    public static PendingEvent[] Funded(decimal amount = 100m, int at = 2) =>
        [new(D, new DealFunded(D, $"{D}:fund", amount, "EUR", At(at))), .. Legs($"{D}:fund", Buyer, EscrowAcct, amount, "fund", at)];

    public static PendingEvent[] Released(int n, decimal amount, int at = 3) =>
        [new(D, new DealReleased(D, $"{D}:release:{n}", amount, "EUR", At(at))), .. Legs($"{D}:release:{n}", EscrowAcct, Seller, amount, "release", at)];

    public static PendingEvent[] Cancelled(decimal refunded, int at = 4, string? reason = "changed mind") =>
        [new(D, new DealCancelled(D, $"{D}:cancel", refunded, "EUR", reason, At(at))), .. Legs($"{D}:cancel", EscrowAcct, Buyer, refunded, "cancel refund", at)];

    public static PendingEvent[] ExpiredUnfunded(int at = Expiry) => [new(D, new DealExpired(D, null, 0m, "EUR", At(at)))];

    public static PendingEvent[] ExpiredRefunding(decimal refunded, int at = Expiry) =>
        [new(D, new DealExpired(D, $"{D}:expiry-refund", refunded, "EUR", At(at))), .. Legs($"{D}:expiry-refund", EscrowAcct, Buyer, refunded, "expiry refund", at)];

    public static PendingEvent[] Disputed(DealParty by = DealParty.Buyer, string reason = "goods not delivered", int at = 5) =>
        [new(D, new DealDisputeOpened(D, by, reason, At(at)))];

    public static PendingEvent[] EvidenceGiven(string id = "ev-1", string content = "photo of the empty box", int at = 6) =>
        [new(D, new DealEvidenceSubmitted(D, id, "photo", content, null, Sha(content), "buyer", At(at)))];

    public static PendingEvent[] ResolvedEvents(decimal buyerShare, decimal sellerShare, int at = 7, string? note = null)
    {
        var events = new List<PendingEvent>
        {
            new(D, new DealResolved(D, "arbiter", buyerShare, sellerShare, "EUR",
                buyerShare > 0 ? $"{D}:resolve:buyer" : null, sellerShare > 0 ? $"{D}:resolve:seller" : null, note, At(at))),
        };
        if (buyerShare > 0)
            events.AddRange(Legs($"{D}:resolve:buyer", EscrowAcct, Buyer, buyerShare, "resolution, buyer share", at));
        if (sellerShare > 0)
            events.AddRange(Legs($"{D}:resolve:seller", EscrowAcct, Seller, sellerShare, "resolution, seller share", at));
        return [.. events];
    }

    // ----- commands -----

    public static CreateDeal Create(
        decimal amount = 100m, string currency = "EUR", int expiresAt = Expiry, bool refundAtExpiry = true, int at = 1,
        string buyer = Buyer, string seller = Seller, string escrow = EscrowAcct, string tenant = "bank-1", string template = "tpl-goods", string deal = D) =>
        new(deal, tenant, template, buyer, seller, escrow, amount, currency, At(expiresAt), refundAtExpiry, "ext-1", "goods on delivery", At(at));

    public static FundDeal Fund(int at = 10) => new(D, At(at));

    public static ReleaseDeal Release(decimal amount, int at = 10) => new(D, amount, At(at));

    public static CancelDeal Cancel(int at = 10, string? reason = "changed mind") => new(D, reason, At(at));

    public static ExpireDeal Expire(int at = Expiry) => new(D, At(at));

    public static OpenDispute Dispute(DealParty by = DealParty.Buyer, string reason = "goods not delivered", int at = 10) => new(D, by, reason, At(at));

    public static SubmitEvidence Evidence(
        string id = "ev-1", string type = "photo", string? content = "photo of the empty box", string? reference = null,
        string? sha = null, string submitter = "buyer", int at = 10) =>
        new(D, id, type, content, reference, sha ?? Sha(content ?? reference ?? ""), submitter, At(at));

    public static ResolveDispute Resolve(decimal buyerShare, decimal sellerShare, string decidedBy = "arbiter", int at = 10, string? note = null) =>
        new(D, decidedBy, buyerShare, sellerShare, note, At(at));

    public static decimal Dec(string s) => decimal.Parse(s, System.Globalization.CultureInfo.InvariantCulture);
}

internal sealed class DealScenario(IReadOnlyList<PendingEvent> history)
{
    public DealState Deal { get; } = Fold(DealState.Empty(DealSpec.D), history.Where(e => e.StreamId == DealSpec.D));

    public IReadOnlyDictionary<string, AccountState> Accounts { get; } =
        global::Escrow.Domain.Tests.Accounts.Scenario.FoldPerStream(history.Where(e => e.StreamId != DealSpec.D));

    /// <summary>Decides as the host does: bound to the deal's accounts, on exactly the account streams the command names.</summary>
    public DealOutcome When(DealCommand command)
    {
        var bound = command is CreateDeal ? command : command.For(Deal);
        return new(bound, this, Domain.Deals.Deal.Decide(new(Deal, Visible(Accounts, bound)), bound));
    }

    /// <summary>Decides without binding the command to the deal's accounts (a host that skipped <see cref="DealCommand.For"/>).</summary>
    public DealOutcome WhenUnbound(DealCommand command) => new(command, this, Domain.Deals.Deal.Decide(new(Deal, Visible(Accounts, command)), command));

    internal static Dictionary<string, AccountState> Visible(IReadOnlyDictionary<string, AccountState> states, DealCommand command) =>
        command.Accounts.Distinct(StringComparer.Ordinal)
            .ToDictionary(id => id, id => states.TryGetValue(id, out var s) ? s : AccountState.Empty(id), StringComparer.Ordinal);

    internal static DealState Fold(DealState start, IEnumerable<PendingEvent> events) =>
        events.Aggregate(start, (s, e) => Domain.Deals.Deal.Evolve(s, e.Event));
}

internal sealed class DealOutcome(DealCommand command, DealScenario given, Decision decision)
{
    public Decision Decision { get; } = decision;

    /// <summary>Accepted, producing exactly the events of <paramref name="expected"/> facts, in order.</summary>
    public DealOutcome Then(params PendingEvent[][] expected)
    {
        Assert.True(Decision.Rejection is null, $"{command} was rejected: {Decision.Rejection}");
        Assert.Equal(expected.SelectMany(e => e), Decision.Events);
        return this;
    }

    /// <summary>Refused with <paramref name="code"/> (and a message containing <paramref name="message"/>, if given); nothing written.</summary>
    public DealOutcome ThenRejected(string code, string? message = null)
    {
        Assert.True(Decision.IsRejected, $"{command} was accepted with {string.Join(", ", Decision.Events)}");
        Assert.Equal(code, Decision.Rejection!.Code);
        Assert.False(string.IsNullOrWhiteSpace(Decision.Rejection.Message));
        if (message is not null)
            Assert.Contains(message, Decision.Rejection.Message, StringComparison.Ordinal);
        Assert.Empty(Decision.Events);
        return this;
    }

    /// <summary>The deal after the accepted events, with the escrow invariant checked.</summary>
    public DealOutcome AndDeal(Action<DealState> check)
    {
        var after = DealScenario.Fold(given.Deal, Decision.Events.Where(e => e.StreamId == DealSpec.D));
        Assert.Equal(after.Funded, after.Released + after.Refunded + after.Held);
        Assert.True(after.Held >= 0);
        check(after);
        return this;
    }

    /// <summary>Ledger balance of <paramref name="accountId"/> after the accepted events.</summary>
    public DealOutcome AndBalance(string accountId, decimal expected)
    {
        var after = global::Escrow.Domain.Tests.Accounts.Scenario.FoldPerStream(Decision.Events.Where(e => e.StreamId != DealSpec.D), given.Accounts);
        Assert.Equal(expected, after[accountId].Balance);
        return this;
    }
}
