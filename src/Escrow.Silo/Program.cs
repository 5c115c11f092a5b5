using Escrow.Silo;

var app = SiloHost.Build(args);
await app.RunAsync();

/// <summary>Entry point of the silo; public so integration tests can host it with WebApplicationFactory.</summary>
public partial class Program;
