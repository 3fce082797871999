#!/usr/bin/env bash
# Installs the runtime dependencies alone (no test or build tools) into DIR/node_modules, keeping
# only one platform's Dawn binary: about 46 MB for linux-x64, small enough to copy along with the
# checkout to a machine that cannot reach the npm registry (a benchmark box), where it replaces
# node_modules for `npm run bench` and `npm start`. Run it on the target's OS and CPU (esbuild's
# binary is the one npm picks for this machine).
#   bench/offline-deps.sh DIR [PLATFORM]     PLATFORM: a folder of webgpu's dist/ (default linux-x64)
set -euo pipefail
dir=${1:?usage: bench/offline-deps.sh DIR [PLATFORM]}
platform=${2:-linux-x64}
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$dir"
cp "$root/package.json" "$root/package-lock.json" "$dir/"
(cd "$dir" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund)
[ -d "$dir/node_modules/webgpu/dist/$platform" ] || { echo "webgpu has no dist/$platform" >&2; exit 1; }
for d in "$dir"/node_modules/webgpu/dist/*/; do
  [ "$(basename "$d")" = "$platform" ] || rm -rf "$d"
done
du -sh "$dir/node_modules"
