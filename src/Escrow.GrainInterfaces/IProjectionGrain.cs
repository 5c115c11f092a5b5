namespace Escrow.Grains;

/// <summary>
/// The keeper of one read model (key: the projection's name, e.g. <c>account_balances</c>). It has no methods of its own:
/// it is fed only by the silos' event-log stream provider, which delivers the log's committed events to it in commit
/// order, and it applies each batch and moves the projection's checkpoint in one PostgreSQL transaction.
/// </summary>
public interface IProjectionGrain : IGrainWithStringKey;
