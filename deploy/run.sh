#!/usr/bin/env bash
# Command 1: set up and run the main job. Installs PostgreSQL if missing, starts a local instance under
# .data/pg (ESCROW_PG_DATA) on 127.0.0.1:${ESCROW_PG_PORT:-55432}, migrates, imports the Berka bank, and runs the silo.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. deploy/pg.sh

port=${ESCROW_PG_PORT:-55432}
http=${ESCROW_HTTP_URL:-http://127.0.0.1:5080}
data=${ESCROW_DATA_DIR:-$root/../shared/data}

pg_ensure_installed
pgdata=${ESCROW_PG_DATA:-$root/.data/pg}
# A write-heavy ledger: checkpoints by time (15 min) rather than every 1 GB of WAL (about 2 minutes at 1,500 transfers/s),
# which showed as latency spikes in the benchmark (docs/benchmarks.md).
pg_start "$pgdata" "$port" max_wal_size=4GB checkpoint_timeout=15min
pg_createdb "$port" escrow

export Escrow__OwnerConnectionString="Host=127.0.0.1;Port=$port;Username=postgres;Database=escrow"
export Escrow__ConnectionString="Host=127.0.0.1;Port=$port;Username=escrow_app;Database=escrow"
# The operator's root API key: from the environment, else generated once and kept in .data/root-api-key.
if [ -z "${Escrow__RootApiKey:-}" ]; then
  keyfile="$root/.data/root-api-key"
  if [ ! -s "$keyfile" ]; then
    mkdir -p "$root/.data"
    (umask 077; echo "esk_$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')" > "$keyfile")
  fi
  Escrow__RootApiKey=$(cat "$keyfile")
fi
export Escrow__RootApiKey

echo "==> building"
dotnet build src/Escrow.Cli -c Release -v q -nologo | tail -n 3
escrow() { dotnet "$root/src/Escrow.Cli/bin/Release/net10.0/escrow.dll" "$@"; }

escrow migrate
if [ -d "$data/berka" ]; then
  escrow import berka "$data/berka" --report "$root/.data/berka-unmatched.csv"
else
  echo "==> no Berka data at $data/berka; skipping the import"
fi
echo "==> root API key (Escrow__RootApiKey): $Escrow__RootApiKey"
echo "==> silo on $http  (try: curl -H \"Authorization: Bearer \$Escrow__RootApiKey\" $http/accounts/berka-576/balance?at=1993-03-15T23:59:59Z)"
exec dotnet "$root/src/Escrow.Cli/bin/Release/net10.0/escrow.dll" serve --urls "$http"
