// A tour of the Escrow.Client SDK against a running silo:
//   dotnet run --project src/Escrow.Client.Sample -- --url http://127.0.0.1:5080 --key "$(cat .data/root-api-key)"
// (or ESCROW_URL / ESCROW_API_KEY). With a root key it first creates an institution and a writer key for it;
// with a writer key it works in that key's institution.
using System.Globalization;
using Escrow.Client;
using Microsoft.Extensions.DependencyInjection;

var url = Arg("--url") ?? Environment.GetEnvironmentVariable("ESCROW_URL") ?? "http://127.0.0.1:5080";
var key = Arg("--key") ?? Environment.GetEnvironmentVariable("ESCROW_API_KEY");
if (string.IsNullOrEmpty(key))
{
    Console.Error.WriteLine("usage: escrow-client-sample --url http://127.0.0.1:5080 --key <api key>   (or ESCROW_URL, ESCROW_API_KEY)");
    return 2;
}
using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(2));
var ct = cts.Token;
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;

// 1. Registration as an application would do it: IHttpClientFactory behind the typed client.
var services = new ServiceCollection();
services.AddEscrowClient(o =>
{
    o.BaseAddress = new Uri(url);
    o.ApiKey = key;
});
await using var provider = services.BuildServiceProvider();
var escrow = provider.GetRequiredService<EscrowClient>();
Console.WriteLine($"silo {url}: healthy = {await escrow.Cluster.IsHealthyAsync(ct)}");

// 2. A root key creates an institution and a writer key; any other key is used as it is.
var clock = TimeProvider.System;
var run = clock.GetUtcNow().ToString("HHmmss", CultureInfo.InvariantCulture) + "-" + Guid.NewGuid().ToString("N")[..6];
var writer = escrow;
try
{
    var institutions = await escrow.Institutions.ListAsync(ct);
    var institution = await escrow.Institutions.CreateAsync($"sample-{run}", "Sample Bank", cancellationToken: ct);
    var created = await escrow.Institutions.CreateKeyAsync(institution.InstitutionId, ApiKeyRole.Writer, "sample writer", cancellationToken: ct);
    Console.WriteLine($"root key: {institutions.Count} institutions; created '{institution.InstitutionId}' and writer key {created.KeyId}");
    writer = new EscrowClient(new HttpClient(), new EscrowClientOptions { BaseAddress = new Uri(url), ApiKey = created.ApiKey });
}
catch (EscrowForbiddenException)
{
    Console.WriteLine("not a root key: working in this key's institution");
}

// 3. Accounts, a deposit, a transfer, and the balance as of an instant between them.
var alice = $"alice-{run}";
var bob = $"bob-{run}";
await writer.Accounts.OpenAsync(new OpenAccountRequest(alice, "Alice", "EUR"), cancellationToken: ct);
await writer.Accounts.OpenAsync(new OpenAccountRequest(bob, "Bob", "EUR", OverdraftLimit: 50m), cancellationToken: ct);
var deposit = await writer.Accounts.DepositAsync(alice, new MoneyRequest(100.50m, "EUR", "opening deposit"), cancellationToken: ct);
Console.WriteLine($"deposited 100.50 EUR to {alice}: posting {deposit.PostingId}");
await Task.Delay(50, ct);
var between = clock.GetUtcNow();
await Task.Delay(50, ct);
var transfer = await writer.Accounts.TransferAsync(new TransferRequest(alice, bob, 40.25m, "EUR", "invoice 17"), cancellationToken: ct);
Console.WriteLine($"transferred 40.25 EUR {alice} → {bob}: posting {transfer.PostingId}");
var nowBalance = await writer.Accounts.GetBalanceAsync(alice, cancellationToken: ct);
var thenBalance = await writer.Accounts.GetBalanceAsync(alice, between, cancellationToken: ct);
Console.WriteLine($"{alice}: {nowBalance.Balance} {nowBalance.Currency} now; {thenBalance.Balance} {thenBalance.Currency} as of {between:O} (from {thenBalance.Source})");

// 4. One escrow deal, created, funded and released to the seller.
var deal = await writer.Deals.CreateAsync(new CreateDealRequest(alice, bob, 25m, "EUR", ExternalReference: "order 4711", Terms: "ship within 5 days"), cancellationToken: ct);
await writer.Deals.FundAsync(deal.DealId, cancellationToken: ct);
var released = await writer.Deals.ReleaseAsync(deal.DealId, 25m, cancellationToken: ct);
Console.WriteLine($"deal {deal.DealId}: {released.Status}, funded {released.Funded}, released {released.Released}, held {released.Held} {released.Currency}");

// 5. A rejection, handled through the typed exception with the problem's code.
try
{
    await writer.Accounts.TransferAsync(new TransferRequest(bob, alice, 1_000_000m, "EUR"), cancellationToken: ct);
}
catch (EscrowConflictException ex) when (ex.Code == "insufficient_funds")
{
    Console.WriteLine($"refused as expected: {ex.Status} {ex.Code} — {ex.Detail}");
}

// 6. The statement, page by page (the read model catches up first).
await writer.Cluster.WaitForProjectionsAsync(cancellationToken: ct);
Console.WriteLine($"statement of {alice}:");
await foreach (var line in writer.Accounts.GetStatementAsync(alice, pageSize: 2, cancellationToken: ct))
    Console.WriteLine($"  v{line.Version,-3} {line.OccurredAt:O} {line.Kind,-10} {line.Amount,10:0.00} → {line.BalanceAfter,10:0.00}  {line.Reference}");
return 0;

static string? Arg(string name)
{
    var args = Environment.GetCommandLineArgs();
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
}
