using Microsoft.Extensions.Hosting;
using Orleans.Configuration;
using Orleans.Serialization;

namespace Escrow.Grains;

/// <summary>
/// Connects a .NET service to the escrow cluster as an Orleans client: it finds the silos' gateways in the cluster's
/// ADO.NET membership table (<c>orleans_membership</c> on the event log's PostgreSQL), serializes the domain types as the
/// silos do, and sends its API key with every grain call (<see cref="ApiKeyContextKey"/>), which the silos check like an
/// HTTP request's: the key's role and institution bound what the client may do, and a grain of another institution
/// refuses it (<see cref="EscrowCallRefusedException"/>). Then resolve <see cref="IClusterClient"/> (or
/// <see cref="IGrainFactory"/>) and call <see cref="IAccountGrain"/>, <see cref="IDealGrain"/> and
/// <see cref="IPaymentGrain"/> with keys from <see cref="GrainKeys.Of"/>.
/// </summary>
public static class EscrowOrleansClient
{
    /// <summary>The <c>RequestContext</c> entry that carries the client's API key (its secret: keep the cluster's network private or use TLS).</summary>
    public const string ApiKeyContextKey = "escrow-api-key";

    /// <summary>
    /// Adds an Orleans client of the escrow cluster to <paramref name="builder"/>'s host (started and stopped with it).
    /// </summary>
    /// <param name="builder">The application's host builder.</param>
    /// <param name="connectionString">Npgsql connection string of a role that may read <c>orleans_membership</c> (the silos' application role does).</param>
    /// <param name="apiKey">A writer or auditor key of the institution the service acts for (the root key acts for any).</param>
    /// <param name="configure">Optional: the cluster and service ids when the silos do not use the defaults (<c>escrow</c>, <c>orleans-escrow</c>), and anything else of the client.</param>
    /// <exception cref="ArgumentException">The connection string or the key is empty.</exception>
    public static IHostApplicationBuilder AddEscrowOrleansClient(this IHostApplicationBuilder builder, string connectionString, string apiKey,
        Action<IClientBuilder>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.UseOrleansClient(client =>
        {
            client.UseEscrowCluster(connectionString, apiKey);
            configure?.Invoke(client);
        });
        return builder;
    }

    /// <summary>
    /// Configures an Orleans client builder for the escrow cluster (what <see cref="AddEscrowOrleansClient"/> does), for hosts
    /// that build their client themselves.
    /// </summary>
    /// <param name="client">The Orleans client builder.</param>
    /// <param name="connectionString">Npgsql connection string of a role that may read <c>orleans_membership</c>.</param>
    /// <param name="apiKey">The API key sent with every grain call (unless the caller put another under <see cref="ApiKeyContextKey"/> in <c>RequestContext</c> for a call).</param>
    /// <param name="clusterId">The silos' <c>Escrow:ClusterId</c> (default <c>escrow</c>).</param>
    /// <param name="serviceId">The silos' <c>Escrow:ServiceId</c> (default <c>orleans-escrow</c>).</param>
    /// <exception cref="ArgumentException">The connection string or the key is empty.</exception>
    public static IClientBuilder UseEscrowCluster(this IClientBuilder client, string connectionString, string apiKey,
        string clusterId = "escrow", string serviceId = "orleans-escrow")
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        ArgumentException.ThrowIfNullOrWhiteSpace(apiKey);
        client.Services.AddSerializer(serializer => serializer.AddEscrowDomainTypes());
        client.UseAdoNetClustering(o =>
        {
            o.Invariant = "Npgsql";
            o.ConnectionString = connectionString;
        });
        client.Configure<ClusterOptions>(o =>
        {
            o.ClusterId = clusterId;
            o.ServiceId = serviceId;
        });
        return client.SendApiKey(apiKey);
    }

    /// <summary>
    /// Sends <paramref name="apiKey"/> with every grain call of this client (<see cref="ApiKeyContextKey"/> in its
    /// <c>RequestContext</c>), unless the caller put another key there for a call (a service acting for several institutions).
    /// </summary>
    /// <param name="client">The Orleans client builder.</param>
    /// <param name="apiKey">The API key.</param>
    /// <exception cref="ArgumentException">The key is empty.</exception>
    public static IClientBuilder SendApiKey(this IClientBuilder client, string apiKey)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentException.ThrowIfNullOrWhiteSpace(apiKey);
        client.AddOutgoingGrainCallFilter(context =>
        {
            if (RequestContext.Get(ApiKeyContextKey) is not string) RequestContext.Set(ApiKeyContextKey, apiKey);
            return context.Invoke();
        });
        return client;
    }
}
