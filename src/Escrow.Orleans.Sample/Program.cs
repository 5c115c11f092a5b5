// An external .NET service using the escrow cluster through the Orleans client (not HTTP):
//   dotnet run --project src/Escrow.Orleans.Sample -- --connection "Host=127.0.0.1;Port=55432;Username=escrow_app;Password=...;Database=escrow" \
//       --key <writer key> --institution <its institution>
// It finds the silos' gateways in the ADO.NET membership table, sends its API key with every grain call, and then
//   1. opens two accounts and a cash account, deposits, and transfers between them (IAccountGrain);
//   2. creates an escrow deal, funds it and releases it to the seller (IDealGrain);
//   3. imports an ISO 20022 pacs.008 through the payment grain (IPaymentGrain), which books it on the debtor's account;
//   4. with --other-institution, tries to write to another institution's account: the cluster refuses it;
//   5. with --transfers N, makes N more transfers, each retried with the same idempotency key over a silo stopping.
// Options: --cluster-id / --service-id (the silos' Escrow:ClusterId / Escrow:ServiceId), --iso FILE (default: the CBPR+ sample
// under $ESCROW_DATA_DIR). Each step prints one line; the exit code is 0 when every step did what it should.
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Escrow.Domain.Accounts;
using Escrow.Domain.Deals;
using Escrow.Domain.Iso20022;
using Escrow.Domain.Payments;
using Escrow.Grains;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

var connection = Arg("--connection") ?? Environment.GetEnvironmentVariable("ESCROW_CONNECTION");
var key = Arg("--key") ?? Environment.GetEnvironmentVariable("ESCROW_API_KEY");
var institution = Arg("--institution") ?? Environment.GetEnvironmentVariable("ESCROW_INSTITUTION");
if (string.IsNullOrEmpty(connection) || string.IsNullOrEmpty(key) || string.IsNullOrEmpty(institution))
{
    Console.Error.WriteLine("usage: escrow-orleans-sample --connection <npgsql> --key <api key> --institution <id> [--other-institution <id>] [--transfers N]");
    return 2;
}
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(3));
var ct = cts.Token;

// 1. The Orleans client, registered as an application would do it.
var builder = Host.CreateApplicationBuilder();
builder.Logging.SetMinimumLevel(LogLevel.Warning);
builder.AddEscrowOrleansClient(connection, key, client =>
{
    if (Arg("--cluster-id") is { } clusterId)
        client.Configure<Orleans.Configuration.ClusterOptions>(o => o.ClusterId = clusterId);
    if (Arg("--service-id") is { } serviceId)
        client.Configure<Orleans.Configuration.ClusterOptions>(o => o.ServiceId = serviceId);
});
using var host = builder.Build();
await host.StartAsync(ct);
var grains = host.Services.GetRequiredService<IClusterClient>();
var failures = 0;
var run = Guid.NewGuid().ToString("N")[..8];
var now = DateTimeOffset.MinValue;   // "now": each command is stamped in its grain's turn

// Commands go to the grain that decides them; a retry (a silo stopped under the call) reuses the same call, so the same
// idempotency key: the command applies once, and a retry of an applied one gets its first answer.
async Task<CommandResult<AccountAnswer>> Account(AccountCommand command, string operation) =>
    await Retry(Call(operation, command), call => grains.GetGrain<IAccountGrain>(GrainKeys.Of(institution, AccountCommands.ExecutorOf(command))).Execute(command, call, false));
async Task<CommandResult<DealView>> Deal(DealCommand command, string operation) =>
    await Retry(Call(operation, command), call => grains.GetGrain<IDealGrain>(GrainKeys.Of(institution, command.DealId)).Execute(command, call, null));

CommandCall Call(string operation, object command) =>
    new(institution, "orleans-sample", Guid.NewGuid().ToString(), SHA256.HashData(Encoding.UTF8.GetBytes(operation + "\n" + command)), Guid.NewGuid(), null, operation);

async Task<T> Retry<T>(CommandCall call, Func<CommandCall, Task<T>> send)
{
    for (var attempt = 1; ; attempt++)
    {
        try
        {
            return await send(call);
        }
        catch (Exception ex) when (ex is not EscrowCallRefusedException && attempt < 20 && !ct.IsCancellationRequested)
        {
            Console.WriteLine($"retry {attempt} of {call.Operation} after {ex.GetType().Name}");
            await Task.Delay(TimeSpan.FromMilliseconds(250 * Math.Min(attempt, 8)), ct);
        }
    }
}

void Check(bool ok, string line)
{
    Console.WriteLine((ok ? "ok    " : "FAIL  ") + line);
    if (!ok) failures++;
}

// 2. A transfer: two customer accounts funded from the institution's own cash account (an internal account, no floor).
var cash = $"cash-{run}";
var alice = $"alice-{run}";
var bob = $"bob-{run}";
foreach (var (id, owner, kind) in new[] { (cash, "Sample cash", AccountKind.Internal), (alice, "Alice", AccountKind.Customer), (bob, "Bob", AccountKind.Customer) })
    Check((await Account(new OpenAccount(id, owner, "EUR", kind, 0m, now), "OpenAccount")).Accepted, $"opened {id}");
Check((await Account(new Post(Guid.NewGuid().ToString(), cash, alice, 100.50m, "EUR", PostingKind.Deposit, "opening deposit", now), "Post.Deposit")).Accepted,
    $"deposited 100.50 EUR to {alice}");
var transfer = await Account(new Post(Guid.NewGuid().ToString(), alice, bob, 40.25m, "EUR", PostingKind.Transfer, "invoice 17", now), "Post.Transfer");
var aliceNow = (await grains.GetGrain<IAccountGrain>(GrainKeys.Of(institution, alice)).GetState(true)).State;
Check(transfer.Accepted && aliceNow.Balance == 60.25m, $"transfer: 40.25 EUR {alice} → {bob}; {alice} holds {aliceNow.Balance} EUR");

// 3. A deal from creation to release: the buyer's money is held in the deal's escrow account, then paid to the seller.
var dealId = $"deal-{run}";
var created = await Deal(new CreateDeal(dealId, institution, "default", alice, bob, $"escrow-{dealId}", 25m, "EUR",
    TimeProvider.System.GetUtcNow().AddDays(7), false, "order 4711", "ship within 5 days", now), "CreateDeal");
Check(created.Accepted, $"deal {dealId} created");
Check((await Deal(new FundDeal(dealId, now), "FundDeal")).Accepted, $"deal {dealId} funded");
var released = await Deal(new ReleaseDeal(dealId, 25m, now), "ReleaseDeal");
Check(released is { Accepted: true, View: { Released: 25m, Held: 0m } }, $"deal {dealId}: {released.View?.Status}, released {released.View?.Released} EUR to {bob}");

// 4. A payment import: a real CBPR+ pacs.008 parsed with the domain's ISO 20022 parser and sent to its payment grain; the
// cluster books it on the debtor's account when that is a customer account of this institution (opened here, funded).
var isoFile = Arg("--iso") ?? Path.Combine(Environment.GetEnvironmentVariable("ESCROW_DATA_DIR") is { Length: > 0 } d ? d : Path.Combine("..", "shared", "data"),
    "iso20022", "cbpr-usage-rules", "pacs008_credit_transfer_sample.xml");
var parsed = IsoParser.Parse(await File.ReadAllTextAsync(isoFile, ct));
if (parsed.Message is not CreditTransferMessage message)
{
    Console.Error.WriteLine($"{isoFile} is not a pacs.008: {parsed.Error?.Code} {parsed.Error?.Message}");
    return 2;
}
var debtor = message.Debtor.Account!;
var opened = await Account(new OpenAccount(debtor, message.Debtor.Name ?? "debtor", message.Settlement.Currency.Code, AccountKind.Customer, 0m, now), "OpenAccount");
Check(opened.Accepted || opened.Rejection?.Code == "account_exists", $"debtor account {debtor} ready");
await Account(new Post(Guid.NewGuid().ToString(), cash, debtor, message.Settlement.Amount, message.Settlement.Currency.Code, PostingKind.Deposit, "cover", now), "Post.Deposit");
// An outgoing payment holds the amount on the debtor's account at initiation (the debit follows the acceptance, pacs.002).
var before = (await grains.GetGrain<IAccountGrain>(GrainKeys.Of(institution, debtor)).GetState(true)).State.Held;
var commands = PaymentImport.Commands(message, now).Commands;
var payment = await Retry(Call("ImportIso.pacs.008", message.Uetr), call => grains.GetGrain<IPaymentGrain>(GrainKeys.Of(institution, message.Uetr)).Execute(commands, call, null));
var after = (await grains.GetGrain<IAccountGrain>(GrainKeys.Of(institution, debtor)).GetState(true)).State.Held;
Check(payment.Accepted && payment.View?.Booking is not null && (after == before + message.Settlement.Amount || payment.View.Changed == false),
    $"payment {message.Uetr}: {payment.View?.Status}, booked {payment.View?.Booking?.Direction} on {debtor}: held {before} → {after} {message.Settlement.Currency.Code}");

// 5. Another institution's account is out of reach, whatever the command says.
if (Arg("--other-institution") is { } other)
{
    try
    {
        var call = Call("Post.Deposit", other) with { Tenant = other };
        await grains.GetGrain<IAccountGrain>(GrainKeys.Of(other, "any-account"))
            .Execute(new Post(Guid.NewGuid().ToString(), "any-account", "x-" + run, 1m, "EUR", PostingKind.Deposit, null, now), call, false);
        Check(false, $"a write to institution {other}'s account was accepted");
    }
    catch (EscrowCallRefusedException ex)
    {
        Check(ex.Code == "forbidden", $"a write to institution {other}'s account refused: {ex.Code}: {ex.Message}");
    }
}

// 6. Transfers in a row (the test stops a silo meanwhile): each acknowledged once, none lost.
if (int.TryParse(Arg("--transfers"), out var n) && n > 0)
{
    var ok = 0;
    var start = (await grains.GetGrain<IAccountGrain>(GrainKeys.Of(institution, alice)).GetState(true)).State.Balance;
    for (var i = 0; i < n; i++)
    {
        var r = await Account(new Post(Guid.NewGuid().ToString(), cash, alice, 1m, "EUR", PostingKind.Deposit, $"loop {i}", now), "Post.Deposit");
        if (r.Accepted) ok++;
        if ((i + 1) % 10 == 0) Console.WriteLine($"progress {i + 1}/{n}");
        await Task.Delay(50, ct);
    }
    var final = (await grains.GetGrain<IAccountGrain>(GrainKeys.Of(institution, alice)).GetState(true)).State.Balance;
    Check(ok == n && final == start + n, $"{ok}/{n} transfers acknowledged; {alice} holds {final} EUR");
}

Console.WriteLine($"accounts: {alice} {bob} {cash} {debtor}; deal {dealId}; payment {message.Uetr}");
await host.StopAsync(CancellationToken.None);
return failures == 0 ? 0 : 1;

static string? Arg(string name)
{
    var args = Environment.GetCommandLineArgs();
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
}
