namespace Escrow.Grains;

/// <summary>
/// Thrown to an Orleans client (never to a grain or the silo's own HTTP frontend) whose call the cluster refuses before
/// any grain sees it: nothing was decided, written or audited as a command. <see cref="Code"/> names the reason, as in
/// the HTTP API's problem details:
/// <list type="bullet">
/// <item><c>api_key_required</c>: the client sent no API key (<see cref="EscrowOrleansClient.AddEscrowOrleansClient"/> sends one with every call).</item>
/// <item><c>api_key_invalid</c>: the key is unknown or revoked.</item>
/// <item><c>forbidden</c>: the key's role may not make this call (an auditor's command, a writer's operator call), the
/// grain belongs to another institution than the key's, the command acts for another institution, or the method is one
/// only grains call (<see cref="IAccountGrain.CoSign"/>, <see cref="IAccountGrain.Appended"/>, a projection).</item>
/// </list>
/// </summary>
[GenerateSerializer, Alias("Escrow.Grains.EscrowCallRefusedException")]
public sealed class EscrowCallRefusedException : Exception
{
    /// <summary>For the serializer.</summary>
    public EscrowCallRefusedException() { }

    /// <summary>A refusal with its <paramref name="code"/> and a sentence for people.</summary>
    public EscrowCallRefusedException(string code, string message) : base(message) => Code = code;

    /// <summary>A refusal without a code (<c>forbidden</c>).</summary>
    public EscrowCallRefusedException(string message) : this("forbidden", message) { }

    /// <summary>A refusal without a code (<c>forbidden</c>) caused by <paramref name="innerException"/>.</summary>
    public EscrowCallRefusedException(string message, Exception innerException) : base(message, innerException) => Code = "forbidden";

    /// <summary><c>api_key_required</c>, <c>api_key_invalid</c> or <c>forbidden</c>.</summary>
    [Id(0)]
    public string Code { get; init; } = "forbidden";
}
