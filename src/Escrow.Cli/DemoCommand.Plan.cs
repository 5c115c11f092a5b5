using System.Globalization;

namespace Escrow.Cli;

internal static partial class DemoCommand
{
    // ---------------------------------------------------------------- the plan

    private enum Outcome { Release, Partial, Cancel, Expire, Dispute, Open }

    /// <summary>One POST after the create: path under /deals/{id}/, body, and the deal status the answer must show.</summary>
    private sealed record Step(string Op, string Path, object? Body, string ExpectState);

    private sealed record DealPlan(
        int Index, string DealId, int Market, string Buyer, string Seller, decimal Amount, Outcome Outcome, string Variant,
        int? ExpiresInMs, bool RefundAtExpiry, IReadOnlyList<Step> Steps, string FinalState, decimal FinalHeld, int Evidence);

    private sealed record Market(string Institution, string WriterKey, string AuditorKey, string[] Buyers, string[] Sellers);

    private static decimal Money(int cents) => decimal.Divide(cents, 100m);

    /// <summary>Cuts <paramref name="cents"/> into <paramref name="parts"/> positive parts at distinct random points.</summary>
    private static int[] Split(Random rnd, int cents, int parts)
    {
        var cuts = new SortedSet<int>();
        while (cuts.Count < parts - 1) cuts.Add(rnd.Next(1, cents));
        var result = new int[parts];
        var previous = 0;
        var i = 0;
        foreach (var c in cuts) { result[i++] = c - previous; previous = c; }
        result[i] = cents - previous;
        return result;
    }

    private static readonly string[] DisputeReasons =
    [
        "item not received", "item not as described", "parcel arrived damaged", "wrong size delivered", "buyer refuses a delivered item",
        "counterfeit suspected", "partial delivery only",
    ];
    private static readonly string[] EvidenceTypes = ["photo", "tracking", "chat-log", "invoice", "delivery-note", "expert-opinion"];
    private static readonly string[] CancelReasons = ["seller out of stock", "buyer changed their mind", "mutual agreement", "shipping not possible"];

    private static List<DealPlan> PlanDay(int n, int seed, string run, Market[] markets)
    {
        var rnd = new Random(seed);
        // The mix of outcomes: exact counts, shuffled. Whatever rounding leaves over stays open.
        var counts = new (Outcome Outcome, double Share)[]
        {
            (Outcome.Release, 0.45), (Outcome.Partial, 0.20), (Outcome.Cancel, 0.10), (Outcome.Expire, 0.10), (Outcome.Dispute, 0.12),
        };
        var outcomes = new List<Outcome>(n);
        foreach (var (o, share) in counts) outcomes.AddRange(Enumerable.Repeat(o, (int)Math.Round(n * share, MidpointRounding.AwayFromZero)));
        while (outcomes.Count > n) outcomes.RemoveAt(outcomes.Count - 1);
        while (outcomes.Count < n) outcomes.Add(Outcome.Open);
        var shuffled = outcomes.ToArray();
        rnd.Shuffle(shuffled);

        var plans = new List<DealPlan>(n);
        for (var i = 0; i < n; i++)
        {
            var market = rnd.Next(2);
            var m = markets[market];
            var buyer = m.Buyers[rnd.Next(m.Buyers.Length)];
            var seller = m.Sellers[rnd.Next(m.Sellers.Length)];
            // Prices of a marketplace: most are small, a few are large (5.00 to 2,500.00 EUR, in cents).
            var band = rnd.Next(100);
            var cents = band < 50 ? rnd.Next(500, 5_001) : band < 85 ? rnd.Next(5_000, 50_001) : rnd.Next(50_000, 250_001);
            var dealId = $"deal-{run}-{i.ToString("D5", CultureInfo.InvariantCulture)}";
            var steps = new List<Step>();
            var o = shuffled[i];
            string variant, final;
            var held = 0;
            var evidence = 0;
            int? expiresInMs = null;
            var refundAtExpiry = false;
            void Fund() => steps.Add(new Step("fund", "fund", new { }, "FUNDED"));
            void Release(int c, bool last) => steps.Add(new Step("release", "release", new { amount = Money(c) }, last ? "RELEASED" : "PARTIALLY_RELEASED"));
            switch (o)
            {
                case Outcome.Release:
                    Fund();
                    Release(cents, true);
                    variant = "one release";
                    final = "RELEASED";
                    break;
                case Outcome.Partial:
                {
                    Fund();
                    var parts = Split(rnd, cents, rnd.Next(2, 5));
                    for (var p = 0; p < parts.Length; p++) Release(parts[p], p == parts.Length - 1);
                    variant = $"{parts.Length} releases";
                    final = "RELEASED";
                    break;
                }
                case Outcome.Cancel:
                {
                    Fund();
                    var partialFirst = rnd.Next(3) == 0;
                    if (partialFirst) Release(Split(rnd, cents, 2)[0], false);
                    steps.Add(new Step("cancel", "cancel", new { reason = CancelReasons[rnd.Next(CancelReasons.Length)] }, "CANCELLED"));
                    variant = partialFirst ? "after a partial release" : "after funding";
                    final = "CANCELLED";
                    break;
                }
                case Outcome.Expire:
                {
                    expiresInMs = rnd.Next(2_000, 3_001);
                    var kind = rnd.Next(4);
                    if (kind < 2)
                        variant = "never funded";
                    else
                    {
                        refundAtExpiry = true;
                        Fund();
                        if (kind == 3)
                        {
                            Release(Split(rnd, cents, 2)[0], false);
                            variant = "funded, partly released, refund at expiry";
                        }
                        else variant = "funded, refund at expiry";
                    }
                    final = "EXPIRED";
                    break;
                }
                case Outcome.Dispute:
                {
                    Fund();
                    held = cents;
                    if (rnd.Next(10) < 3)
                    {
                        var first = Split(rnd, cents, 2)[0];
                        Release(first, false);
                        held -= first;
                    }
                    var by = rnd.Next(10) < 7 ? "buyer" : "seller";
                    var reason = DisputeReasons[rnd.Next(DisputeReasons.Length)];
                    steps.Add(new Step("dispute", "disputes", new { by, reason }, "DISPUTED"));
                    evidence = rnd.Next(1, 4);
                    for (var e = 1; e <= evidence; e++)
                    {
                        var type = EvidenceTypes[rnd.Next(EvidenceTypes.Length)];
                        var content = $"{type} #{e.ToString(CultureInfo.InvariantCulture)} for {dealId}: {reason}; submitted on behalf of the {(e % 2 == 1 ? by : by == "buyer" ? "seller" : "buyer")} " +
                                      $"(ref {rnd.Next(100_000, 1_000_000).ToString(CultureInfo.InvariantCulture)})";
                        steps.Add(new Step("evidence", "evidence", new { evidenceId = $"ev-{e.ToString(CultureInfo.InvariantCulture)}", type, content }, "DISPUTED"));
                    }
                    // The decision: all to the buyer, all to the seller, or a split of what is held.
                    var split = rnd.Next(10);
                    var buyerCents = split < 2 ? held : split < 4 ? 0 : rnd.Next(0, held + 1);
                    steps.Add(new Step("resolve", "resolve",
                        new { buyerShare = Money(buyerCents), sellerShare = Money(held - buyerCents), note = $"decided on {evidence.ToString(CultureInfo.InvariantCulture)} evidence record(s)" },
                        "RESOLVED"));
                    held = 0;
                    variant = split < 2 ? "all to the buyer" : split < 4 ? "all to the seller" : "split";
                    final = "RESOLVED";
                    break;
                }
                default:
                {
                    var kind = rnd.Next(3);
                    if (kind == 0) { variant = "created"; final = "CREATED"; }
                    else if (kind == 1) { Fund(); held = cents; variant = "funded"; final = "FUNDED"; }
                    else
                    {
                        Fund();
                        var first = Split(rnd, cents, 2)[0];
                        Release(first, false);
                        held = cents - first;
                        variant = "partially released";
                        final = "PARTIALLY_RELEASED";
                    }
                    break;
                }
            }
            plans.Add(new DealPlan(i, dealId, market, buyer, seller, Money(cents), o, variant, expiresInMs, refundAtExpiry, steps, final, Money(held), evidence));
        }
        return plans;
    }
}
