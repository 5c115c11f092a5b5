using System.CommandLine;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Escrow.EventStore;
using Escrow.Silo.Tenancy;

namespace Escrow.Cli;

/// <summary>
/// <c>escrow institutions create|list</c> and <c>escrow keys create</c>: the operator's admin commands. They
/// connect through the application role (<c>Escrow__ConnectionString</c>), like a silo, and write the same
/// rows and audit records as <c>POST /institutions</c> and <c>POST /institutions/{id}/keys</c> with the actor
/// <c>cli</c>. Whoever can read that connection string is the operator.
/// </summary>
internal static class TenancyCommands
{
    private const string Actor = "cli";

    public static void Add(RootCommand root)
    {
        var idArg = new Argument<string>("institution-id") { Description = "1-32 lower-case letters, digits or '-'" };
        var nameOption = new Option<string?>("--name") { Description = "Display name (default: the id)" };
        var create = new Command("create", "Create an institution (a tenant).") { idArg, nameOption };
        create.SetAction(async (pr, ct) =>
        {
            var id = pr.GetValue(idArg)!;
            if (!Tenants.IsValidId(id)) throw new CliException($"'{id}' is not an institution id: 1-32 lower-case letters, digits or '-'");
            var name = pr.GetValue(nameOption) ?? id;
            await using var ds = CliConfig.FromEnvironment().DataSource();
            var store = new PgEventStore(ds);
            var audit = Audit($"institutions create {id} --name {name}", id, "CreateInstitution", ["institution-" + id]);
            if (!await new TenancyStore(store, TimeProvider.System).CreateInstitutionAsync(id, name, Actor, audit, ct))
            {
                await store.AppendAuditAsync(audit with { Outcome = AuditRecord.Rejected, Status = 409, Code = "institution_exists" }, ct);
                throw new CliException($"institution '{id}' already exists");
            }
            Console.WriteLine($"created institution {id} ({name})");
            return 0;
        });

        var list = new Command("list", "List the institutions with their number of keys.");
        list.SetAction(async (_, ct) =>
        {
            await using var ds = CliConfig.FromEnvironment().DataSource();
            foreach (var i in await new TenancyStore(new PgEventStore(ds), TimeProvider.System).ListInstitutionsAsync(ct))
                Console.WriteLine($"{i.InstitutionId,-32} {i.Keys.ToString(CultureInfo.InvariantCulture),3} keys  created {i.CreatedAt:O} by {i.CreatedBy}  {i.Name}");
            return 0;
        });
        var institutions = new Command("institutions", "Institutions (tenants).") { create, list };
        root.Subcommands.Add(institutions);

        var instArg = new Argument<string>("institution-id") { Description = "The institution the key acts for" };
        var roleOption = new Option<string>("--role") { Description = "writer, auditor or root", DefaultValueFactory = _ => "writer" };
        var keyName = new Option<string?>("--name") { Description = "A label for the key (shown in listings, never secret)" };
        var keyCreate = new Command("create", "Create an API key; the key is printed once and stored only as its SHA-256.") { instArg, roleOption, keyName };
        keyCreate.SetAction(async (pr, ct) =>
        {
            var id = pr.GetValue(instArg)!;
            if (!Caller.TryParseRole(pr.GetValue(roleOption), out var role)) throw new CliException("--role must be writer, auditor or root");
            await using var ds = CliConfig.FromEnvironment().DataSource();
            var store = new PgEventStore(ds);
            var audit = Audit($"keys create {id} --role {Caller.RoleName(role)}", id, $"CreateApiKey.{Caller.RoleName(role)}", ["institution-" + id]);
            var key = await new TenancyStore(store, TimeProvider.System).CreateKeyAsync(id, role, pr.GetValue(keyName), Actor, audit, ct);
            if (key is null)
            {
                await store.AppendAuditAsync(audit with { Outcome = AuditRecord.Rejected, Status = 404, Code = "institution_not_found" }, ct);
                throw new CliException($"institution '{id}' does not exist (escrow institutions create {id})");
            }
            Console.Error.WriteLine($"created {key.Role} key {key.KeyId} for {key.InstitutionId}; the key is shown this once:");
            Console.WriteLine(key.ApiKey);
            return 0;
        });
        var revokeInst = new Argument<string>("institution-id") { Description = "The key's institution" };
        var revokeKey = new Argument<string>("key-id") { Description = "The key's public id (key_…)" };
        var reason = new Option<string?>("--reason") { Description = "Why (kept with the revocation)" };
        var keyRevoke = new Command("revoke", "Revoke an API key: it stops authenticating on every silo once the revocation commits (they are notified).")
        {
            revokeInst, revokeKey, reason,
        };
        keyRevoke.SetAction(async (pr, ct) =>
        {
            var (id, keyId) = (pr.GetValue(revokeInst)!, pr.GetValue(revokeKey)!);
            await using var ds = CliConfig.FromEnvironment().DataSource();
            var store = new PgEventStore(ds);
            var tenancy = new TenancyStore(store, TimeProvider.System);
            var audit = Audit($"keys revoke {id} {keyId}", id, "RevokeApiKey", ["institution-" + id, keyId]) with { Status = 200 };
            if (!await tenancy.KeyExistsAsync(id, keyId, ct))
            {
                await store.AppendAuditAsync(audit with { Outcome = AuditRecord.Rejected, Status = 404, Code = "key_not_found" }, ct);
                throw new CliException($"institution '{id}' has no key '{keyId}'");
            }
            await using var batch = ds.CreateBatch();
            batch.BatchCommands.Add(TenancyStore.RevocationInsert(keyId, TimeProvider.System.GetUtcNow(), Actor, pr.GetValue(reason)));
            batch.BatchCommands.Add(PgEventStore.AuditInsert(audit));
            try
            {
                await batch.ExecuteNonQueryAsync(ct);
            }
            catch (Npgsql.PostgresException ex) when (ex.SqlState == Npgsql.PostgresErrorCodes.UniqueViolation)
            {
                await store.AppendAuditAsync(audit with { Outcome = AuditRecord.Rejected, Status = 409, Code = "key_already_revoked" }, ct);
                throw new CliException($"key '{keyId}' is already revoked");
            }
            Console.Error.WriteLine($"revoked key {keyId} of {id}");
            return 0;
        });
        root.Subcommands.Add(new Command("keys", "API keys.") { keyCreate, keyRevoke });
    }

    private static AuditRecord Audit(string commandLine, string tenant, string operation, string[] streams) => new(
        Guid.CreateVersion7(), TimeProvider.System.GetUtcNow(), Actor, tenant, operation, AuditRecord.Accepted, 201, null,
        SHA256.HashData(Encoding.UTF8.GetBytes("escrow " + commandLine)), streams, Guid.CreateVersion7(), null);
}
