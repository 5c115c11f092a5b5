using Escrow.Client;
using Microsoft.Extensions.Options;

// The conventional namespace of IServiceCollection extensions, so `services.AddEscrowClient(...)` needs no extra using.
namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers <see cref="EscrowClient"/> with <see cref="IServiceCollection"/>.</summary>
public static class EscrowClientServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="EscrowClient"/> as a typed client of <c>IHttpClientFactory</c> (transient; the factory
    /// pools the handlers) with <see cref="EscrowClientOptions"/> configured by <paramref name="configure"/>.
    /// The client's own retries replace <see cref="HttpClient.Timeout"/> (set to infinite; each attempt is bounded by
    /// <see cref="EscrowClientOptions.AttemptTimeout"/>).
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Sets <see cref="EscrowClientOptions.BaseAddress"/> (required), <see cref="EscrowClientOptions.ApiKey"/>, retries.</param>
    /// <returns>The HTTP client builder, to add handlers (logging, a proxy) to the pipeline.</returns>
    /// <example>
    /// <code>
    /// services.AddEscrowClient(o =>
    /// {
    ///     o.BaseAddress = new Uri("http://127.0.0.1:5080");
    ///     o.ApiKey = Environment.GetEnvironmentVariable("ESCROW_API_KEY");
    /// });
    /// // later: var escrow = provider.GetRequiredService&lt;EscrowClient&gt;();
    /// </code>
    /// </example>
    public static IHttpClientBuilder AddEscrowClient(this IServiceCollection services, Action<EscrowClientOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        services.AddOptions<EscrowClientOptions>().Configure(configure)
            .Validate(o => o.BaseAddress is { IsAbsoluteUri: true }, "EscrowClientOptions.BaseAddress must be an absolute URI");
        return services.AddHttpClient(nameof(EscrowClient), (sp, http) =>
            {
                http.BaseAddress = sp.GetRequiredService<IOptions<EscrowClientOptions>>().Value.BaseAddress;
                http.Timeout = Timeout.InfiniteTimeSpan;
            })
            .AddTypedClient((http, sp) => new EscrowClient(http, sp.GetRequiredService<IOptions<EscrowClientOptions>>().Value));
    }
}
