#!/usr/bin/env bash
# A/B of two server binaries on one flow-load scenario, alternating A and B run by run so that
# both see the same moments of a noisy machine; then the medians of each side.
#
#   scripts/bench/ab.sh OLD_SERVER NEW_SERVER [flow-load run arguments...]
#   RUNS=5 scripts/bench/ab.sh /tmp/server-97a80d5 target/release/openova-flow-server \
#       --preset ingest -F 1 --duration 10s --baseline
#
# LOAD=/path/flow-load picks the tool (default: target/release/flow-load). Reports land in $OUT
# (default target/bench/ab-<date>) as a-<i>.json and b-<i>.json.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ $# -lt 2 ]; then
  echo "usage: $0 OLD_SERVER NEW_SERVER [flow-load run arguments...]" >&2
  exit 64
fi
A=$1 B=$2
shift 2
RUNS=${RUNS:-3}
LOAD=${LOAD:-${CARGO_TARGET_DIR:-target}/release/flow-load}
OUT=${OUT:-target/bench/ab-$(date -u +%Y%m%dT%H%M%S)}
mkdir -p "$OUT/a" "$OUT/b"
echo "A = $A"
echo "B = $B"
echo "reports: $OUT"
for i in $(seq 1 "$RUNS"); do
  for side in a b; do
    server=$A; [ "$side" = b ] && server=$B
    echo "== $side run $i"
    "$LOAD" run --quiet --spawn-server "$server" --json "$OUT/$side/run-$i.json" "$@" \
      || echo "   (exit $?: see the report)"
  done
done
for side in a b; do
  echo "## $side"
  python3 scripts/bench/summarize.py "$OUT/$side"
done
