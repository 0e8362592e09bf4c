#!/usr/bin/env bash
# demo.sh — the whole thing on one machine: installs what is needed, builds, then starts
#   1. a real Nostr relay (from npm, with NIP-42 AUTH like TENEX's relay) on 127.0.0.1,
#   2. the example TENEX agent (examples/echo-agent: a project "demo" with agents pm and coder),
#   3. bridge --server on 127.0.0.1:8080,
# and streams a chat completion through it with curl.
#
#   scripts/demo.sh            run the demo, then stop everything
#   scripts/demo.sh --keep     leave it running for your own OpenAI SDK / curl calls (Ctrl-C stops)
#
# Ports: BRIDGE_PORT (default 8080) and RELAY_PORT (default 7777).
set -euo pipefail
cd "$(dirname "$0")/.."

KEEP=0
[ "${1:-}" = "--keep" ] && KEEP=1
BRIDGE_PORT=${BRIDGE_PORT:-8080}
RELAY_PORT=${RELAY_PORT:-7777}

scripts/setup.sh --build-dir build
BIN=build/bridge
AGENT=build/examples/echo-agent/echo-agent
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_for() { # wait_for FILE REGEX SECONDS
  for _ in $(seq 1 $(( $3 * 10 ))); do grep -qE "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "demo: timed out waiting for '$2' in $1:" >&2; tail -20 "$1" >&2; exit 1
}

echo "== keys: one for you (the project owner, used by bridge), one for the TENEX backend"
OWNER_NSEC=$("$BIN" keygen | awk '/^nsec:/ {print $2}')
BACKEND_NSEC=$("$BIN" keygen | awk '/^nsec:/ {print $2}')
TENEX_NSEC="$OWNER_NSEC" "$BIN" pubkey | sed 's/^/   you: /' | head -1

echo "== relay on ws://127.0.0.1:$RELAY_PORT (NIP-42 AUTH required for REQ, as on relay.tenex.chat)"
node tests/js/relay.mjs --port "$RELAY_PORT" --auth --replay-ephemeral 60 >"$WORK/relay.log" 2>&1 &
PIDS+=($!)
wait_for "$WORK/relay.log" READY 20

echo "== example TENEX agent: project 'demo' with agents pm and coder"
ECHO_OWNER_NSEC="$OWNER_NSEC" ECHO_BACKEND_NSEC="$BACKEND_NSEC" \
  "$AGENT" --relay "ws://127.0.0.1:$RELAY_PORT" --project demo --title "Demo project" --status-interval 5 \
  >"$WORK/agent.log" 2>&1 &
PIDS+=($!)

echo "== bridge --server on http://127.0.0.1:$BRIDGE_PORT"
TENEX_NSEC="$OWNER_NSEC" "$BIN" --server --bind "127.0.0.1:$BRIDGE_PORT" \
  --relay "ws://127.0.0.1:$RELAY_PORT" --state "$WORK/state.db" >"$WORK/bridge.log" 2>&1 &
PIDS+=($!)
wait_for "$WORK/bridge.log" "listening on" 20
for _ in $(seq 1 150); do
  curl -fsS "http://127.0.0.1:$BRIDGE_PORT/health" 2>/dev/null | grep -q '"online":true' && break
  sleep 0.2
done

echo "== models of project demo"
curl -sS "http://127.0.0.1:$BRIDGE_PORT/demo/models"; echo
echo
echo "== a streamed chat completion (curl -N, raw server-sent events)"
curl -sS -N "http://127.0.0.1:$BRIDGE_PORT/demo/chat/completions" \
  -H 'Content-Type: application/json' \
  -d '{"model":"pm","stream":true,"messages":[{"role":"user","content":"Hello TENEX, this is bridge!"}]}'
echo
echo "== the same, assembled: the agent's answer"
curl -sS "http://127.0.0.1:$BRIDGE_PORT/demo/chat/completions" \
  -H 'Content-Type: application/json' \
  -d '{"model":"pm","messages":[{"role":"user","content":"Hello again"}]}' \
  | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const r=JSON.parse(s);console.log(r.choices[0].message.content)})'

if [ "$KEEP" = 1 ]; then
  cat <<EOT

bridge is running. Try it yourself:
  curl -N http://127.0.0.1:$BRIDGE_PORT/demo/chat/completions -H 'Content-Type: application/json' \\
    -d '{"model":"pm","stream":true,"messages":[{"role":"user","content":"hi"}]}'
  OpenAI SDK: base_url = http://127.0.0.1:$BRIDGE_PORT/demo   (any api_key; model "pm" or "coder")
Logs: $WORK/{relay,agent,bridge}.log       Ctrl-C stops everything.
EOT
  wait
fi
