#!/usr/bin/env bash
# Minimal stand-in for the official postgres image's entrypoint (no registry here):
# POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB on first start, data in $PGDATA.
set -euo pipefail
PGBIN=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
export PGDATA=${PGDATA:-/var/lib/postgresql/data}
mkdir -p "$PGDATA" /run/postgresql
chown -R postgres:postgres "$PGDATA" /run/postgresql
chmod 0700 "$PGDATA"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    pwfile=$(mktemp)
    printf '%s\n' "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required}" >"$pwfile"
    chown postgres "$pwfile"
    # UTF8 like the official image (without a locale initdb would pick SQL_ASCII).
    su postgres -c "$PGBIN/initdb -D $PGDATA -U ${POSTGRES_USER:-postgres} --pwfile=$pwfile --auth=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8" >/dev/null
    rm -f "$pwfile"
    echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
    echo "host all all 0.0.0.0/0 scram-sha-256" >>"$PGDATA/pg_hba.conf"
    if [ -n "${POSTGRES_DB:-}" ] && [ "${POSTGRES_DB}" != "postgres" ]; then
        su postgres -c "$PGBIN/postgres --single -D $PGDATA postgres" >/dev/null <<SQL
CREATE DATABASE "${POSTGRES_DB}" OWNER "${POSTGRES_USER:-postgres}";
SQL
    fi
fi
# setpriv execs postgres as PID 1 so `docker stop` delivers SIGTERM to it directly.
exec setpriv --reuid=postgres --regid=postgres --init-groups "$PGBIN/postgres" -D "$PGDATA"
