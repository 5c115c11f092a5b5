using System.Diagnostics;
using JasperFx;
using JasperFx.Events;
using JasperFx.Events.Daemon;
using JasperFx.Events.Projections;
using Marten;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Npgsql;

namespace Escrow.Cli;

internal static partial class BenchCommand
{
    // ---------------------------------------------------------------- the Marten peer

    /// <summary>
    /// The same transfer on Marten (9.58), behind a minimal ASP.NET Core API of the same shape as ours (<c>POST /accounts</c>,
    /// <c>POST /accounts/{id}/deposits</c>, <c>POST /transfers</c>), in this process on a free loopback port, on a database of
    /// its own on the same PostgreSQL server: the two account streams read with <c>FetchForWriting</c> (the expected version
    /// of each), the funds checked, a debit and a credit event appended, one <c>SaveChangesAsync</c> (one transaction); a lost
    /// race is retried like our silo retries one; the balances are an async projection run by Marten's daemon. Configured as
    /// Marten's documentation recommends for throughput: lightweight sessions, <c>EventAppendMode.Quick</c>, string stream
    /// ids. It keeps no idempotency records, audit records or hash chain (ours does).
    /// </summary>
    private sealed class MartenPeer : IAsyncDisposable
    {
        private readonly WebApplication _app;

        private MartenPeer(WebApplication app, string database, string connectionString)
        {
            _app = app;
            Database = database;
            ConnectionString = connectionString;
            Http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 1024 })
            {
                BaseAddress = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First() + "/"),
                Timeout = TimeSpan.FromSeconds(30),
            };
        }

        public HttpClient Http { get; }
        public string Database { get; }
        public string ConnectionString { get; }

        /// <summary>Creates database <c>{owner's database}_marten_{run}</c>, lets Marten create its schema there, and starts the API.</summary>
        public static async Task<MartenPeer> StartAsync(NpgsqlConnectionStringBuilder owner, string run, CancellationToken ct)
        {
            var database = $"{owner.Database}_marten_{run}";
            await using (var admin = new NpgsqlConnection(owner.ConnectionString))
            {
                await admin.OpenAsync(ct);
                await using var create = new NpgsqlCommand($"CREATE DATABASE \"{database}\"", admin);
                await create.ExecuteNonQueryAsync(ct);
            }
            var cs = new NpgsqlConnectionStringBuilder(owner.ConnectionString) { Database = database, MaxPoolSize = 64 }.ConnectionString;

            var builder = WebApplication.CreateSlimBuilder(["--hostBuilder:reloadConfigOnChange=false"]);
            builder.Logging.SetMinimumLevel(LogLevel.Warning);
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            builder.Services.AddMarten(o =>
            {
                o.Connection(cs);
                o.AutoCreateSchemaObjects = AutoCreate.All;
                o.Events.StreamIdentity = StreamIdentity.AsString;
                o.Events.AppendMode = EventAppendMode.Quick;
                o.Projections.Snapshot<MartenBalance>(SnapshotLifecycle.Async);
            }).UseLightweightSessions().AddAsyncDaemon(DaemonMode.Solo);
            var app = builder.Build();
            app.MapPost("/accounts", async (MartenOpen body, IDocumentSession session, CancellationToken token) =>
            {
                session.Events.StartStream<MartenAccount>(body.AccountId, new MartenOpened(body.AccountId, body.Currency));
                await session.SaveChangesAsync(token);
                return Results.StatusCode(201);
            });
            app.MapPost("/accounts/{id}/deposits", async (string id, MartenMoney body, IDocumentSession session, CancellationToken token) =>
            {
                var stream = await session.Events.FetchForWriting<MartenAccount>(id, token);
                if (stream.Aggregate is null) return Results.StatusCode(404);
                stream.AppendOne(new MartenCredited(body.Amount));
                await session.SaveChangesAsync(token);
                return Results.StatusCode(201);
            });
            app.MapPost("/transfers", async (MartenTransfer body, IDocumentStore store, CancellationToken token) =>
            {
                for (var attempt = 1; ; attempt++)
                {
                    await using var session = store.LightweightSession();
                    var from = await session.Events.FetchForWriting<MartenAccount>(body.From, token);
                    var to = await session.Events.FetchForWriting<MartenAccount>(body.To, token);
                    if (from.Aggregate is null || to.Aggregate is null) return Results.StatusCode(404);
                    if (from.Aggregate.Balance < body.Amount) return Results.StatusCode(409);
                    from.AppendOne(new MartenDebited(body.Amount));
                    to.AppendOne(new MartenCredited(body.Amount));
                    try
                    {
                        await session.SaveChangesAsync(token);
                        return Results.StatusCode(201);
                    }
                    catch (Exception ex) when (ex is ConcurrencyException or EventStreamUnexpectedMaxEventIdException && attempt < 20)
                    {
                        // Another transfer wrote one of the streams first: decide again on the new versions.
                    }
                }
            });
            await app.Services.GetRequiredService<IDocumentStore>().Storage.ApplyAllConfiguredChangesToDatabaseAsync();
            await app.StartAsync(ct);
            return new MartenPeer(app, database, cs);
        }

        /// <summary>Events the balances projection has not applied yet, and how long it takes from now to apply every one.</summary>
        public async Task<(long Behind, double? CatchUpMs)> LagAsync(CancellationToken ct)
        {
            var stopped = Stopwatch.GetTimestamp();
            await using var conn = new NpgsqlConnection(ConnectionString);
            await conn.OpenAsync(ct);
            await using var cmd = new NpgsqlCommand(
                "SELECT (SELECT coalesce(max(seq_id), 0) FROM mt_events) - coalesce((SELECT max(last_seq_id) FROM mt_event_progression WHERE name LIKE '%MartenBalance:All'), 0)", conn);
            var behind = (long)(await cmd.ExecuteScalarAsync(ct))!;
            for (var left = behind; Stopwatch.GetElapsedTime(stopped) < TimeSpan.FromSeconds(60); await Task.Delay(5, ct))
            {
                if (left <= 0) return (behind, Stopwatch.GetElapsedTime(stopped).TotalMilliseconds);
                left = (long)(await cmd.ExecuteScalarAsync(ct))!;
            }
            return (behind, null);
        }

        public async ValueTask DisposeAsync()
        {
            Http.Dispose();
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }

    private sealed record MartenOpen(string AccountId, string Owner, string Currency);
    private sealed record MartenMoney(decimal Amount, string Currency);
    private sealed record MartenTransfer(string From, string To, decimal Amount, string Currency);

    /// <summary>Marten's events of the peer's account streams.</summary>
    internal sealed record MartenOpened(string AccountId, string Currency);
    internal sealed record MartenDebited(decimal Amount);
    internal sealed record MartenCredited(decimal Amount);

    /// <summary>The account as the transfer decides on it: folded live from its stream by <c>FetchForWriting</c>.</summary>
    internal sealed class MartenAccount
    {
        public string Id { get; set; } = "";
        public decimal Balance { get; set; }
        public static MartenAccount Create(MartenOpened e) => new() { Id = e.AccountId };
        public void Apply(MartenDebited e) => Balance -= e.Amount;
        public void Apply(MartenCredited e) => Balance += e.Amount;
    }

    /// <summary>The balances read model: a document per account, kept by Marten's async daemon.</summary>
    internal sealed class MartenBalance
    {
        public string Id { get; set; } = "";
        public decimal Balance { get; set; }
        public static MartenBalance Create(MartenOpened e) => new() { Id = e.AccountId };
        public void Apply(MartenDebited e) => Balance -= e.Amount;
        public void Apply(MartenCredited e) => Balance += e.Amount;
    }
}
