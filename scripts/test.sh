#!/usr/bin/env bash
# test.sh — install everything, build with ASan+UBSan and -Werror, and run the whole suite:
# unit tests, integration tests (real binary, real relay from npm, nostr-tools, the openai
# SDK), and a short run of every fuzzer over its committed corpus.
#
#   scripts/test.sh [--no-fuzz] [--fuzz-seconds N]
#
# This is the README's test command and what CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZ=1
FUZZ_SECONDS=${FUZZ_SECONDS:-5}
while [ $# -gt 0 ]; do
  case "$1" in
    --no-fuzz) FUZZ=0 ;;
    --fuzz-seconds) FUZZ_SECONDS="$2"; shift ;;
    *) echo "test.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

scripts/setup.sh --build-dir build-asan --sanitize --werror

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

echo "== ctest"
(cd build-asan && ctest --output-on-failure -j2)

if [ "$FUZZ" = 1 ]; then
  echo "== fuzzers (${FUZZ_SECONDS}s each)"
  cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DBRIDGE_FUZZ=ON -DBRIDGE_WERROR=ON >/dev/null
  cmake --build build-fuzz -j"$(nproc)" >/dev/null
  for f in build-fuzz/tests/fuzz/fuzz_*; do
    [ -x "$f" ] || continue
    name=$(basename "$f"); corpus=tests/fuzz/corpus/${name#fuzz_}
    dict=(); [ -f tests/fuzz/json.dict ] && case "$name" in *nip19*) ;; *) dict=(-dict=tests/fuzz/json.dict) ;; esac
    work=$(mktemp -d)
    cp -r "$corpus"/. "$work"/ 2>/dev/null || true
    echo "-- $name"
    status=0
    "$f" "$work" "${dict[@]}" -max_total_time="$FUZZ_SECONDS" -print_final_stats=1 >"$work.log" 2>&1 || status=$?
    grep -E 'stat::number_of_executed_units|ERROR|SUMMARY' "$work.log" || true
    if [ "$status" != 0 ]; then tail -50 "$work.log"; echo "fuzzer $name failed (exit $status)"; exit 1; fi
    rm -rf "$work" "$work.log"
  done
fi
echo "== all tests passed"
