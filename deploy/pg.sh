#!/usr/bin/env bash
# Local PostgreSQL clusters for the silo and the tests. Source this file; it defines functions only.
# PostgreSQL refuses to run as root, so when we are root the cluster runs as the 'postgres' OS user.

pg_bindir() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$d" ] && [ -x "$d/postgres" ] && echo "$d"
}

# Installs PostgreSQL from Debian packages when no server binaries are present.
pg_ensure_installed() {
  if [ -z "$(pg_bindir)" ]; then
    echo "==> installing PostgreSQL from Debian packages"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql postgresql-contrib >/dev/null
  fi
  [ -n "$(pg_bindir)" ] || { echo "PostgreSQL server binaries not found after install" >&2; return 1; }
}

_pg_as() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# pg_start DATADIR PORT [extra postgres -c settings...]: initdb if needed, start on 127.0.0.1:PORT.
pg_start() {
  local dir="$1" port="$2"; shift 2
  local bin; bin=$(pg_bindir)
  mkdir -p "$dir"
  [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$dir" && chmod 700 "$dir"
  if [ ! -f "$dir/PG_VERSION" ]; then
    _pg_as "$bin/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  fi
  if _pg_as "$bin/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
    echo "==> PostgreSQL already running in $dir"
    return 0
  fi
  local opts="-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=300 -c shared_buffers=256MB"
  for s in "$@"; do opts="$opts -c $s"; done
  _pg_as "$bin/pg_ctl" -D "$dir" -o "$opts" -l "$dir/server.log" -w -t 60 start >/dev/null
  echo "==> PostgreSQL $("$bin/postgres" --version | awk '{print $3}') listening on 127.0.0.1:$port (data in $dir)"
}

pg_stop() {
  local dir="$1" bin; bin=$(pg_bindir)
  [ -f "$dir/PG_VERSION" ] && _pg_as "$bin/pg_ctl" -D "$dir" -m fast -w stop >/dev/null 2>&1 || true
}

# pg_createdb PORT NAME: creates a database owned by the superuser if missing.
pg_createdb() {
  local port="$1" name="$2" bin; bin=$(pg_bindir)
  if ! "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$name'" | grep -q 1; then
    "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres "$name"
  fi
}
