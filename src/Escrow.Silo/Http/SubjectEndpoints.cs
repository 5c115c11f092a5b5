using Escrow.Domain.Subjects;
using Escrow.EventStore;
using Escrow.Grains;
using Escrow.Silo.Ledger;
using Escrow.Silo.Subjects;
using Escrow.Silo.Tenancy;

namespace Escrow.Silo.Http;

/// <summary>The body of a legal hold: why the subject's data must be kept (required, at most 500 characters).</summary>
public sealed record LegalHoldRequest(string? Reason);

/// <summary>
/// Data subjects over HTTP (GDPR art. 17 erasure by crypto-shredding; docs/compliance.md). The subject id is the institution's
/// own opaque reference (1–128 of <c>A–Z a–z 0–9 . _ : -</c>); root acts for the institution named by <c>X-Escrow-Tenant</c>.
/// <list type="bullet">
/// <item><c>POST /subjects/{id}/erasure</c> (root; body <c>{"reason"}</c> optional): records <c>PersonalDataErased</c> and
/// destroys the subject's key; 200 with the subject. Idempotent: erasing again answers 200 with the first erasure's time.
/// 409 <c>legal_hold</c> while a hold is in force, <c>open_dispute</c> while a deal naming the subject is disputed.</item>
/// <item><c>POST /subjects/{id}/legal-hold</c> (root; <c>{"reason"}</c> required), <c>POST /subjects/{id}/legal-hold/release</c>
/// (root): 200; 409 <c>legal_hold_already_placed</c>, <c>subject_erased</c>.</item>
/// <item><c>GET /subjects/{id}</c> (root, auditor of the institution): hold and erasure.</item>
/// </list>
/// Every change needs an <c>Idempotency-Key</c> and is audited. 404 <c>institution_not_found</c> when the institution root
/// names does not exist (nothing is written for it).
/// </summary>
public static class SubjectEndpoints
{
    public static void MapSubjects(this IEndpointRouteBuilder app)
    {
        var subjects = app.MapGroup("/subjects").WithTags("Subjects");

        subjects.MapPost("/{id}/erasure", async (string id, HttpContext http, SubjectService service, TenancyStore tenancy, CancellationToken ct) =>
        {
            var subject = SubjectId(id);
            await InstitutionAsync(http, tenancy, ct);
            var (b, ctx) = await CommandRequests.ReadAsync<ReasonRequest>(http.Request, true, ct);
            return LedgerEndpoints.Result(await service.ExecuteAsync(new EraseSubject(subject, Bounded(b.Reason), [], ctx.Actor, LedgerService.Now), ctx, ct));
        }).RequireRoles(Role.Root).Accepts<ReasonRequest>(true, "application/json").Produces<SubjectView>().IdempotentCommand().Problems(400, 404, 409)
          .Doc("eraseSubject", "Erase a data subject's personal data (root; GDPR art. 17, crypto-shredding)",
               "Records PersonalDataErased and destroys the subject's key: every value sealed for it (owners' names, deal terms, " +
               "dispute reasons, evidence, payment parties' names and messages) reads as \"[erased]\" on every read path from then " +
               "on. Amounts, currencies, account ids and times stay. Idempotent. 409 legal_hold or open_dispute.");

        subjects.MapPost("/{id}/legal-hold", async (string id, HttpContext http, SubjectService service, TenancyStore tenancy, CancellationToken ct) =>
        {
            var subject = SubjectId(id);
            await InstitutionAsync(http, tenancy, ct);
            var (b, ctx) = await CommandRequests.ReadAsync<LegalHoldRequest>(http.Request, false, ct);
            if (string.IsNullOrWhiteSpace(b.Reason)) throw new BadRequestException("missing_field", "'reason' is required");
            return LedgerEndpoints.Result(await service.ExecuteAsync(new PlaceLegalHold(subject, Bounded(b.Reason)!, ctx.Actor, LedgerService.Now), ctx, ct));
        }).RequireRoles(Role.Root).Accepts<LegalHoldRequest>("application/json").Produces<SubjectView>().IdempotentCommand().Problems(400, 404, 409)
          .Doc("placeLegalHold", "Hold a data subject's personal data: erasure is refused until the hold is released (root)");

        subjects.MapPost("/{id}/legal-hold/release", async (string id, HttpContext http, SubjectService service, TenancyStore tenancy, CancellationToken ct) =>
        {
            var subject = SubjectId(id);
            await InstitutionAsync(http, tenancy, ct);
            var (b, ctx) = await CommandRequests.ReadAsync<ReasonRequest>(http.Request, true, ct);
            return LedgerEndpoints.Result(await service.ExecuteAsync(new ReleaseLegalHold(subject, Bounded(b.Reason), ctx.Actor, LedgerService.Now), ctx, ct));
        }).RequireRoles(Role.Root).Accepts<ReasonRequest>(true, "application/json").Produces<SubjectView>().IdempotentCommand().Problems(400, 404, 409)
          .Doc("releaseLegalHold", "Release a data subject's legal hold (root; none in force: nothing changes)");

        subjects.MapGet("/{id}", async (string id, HttpContext http, SubjectService service, TenancyStore tenancy, CancellationToken ct) =>
        {
            var subject = SubjectId(id);
            return Results.Ok(await service.GetAsync(await InstitutionAsync(http, tenancy, ct), subject, ct));
        }).RequireRoles(Role.Root, Role.Auditor).Produces<SubjectView>().Problems(400, 404)
            .Doc("getSubject", "A data subject's legal hold and erasure (root, auditor)");
    }

    /// <summary>The institution the caller acts for, which must exist (404 <c>institution_not_found</c>).</summary>
    private static async Task<string> InstitutionAsync(HttpContext http, TenancyStore tenancy, CancellationToken ct)
    {
        var tenant = LedgerEndpoints.ReadTenant(http);
        return await tenancy.InstitutionExistsAsync(tenant, ct) ? tenant
            : throw new BadRequestException("institution_not_found", $"institution '{tenant}' does not exist", StatusCodes.Status404NotFound);
    }

    private static string SubjectId(string id) => PersonalData.IsSubjectId(id) ? id
        : throw new BadRequestException("invalid_subject_id", "a subject id is 1-128 characters of A-Z a-z 0-9 . _ : - (an opaque reference, not a name)");

    private static string? Bounded(string? reason) => reason is { Length: > 500 }
        ? throw new BadRequestException("reason_too_long", "'reason' is at most 500 characters") : reason;
}
