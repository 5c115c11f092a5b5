using Escrow.Grains;
using System.Globalization;
using System.Text;
using Escrow.Domain;
using Escrow.Domain.Iso20022;
using Escrow.Domain.Payments;
using Escrow.EventStore;
using Escrow.Silo.Hosting;
using Escrow.Silo.Ledger;
using Escrow.Silo.Payments;
using Escrow.Silo.Tenancy;
using Escrow.Domain.Accounts;

namespace Escrow.Silo.Http;

/// <summary>Body of <c>POST /payments/quotes</c>: quote <c>amount</c> (major units of <c>sourceCurrency</c>) into <c>targetCurrency</c>; <c>uetr</c> optional (a new UUIDv4 when absent).</summary>
public sealed record QuoteRequest(string? Uetr, string? SourceCurrency, string? TargetCurrency, decimal? Amount);

/// <summary>Body of <c>POST /payments/{uetr}/quote-selection</c>.</summary>
public sealed record SelectQuoteRequest(string? QuoteId);

/// <summary>Body of <c>POST /payments/{uetr}/proxy-resolution</c>: a proxy type (MOBL, EMAL, IBAN…) and value.</summary>
public sealed record ProxyResolutionRequest(string? ProxyType, string? ProxyValue);

/// <summary>
/// Body of <c>POST /payments/{uetr}/initiation</c>: the debtor's account here (a customer account of the caller's institution),
/// the amount in major units of <c>currency</c> (default: the quote's source currency), and the creditor — taken from the proxy
/// resolution when there was one, else <c>creditorAccount</c> and <c>creditorAgent</c> (BIC or clearing member id) are required.
/// </summary>
public sealed record InitiationRequest(
    string? DebtorAccount, string? DebtorName, string? DebtorAgent, decimal? Amount, string? Currency,
    string? CreditorName, string? CreditorAccount, string? CreditorAgent, string? EndToEndId);

/// <summary>Body of <c>POST /fxps/{fxpId}/rates</c>: mid <c>rate</c> (target units per source unit), <c>spread</c> (fraction, 0 ≤ spread &lt; 1), quote validity in seconds.</summary>
public sealed record FxpRateRequest(string? SourceCurrency, string? TargetCurrency, decimal? Rate, decimal? Spread, int? ValidForSeconds);

/// <summary>Body of <c>POST /proxies</c>: an alias and the creditor it names.</summary>
public sealed record ProxyRequest(string? ProxyType, string? ProxyValue, string? CreditorName, string? CreditorAccount, string? CreditorAgent);

/// <summary>
/// Cross-border payments over HTTP: ISO 20022 messages in (<c>POST /payments/messages</c>), the quote → select →
/// resolve → initiate flow, generated messages out, FX providers' rates and the proxy directory. Commands need a writer (or
/// root) key; queries are tenant-scoped (auditors read).
/// </summary>
public static class PaymentEndpoints
{
    public static void MapPayments(this IEndpointRouteBuilder app)
    {
        var payments = app.MapGroup("/payments").WithTags("Payments");

        payments.MapPost("/messages", async (HttpContext http, IsoMessageImporter importer, CancellationToken ct) =>
        {
            var (xml, context) = await ReadMessageAsync(http.Request, ct);
            try
            {
                var (report, single) = await importer.ImportAsync(xml, context, ct);
                if (single is not null) return LedgerEndpoints.Result(single);
                // Several commands (a camt.054 with many entries): a report; if every one was refused, the first refusal.
                if (report.Commands.Count > 0 && report.Commands.All(c => c.Outcome == "rejected"))
                {
                    var first = report.Commands[0];
                    return LedgerEndpoints.Result(Problems.Outcome(first.HttpStatus, first.Code!, $"{first.Uetr}: {first.Detail}"));
                }
                return Results.Ok(report);
            }
            catch (IsoMessageRejectedException ex)
            {
                throw new BadRequestException(ex.Code, ex.Message);
            }
        }).RequireRoles(Role.Root, Role.Writer).Accepts<string>("application/xml").Produces<PaymentView>().Produces<PaymentView>(201)
            .Produces<ImportReport>(200).Problems(400, 403, 404, 409, 422)
            .Doc("importIsoMessage", "Import one ISO 20022 message (pacs.008, pacs.002, pacs.004, camt.056, camt.029, camt.054, head.001)",
                "Body: the XML. Idempotency-Key optional: an identical re-delivery is recognised by the payment and appends nothing.");

        payments.MapPost("/quotes", async (HttpContext http, PaymentService service, [FromKeyedServices(LedgerClock.Key)] TimeProvider clock, CancellationToken ct) =>
        {
            var (b, ctx) = await CommandRequests.ReadAsync<QuoteRequest>(http.Request, false, ct);
            var uetr = b.Uetr is null ? NewUetr() : Uetr(b.Uetr);
            var source = CommandRequests.Currency(b.SourceCurrency);
            if (string.IsNullOrEmpty(b.TargetCurrency)) throw new BadRequestException("missing_field", "'targetCurrency' is required");
            var target = CommandRequests.Currency(b.TargetCurrency);
            if (source.Code == target.Code) throw new BadRequestException("same_currency", "source and target currency must differ");
            var amount = CommandRequests.Amount(b.Amount, source);
            var rates = await service.Directory.RatesAsync(ctx.Tenant, source.Code, target.Code, ct);
            var now = clock.GetUtcNow();
            var commands = new List<PaymentCommand> { new RequestQuote(uetr, source.Code, target.Code, amount, LedgerService.Now) };
            commands.AddRange(rates.Select(r => (PaymentCommand)new GenerateQuote(uetr, "q-" + r.FxpId, r.FxpId, r.CustomerRate, r.Spread, now + r.ValidFor, LedgerService.Now)));
            var refuse = rates.Count == 0
                ? new Rejection("no_fxp_for_pair", $"no FX provider of institution '{ctx.Tenant}' quotes {source.Code}→{target.Code}")
                : null;
            return LedgerEndpoints.Result(await service.ExecuteAsync(commands, ctx, ct, refuse));
        }).RequireRoles(Role.Root, Role.Writer).Accepts<QuoteRequest>("application/json").Produces<PaymentView>(201).IdempotentCommand().Problems(403, 409)
            .Doc("requestQuotes", "Request quotes from every FX provider for a currency pair");

        payments.MapPost("/{uetr}/quote-selection", async (string uetr, HttpContext http, PaymentService service, CancellationToken ct) =>
        {
            var (b, ctx) = await CommandRequests.ReadAsync<SelectQuoteRequest>(http.Request, false, ct);
            if (string.IsNullOrEmpty(b.QuoteId)) throw new BadRequestException("missing_field", "'quoteId' is required");
            return LedgerEndpoints.Result(await service.ExecuteAsync(new SelectQuote(Uetr(uetr), b.QuoteId, LedgerService.Now), ctx, ct));
        }).RequireRoles(Role.Root, Role.Writer).Accepts<SelectQuoteRequest>("application/json").Produces<PaymentView>().IdempotentCommand().Problems(403, 404, 409)
            .Doc("selectQuote", "Select a quote (refused once it expired)");

        payments.MapPost("/{uetr}/proxy-resolution", async (string uetr, HttpContext http, PaymentService service, CancellationToken ct) =>
        {
            var (b, ctx) = await CommandRequests.ReadAsync<ProxyResolutionRequest>(http.Request, false, ct);
            var id = Uetr(uetr);
            if (string.IsNullOrWhiteSpace(b.ProxyType) || string.IsNullOrWhiteSpace(b.ProxyValue))
                throw new BadRequestException("missing_field", "'proxyType' and 'proxyValue' are required");
            var entry = await service.Directory.ResolveAsync(ctx.Tenant, b.ProxyType, b.ProxyValue, ct);
            PaymentCommand result = entry is null
                ? new FailProxyResolution(id, $"no creditor is registered for this {b.ProxyType} proxy", LedgerService.Now)   // the value is personal data: not in clear
                : new ResolveProxy(id, entry.CreditorName, entry.CreditorAccount, entry.CreditorAgent, LedgerService.Now);
            return LedgerEndpoints.Result(await service.ExecuteAsync(
                [new RequestProxyResolution(id, b.ProxyType, b.ProxyValue, LedgerService.Now), result], ctx, ct));
        }).RequireRoles(Role.Root, Role.Writer).Accepts<ProxyResolutionRequest>("application/json").Produces<PaymentView>().Produces<PaymentView>(201)
            .IdempotentCommand().Problems(403, 404, 409).Doc("resolveProxy", "Resolve a proxy (phone, e-mail, IBAN) to the creditor's account");

        payments.MapPost("/{uetr}/initiation", async (string uetr, HttpContext http, PaymentService service, IsoMessageImporter importer,
            PgEventStore store, [FromKeyedServices(LedgerClock.Key)] TimeProvider clock, CancellationToken ct) =>
        {
            var (b, ctx) = await CommandRequests.ReadAsync<InitiationRequest>(http.Request, false, ct);
            var id = Uetr(uetr);
            var debtor = CommandRequests.AccountId(b.DebtorAccount, "debtorAccount");
            var state = await service.StateAsync(ctx.Tenant, id, ct);
            var currency = CommandRequests.Currency(b.Currency ?? state?.SourceCurrency);
            var amount = CommandRequests.Amount(b.Amount, currency);
            var (creditorName, creditorAccount, creditorAgent) = await CreditorAsync(store, PaymentService.StreamId(ctx.Tenant, id), state, b, ct);
            var now = clock.GetUtcNow();
            var instruction = new PaymentInstruction(
                MessageId: "ESC" + now.ToString("yyyyMMddHHmmss", CultureInfo.InvariantCulture) + id[..8],
                CreatedAt: now, Uetr: id, EndToEndId: b.EndToEndId ?? "E2E-" + id[..13],
                Amount: new Money(amount, currency), SettlementDate: DateOnly.FromDateTime(now.UtcDateTime),
                Debtor: new Party(b.DebtorName, debtor), DebtorAgent: AgentOf(b.DebtorAgent ?? ctx.Tenant),
                Creditor: new Party(creditorName, creditorAccount), CreditorAgent: AgentOf(creditorAgent));
            var xml = IsoWriter.Pacs008(instruction, "001.09");   // the version whose ISO base schema is loaded
            var message = (CreditTransferMessage)importer.Read(xml).Message;
            var booking = await service.BookingForAsync(message, ctx.Tenant, ct);
            // The host's validation: the generated message conforms to the ISO base schema of its version (when loaded).
            var failure = importer.ValidatesSchemas && importer.Read(xml).Schema.StartsWith("valid", StringComparison.Ordinal) is false
                ? "the generated pacs.008 does not conform to its schema" : null;
            var refuse = booking is not { Direction: BookingDirection.Outgoing }
                ? new Rejection(AccountRejectionCodes.AccountNotFound, $"account '{debtor}' is not an open {currency.Code} customer account of institution '{ctx.Tenant}'")
                : null;
            PaymentCommand[] commands = failure is null
                ? [new InitiatePayment(message, LedgerService.Now, booking), new ValidatePayment(id, null, LedgerService.Now), new ForwardPayment(id, creditorAgent, LedgerService.Now)]
                : [new InitiatePayment(message, LedgerService.Now, booking), new ValidatePayment(id, failure, LedgerService.Now)];
            return LedgerEndpoints.Result(await service.ExecuteAsync(commands, ctx, ct, refuse));
        }).RequireRoles(Role.Root, Role.Writer).Accepts<InitiationRequest>("application/json").Produces<PaymentView>().Produces<PaymentView>(201)
            .IdempotentCommand().Problems(403, 404, 409)
            .Doc("initiatePayment", "Initiate a payment from a customer account: writes the pacs.008, holds the amount, validates and forwards");

        payments.MapGet("/{uetr}", async (string uetr, string? at, HttpContext http, PaymentService service, CancellationToken ct) =>
        {
            var id = Uetr(uetr);
            var tenant = http.GetCaller().ActingTenant(http.Request);
            var view = await service.GetAsync(tenant, id, ct);
            if (view is null) return UnknownUetr(id);
            if (!string.IsNullOrEmpty(at))
            {
                if (!DateTimeOffset.TryParse(at, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var t))
                    throw new BadRequestException("invalid_instant", $"'at' must be an ISO 8601 instant, got '{at}'");
                view = await service.GetAsOfAsync(tenant, id, t, ct);
                if (view is null) return UnknownUetr(id);
            }
            return Results.Ok(view);
        }).Produces<PaymentView>().Problems(400, 404).Doc("getPayment", "A payment now, or as of an instant (?at=, replayed from its events)");

        payments.MapGet("/{uetr}/events", async (string uetr, long? after, int? limit, HttpContext http, PaymentService service, PgEventStore store, CancellationToken ct) =>
        {
            var id = Uetr(uetr);
            var tenant = http.GetCaller().ActingTenant(http.Request);
            if (await service.GetAsync(tenant, id, ct) is null) return UnknownUetr(id);
            return Results.Ok(await LedgerQueries.StreamAsync(store, PaymentService.StreamId(tenant, id), after ?? 0, Math.Clamp(limit ?? 100, 1, 1000), ct));
        }).Produces<IReadOnlyList<AuditEvent>>().Problems(400, 404).Doc("getPaymentEvents", "The payment's stream with metadata and hash links (audit view)");

        payments.MapGet("/{uetr}/messages/{definition}", async (string uetr, string definition, HttpContext http, PaymentService service, SubjectKeyStore keys, CancellationToken ct) =>
        {
            var id = Uetr(uetr);
            var state = await service.StateAsync(http.GetCaller().ActingTenant(http.Request), id, ct);
            if (state is null) return UnknownUetr(id);
            if (definition == "pacs.008" && state.Instruction?.RawXml is { } raw && await keys.OpenAsync(raw, ct) == PersonalData.Erased)
                return Results.Text(Problems.Serialize(Problems.Create(410, "personal_data_erased",
                    $"the pacs.008 of payment {id} named a data subject whose personal data was erased; its amounts and status remain")),
                    Problems.ContentType, statusCode: 410);
            var xml = Message(state, definition);
            return xml is null
                ? Results.Text(Problems.Serialize(Problems.Create(404, "message_not_available",
                    $"payment {id} (status {state.Status}) has no {definition}: pacs.008 once initiated, pacs.002 once accepted or rejected, camt.054 once settled")),
                    Problems.ContentType, statusCode: 404)
                : Results.Text(xml, "application/xml", Encoding.UTF8);
        }).Produces<string>(200, "application/xml").Problems(400, 404, 410)
            .Doc("getPaymentMessage", "The payment's messages: the pacs.008 as received or sent, a pacs.002 status report, a camt.054 notification");

        var fxps = app.MapGroup("/fxps").WithTags("Payments");
        fxps.MapPost("/{fxpId}/rates", async (string fxpId, HttpContext http, PaymentDirectory directory, PgEventStore store, [FromKeyedServices(LedgerClock.Key)] TimeProvider clock, CancellationToken ct) =>
        {
            var (b, ctx) = await CommandRequests.ReadAsync<FxpRateRequest>(http.Request, false, ct);
            CommandRequests.AccountId(fxpId, "fxpId");
            var source = CommandRequests.Currency(b.SourceCurrency);
            if (string.IsNullOrEmpty(b.TargetCurrency)) throw new BadRequestException("missing_field", "'targetCurrency' is required");
            var target = CommandRequests.Currency(b.TargetCurrency);
            if (source.Code == target.Code) throw new BadRequestException("same_currency", "source and target currency must differ");
            if (b.Rate is not > 0) throw new BadRequestException("invalid_rate", "'rate' must be a positive number");
            if (b.Spread is < 0 or >= 1) throw new BadRequestException("invalid_spread", "'spread' must be at least 0 and below 1");
            if (b.ValidForSeconds is not (> 0 and <= 86_400)) throw new BadRequestException("invalid_validity", "'validForSeconds' must be 1-86400");
            var rate = new FxpRate(ctx.Tenant, fxpId, source.Code, target.Code, b.Rate.Value, b.Spread ?? 0, TimeSpan.FromSeconds(b.ValidForSeconds.Value),
                ctx.Actor, clock.GetUtcNow());
            var audit = IdempotentWrites.Audit(ctx, clock.GetUtcNow(), "PublishFxpRate", []);
            return await IdempotentWrites.RunAsync(http, store, ctx, audit, [PaymentDirectory.RateInsert(rate)], 201, rate,
                // The rate's key includes its publication instant (microseconds): two publications of one pair at the same instant.
                ex => ex.SqlState == Npgsql.PostgresErrorCodes.UniqueViolation && ex.ConstraintName == "fxp_rates_pkey"
                    ? Problems.Outcome(409, "rate_published_concurrently", $"another rate of '{fxpId}' for {source.Code}/{target.Code} was published at the same instant; publish again") : null,
                storeRefusals: false, ct: ct);
        }).RequireRoles(Role.Root, Role.Writer).Accepts<FxpRateRequest>("application/json").Produces<FxpRate>(201).IdempotentCommand()
            .Problems(403, 404, 409).Doc("publishFxpRate", "Publish an FX provider's rate for a currency pair");
        fxps.MapGet("/rates", async (string? source, string? target, HttpContext http, PaymentDirectory directory, CancellationToken ct) =>
            Results.Ok(await directory.RatesAsync(http.GetCaller().ActingTenant(http.Request), source, target, ct)))
            .Produces<IReadOnlyList<FxpRate>>().Doc("listFxpRates", "Current rates of the institution's FX providers");

        var proxies = app.MapGroup("/proxies").WithTags("Payments");
        proxies.MapPost("/", async (HttpContext http, PaymentDirectory directory, PgEventStore store, SubjectKeyStore keys, LedgerService ledger,
            [FromKeyedServices(LedgerClock.Key)] TimeProvider clock, CancellationToken ct) =>
        {
            var (b, ctx) = await CommandRequests.ReadAsync<ProxyRequest>(http.Request, false, ct);
            if (string.IsNullOrWhiteSpace(b.ProxyType) || string.IsNullOrWhiteSpace(b.ProxyValue))
                throw new BadRequestException("missing_field", "'proxyType' and 'proxyValue' are required");
            if (string.IsNullOrWhiteSpace(b.CreditorAccount) || string.IsNullOrWhiteSpace(b.CreditorAgent))
                throw new BadRequestException("missing_field", "'creditorAccount' and 'creditorAgent' are required");
            // The creditor's name is sealed for the creditor's subject: its account's when the account is ours, else the party's
            // (the proxy value stays in clear: it is the lookup key).
            string? name;
            try
            {
                var ours = new Dictionary<string, string>(StringComparer.Ordinal);
                if (CommandRequests.IsAccountId(b.CreditorAccount) && (await ledger.StateAsync(ctx.Tenant, b.CreditorAccount, ct, fresh: false)).State is { Exists: true } account)
                    ours[b.CreditorAccount] = Subjects.PersonalDataSealing.SubjectOf(account);
                name = await keys.SealAsync(ctx.Tenant, [Subjects.PersonalDataSealing.PartySubject("", b.CreditorAccount, ours)], b.CreditorName, ct);
            }
            catch (SubjectErasedException e)
            {
                throw new BadRequestException(Subjects.PersonalDataSealing.SubjectErasedCode, e.Message, StatusCodes.Status409Conflict);
            }
            var entry = new ProxyEntry(ctx.Tenant, b.ProxyType, b.ProxyValue, name, b.CreditorAccount, b.CreditorAgent, ctx.Actor, clock.GetUtcNow());
            var audit = IdempotentWrites.Audit(ctx, clock.GetUtcNow(), "RegisterProxy", []);
            return await IdempotentWrites.RunAsync(http, store, ctx, audit, [PaymentDirectory.ProxyInsert(entry)], 201, entry,
                ex => ex.SqlState == Npgsql.PostgresErrorCodes.UniqueViolation && ex.ConstraintName == "proxy_directory_pkey"
                    ? Problems.Outcome(409, "proxy_registered_concurrently", $"{b.ProxyType} '{b.ProxyValue}' was registered by another request at the same instant; register again") : null,
                storeRefusals: false, ct: ct);
        }).RequireRoles(Role.Root, Role.Writer).Accepts<ProxyRequest>("application/json").Produces<ProxyEntry>(201).IdempotentCommand()
            .Problems(403, 409).Doc("registerProxy", "Register a proxy (alias) in the institution's directory");
        proxies.MapGet("/{proxyType}/{proxyValue}", async (string proxyType, string proxyValue, HttpContext http, PaymentDirectory directory, CancellationToken ct) =>
            await directory.ResolveAsync(http.GetCaller().ActingTenant(http.Request), proxyType, proxyValue, ct) is { } entry
                ? Results.Ok(entry)
                : Results.Text(Problems.Serialize(Problems.Create(404, "proxy_not_found", $"no creditor is registered for {proxyType} '{proxyValue}'")),
                    Problems.ContentType, statusCode: 404))
            .Produces<ProxyEntry>().Problems(404).Doc("getProxy", "Look a proxy up in the institution's directory");
    }

    private static async Task<(string Xml, CommandContext Context)> ReadMessageAsync(HttpRequest request, CancellationToken ct)
    {
        var bytes = await BoundedBody.ReadAsync(request, IsoMessageImporter.MaxMessageBytes, ct);
        var digest = TenancyEndpoints.RequestDigest(request.Method, request.Path, bytes);
        request.HttpContext.Items[RefusalAudit.PayloadItem] = digest;
        if (bytes.Length == 0) throw new BadRequestException("missing_body", "the body must be one ISO 20022 XML message");
        var key = request.Headers[CommandRequests.IdempotencyHeader].ToString();
        if (key.Length > 200) throw new BadRequestException("idempotency_key_too_long", "'Idempotency-Key' is longer than 200 characters");
        if (key.StartsWith("timer:", StringComparison.Ordinal)) throw new BadRequestException("reserved_idempotency_key", "'timer:' keys are reserved");
        var caller = request.HttpContext.GetCaller();
        var correlation = Guid.TryParse(request.Headers[CommandRequests.CorrelationHeader].ToString(), out var c) ? c : Guid.CreateVersion7();
        // Without an Idempotency-Key a re-delivered message is still safe: the payment recognises it (identical pacs.008,
        // a second ACSC, a known return id...) and appends nothing. A refusal is then not remembered, so a message that
        // arrived too early (a pacs.002 before its pacs.008) can be delivered again later.
        var context = new CommandContext(caller.ActingTenant(request), caller.KeyId, key.Length == 0 ? null : key, digest, correlation, TenantScoped: !caller.IsRoot);
        return (Encoding.UTF8.GetString(bytes), context);
    }

    private static async Task<(string? Name, string Account, string Agent)> CreditorAsync(
        PgEventStore store, string stream, PaymentState? state, InitiationRequest b, CancellationToken ct)
    {
        if (state?.ResolvedCreditorAccount is not null)
        {
            var events = await store.ReadStreamAsync(stream, 0, ct);
            var resolved = events.Select(EventSerializer.Deserialize).OfType<ProxyResolved>().Last();
            return (resolved.CreditorName, resolved.CreditorAccount, resolved.CreditorAgent);
        }
        if (string.IsNullOrWhiteSpace(b.CreditorAccount) || string.IsNullOrWhiteSpace(b.CreditorAgent))
            throw new BadRequestException("missing_field", "'creditorAccount' and 'creditorAgent' are required when no proxy was resolved");
        return (b.CreditorName, b.CreditorAccount, b.CreditorAgent);
    }

    /// <summary>A BIC (ISO 9362: 4 letters institution, 2 letters country, 2 location, optional 3 branch) or else a clearing member id.</summary>
    private static Agent AgentOf(string id) =>
        id.Length is 8 or 11 && id.Take(6).All(char.IsAsciiLetterUpper) && id.All(char.IsAsciiLetterOrDigit) ? new Agent(id, null) : new Agent(null, id);

    private static string? Message(PaymentState s, string definition)
    {
        if (s.Instruction is not { } i) return null;
        var original = new PaymentInstruction(i.MessageId ?? "", i.At, i.Uetr, i.EndToEndId ?? "", new Money(i.Amount, Currency.Parse(i.Currency)),
            i.SettlementDate ?? DateOnly.FromDateTime(i.At.UtcDateTime), new Party(i.DebtorName, i.DebtorAccount), AgentOf(i.DebtorAgent ?? "unknown"),
            new Party(i.CreditorName, i.CreditorAccount), AgentOf(i.CreditorAgent ?? "unknown"));
        var at = s.LastAt ?? i.At;
        var suffix = i.Uetr.Replace("-", "", StringComparison.Ordinal)[..20];
        return definition switch
        {
            "pacs.008" => i.RawXml,
            "pacs.002" when s.IsSettled => IsoWriter.Pacs002(original, "STS" + suffix, at, s.SettlementStatus!),
            "pacs.002" when s.Status == PaymentStatus.Rejected => IsoWriter.Pacs002(original, "STS" + suffix, at, "RJCT", s.RejectionReason),
            "camt.054" when s.IsSettled => i.Booking?.Direction == BookingDirection.Outgoing
                ? IsoWriter.Camt054(original, "NTF" + suffix, at, i.DebtorAccount ?? "", "DBIT")
                : IsoWriter.Camt054(original, "NTF" + suffix, at, i.CreditorAccount ?? "", "CRDT"),
            _ => null,
        };
    }

    private static string Uetr(string value) => IsoParser.IsUetr(value)
        ? value
        : throw new BadRequestException(PaymentRejectionCodes.InvalidUetr, $"'{value}' is not a UETR (a lower-case UUIDv4, ISO 20022 UUIDv4Identifier)");

    private static string NewUetr() => Guid.NewGuid().ToString("D");

    private static IResult UnknownUetr(string uetr) => Results.Text(
        Problems.Serialize(Problems.Create(404, PaymentRejectionCodes.UnknownUetr, $"no payment with UETR {uetr}")), Problems.ContentType, statusCode: 404);

}
