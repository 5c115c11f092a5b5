using System.Net;
using System.Text;
using System.Text.Json;
using Escrow.Testing;
using Xunit.Abstractions;

namespace Escrow.Silo.Tests;

/// <summary>
/// The operator's and the auditor's commands end to end: <c>escrow checkpoint keygen</c>, <c>escrow checkpoint create</c>
/// on a ledger a silo wrote, <c>escrow verify --checkpoint --public-key</c> before and after a superuser rewrites a
/// posting and its stream's chain.
/// </summary>
public class CheckpointCliTests(ITestOutputHelper output)
{
    private static async Task<(int Code, string Output)> EscrowAsync(PgDatabase db, string workDir, params string[] args)
    {
        var (code, lines) = await Repository.RunEscrowAsync(db, TimeSpan.FromMinutes(2), workDir, args);
        return (code, string.Join('\n', lines));
    }

    [Fact]
    public async Task A_signed_checkpoint_verifies_until_a_superuser_rewrites_a_posting_and_its_chain_then_names_the_stream()
    {
        await using var db = new PgDatabase();
        await db.InitializeAsync();
        var work = Directory.CreateTempSubdirectory("escrow-checkpoint-");
        try
        {
            await using var silo = new SiloFactory(db, runProjections: false);
            var http = await silo.ClientForAsync();
            await http.OpenAsync("cp-alice");
            await http.OpenAsync("cp-bob");
            await http.DepositAsync("cp-alice", 100m);
            Assert.Equal(HttpStatusCode.Created, (await http.TransferAsync("cp-alice", "cp-bob", 40m)).StatusCode);
            using var root = silo.RootClient();

            var (code, text) = await EscrowAsync(db, work.FullName, "checkpoint", "keygen", "--out", "keys");
            output.WriteLine(text);
            Assert.Equal(0, code);
            if (!OperatingSystem.IsWindows())
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(work.FullName, "keys", "checkpoint-key.pem")));

            (code, text) = await EscrowAsync(db, work.FullName, "checkpoint", "create", "--key", "keys/checkpoint-key.pem", "--out", "cp.json");
            output.WriteLine(text);
            Assert.Equal(0, code);
            Assert.Contains("wrote cp.json", text);

            (code, text) = await EscrowAsync(db, work.FullName, "verify", "--checkpoint", "cp.json", "--public-key", "keys/checkpoint-key.pub.pem");
            output.WriteLine(text);
            Assert.Equal(0, code);
            Assert.Contains("the log still holds exactly what it saw", text);

            // Over HTTP (root only): the log as it stands has the root the file signed, and the file verifies.
            Assert.Equal(HttpStatusCode.Forbidden, (await http.GetAsync("/checkpoints/current")).StatusCode);
            var file = await File.ReadAllTextAsync(Path.Combine(work.FullName, "cp.json"));
            using var signed = JsonDocument.Parse(file);
            var current = await (await root.GetAsync("/checkpoints/current")).JsonAsync();
            Assert.Equal(signed.RootElement.GetProperty("statement").GetProperty("merkleRoot").GetString(),
                current.GetProperty("statement").GetProperty("merkleRoot").GetString());
            Assert.Equal(signed.RootElement.GetProperty("leaves").GetArrayLength(), current.GetProperty("leaves").GetArrayLength());
            var publicKey = Uri.EscapeDataString(signed.RootElement.GetProperty("publicKey").GetString()!);
            async Task<JsonElement> VerifyOverHttpAsync()
            {
                using var response = await root.PostAsync($"/checkpoints/verify?publicKey={publicKey}", new StringContent(file, Encoding.UTF8, "application/json"));
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                return await response.JsonAsync();
            }
            Assert.True((await VerifyOverHttpAsync()).GetProperty("ok").GetBoolean());
            foreach (var bad in new[] { "{}", "not json", "{\"statement\":{\"transactionId\":\"x\"},\"leaves\":[]}" })
            {
                using var response = await root.PostAsync("/checkpoints/verify", new StringContent(bad, Encoding.UTF8, "application/json"));
                Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
                Assert.Equal("malformed_checkpoint", (await response.JsonAsync()).GetProperty("code").GetString());
            }
            using (var response = await root.PostAsync("/checkpoints/verify?publicKey=bm90LWEta2V5", new StringContent(file, Encoding.UTF8, "application/json")))
                Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);

            // A superuser turns the 40.00 transfer into 4.00 on bob's side and recomputes bob's stored chain with the
            // published algorithm (the per-stream chain check then passes); the checkpoint still catches it.
            await db.ExecAsOwnerAsync(
                """
                ALTER TABLE events DISABLE TRIGGER events_no_update_delete;
                UPDATE events SET data = jsonb_set(data, '{amount}', '4.00') WHERE stream_id LIKE 'account-%/cp-bob' AND event_type = 'AccountCredited';
                """);
            await RechainAsync(db, "cp-bob");
            (code, text) = await EscrowAsync(db, work.FullName, "verify", "--checkpoint", "cp.json", "--public-key", "keys/checkpoint-key.pub.pem");
            output.WriteLine(text);
            Assert.Equal(1, code);
            Assert.Contains("hash chains: ", text);
            Assert.Contains(" 0 broken", text);   // the forger fixed the chain
            Assert.Contains("checkpoint FAILED: stream account-", text);
            Assert.Contains("/cp-bob: versions 1..2 no longer hash to the head the checkpoint saw", text);
            Assert.Contains("verify: FAILED", text);
            var failed = await VerifyOverHttpAsync();
            Assert.False(failed.GetProperty("ok").GetBoolean());
            Assert.Contains(failed.GetProperty("findings").EnumerateArray(), f => f.GetString()!.Contains("/cp-bob: versions 1..2 no longer hash", StringComparison.Ordinal));
        }
        finally
        {
            work.Delete(recursive: true);
            await db.DisposeAsync();
        }
    }

    /// <summary>Recomputes the stored hashes of account <paramref name="accountId"/>'s stream from its (changed) content, as a forger would.</summary>
    private static async Task RechainAsync(PgDatabase db, string accountId)
    {
        var stream = await db.ScalarAsync<string>($"SELECT stream_id FROM streams WHERE stream_id LIKE 'account-%/{accountId}'");
        var prev = Escrow.EventStore.HashChain.Genesis;
        foreach (var e in await db.Store.ReadStreamAsync(stream, 0, default))
        {
            var hash = Escrow.EventStore.HashChain.Compute(prev, e.StoredStreamId, e.Version, e.EventType, e.SchemaVersion, e.OccurredAt, e.DataJson, e.MetadataJson);
            await db.ExecAsOwnerAsync(
                $"UPDATE events SET prev_hash = '\\x{Convert.ToHexStringLower(prev)}', hash = '\\x{Convert.ToHexStringLower(hash)}' WHERE stream_id = '{e.StoredStreamId}' AND version = {e.Version}");
            prev = hash;
        }
        await db.ExecAsOwnerAsync($"UPDATE streams SET last_hash = '\\x{Convert.ToHexStringLower(prev)}' WHERE stream_id = '{stream}'");
    }
}
