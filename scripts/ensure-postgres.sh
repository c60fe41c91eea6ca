#!/usr/bin/env bash
# Make sure the PostgreSQL the tests use is reachable; start the local cluster if it is down,
# and give it pgvector (scripts/ensure-pgvector.sh: the fabric's chart_embedding needs it).
# The fabric's PostgreSQL tests must run (never skip) in CI, so failure here is fatal.
set -euo pipefail
DSN="${LOTUS_TEST_PG_DSN:-postgresql://postgres@127.0.0.1:5432/postgres}"
HOST=127.0.0.1
PORT=5432

ready() { pg_isready -q -h "$HOST" -p "$PORT" 2>/dev/null; }
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if ! command -v pg_isready >/dev/null 2>&1; then
  echo "ensure-postgres: pg_isready not found; installing postgresql" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi

if ready; then
  echo "ensure-postgres: PostgreSQL is up on $HOST:$PORT"
  exec bash "$HERE/ensure-pgvector.sh"
fi

echo "ensure-postgres: PostgreSQL is down on $HOST:$PORT; starting it" >&2
if [ -d /etc/postgresql ]; then
  for version in $(ls /etc/postgresql); do
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  done
fi
for _ in $(seq 1 30); do
  ready && { echo "ensure-postgres: PostgreSQL started"; exec bash "$HERE/ensure-pgvector.sh"; }
  sleep 1
done
echo "ensure-postgres: cannot reach PostgreSQL at $HOST:$PORT ($DSN); the fabric tests need it" >&2
exit 1
