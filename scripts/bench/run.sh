#!/usr/bin/env bash
# Runs every flow-load scenario against a freshly spawned release server, RUNS times each, the
# subscriber sweep for the plot, then summarises (medians) and draws docs/bench/fanout-sweep.png.
#
#   scripts/bench/run.sh                 # everything (about 15 minutes on 2 cores)
#   SCENARIOS="fanout idle" scripts/bench/run.sh
#   RUNS=1 DURATION=5s scripts/bench/run.sh
#   SERVER=/path/openova-flow-server LOAD=/path/flow-load scripts/bench/run.sh   # no build
#
# Reports land in $OUT (default target/bench/<date>), one JSON per run.
set -euo pipefail
cd "$(dirname "$0")/../.."

RUNS=${RUNS:-3}
DURATION=${DURATION:-10s}
SCENARIOS=${SCENARIOS:-"fanout fanout-half ingest-1 ingest-pipe ingest mixed churn idle sweep"}
SWEEP=${SWEEP:-"10 30 100 300 1000 3000 10000"}
OUT=${OUT:-target/bench/$(date -u +%Y%m%dT%H%M%S)}
TARGET_DIR=${CARGO_TARGET_DIR:-target}

# 10,000 subscribers need 10,000 sockets in the tool and as many in the server.
ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" -lt 20000 ]; then
  echo "warning: ulimit -n is $(ulimit -n); the idle and 10,000-subscriber runs need ~10,100" >&2
fi

# SERVER / LOAD may point at prebuilt binaries (for example a server built from another commit).
if [ -z "${SERVER:-}" ] || [ -z "${LOAD:-}" ]; then
  cargo build --release -p openova-flow-server -p flow-load
fi
SERVER=${SERVER:-$TARGET_DIR/release/openova-flow-server}
LOAD=${LOAD:-$TARGET_DIR/release/flow-load}
mkdir -p "$OUT"
echo "reports: $OUT"

load() { # name, then flow-load run arguments
  local name=$1; shift
  for i in $(seq 1 "$RUNS"); do
    echo "== $name run $i: flow-load run $*"
    "$LOAD" run --quiet --spawn-server "$SERVER" --json "$OUT/$name-$i.json" "$@" \
      || echo "   (exit $?: see the report)"
  done
}

for scenario in $SCENARIOS; do
  case $scenario in
    fanout)      load fanout --preset fanout --duration "$DURATION" --baseline ;;
    fanout-half) load fanout-half --preset fanout --duration "$DURATION" --rate 500 --baseline ;;
    ingest-1)    load ingest-1 --preset ingest -F 1 --duration "$DURATION" --baseline ;;
    ingest-pipe) load ingest-pipe --preset ingest -F 1 --pipeline 16 --duration "$DURATION" --baseline ;;
    ingest)      load ingest --preset ingest --duration "$DURATION" ;;
    mixed)       load mixed --preset mixed --duration "$DURATION" --baseline ;;
    churn)       load churn --preset churn --duration "$DURATION" ;;
    idle)        load idle --preset idle ;;
    sweep)
      for s in $SWEEP; do
        # The in-process baseline holds both ends of every connection: 2 x S sockets.
        baseline=--baseline; [ "$s" -gt 9000 ] && baseline=
        RUNS=1 load "sweep-$s" --preset fanout -S "$s" --duration 5s $baseline \
          --sample-every "$(( s >= 100 ? s / 20 : 1 ))"
      done ;;
    *) echo "unknown scenario $scenario" >&2; exit 64 ;;
  esac
done

python3 scripts/bench/summarize.py "$OUT"
if python3 -c 'import matplotlib' 2>/dev/null; then
  python3 scripts/bench/plot.py "$OUT" docs/bench/fanout-sweep.png
else
  echo "matplotlib missing (python3 -m pip install matplotlib): plot skipped" >&2
fi
