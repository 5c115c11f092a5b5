using System.Net;
using System.Text;
using Escrow.Domain.Accounts;
using Escrow.Domain.Deals;
using Escrow.Domain.Payments;
using Escrow.Grains;
using Escrow.Testing;

namespace Escrow.Silo.Tests;

/// <summary>
/// Grain calls from an Orleans client outside the silos (the TestingHost's client, connected through a gateway) are checked
/// like HTTP requests: the API key carried in the call's RequestContext, its role, the grain's institution, the methods only
/// grains call, and the rules the HTTP frontend decides before a command (reserved ids, escrow accounts, templates, the
/// payment hub's own decisions). Each refusal is an <see cref="EscrowCallRefusedException"/> with its code, changes nothing
/// and is audited.
/// </summary>
[Trait("Tier", "Slow")]
public class ClientCallCheckTests
{
    private static readonly DateTimeOffset Now = DateTimeOffset.MinValue;

    [Fact]
    public async Task A_clients_calls_carry_its_key_and_are_refused_what_its_role_and_institution_may_not_do()
    {
        await using var db = new PgDatabase();
        await db.InitializeAsync();
        try
        {
            await using var cluster = await EscrowTestCluster.StartAsync(db, 1);
            using var root = cluster.Silos[0].Client();
            var keys = new SiloFactoryKeys(root);
            var writer = await keys.WriterKeyAsync();
            var a = keys.Institution;
            var auditor = await KeyAsync(root, a, "auditor");
            await keys.WriterKeyAsync();
            var b = keys.Institution;
            var grains = cluster.Client;
            IAccountGrain Account(string tenant, string id) => grains.GetGrain<IAccountGrain>(GrainKeys.Of(tenant, id));
            CommandCall Call(string tenant) => new(tenant, "whoever", Guid.NewGuid().ToString(), new byte[32], Guid.NewGuid(), null, "test");

            // No key, an unknown key.
            Assert.Equal("api_key_required", (await Refused(null, () => Account(a, "a-1").GetState(false))).Code);
            Assert.Equal("api_key_invalid", (await Refused("esk_nope", () => Account(a, "a-1").GetState(false))).Code);

            // A writer acts in its institution; its command is audited under its key's id, not the actor it wrote.
            var opened = await As(writer, () => Account(a, "a-1").Execute(new OpenAccount("a-1", "A", "EUR", AccountKind.Customer, 0m, Now), Call(a), false));
            Assert.True(opened.Accepted);
            var writerId = await db.ScalarAsync<string>($"SELECT key_id FROM api_keys WHERE institution_id = '{a}' AND role = 'writer'");
            Assert.Equal(writerId, await db.ScalarAsync<string>($"SELECT actor FROM audit_log WHERE tenant = '{a}' AND operation = 'test' ORDER BY audit_position DESC LIMIT 1"));
            Assert.Equal(1L, (await As(auditor, () => Account(a, "a-1").GetState(true))).Version);
            // Its owner's name is sealed for the account's own data subject, as over HTTP; the answer carries the envelope.
            Assert.StartsWith($"pii:v1;{a};account:a-1;", opened.View!.Account!.Owner);
            Assert.StartsWith($"pii:v1;{a};account:a-1;",
                await db.ScalarAsync<string>($"SELECT data ->> 'owner' FROM events WHERE event_type = 'AccountOpened' AND stream_id = 'account-{a}/a-1'"));

            // An auditor reads and never writes; nobody outside the cluster calls what grains call on each other.
            Assert.Equal("forbidden", (await Refused(auditor, () => Account(a, "a-2").Execute(new OpenAccount("a-2", "A", "EUR", AccountKind.Customer, 0m, Now), Call(a), false))).Code);
            var state = await As(writer, () => Account(a, "a-1").GetState(false));
            Assert.Equal("forbidden", (await Refused(writer, () => Account(a, "a-9").CoSign(new Post("p", "a-1", "a-9", 1m, "EUR", PostingKind.Transfer, null, Now), Call(a), false, state))).Code);
            // Appended is one-way: the client hears nothing back, and the refusal is in the audit log.
            await As(writer, async () => { await Account(a, "a-1").Appended(99); return 0; });
            await EscrowTestCluster.WaitUntilAsync(async () => await db.ScalarAsync<long>(
                    $"SELECT count(*) FROM audit_log WHERE outcome = 'refused' AND operation = 'grain IAccountGrain.Appended' AND actor = '{writerId}'") == 1,
                TimeSpan.FromSeconds(10), "the one-way Appended call of a client was not refused");

            // Another institution's grain, whatever the command claims; root may act for any.
            Assert.Equal("forbidden", (await Refused(writer, () => Account(b, "b-1").Execute(new OpenAccount("b-1", "B", "EUR", AccountKind.Customer, 0m, Now), Call(b), false))).Code);
            Assert.Equal("forbidden", (await Refused(writer, () => Account(b, "b-1").GetState(false))).Code);
            Assert.Equal(0L, await db.ScalarAsync<long>($"SELECT count(*) FROM streams WHERE tenant = '{b}'"));
            Assert.True((await As(SiloFactory.RootKey, () => Account(b, "b-1").Execute(new OpenAccount("b-1", "B", "EUR", AccountKind.Customer, 0m, Now), Call(b), false))).Accepted);

            // What the HTTP frontend forbids stays forbidden: the operator's ids, a deal's escrow account, a deal holding its
            // money elsewhere than in its own escrow account, the payment hub's own decisions.
            Assert.Equal("forbidden", (await Refused(writer, () => Account(a, "house-x").Execute(new OpenAccount("house-x", "A", "EUR", AccountKind.Internal, 0m, Now), Call(a), false))).Code);
            Assert.Equal("forbidden", (await Refused(writer, () => Account(a, "a-1").Execute(new FreezeAccount("a-1", null, Now), Call(a), true))).Code);
            Assert.True((await As(writer, () => Account(a, "a-2").Execute(new OpenAccount("a-2", "A", "EUR", AccountKind.Customer, 0m, Now), Call(a), false))).Accepted);
            var deal = grains.GetGrain<IDealGrain>(GrainKeys.Of(a, "d-1"));
            var stealing = new CreateDeal("d-1", a, "default", "a-1", "a-2", "a-2", 5m, "EUR", DateTimeOffset.UtcNow.AddDays(1), false, null, null, Now);
            Assert.Equal("forbidden", (await Refused(writer, () => deal.Execute(stealing, Call(a), null))).Code);
            var payment = grains.GetGrain<IPaymentGrain>(GrainKeys.Of(a, "f0e1d2c3-b4a5-4968-8776-655443322110"));
            PaymentCommand[] quote = [new GenerateQuote("f0e1d2c3-b4a5-4968-8776-655443322110", "q-1", "fxp-1", 1.1m, 0m, DateTimeOffset.UtcNow.AddMinutes(5), Now)];
            Assert.Equal("forbidden", (await Refused(writer, () => payment.Execute(quote, Call(a), null))).Code);

            // A deal template's rule is decided as over HTTP: the grain answers (and audits) the refusal.
            using var http = cluster.Silos[0].Client(writer);
            Assert.Equal(HttpStatusCode.Created, (await http.CommandAsync("/templates",
                """{"templateId":"small","name":"Small","currency":"EUR","minAmount":1,"maxAmount":10}""")).StatusCode);
            var big = new CreateDeal("d-2", a, "small", "a-1", "a-2", "escrow-d-2", 50m, "EUR", DateTimeOffset.UtcNow.AddDays(1), false, null, null, Now);
            var refused = await As(writer, () => grains.GetGrain<IDealGrain>(GrainKeys.Of(a, "d-2")).Execute(big, Call(a), null));
            Assert.False(refused.Accepted);
            Assert.Equal("amount_out_of_range", refused.Rejection!.Code);

            // Every refusal of a client's call is in the audit log, under the key that made it (or "anonymous").
            Assert.True(await db.ScalarAsync<long>($"SELECT count(*) FROM audit_log WHERE outcome = 'refused' AND operation LIKE 'grain %' AND actor = '{writerId}'") >= 8);
            Assert.Equal(1L, await db.ScalarAsync<long>("SELECT count(*) FROM audit_log WHERE outcome = 'refused' AND operation LIKE 'grain %' AND actor = 'anonymous' AND code = 'api_key_required'"));
        }
        finally
        {
            await db.DisposeAsync();
        }
    }

    /// <summary>Makes <paramref name="call"/> with <paramref name="key"/> (null: none; the test client's filter adds the root key only when no key is set).</summary>
    private static async Task<T> As<T>(string? key, Func<Task<T>> call)
    {
        RequestContext.Set(EscrowOrleansClient.ApiKeyContextKey, key ?? "");
        try
        {
            return await call();
        }
        finally
        {
            RequestContext.Remove(EscrowOrleansClient.ApiKeyContextKey);
        }
    }

    private static async Task<EscrowCallRefusedException> Refused<T>(string? key, Func<Task<T>> call) =>
        await Assert.ThrowsAsync<EscrowCallRefusedException>(() => As(key, call));

    private static async Task<string> KeyAsync(HttpClient root, string institution, string role)
    {
        var r = await root.PostAsync($"/institutions/{institution}/keys", new StringContent($$"""{"role":"{{role}}"}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.Created, r.StatusCode);
        return (await r.JsonAsync()).GetProperty("apiKey").GetString()!;
    }
}
