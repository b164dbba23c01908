#!/usr/bin/env bash
# A PostgreSQL 15 server under callgrind whose backends count instructions from a call of
# pg_stat_clear_snapshot() and write them out at a call of pg_stat_force_next_flush()
# (scripts/commit-cost.ts with OMEGA_CALLGRIND=1): counts that do not depend on how busy the machine
# is. (Switching instrumentation on for one backend through vgdb does not work: a backend that has
# set its process title no longer finds vgdb's pipes.) Everything runs some 50 times slower. `bash scripts/callgrind-server.sh [dir] [port]`, as root; stop it with
# `runuser -u postgres -- pg_ctl -D <dir>/data stop` (Debian's PostgreSQL 15 binaries).
set -euo pipefail
dir=${1:-/tmp/vg}
port=${2:-5499}
bin=/usr/lib/postgresql/15/bin
mkdir -p "$dir" && chown postgres "$dir"
if [ ! -d "$dir/data" ]; then
  runuser -u postgres -- "$bin/initdb" -D "$dir/data" -A trust -U postgres >/dev/null
  cat >>"$dir/data/postgresql.conf" <<CONF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
shared_preload_libraries = 'pg_stat_statements'
CONF
fi
runuser -u postgres -- valgrind --tool=callgrind --trace-children=yes --vgdb=no \
  --zero-before=pg_stat_clear_snapshot --dump-before=pg_stat_force_next_flush \
  --callgrind-out-file="$dir/cg.%p" "$bin/postgres" -D "$dir/data" >"$dir/server.log" 2>&1 &
until "$bin/pg_isready" -q -h 127.0.0.1 -p "$port"; do sleep 1; done
echo "postgres://postgres@127.0.0.1:$port/postgres"
