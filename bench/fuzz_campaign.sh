#!/usr/bin/env bash
# The long fuzzing campaign (issue 7): every libFuzzer driver for N executions (default 10M)
# over a copy of its committed seed corpus, printing libFuzzer's final stats. CI runs each
# driver for a few seconds only (scripts/test.sh); this is the run whose counts go into
# docs/reliability.md.
#
#   bench/fuzz_campaign.sh [--runs N] [fuzzer-name …]
#
# FUZZ_MAX_LEN (default 8192) bounds the input size.
# Builds build-fuzz (clang, ASan+UBSan+libFuzzer) if needed. Logs: build-fuzz/campaign/<name>.log.
# Exit status 1 when any driver found a crash, leak or timeout (the reproducer is kept there).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=10000000
names=()
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS="$2"; shift ;;
    -h|--help) sed -n 2,12p "$0"; exit 0 ;;
    *) names+=("$1") ;;
  esac
  shift
done
cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DBRIDGE_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-fuzz -j"$(nproc)" >/dev/null
out=build-fuzz/campaign
mkdir -p "$out"
if [ ${#names[@]} -eq 0 ]; then
  for f in build-fuzz/tests/fuzz/fuzz_*; do [ -x "$f" ] && names+=("$(basename "$f")"); done
fi
run_one() {
  local name=$1 corpus work dict=()
  corpus=tests/fuzz/corpus/${name#fuzz_}
  work=$out/corpus-${name#fuzz_}
  mkdir -p "$work"
  [ -d "$corpus" ] && cp -n "$corpus"/* "$work"/ 2>/dev/null || true
  case "$name" in *nip19*) ;; *) [ -f tests/fuzz/json.dict ] && dict=(-dict=tests/fuzz/json.dict) ;; esac
  local t0=$SECONDS rc=0
  "build-fuzz/tests/fuzz/$name" "${dict[@]}" -runs="$RUNS" -max_len="${FUZZ_MAX_LEN:-8192}" -timeout=10 -rss_limit_mb=4096 \
    -print_final_stats=1 -artifact_prefix="$out/$name-" "$work" >"$out/$name.log" 2>&1 || rc=$?
  local execs
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$out/$name.log" | grep -o '[0-9]*$' || echo '?')
  printf '%-20s runs=%s seconds=%s exit=%s\n' "$name" "$execs" $((SECONDS - t0)) "$rc"
  return "$rc"
}
fail=0
for n in "${names[@]}"; do
  run_one "$n" || fail=1
done
exit "$fail"
