using Escrow.Silo.Cluster;
using Escrow.EventStore;
using Escrow.Silo.Hosting;
using Escrow.Silo.Http;
using Escrow.Silo.Ledger;
using Escrow.Silo.Tenancy;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;
using Npgsql;
using Orleans.Providers;

namespace Escrow.Silo;

/// <summary>Builds a silo: the Orleans runtime with the grains and their reminders, the HTTP frontend, the projection runners.</summary>
public static class SiloHost
{
    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        // No watching of appsettings files for changes: the default watches the content root recursively, and under
        // deploy/run.sh that holds PostgreSQL's data directory, whose every write woke a watcher thread (about 5 % of the
        // silo's CPU under the benchmark's load). Settings are read once at start.
        var builder = WebApplication.CreateBuilder(["--hostBuilder:reloadConfigOnChange=false", .. args]);
        configure?.Invoke(builder);
        AddEscrow(builder.Services, builder.Configuration);
        builder.AddEscrowOrleans();
        var app = builder.Build();
        UseEscrow(app);
        return app;
    }

    public static void AddEscrow(IServiceCollection services, IConfiguration configuration)
    {
        services.Configure<SiloOptions>(configuration.GetSection("Escrow"));
        services.TryAddLedgerClock();
        services.AddSingleton(sp => new Cluster.SiloIdentity(sp.GetRequiredService<ILocalSiloDetails>().SiloAddress));
        services.AddSingleton(sp =>
        {
            var o = sp.GetRequiredService<IOptions<SiloOptions>>().Value;
            if (string.IsNullOrWhiteSpace(o.ConnectionString))
                throw new InvalidOperationException("Escrow:ConnectionString is not set (the application role's connection string)");
            // Every session of this silo carries its Orleans silo address as application_name, so pg_stat_activity and
            // pg_locks tell which silo holds which lease (GET /silos, escrow silos).
            var csb = new NpgsqlConnectionStringBuilder(o.ConnectionString)
            {
                MaxPoolSize = o.MaxPoolSize,
                ApplicationName = sp.GetRequiredService<Cluster.SiloIdentity>().ApplicationName,
            };
            // Prepare the hot statements (append, stream reads, projections) on each connection after two uses:
            // PostgreSQL then skips parse and plan. Measured on the Berka import: 42.7 s → 25 s.
            if (csb.MaxAutoPrepare == 0) csb.MaxAutoPrepare = 64;
            return new NpgsqlDataSourceBuilder(csb.ConnectionString).Build();
        });
        services.AddSingleton(sp =>
        {
            var o = sp.GetRequiredService<IOptions<SiloOptions>>().Value;
            var csb = new NpgsqlConnectionStringBuilder(o.ConnectionString)
            {
                MaxPoolSize = o.AppendBatchesInFlight + 2,   // the batches in flight, the NOTIFY, one spare
                ApplicationName = sp.GetRequiredService<Cluster.SiloIdentity>().ApplicationName,
                NoResetOnClose = true,
            };
            csb.MinPoolSize = Math.Min(csb.MinPoolSize, csb.MaxPoolSize);   // an operator's Minimum Pool Size above it would refuse to build
            if (csb.MaxAutoPrepare == 0) csb.MaxAutoPrepare = 64;
            return new AppendPool(new NpgsqlDataSourceBuilder(csb.ConnectionString).Build());
        });
        services.AddSingleton(sp =>
        {
            var o = sp.GetRequiredService<IOptions<SiloOptions>>().Value;
            var ds = sp.GetRequiredService<NpgsqlDataSource>();
            return new PgEventStore(ds, new GroupCommitOptions
            {
                MaxBatchSize = o.AppendBatchSize,
                MaxConcurrentBatches = o.AppendBatchesInFlight,
                // Appends and NOTIFYs: a pool of their own without Npgsql's per-reuse reset (see AppendDataSource).
                AppendDataSource = sp.GetRequiredService<AppendPool>().DataSource,
            });
        });
        // Metrics (Meter "Orleans.Escrow") and the dashboard's rolling window; the ledger, deal and payment services record every command into it.
        services.AddSingleton(sp => new Dashboard.EscrowMetrics(sp.GetRequiredKeyedService<TimeProvider>(LedgerClock.Key), sp.GetService<System.Diagnostics.Metrics.IMeterFactory>()));
        services.AddSingleton<Dashboard.DashboardSampler>();
        services.AddHostedService(sp => sp.GetRequiredService<Dashboard.DashboardSampler>());
        services.AddSingleton(sp => new LedgerService(sp.GetRequiredService<IGrainFactory>(), sp.GetRequiredService<PgEventStore>(),
            sp.GetRequiredService<Dashboard.EscrowMetrics>(), sp.GetRequiredService<IOptions<SiloOptions>>().Value.SnapshotEvery));
        services.AddSingleton<LedgerQueries>();
        services.AddSingleton(sp => new Deals.DealService(sp.GetRequiredService<IGrainFactory>(), sp.GetRequiredService<PgEventStore>(),
            sp.GetRequiredService<Dashboard.EscrowMetrics>()));
        services.AddSingleton(sp => new Deals.DealTemplateStore(sp.GetRequiredService<NpgsqlDataSource>()));
        // Payments: their own host over payment and account streams, the reference data, the ISO 20022 importer.
        services.AddSingleton(sp => new Payments.PaymentDirectory(sp.GetRequiredService<NpgsqlDataSource>()));
        services.AddSingleton(sp => new Payments.PaymentService(sp.GetRequiredService<IGrainFactory>(), sp.GetRequiredService<PgEventStore>(),
            sp.GetRequiredService<Payments.PaymentDirectory>(), sp.GetRequiredService<Dashboard.EscrowMetrics>()));
        services.AddSingleton(sp =>
        {
            var dir = sp.GetRequiredService<IOptions<SiloOptions>>().Value.ResolveIsoSchemaDirectory();
            return new Payments.IsoMessageImporter(sp.GetRequiredService<Payments.PaymentService>(),
                dir is null ? null : new Escrow.Domain.Iso20022.IsoSchemaValidator(dir));
        });
        services.AddHostedService<Deals.TimerUpgrade>();
        // The cluster view (GET /silos, the dashboard): Orleans's membership table, the leases, and each silo's load on request.
        services.AddSingleton<Cluster.SiloLoadReport>();
        services.AddKeyedSingleton<IControllable>(Cluster.SiloLoadReport.Name, (sp, _) => sp.GetRequiredService<Cluster.SiloLoadReport>());
        services.AddSingleton<Cluster.ClusterView>();
        services.AddSingleton<TenancyStore>();
        services.AddSingleton<ApiKeyAuthenticator>();
        services.AddSingleton(sp => new SubjectKeyStore(sp.GetRequiredService<NpgsqlDataSource>()));
        services.AddSingleton<Subjects.SubjectService>();
        services.AddHostedService<KeyRevocationListener>();
        services.AddSingleton<RefusalAudit>();
        services.AddHostedService<MigrationService>();
        services.AddSingleton<EventPartitionMaintenance>();
        services.AddHostedService(sp => sp.GetRequiredService<EventPartitionMaintenance>());
        services.AddRouting();
        services.Configure<Microsoft.AspNetCore.Server.Kestrel.Core.KestrelServerOptions>(o => o.Limits.MaxRequestBodySize = BoundedBody.MaxRequestBodyBytes);
        services.AddProblemDetails();
        services.AddOpenApi(o => o.AddEscrowDocumentation());
        services.Configure<JsonOptions>(o =>
        {
            o.SerializerOptions.Converters.Add(new System.Text.Json.Serialization.JsonStringEnumConverter());
        });
    }

    /// <summary>The system clock as the <see cref="LedgerClock"/>, unless the host (a test) registered another.</summary>
    private static void TryAddLedgerClock(this IServiceCollection services)
    {
        if (!services.Any(d => d.ServiceType == typeof(TimeProvider) && Equals(d.ServiceKey, LedgerClock.Key)))
            services.AddKeyedSingleton(LedgerClock.Key, TimeProvider.System);
    }

    /// <summary>
    /// The HTTP frontend's pipeline on <paramref name="app"/> (a web application, or the web host of a TestingHost silo):
    /// routing, problem details for exceptions, the API-key check, then every endpoint.
    /// </summary>
    public static void UseEscrow(IApplicationBuilder app)
    {
        // Sealed personal data is opened (or shown as erased) in every answer, problem details included.
        app.UseMiddleware<PersonalDataResponses>();
        app.UseRouting();
        // A refused request (4xx) is the client's error, already answered and audited: it is not logged as an unhandled exception.
        app.UseExceptionHandler(new ExceptionHandlerOptions
        {
            ExceptionHandler = WriteProblemAsync,
            StatusCodeSelector = StatusFor,
            SuppressDiagnosticsCallback = c => StatusFor(c.Exception) < 500,
        });
        app.UseStatusCodePages();
        app.Use(Authorization.AuthenticateAsync);
        app.UseEndpoints(MapEndpoints);
    }

    private static void MapEndpoints(IEndpointRouteBuilder app)
    {
        app.MapOpenApi();
        app.MapGet("/health", () => Results.Ok(new HealthStatus("ok"))).WithTags("Silo").Produces<HealthStatus>()
            .Doc("getHealth", "Liveness of this silo (no key needed)");
        // Every route in this group needs an API key (Authorization.AuthenticateAsync): each documents its 401.
        var api = app.MapGroup("").Problems(401);
        api.MapLedger();
        api.MapDeals();
        api.MapPayments();
        api.MapPaymentQueries();
        api.MapCluster();
        api.MapTenancy();
        api.MapCheckpoints();
        api.MapSubjects();
        api.MapArchives();
        // The dashboard's page is public (it asks for a key); its API group documents its own 401.
        Dashboard.DashboardEndpoints.MapDashboard(app);
        Dashboard.OrleansDashboard.MapEscrowDashboard(app);
    }

    private static int StatusFor(Exception ex) => ex switch
    {
        BadRequestException b => b.Status,
        BadHttpRequestException b => b.StatusCode,
        NotFoundException => 404,
        _ when OutcomeUnknown(ex) || DatabaseUnavailable(ex) || GrainCalls.SiloLeft(ex) => 503,
        _ => 500,
    };

    /// <summary>
    /// True when <paramref name="ex"/> (or an exception inside it) is a <see cref="WriteOutcomeUnknownException"/>: a write
    /// was sent to PostgreSQL and its answer lost, so it may have committed (thrown here or in a grain of this cluster).
    /// </summary>
    public static bool OutcomeUnknown(Exception? ex)
    {
        for (; ex is not null; ex = ex.InnerException)
        {
            if (ex is WriteOutcomeUnknownException) return true;
            // Through a grain call Orleans may carry an exception type it does not deserialize as its name.
            if (ex.GetType().Name == "UnavailableExceptionFallbackException" && ex.ToString().Contains(nameof(WriteOutcomeUnknownException), StringComparison.Ordinal)) return true;
        }
        return false;
    }

    /// <summary>
    /// True when <paramref name="ex"/> (or an exception inside it) says PostgreSQL could not be reached or the connection
    /// broke: an <see cref="NpgsqlException"/> that is not a statement's own error (a <see cref="PostgresException"/> with
    /// a SQL state outside classes 08, 53 and 57, which is a bug, stays a 500), thrown here or in a grain of this cluster
    /// (Orleans carries an exception type it may not deserialize as its name). Checked after <see cref="OutcomeUnknown"/>,
    /// the one case of a broken connection where something may have been written: every write goes through
    /// <see cref="OutcomeAwareWrites"/>, so any other failure happened before a write was sent or during a read.
    /// </summary>
    public static bool DatabaseUnavailable(Exception? ex)
    {
        for (; ex is not null; ex = ex.InnerException)
        {
            if (ex is PostgresException pg) return pg.SqlState[..2] is "08" or "53" or "57";
            if (ex is NpgsqlException) return true;
            if (ex is AggregateException { InnerExceptions: var all } && all.Any(DatabaseUnavailable)) return true;
            if (ex.GetType().Name == "UnavailableExceptionFallbackException" && ex.ToString().Contains("Npgsql", StringComparison.Ordinal)) return true;
        }
        return false;
    }

    private static async Task WriteProblemAsync(HttpContext http)
    {
        var ex = http.Features.Get<IExceptionHandlerFeature>()?.Error;
        // A malformed command is refused before it reaches an aggregate: only this audit record remembers it.
        if (ex is BadRequestException or BadHttpRequestException && HttpMethods.IsPost(http.Request.Method) && http.FindCaller() is not null)
            await http.RequestServices.GetRequiredService<RefusalAudit>().RecordAsync(http, StatusFor(ex), (ex as BadRequestException)?.Code ?? "bad_request", http.RequestAborted).ConfigureAwait(false);
        var problem = ex switch
        {
            BadRequestException b => Problems.Create(b.Status, b.Code, b.Message),
            BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge } b => Problems.Create(413, "body_too_large", b.Message),
            BadHttpRequestException b => Problems.Create(b.StatusCode, "bad_request", b.Message),
            NotFoundException n => Problems.Create(404, "account_not_found", n.Message),
            _ when OutcomeUnknown(ex) => Problems.Create(503, "outcome_unknown",
                "PostgreSQL's answer to this command's commit was lost: it may or may not have been applied. Retry it with the same " +
                "Idempotency-Key, which applies it once or answers what it did"),
            // The aggregate (or one its command reads) lives on a silo that stopped answering and that the cluster has not yet
            // replaced: the message may have reached it before it went, so the outcome is unknown, and a retry is safe.
            _ when GrainCalls.SiloLeft(ex) => Problems.Create(503, "outcome_unknown",
                "the silo holding an aggregate of this command stopped answering and is being replaced: the command may or may not " +
                "have been applied. Retry it with the same Idempotency-Key, which applies it once or answers what it did"),
            _ when DatabaseUnavailable(ex) => Problems.Create(503, "database_unavailable",
                "PostgreSQL cannot be reached; this request changed nothing: retry it (with the same Idempotency-Key)"),
            _ => Problems.Create(500, "internal_error", "the silo failed to process the request; nothing was acknowledged"),
        };
        if (problem.Status == 503) http.Response.Headers.RetryAfter = "1";
        http.Response.StatusCode = problem.Status;
        http.Response.ContentType = Problems.ContentType;
        await http.Response.WriteAsync(Problems.Serialize(problem)).ConfigureAwait(false);
    }
}

/// <summary>Body of <c>GET /health</c>: <c>ok</c> while the silo serves requests.</summary>
public sealed record HealthStatus(string Status);

/// <summary>Migrates at start, when an owner connection is configured (before the silo joins the cluster).</summary>
internal sealed class MigrationService(IOptions<SiloOptions> options, ILogger<MigrationService> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var o = options.Value;
        if (string.IsNullOrWhiteSpace(o.OwnerConnectionString)) return;
        var applied = await Migrator.MigrateAsync(o.OwnerConnectionString, cancellationToken).ConfigureAwait(false);
        if (applied.Count > 0) logger.LogInformation("applied migrations {Migrations}", string.Join(", ", applied));
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

/// <summary>The append transactions' own connection pool (<see cref="GroupCommitOptions.AppendDataSource"/>); disposed with the host.</summary>
internal sealed class AppendPool(NpgsqlDataSource dataSource) : IAsyncDisposable
{
    public NpgsqlDataSource DataSource { get; } = dataSource;

    public ValueTask DisposeAsync() => DataSource.DisposeAsync();
}
