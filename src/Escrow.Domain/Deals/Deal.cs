using System.Security.Cryptography;
using System.Text;
using Escrow.Domain.Accounts;

namespace Escrow.Domain.Deals;

/// <summary>
/// The escrow deal aggregate (also called a position) as two pure functions: no I/O, no clock (every instant
/// comes in on the command). Source of the rules: the deal lifecycle in docs/deals.md.
/// <para>Rules:</para>
/// <list type="bullet">
/// <item>Which command may run in which status is <see cref="DealTransitions.Table"/> and nothing else; any other
/// combination is <c>invalid_transition</c>, naming the current status and the statuses the command requires.</item>
/// <item>Money moves only through the ledger: funding, releases, refunds and resolution legs are postings decided by
/// <see cref="Account.Decide"/> (so every ledger rule applies, and a ledger rejection such as
/// <c>insufficient_funds</c> is the deal command's rejection), returned in the same decision as the deal event so
/// the host commits them in one transaction. Posting ids are derived from the deal id:
/// <c>{dealId}:fund</c>, <c>{dealId}:release:{n}</c>, <c>{dealId}:cancel</c>, <c>{dealId}:expiry-refund</c>,
/// <c>{dealId}:resolve:buyer</c>, <c>{dealId}:resolve:seller</c>.</item>
/// <item>Escrow invariant at every version: funded = released + refunded + held, held ≥ 0; a release never exceeds
/// what is held (<c>amount_exceeds_held</c>); a resolution splits exactly what is held (<c>split_mismatch</c>).</item>
/// <item>Expiry: an unfunded deal expires without money; a funded one only if its terms refund at expiry
/// (<c>refund_at_expiry_not_agreed</c>); never before the expiry instant (<c>not_expired</c>); funding at or after it
/// is <c>deal_expired</c>. Expiry is decided by the timer's <see cref="ExpireDeal"/> alone: a release, cancel or dispute that
/// reaches a funded deal after the expiry instant but before the timer fires is still decided on its own rules (first
/// come, first served; both run in the deal's turn). A dispute pauses expiry (see <see cref="DealState.ExpiryRemaining"/>).</item>
/// <item>Evidence is append-only: an evidence id is accepted once (<c>evidence_exists</c>), with a SHA-256 content hash
/// that must match inline content (<c>content_hash_mismatch</c>).</item>
/// </list>
/// Rejection codes: <see cref="DealRejectionCodes"/> plus the ledger's <see cref="AccountRejectionCodes"/>.
/// </summary>
public static class Deal
{
    /// <summary>Stream type recorded in the streams table.</summary>
    public const string StreamType = "deal";

    /// <summary>
    /// Decides <paramref name="command"/> on <paramref name="state"/>: the deal and the states of the accounts the command
    /// names (<see cref="DealCommand.Accounts"/>; an account missing from them is an empty, unopened one).
    /// Accepted: the deal event on stream id <c>DealId</c>, then the posting legs on the account ids, in posting order.
    /// </summary>
    public static Decision Decide(DealDecisionState state, DealCommand command)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(command);
        var (deal, accounts) = state;
        ArgumentNullException.ThrowIfNull(deal);
        ArgumentNullException.ThrowIfNull(accounts);
        if (!string.Equals(command.DealId, deal.DealId, StringComparison.Ordinal))
            throw new ArgumentException($"command for deal '{command.DealId}' decided on deal '{deal.DealId}'", nameof(command));

        if (command is CreateDeal create)
        {
            return deal.Exists
                ? Decision.Reject(DealRejectionCodes.DealExists, $"deal {deal.DealId} already exists ({deal.Status.Wire()})")
                : Checked(deal, command, Create(accounts, create));
        }
        if (!deal.Exists)
            return Decision.Reject(DealRejectionCodes.DealNotFound, $"deal {deal.DealId} does not exist");
        var sources = DealTransitions.SourcesOf(command.Kind);
        if (!sources.Contains(deal.Status))
        {
            var paused = deal.Status == DealStatus.Disputed && command.Kind == DealCommandKind.Expire ? " (expiry is paused while disputed)" : "";
            return Decision.Reject(DealRejectionCodes.InvalidTransition,
                $"deal {deal.DealId} is {deal.Status.Wire()}; {command.Kind.Verb()} requires {string.Join(" or ", sources.Select(s => s.Wire()))}{paused}");
        }

        var ledger = new Ledger(accounts, deal);
        var decision = command switch
        {
            FundDeal c => Fund(deal, ledger, c),
            ReleaseDeal c => Release(deal, ledger, c),
            CancelDeal c => Cancel(deal, ledger, c),
            ExpireDeal c => Expire(deal, ledger, c),
            OpenDispute c => Dispute(deal, c),
            SubmitEvidence c => Evidence(deal, c),
            ResolveDispute c => Resolve(deal, ledger, c),
            _ => throw new ArgumentOutOfRangeException(nameof(command), command.GetType().Name, "unknown deal command"),
        };
        return Checked(deal, command, decision);
    }

    /// <summary>Applies one deal event. Account events are not deal events (they belong to the account streams).</summary>
    public static DealState Evolve(DealState state, object @event)
    {
        ArgumentNullException.ThrowIfNull(state);
        return @event switch
        {
            DealCreated e => state with
            {
                Status = DealStatus.Created, Tenant = e.Tenant, TemplateId = e.TemplateId, BuyerAccount = e.BuyerAccount,
                SellerAccount = e.SellerAccount, EscrowAccount = e.EscrowAccount, Amount = e.Amount, Currency = e.Currency,
                ExpiresAt = e.ExpiresAt, RefundAtExpiry = e.RefundAtExpiry, ExternalReference = e.ExternalReference,
                Terms = e.Terms, Subjects = e.Subjects, CreatedAt = e.At, LastActivityAt = e.At,
            },
            DealFunded e => state with
            {
                Status = DealStatus.Funded, Funded = state.Funded + e.Amount, Held = state.Held + e.Amount, LastActivityAt = Later(state, e.At),
            },
            DealReleased e => state with
            {
                Status = state.Held - e.Amount == 0 ? DealStatus.Released : DealStatus.PartiallyReleased,
                Released = state.Released + e.Amount, Held = state.Held - e.Amount, ReleaseCount = state.ReleaseCount + 1,
                LastActivityAt = Later(state, e.At),
            },
            DealCancelled e => state with
            {
                Status = DealStatus.Cancelled, Refunded = state.Refunded + e.Refunded, Held = state.Held - e.Refunded, LastActivityAt = Later(state, e.At),
            },
            DealExpired e => state with
            {
                Status = DealStatus.Expired, Refunded = state.Refunded + e.Refunded, Held = state.Held - e.Refunded, LastActivityAt = Later(state, e.At),
            },
            DealDisputeOpened e => state with
            {
                Status = DealStatus.Disputed,
                Dispute = new DealDispute(e.OpenedBy, e.Reason, e.At, e.At < state.ExpiresAt ? state.ExpiresAt - e.At : TimeSpan.Zero, state.Status),
                LastActivityAt = Later(state, e.At),
            },
            DealEvidenceSubmitted e => state with
            {
                Evidence = state.Evidence.Add(new DealEvidence(e.EvidenceId, e.Type, e.ContentReference, e.Sha256, e.SubmittedBy, e.At)),
                LastActivityAt = Later(state, e.At),
            },
            DealResolved e => state with
            {
                Status = DealStatus.Resolved, Refunded = state.Refunded + e.BuyerShare, Released = state.Released + e.SellerShare,
                Held = state.Held - e.BuyerShare - e.SellerShare,
                Resolution = new DealResolution(e.DecidedBy, e.BuyerShare, e.SellerShare, e.Note, e.At),
                LastActivityAt = Later(state, e.At),
            },
            _ => throw new ArgumentOutOfRangeException(nameof(@event), @event.GetType().Name, "unknown deal event"),
        };
    }

    /// <summary>Folds a whole deal history from the empty state.</summary>
    public static DealState Fold(string dealId, IEnumerable<object> events) => events.Aggregate(DealState.Empty(dealId), Evolve);

    private static DateTimeOffset Later(DealState s, DateTimeOffset at) => s.LastActivityAt is { } last && last > at ? last : at;

    /// <summary>An accepted decision must land on a row of the table; anything else is a bug in this class.</summary>
    private static Decision Checked(DealState deal, DealCommand command, Decision decision)
    {
        if (decision.IsRejected)
            return decision;
        var dealEvents = decision.Events.Where(e => e.StreamId == deal.DealId).Select(e => e.Event).ToList();
        if (dealEvents.Count != 1)
            throw new InvalidOperationException($"{command.Kind} produced {dealEvents.Count} deal events");
        var after = Evolve(deal, dealEvents[0]);
        if (!DealTransitions.Allows(command.Kind, deal.Status, after.Status))
            throw new InvalidOperationException($"{command.Kind} would move deal {deal.DealId} {deal.Status.Wire()} → {after.Status.Wire()}, which is not in the table");
        return decision;
    }

    private static bool Blank(string? s) => string.IsNullOrWhiteSpace(s);

    private static Decision Missing(string field) => Decision.Reject(DealRejectionCodes.MissingField, $"{field} is required");

    private static Decision Create(IReadOnlyDictionary<string, AccountState> accounts, CreateDeal c)
    {
        foreach (var (name, value) in (ReadOnlySpan<(string, string)>)[
            ("deal id", c.DealId), ("tenant", c.Tenant), ("template id", c.TemplateId),
            ("buyer account", c.BuyerAccount), ("seller account", c.SellerAccount), ("escrow account", c.EscrowAccount)])
        {
            if (Blank(value))
                return Missing(name);
        }
        if (!Domain.Currency.TryParse(c.Currency, out var currency))
            return Decision.Reject(AccountRejectionCodes.UnknownCurrency, $"'{c.Currency}' is not an ISO 4217 currency code");
        if (Money.ValidatePositive(c.Amount, currency.Value) is { } bad)
            return Decision.Reject(bad);
        if (c.BuyerAccount == c.SellerAccount || c.EscrowAccount == c.BuyerAccount || c.EscrowAccount == c.SellerAccount)
            return Decision.Reject(AccountRejectionCodes.SameAccount,
                $"buyer '{c.BuyerAccount}', seller '{c.SellerAccount}' and escrow '{c.EscrowAccount}' must be three different accounts");
        if (c.ExpiresAt <= c.At)
            return Decision.Reject(DealRejectionCodes.InvalidExpiry, $"expiry {c.ExpiresAt:O} must be after creation {c.At:O}");
        foreach (var id in (ReadOnlySpan<string>)[c.BuyerAccount, c.SellerAccount])
        {
            var a = Get(accounts, id);
            if (!a.Exists)
                return Decision.Reject(AccountRejectionCodes.AccountNotFound, $"account '{id}' does not exist");
            if (a.Status == AccountStatus.Closed)
                return Decision.Reject(AccountRejectionCodes.AccountClosed, $"account '{id}' is closed");
            if (a.Currency != c.Currency)
                return Decision.Reject(AccountRejectionCodes.CurrencyMismatch, $"account '{id}' is kept in {a.Currency}, the deal is in {c.Currency}");
            // Only customer accounts may be parties. An internal account has no floor: were another deal's escrow
            // account (or the operator's cash) a buyer, funding could drain money that account still owes.
            if (a.Kind != AccountKind.Customer)
                return Decision.Reject(DealRejectionCodes.InvalidParty, $"account '{id}' is a {a.Kind} account; a deal's buyer and seller must be customer accounts");
        }
        // The host opens the escrow account (before or after creating the deal); if it is open already it must be fit for it.
        var escrow = Get(accounts, c.EscrowAccount);
        if (escrow.Exists)
        {
            var why = escrow.Kind != AccountKind.Internal ? $"is a {escrow.Kind} account, not Internal"
                : escrow.Status == AccountStatus.Closed ? "is closed"
                : escrow.Currency != c.Currency ? $"is kept in {escrow.Currency}, the deal is in {c.Currency}"
                : escrow.Balance != 0 ? $"already holds {escrow.Balance} {escrow.Currency}"
                : null;
            if (why is not null)
                return Decision.Reject(DealRejectionCodes.InvalidEscrowAccount, $"escrow account '{c.EscrowAccount}' {why}");
        }
        return Decision.Accept(new PendingEvent(c.DealId, new DealCreated(
            c.DealId, c.Tenant, c.TemplateId, c.BuyerAccount, c.SellerAccount, c.EscrowAccount, c.Amount, c.Currency,
            c.ExpiresAt, c.RefundAtExpiry, c.ExternalReference, c.Terms, c.At, c.Subjects)));
    }

    private static Decision Fund(DealState d, Ledger ledger, FundDeal c)
    {
        if (c.At >= d.ExpiresAt)
            return Decision.Reject(DealRejectionCodes.DealExpired, $"deal {d.DealId} expired at {d.ExpiresAt:O}; it can no longer be funded");
        var id = $"{d.DealId}:fund";
        return ledger.Post(id, d.BuyerAccount, d.EscrowAccount, d.Amount, "fund", c.At)
            ?? ledger.Accept(new DealFunded(d.DealId, id, d.Amount, d.Currency, c.At));
    }

    private static Decision Release(DealState d, Ledger ledger, ReleaseDeal c)
    {
        if (Money.ValidatePositive(c.Amount, Domain.Currency.Parse(d.Currency)) is { } bad)
            return Decision.Reject(bad);
        if (c.Amount > d.Held)
            return Decision.Reject(DealRejectionCodes.AmountExceedsHeld,
                $"deal {d.DealId} holds {d.Held} {d.Currency}; cannot release {c.Amount}");
        var id = $"{d.DealId}:release:{d.ReleaseCount + 1}";
        return ledger.Post(id, d.EscrowAccount, d.SellerAccount, c.Amount, "release", c.At)
            ?? ledger.Accept(new DealReleased(d.DealId, id, c.Amount, d.Currency, c.At));
    }

    private static Decision Cancel(DealState d, Ledger ledger, CancelDeal c)
    {
        var id = $"{d.DealId}:cancel";
        return ledger.Post(id, d.EscrowAccount, d.BuyerAccount, d.Held, "cancel refund", c.At)
            ?? ledger.Accept(new DealCancelled(d.DealId, id, d.Held, d.Currency, c.Reason, c.At));
    }

    private static Decision Expire(DealState d, Ledger ledger, ExpireDeal c)
    {
        if (c.At < d.ExpiresAt)
            return Decision.Reject(DealRejectionCodes.NotExpired, $"deal {d.DealId} expires at {d.ExpiresAt:O}, not before");
        if (d.Status == DealStatus.Created)
            return ledger.Accept(new DealExpired(d.DealId, null, 0m, d.Currency, c.At));
        if (!d.RefundAtExpiry)
            return Decision.Reject(DealRejectionCodes.RefundAtExpiryNotAgreed,
                $"deal {d.DealId} is {d.Status.Wire()} and its terms keep the funds in escrow at expiry");
        var id = $"{d.DealId}:expiry-refund";
        return ledger.Post(id, d.EscrowAccount, d.BuyerAccount, d.Held, "expiry refund", c.At)
            ?? ledger.Accept(new DealExpired(d.DealId, id, d.Held, d.Currency, c.At));
    }

    private static Decision Dispute(DealState d, OpenDispute c)
    {
        if (!Enum.IsDefined(c.By))
            return Decision.Reject(DealRejectionCodes.MissingField, "the disputing party must be the buyer or the seller");
        if (Blank(c.Reason))
            return Missing("reason");
        return Decision.Accept(new PendingEvent(d.DealId, new DealDisputeOpened(d.DealId, c.By, c.Reason, c.At)));
    }

    private static Decision Evidence(DealState d, SubmitEvidence c)
    {
        if (Blank(c.EvidenceId)) return Missing("evidence id");
        if (Blank(c.Type)) return Missing("evidence type");
        if (Blank(c.SubmittedBy)) return Missing("submitter");
        if (d.Evidence.Any(e => e.EvidenceId == c.EvidenceId))
            return Decision.Reject(DealRejectionCodes.EvidenceExists,
                $"deal {d.DealId} already has evidence '{c.EvidenceId}'; evidence is append-only and never changed");
        if ((c.Content is null) == (c.ContentReference is null))
            return Decision.Reject(DealRejectionCodes.InvalidEvidence, "evidence carries exactly one of content and content reference");
        if (c.Sha256 is not { Length: 64 } || !c.Sha256.All(char.IsAsciiHexDigit))
            return Decision.Reject(DealRejectionCodes.InvalidContentHash, "the content hash must be a SHA-256: 64 hexadecimal digits");
        var hash = c.Sha256.ToLowerInvariant();
        if (c.Content is not null && !c.ContentSealed)
        {
            var actual = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(c.Content)));
            if (actual != hash)
                return Decision.Reject(DealRejectionCodes.ContentHashMismatch, $"the content's SHA-256 is {actual}, not {hash}");
        }
        return Decision.Accept(new PendingEvent(d.DealId,
            new DealEvidenceSubmitted(d.DealId, c.EvidenceId, c.Type, c.Content, c.ContentReference, hash, c.SubmittedBy, c.At)));
    }

    private static Decision Resolve(DealState d, Ledger ledger, ResolveDispute c)
    {
        if (Blank(c.DecidedBy))
            return Missing("decided by");
        var currency = Domain.Currency.Parse(d.Currency);
        foreach (var (who, share) in (ReadOnlySpan<(string, decimal)>)[("buyer", c.BuyerShare), ("seller", c.SellerShare)])
        {
            if (share < 0)
                return Decision.Reject(AccountRejectionCodes.InvalidAmount, $"the {who} share must not be negative, got {share}");
            if (!currency.FitsMinorUnit(share))
                return Decision.Reject(AccountRejectionCodes.AmountPrecision, $"the {who} share {share} has more decimals than {d.Currency} allows");
        }
        if (c.BuyerShare + c.SellerShare != d.Held)
            return Decision.Reject(DealRejectionCodes.SplitMismatch,
                $"buyer {c.BuyerShare} + seller {c.SellerShare} = {c.BuyerShare + c.SellerShare} {d.Currency}; deal {d.DealId} holds {d.Held}");
        string? buyerId = null, sellerId = null;
        if (c.BuyerShare > 0)
        {
            buyerId = $"{d.DealId}:resolve:buyer";
            if (ledger.Post(buyerId, d.EscrowAccount, d.BuyerAccount, c.BuyerShare, "resolution, buyer share", c.At) is { } r)
                return r;
        }
        if (c.SellerShare > 0)
        {
            sellerId = $"{d.DealId}:resolve:seller";
            if (ledger.Post(sellerId, d.EscrowAccount, d.SellerAccount, c.SellerShare, "resolution, seller share", c.At) is { } r)
                return r;
        }
        return ledger.Accept(new DealResolved(d.DealId, c.DecidedBy, c.BuyerShare, c.SellerShare, d.Currency, buyerId, sellerId, c.Note, c.At));
    }

    private static AccountState Get(IReadOnlyDictionary<string, AccountState> states, string id) =>
        states.TryGetValue(id, out var s) ? s : AccountState.Empty(id);

    /// <summary>Postings of one decision, each decided by the ledger on the states left by the previous one.</summary>
    private sealed class Ledger(IReadOnlyDictionary<string, AccountState> accounts, DealState deal)
    {
        private readonly Dictionary<string, AccountState> _states = new(accounts, StringComparer.Ordinal);
        private readonly List<PendingEvent> _legs = [];

        /// <summary>Decides one posting; null when accepted, otherwise the ledger's rejection as the deal's decision.</summary>
        public Decision? Post(string postingId, string debit, string credit, decimal amount, string purpose, DateTimeOffset at)
        {
            var decision = Account.Decide(_states, new Post(
                postingId, debit, credit, amount, deal.Currency, PostingKind.Transfer, $"deal {deal.DealId} {purpose}", at));
            if (decision.IsRejected)
                return decision;
            foreach (var e in decision.Events)
            {
                _states[e.StreamId] = Account.Evolve(Get(_states, e.StreamId), e.Event);
                _legs.Add(e);
            }
            return null;
        }

        public Decision Accept(IDealEvent dealEvent) => Decision.Accept([new PendingEvent(deal.DealId, dealEvent), .. _legs]);
    }
}

/// <summary>
/// What a deal command is decided on (the state argument of <see cref="Deal.Decide"/>): the deal, and the states of the
/// accounts its command names (buyer, seller, escrow account), keyed by account id.
/// </summary>
public sealed record DealDecisionState(DealState Deal, IReadOnlyDictionary<string, AccountState> Accounts);
