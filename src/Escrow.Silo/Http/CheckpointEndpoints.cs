using System.Security.Cryptography;
using System.Text.Json;
using Escrow.EventStore;
using Escrow.Silo.Tenancy;

namespace Escrow.Silo.Http;

/// <summary>
/// Signed checkpoints over HTTP (<see cref="LogCheckpoints"/>), root only: a checkpoint covers every institution's streams,
/// whose ids it lists. <c>GET /checkpoints/current</c> computes the statement and leaves of the log as it stands (unsigned:
/// the key stays with the operator, who signs <see cref="LogCheckpoints.SignedBytes"/> with <c>escrow checkpoint create</c>,
/// an HSM or a KMS); <c>POST /checkpoints/verify</c> checks a signed checkpoint file against the log. Both fold the whole
/// log (time in proportion to its events). Errors: 400 <c>malformed_checkpoint</c> (not a checkpoint file),
/// <c>invalid_public_key</c>; 413 when the file exceeds <see cref="MaxCheckpointBytes"/>.
/// </summary>
public static class CheckpointEndpoints
{
    /// <summary>The largest checkpoint file accepted (about 100,000 streams; Kestrel refuses bodies over 30 MB anyway' leaves).</summary>
    public const int MaxCheckpointBytes = 16 * 1024 * 1024;

    /// <summary>The answer of <c>GET /checkpoints/current</c>: what a signer signs (the statement's canonical JSON) and the leaves.</summary>
    public sealed record CurrentCheckpoint(CheckpointStatement Statement, string SignedBytesBase64, IReadOnlyList<CheckpointLeaf> Leaves);

    public static void MapCheckpoints(this IEndpointRouteBuilder app)
    {
        var checkpoints = app.MapGroup("/checkpoints").WithTags("Audit").RequireRoles(Role.Root);

        checkpoints.MapGet("/current", async (PgEventStore store, [FromKeyedServices(LedgerClock.Key)] TimeProvider clock, CancellationToken ct) =>
        {
            var (statement, leaves) = await LogCheckpoints.ComputeAsync(store, clock.GetUtcNow(), ct);
            return Results.Ok(new CurrentCheckpoint(statement, Convert.ToBase64String(LogCheckpoints.SignedBytes(statement)), leaves));
        })
        .Doc("getCurrentCheckpoint", "The unsigned checkpoint of the log as it stands (root)",
             "Every stream's head recomputed from content below the commit-safe horizon, their Merkle root, and the bytes to sign " +
             "(ECDSA P-256 / SHA-256, IEEE P1363). Folds the whole log. See docs/compliance.md.")
        .Produces<CurrentCheckpoint>().Problems(403);

        checkpoints.MapPost("/verify", async (string? publicKey, HttpRequest request, PgEventStore store, CancellationToken ct) =>
        {
            ECDsa? trusted = null;
            if (!string.IsNullOrEmpty(publicKey))
            {
                trusted = ECDsa.Create();
                try
                {
                    trusted.ImportSubjectPublicKeyInfo(Convert.FromBase64String(publicKey), out _);
                }
                catch (Exception e) when (e is FormatException or CryptographicException)
                {
                    trusted.Dispose();
                    throw new BadRequestException("invalid_public_key", "'publicKey' must be the signer's SubjectPublicKeyInfo in base64 (an ECDSA P-256 key)");
                }
            }
            using var trustedScope = trusted;
            var bytes = await BoundedBody.ReadAsync(request, MaxCheckpointBytes, ct);
            SignedCheckpoint? checkpoint;
            try
            {
                checkpoint = JsonSerializer.Deserialize<SignedCheckpoint>(bytes, LogCheckpoints.FileJson);
            }
            catch (JsonException e)
            {
                throw new BadRequestException("malformed_checkpoint", $"the body is not a checkpoint file: {e.Message}");
            }
            if (checkpoint?.Statement is null || checkpoint.Leaves is null || checkpoint.Signature is null || checkpoint.PublicKey is null
                || !ulong.TryParse(checkpoint.Statement.TransactionId, out _) || checkpoint.Leaves.Any(l => l?.Stream is null || l.Hash is not { Length: 64 }))
                throw new BadRequestException("malformed_checkpoint", "the body is not a checkpoint file (statement, leaves, signature and publicKey are required)");
            try
            {
                return Results.Ok(await LogCheckpoints.VerifyAsync(store, checkpoint, trusted, ct));
            }
            catch (Exception e) when (e is FormatException or CryptographicException)
            {
                throw new BadRequestException("malformed_checkpoint", $"the checkpoint's key, signature or hashes are not well-formed: {e.Message}");
            }
        })
        .Doc("verifyCheckpoint", "Check a signed checkpoint file against the log (root)",
             "Body: the file of escrow checkpoint create (JSON, at most 16 MiB). Query: publicKey (optional, base64 SubjectPublicKeyInfo of " +
             "the trusted signer). Answers ok and one finding per difference (a stream whose events changed, deleted or inserted events " +
             "and streams, an edited file or statement, another signer).")
        .Accepts<SignedCheckpoint>("application/json").Produces<CheckpointCheck>().Problems(400, 403, 413);
    }
}
