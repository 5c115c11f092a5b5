using Escrow.Silo.Http;

namespace Escrow.Silo.Import;

/// <summary>How the Berka import behaves. Every default is the documented choice of docs/berka-import.md.</summary>
public sealed record BerkaImportOptions
{
    /// <summary>
    /// Overdraft limit of every customer account, CZK. The bank let accounts go below zero (the lowest
    /// recorded balance of 1993 is -5,343.70 CZK), so a zero floor would refuse real history; 10,000 CZK
    /// leaves headroom over the observed minimum while still catching a mapping error that would drive
    /// an account far negative (such a posting is rejected and reported, not imported).
    /// </summary>
    public decimal OverdraftLimit { get; init; } = 10_000m;

    /// <summary>Tenant the commands run under (the HTTP API's default tenant).</summary>
    public string Tenant { get; init; } = CommandRequests.DefaultTenant;

    /// <summary>Actor recorded in every event's metadata.</summary>
    public string Actor { get; init; } = "berka-import";

    /// <summary>
    /// How many commands are in flight at once. Measured on the 2-core machine: every append commits
    /// with a NOTIFY, which PostgreSQL serializes per database (the commit's WAL flush included), so
    /// beyond a handful the import only queues; 16 keeps that queue full while look-ups overlap.
    /// </summary>
    public int MaxConcurrency { get; init; } = 16;

    /// <summary>Where to write the unmatched reconciliation rows as CSV (null: not written).</summary>
    public string? UnmatchedReportPath { get; init; }

    /// <summary>Differences up to this much (CZK) count as "within tolerance": the bank's month-end interest and fee rows are often 0.10 off.</summary>
    public decimal Tolerance { get; init; } = 0.10m;
}

public enum BerkaPhase
{
    Reading,
    OpeningChart,
    Importing,
    OpeningLaterAccounts,
    Done,
}

/// <summary>Progress of an import: <paramref name="Done"/> of <paramref name="Total"/> transactions, the day being replayed.</summary>
public sealed record BerkaProgress(BerkaPhase Phase, int Done, int Total, DateOnly? Day);

/// <summary>One transaction whose ledger running balance disagrees with the bank's recorded balance by more than the tolerance (or was rejected).</summary>
public sealed record BerkaReconciliationRow(
    long TransId, string AccountId, DateOnly Date, decimal Amount, decimal BankBalance, decimal LedgerBalance, string? Note)
{
    /// <summary>Ledger minus bank.</summary>
    public decimal Difference => LedgerBalance - BankBalance;
}

/// <summary>What an import did. <c>PostingsApplied + PostingsSkipped + PostingsRejected == Transactions</c>, and so does the reconciliation triple.</summary>
public sealed record BerkaImportSummary(
    string Directory,
    int AccountsInFile,
    int AccountsOpened,
    int AccountsAlreadyOpen,
    int AccountsRejected,
    int HouseAccountsOpened,
    int Transactions,
    int PostingsApplied,
    int PostingsSkipped,
    int PostingsRejected,
    IReadOnlyDictionary<string, int> Rejections,
    int Matched,
    int WithinTolerance,
    int Unmatched,
    IReadOnlyList<BerkaReconciliationRow> UnmatchedRows,
    DateOnly? FirstDate,
    DateOnly? LastDate,
    decimal OverdraftLimit,
    TimeSpan Elapsed);

/// <summary>An account row of <c>account.asc</c>.</summary>
public sealed record BerkaAccount(long AccountId, int DistrictId, string Frequency, DateOnly Opened);

/// <summary>A row of <c>trans.asc</c>. <see cref="Balance"/> is the bank's own balance after the transaction.</summary>
public sealed record BerkaTransaction(
    long TransId, long AccountId, DateOnly Date, string Type, string Operation, decimal Amount, decimal Balance,
    string KSymbol, string Bank, string PartnerAccount)
{
    /// <summary>PRIJEM credits the customer; VYDAJ and VYBER debit it.</summary>
    public bool IsCredit => Type == "PRIJEM";

    /// <summary>The amount as it changes the customer's balance.</summary>
    public decimal Signed => IsCredit ? Amount : -Amount;
}
