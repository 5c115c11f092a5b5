namespace Escrow.Domain.Subjects;

/// <summary>A command on a data subject. <see cref="By"/> is who asks (an API key's id).</summary>
public abstract record SubjectCommand(string Subject, string By, DateTimeOffset At);

/// <summary>Hold the subject's personal data: erasure is refused until <see cref="ReleaseLegalHold"/>. <paramref name="Reason"/> is required.</summary>
public sealed record PlaceLegalHold(string Subject, string Reason, string By, DateTimeOffset At) : SubjectCommand(Subject, By, At);

/// <summary>Release the legal hold (a subject without one: nothing to do).</summary>
public sealed record ReleaseLegalHold(string Subject, string? Reason, string By, DateTimeOffset At) : SubjectCommand(Subject, By, At);

/// <summary>
/// Erase the subject's personal data (GDPR art. 17). <paramref name="OpenDisputes"/> are the deals naming the subject that are
/// in dispute now (the host looks them up): erasure waits until they are resolved. Erasing an erased subject does nothing.
/// </summary>
public sealed record EraseSubject(string Subject, string? Reason, IReadOnlyList<string> OpenDisputes, string By, DateTimeOffset At)
    : SubjectCommand(Subject, By, At);
