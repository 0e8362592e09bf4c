#!/usr/bin/env bash
# bench_http.sh — figures for the HTTP front (src/http/) with tests/integration/http_driver's fake
# routes: JSON requests/s on keep-alive connections, complete SSE streams/s, and RSS per open SSE
# stream. It prints figures and never fails on them. Use a build without sanitizers:
#
#   cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build -j2
#   BUILD_DIR=build bench/bench_http.sh [seconds per run, default 10] [runs, default 3]
#
# Needs wrk (apt-get install wrk) and node. The driver writes its access log to /dev/null, but
# still formats it, as the daemon would.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
BUILD_DIR=${BUILD_DIR:-$here/../build}
DRIVER=${NB_HTTP_DRIVER:-$BUILD_DIR/tests/http_driver}
SECS=${1:-10}
RUNS=${2:-3}
command -v wrk >/dev/null || { echo "bench_http: wrk not found (apt-get install wrk)" >&2; exit 2; }
[ -x "$DRIVER" ] || { echo "bench_http: $DRIVER not built" >&2; exit 2; }

tmp=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

"$DRIVER" --bind 127.0.0.1:0 --heartbeat-ms 10000 >"$tmp/out" 2>/dev/null &
pid=$!
for _ in $(seq 100); do grep -q '"listening"' "$tmp/out" 2>/dev/null && break; sleep 0.05; done
port=$(sed -n 's/.*"port":\([0-9]*\).*/\1/p' "$tmp/out" | head -1)
[ -n "$port" ] || { echo "bench_http: the driver did not start" >&2; exit 1; }
base="http://127.0.0.1:$port"

cat >"$tmp/json.lua" <<'EOF'
wrk.method = "POST"
wrk.body = '{"mode":"json"}'
wrk.headers["Content-Type"] = "application/json"
EOF
cat >"$tmp/sse.lua" <<'EOF'
wrk.method = "POST"
wrk.body = '{"mode":"stream","chunks":10,"interval_ms":1,"bytes":100}'
wrk.headers["Content-Type"] = "application/json"
EOF

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

run() { # name, wrk args…
  local name=$1; shift
  local rps=() p50=() p99=()
  for _ in $(seq "$RUNS"); do
    wrk --latency -d "${SECS}s" "$@" >"$tmp/wrk" 2>&1
    rps+=("$(awk '/Requests\/sec/ {print $2}' "$tmp/wrk")")
    p50+=("$(awk '$1=="50%" {print $2}' "$tmp/wrk")")
    p99+=("$(awk '$1=="99%" {print $2}' "$tmp/wrk")")
  done
  printf '%-34s req/s median %-10s runs: %s | p50 %s | p99 %s\n' "$name" \
    "$(printf '%s\n' "${rps[@]}" | median)" "${rps[*]}" "${p50[*]}" "${p99[*]}"
}

echo "bench_http: $DRIVER, ${SECS}s x $RUNS runs, $(nproc) cores (wrk shares them)"
run "GET /health (keep-alive, 50 conns)" -t2 -c50 "$base/health"
run "POST chat JSON (keep-alive, 50 conns)" -t2 -c50 -s "$tmp/json.lua" "$base/proj/chat/completions"
run "SSE streams, 10 chunks (50 conns)" -t2 -c50 -s "$tmp/sse.lua" "$base/proj/chat/completions"

# RSS per open stream: open N idle SSE streams and compare the driver's RSS before and after.
rss() { awk '/VmRSS/ {print $2}' "/proc/$pid/status"; }
for n in 1000 5000; do
  before=$(rss)
  PORT=$port N=$n PID=$pid node --input-type=module -e '
    import http from "node:http";
    const { PORT, N } = process.env;
    const socks = [];
    let open = 0;
    await new Promise((resolve, reject) => {
      for (let i = 0; i < Number(N); i++) {
        const req = http.request({ host: "127.0.0.1", port: Number(PORT), method: "POST", agent: false,
          path: "/proj/chat/completions", headers: { "content-type": "application/json" } }, res => {
          socks.push(res);
          if (++open === Number(N)) resolve();
        });
        req.on("error", reject);
        req.end(JSON.stringify({ mode: "idle" }));
      }
    });
    await new Promise(r => setTimeout(r, 500));
    const rss = (await import("node:fs")).readFileSync(`/proc/${process.env.PID}/status`, "utf8").match(/VmRSS:\s+(\d+)/)[1];
    console.log(rss);
    for (const s of socks) s.destroy();
    process.exit(0);
  ' >"$tmp/rss" 2>&1 || { echo "rss run failed: $(cat "$tmp/rss")"; continue; }
  during=$(tail -1 "$tmp/rss")
  awk -v n="$n" -v b="$before" -v d="$during" \
    'BEGIN { printf "%-34s %d streams: RSS %d -> %d KiB, %.1f KiB per stream\n", "idle SSE streams", n, b, d, (d-b)/n }'
  sleep 1
done
