#!/usr/bin/env bash
# A/B of server binaries on one flow-load scenario, alternating them run by run so that all see
# the same moments of a noisy machine; then the medians of each side.
#
#   scripts/bench/ab.sh OLD_SERVER NEW_SERVER [MORE_SERVERS...] [flow-load run arguments...]
#   RUNS=5 scripts/bench/ab.sh /tmp/server-97a80d5 target/release/openova-flow-server \
#       --preset ingest -F 1 --duration 10s --baseline
#   scripts/bench/ab.sh musl=/tmp/musl glibc=target/release/openova-flow-server --preset idle
#
# Servers are the arguments before the first one that starts with `-`; each is PATH or
# NAME=PATH, and its reports land in $OUT/NAME (default names: a, b, c, ...). LOAD=/path/flow-load
# picks the tool (default: target/release/flow-load). $OUT defaults to target/bench/ab-<date>;
# each side's reports are run-<i>.json.
set -euo pipefail
cd "$(dirname "$0")/../.."

names=()
servers=()
while [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; do
  case "$1" in
    *=*) names+=("${1%%=*}"); servers+=("${1#*=}") ;;
    *) names+=("$(printf "\\$(printf '%03o' $((97 + ${#names[@]})))")"); servers+=("$1") ;;
  esac
  shift
done
if [ ${#servers[@]} -lt 2 ]; then
  echo "usage: $0 OLD_SERVER NEW_SERVER [MORE_SERVERS...] [flow-load run arguments...]" >&2
  exit 64
fi
RUNS=${RUNS:-3}
LOAD=${LOAD:-${CARGO_TARGET_DIR:-target}/release/flow-load}
OUT=${OUT:-target/bench/ab-$(date -u +%Y%m%dT%H%M%S)}
for k in "${!servers[@]}"; do
  mkdir -p "$OUT/${names[$k]}"
  echo "${names[$k]} = ${servers[$k]}"
done
echo "reports: $OUT"
for i in $(seq 1 "$RUNS"); do
  for k in "${!servers[@]}"; do
    side=${names[$k]}
    echo "== $side run $i"
    "$LOAD" run --quiet --spawn-server "${servers[$k]}" --json "$OUT/$side/run-$i.json" "$@" \
      || echo "   (exit $?: see the report)"
  done
done
for side in "${names[@]}"; do
  echo "## $side"
  python3 scripts/bench/summarize.py "$OUT/$side"
done
