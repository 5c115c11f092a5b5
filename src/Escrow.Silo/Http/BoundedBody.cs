namespace Escrow.Silo.Http;

/// <summary>
/// Reads a request body up to a size limit, refusing a larger one with 413 <c>body_too_large</c> before it is parsed: a
/// declared <c>Content-Length</c> over the limit is refused without reading, a chunked body as soon as it passes the limit.
/// Kestrel's own <c>MaxRequestBodySize</c> (<see cref="MaxRequestBodyBytes"/>) is the backstop for every route.
/// </summary>
public static class BoundedBody
{
    /// <summary>No request body of any route may be larger (Kestrel refuses it with 413).</summary>
    public const int MaxRequestBodyBytes = 2 << 20;

    /// <summary>The limit of a JSON command body: every request of the API is a few hundred bytes.</summary>
    public const int MaxJsonBytes = 64 * 1024;

    /// <summary>The body's bytes (empty when there is none).</summary>
    /// <exception cref="BadRequestException">413 <c>body_too_large</c> beyond <paramref name="maxBytes"/>.</exception>
    public static async Task<byte[]> ReadAsync(HttpRequest request, int maxBytes, CancellationToken ct)
    {
        if (request.ContentLength > maxBytes) throw TooLarge(maxBytes);
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int n;
        while ((n = await request.Body.ReadAsync(chunk, ct).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + n > maxBytes) throw TooLarge(maxBytes);
            buffer.Write(chunk, 0, n);
        }
        return buffer.ToArray();
    }

    private static BadRequestException TooLarge(int maxBytes) =>
        new("body_too_large", $"the request body may be at most {maxBytes:N0} bytes", StatusCodes.Status413PayloadTooLarge);
}
