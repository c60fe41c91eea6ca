#!/usr/bin/env bash
# The production profile keeps each chart's shape embedding in PostgreSQL as a pgvector
# `vector` (sql/postgres/0010_chart_embedding.sql, docs/vision.md). Debian 12's own packages do
# not carry pgvector, so when the local server lacks it this builds Debian's source package
# of it (pgvector_0.8.0-1, from Debian's archive; apt checks it against the signed index)
# against the server's headers (postgresql-server-dev-<major>) and installs it. Portable
# flags (no -march=native), so the library runs on any x86-64 or arm64 machine.
set -euo pipefail
HOST=127.0.0.1
PORT=5432
PGV_VERSION=0.8.0-1
psql_do() { psql -h "$HOST" -p "$PORT" -U postgres -d postgres -Atc "$1"; }

if [ "$(psql_do "SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'")" = 1 ]; then
  echo "ensure-pgvector: pgvector $(psql_do "SELECT default_version FROM pg_available_extensions WHERE name = 'vector'") is available"
  exit 0
fi
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
major="$(psql_do "SHOW server_version_num" | cut -c1-2)"
pg_config="/usr/lib/postgresql/$major/bin/pg_config"
echo "ensure-pgvector: building pgvector $PGV_VERSION for PostgreSQL $major (not in Debian 12's packages)" >&2
# pg_config ships with the server package; the headers come only with server-dev.
if [ ! -x "$pg_config" ] || [ ! -f "$("$pg_config" --includedir-server)/postgres.h" ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "postgresql-server-dev-$major" make gcc dpkg-dev >/dev/null
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial"
echo "deb-src http://deb.debian.org/debian trixie main" > "$work/sources.list"
apt_opts=(-o "Dir::Etc::SourceList=$work/sources.list" -o Dir::Etc::SourceParts=/dev/null
          -o "Dir::State::Lists=$work/lists" -o APT::Sandbox::User=root)
apt-get "${apt_opts[@]}" update -qq
(cd "$work" && apt-get "${apt_opts[@]}" source --download-only -qq "pgvector=$PGV_VERSION")
tar -xzf "$work"/pgvector_*.orig.tar.gz -C "$work"
make -s -C "$work"/pgvector-*/ PG_CONFIG="$pg_config" OPTFLAGS="" >/dev/null
$SUDO make -s -C "$work"/pgvector-*/ PG_CONFIG="$pg_config" install >/dev/null
[ "$(psql_do "SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'")" = 1 ] || {
  echo "ensure-pgvector: pgvector did not install into PostgreSQL $major" >&2; exit 1; }
echo "ensure-pgvector: pgvector $PGV_VERSION installed for PostgreSQL $major"
