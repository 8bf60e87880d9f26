#!/usr/bin/env bash
# Start the machine's PostgreSQL and make a role and database for the test suite (run as root).
# Prints the SQLAlchemy URL of the database on its last line.
set -euo pipefail
if ! command -v pg_lsclusters >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
read -r version cluster < <(pg_lsclusters --no-header | awk 'NR==1 {print $1, $2}')
if [ -z "${version:-}" ]; then
  version=$(ls /usr/lib/postgresql | sort -n | tail -1)
  cluster=main
  pg_createcluster "$version" "$cluster" >/dev/null
fi
pg_ctlcluster "$version" "$cluster" start 2>/dev/null || pg_ctlcluster "$version" "$cluster" status >/dev/null
for _ in $(seq 1 30); do
  su postgres -c "pg_isready -q" && break
  sleep 1
done
su postgres -c "psql -q -v ON_ERROR_STOP=1" <<'SQL'
SELECT 'CREATE ROLE lodestone LOGIN CREATEDB PASSWORD ''lodestone'''
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'lodestone')\gexec
SELECT 'CREATE DATABASE lodestone OWNER lodestone'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'lodestone')\gexec
-- DROP DATABASE ... WITH (FORCE) of a test database must also end an autovacuum worker that just started there.
GRANT pg_signal_backend TO lodestone;
SQL
# The read-replica tests (tests/replica.py) run pg_basebackup as postgres over the local socket: the
# stock pg_hba.conf allows it; a cluster made otherwise gets the line.
hba=$(su postgres -c "psql -Atc 'SHOW hba_file'")
if ! grep -Eq '^[[:space:]]*local[[:space:]]+replication[[:space:]]+(all|postgres)[[:space:]]' "$hba"; then
  echo "local replication postgres peer" >>"$hba"
  su postgres -c "psql -qAtc 'SELECT pg_reload_conf()'" >/dev/null
fi
port=$(pg_lsclusters --no-header | awk -v v="$version" -v c="$cluster" '$1 == v && $2 == c {print $3}')
echo "postgresql+psycopg://lodestone:lodestone@127.0.0.1:${port}/lodestone"
