#!/usr/bin/env bash
# A/B of a replica's first load and `GET snapshot` on Redis (scripts/bench/first_load.py) for
# two server binaries, alternated round by round: for each build and each log length, a
# flushed Redis and two fresh replicas (one seeds, the other is measured).
#
#   scripts/bench/redis_snapshot_ab.sh OLD_SERVER NEW_SERVER
#
# Needs redis-server and redis-cli; uses ports 6391, 18717 and 18718 on loopback.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ $# -ne 2 ]; then
  echo "usage: $0 OLD_SERVER NEW_SERVER" >&2
  exit 64
fi
ROUNDS=${ROUNDS:-2}
redis-server --port 6391 --save '' --appendonly no --daemonize yes --logfile /tmp/redis-6391.log
trap 'redis-cli -p 6391 shutdown nosave >/dev/null 2>&1 || true' EXIT
for round in $(seq 1 "$ROUNDS"); do
  for side in a b; do
    server=$1; [ "$side" = b ] && server=$2
    for messages in 10 4096; do
      redis-cli -p 6391 flushall >/dev/null
      pids=()
      for port in 18717 18718; do
        FLOW_SERVER_BACKEND=redis FLOW_SERVER_REDIS_URL=redis://127.0.0.1:6391 \
          FLOW_SERVER_LISTEN_ADDR=127.0.0.1:$port FLOW_SERVER_INGEST_RATE=0 FLOW_SERVER_LOG=warn \
          "$server" >/dev/null 2>&1 &
        pids+=($!)
      done
      for port in 18717 18718; do
        for _ in $(seq 50); do
          curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
          sleep 0.1
        done
      done
      echo "== $side round $round, $messages messages"
      python3 scripts/bench/first_load.py --port 18717 --pid "${pids[0]}" --seed-port 18718 \
        --messages "$messages" | tail -1
      kill "${pids[@]}"
      wait "${pids[@]}" 2>/dev/null || true
    done
  done
done
