#!/bin/sh
# bench_pool.sh [BUILD_DIR] [EVENTS] [RUNS] — verified events/s through the relay pool on one core.
# The pool (bench_pool) runs pinned to CPU 0, the flood server (node) to CPU 1.
set -eu
BUILD=${1:-build-bench}
N=${2:-100000}
RUNS=${3:-5}
SRC=$(cd "$(dirname "$0")/.." && pwd)
TMP=$(mktemp -d)
trap 'kill $RELAY_PID 2>/dev/null || true; rm -rf "$TMP"' EXIT INT TERM
PORT=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
"$BUILD/bench/bench_pool" --generate "$TMP/events.jsonl" --events "$N"
taskset -c 1 node "$SRC/bench/flood_relay.mjs" --port "$PORT" --events "$TMP/events.jsonl" > "$TMP/relay.out" &
RELAY_PID=$!
while ! grep -q READY "$TMP/relay.out" 2>/dev/null; do sleep 0.1; done
i=0
while [ $i -lt "$RUNS" ]; do
  taskset -c 0 "$BUILD/bench/bench_pool" --relay "ws://127.0.0.1:$PORT" --events "$N" --verify-file "$TMP/events.jsonl"
  i=$((i + 1))
done
