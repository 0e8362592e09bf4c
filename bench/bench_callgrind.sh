#!/usr/bin/env bash
# bench_callgrind.sh — instructions per streamed chunk on the bridge's hot path (relay frame in →
# parse → verify → session → SSE chunk out), counted by valgrind's callgrind, and the functions
# they go to. Instruction counts do not depend on the machine's load, so this can run while other
# things do (the wall-clock benchmarks cannot).
#
#   cmake -S . -B build-prof -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBRIDGE_TESTS=OFF
#   cmake --build build-prof -j2 --target bridge bench_bridge_load
#   bench/bench_callgrind.sh [BUILD_DIR (build-prof)] [TOP (15)]
#
# bench_bridge_load (see bench/bench_bridge_load.c) runs `bridge --server` under
# `valgrind --tool=callgrind` twice, in its latency scenario with the same streams and duration
# but two delta rates (CG_STREAMS 20 streams × 10 s at CG_RATE_LO 2/s, then CG_RATE_HI 10/s:
# 400 and 2,000 chunks). Start-up, the HTTP requests, the subscriptions and the timers are the same
# in both runs, so (run 2 − run 1) ÷ (chunks 2 − chunks 1) is the cost of one more chunk: per
# function (self cost, callgrind_annotate) and per shared object. Prints figures, never fails on
# them; exit status 1 only when a run broke (a delta lost, the bridge died). BENCH_KEEP=dir keeps
# the callgrind files (callgrind_annotate --auto=no --inclusive=yes dir/hi.out for the call tree).
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$SRC/build-prof}
TOP=${2:-15}
STREAMS=${CG_STREAMS:-20}
SECONDS_=${CG_SECONDS:-10}
RATE_LO=${CG_RATE_LO:-2}
RATE_HI=${CG_RATE_HI:-10}
for f in "$BUILD/bridge" "$BUILD/bench/bench_bridge_load"; do
  [ -x "$f" ] || { echo "bench_callgrind: $f is not built" >&2; exit 2; }
done
for t in valgrind callgrind_annotate; do
  command -v "$t" > /dev/null || { echo "bench_callgrind: $t is not installed (apt-get install valgrind)" >&2; exit 2; }
done
if [ -n "${BENCH_KEEP:-}" ]; then
  TMP=$BENCH_KEEP
  mkdir -p "$TMP"
else
  TMP=$(mktemp -d)
  trap 'rm -rf "$TMP"' EXIT
fi

# bench_bridge_load starts "the bridge" with its arguments: this runs it under callgrind.
cat > "$TMP/bridge-under-callgrind" << EOF
#!/bin/sh
exec valgrind --tool=callgrind --callgrind-out-file="\$CG_OUT" "$BUILD/bridge" "\$@"
EOF
chmod +x "$TMP/bridge-under-callgrind"

# run NAME RATE: prints the number of deltas delivered
run() {
  local name=$1 rate=$2 res
  rm -f "$TMP/state-$name.db"*
  CG_OUT="$TMP/$name.out" "$BUILD/bench/bench_bridge_load" --bridge "$TMP/bridge-under-callgrind" \
    --scenario latency --streams "$STREAMS" --rate "$rate" --seconds "$SECONDS_" --warmup 5 --floor-ms 20 \
    --bridge-log "$TMP/$name.log" --bridge-arg --state --bridge-arg "$TMP/state-$name.db" > "$TMP/$name.res" 2>&1 ||
    { echo "bench_callgrind: the $name run failed:" >&2; tail -5 "$TMP/$name.res" >&2; exit 1; }
  res=$(grep '^result ' "$TMP/$name.res")
  local sent recv
  sent=$(sed -n 's/.* sent=\([0-9]*\).*/\1/p' <<< "$res")
  recv=$(sed -n 's/.* received=\([0-9]*\).*/\1/p' <<< "$res")
  [ "$sent" = "$recv" ] || { echo "bench_callgrind: the $name run lost deltas ($recv of $sent)" >&2; exit 1; }
  echo "$recv"
}

# self cost per function, "Ir<TAB>function [object]", from callgrind_annotate
table() {
  callgrind_annotate --auto=no --threshold=100 "$1" 2> /dev/null |
    sed -n 's/^ *\([0-9,]*\) ([^)]*) *\(.*\)$/\1\t\2/p' | tr -d ,
}

echo "bench_callgrind: $STREAMS streams × ${SECONDS_} s at $RATE_LO/s and at $RATE_HI/s, bridge under callgrind" >&2
N_LO=$(run lo "$RATE_LO")
N_HI=$(run hi "$RATE_HI")
table "$TMP/lo.out" > "$TMP/lo.tsv"
table "$TMP/hi.out" > "$TMP/hi.tsv"
COMMIT=$(git -C "$SRC" rev-parse --short HEAD 2> /dev/null || echo "?")
DIRTY=
if [ -n "$(git -C "$SRC" status --porcelain --untracked-files=no 2> /dev/null || true)" ]; then DIRTY=+changes; fi

awk -F'\t' -v chunks=$((N_HI - N_LO)) -v top="$TOP" -v lo="$N_LO" -v hi="$N_HI" -v commit="$COMMIT$DIRTY" '
  function th(x,   s, neg) { # 12345.6 -> 12,346
    x = sprintf("%.0f", x); neg = x ~ /^-/; if (neg) x = substr(x, 2)
    s = ""; while (length(x) > 3) { s = "," substr(x, length(x) - 2) s; x = substr(x, 1, length(x) - 3) }
    return (neg ? "-" : "") x s
  }
  FNR == NR { base[$2] += $1; next }
  { cost[$2] += $1 }
  END {
    for (k in base) if (!(k in cost)) cost[k] = 0
    for (k in cost) {
      d = (cost[k] - base[k]) / chunks
      if (k ~ /^PROGRAM TOTALS/) { total = d; continue }
      if (k ~ /\[[^]]*\] *$/) { obj = k; sub(/.*\[/, "", obj); sub(/\].*/, "", obj); sub(/.*\//, "", obj) }
      else obj = k ~ /^\.\// ? "libc.so.6" : "?" # glibc inlines from its own headers carry no object
      byobj[obj] += d
      fn = k; sub(/ *\[[^]]*\] *$/, "", fn); sub(/^\/.*\/src\//, "src/", fn); sub(/^\.\/.*\//, "", fn)
      if (fn ~ /^\?\?\?:0x/) { a = substr(fn, 7); sub(/^0+/, "", a); fn = obj " 0x" a " (no symbols)" }
      perfn[fn] += d
      if (obj == "bridge" || obj == "libc.so.6") own[fn] += d
    }
    printf "result commit=%s chunks_lo=%d chunks_hi=%d ir_per_chunk=%.0f\n", commit, lo, hi, total
    printf "\n| per shared object | Ir per chunk | share |\n|---|---:|---:|\n"
    n = 0
    for (o in byobj) objs[++n] = o
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (byobj[objs[j]] > byobj[objs[i]]) { t = objs[i]; objs[i] = objs[j]; objs[j] = t }
    for (i = 1; i <= n && byobj[objs[i]] >= 0.5; i++)
      printf "| %s | %s | %.1f %% |\n", objs[i], th(byobj[objs[i]]), 100 * byobj[objs[i]] / total
    printf "\n| function (self) | Ir per chunk | share |\n|---|---:|---:|\n"
    n = 0
    for (f in perfn) fns[++n] = f
    for (i = 1; i <= n && i <= top; i++) {
      m = i
      for (j = i + 1; j <= n; j++) if (perfn[fns[j]] > perfn[fns[m]]) m = j
      t = fns[i]; fns[i] = fns[m]; fns[m] = t
      printf "| `%s` | %s | %.1f %% |\n", fns[i], th(perfn[fns[i]]), 100 * perfn[fns[i]] / total
    }
    printf "\n| the bridge'"'"'s own code and libc (self) | Ir per chunk | share |\n|---|---:|---:|\n"
    n = 0
    for (f in own) ofns[++n] = f
    for (i = 1; i <= n && i <= top; i++) {
      m = i
      for (j = i + 1; j <= n; j++) if (own[ofns[j]] > own[ofns[m]]) m = j
      t = ofns[i]; ofns[i] = ofns[m]; ofns[m] = t
      printf "| `%s` | %s | %.1f %% |\n", ofns[i], th(own[ofns[i]]), 100 * own[ofns[i]] / total
    }
  }' "$TMP/lo.tsv" "$TMP/hi.tsv"
