#!/bin/sh
# Start a PostgreSQL cluster on loopback for the test suite and print its URL (nothing if it cannot).
# Installs Debian's postgresql when missing. Idempotent: an already running cluster and existing role are kept.
set -eu
here=$(dirname "$0")
if ! command -v pg_lsclusters >/dev/null 2>&1; then
    if ! "$here/system-deps.sh" postgresql >&2; then
        echo "test-postgres: cannot install PostgreSQL here (no root or sudo): its tests will be skipped" >&2
        exit 0
    fi
fi
as_postgres() {
    # From /: the postgres user may not enter the directory this runs in (a 0700 checkout in /tmp).
    if [ "$(id -u)" -eq 0 ]; then (cd / && runuser -u postgres -- "$@"); else (cd / && sudo -n -u postgres "$@"); fi
}
cluster=$(pg_lsclusters -h | head -n 1)
if [ -z "$cluster" ]; then
    for candidate in /usr/lib/postgresql/*; do version=${candidate##*/}; done  # the newest installed
    pg_createcluster "$version" main >&2
    cluster=$(pg_lsclusters -h | head -n 1)
fi
# shellcheck disable=SC2086  # the cluster line's fields, split on purpose
set -- $cluster
version=$1 name=$2 port=$3 status=$4
# NOTE: no systemd here: pg_ctlcluster starts the server directly (it refuses to run it as root itself).
[ "$status" = online ] || pg_ctlcluster "$version" "$name" start >&2
as_postgres psql -p "$port" -qtAc "SELECT 1 FROM pg_roles WHERE rolname = 'kiosk_test'" | grep -q 1 ||
    as_postgres psql -p "$port" -qc "CREATE ROLE kiosk_test LOGIN PASSWORD 'kiosk_test' CREATEDB" >&2
as_postgres psql -p "$port" -qtAc "SELECT 1 FROM pg_database WHERE datname = 'kiosk_test'" | grep -q 1 ||
    as_postgres createdb -p "$port" -O kiosk_test kiosk_test >&2
echo "postgresql+psycopg://kiosk_test:kiosk_test@127.0.0.1:$port/kiosk_test"
