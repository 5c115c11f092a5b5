using Escrow.Domain.Iso20022;

namespace Escrow.Domain.Payments;

/// <summary>
/// What an imported ISO message asks of the payment aggregate: zero or more commands, each addressed by
/// UETR, or why it asks nothing (<see cref="Skipped"/>).
/// </summary>
public sealed record ImportPlan(IReadOnlyList<PaymentCommand> Commands, string? Skipped)
{
    public static ImportPlan Of(params PaymentCommand[] commands) => new(commands, null);
    public static ImportPlan Skip(string why) => new([], why);
}

/// <summary>
/// Pure mapping of a parsed ISO 20022 message to payment commands (the host loads the state of each
/// command's UETR, runs <see cref="Payment.Decide"/>, and appends). the <c>at</c> of
/// <see cref="Commands"/> is the instant the host received the message.
/// <list type="bullet">
/// <item>pacs.008 → <see cref="InitiatePayment"/> (identical re-delivery: no-op; different content: <c>uetr_conflict</c>).</item>
/// <item>pacs.002 → <see cref="ReportStatus"/> (ACSC/ACCC accept, RJCT reject, others informational).</item>
/// <item>pacs.004 → <see cref="ReturnPayment"/>; camt.056 → <see cref="RequestReturn"/>; camt.029 → <see cref="AnswerReturn"/>.</item>
/// <item>camt.054 → <see cref="CompletePayment"/> for each booked (BOOK) credit (CRDT) transaction that carries a UETR;
/// other transactions (debits, no UETR, not booked) are not payment events.</item>
/// <item>head.001 alone → nothing (a header describes a message, it is not one).</item>
/// </list>
/// </summary>
public static class PaymentImport
{
    public static ImportPlan Commands(IsoMessage message, DateTimeOffset at) => message switch
    {
        CreditTransferMessage m => ImportPlan.Of(new InitiatePayment(m, at)),
        StatusReportMessage m => ImportPlan.Of(new ReportStatus(m, at)),
        PaymentReturnMessage m => ImportPlan.Of(new ReturnPayment(m, at)),
        CancellationRequestMessage m => ImportPlan.Of(new RequestReturn(m, at)),
        ResolutionMessage m => ImportPlan.Of(new AnswerReturn(m, at)),
        NotificationMessage m => Notification(m, at),
        HeaderOnlyMessage h => ImportPlan.Skip($"business application header for {h.AppHeader.MessageDefinitionId} {h.AppHeader.BusinessMessageId}: no payment change"),
        _ => ImportPlan.Skip($"{message.Info.Definition} changes no payment"),
    };

    private static ImportPlan Notification(NotificationMessage m, DateTimeOffset at)
    {
        var commands = m.Transactions
            .Where(t => t is { Uetr: not null, CreditDebit: "CRDT", EntryStatus: "BOOK" })
            .Select(t => (PaymentCommand)new CompletePayment(t.Uetr!, t.Amount, m.Info.MessageId, at))
            .ToArray();
        return commands.Length > 0
            ? ImportPlan.Of(commands)
            : ImportPlan.Skip($"camt.054 {m.Info.MessageId}: {m.Transactions.Count} transaction(s), none a booked credit with a UETR");
    }
}
