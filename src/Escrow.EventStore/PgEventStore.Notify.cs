using Npgsql;

namespace Escrow.EventStore;

// The wake-up NOTIFY after commits, coalesced and sent in its own transaction.
public sealed partial class PgEventStore
{
    // Why the NOTIFY is not inside the append: PostgreSQL serializes the commits of every transaction
    // that issued NOTIFY behind one cluster-wide lock held through the WAL flush, so notifying appends
    // cannot share an fsync (group commit). Measured: 797 transfers/s with NOTIFY in the append. Instead,
    // after each commit we ask for one NOTIFY in its own tiny transaction, coalescing the requests that
    // arrive while one is being sent. The notify always starts after the commit it announces; if it is
    // lost, the runners' poll interval picks the events up.
    private int _notifyPending, _notifyRunning;

    private void RequestNotify()
    {
        Volatile.Write(ref _notifyPending, 1);
        if (Interlocked.CompareExchange(ref _notifyRunning, 1, 0) == 0)
            _ = Task.Run(NotifyLoopAsync);
    }

    private async Task NotifyLoopAsync()
    {
        while (true)
        {
            while (Interlocked.Exchange(ref _notifyPending, 0) == 1)
            {
                try
                {
                    var cmd = (GroupCommit.AppendDataSource ?? DataSource).CreateCommand($"SELECT pg_notify('{NotifyChannel}', '')");
                    await using var cmdScope = cmd.ConfigureAwait(false);
                    await cmd.ExecuteNonQueryAsync().ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is NpgsqlException or ObjectDisposedException)
                {
                    // The projection runners poll as a fallback; a lost wake-up only delays them.
                    LastNotifyError = ex;
                }
            }
            Volatile.Write(ref _notifyRunning, 0);
            // A request that raced with the reset above must not be stranded.
            if (Volatile.Read(ref _notifyPending) == 0 || Interlocked.CompareExchange(ref _notifyRunning, 1, 0) != 0)
                return;
        }
    }

    /// <summary>The last failure to send a wake-up NOTIFY (diagnostics; the runners' polling covers it).</summary>
    public Exception? LastNotifyError { get; private set; }
}
