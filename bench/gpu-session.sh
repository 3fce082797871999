#!/usr/bin/env bash
# The measurements of one short session on a lent GPU (about 10 minutes on an H100; see the README,
# "Speed against the targets"): the full bench of the 0.8B shape, then the interleaved A/B runs of
# the choices that wait for a GPU. Each run has its own time limit, and a failed or cut-off run
# does not stop the next one. Results go to OUT_DIR/{bench,int8,chunks}.
#   bench/gpu-session.sh OUT_DIR
set -uo pipefail
out=${1:?usage: bench/gpu-session.sh OUT_DIR}
cd "$(dirname "$0")/.."
run() {
  local limit=$1
  shift
  timeout "$limit" node bin/qwen35.js bench "$@" || echo "bench $* ended with status $?" >&2
}
run 330 --models 0.8B --format q4 --out "$out/bench"
run 120 --models 0.8B --format q4 --compare-int8-activations --scenarios decode --decode-contexts 0,1024 --decode-tokens 64 --reps 3 --out "$out/int8"
run 120 --models 0.8B --format q4 --compare-prefill-chunks 128,512 --scenarios prefill --prefill-lengths 512,2048 --reps 3 --out "$out/chunks"
