#!/usr/bin/env bash
# The image's build stage: the release binary of every service, copied to
# OUT. `make image-binaries` runs the same script outside Docker, so CI
# proves the command works where no Docker engine runs.
#
#   deploy/docker/build-binaries.sh OUT
set -euo pipefail
OUT=$(realpath -m "${1:?usage: build-binaries.sh OUT}")
BINARIES=(bss-gateway bss-accounts bss-pricing bss-credit bss-billing bss-reseller-sync bss-console bssctl)
cd "$(dirname "$0")/../.."
packages=()
for binary in "${BINARIES[@]}"; do packages+=(-p "$binary"); done
# The commit bss_build_info reports (the Dockerfile passes it in as a build
# argument; here it is read from git when there is one).
if [ -z "${BSS_GIT_COMMIT:-}" ] && git rev-parse HEAD >/dev/null 2>&1; then
  BSS_GIT_COMMIT=$(git rev-parse HEAD)
fi
export BSS_GIT_COMMIT=${BSS_GIT_COMMIT:-unknown}
cargo build --release --locked "${packages[@]}"
mkdir -p "$OUT"
for binary in "${BINARIES[@]}"; do
  install -m 0755 "target/release/$binary" "$OUT/$binary"
  # The line tables stay in target/ for profiling; the image keeps symbols
  # (readable backtraces) and sheds the rest.
  if command -v strip >/dev/null; then strip --strip-debug "$OUT/$binary"; fi
done
echo "built ${BINARIES[*]} into $OUT"
