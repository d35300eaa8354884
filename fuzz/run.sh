#!/usr/bin/env bash
# Runs one fuzz target for a number of seconds, its corpus seeded from the shared test vectors.
#   fuzz/run.sh <target> [seconds]        e.g. fuzz/run.sh contract_decode 60
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz --locked`).
set -euo pipefail
target=${1:?usage: fuzz/run.sh <target> [seconds]}
seconds=${2:-60}
cd "$(dirname "$0")"
seeds=()
case "$target" in
  contract_decode) seeds=(../testdata/contract/valid ../testdata/contract/invalid) ;;
  router_ops|last_event_id) seeds=(../testdata/sse) ;;
  mapper) seeds=(../testdata/helmrelease ../testdata/kustomization) ;;
esac
mkdir -p "corpus/$target"
existing=()
for s in "${seeds[@]}"; do [ -d "$s" ] && existing+=("$s"); done
# -max_len: the vectors include an 80 KB list; keep inputs big enough to reach every limit.
exec cargo +nightly fuzz run "$target" "corpus/$target" "${existing[@]}" -- \
  -max_total_time="$seconds" -max_len=131072 -timeout=10
