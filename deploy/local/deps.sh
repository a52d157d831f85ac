#!/usr/bin/env bash
# Installs what `make run`, `make test`, `make lint` and `make bench` need
# and this machine lacks: PostgreSQL's server binaries (initdb, pg_ctl,
# pgbench) for the private Postgres, Python's venv for the generated Python
# client, Node's npm for buf, the TypeScript client and the console, and
# (with --browser, as `make test` asks) Chromium for the console's browser
# test, (with --lint, as `make lint` asks) promtool for the alert rules.
# Debian packages, installed when root.
#
#   deploy/local/deps.sh [--browser | --lint]
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }

postgres_bin_dir() {
  local dir
  dir=$(pg_config --bindir 2>/dev/null || true)
  if [ -n "$dir" ] && [ -x "$dir/initdb" ]; then echo "$dir"; return; fi
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

missing=()
bin_dir=$(postgres_bin_dir)
if [ -z "$bin_dir" ] || [ ! -x "$bin_dir/initdb" ] || [ ! -x "$bin_dir/pgbench" ]; then
  missing+=(postgresql)
fi
if ! have psql; then missing+=(postgresql-client); fi
if ! have python3 || ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  missing+=(python3 python3-venv)
fi
if ! have npx; then missing+=(nodejs npm); fi
if ! have h2load; then missing+=(nghttp2-client); fi
if [ "${1:-}" = --browser ] && ! have chromium; then missing+=(chromium); fi
# promtool comes with Debian's prometheus (its server is installed, not run).
if [ "${1:-}" = --lint ] && ! have promtool; then missing+=(prometheus); fi

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && have apt-get; then
    echo "installing: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "this machine lacks: ${missing[*]} (install them with your package manager)" >&2
    exit 1
  fi
fi

# The console's build (vite 8) needs Node 20.19+ or 22.12+ (Debian 12's
# own nodejs is 18: take Node from nodejs.org or NodeSource there).
node_version=$(node -p 'process.versions.node' 2>/dev/null || echo 0.0.0)
IFS=. read -r major minor _ <<<"$node_version"
if ! { [ "$major" -eq 20 ] && [ "$minor" -ge 19 ]; } && ! { [ "$major" -eq 22 ] && [ "$minor" -ge 12 ]; } \
  && ! [ "$major" -ge 23 ]; then
  echo "the console needs Node 20.19+ or 22.12+; this machine has $node_version (nodejs.org or NodeSource)" >&2
  exit 1
fi
