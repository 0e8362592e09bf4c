// The files in examples/ work against a real bridge: examples/curl_examples.sh,
// examples/openai_client.mjs, the ElevenLabs Custom LLM request from examples/elevenlabs.md
// replayed byte for byte, and examples/chat/chat.js (the native API client of examples/chat/index.html). The world is the one bridge.test.mjs starts: a relay with NIP-42 AUTH,
// the example TENEX agent serving project "demo" (agents pm and coder), `bridge --server`.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { pathToFileURL } from 'node:url';
import {
  startRelay, startProcess, spawnProcess, freePort, waitUntil, onCleanup, withTimeout,
  generateSecretKey, nip19, BUILD_DIR, BRIDGE_BIN, SOURCE_DIR, WebSocket,
} from '../js/lib/harness.mjs';

const AGENT_BIN = path.join(BUILD_DIR, 'examples/echo-agent/echo-agent');
const EXAMPLES = path.join(SOURCE_DIR, 'examples');

// ---- the world (as in bridge.test.mjs) ---------------------------------------------------------
const owner = generateSecretKey();
const backend = generateSecretKey();
let relay, base;

before(async () => {
  relay = await startRelay({ auth: true, replayEphemeral: 60 });
  const agent = startProcess(AGENT_BIN, ['--relay', relay.url, '--project', 'demo', '--title', 'Demo', '--status-interval', '2'], {
    env: { ECHO_OWNER_NSEC: nip19.nsecEncode(owner), ECHO_BACKEND_NSEC: nip19.nsecEncode(backend) },
  });
  onCleanup(() => agent.stop());
  const port = await freePort();
  const bridge = startProcess(BRIDGE_BIN, ['--server', '--bind', `127.0.0.1:${port}`, '--state', ':memory:', '--relay', relay.url,
    '--first-event-timeout', '20', '--startup-grace', '3'], { env: { TENEX_NSEC: nip19.nsecEncode(owner) } });
  onCleanup(() => bridge.stop());
  await bridge.waitForLine(/listening on/, 20000, { stream: 'stderr' });
  base = `http://127.0.0.1:${port}`;
  await waitUntil(async () => {
    const h = await (await fetch(`${base}/health`)).json();
    return h.projects?.some(p => p.dtag === 'demo' && p.online);
  }, { timeoutMs: 30000, intervalMs: 200, what: 'project demo online' });
});

/** Run an example program to completion with BRIDGE_URL and PROJECT set; returns {code, stdout, stderr}. */
function runExample(cmd, args, env = {}) {
  return spawnProcess(cmd, args, {
    cwd: EXAMPLES,
    env: { BRIDGE_URL: base, PROJECT: 'demo', ...env },
    timeoutMs: 120000,
  });
}
const show = r => `exit ${r.code}${r.signal ? ` (${r.signal})` : ''}\n--- stdout\n${r.stdout.slice(-4000)}\n--- stderr\n${r.stderr.slice(-4000)}`;

// ---- curl_examples.sh ------------------------------------------------------------------------------
test('examples/curl_examples.sh runs every call and exits 0', async () => {
  const r = await runExample('bash', [path.join(EXAMPLES, 'curl_examples.sh')]);
  assert.equal(r.code, 0, show(r));
  const out = r.stdout;
  assert.match(out, /all curl examples passed/, show(r));
  assert.match(out, /"object":"chat\.completion\.chunk"/, 'the raw stream is printed');
  const streamed = out.split('\n').filter(l => l.startsWith('data: {'))
    .map(l => JSON.parse(l.slice(6)).choices[0]?.delta?.content ?? '').join('');
  assert.equal(streamed, 'echo: Hello from curl, streamed', 'the streamed deltas carry the agent text');
  assert.match(out, /^data: \[DONE\]$/m);
  assert.match(out, /"content":"echo: Hello from curl, in one piece"/, 'the non-streamed answer');
  assert.match(out, /"content":"echo: Hello coder, via \/v1"/, 'the /v1 route reached the coder');
  assert.match(out, /"code":"project_not_found"/);
  assert.match(out, /-> HTTP 404/);
});

test('examples/curl_examples.sh fails when the bridge is not there', async () => {
  const port = await freePort(); // nothing listens here
  const r = await runExample('bash', [path.join(EXAMPLES, 'curl_examples.sh')], { BRIDGE_URL: `http://127.0.0.1:${port}` });
  assert.notEqual(r.code, 0, show(r));
  assert.match(r.stderr, /FAILED/, show(r));
});

test('examples/curl_examples.sh fails on an unknown project', async () => {
  const r = await runExample('bash', [path.join(EXAMPLES, 'curl_examples.sh')], { PROJECT: 'nosuchproject' });
  assert.notEqual(r.code, 0, show(r));
  assert.match(r.stderr, /does not know project 'nosuchproject'/, show(r));
});

// ---- openai_client.mjs -----------------------------------------------------------------------------
test('examples/openai_client.mjs: streamed deltas, a completion and the models, exit 0', async () => {
  const r = await runExample(process.execPath, [path.join(EXAMPLES, 'openai_client.mjs')]);
  assert.equal(r.code, 0, show(r));
  assert.match(r.stdout, /^echo: Hello from the OpenAI SDK, streamed$/m, show(r));
  assert.match(r.stdout, /-> finish_reason: stop/);
  assert.match(r.stdout, /^echo: Hello from the OpenAI SDK, in one piece$/m);
  assert.match(r.stdout, /^pm\ncoder$/m, 'models.list(): the PM first');
});

test('examples/openai_client.mjs exits 1 on an unknown project', async () => {
  const r = await runExample(process.execPath, [path.join(EXAMPLES, 'openai_client.mjs')], { PROJECT: 'nosuchproject' });
  assert.equal(r.code, 1, show(r));
  assert.match(r.stderr, /HTTP 404/, show(r));
});

test('examples/openai_client.mjs is importable: main() returns what it printed', async () => {
  const { main } = await import(pathToFileURL(path.join(EXAMPLES, 'openai_client.mjs')).href);
  const printed = [];
  const res = await main({ bridgeUrl: base, project: 'demo', model: 'coder', out: { write: s => printed.push(s) } });
  assert.equal(res.streamed, 'echo: Hello from the OpenAI SDK, streamed');
  assert.equal(res.answer, 'echo: Hello from the OpenAI SDK, in one piece');
  assert.deepEqual(res.models, ['pm', 'coder']);
  assert.ok(printed.join('').includes(res.streamed));
});

// ---- the ElevenLabs Custom LLM request from examples/elevenlabs.md --------------------------------
/** The JSON block after the marker comment in elevenlabs.md (so the doc and the test cannot drift). */
function elevenLabsRequest() {
  const md = readFileSync(path.join(EXAMPLES, 'elevenlabs.md'), 'utf8');
  const m = /<!-- elevenlabs-request -->\s*```json\n([\s\S]*?)\n```/.exec(md);
  assert.ok(m, 'elevenlabs.md has a ```json block after <!-- elevenlabs-request -->');
  return JSON.parse(m[1]);
}

test('an ElevenLabs-shaped request (system prompt, history, tools, user_id, extra body) streams the answer', async () => {
  const body = elevenLabsRequest();
  // what makes it ElevenLabs-shaped: the fields bridge must accept and ignore
  assert.equal(body.stream, true);
  for (const k of ['model', 'messages', 'temperature', 'max_tokens', 'tools', 'user_id', 'elevenlabs_extra_body'])
    assert.ok(k in body, `the example has "${k}"`);
  assert.equal(body.messages[0].role, 'system');
  const users = body.messages.filter(m => m.role === 'user');
  assert.ok(users.length >= 2, 'prior turns');
  const last = users.at(-1).content;
  assert.equal(body.messages.at(-1).role, 'user');

  // ElevenLabs appends /chat/completions to the server URL https://host/<dtag>
  const r = await fetch(`${base}/demo/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer el-secret-from-the-dashboard', accept: 'text/event-stream' },
    body: JSON.stringify(body),
  });
  assert.equal(r.status, 200, await r.clone().text());
  assert.match(r.headers.get('content-type'), /^text\/event-stream/);
  const raw = await withTimeout(r.text(), 60000, 'the stream to end');
  assert.ok(raw.endsWith('data: [DONE]\n\n'), `the body ends after [DONE]: ${JSON.stringify(raw.slice(-200))}`);
  const events = raw.split('\n\n').filter(Boolean).filter(e => !e.startsWith(':'));
  assert.ok(events.every(e => e.startsWith('data: ')), raw);
  assert.equal(events.at(-1), 'data: [DONE]');
  const chunks = events.slice(0, -1).map(e => JSON.parse(e.slice(6)));
  assert.ok(chunks.every(c => !c.error), `no error event: ${raw}`);
  assert.deepEqual(chunks[0].choices[0].delta, { role: 'assistant', content: '' }, 'the role chunk comes first');
  assert.ok(chunks.every(c => c.object === 'chat.completion.chunk' && c.id === chunks[0].id));
  assert.equal(chunks[0].model, 'pm', `model "${body.model}" is no agent slug, so the PM answers`);
  const text = chunks.map(c => c.choices[0]?.delta?.content ?? '').join('');
  // The agent echoes what bridge sent: the last user message, after a transcript of the earlier
  // turns (bridge has never seen this conversation). The system prompt is not sent.
  assert.ok(text.startsWith('echo: '), text);
  assert.ok(text.endsWith(last), `the echo ends with the last user message ${JSON.stringify(last)}: ${JSON.stringify(text)}`);
  assert.ok(!text.includes(body.messages[0].content), 'the system prompt is not forwarded as text');
  const finish = chunks.filter(c => c.choices[0]?.finish_reason);
  assert.equal(finish.length, 1);
  assert.equal(finish[0].choices[0].finish_reason, 'stop');
  assert.equal(finish[0], chunks.at(-1), 'finish_reason comes in the last chunk');
});

test('the next ElevenLabs turn (history + the reply) continues the same Nostr thread', async () => {
  const body = elevenLabsRequest();
  body.messages = body.messages.filter(m => m.role === 'system').concat({ role: 'user', content: 'Start of a new call.' });
  const post = b => fetch(`${base}/demo/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(b),
  });
  const sse = raw => raw.split('\n\n').filter(e => e.startsWith('data: {'))
    .map(e => JSON.parse(e.slice(6))).map(c => c.choices?.[0]?.delta?.content ?? '').join('');
  const r1 = await post(body);
  const reply = sse(await r1.text());
  assert.equal(reply, 'echo: Start of a new call.');
  body.messages.push({ role: 'assistant', content: reply }, { role: 'user', content: 'And the second turn.' });
  const r2 = await post(body);
  const text2 = sse(await r2.text());
  assert.match(text2, /^echo: And the second turn\./);
  assert.equal(r2.headers.get('x-nostr-thread'), r1.headers.get('x-nostr-thread'));
});

// ---- examples/chat: the page's protocol client, driven from Node -------------------------------
test('examples/chat/chat.js: two turns at once on one socket, a follow-up, a tool, an error', async () => {
  const { BridgeChat } = await import(pathToFileURL(path.join(EXAMPLES, 'chat/chat.js')).href);
  const chat = await new BridgeChat(`${base.replace('http', 'ws')}/chat`, { WebSocket }).open();
  const a = chat.send({ project: 'demo', content: '#slow=40 #chunk=4 first at once' });
  const b = chat.send({ project: 'demo', content: '#steps=2 second at once' });
  const tools = [];
  b.on('tool', e => tools.push(e.name));
  const [ea, eb] = await Promise.all([withTimeout(a.done, 30000, 'turn a'), withTimeout(b.done, 30000, 'turn b')]);
  assert.equal(ea.reason, 'completed');
  assert.equal(eb.reason, 'completed');
  assert.equal(a.text, 'echo: first at once');
  assert.match(b.text, /echo: second at once/);
  assert.ok(tools.length >= 1, 'the tool call between the steps was seen');
  assert.notEqual(a.threadId, b.threadId);
  const c = chat.send({ project: 'demo', threadId: a.threadId, content: 'and then?' });
  await withTimeout(c.done, 30000, 'the follow-up');
  assert.match(c.text, /turn 2; you said before: first at once/);
  const bad = chat.send({ project: 'no-such-project', content: 'x' });
  await assert.rejects(bad.done, err => err.code === 'project_not_found');
  chat.close();
  // the page itself: plain HTML + a module script that uses chat.js, no build step
  const html = readFileSync(path.join(EXAMPLES, 'chat/index.html'), 'utf8');
  assert.match(html, /<script type="module">\s*import \{ BridgeChat \} from '\.\/chat\.js';/);
  for (const ev of ['thread', 'content', 'status', 'tool', 'activity', 'delegation', 'ask'])
    assert.ok(html.includes(`turn.on('${ev}'`), `the page shows ${ev} events`);
});
