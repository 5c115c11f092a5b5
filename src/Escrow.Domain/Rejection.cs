namespace Escrow.Domain;

/// <summary>
/// A refused command: a stable machine-readable <see cref="Code"/> (snake_case, never renamed once
/// published) and a human message saying why. Rejections change nothing.
/// </summary>
public sealed record Rejection(string Code, string Message)
{
    public override string ToString() => $"{Code}: {Message}";
}
