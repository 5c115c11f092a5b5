using System.Text.Json;
using Escrow.Domain.Iso20022;
using Escrow.Domain.Payments;
using Escrow.Silo.Hosting;
using Escrow.Silo.Ledger;

namespace Escrow.Silo.Payments;

/// <summary>A received ISO 20022 message refused before any payment saw it (400): <see cref="Code"/> is an <see cref="IsoErrorCodes"/> code or <c>schema_violation</c>.</summary>
public sealed class IsoMessageRejectedException(string code, string detail) : Exception(detail)
{
    public string Code { get; } = code;
}

/// <summary>What one command of an imported message did: <c>applied</c>, <c>duplicate</c> (already applied, nothing appended) or <c>rejected</c>.</summary>
public sealed record ImportedCommand(string Uetr, string Command, string Outcome, int HttpStatus, string? Code, string? Detail, string? PaymentStatus);

/// <summary>
/// The answer to an imported message: its definition (for example <c>pacs.008.001.08</c>), its <c>MsgId</c>, the XSD
/// check (<c>valid against …</c> or <c>not validated (no schema for version …)</c>), why it changed no payment
/// (<see cref="Skipped"/>), and what each command did.
/// </summary>
public sealed record ImportReport(string Message, string? MessageId, string Schema, string? Skipped, IReadOnlyList<ImportedCommand> Commands);

/// <summary>
/// Applies received ISO 20022 messages (pacs.008, pacs.002, pacs.004, camt.056, camt.029, camt.054, head.001) to payment
/// aggregates: parse (<see cref="IsoParser"/>), validate against the ISO base schema of exactly the message's version when
/// one is loaded (a message of another version is parsed by element paths, not refused), map to commands
/// (<see cref="PaymentImport"/>), and run each through <see cref="PaymentService"/>. A pacs.008 gets its booking here
/// (<see cref="PaymentService.BookingForAsync"/>).
/// </summary>
public sealed class IsoMessageImporter(PaymentService payments, IsoSchemaValidator? validator)
{
    /// <summary>Largest message accepted, in bytes (the samples are under 20 KB).</summary>
    public const int MaxMessageBytes = 1 << 20;

    public bool ValidatesSchemas => validator is not null;

    /// <summary>Parses and checks a message; throws <see cref="IsoMessageRejectedException"/> for anything that is not an acceptable message.</summary>
    public (IsoMessage Message, string Schema) Read(string xml)
    {
        var parsed = IsoParser.Parse(xml);
        if (parsed.Error is { } error)
            throw new IsoMessageRejectedException(error.Code, error.Message);
        var message = parsed.Message!;
        if (validator is null)
            return (message, "not validated (no schema directory configured)");
        var report = validator.Validate(xml);
        if (report.Outcome is SchemaOutcome.Invalid)
            throw new IsoMessageRejectedException("schema_violation", report.ToString());
        return (message, report.ToString());
    }

    /// <summary>
    /// Imports one message. Returns the report and, when the message carried exactly one command, that command's outcome
    /// exactly as the payment answered it (the HTTP frontend returns it as is).
    /// </summary>
    public async Task<(ImportReport Report, CommandOutcome? Single)> ImportAsync(string xml, CommandContext context, CancellationToken ct)
    {
        var (message, schema) = Read(xml);
        var plan = PaymentImport.Commands(message, LedgerService.Now);
        var results = new List<ImportedCommand>();
        CommandOutcome? last = null;
        foreach (var planned in plan.Commands)
        {
            var command = planned;
            if (command is InitiatePayment init)
                command = init with { Booking = await payments.BookingForAsync(init.Message, context.Tenant, ct).ConfigureAwait(false) };
            var outcome = await payments.ExecuteAsync(command, context with { Operation = $"ImportIso.{message.Info.Type}" }, ct).ConfigureAwait(false);
            last = outcome;
            results.Add(Describe(command, outcome));
        }
        var report = new ImportReport(message.Info.Definition, message.Info.MessageId, schema, plan.Skipped, results);
        return (report, plan.Commands.Count == 1 ? last : null);
    }

    private static ImportedCommand Describe(PaymentCommand command, CommandOutcome o)
    {
        using var doc = JsonDocument.Parse(o.Body);
        var root = doc.RootElement;
        if (!o.Accepted)
            return new(command.Uetr, command.GetType().Name, "rejected", o.Status, o.RejectionCode,
                root.TryGetProperty("detail", out var d) ? d.GetString() : null, null);
        var changed = root.TryGetProperty("changed", out var c) && c.GetBoolean();
        return new(command.Uetr, command.GetType().Name, changed ? "applied" : "duplicate", o.Status, null, null,
            root.TryGetProperty("status", out var s) ? s.GetString() : null);
    }
}
