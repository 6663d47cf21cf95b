#!/usr/bin/env bash
# Makes sure a PostgreSQL server answers on 127.0.0.1:5432 with trust auth and a database `test`, so the
# PostgreSQL inbox tests run instead of skipping. Development and CI machines already run one; a fresh machine
# gets Debian's package. Idempotent.
set -uo pipefail

ready() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v pg_isready >/dev/null 2>&1 || ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
  echo "postgres: not installed; installing Debian's postgresql package"
  as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null \
    || { echo "postgres: install failed; the PostgreSQL tests will say that they skip"; exit 0; }
fi

if ! ready; then
  for version in $(ls /etc/postgresql); do
    hba=/etc/postgresql/$version/main/pg_hba.conf
    # Loopback-only trust, as on the development machines; never a wider address.
    if ! grep -qE '^host\s+all\s+all\s+127\.0\.0\.1/32\s+trust' "$hba"; then
      as_root sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
    fi
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null || true
  done
  for _ in $(seq 1 30); do ready && break; sleep 1; done
fi

if ready; then
  psql -h 127.0.0.1 -U postgres -tAc "select 1 from pg_database where datname = 'test'" 2>/dev/null | grep -q 1 \
    || psql -h 127.0.0.1 -U postgres -c "create database test" >/dev/null 2>&1 || true
  echo "postgres: ready on 127.0.0.1:5432"
else
  echo "postgres: not reachable on 127.0.0.1:5432; the PostgreSQL tests will say that they skip"
fi
