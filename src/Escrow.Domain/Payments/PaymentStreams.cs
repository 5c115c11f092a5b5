namespace Escrow.Domain.Payments;

/// <summary>
/// Payment stream ids are <c>payment-{institution}-{uetr}</c> (UETR a lower-case UUIDv4, ISO 20022 <c>PmtId/UETR</c>, always
/// the last 36 characters); stream type <see cref="Payment.StreamType"/>; the tenant is the stream's. A UETR is unique per
/// institution, not cluster-wide: two institutions (or a sample scenario replayed in a tenant of its own) may hold the same UETR.
/// </summary>
public static class PaymentStreams
{
    public const string Prefix = "payment-";
    private const int UetrLength = 36;

    public static string StreamId(string tenant, string uetr) => $"{Prefix}{tenant}-{uetr}";

    public static bool TryUetr(string streamId, out string uetr)
    {
        if (streamId.StartsWith(Prefix, StringComparison.Ordinal) && streamId.Length > Prefix.Length + UetrLength + 1 && streamId[^(UetrLength + 1)] == '-')
        {
            uetr = streamId[^UetrLength..];
            return true;
        }
        uetr = "";
        return false;
    }
}
