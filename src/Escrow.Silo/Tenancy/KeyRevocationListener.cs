using Escrow.EventStore;
using Npgsql;

namespace Escrow.Silo.Tenancy;

/// <summary>
/// Pushes API-key revocations into this silo's key cache. It LISTENs on <see cref="Channel"/>, which the database notifies
/// with the key id when a row of <c>api_key_revocations</c> commits (migration 018's trigger, so any writer counts: the
/// endpoint on any silo or <c>escrow keys revoke</c>), and drops that key from <see cref="ApiKeyAuthenticator"/> at once.
/// Notifications sent while this silo had no listening session are lost, so each (re)connect drops the whole cache; a
/// session that died silently is found by a probe (the LISTEN again) every <see cref="ProbeInterval"/>. The cache's expiry
/// (<see cref="SiloOptions.KeyCacheSeconds"/>) remains the last backstop.
/// <para>The same session carries erasures of data subjects (<see cref="SubjectKeyStore.ErasedChannel"/>, migration 024): each
/// drops the subject from this silo's <see cref="SubjectKeyStore"/>, so a value sealed for it reads as erased here at once;
/// a reconnect empties that cache too.</para>
/// </summary>
public sealed class KeyRevocationListener(PgEventStore store, ApiKeyAuthenticator keys, SubjectKeyStore subjects, ILogger<KeyRevocationListener> logger)
    : BackgroundService
{
    /// <summary>The LISTEN/NOTIFY channel of revocations; the payload is the key id (<c>key_…</c>).</summary>
    public const string Channel = "escrow_key_revoked";

    /// <summary>The statement that subscribes, and also the probe (LISTEN again is a no-op): so the session always shows it as
    /// its last query in <c>pg_stat_activity</c>, under the silo's <c>application_name</c>.</summary>
    public const string ListenStatement = "LISTEN " + Channel;

    /// <summary>How long the listening session may stay silent before a probe checks it is alive.</summary>
    public static readonly TimeSpan ProbeInterval = TimeSpan.FromSeconds(15);

    private static readonly TimeSpan ReconnectDelay = TimeSpan.FromSeconds(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await using var conn = await store.DataSource.OpenConnectionAsync(stoppingToken).ConfigureAwait(false);
                conn.Notification += (_, e) =>
                {
                    if (e.Channel == SubjectKeyStore.ErasedChannel) subjects.Forget(e.Payload);
                    else keys.Forget(e.Payload);
                };
                await using (var erasures = new NpgsqlCommand("LISTEN " + SubjectKeyStore.ErasedChannel, conn))
                    await erasures.ExecuteNonQueryAsync(stoppingToken).ConfigureAwait(false);
                await using var listen = new NpgsqlCommand(ListenStatement, conn);
                await listen.ExecuteNonQueryAsync(stoppingToken).ConfigureAwait(false);
                keys.ForgetAll();   // whatever was revoked while this silo was not listening
                subjects.ForgetAll();   // and whatever was erased
                while (true)
                {
                    if (!await conn.WaitAsync(ProbeInterval, stoppingToken).ConfigureAwait(false))
                        await listen.ExecuteNonQueryAsync(stoppingToken).ConfigureAwait(false);   // the probe
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is NpgsqlException or System.IO.IOException or InvalidOperationException or TimeoutException)
            {
                logger.LogWarning(ex, "the key revocation listener lost its session; reconnecting");
                try { await Task.Delay(ReconnectDelay, stoppingToken).ConfigureAwait(false); }
                catch (OperationCanceledException) { return; }
            }
        }
    }
}
