namespace Escrow.Domain.Subjects;

/// <summary>The folded state of a data subject's stream: its legal hold (if one is in force) and its erasure.</summary>
public sealed record SubjectState
{
    public static SubjectState Empty(string subject) => new() { Subject = subject };

    public required string Subject { get; init; }

    /// <summary>Why erasure is held, while a legal hold is in force; else null.</summary>
    public string? LegalHold { get; init; }
    public DateTimeOffset? LegalHoldSince { get; init; }

    /// <summary>When the subject's personal data was erased (its key destroyed), or null.</summary>
    public DateTimeOffset? ErasedAt { get; init; }
    public string? ErasedBy { get; init; }

    public DateTimeOffset? LastActivityAt { get; init; }
}
