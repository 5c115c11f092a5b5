#!/usr/bin/env bash
# The kill -9 fault test: 3 silos behind nginx (deploy/cluster.sh), a transfer load through nginx that records every
# acknowledged command and funded deals that fall due just after the kill, kill -9 of the silo pulling the balances'
# projection queue mid-load, then the checks:
#   every acknowledged transfer is in the log exactly once, no idempotency key applied twice, zero-sum holds,
#   the projections converge and equal a replay (escrow verify), every deal that fell due expired exactly once,
#   the dead silo's projection queues are pulled by the survivors, and no request was answered 500 or 502 (a 503 is the
#   answer while the cluster replaces the silo).
# Prints PASS or FAIL with the figures; exit status 0 on PASS.
#
# Environment: ESCROW_FAULT_HTTP_PORT (nginx, default 5090; silos on the next 3 ports), ESCROW_PG_PORT (55432; a
# PostgreSQL answering there is used, else deploy/run.sh's local instance is started), ESCROW_FAULT_SECONDS (load
# duration, 30), ESCROW_FAULT_KILL_AFTER (seconds of load before the kill, 10), ESCROW_NO_BUILD=1 (use the built CLI; ESCROW_CLI_DLL names another build of escrow.dll).
# It works in a fresh database (escrow_fault_<time>) that is dropped on PASS and kept for inspection on FAIL.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. deploy/pg.sh

http_port=${ESCROW_FAULT_HTTP_PORT:-5090}
pg_port=${ESCROW_PG_PORT:-55432}
seconds=${ESCROW_FAULT_SECONDS:-30}
kill_after=${ESCROW_FAULT_KILL_AFTER:-10}
db="escrow_fault_$(date +%s)_$$"
dir=$(mktemp -d /tmp/escrow-fault.XXXXXX)
escrow_dll=${ESCROW_CLI_DLL:-$root/src/Escrow.Cli/bin/Release/net10.0/escrow.dll}
escrow() { dotnet "$escrow_dll" "$@"; }
lease=projection:account_balances
deals=5

export ESCROW_HTTP_PORT=$http_port ESCROW_PG_PORT=$pg_port ESCROW_DB=$db ESCROW_CLUSTER_DIR=$dir
export Escrow__ConnectionString="Host=127.0.0.1;Port=$pg_port;Username=escrow_app;Database=$db"
export Escrow__RootApiKey=${Escrow__RootApiKey:-"esk_fault_$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"}
# The survivors vote a killed silo dead in Orleans's membership table; Orleans's queue balancer then gives its projection
# queues to them, and its reminders' range of the ring.

started=$(date +%s)
load_pid=""
cleanup() {
  [ -n "$load_pid" ] && kill "$load_pid" 2>/dev/null || true
  bash deploy/cluster.sh down >/dev/null 2>&1 || true
}
trap cleanup EXIT

echo "==> starting 3 silos behind nginx on 127.0.0.1:$http_port (database $db, work dir $dir)"
bash deploy/cluster.sh up 3 | sed 's/^/    /'

# holder QUEUE: "URL SINCE-MS" of the active silo pulling the projection queue (since when, Unix ms), or nothing.
holder() { escrow silos --lease "$1" 2>/dev/null || true; }
leader_before=""
for _ in $(seq 1 300); do leader_before=$(holder $lease); [ -n "$leader_before" ] && break; sleep 0.1; done
[ -n "$leader_before" ] || { echo "FAIL: no silo pulls the $lease queue"; exit 1; }
leader_before=${leader_before% *}
victim_port=${leader_before##*:}
victim_pid=$(cat "$dir/silo-$victim_port.pid")
echo "==> $lease pulled by $leader_before (pid $victim_pid)"
escrow silos | sed 's/^/    /'

echo "==> load: transfers through nginx for $seconds s, $deals deals due 2 s after the kill; kill -9 of that silo after $kill_after s"
escrow load transfers --url "http://127.0.0.1:$http_port" --seconds "$seconds" --clients 8 --accounts 100 --acked "$dir/acked.tsv" \
  --expiring-deals $deals --expire-after $((kill_after + 2)) > "$dir/load.log" 2>&1 &
load_pid=$!
# Wait until the load runs (the first acknowledged transfer), then for kill_after seconds.
for _ in $(seq 1 600); do [ -s "$dir/acked.tsv" ] && break; kill -0 $load_pid 2>/dev/null || break; sleep 0.1; done
sleep "$kill_after"
acked_at_kill=$(wc -l < "$dir/acked.tsv")
kill -9 "$victim_pid"
killed_ns=$(date +%s%N)
echo "==> kill -9 $victim_pid ($leader_before) with $acked_at_kill transfers acknowledged"

killed_ms=$((killed_ns / 1000000))
leader_after=""; takeover_ms=""
while [ $(( ($(date +%s%N) - killed_ns) / 1000000 )) -lt 60000 ]; do
  h=$(holder $lease)
  if [ -n "$h" ] && [ "${h% *}" != "$leader_before" ]; then
    # When the survivor's queue receiver started, as it recorded it (the polling above pays a CLI start per look).
    leader_after=${h% *}; takeover_ms=$(( ${h##* } - killed_ms )); break
  fi
  sleep 0.05
done
echo "==> $lease pulled by ${leader_after:-nobody}: taken over ${takeover_ms:-?} ms after the kill"

load_rc=0
wait $load_pid || load_rc=$?
load_pid=""
sed 's/^/    /' "$dir/load.log"
echo "==> checks"
check_rc=0
escrow check-acked "$dir/acked.tsv" > "$dir/check.log" 2>&1 || check_rc=$?
sed 's/^/    /' "$dir/check.log"
echo "==> membership after the kill"
# The survivors probe the killed silo, fail, and vote it dead in Orleans's membership table.
dead_rows=0
# (Only the killed silo's row counts: a CLI command's own in-process silo also ends as Dead when it stops.)
for _ in $(seq 1 60); do dead_rows=$(escrow silos | grep "$leader_before " | grep -c " Dead " || true); [ "$dead_rows" -ge 1 ] && break; sleep 1; done
escrow silos | sed 's/^/    /'

acked=$(wc -l < "$dir/acked.tsv")
elapsed=$(( $(date +%s) - started ))
fail=""
[ "$load_rc" -eq 0 ] || fail="$fail load-unresolved"
[ "$check_rc" -eq 0 ] || fail="$fail checks"
[ -n "$leader_after" ] || fail="$fail queue-did-not-move"
[ "$dead_rows" -ge 1 ] || fail="$fail killed-silo-not-dead"
[ "$acked" -gt "$acked_at_kill" ] || fail="$fail no-progress-after-kill"
# A silo that dies is an outage the clients are told about (503, retried with the same key), never a server error
# (500 from a silo, 502 from nginx).
if grep -Eq 'failed attempts:.*(^|[ ,])50[02] ×' "$dir/load.log"; then fail="$fail server-errors"; fi
summary="acknowledged $acked transfers ($acked_at_kill before the kill); $lease $leader_before -> ${leader_after:-none}, taken over ${takeover_ms:-?} ms after the kill; $(grep -o 'deals due during the run: [0-9]* of [0-9]* expired exactly once' "$dir/check.log" | tail -1), $(grep -o 'expired [-0-9.]*–[-0-9.]* s after they fell due' "$dir/check.log" | tail -1); $(grep -o 'longest wait of a transfer for its definitive answer: [0-9]* ms' "$dir/load.log" | tail -1); $(grep -o '[0-9]* attempts retried' "$dir/load.log" | tail -1); $elapsed s in all"
if [ -z "$fail" ]; then
  echo "PASS: $summary"
  bash deploy/cluster.sh down >/dev/null 2>&1 || true
  "$(pg_bindir)/psql" -q -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$dir"
  exit 0
fi
echo "FAIL:$fail: $summary (database $db and $dir kept)"
exit 1
