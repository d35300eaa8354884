#!/usr/bin/env bash
# Load figures of the Redis backend beside the in-memory one, in one invocation (issue 9):
#   memory      the in-memory server (spawned by flow-load)
#   redis-1     one server on Redis (spawned by flow-load)
#   redis-2     two servers on one Redis: publishers POST to replica A, subscribers stream from
#               replica B (every event crosses Redis: A's engine admits it, the Lua append
#               publishes it, B's engine applies it)
# for the fanout and ingest-1 presets, RUNS times each, then summarize.py's medians.
#
#   scripts/bench/redis.sh                       # builds release binaries first
#   RUNS=1 DURATION=5s scripts/bench/redis.sh
#   SERVER=... LOAD=... scripts/bench/redis.sh   # prebuilt binaries
#
# The replicas get flow-load's own load settings (bins/flow-load/src/server.rs: no rate limits,
# no per-client bounds), as the servers it spawns do.
# Needs redis-server (Debian's package); it is started on a loopback port without persistence
# and stopped at the end, as are the two replicas.
set -euo pipefail
cd "$(dirname "$0")/../.."

RUNS=${RUNS:-3}
DURATION=${DURATION:-10s}
OUT=${OUT:-target/bench/redis-$(date -u +%Y%m%dT%H%M%S)}
TARGET_DIR=${CARGO_TARGET_DIR:-target}
REDIS_PORT=${REDIS_PORT:-16379}
PORT_A=${PORT_A:-18081}
PORT_B=${PORT_B:-18082}
ulimit -n "$(ulimit -Hn)"

if [ -z "${SERVER:-}" ] || [ -z "${LOAD:-}" ]; then
  cargo build --release -p openova-flow-server -p flow-load
fi
SERVER=${SERVER:-$TARGET_DIR/release/openova-flow-server}
LOAD=${LOAD:-$TARGET_DIR/release/flow-load}
mkdir -p "$OUT"
echo "reports: $OUT"

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no >"$OUT/redis.log" 2>&1 &
pids+=($!)
until redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; do sleep 0.1; done
REDIS_URL="redis://127.0.0.1:$REDIS_PORT"

replica() { # port
  FLOW_SERVER_LISTEN_ADDR="127.0.0.1:$1" FLOW_SERVER_BACKEND=redis FLOW_SERVER_REDIS_URL="$REDIS_URL" \
  FLOW_SERVER_INGEST_RATE=0 FLOW_SERVER_MAX_SUBSCRIBERS=100000 FLOW_SERVER_MAX_FLOWS=100000 \
  FLOW_SERVER_MAX_CONNECTIONS=200000 FLOW_SERVER_MAX_CONNECTIONS_PER_IP=200000 \
  FLOW_SERVER_MAX_WAITERS=100000 FLOW_SERVER_MAX_WAITERS_PER_IP=100000 \
  FLOW_SERVER_NEW_FLOWS_PER_MINUTE=0 FLOW_SERVER_REQUEST_HEAD_TIMEOUT=1h \
  FLOW_SERVER_LOG=warn "$SERVER" >"$OUT/replica-$1.log" 2>&1 &
  pids+=($!)
  until curl -fsS "http://127.0.0.1:$1/readyz" >/dev/null 2>&1; do sleep 0.1; done
}

load() { # name, then flow-load run arguments
  local name=$1; shift
  for i in $(seq 1 "$RUNS"); do
    echo "== $name run $i: flow-load run $*"
    "$LOAD" run --quiet --json "$OUT/$name-$i.json" "$@" || echo "   (exit $?: see the report)"
  done
}

redis_env=(--server-env FLOW_SERVER_BACKEND=redis --server-env "FLOW_SERVER_REDIS_URL=$REDIS_URL")
load memory-fanout --preset fanout --duration "$DURATION" --spawn-server "$SERVER"
load memory-ingest-1 --preset ingest -F 1 --duration "$DURATION" --spawn-server "$SERVER"
load redis-1-fanout --preset fanout --duration "$DURATION" --spawn-server "$SERVER" "${redis_env[@]}"
load redis-1-ingest-1 --preset ingest -F 1 --duration "$DURATION" --spawn-server "$SERVER" "${redis_env[@]}"

replica "$PORT_A"
replica "$PORT_B"
load redis-2-fanout --preset fanout --duration "$DURATION" \
  --url "http://127.0.0.1:$PORT_A" --subscribe-url "http://127.0.0.1:$PORT_B"

python3 scripts/bench/summarize.py "$OUT"
