using System.CommandLine;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using Escrow.EventStore;

namespace Escrow.Cli;

/// <summary>
/// <c>escrow checkpoint keygen</c> and <c>escrow checkpoint create</c>: signed checkpoints of the event log
/// (<see cref="LogCheckpoints"/>). The signing key is the operator's: a PEM file kept outside the database (and, in
/// production, in an HSM or a KMS that signs the statement's bytes); the silo never holds it.
/// </summary>
internal static class CheckpointCommand
{
    public const string PrivateKeyFile = "checkpoint-key.pem", PublicKeyFile = "checkpoint-key.pub.pem";

    public static Command Build()
    {
        var dir = new Option<string>("--out") { Description = "Directory for the key pair", DefaultValueFactory = _ => "." };
        var keygen = new Command("keygen", $"Create an ECDSA P-256 key pair for signing checkpoints: {PrivateKeyFile} (keep it offline, mode 600) and {PublicKeyFile} (give it to the auditors).") { dir };
        keygen.SetAction((pr, _) =>
        {
            var outDir = pr.GetValue(dir)!;
            Directory.CreateDirectory(outDir);
            var privatePath = Path.Combine(outDir, PrivateKeyFile);
            if (File.Exists(privatePath)) throw new CliException($"{privatePath} exists; a new key would not verify the checkpoints signed with it");
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            File.WriteAllText(privatePath, key.ExportPkcs8PrivateKeyPem());
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(privatePath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            File.WriteAllText(Path.Combine(outDir, PublicKeyFile), key.ExportSubjectPublicKeyInfoPem());
            Console.WriteLine($"wrote {privatePath} and {Path.Combine(outDir, PublicKeyFile)}");
            return Task.FromResult(0);
        });

        var keyOption = new Option<string>("--key") { Description = $"The private key (PEM, from escrow checkpoint keygen)", Required = true };
        var outFile = new Option<string?>("--out") { Description = "The checkpoint file (default: checkpoint-{global position}.json)" };
        var create = new Command("create", "Fold the log below its commit-safe horizon, sign the Merkle root of every stream's head with --key, and write the checkpoint file.")
        {
            keyOption, outFile,
        };
        create.SetAction(async (pr, ct) =>
        {
            using var key = ReadKey(pr.GetValue(keyOption)!, privateKey: true);
            var cfg = CliConfig.FromEnvironment();
            await using var ds = cfg.DataSource();
            var (statement, leaves) = await LogCheckpoints.ComputeAsync(new PgEventStore(ds), TimeProvider.System.GetUtcNow(), ct);
            var signed = LogCheckpoints.Sign(statement, leaves, key);
            var path = pr.GetValue(outFile) ?? $"checkpoint-{statement.GlobalPosition.ToString(CultureInfo.InvariantCulture)}.json";
            await File.WriteAllTextAsync(path, JsonSerializer.Serialize(signed, LogCheckpoints.FileJson), ct);
            Console.WriteLine($"checkpoint at transaction {statement.TransactionId}, global position {statement.GlobalPosition}: " +
                              $"{statement.Streams:N0} streams, {statement.Events:N0} events, Merkle root {statement.MerkleRoot}");
            Console.WriteLine($"wrote {path}");
            return 0;
        });

        return new Command("checkpoint", "Signed checkpoints of the event log (attestation that history was not rewritten).") { keygen, create };
    }

    /// <summary>Reads an ECDSA key from a PEM file (a private key for signing, a public or private one for checking).</summary>
    public static ECDsa ReadKey(string path, bool privateKey)
    {
        if (!File.Exists(path)) throw new CliException($"no key at {path}");
        var key = ECDsa.Create();
        try
        {
            key.ImportFromPem(File.ReadAllText(path));
            if (privateKey) _ = key.ExportParameters(includePrivateParameters: true);
            return key;
        }
        catch (Exception e) when (e is ArgumentException or CryptographicException)
        {
            key.Dispose();
            throw new CliException($"{path} is not {(privateKey ? "an ECDSA private key" : "an ECDSA key")} in PEM: {e.Message}");
        }
    }

    /// <summary>Checks a checkpoint file against the log; prints each finding. True when it holds.</summary>
    public static async Task<bool> VerifyAsync(PgEventStore store, string file, string? publicKey, CancellationToken ct)
    {
        if (!File.Exists(file)) throw new CliException($"no checkpoint at {file}");
        SignedCheckpoint? checkpoint;
        try
        {
            checkpoint = JsonSerializer.Deserialize<SignedCheckpoint>(await File.ReadAllTextAsync(file, ct), LogCheckpoints.FileJson);
        }
        catch (JsonException e)
        {
            throw new CliException($"{file} is not a checkpoint file: {e.Message}");
        }
        if (checkpoint?.Statement is null || checkpoint.Leaves is null) throw new CliException($"{file} is not a checkpoint file");
        using var trusted = publicKey is null ? null : ReadKey(publicKey, privateKey: false);
        var check = await LogCheckpoints.VerifyAsync(store, checkpoint, trusted, ct);
        var s = checkpoint.Statement;
        foreach (var f in check.Findings) Console.WriteLine("checkpoint FAILED: " + f);
        Console.WriteLine($"checkpoint of {s.CreatedAt:O} at transaction {s.TransactionId}, global position {s.GlobalPosition} " +
                          $"({s.Streams:N0} streams, {s.Events:N0} events, root {s.MerkleRoot}, signed by " +
                          $"{(publicKey is null ? "the key it names (no --public-key given)" : publicKey)}): " +
                          (check.Ok ? "the log still holds exactly what it saw" : $"{check.Findings.Count} findings"));
        return check.Ok;
    }
}
