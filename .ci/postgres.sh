#!/usr/bin/env bash
# Install PostgreSQL from Debian, start a cluster, create a user and a database for the tests, and print the URL
# on stdout (everything else goes to stderr). Needs root. Usage in CI:
#   export LMREC_TEST_POSTGRES_URL="$(.ci/postgres.sh)"
set -euo pipefail
DB_NAME="${LMREC_PG_DB:-lmrec_test}"
DB_USER="${LMREC_PG_USER:-lmrec}"
DB_PASS="${LMREC_PG_PASSWORD:-lmrec}"
PORT="${LMREC_PG_PORT:-5432}"

if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; } >&2
fi
VERSION="$(ls /usr/lib/postgresql | sort -V | tail -n1)"
BIN="/usr/lib/postgresql/${VERSION}/bin"

if command -v pg_lsclusters >/dev/null 2>&1 && pg_lsclusters -h | grep -q "^${VERSION} main"; then
  # Debian's packaged cluster: start it with pg_ctlcluster (no systemd in containers)
  pg_ctlcluster "${VERSION}" main start >&2 2>/dev/null || true
  PORT="$(pg_lsclusters -h | awk -v v="${VERSION}" '$1==v && $2=="main" {print $3}')"
else
  # no packaged cluster: make one with initdb / pg_ctl as the postgres user
  DATA=/var/lib/postgresql/lmrec-ci
  if [ ! -f "${DATA}/PG_VERSION" ]; then
    install -d -o postgres -g postgres "${DATA}"
    su postgres -c "${BIN}/initdb -D ${DATA} -A trust" >&2
  fi
  install -d -o postgres -g postgres /var/run/postgresql
  su postgres -c "${BIN}/pg_ctl -D ${DATA} -o '-p ${PORT} -k /var/run/postgresql' -l ${DATA}/server.log -w start" >&2 || true
fi

for _ in $(seq 1 60); do
  su postgres -c "${BIN}/pg_isready -q -p ${PORT} -h /var/run/postgresql" && break
  sleep 0.5
done

su postgres -c "psql -q -p ${PORT} -v ON_ERROR_STOP=1" >&2 <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${DB_USER}') THEN
    CREATE ROLE ${DB_USER} LOGIN PASSWORD '${DB_PASS}';
  END IF;
END \$\$;
SQL
if ! su postgres -c "psql -p ${PORT} -tAc \"SELECT 1 FROM pg_database WHERE datname='${DB_NAME}'\"" | grep -q 1; then
  su postgres -c "createdb -p ${PORT} -O ${DB_USER} ${DB_NAME}" >&2
fi
echo "postgresql://${DB_USER}:${DB_PASS}@127.0.0.1:${PORT}/${DB_NAME}"
