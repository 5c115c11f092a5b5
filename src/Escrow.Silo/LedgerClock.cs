namespace Escrow.Silo;

/// <summary>
/// The ledger's business clock: "now" for commands, deal and quote expiry (a reminder ticks by real time, then the deal checks its expiry against this clock), audit records and the dashboards. It is
/// the keyed service <see cref="Key"/> (a <see cref="TimeProvider"/>, the system clock unless a host registers another) and
/// deliberately not the unkeyed <see cref="TimeProvider"/>, which the Orleans runtime uses for its heartbeats, timeouts and
/// activation collection: a test that stops or jumps the business clock must not stop or jump the cluster's own time.
/// </summary>
public static class LedgerClock
{
    /// <summary>The service key of the business clock.</summary>
    public const string Key = "escrow-ledger-clock";
}
