using Escrow.Domain;
using Escrow.Domain.Payments;
using Orleans.Concurrency;
using Escrow.Domain.Accounts;

namespace Escrow.Grains;

/// <summary>
/// One cross-border payment: a journaled grain over the payment's stream in the PostgreSQL event log, keyed by
/// <see cref="GrainKeys.Of"/> (its institution and its UETR, ISO 20022 <c>PmtId/UETR</c>). Decides with <see cref="Payment.Decide"/>,
/// derives the ledger postings of its booking with <see cref="PaymentLedger.Apply"/>, and commits the payment events and
/// the account events in one PostgreSQL transaction, with each stream's expected version.
/// </summary>
public interface IPaymentGrain : IGrainWithStringKey
{
    /// <summary>
    /// Decides <paramref name="commands"/> (all on this payment) in order and commits them in one transaction; a command whose
    /// <c>At</c> is <see cref="DateTimeOffset.MinValue"/> is stamped in the turn. When the payment has a booking and reaches an
    /// outcome, the sender (and the FX provider of its quote) are notified in the same transaction. <paramref name="refusal"/>
    /// is a rule the caller decided before (no FX provider quotes the pair, unknown debtor account): answered, audited and
    /// stored under the idempotency key. Refusals: the first rule broken, <see cref="PaymentRejectionCodes"/> and the ledger's
    /// <see cref="AccountRejectionCodes"/>; <c>concurrency_conflict</c>; <c>idempotency_key_reused</c>. Throws when PostgreSQL
    /// cannot be reached (nothing acknowledged).
    /// </summary>
    Task<CommandResult<PaymentView>> Execute(IReadOnlyList<PaymentCommand> commands, CommandCall call, Rejection? refusal);

    /// <summary>
    /// What the payment's quote-expiry reminder does at each tick (the grain registers it before a quote is generated and
    /// removes it once the payment no longer waits for a selection): re-reads the payment; if it is <c>Quoted</c> and its
    /// latest quote lapsed by the ledger clock, runs <see cref="ExpireQuotes"/> under the idempotency key
    /// <c>timer:quote-expiry:{tenant}/{uetr}</c> and answers its result (a repeated tick replays it); if a quote is still
    /// valid, registers the reminder for then and answers null; otherwise removes the reminder and answers null. Tests
    /// driven by a fake clock call it directly.
    /// </summary>
    Task<CommandResult<PaymentView>?> ExpireQuotesIfDue();

    /// <summary>The payment's confirmed state; with <paramref name="refresh"/> the grain first reads its stream's tail.</summary>
    [AlwaysInterleave]
    Task<StreamSnapshot<PaymentState>> GetState(bool refresh);
}
