using System.CommandLine;
using System.Text.Json;
using Escrow.Silo.Ledger;

namespace Escrow.Cli;

/// <summary>
/// <c>escrow demo deals</c>: a marketplace day of escrow deals through the HTTP API (two institutions, buyers and
/// sellers, full and partial releases, cancellations, expiries by the silo's timer, disputes with evidence and
/// resolutions, a few deals left open), then the proof: deals per final state as planned, projections caught up,
/// <see cref="LedgerVerifier"/> (hash chains, zero-sum, read models = replay) and, per deal, held = the balance
/// of its escrow account and funded = released + refunded + held. Exit code 0 only when all of it holds.
/// </summary>
internal static partial class DemoCommand
{
    private const string Currency = "EUR";
    private const decimal BuyerFunding = 100_000m;
    private const int BuyersPerMarket = 50, SellersPerMarket = 20;
    private static readonly TimeSpan WaitBound = TimeSpan.FromSeconds(30);
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private static readonly string[] States = ["CREATED", "FUNDED", "PARTIALLY_RELEASED", "RELEASED", "CANCELLED", "EXPIRED", "DISPUTED", "RESOLVED"];
    private static readonly string[] Markets = ["a", "b"];

    public static void Add(RootCommand root)
    {
        var deals = new Option<int>("--deals") { Description = "Deals in the day, split between the two institutions", DefaultValueFactory = _ => 1000 };
        var url = new Option<string?>("--url")
        {
            Description = "Base address of a running silo (root key from Escrow__RootApiKey); default: start one in-process on a free port",
        };
        var seed = new Option<int>("--seed") { Description = "Seed of the random generator that plans the day (same seed, same day)", DefaultValueFactory = _ => 20261121 };
        var workers = new Option<int>("--workers") { Description = "Concurrent HTTP workers", DefaultValueFactory = _ => 8 };
        var dealsCommand = new Command("deals",
            "A marketplace day of escrow deals through the HTTP API, then a proof of the invariants against the database; exit code 0 only if all hold.")
        {
            deals, url, seed, workers,
        };
        dealsCommand.SetAction(async (pr, ct) =>
            await RunAsync(pr.GetValue(deals), pr.GetValue(url), pr.GetValue(seed), pr.GetValue(workers), ct));
        var demo = new Command("demo", "Demonstrations through the HTTP API.") { dealsCommand };
        root.Subcommands.Add(demo);
    }
}
