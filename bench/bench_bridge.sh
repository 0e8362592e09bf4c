#!/usr/bin/env bash
# bench_bridge.sh — the bridge end to end: added latency relay frame → SSE bytes at 1, 100 and
# 1,000 streams, time to publish, verified chunks/s per core at saturation, short non-streaming
# requests/s (32 keep-alive clients), RSS per open stream and 10,000 open streams, each next to the libsecp256k1 floor and the loopback transport floor
# measured in the same run, and the HTTP floor (scenario httpfloor, below). Prints figures (medians over RUNS) and never fails on them. Beside the
# figures measured from outside: the bridge's own chunk delay and pre-publish time, from its
# /metrics histograms over the measured window (bucket-interpolated; "–" with a bridge without them).
#
#   cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DBRIDGE_TESTS=OFF
#   cmake --build build-bench -j2
#   bench/bench_bridge.sh [BUILD_DIR (build-bench)] [RUNS (3)]
#
# Every run of every scenario starts a fresh `bridge --server` (pinned to CPU 0) under
# build-bench/bench/bench_bridge_load (pinned to CPU 1), which plays the relay, the TENEX agent
# and the HTTP clients; see the comment at the top of bench/bench_bridge_load.c.
#
# The HTTP floor (scenario httpfloor; needs wrk and curl): build-bench/bench/bench_http_floor, the
# bridge's own HTTP layer (src/http/, h2o) with static answers of the bridge's sizes, pinned to the
# bridge's CPU, driven by wrk on the load CPU: 32 keep-alive clients POSTing for a FLOOR_JSON_BYTES
# JSON body (as `requests`), then 1,000 connections each POSTing for an SSE stream of
# FLOOR_CHUNKS events of FLOOR_CHUNK_BYTES bytes, each event its own write (as `throughput`; but a
# stream ends after FLOOR_CHUNKS events and the next one comes on a new connection: wrk reconnects).
# Per server CPU second (utime + stime from /proc/PID/stat around each wrk run) next to the bridge's
# per bridge CPU second, as a percentage. The sizes are the bridge's own, read off its socket writes
# (strace -e writev on `bridge --server` under bench_bridge_load --scenario requests) at 2ecf17f:
#   FLOOR_JSON_BYTES=411   the non-streaming completion body of `requests`: {"id":"chatcmpl-<32 hex>",
#                          …,"model":"bench-agent",…,"content":"<100 bytes>",…,"usage":{10,1,11}}
#   FLOOR_CHUNK_BYTES=318  one SSE content chunk line of `throughput`: "data: {…chat.completion.chunk…
#                          "delta":{"content":"<100 bytes>"}…}\n\n" (the bench's deltas carry 100
#                          bytes of content, --content; JSON with no escapes, so the size is fixed)
# Both answers also carry X-Nostr-Event-Id and X-Nostr-Thread (64 hex), as the bridge's do, so the
# response heads are the same size (SSE head 495 bytes, JSON head 444 bytes, as the bridge's).
# Chunks are counted by the server (GET /health before and after), not as completed streams × 100:
# with 1,000 streams in lock step the last, unfinished round would otherwise be up to ~10 % of the
# run (completed × FLOOR_CHUNKS per CPU second is on the result line too, floor_wrk_chunks_per_cpu_s).
# While streams are open the floor's loop does not sleep (an idle handle writes the next event of
# every stream once per iteration, one write each), so its CPU is ~100 % under the SSE load: read
# floor_sse_wrk_cpu_pct too — near 100 % means wrk, not the server, set the pace.
#
# Environment: BENCH_CPU_BRIDGE (0), BENCH_CPU_LOAD (1); BENCH_QUIET_WAIT=seconds to wait, before
# each run, for the machine to be idle (default 900; 0 = do not wait); BENCH_ATTEMPTS (5) and
# BENCH_OTHERS_MAX (15): a run during which other processes used more than that % of a CPU is
# repeated, and the cleanest attempt kept; BENCH_SCENARIOS to run a subset (default "lat1 lat100
# lat1000 lat1000h publish throughput requests httpfloor capacity jsrelay"); BENCH_KEEP=dir keeps raw outputs and
# bridge logs; with BENCH_REPORT_ONLY=1 as well, only the table is printed again from that dir.
set -euo pipefail
{ # the whole script is one compound command: bash parses it before running, so editing this file
  # during a long run cannot change the run

SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$SRC/build-bench}
RUNS=${2:-3}
LOAD=$BUILD/bench/bench_bridge_load
BRIDGE=$BUILD/bridge
CPU_B=${BENCH_CPU_BRIDGE:-0}
CPU_L=${BENCH_CPU_LOAD:-1}
QUIET_WAIT=${BENCH_QUIET_WAIT:-900}
SCENARIOS=${BENCH_SCENARIOS:-"lat1 lat100 lat1000 lat1000h publish throughput requests httpfloor capacity jsrelay"}
FLOOR=$BUILD/bench/bench_http_floor
FLOOR_JSON_BYTES=411 FLOOR_CHUNK_BYTES=318 FLOOR_CHUNKS=100 FLOOR_SSE_CONNS=1000 FLOOR_SECONDS=10
needs=()
for sc in $SCENARIOS; do
  case $sc in
    httpfloor) needs+=("$FLOOR") ;;
    *) needs+=("$LOAD" "$BRIDGE") ;;
  esac
done
for f in "${needs[@]}"; do
  [ -x "$f" ] || { echo "bench_bridge: $f is not built (cmake --build $BUILD -j2)" >&2; exit 2; }
done
case " $SCENARIOS " in
  *" httpfloor "*)
    for t in wrk curl; do
      command -v "$t" >/dev/null || { echo "bench_bridge: httpfloor needs $t (apt-get install $t)" >&2; exit 2; }
    done ;;
esac
# Bridges with a conversation store (--state) get a fresh SQLite file per run in the temp dir
# (the default would be ~/.local/state/bridge/state.db).
HAS_STATE=0
HELP=$("$BRIDGE" --help 2>&1 || true) # not a pipe into grep -q: SIGPIPE + pipefail would say "no"
case $HELP in *"--state PATH"*) HAS_STATE=1 ;; esac
COMMIT=$(git -C "$(dirname "$BRIDGE")/.." rev-parse --short HEAD 2>/dev/null || cat "$(dirname "$BRIDGE")/../COMMIT" 2>/dev/null || echo "?")

# the load generator stops its bridge when signalled; pass Ctrl-C / TERM on to it
LOAD_PID=
stop_load() { [ -n "$LOAD_PID" ] && kill "$LOAD_PID" 2>/dev/null; wait 2>/dev/null || true; }
if [ -n "${BENCH_KEEP:-}" ]; then
  TMP=$BENCH_KEEP
  mkdir -p "$TMP"
  trap 'stop_load' EXIT
else
  TMP=$(mktemp -d)
  trap 'stop_load; rm -rf "$TMP"' EXIT
fi
trap 'exit 130' INT TERM HUP

# 10,000 client sockets here and 10,000 in the bridge: raise the descriptor limit (both inherit it).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)

# Busy share of all CPUs over 2 s, from /proc/stat (percent, integer).
busy_pct() {
  local a b
  a=($(head -1 /proc/stat)); sleep 2; b=($(head -1 /proc/stat))
  local tot=0 idle i
  for i in 1 2 3 4 5 6 7 8; do tot=$((tot + b[i] - a[i])); done
  idle=$((b[4] - a[4] + b[5] - a[5]))
  echo $(( tot > 0 ? 100 * (tot - idle) / tot : 0 ))
}
# Wait (bounded) until nothing else keeps the machine busy: the figures are only as good as that.
wait_quiet() {
  [ "$QUIET_WAIT" -gt 0 ] || return 0
  local waited=0 b
  while :; do
    b=$(busy_pct)
    [ "$b" -lt 10 ] && return 0
    if [ "$waited" -ge "$QUIET_WAIT" ]; then
      echo "   (the machine is still ${b}% busy after ${waited} s; measuring anyway)" >&2
      return 0
    fi
    [ "$waited" -eq 0 ] && echo "   waiting for the machine to be idle (${b}% busy) …" >&2
    sleep 8; waited=$((waited + 10))
  done
}

# ---- the HTTP floor (scenario httpfloor) ------------------------------------------------------
# utime + stime of a process, in clock ticks
cpu_ticks() {
  local s fld
  s=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
  read -ra fld <<<"${s##*) }" # fields from 3 (state) on: utime (14) is fld[11], stime (15) fld[12]
  echo $(( fld[11] + fld[12] ))
}
# busy clock ticks of the whole machine (all CPUs), from /proc/stat
mach_busy() { local a; read -ra a </proc/stat; echo $(( a[1] + a[2] + a[3] + a[6] + a[7] + a[8] )); }
# user + sys seconds from the children line of the `times` builtin, saved in a file
times_s() { awk 'NR == 2 { s = 0; for (i = 1; i <= 2; i++) { split($i, t, "m"); sub("s", "", t[2]); s += t[1] * 60 + t[2] } print s }' "$1"; }
# wrk's latency percentile line (50% / 99%) → µs
wrk_pct_us() {
  awk -v p="$2" '$1 == p { v = $2; u = 1; if (v ~ /us$/) u = 1; else if (v ~ /ms$/) u = 1e3; else if (v ~ /s$/) u = 1e6
    sub(/[a-z]+$/, "", v); printf "%.1f\n", v * u }' "$1"
}
# One wrk run on the load CPU against the floor server (pid $FPID, port $FPORT): FILE CONNS LUA.
# Writes FILE (wrk's output) and FILE.m: "server_ticks wrk_s wall_s machine_ticks chunks0 chunks1".
floor_wrk() {
  local f=$1 conns=$2 lua=$3 c0 c1 m0 m1 t0 t1 h0 h1
  h0=$(curl -s "http://127.0.0.1:$FPORT/health" | sed -n 's/.*"chunks":\([0-9]*\).*/\1/p')
  c0=$(cpu_ticks "$FPID"); m0=$(mach_busy); t0=$(date +%s.%N)
  times >"$f.t0"
  taskset -c "$CPU_L" wrk --latency -t1 -c"$conns" -d"${FLOOR_SECONDS}s" --timeout 10s -s "$lua" \
    "http://127.0.0.1:$FPORT/bench/chat/completions" >"$f" 2>&1 &
  WPID=$!
  wait "$WPID" || { WPID=; echo "wrk failed: $(tail -2 "$f")" >&2; return 1; }
  WPID=
  times >"$f.t1"
  c1=$(cpu_ticks "$FPID"); m1=$(mach_busy); t1=$(date +%s.%N)
  h1=$(curl -s "http://127.0.0.1:$FPORT/health" | sed -n 's/.*"chunks":\([0-9]*\).*/\1/p')
  echo "$((c1 - c0)) $(awk -v a="$(times_s "$f.t0")" -v b="$(times_s "$f.t1")" 'BEGIN{print b - a}') \
$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b - a}') $((m1 - m0)) ${h0:-0} ${h1:-0}" >"$f.m"
}
# One run of the floor: starts bench_http_floor on the bridge's CPU, runs the two wrk loads,
# stops it; prints "result scenario=httpfloor …" (key=value, as bench_bridge_load does).
run_httpfloor() { # LOG_PREFIX
  local p=$1 hz rq_n rq_s rq_cpu rq_pct rq_oth rq_wrk rq_err st_n st_s st_pct st_oth st_wrk st_err chunks
  local ch_s ch_cpu ch_wrk_cpu
  FPID='' WPID=''
  trap '[ -n "$WPID" ] && kill "$WPID" 2>/dev/null; [ -n "$FPID" ] && kill "$FPID" 2>/dev/null; exit 143' TERM HUP
  taskset -c "$CPU_B" "$FLOOR" --bind 127.0.0.1:0 >"$p.floor.out" 2>"$p.floor.log" &
  FPID=$!
  for _ in $(seq 100); do grep -q '^listening port=' "$p.floor.out" 2>/dev/null && break; sleep 0.05; done
  FPORT=$(sed -n 's/^listening port=//p' "$p.floor.out")
  [ -n "$FPORT" ] || { echo "bench_http_floor did not start: $(tail -2 "$p.floor.log")" >&2; return 1; }
  lua() { printf 'wrk.method = "POST"\nwrk.body = [[%s]]\nwrk.headers["Content-Type"] = "application/json"\n' "$1"; }
  lua "{\"floor\":\"json\",\"bytes\":$FLOOR_JSON_BYTES}" >"$p.json.lua"
  lua "{\"floor\":\"sse\",\"chunks\":$FLOOR_CHUNKS,\"bytes\":$FLOOR_CHUNK_BYTES}" >"$p.sse.lua"
  floor_wrk "$p.wrk.json" 32 "$p.json.lua"
  floor_wrk "$p.wrk.sse" "$FLOOR_SSE_CONNS" "$p.sse.lua"
  kill -TERM "$FPID"
  wait "$FPID" || { FPID=; echo "bench_http_floor did not exit cleanly: $(tail -1 "$p.floor.out")" >&2; return 1; }
  FPID=
  hz=$(getconf CLK_TCK)
  # → requests (or streams) done, per s, per server CPU s, server CPU %, others %, wrk CPU %, errors
  summary() {
    awk -v hz="$hz" -v n="$(awk '/ requests in / {print $1}' "$1")" \
      -v errs="$(awk '/^  Non-2xx/ {e += $NF} /^  Socket errors/ {gsub(",", ""); e += $4 + $6 + $8 + $10} END {print e + 0}' "$1")" \
      'NR == 1 { sv = $1 / hz; wk = $2; wall = $3; oth = $4 / hz - sv - wk
        printf "%d %.0f %.0f %.1f %.0f %.1f %d %.0f\n", n, n / wall, (sv > 0 ? n / sv : 0), 100 * sv / wall,
          (oth > 0 ? 100 * oth / wall : 0), 100 * wk / wall, errs, $6 - $5 }' "$1.m"
  }
  read -r rq_n rq_s rq_cpu rq_pct rq_oth rq_wrk rq_err _ <<<"$(summary "$p.wrk.json")"
  read -r st_n st_s _ st_pct st_oth st_wrk st_err chunks <<<"$(summary "$p.wrk.sse")"
  # chunks: counted by the server; per s, per server CPU s, and completed streams × FLOOR_CHUNKS per CPU s
  read -r ch_s ch_cpu ch_wrk_cpu <<<"$(awk -v hz="$hz" -v n="$chunks" -v k="$FLOOR_CHUNKS" -v st="$st_n" \
    'NR == 1 { sv = $1 / hz; printf "%.0f %.0f %.0f\n", n / $3, (sv > 0 ? n / sv : 0), (sv > 0 ? st * k / sv : 0) }' \
    "$p.wrk.sse.m")"
  echo "result scenario=httpfloor json_bytes=$FLOOR_JSON_BYTES chunk_bytes=$FLOOR_CHUNK_BYTES chunks_per_stream=$FLOOR_CHUNKS sse_conns=$FLOOR_SSE_CONNS" \
    "floor_requests=$rq_n floor_requests_per_s=$rq_s floor_requests_per_cpu_s=$rq_cpu floor_req_cpu_pct=$rq_pct" \
    "floor_req_p50_us=$(wrk_pct_us "$p.wrk.json" 50%) floor_req_p99_us=$(wrk_pct_us "$p.wrk.json" 99%)" \
    "floor_req_wrk_cpu_pct=$rq_wrk floor_req_errors=$rq_err" \
    "floor_streams=$st_n floor_streams_per_s=$st_s floor_chunks=$chunks floor_chunks_per_s=$ch_s" \
    "floor_chunks_per_cpu_s=$ch_cpu floor_wrk_chunks_per_cpu_s=$ch_wrk_cpu floor_sse_cpu_pct=$st_pct" \
    "floor_sse_wrk_cpu_pct=$st_wrk floor_sse_errors=$st_err others_cpu_pct=$((rq_oth > st_oth ? rq_oth : st_oth))"
}

args_of() { # scenario → bench_bridge_load arguments
  case $1 in
    lat1)       echo "--scenario latency --streams 1 --rate 20 --seconds 30" ;;
    lat100)     echo "--scenario latency --streams 100 --rate 20 --seconds 15" ;;
    lat1000)    echo "--scenario latency --streams 1000 --rate 20 --seconds 10" ;;
    lat1000h)   echo "--scenario latency --streams 1000 --rate 10 --seconds 10" ;;
    publish)    echo "--scenario publish --requests 300" ;;
    throughput) echo "--scenario throughput --streams 1000 --window 1 --seconds 8" ;;
    requests)   echo "--scenario requests --clients 32 --seconds 10" ;;
    capacity)   echo "--scenario capacity --streams 10000 --hold 10 --probe-extra" ;;
    jsrelay)    echo "(tests/js/relay.mjs alone)" ;;
    httpfloor)  echo "(bench_http_floor driven by wrk)" ;;
    *) echo "bench_bridge: unknown scenario $1" >&2; exit 2 ;;
  esac
}

if [ -n "${BENCH_REPORT_ONLY:-}" ]; then
  [ -n "${BENCH_KEEP:-}" ] || { echo "bench_bridge: BENCH_REPORT_ONLY needs BENCH_KEEP=dir" >&2; exit 2; }
else
echo "bench_bridge: $BRIDGE (commit $COMMIT)"
echo "bench_bridge: $(nproc) CPUs, bridge on CPU $CPU_B, load generator on CPU $CPU_L, ulimit -n $NOFILE, $RUNS runs"
echo "             $(uptime | sed 's/^ *//')"
# One scenario run; repeated (up to BENCH_ATTEMPTS times) while other processes took more than
# BENCH_OTHERS_MAX % of a CPU during its measured phase; the cleanest attempt is kept.
ATTEMPTS=${BENCH_ATTEMPTS:-5}
OTHERS_MAX=${BENCH_OTHERS_MAX:-15}
others_of() { grep '^result ' "$1" 2>/dev/null | tr ' ' '\n' | awk -F= '$1 == "others_cpu_pct" {print $2}'; }
for run in $(seq 1 "$RUNS"); do
  for sc in $SCENARIOS; do
    best= best_o=
    for a in $(seq 1 "$ATTEMPTS"); do
      wait_quiet
      out=$TMP/$sc.$run.a$a.out
      printf '  run %d %-10s attempt %d … ' "$run" "$sc" "$a" >&2
      if [ "$sc" = jsrelay ]; then
        taskset -c "$CPU_L" node "$SRC/bench/bench_bridge_jsrelay.mjs" --bridge "$BRIDGE" --relay-cpu "$CPU_B" \
          >"$out" 2>"$TMP/$sc.$run.a$a.err" &
      elif [ "$sc" = httpfloor ]; then
        run_httpfloor "$TMP/$sc.$run.a$a" >"$out" 2>"$TMP/$sc.$run.a$a.err" &
      else
        state=()
        [ "$HAS_STATE" = 1 ] && state=(--bridge-arg --state --bridge-arg "$TMP/$sc.$run.a$a.state.db")
        # shellcheck disable=SC2046
        "$LOAD" --bridge "$BRIDGE" $(args_of "$sc") --bridge-cpu "$CPU_B" --bench-cpu "$CPU_L" "${state[@]}" \
          --bridge-log "$TMP/$sc.$run.a$a.bridge.log" --timeout 600 >"$out" 2>"$TMP/$sc.$run.a$a.err" &
      fi
      LOAD_PID=$!
      if wait "$LOAD_PID"; then
        LOAD_PID=
        o=$(others_of "$out"); o=${o:-999}
        echo "ok (other processes: ${o}% CPU)" >&2
        if [ -z "$best" ] || [ "$o" -lt "$best_o" ]; then best=$out best_o=$o; fi
        [ "$o" -le "$OTHERS_MAX" ] && break
      else
        LOAD_PID=
        echo "FAILED:" >&2
        tail -3 "$TMP/$sc.$run.a$a.err" >&2 || true
      fi
    done
    [ -n "$best" ] && cp "$best" "$TMP/$sc.$run.out"
  done
done
fi

# ---- the table ---------------------------------------------------------------------------------
# val SCENARIO KEY → the values of KEY over the runs (one per line)
val() {
  local f
  for f in $(seq -f "$TMP/$1.%g.out" 1 "$RUNS"); do
    [ -f "$f" ] || continue
    grep '^result ' "$f" | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k {print $2}'
  done
}
med() { sort -g | awk '{a[NR]=$1} END {if (NR == 0) print "–"; else print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
m() { val "$1" "$2" | med; }
runs() { val "$1" "$2" | paste -sd/ -; }
fmt() { # number → rounded for the table
  awk -v x="$1" -v d="${2:-0}" 'BEGIN { if (x == "–" || x == "") print "–"; else printf("%.*f\n", d, x) }'
}
# floors: medians over every run of every scenario
finals() { local sc; for sc in $SCENARIOS; do seq -f "$TMP/$sc.%g.out" 1 "$RUNS"; done; }
floor() { cat $(finals) 2>/dev/null | grep '^result ' | tr ' ' '\n' | awk -F= -v k="$1" '$1 == k {print $2}' | med; }

V=$(floor verify_us); S=$(floor sign_us); PV=$(floor parse_verify_us); RTT=$(floor loopback_rtt_p50_us)
RTT99=$(floor loopback_rtt_p99_us); RTTS=$(floor loopback_rtt_sleeping_p50_us)
echo
echo "== floors (on the bridge's CPU before each run; medians over all runs)"
printf '  secp256k1_schnorrsig_verify %s µs   sign32 %s µs   nb_event parse+verify %s µs (= %s /s)\n' \
  "$(fmt "$V" 1)" "$(fmt "$S" 1)" "$(fmt "$PV" 1)" "$(awk -v x="$PV" 'BEGIN{printf "%.0f", 1e6/x}')"
printf '  loopback RTT to an echo process on the bridge CPU: p50 %s µs, p99 %s µs (busy-polling reader, as measured);\n' \
  "$(fmt "$RTT" 0)" "$(fmt "$RTT99" 0)"
printf '    p50 %s µs when the reader sleeps too (one more wake-up)\n' "$(fmt "$RTTS" 0)"

echo
echo "== added latency: relay frame written → SSE bytes read (µs; median of $RUNS runs, runs in brackets)"
printf '  %-34s %-26s %-26s %-26s %-26s\n' "" "1 stream × 20/s" "100 streams × 20/s" "1,000 streams × 20/s" "1,000 streams × 10/s"
row() { # label key [decimals]
  local line l d=${3:-0}
  line=$(printf '  %-34s' "$1")
  for l in lat1 lat100 lat1000 lat1000h; do
    line+=$(printf ' %-26s' "$(fmt "$(m $l "$2")" "$d") [$(val $l "$2" | while read -r x; do fmt "$x" "$d"; done | paste -sd/ -)]")
  done
  echo "$line"
}
row "p50" p50_us
row "p99" p99_us
row "p99.9" p999_us
row "max" max_us
row "p99 / verify floor (same run)" p99_over_verify 1
row "p50 − loopback RTT p50" bridge_share_p50_us
row "chunks/s delivered" chunks_per_s
row "bridge CPU %" bridge_cpu_pct
row "load generator CPU %" bench_cpu_pct
row "sender lateness p99" send_late_p99_us
row "other processes' CPU %" others_cpu_pct
row "lost" lost
row "misrouted" misrouted
row "misordered" misordered
row "RSS per open stream (bytes)" rss_per_stream_b
echo "  inside the bridge (from /metrics histograms, bucket-interpolated; measured window only):"
echo "  relay message received → its text handed to the SSE stream (µs; – where the bridge has no such histogram)"
row "  chunk delay p50" bridge_chunk_p50_us 1
row "  chunk delay p90" bridge_chunk_p90_us 1
row "  chunk delay p99" bridge_chunk_p99_us 1
row "  chunk delay observations" bridge_chunk_n
echo "  (1,000 × 20/s offers 20,000 chunks/s, more than one bridge core delivers (see saturation below):"
echo "   the backlog grows for the whole run, so that column measures the backlog, not the path.)"

echo
echo "== time to publish: request written → signed kind:1 read on the relay socket (µs, sequential requests)"
printf '  p50 %s [%s]   p99 %s   p50 / sign floor %s\n' "$(fmt "$(m publish publish_p50_us)")" "$(runs publish publish_p50_us)" \
  "$(fmt "$(m publish publish_p99_us)")" "$(fmt "$(m publish publish_p50_over_sign)" 1)"
printf '  of which: request → REQ on the relay %s, relay REQ → EOSE written %s (the bench relay), EOSE → EVENT %s\n' \
  "$(fmt "$(m publish req_to_REQ_p50_us)")" "$(fmt "$(m publish relay_hold_p50_us)")" "$(fmt "$(m publish EOSE_to_EVENT_p50_us)")"
printf '  time to response headers (TTFB) p50 %s p99 %s; other processes used %s%% CPU meanwhile\n' "$(fmt "$(m publish ttfb_p50_us)")" "$(fmt "$(m publish ttfb_p99_us)")" "$(m publish others_cpu_pct)"
printf '  inside the bridge (from /metrics histograms, bucket-interpolated): its own time before the kind:1 goes out\n'
printf '    (request in → REQ handed over, plus EOSE in → kind:1 handed over) p50 %s µs [%s] p99 %s µs (n %s);\n' \
  "$(fmt "$(m publish bridge_prepub_p50_us)" 1)" "$(runs publish bridge_prepub_p50_us)" \
  "$(fmt "$(m publish bridge_prepub_p99_us)" 1)" "$(m publish bridge_prepub_n)"
printf '    relay message received → text to the stream (the answers) p50 %s µs p99 %s µs (n %s)\n' \
  "$(fmt "$(m publish bridge_chunk_p50_us)" 1)" "$(fmt "$(m publish bridge_chunk_p99_us)" 1)" "$(m publish bridge_chunk_n)"

echo
echo "== saturation: 1,000 streams, closed loop (one delta in flight per stream)"
printf '  verified chunks per bridge CPU second %s [%s]   (= %s%% of the parse+verify floor rate)\n' \
  "$(fmt "$(m throughput chunks_per_bridge_cpu_s)")" "$(runs throughput chunks_per_bridge_cpu_s)" \
  "$(awk -v x="$(m throughput chunks_per_bridge_cpu_s)" -v f="$PV" 'BEGIN{printf "%.0f", 100*x*f/1e6}')"
printf '  chunks/s wall %s, bridge CPU %s%%, load generator CPU %s%%, others %s%%, latency p50 %s µs p99 %s µs\n' \
  "$(fmt "$(m throughput chunks_per_s)")" "$(fmt "$(m throughput bridge_cpu_pct)")" "$(fmt "$(m throughput bench_cpu_pct)")" \
  "$(m throughput others_cpu_pct)" "$(fmt "$(m throughput p50_us)")" "$(fmt "$(m throughput p99_us)")"
printf '  inside the bridge (from /metrics histograms, bucket-interpolated): relay message received → text to the stream\n'
printf '    p50 %s µs [%s] p90 %s µs p99 %s µs (n %s)\n' \
  "$(fmt "$(m throughput bridge_chunk_p50_us)" 1)" "$(runs throughput bridge_chunk_p50_us)" \
  "$(fmt "$(m throughput bridge_chunk_p90_us)" 1)" "$(fmt "$(m throughput bridge_chunk_p99_us)" 1)" "$(m throughput bridge_chunk_n)"

echo
echo "== short non-streaming requests: 32 keep-alive clients, closed loop, a new thread per request"
printf '  requests/s completed %s [%s]   per bridge CPU second %s [%s]   errors %s [%s]\n' \
  "$(fmt "$(m requests requests_per_s)")" "$(runs requests requests_per_s)" \
  "$(fmt "$(m requests requests_per_bridge_cpu_s)")" "$(runs requests requests_per_bridge_cpu_s)" \
  "$(m requests errors)" "$(runs requests errors)"
printf '  request written → whole response read: p50 %s µs p99 %s µs; bridge CPU %s%%, load generator CPU %s%%, others %s%%\n' \
  "$(fmt "$(m requests p50_us)")" "$(fmt "$(m requests p99_us)")" "$(fmt "$(m requests bridge_cpu_pct)")" \
  "$(fmt "$(m requests bench_cpu_pct)")" "$(m requests others_cpu_pct)"
printf '  inside the bridge (from /metrics histograms, bucket-interpolated): own time before the kind:1 goes out\n'
printf '    p50 %s µs [%s] p99 %s µs (n %s)\n' \
  "$(fmt "$(m requests bridge_prepub_p50_us)" 1)" "$(runs requests bridge_prepub_p50_us)" \
  "$(fmt "$(m requests bridge_prepub_p99_us)" 1)" "$(m requests bridge_prepub_n)"

echo
FJ=$(m httpfloor json_bytes); FC=$(m httpfloor chunk_bytes); FK=$(m httpfloor chunks_per_stream)
echo "== HTTP floor: the same HTTP layer serving static content of the same sizes (bench_http_floor on CPU $CPU_B, wrk on CPU $CPU_L)"
printf '  requests: 32 keep-alive wrk clients, a %s-byte JSON answer: %s req/s [%s], per server CPU second %s [%s]\n' \
  "$FJ" "$(fmt "$(m httpfloor floor_requests_per_s)")" "$(runs httpfloor floor_requests_per_s)" \
  "$(fmt "$(m httpfloor floor_requests_per_cpu_s)")" "$(runs httpfloor floor_requests_per_cpu_s)"
printf '    p50 %s µs p99 %s µs; server CPU %s%%, wrk CPU %s%%, errors %s\n' \
  "$(fmt "$(m httpfloor floor_req_p50_us)")" "$(fmt "$(m httpfloor floor_req_p99_us)")" \
  "$(fmt "$(m httpfloor floor_req_cpu_pct)")" "$(fmt "$(m httpfloor floor_req_wrk_cpu_pct)")" "$(runs httpfloor floor_req_errors)"
printf '  SSE: %s wrk connections, streams of %s events of %s bytes + [DONE] (a new connection per stream):\n' \
  "$(m httpfloor sse_conns)" "$FK" "$FC"
printf '    chunks/s %s [%s], per server CPU second %s [%s] (%s counting completed streams × %s only)\n' \
  "$(fmt "$(m httpfloor floor_chunks_per_s)")" "$(runs httpfloor floor_chunks_per_s)" \
  "$(fmt "$(m httpfloor floor_chunks_per_cpu_s)")" "$(runs httpfloor floor_chunks_per_cpu_s)" \
  "$(fmt "$(m httpfloor floor_wrk_chunks_per_cpu_s)")" "$FK"
printf '    streams/s %s, server CPU %s%%, wrk CPU %s%%, errors %s; other processes %s%% CPU [%s]\n' \
  "$(fmt "$(m httpfloor floor_streams_per_s)")" "$(fmt "$(m httpfloor floor_sse_cpu_pct)")" \
  "$(fmt "$(m httpfloor floor_sse_wrk_cpu_pct)")" "$(runs httpfloor floor_sse_errors)" \
  "$(m httpfloor others_cpu_pct)" "$(runs httpfloor others_cpu_pct)"
RB=$(m requests requests_per_bridge_cpu_s) RF=$(m httpfloor floor_requests_per_cpu_s)
TB=$(m throughput chunks_per_bridge_cpu_s) TF=$(m httpfloor floor_chunks_per_cpu_s)
ratio() { # label bridge-figure floor-figure
  printf '    %-62s %8s ÷ %8s = %s %%\n' "$1" "$(fmt "$2")" "$(fmt "$3")" "$(awk -v b="$2" -v f="$3" 'BEGIN{printf "%.1f", 100*b/f}')"
}
if { [ "$RB" != – ] || [ "$TB" != – ]; } && { [ "$RF" != – ] || [ "$TF" != – ]; }; then
  echo "  the share of the bare HTTP layer's work per CPU second that the bridge does (bridge per bridge CPU s ÷ floor per server CPU s):"
  if [ "$RB" != – ] && [ "$RF" != – ]; then ratio "short non-streaming requests (requests ÷ floor requests)" "$RB" "$RF"; fi
  if [ "$TB" != – ] && [ "$TF" != – ]; then ratio "SSE chunks (throughput: verified chunks ÷ floor chunks)" "$TB" "$TF"; fi
fi

echo
echo "== capacity: 10,000 idle streams"
printf '  streams open %s [%s], the next request got HTTP %s, all %s finished with [DONE]: %s\n' \
  "$(m capacity open_ok)" "$(runs capacity open_ok)" "$(m capacity probe_status)" "$(m capacity open_ok)" "$(runs capacity done)"
printf '  bridge RSS %s MB → %s MB: %s bytes per open stream [%s]\n' \
  "$(awk -v x="$(m capacity rss_base_kb)" 'BEGIN{printf "%.1f", x/1024}')" "$(awk -v x="$(m capacity rss_open_kb)" 'BEGIN{printf "%.1f", x/1024}')" \
  "$(fmt "$(m capacity rss_per_stream_b)")" "$(runs capacity rss_per_stream_b)"
printf '  one delta to each of the 10,000 streams at once: delivered p50 %s ms, p99 %s ms, all in %s ms\n' \
  "$(awk -v x="$(m capacity p50_us)" 'BEGIN{printf "%.1f", x/1e3}')" "$(awk -v x="$(m capacity p99_us)" 'BEGIN{printf "%.1f", x/1e3}')" \
  "$(awk -v x="$(m capacity max_us)" 'BEGIN{printf "%.1f", x/1e3}')"
printf '  inside the bridge (from /metrics histograms, bucket-interpolated): relay message received → text to the stream\n'
printf '    p50 %s µs p90 %s µs p99 %s µs (n %s)\n' "$(fmt "$(m capacity bridge_chunk_p50_us)" 1)" \
  "$(fmt "$(m capacity bridge_chunk_p90_us)" 1)" "$(fmt "$(m capacity bridge_chunk_p99_us)" 1)" "$(m capacity bridge_chunk_n)"

echo
echo "== reference: tests/js/relay.mjs alone (publisher → relay → subscriber, same deltas; relay on CPU $CPU_B)"
printf '  relay-only latency p50 %s µs p99 %s µs (one at a time); forwards %s deltas/s at most [%s]\n' \
  "$(fmt "$(m jsrelay relay_p50_us)")" "$(fmt "$(m jsrelay relay_p99_us)")" "$(fmt "$(m jsrelay forwarded_per_s)")" "$(runs jsrelay forwarded_per_s)"

bad=$(cat $(finals) 2>/dev/null | grep -c '^first error' || true)
[ "$bad" -gt 0 ] && { echo; echo "errors seen:"; cat $(finals) 2>/dev/null | grep '^first error' | sort | uniq -c | head -5; }
exit 0
}
