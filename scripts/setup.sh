#!/usr/bin/env bash
# setup.sh — install what bridge needs on Debian 12 (apt + npm), then configure and build.
#
#   scripts/setup.sh [--build-dir DIR] [--sanitize] [--werror] [--release] [--no-apt] [--no-npm]
#
# Safe to run again: apt and npm skip what is already there. Needs root (or sudo) for apt.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=build
CMAKE_ARGS=()
DO_APT=1
DO_NPM=1
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) BUILD_DIR="$2"; shift ;;
    --sanitize)  CMAKE_ARGS+=(-DBRIDGE_SANITIZE=ON) ;;
    --werror)    CMAKE_ARGS+=(-DBRIDGE_WERROR=ON) ;;
    --release)   CMAKE_ARGS+=(-DCMAKE_BUILD_TYPE=Release) ;;
    --no-apt)    DO_APT=0 ;;
    --no-npm)    DO_NPM=0 ;;
    *) echo "setup.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

APT_PACKAGES=(
  build-essential cmake pkg-config git ca-certificates openssl
  libh2o-dev libsecp256k1-dev libwebsockets-dev libwebsockets-evlib-uv libcjson-dev uuid-dev
  libuv1-dev libssl-dev libsqlite3-dev libwslay-dev
  clang libclang-rt-14-dev curl
)

if [ "$DO_APT" = 1 ]; then
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
  missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  # Node.js: keep an existing installation (any 18+); otherwise Debian's.
  if ! command -v node >/dev/null 2>&1; then missing+=(nodejs npm); fi
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "== apt-get install ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
fi

# The test tools need Node.js >= 20.19 (nostr-tools' crypto). Debian 12's own nodejs is 18: if
# that is what we have, install Node 20 from the npm registry (the "node" package ships it).
node_ok() {
  command -v node >/dev/null 2>&1 &&
    node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>20||(a===20&&b>=19)?0:1)'
}
if [ "$DO_NPM" = 1 ] && ! node_ok; then
  echo "== Node.js $(node --version 2>/dev/null || echo missing) is too old for the tests: npm install -g node@20"
  npm install -g --no-audit --no-fund --loglevel=error node@20
  hash -r
  node_ok || { echo "setup.sh: could not get Node.js >= 20.19" >&2; exit 1; }
fi

if [ "$DO_NPM" = 1 ]; then
  # npm ci wipes and reinstalls (about a minute, with a native build): skip it when node_modules
  # was installed from this very lockfile.
  stamp=tests/js/node_modules/.bridge-lock-sha256
  want=$(sha256sum tests/js/package-lock.json | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "== npm ci (tests/js)"
    (cd tests/js && npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" > "$stamp"
  fi
  # npm 11 may skip install scripts; make sure native modules were built.
  if [ -d tests/js/node_modules/better-sqlite3 ] && \
     ! ls tests/js/node_modules/better-sqlite3/build/Release/*.node >/dev/null 2>&1; then
    (cd tests/js && npm rebuild better-sqlite3 --loglevel=error)
  fi
fi

echo "== cmake -B $BUILD_DIR ${CMAKE_ARGS[*]:-}"
cmake -S . -B "$BUILD_DIR" "${CMAKE_ARGS[@]}" >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)"
