using System.Security.Cryptography;
using System.Text;
using Escrow.EventStore;
using Escrow.Grains;

namespace Escrow.Silo.Tenancy;

/// <summary>
/// Checks every call that an Orleans client outside the silos makes to an account, deal or payment grain, as the HTTP
/// frontend checks a request: the client's API key travels in the call's <c>RequestContext</c>
/// (<see cref="EscrowOrleansClient.ApiKeyContextKey"/>, set by <see cref="EscrowOrleansClient.UseEscrowCluster"/>) and is
/// looked up like an HTTP key (<see cref="ApiKeyAuthenticator"/>, with its cache and revocations). The call is refused
/// (<see cref="EscrowCallRefusedException"/>, audited like an HTTP 401/403) unless
/// <list type="bullet">
/// <item>the key is valid (<c>api_key_required</c>, <c>api_key_invalid</c>);</item>
/// <item>the method is one a client may call, with the key's role: commands (<c>Execute</c>) and the reminder ticks
/// (<c>ExpireIfDue</c>, <c>ExpireQuotesIfDue</c>) by root and writers, <c>GetState</c> by every role; the methods grains
/// call on each other (<see cref="IAccountGrain.CoSign"/>, <see cref="IAccountGrain.Appended"/>) and every other grain
/// interface of ours (the projections) never;</item>
/// <item>the grain belongs to the key's institution (its key's first part, <see cref="GrainKeys"/>); root may call any;</item>
/// <item>an account command does not ask to move a deal's escrow account (only its deal grain does that).</item>
/// </list>
/// A command's <see cref="CommandCall.Actor"/> is set to the key's id, so the audit log names who sent it, whatever the
/// client wrote; a command acting for another institution than its grain's is answered by the grain as for an unknown id.
/// Calls from grains, from the silos' system targets and from a silo's own hosted client (its HTTP frontend, which has
/// checked the request's key itself) pass unchecked: they are the cluster's own code.
/// </summary>
internal sealed class ClientCallCheck(ApiKeyAuthenticator keys, PgEventStore store, Deals.DealTemplateStore templates, Payments.PaymentService payments, [FromKeyedServices(LedgerClock.Key)] TimeProvider clock,
    ILogger<ClientCallCheck> logger) : IIncomingGrainCallFilter
{
    private static readonly Role[] Writers = [Role.Root, Role.Writer];
    private static readonly Role[] Readers = [Role.Root, Role.Writer, Role.Auditor];

    /// <summary>What a client may call, and with which roles.</summary>
    private static readonly Dictionary<(Type Interface, string Method), Role[]> ClientMethods = new()
    {
        [(typeof(IAccountGrain), nameof(IAccountGrain.Execute))] = Writers,
        [(typeof(IAccountGrain), nameof(IAccountGrain.GetState))] = Readers,
        [(typeof(IDealGrain), nameof(IDealGrain.Execute))] = Writers,
        [(typeof(IDealGrain), nameof(IDealGrain.ExpireIfDue))] = Writers,
        [(typeof(IDealGrain), nameof(IDealGrain.GetState))] = Readers,
        [(typeof(IPaymentGrain), nameof(IPaymentGrain.Execute))] = Writers,
        [(typeof(IPaymentGrain), nameof(IPaymentGrain.ExpireQuotesIfDue))] = Writers,
        [(typeof(IPaymentGrain), nameof(IPaymentGrain.GetState))] = Readers,
    };

    private static ReadOnlySpan<byte> HostedClientPrefix => "hosted-"u8;

    // No ConfigureAwait(false) here: a grain call filter runs in the grain's turn, and context.Invoke() must resume on it.
    public async Task Invoke(IIncomingGrainCallContext context)
    {
        // The hot path (grains and the silo's own frontend) leaves after one look at the caller's id.
        if (context.SourceId is not { } source || !IsExternalClient(source) || context.Request.GetInterfaceType() is not { } iface
            || iface.Assembly != typeof(IAccountGrain).Assembly)
        {
            await context.Invoke();
            return;
        }
        var operation = $"grain {iface.Name}.{context.MethodName}";
        var key = RequestContext.Get(EscrowOrleansClient.ApiKeyContextKey) as string;
        var caller = string.IsNullOrEmpty(key) ? null : await keys.AuthenticateAsync(key, CancellationToken.None);
        if (caller is null)
        {
            var code = string.IsNullOrEmpty(key) ? "api_key_required" : "api_key_invalid";
            throw await RefuseAsync(null, operation, 401, code, code == "api_key_required"
                ? "the call carries no API key: connect with AddEscrowOrleansClient(connectionString, apiKey)"
                : "the API key is not known");
        }
        if (!ClientMethods.TryGetValue((iface, context.MethodName), out var roles))
            throw await RefuseAsync(caller, operation, 403, "forbidden", $"{iface.Name}.{context.MethodName} is called by the cluster's grains only");
        if (!roles.Contains(caller.Role))
            throw await RefuseAsync(caller, operation, 403, "forbidden",
                $"a {Caller.RoleName(caller.Role)} key may not call {iface.Name}.{context.MethodName}; it needs a {string.Join(" or ", roles.Select(Caller.RoleName))} key");
        var (tenant, _) = GrainKeys.Parse(context.TargetId.Key.ToString()!);
        if (!caller.CanSee(tenant))
            throw await RefuseAsync(caller, operation, 403, "forbidden",
                $"the key of institution '{caller.Institution}' may not call a grain of another institution");
        for (var i = 0; i < context.Request.GetArgumentCount(); i++)
        {
            if (context.Request.GetArgument(i) is CommandCall call && call.Actor != caller.KeyId)
                context.Request.SetArgument(i, call with { Actor = caller.KeyId });
        }
        if (await CommandRuleAsync(context, caller, tenant) is { } broken)
            throw await RefuseAsync(caller, operation, 403, "forbidden", broken);
        await context.Invoke();
    }

    /// <summary>
    /// What the HTTP frontend decides before a command reaches its grain, decided here for a client's command: null when the
    /// call may go on (possibly with an argument completed), else why it is refused. Ids reserved to the operator
    /// (<c>house-…</c>) and a deal's escrow account stay out of reach; a new deal's escrow account is its own
    /// (<c>escrow-{dealId}</c>) and its template's rule is decided as for HTTP (a refusal the grain answers and audits);
    /// what the payment hub decides from its reference data (FX quotes, proxy results, notifications) is not a client's to
    /// send, and a pacs.008's booking is the one the hub derives from the message and the institution's accounts. An account
    /// opened without a data subject gets the account's own (<c>account:{id}</c>), so its owner's name is sealed as over HTTP.
    /// </summary>
    private async Task<string?> CommandRuleAsync(IIncomingGrainCallContext context, Caller caller, string tenant)
    {
        if (context.MethodName != nameof(IAccountGrain.Execute)) return null;
        switch (context.Request.GetArgument(0))
        {
            case Domain.Accounts.AccountCommand command:
                if (context.Request.GetArgument(2) is true) return "a deal's escrow account moves only through its deal";
                if (command is Domain.Accounts.OpenAccount open && open.AccountId.StartsWith(Http.LedgerEndpoints.ReservedPrefix, StringComparison.Ordinal) && !caller.IsRoot)
                    return $"account ids starting with '{Http.LedgerEndpoints.ReservedPrefix}' are the operator's: only the root key may open them";
                // As over HTTP, an owner's name is sealed for a data subject: the account's own unless the client names one.
                if (command is Domain.Accounts.OpenAccount { Subject: null } unnamed)
                    context.Request.SetArgument(0, unnamed with { Subject = Subjects.PersonalDataSealing.AccountSubject(unnamed.AccountId) });
                else if (command is Domain.Accounts.OpenAccount { Subject: { } subject } && !EventStore.PersonalData.IsSubjectId(subject))
                    return "a subject id is 1-128 characters of A-Z a-z 0-9 . _ : - (an opaque reference, not a name)";
                return null;
            case Domain.Deals.SubmitEvidence { ContentSealed: true }:
                return "ContentSealed is set by the deal's grain when it seals inline evidence, never by a client";
            case Domain.Deals.CreateDeal create:
                if (create.Tenant != tenant || create.EscrowAccount != Deals.DealService.EscrowAccountOf(create.DealId))
                    return $"a deal of institution '{tenant}' holds its money in its own escrow account '{Deals.DealService.EscrowAccountOf(create.DealId)}'";
                if (context.Request.GetArgument(2) is null && create.TemplateId != Deals.DealTemplateStore.DefaultTemplateId)
                {
                    var template = await templates.GetAsync(tenant, create.TemplateId, CancellationToken.None);
                    if (Deals.DealTemplateStore.Rule(create.TemplateId, template, tenant, create.Amount, create.Currency) is { } rule)
                        context.Request.SetArgument(2, rule);
                }
                return null;
            case IReadOnlyList<Domain.Payments.PaymentCommand> commands:
                var completed = new List<Domain.Payments.PaymentCommand>(commands.Count);
                foreach (var c in commands)
                {
                    if (c is Domain.Payments.GenerateQuote or Domain.Payments.ResolveProxy or Domain.Payments.FailProxyResolution
                        or Domain.Payments.NotifyFxp or Domain.Payments.NotifySender && !caller.IsRoot)
                        return $"{c.GetType().Name} is decided by the payment hub from its reference data; send the payment through the HTTP API";
                    completed.Add(c is Domain.Payments.InitiatePayment init
                        ? init with { Booking = await payments.BookingForAsync(init.Message, tenant, CancellationToken.None) }
                        : c);
                }
                context.Request.SetArgument(0, completed);
                return null;
            default:
                return null;
        }
    }

    /// <summary>An Orleans client connected through a gateway: a client id that is not a silo's own hosted client.</summary>
    private static bool IsExternalClient(GrainId source) => source.Type.IsClient() && !source.Key.AsSpan().StartsWith(HostedClientPrefix);

    private async Task<EscrowCallRefusedException> RefuseAsync(Caller? caller, string operation, int status, string code, string message)
    {
        var now = clock.GetUtcNow();
        var record = new AuditRecord(Guid.CreateVersion7(now), now, caller?.KeyId ?? "anonymous", caller?.Institution ?? "unknown", operation,
            AuditRecord.Refused, status, code, SHA256.HashData(Encoding.UTF8.GetBytes(operation + "\n")), [], Guid.CreateVersion7(now), null);
        try
        {
            await store.AppendAuditAsync(record, CancellationToken.None);
        }
        catch (Exception ex) when (ex is Npgsql.NpgsqlException or OperationCanceledException)
        {
            logger.LogWarning(ex, "could not write the audit record of a refused grain call ({Code})", code);
        }
        return new EscrowCallRefusedException(code, message);
    }
}
