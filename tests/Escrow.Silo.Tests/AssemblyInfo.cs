namespace Escrow.Silo.Tests;
