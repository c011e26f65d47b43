#!/bin/sh
# Run a command with a PostgreSQL server of its own, whose URL is in $KIOSK_TEST_PG_URL:
#   scripts/with-postgres.sh .venv/bin/pytest -q
# A throwaway cluster (initdb in a temporary directory, a free loopback port, its socket in that directory) is
# started before the command and stopped and deleted after it, whatever the command's outcome: it touches no
# other cluster on the machine, so two runs side by side do not collide and nothing is left running.
# Installs Debian's postgresql when missing. Without it (no root or sudo to install), the command runs without
# $KIOSK_TEST_PG_URL and the PostgreSQL tests are skipped. Exits with the command's status.
set -eu
here=$(dirname "$0")
[ "$#" -gt 0 ] || { echo "usage: $0 COMMAND [ARG...]" >&2; exit 2; }

if ! command -v pg_lsclusters >/dev/null 2>&1 && ! "$here/system-deps.sh" postgresql >&2; then
    echo "with-postgres: cannot install PostgreSQL here (no root or sudo): its tests will be skipped" >&2
    exec "$@"
fi
bin=""
for candidate in /usr/lib/postgresql/*/bin; do  # the newest installed version (globs sort, 15 before 16)
    [ -x "$candidate/initdb" ] && bin=$candidate
done
if [ -z "$bin" ]; then
    echo "with-postgres: no PostgreSQL server (initdb) installed: its tests will be skipped" >&2
    exec "$@"
fi

# initdb and the server refuse to run as root: as root they run as the postgres user the package made.
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

dir=$(mktemp -d "${TMPDIR:-/tmp}/kiosk-pg.XXXXXX")
# shellcheck disable=SC2317  # called by the trap
cleanup() {
    as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
[ "$(id -u)" -ne 0 ] || chown postgres: "$dir"

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
    --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
# A test server: durability off (the data is thrown away), loopback only, the socket in the private directory.
options="-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off"
options="$options -c full_page_writes=off -c max_connections=200"
as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -o "$options" -w -t 60 start >/dev/null ||
    { cat "$dir/server.log" >&2; exit 1; }
as_owner "$bin/psql" -h "$dir" -p "$port" -U postgres -d postgres -qX -v ON_ERROR_STOP=1 \
    -c "CREATE ROLE kiosk_test LOGIN PASSWORD 'kiosk_test' CREATEDB" \
    -c "CREATE DATABASE kiosk_test OWNER kiosk_test" >/dev/null

export KIOSK_TEST_PG_URL="postgresql+psycopg://kiosk_test:kiosk_test@127.0.0.1:$port/kiosk_test"
status=0
"$@" || status=$?
exit "$status"
