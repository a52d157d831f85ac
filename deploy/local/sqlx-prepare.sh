#!/usr/bin/env bash
# Describes every checked query (sqlx `query!`) against a database migrated
# to the current schema and writes the descriptions into DIR (default
# .sqlx). DATABASE_URL names a server's postgres database (default: the
# local server).
set -euo pipefail
cd "$(dirname "$0")/../.."
out="$(pwd)/${1:-.sqlx}"
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
cargo build --quiet -p bss-platform --bin bss-migrate
schemas=(accounts=services/accounts/migrations pricing=services/pricing/migrations
  credit=services/credit/migrations billing=services/billing/migrations
  reseller_sync=services/reseller-sync/migrations)
# A database of this run's own, dropped at the end.
database="bss_sqlx_prepare_$$"
trap 'target/debug/bss-migrate --drop "$database" >/dev/null' EXIT
url="$(target/debug/bss-migrate "$database" "${schemas[@]}")"
rm -rf "$out"
mkdir -p "$out"
# The crates holding checked queries compile once more, online, each query
# described by the database and its description written to $out.
crates=(bss-billing bss-credit)
for crate in "${crates[@]}"; do
  touch "services/${crate#bss-}/src/lib.rs"
done
SQLX_OFFLINE=false DATABASE_URL="$url" SQLX_OFFLINE_DIR="$out" \
  cargo build --quiet $(printf -- '-p %s ' "${crates[@]}")
echo "sqlx: $(ls "$out" | wc -l) checked queries described in ${out#"$(pwd)/"}"
