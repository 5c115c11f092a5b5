using Escrow.Testing;
using Iso = Escrow.Domain.Iso20022;

namespace Escrow.Silo.Tests;

using Escrow.Client;

/// <summary>The SDK's payments client against a real silo: every method once, an FX payment from quote to settlement.</summary>
public class ClientSdkPaymentTests : IClassFixture<PgDatabase>
{
    private readonly PgDatabase _db;
    public ClientSdkPaymentTests(PgDatabase db) => _db = db;

    [Fact]
    public async Task Every_payment_call_works_against_a_real_silo()
    {
        await using var silo = new SiloFactory(_db);
        var institution = SiloFactory.NewInstitution();
        var writer = ClientSdkTests.Sdk(silo, await silo.CreateKeyAsync(institution));
        var auditor = ClientSdkTests.Sdk(silo, await silo.CreateKeyAsync(institution, "auditor"));
        var alice = "alice-" + Guid.NewGuid().ToString("N")[..8];
        await writer.Accounts.OpenAsync(new OpenAccountRequest(alice, "Alice", "USD"));
        await writer.Accounts.DepositAsync(alice, new MoneyRequest(1000m, "USD"));

        var rate = await writer.Payments.PublishFxpRateAsync("fxp-a", new FxpRateRequest("USD", "EUR", 0.92m, 300, Spread: 0.002m));
        Assert.Equal((institution, TimeSpan.FromMinutes(5)), (rate.Tenant, rate.ValidFor));
        Assert.Contains(await auditor.Payments.ListFxpRatesAsync("USD", "EUR"), r => r.FxpId == "fxp-a" && r.Rate == 0.92m);
        var proxy = await writer.Payments.RegisterProxyAsync(new ProxyRequest("MOBL", "+49-170-1234567", "DE89370400440532013000", "COBADEFFXXX", "Bob"));
        Assert.Equal("Bob", proxy.CreditorName);
        Assert.Equal("DE89370400440532013000", (await auditor.Payments.LookupProxyAsync("MOBL", "+49-170-1234567")).CreditorAccount);
        var unknownProxy = await Assert.ThrowsAsync<EscrowNotFoundException>(() => writer.Payments.LookupProxyAsync("MOBL", "+1-000"));
        Assert.Equal("proxy_not_found", unknownProxy.Code);

        var quoted = await writer.Payments.RequestQuotesAsync(new QuoteRequest("USD", "EUR", 400m));
        var uetr = quoted.Uetr;
        var quote = Assert.Single(quoted.Quotes);
        Assert.Equal(("fxp-a", 0.91816m), (quote.FxpId, quote.Rate));   // 0.92 × (1 − 0.002)
        Assert.Equal("QuoteSelected", (await writer.Payments.SelectQuoteAsync(uetr, quote.QuoteId)).Status);
        var resolved = await writer.Payments.ResolveProxyAsync(uetr, "MOBL", "+49-170-1234567");
        Assert.Equal(("ProxyResolved", "DE89370400440532013000"), (resolved.Status, resolved.ResolvedCreditorAccount));
        await Task.Delay(20);
        var beforeInitiation = DateTimeOffset.UtcNow;
        await Task.Delay(20);
        var initiated = await writer.Payments.InitiateAsync(uetr, new InitiationRequest(alice, 400m, "USD", DebtorName: "Alice"));
        Assert.Equal("Forwarded", initiated.Status);
        Assert.Equal(("Outgoing", 367.26m), (initiated.Booking!.Direction, initiated.Booking.TargetAmount));   // 400 × 0.91816, half-to-even
        Assert.Equal(400m, (await writer.Accounts.GetAsync(alice)).Held);

        Assert.Equal("Forwarded", (await auditor.Payments.GetAsync(uetr)).Status);
        Assert.Equal("ProxyResolved", (await auditor.Payments.GetAsync(uetr, beforeInitiation)).Status);
        var pacs008 = await auditor.Payments.GetMessageAsync(uetr, "pacs.008");
        Assert.Contains(uetr, pacs008, StringComparison.Ordinal);

        // The network settles it: a pacs.002 ACSC imported through the SDK.
        var sent = Assert.IsType<Iso.CreditTransferMessage>(Iso.IsoParser.Parse(pacs008).Message);
        var instruction = new Iso.PaymentInstruction(sent.Info.MessageId!, DateTimeOffset.UtcNow, uetr, sent.EndToEndId!, sent.Settlement,
            sent.SettlementDate!.Value, sent.Debtor, sent.DebtorAgent, sent.Creditor, sent.CreditorAgent);
        var accepted = await writer.Payments.ImportMessageAsync(Iso.IsoWriter.Pacs002(instruction, "ACK-" + uetr[..8], DateTimeOffset.UtcNow, "ACSC"));
        Assert.Null(accepted.Report);
        Assert.Equal(("Accepted", "ACSC"), (accepted.Payment!.Status, accepted.Payment.SettlementStatus));
        Assert.Equal((600m, 0m), ((await writer.Accounts.GetAsync(alice)).Balance, (await writer.Accounts.GetAsync(alice)).Held));
        Assert.Contains("ACSC", await auditor.Payments.GetMessageAsync(uetr, "pacs.002"), StringComparison.Ordinal);

        // A message about no payment (a business application header alone) answers a report.
        var header = await writer.Payments.ImportMessageAsync(IsoSamples.Fedwire("CustomerCreditTransfer_Scenario1_Step1_head.001", Guid.NewGuid().ToString("D")));
        Assert.Null(header.Payment);
        Assert.StartsWith("head.001", header.Report!.Message, StringComparison.Ordinal);
        Assert.Empty(header.Report.Commands);

        var events = await auditor.Payments.GetEventsAsync(uetr, pageSize: 2).ToListAsync();
        Assert.Equal(accepted.Payment.Version, events.Count);
        Assert.Equal(Enumerable.Range(1, events.Count).Select(v => (long)v), events.Select(e => e.Version));
        Assert.Equal(2, (await auditor.Payments.GetEventsPageAsync(uetr, afterVersion: 1, limit: 2)).Count);

        // The read models, once caught up.
        var second = (await writer.Payments.InitiateAsync(Guid.NewGuid().ToString("D"),
            new InitiationRequest(alice, 10m, "USD", CreditorAccount: "X-1", CreditorAgent: "COBADEFFXXX"))).Uetr;
        await writer.Cluster.WaitForProjectionsAsync();
        var status = await auditor.Payments.GetStatusAsync(uetr);
        Assert.Equal((uetr, institution, "Accepted", "USD", "EUR", 400m), (status.Uetr, status.Tenant, status.Status, status.SourceCurrency, status.DestinationCurrency, status.SourceAmount));
        var timeline = await auditor.Payments.GetTimelineAsync(uetr);
        Assert.Equal(events.Select(e => e.Version), timeline.Select(t => t.Sequence));
        Assert.Equal("Accepted", timeline[^1].Status);
        var page = await auditor.Payments.ListPageAsync(limit: 1);
        Assert.Single(page.Payments);
        Assert.NotNull(page.NextAfter);
        Assert.Equal(new[] { uetr, second }.Order(StringComparer.Ordinal), await auditor.Payments.ListAsync(pageSize: 1).Select(p => p.Uetr).ToListAsync());
        Assert.Equal([uetr], await auditor.Payments.ListAsync(status: "Accepted").Select(p => p.Uetr).ToListAsync());
        var corridor = Assert.Single(await auditor.Payments.GetCorridorsAsync(), c => c.Corridor == "USD-EUR");
        Assert.Equal((1L, 1L), (corridor.Payments, corridor.Settled));

        var unknown = await Assert.ThrowsAsync<EscrowNotFoundException>(() => auditor.Payments.GetAsync(Guid.NewGuid().ToString("D")));
        Assert.Equal("unknown_uetr", unknown.Code);
        var malformed = await Assert.ThrowsAsync<EscrowBadRequestException>(() => auditor.Payments.GetAsync("not-a-uetr"));
        Assert.Equal("invalid_uetr", malformed.Code);
        var poor = await Assert.ThrowsAsync<EscrowConflictException>(() => writer.Payments.InitiateAsync(Guid.NewGuid().ToString("D"),
            new InitiationRequest(alice, 590.01m, "USD", CreditorAccount: "X-1", CreditorAgent: "COBADEFFXXX")));
        Assert.Equal("insufficient_funds", poor.Code);
    }
}
