using Escrow.Domain.Accounts;
using Escrow.Domain.Deals;
using Escrow.Domain.Iso20022;
using Escrow.Domain.Payments;
using Escrow.EventStore;

namespace Escrow.Silo.Subjects;

/// <summary>
/// Which fields of a command are personal data and whose key seals them: the grains seal a command's personal fields here
/// before deciding it, so the events, snapshots, read models and stored answers hold only envelopes
/// (<see cref="PersonalData"/>); <see cref="Hosting.PersonalDataResponses"/> opens them on the way out.
/// <list type="bullet">
/// <item>An account's owner, under the subject the account was opened for (default <c>account:{accountId}</c>).</item>
/// <item>A deal's terms, cancellation reason, dispute reason, inline evidence and resolution note, under the subjects of its
/// buyer's and seller's accounts together (erasing either erases them).</item>
/// <item>A payment's debtor and creditor names, each under its party's subject: the subject of the account when it is one
/// of ours (the booking's), else <c>party:{account}</c> (IBAN or other id); the pacs.008 as received and a camt.056's
/// free-text reason under both; a proxy (phone, e-mail) and the name it resolved to, under the creditor's.</item>
/// </list>
/// Amounts, currencies, account ids, UETRs, agents' BICs and times stay in clear: the books add up after any erasure.
/// </summary>
public static class PersonalDataSealing
{
    /// <summary>The refusal of a command that would seal new data for an erased subject (409).</summary>
    public const string SubjectErasedCode = "subject_erased";

    /// <summary>The subject of an account opened without one: <c>account:{accountId}</c>.</summary>
    public static string AccountSubject(string accountId) => PersonalData.SubjectIdOf("account:", accountId);

    /// <summary>The subject an account's owner is sealed for (its own, or the default of accounts that have none).</summary>
    public static string SubjectOf(AccountState account) => account.Subject ?? AccountSubject(account.AccountId);

    /// <summary>
    /// The subject of a payment party: the subject of its account when that is one of ours (<paramref name="ours"/>: account
    /// id → subject), else <c>party:{account}</c> (IBAN or other id), or <c>payment:{uetr}</c> when the message names no account.
    /// </summary>
    public static string PartySubject(string uetr, string? account, IReadOnlyDictionary<string, string>? ours = null) =>
        string.IsNullOrWhiteSpace(account) ? PersonalData.SubjectIdOf("payment:", uetr)
        : ours is not null && ours.TryGetValue(account, out var subject) ? subject
        : PersonalData.SubjectIdOf("party:", account);

    /// <summary>The subjects of a deal created before deals named theirs: its buyer's and seller's default account subjects.</summary>
    public static IReadOnlyList<string> DefaultDealSubjects(DealState deal) =>
        [.. new[] { AccountSubject(deal.BuyerAccount), AccountSubject(deal.SellerAccount) }.Distinct(StringComparer.Ordinal)];

    /// <summary>A deal command with its personal fields sealed for <paramref name="subjects"/>.</summary>
    public static async Task<DealCommand> SealAsync(SubjectKeyStore keys, string tenant, IReadOnlyList<string> subjects, DealCommand command)
    {
        Task<string?> Seal(string? text) => keys.SealAsync(tenant, subjects, text);
        return command switch
        {
            CreateDeal c => c with { Terms = await Seal(c.Terms) },
            CancelDeal c => c with { Reason = await Seal(c.Reason) },
            OpenDispute c => c with { Reason = (await Seal(c.Reason))! },
            // The aggregate checks inline content against its SHA-256: checked here on the text, then sealed. A mismatch is
            // left unsealed for the aggregate to refuse (nothing of it is stored).
            SubmitEvidence { Content: { } text } c when !PersonalData.IsSealed(text)
                && Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(text))) == c.Sha256.ToLowerInvariant()
                => c with { Content = await Seal(text), ContentSealed = true },
            ResolveDispute c => c with { Note = await Seal(c.Note) },
            _ => command,
        };
    }

    /// <summary>Whether a payment command has fields this class seals (most, a pacs.002 or a notification, have none).</summary>
    public static bool CarriesPersonalData(PaymentCommand command) =>
        command is InitiatePayment or RequestProxyResolution or ResolveProxy or RequestReturn { Message.ReasonText: not null };

    /// <summary>
    /// A batch of payment commands with their personal fields sealed. <paramref name="instruction"/> is the payment's
    /// instruction so far (its parties name the subjects of a later camt.056).
    /// </summary>
    public static async Task<IReadOnlyList<PaymentCommand>> SealAsync(SubjectKeyStore keys, string tenant, string uetr, PaymentInitiated? instruction,
        IReadOnlyList<PaymentCommand> commands, IReadOnlyDictionary<string, string> ours)
    {
        var resolvedCreditor = commands.OfType<ResolveProxy>().FirstOrDefault()?.CreditorAccount;
        var sealedCommands = new List<PaymentCommand>(commands.Count);
        foreach (var command in commands)
        {
            sealedCommands.Add(command switch
            {
                InitiatePayment i => i with { Message = await SealAsync(keys, tenant, i.Message, ours) },
                RequestProxyResolution p => p with { ProxyValue = (await keys.SealAsync(tenant, [PartySubject(uetr, resolvedCreditor, ours)], p.ProxyValue))! },
                ResolveProxy r => r with { CreditorName = await keys.SealAsync(tenant, [PartySubject(uetr, r.CreditorAccount, ours)], r.CreditorName) },
                RequestReturn r when r.Message.ReasonText is not null => r with
                {
                    Message = r.Message with
                    {
                        ReasonText = await keys.SealAsync(tenant, Parties(uetr, instruction?.DebtorAccount, instruction?.CreditorAccount, ours), r.Message.ReasonText),
                    },
                },
                _ => command,
            });
        }
        return sealedCommands;
    }

    private static async Task<CreditTransferMessage> SealAsync(SubjectKeyStore keys, string tenant, CreditTransferMessage m, IReadOnlyDictionary<string, string> ours)
    {
        var debtor = PartySubject(m.Uetr, m.Debtor.Account, ours);
        var creditor = PartySubject(m.Uetr, m.Creditor.Account, ours);
        return m with
        {
            Debtor = m.Debtor with { Name = await keys.SealAsync(tenant, [debtor], m.Debtor.Name) },
            Creditor = m.Creditor with { Name = await keys.SealAsync(tenant, [creditor], m.Creditor.Name) },
            RawXml = (await keys.SealAsync(tenant, Parties(m.Uetr, m.Debtor.Account, m.Creditor.Account, ours), m.RawXml))!,
        };
    }

    private static string[] Parties(string uetr, string? debtorAccount, string? creditorAccount, IReadOnlyDictionary<string, string> ours) =>
        [.. new[] { PartySubject(uetr, debtorAccount, ours), PartySubject(uetr, creditorAccount, ours) }.Distinct(StringComparer.Ordinal)];
}
