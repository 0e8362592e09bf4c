#!/usr/bin/env bash
# curl_examples.sh — every bridge endpoint once, with plain curl, against a running bridge.
#
#   scripts/demo.sh --keep               # in one terminal: relay + example agent + bridge on :8080
#   examples/curl_examples.sh            # in another
#
# Environment:
#   BRIDGE_URL   where bridge listens            (default http://127.0.0.1:8080)
#   PROJECT      a project d-tag it serves       (default demo)
#   AGENT        a second agent of that project  (default coder; the demo has pm and coder)
#   API_KEY      sent as "Authorization: Bearer"  (default unused; bridge does not check it yet)
#
# Each step prints what it does, then the raw response. The script stops with a non-zero exit
# status as soon as a call fails or answers with an unexpected status or body.
set -euo pipefail

BRIDGE_URL=${BRIDGE_URL:-http://127.0.0.1:8080}
BRIDGE_URL=${BRIDGE_URL%/}
PROJECT=${PROJECT:-demo}
AGENT=${AGENT:-coder}
API_KEY=${API_KEY:-unused}

command -v curl >/dev/null || { echo "curl_examples: curl is not installed" >&2; exit 1; }

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

step() { printf '\n== %s\n' "$*"; }
fail() { printf '\ncurl_examples: FAILED: %s\n' "$*" >&2; exit 1; }

# request WANT_STATUS CURL_ARGS... — run curl, show the body as it arrives (streams stay live),
# then check the HTTP status. The body is kept in $TMP/body, the headers in $TMP/headers.
request() {
  local want=$1 status
  shift
  : >"$TMP/headers"
  curl -sS -N --max-time 120 -D "$TMP/headers" -H "Authorization: Bearer $API_KEY" "$@" | tee "$TMP/body" \
    || fail "curl $* (exit status $?)"
  echo
  status=$(grep -E '^HTTP/' "$TMP/headers" | tail -n 1 | awk '{print $2}')
  [ "$status" = "$want" ] || fail "expected HTTP $want, got ${status:-no answer} for: curl $*"
  echo "-> HTTP $status"
}

# expect REGEX WHAT — the last response body must match REGEX (grep -E).
expect() { grep -qE -- "$1" "$TMP/body" || fail "the response has no $2 (no match for /$1/)"; }

chat() { # chat PATH JSON — POST a chat completion
  local path=$1 json=$2
  shift 2
  request "${WANT:-200}" "$BRIDGE_URL$path" -H 'Content-Type: application/json' -d "$json"
}

step "GET /health — is bridge up, which relays and projects does it see?"
request 200 "$BRIDGE_URL/health"
expect '"projects"' 'project list'
grep -qE "\"dtag\":\"$PROJECT\"" "$TMP/body" || fail "bridge does not know project '$PROJECT' (yet?)"

step "GET /$PROJECT/models — the project's agents as models (the PM first)"
request 200 "$BRIDGE_URL/$PROJECT/models"
expect '"object":"list"' 'model list'
expect '"id":"' 'model ids'

step "POST /$PROJECT/chat/completions, stream:true — raw server-sent events (curl -N: no buffering)"
chat "/$PROJECT/chat/completions" \
  '{"model":"pm","stream":true,"messages":[{"role":"user","content":"Hello from curl, streamed"}]}'
grep -qi '^content-type: text/event-stream' "$TMP/headers" || fail "a stream without Content-Type: text/event-stream"
expect '"role":"assistant"' 'role chunk'
expect '"finish_reason":"stop"' 'finish_reason stop'
[ "$(grep -v '^[[:space:]]*$' "$TMP/body" | tail -n 1 | tr -d '\r')" = "data: [DONE]" ] \
  || fail "the stream does not end with data: [DONE]"

step "POST /$PROJECT/chat/completions — not streamed: one chat.completion object"
chat "/$PROJECT/chat/completions" \
  '{"model":"pm","messages":[{"role":"user","content":"Hello from curl, in one piece"}]}'
expect '"object":"chat.completion"' 'chat.completion object'
expect '"role":"assistant"' 'assistant message'
echo "-> thread $(grep -i '^x-nostr-thread:' "$TMP/headers" | awk '{print $2}' | tr -d '\r')"

step "POST /v1/chat/completions with model \"$PROJECT/$AGENT\" — the global route picks project and agent"
chat "/v1/chat/completions" \
  "{\"model\":\"$PROJECT/$AGENT\",\"messages\":[{\"role\":\"user\",\"content\":\"Hello $AGENT, via /v1\"}]}"
expect "\"model\":\"$AGENT\"" "answer from $AGENT"

step "GET /v1/models — every project as <dtag> and <dtag>/<slug>"
request 200 "$BRIDGE_URL/v1/models"
expect "\"id\":\"$PROJECT/$AGENT\"" "$PROJECT/$AGENT model"

step "POST /no-such-project/chat/completions — an error: 404 with an OpenAI error object"
WANT=404 chat "/no-such-project/chat/completions" \
  '{"model":"pm","messages":[{"role":"user","content":"anyone there?"}]}'
expect '"error":\{' 'error object'
expect '"code":"project_not_found"' 'project_not_found code'

printf '\nall curl examples passed\n'
