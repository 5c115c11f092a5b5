using Escrow.Domain;
using Escrow.Domain.Subjects;
using Escrow.EventStore;
using Escrow.Grains;
using Escrow.Silo.Grains.EventLog;
using Microsoft.Extensions.Options;
using Orleans.Providers;

namespace Escrow.Silo.Grains;

/// <summary>
/// A data subject (<see cref="ISubjectGrain"/>), keyed <c>{tenant}/{subject}</c>, over the stream <c>subject-{tenant}/{subject}</c>.
/// Decides with <see cref="Subject.Decide"/>. An erasure commits <see cref="PersonalDataErased"/> first and destroys the key
/// after (<see cref="SubjectKeyStore.DestroyAsync"/>): should the silo stop in between, the subject's stream says it was erased
/// and the next erasure request (idempotent) or this grain's next activation destroys the key.
/// </summary>
[LogConsistencyProvider(ProviderName = EventLogProvider.Name)]
public sealed class SubjectGrain(PgEventStore store, [FromKeyedServices(LedgerClock.Key)] TimeProvider clock, IOptions<SiloOptions> options,
    Dashboard.EscrowMetrics metrics, SubjectKeyStore keys) : StreamGrain<SubjectState>(store, clock, options, metrics), ISubjectGrain
{
    /// <summary>Stream ids of data subjects: <c>subject-{tenant}/{subject}</c>.</summary>
    public const string StreamPrefix = "subject-";

    public override string StreamId => StreamIds.Of(StreamPrefix, KeyTenant, KeyId);
    public override string StreamType => Subject.StreamType;
    protected override SubjectState Empty() => SubjectState.Empty(KeyId);
    protected override SubjectState Evolve(SubjectState state, object @event) => Subject.Evolve(state, @event);

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        await base.OnActivateAsync(cancellationToken);
        var own = await SnapshotAsync(refresh: false);
        if (own.State.ErasedAt is { } at) await keys.DestroyAsync(KeyTenant, KeyId, at, cancellationToken);
    }

    public async Task<CommandResult<SubjectView>> Execute(SubjectCommand command, CommandCall call)
    {
        if (command.Subject != KeyId)
            throw new ArgumentException($"command for subject '{command.Subject}' sent to subject '{KeyId}'", nameof(command));
        var decided = command;
        var result = await RunAsync(call, [],
            inputs =>
            {
                decided = command.At == DateTimeOffset.MinValue ? command with { At = LiveInstant([inputs.Own.LastActivityAt]) } : command;
                return Subject.Decide(inputs.Own, decided).MapStreams(_ => StreamId);
            },
            (after, _, version, _) => (SubjectView.From(after, KeyTenant, version), false),
            _ => new Rejection("subject_not_found", $"subject '{KeyId}' does not exist"));
        if (result.Accepted && command is EraseSubject && State.State.ErasedAt is { } erasedAt)
            await keys.DestroyAsync(KeyTenant, KeyId, erasedAt, default);
        return result;
    }

    public async Task<SubjectView> Get()
    {
        var s = await SnapshotAsync(refresh: true);
        return SubjectView.From(s.State, KeyTenant, s.Version);
    }
}
