#!/usr/bin/env bash
# Command 2: run every test. Starts a throwaway PostgreSQL (installed from Debian packages if missing)
# on 127.0.0.1:${ESCROW_TEST_PG_PORT:-55433}; each test class creates its own database in it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. deploy/pg.sh

port=${ESCROW_TEST_PG_PORT:-55433}
dir=$(mktemp -d /tmp/escrow-test-pg.XXXXXX)
cleanup() { pg_stop "$dir"; rm -rf "$dir"; }
trap cleanup EXIT

pg_ensure_installed
# Chromium for the dashboard's browser test (Playwright drives /usr/bin/chromium; it downloads no browser).
if [ ! -x /usr/bin/chromium ]; then
  echo "==> installing chromium from Debian packages"
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
fi
# A throwaway cluster: durability settings off for speed (the benchmark uses the durable one).
pg_start "$dir" "$port" fsync=off synchronous_commit=off full_page_writes=off
export ESCROW_TEST_PG="Host=127.0.0.1;Port=$port;Username=postgres;Database=postgres"
export ESCROW_DATA_DIR=${ESCROW_DATA_DIR:-$root/../shared/data}

log=$(mktemp /tmp/escrow-test-log.XXXXXX)
set +e
dotnet test Orleans.Escrow.sln -c Release --logger "console;verbosity=normal" "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
# Every failed test again at the end, with its message and the top of its stack, so that the tail of a
# long CI log names what failed.
awk '/^  Failed [A-Za-z_]/ { n = 40; print "" } n > 0 { if (n < 40 && /^  (Passed|Failed|Skipped) |^\[xUnit/) { n = 0; next } print; n-- }' "$log" \
  | sed -e '1s/^$/==> failed tests:/'
# One plain closing line over every test assembly: "N passed, N failed, N skipped".
awk '/^ +Passed: +[0-9]+$/ { p += $2 } /^ +Failed: +[0-9]+$/ { f += $2 } /^ +Skipped: +[0-9]+$/ { s += $2 }
     END { printf "%d passed, %d failed, %d skipped\n", p, f, s }' "$log"
rm -f "$log"
exit "$rc"
