// End to end: the real `bridge --server` binary, a real relay (NIP-42 AUTH on, as on
// relay.tenex.chat), the example TENEX agent, and the official `openai` SDK as the client.
// Every response shape is validated against OpenAI's own schemas (../shared/openai-schemas.json).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import net from 'node:net';
import {
  startRelay, startProcess, freePort, waitUntil, relayClient, onCleanup, withTimeout,
  generateSecretKey, getPublicKey, bytesToHex, nip19, nostrToolsVerify, BUILD_DIR, BRIDGE_BIN, SOURCE_DIR,
} from '../js/lib/harness.mjs';
import { OpenAI, APIError, Ajv2020 } from '../js/lib/deps.mjs';

const AGENT_BIN = path.join(BUILD_DIR, 'examples/echo-agent/echo-agent');

// ---- schemas ------------------------------------------------------------------------------
function loadSchemas() {
  for (const p of [path.join(SOURCE_DIR, '../shared/openai-schemas.json'), path.join(SOURCE_DIR, 'tests/vectors/openai-schemas.json')])
    if (existsSync(p)) return JSON.parse(readFileSync(p, 'utf8'));
  throw new Error('openai-schemas.json not found');
}
const schemas = loadSchemas();
const ajv = new Ajv2020({ strict: false, validateFormats: false });
ajv.addSchema(schemas, 'openai');
const validator = name => ajv.getSchema(`openai#/components/schemas/${name}`);
const V = {
  completion: validator('CreateChatCompletionResponse'),
  chunk: validator('CreateChatCompletionStreamResponse'),
  error: validator('ErrorResponse'),
  models: validator('ListModelsResponse'),
};
function valid(kind, obj) {
  if (!V[kind](obj)) assert.fail(`${kind} does not match OpenAI's schema: ${ajv.errorsText(V[kind].errors)}\n${JSON.stringify(obj)}`);
}

// ---- the world ------------------------------------------------------------------------------
const owner = generateSecretKey();
const backend = generateSecretKey();
const ownerHex = bytesToHex(owner);
const ownerPub = getPublicKey(owner);
let relay, agent, bridge, base, client;

async function startAgent(project, extra = [], env = {}) {
  const p = startProcess(AGENT_BIN, ['--relay', relay.url, '--project', project, '--status-interval', '2', ...extra], {
    env: { ECHO_OWNER_NSEC: nip19.nsecEncode(owner), ECHO_BACKEND_NSEC: nip19.nsecEncode(backend), ...env },
  });
  onCleanup(() => p.stop());
  return p;
}

async function startBridge(extra = []) {
  const port = await freePort();
  const p = startProcess(BRIDGE_BIN, ['--server', '--bind', `127.0.0.1:${port}`, '--state', ':memory:', '--relay', relay.url, ...extra], {
    env: { TENEX_NSEC: nip19.nsecEncode(owner) },
  });
  onCleanup(() => p.stop());
  await p.waitForLine(/listening on/, 20000, { stream: 'stderr' });
  return { proc: p, port, base: `http://127.0.0.1:${port}` };
}

async function health(b = base) {
  const r = await fetch(`${b}/health`);
  return r.json();
}

async function waitOnline(b, dtag) {
  await waitUntil(async () => (await health(b)).projects?.some(p => p.dtag === dtag && p.online), {
    timeoutMs: 30000, intervalMs: 200, what: `project ${dtag} online via ${b}`,
  });
}

const sdk = (b, dtag) => new OpenAI({ baseURL: `${b}/${dtag}`, apiKey: 'unused', maxRetries: 0, timeout: 60000 });

async function streamText(c, body) {
  const stream = await c.chat.completions.create({ model: 'pm', stream: true, ...body });
  let text = '';
  const chunks = [];
  for await (const chunk of stream) {
    chunks.push(chunk);
    valid('chunk', chunk);
    text += chunk.choices[0]?.delta?.content ?? '';
  }
  return { text, chunks };
}

const user = content => ({ messages: [{ role: 'user', content }] });

/** The content deltas of a raw SSE body, joined. */
function sseText(body) {
  return body.split('\n\n').filter(e => e.startsWith('data: {'))
    .map(e => JSON.parse(e.slice(6))).map(c => c.choices?.[0]?.delta?.content ?? '').join('');
}

before(async () => {
  relay = await startRelay({ auth: true, replayEphemeral: 60 });
  agent = await startAgent('demo', ['--title', 'Demo', '--status-order', 'reversed']);
  const b = await startBridge(['--first-event-timeout', '20', '--startup-grace', '3']);
  bridge = b.proc;
  base = b.base;
  await waitOnline(base, 'demo');
  client = sdk(base, 'demo');
});

// ---- the happy paths ---------------------------------------------------------------------------
test('streaming: the SDK receives the agent text, every chunk matches the schema', async () => {
  const { text, chunks } = await streamText(client, user('Hello bridge'));
  assert.equal(text, 'echo: Hello bridge');
  assert.deepEqual(chunks[0].choices[0].delta, { role: 'assistant', content: '' });
  const last = chunks.at(-1);
  assert.equal(last.choices[0].finish_reason, 'stop');
  assert.ok(chunks.every(c => c.id === chunks[0].id && c.id.startsWith('chatcmpl-')));
  assert.ok(chunks.every(c => c.model === 'pm'), 'the PM is the first roster p even though the status lists it last');
});

test('the strict SDK helper stream().finalChatCompletion() passes', async () => {
  const final = await client.chat.completions.stream({ model: 'pm', ...user('final helper') }).finalChatCompletion();
  assert.equal(final.choices[0].message.content, 'echo: final helper');
  assert.equal(final.choices[0].finish_reason, 'stop');
});

test('non-streaming returns one chat.completion with usage', async () => {
  const r = await client.chat.completions.create({ model: 'pm', ...user('not streamed') });
  valid('completion', r);
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices[0].message.content, 'echo: not streamed');
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.ok(r.usage.total_tokens > 0);
});

test('stream_options.include_usage adds a usage chunk with no choices', async () => {
  const { chunks } = await streamText(client, { ...user('usage please'), stream_options: { include_usage: true } });
  const last = chunks.at(-1);
  assert.deepEqual(last.choices, []);
  assert.ok(last.usage.total_tokens > 0);
  assert.ok(chunks.slice(0, -1).every(c => c.usage === null));
});

test('models.list() lists the project agents, PM first', async () => {
  const page = await client.models.list();
  const ids = page.data.map(m => m.id);
  assert.deepEqual(ids, ['pm', 'coder']);
  const raw = await (await fetch(`${base}/demo/v1/models`)).json();
  valid('models', raw);
});

test('model names another agent: that agent answers, and the kind:1 p-tags it', async () => {
  const r = await client.chat.completions.create({ model: 'coder', ...user('for the coder') });
  assert.equal(r.model, 'coder');
  assert.equal(r.choices[0].message.content, 'echo: for the coder');
  const c = await relayClient(relay.url, { authKey: owner });
  onCleanup(() => c.close());
  const sub = c.subscribe({ kinds: [1], authors: [ownerPub], limit: 100 });
  const events = await sub.eose;
  const mine = events.filter(e => e.content === 'for the coder');
  assert.equal(mine.length, 1);
  assert.ok(nostrToolsVerify(mine[0]), 'the event bridge signed verifies in nostr-tools');
  const p = mine[0].tags.filter(t => t[0] === 'p');
  assert.equal(p.length, 1);
  assert.ok(mine[0].tags.some(t => t[0] === 'a' && t[1] === `31933:${ownerPub}:demo`));
  assert.ok(mine[0].tags.some(t => t[0] === 'client' && t[1] === 'bridge'));
});

test('any other model name (e.g. gpt-4o from ElevenLabs) goes to the PM', async () => {
  const r = await client.chat.completions.create({ model: 'gpt-4o', ...user('who answers') });
  assert.equal(r.model, 'pm');
});

test('hostile unicode comes back byte for byte', async () => {
  const s = 'quotes " \\ / \u00e9\u0301 \u{1F600}\u{1F469}\u200D\u{1F4BB} \u05E9\u05DC\u05D5\u05DD\ttab\nnewline \u0007bell';
  const { text } = await streamText(client, user(s));
  assert.equal(text, `echo: ${s}`);
});

test('a follow-up continues the Nostr thread (the agent proves it saw the first turn)', async () => {
  const first = await client.chat.completions.create({ model: 'pm', ...user('remember the word kiwi') });
  const reply = first.choices[0].message.content;
  const second = await client.chat.completions.create({
    model: 'pm',
    messages: [
      { role: 'user', content: 'remember the word kiwi' },
      { role: 'assistant', content: reply },
      { role: 'user', content: 'what did I say?' },
    ],
  });
  assert.match(second.choices[0].message.content, /^echo: what did I say\?/);
  assert.match(second.choices[0].message.content, /kiwi/);
});

test('X-Nostr-Thread names the thread explicitly (hex, note or nevent); the response says which was used', async () => {
  const { data: first, response } = await client.chat.completions.create({ model: 'pm', ...user('the code word is mango') }).withResponse();
  const root = response.headers.get('x-nostr-thread');
  assert.match(root, /^[0-9a-f]{64}$/);
  assert.equal(first.choices[0].message.content, 'echo: the code word is mango');
  // a client with no history at all continues that thread by naming it
  const names = [root, nip19.neventEncode({ id: root, relays: [relay.url] })];
  const expect = [/turn 2; you said before: the code word is mango/, /turn 3; you said before: which word\?/];
  for (let i = 0; i < names.length; i++) {
    const { data, response: r2 } = await client.chat.completions
      .create({ model: 'pm', ...user('which word?') }, { headers: { 'X-Nostr-Thread': names[i] } }).withResponse();
    assert.equal(r2.headers.get('x-nostr-thread'), root);
    assert.match(data.choices[0].message.content, expect[i]);
  }
  await assert.rejects(client.chat.completions.create({ model: 'pm', ...user('x') }, { headers: { 'X-Nostr-Thread': 'nope' } }),
    err => err.status === 400);
});

// ---- TENEX protocol cases (directives understood by the example agent) ------------------------
test('multi-step reply with a tool call between steps', async () => {
  const { text } = await streamText(client, user('#steps=2 plan it'));
  const streamed = text;
  const whole = (await client.chat.completions.create({ model: 'pm', ...user('#steps=2 plan it') })).choices[0].message.content;
  assert.equal(streamed, whole, 'streaming and non-streaming carry the same text');
  assert.ok(text.includes('\n\n'), `steps separated by a blank line: ${JSON.stringify(text)}`);
});

for (const [directive, what] of [
  ['#retry', 'a retried step (seq 1 again) is not repeated, the status line is not answer text'],
  ['#drop=2', 'a lost delta is repaired from the kind:1'],
  ['#reorder', 'deltas out of order are put back in order'],
  ['#dup', 'duplicated deltas are sent once'],
  ['#acp', 'ACP-style sequence numbers (a turn starting above 1)'],
  ['#chunk=1', 'one-byte chunks on UTF-8 boundaries'],
]) {
  test(`${directive}: ${what}`, async () => {
    const { text } = await streamText(client, user(`${directive} the quick brown fox jumps over the lazy dog`));
    assert.equal(text, 'echo: the quick brown fox jumps over the lazy dog');
  });
}

test('a run that ends with no completion finishes with what was said', async () => {
  const { text, chunks } = await streamText(client, user('#nocompletion quiet end'));
  assert.equal(text, 'echo: quiet end');
  assert.equal(chunks.at(-1).choices[0].finish_reason, 'stop');
});

test('a delegation (two runs) ends with the second run\'s completion', async () => {
  const { text } = await streamText(client, user('#delegate ask the team'));
  assert.match(text, /ask the team/);
});

test('agent error → the SDK raises (once: no retry), the error object matches the schema', async () => {
  const retrying = sdk(base, 'demo');
  retrying.maxRetries = 2;
  await assert.rejects(retrying.chat.completions.create({ model: 'pm', ...user('#error please fail') }), err => {
    assert.ok(err instanceof APIError);
    assert.equal(err.status, 500);
    assert.equal(err.code, 'agent_error');
    assert.equal(err.headers.get('x-should-retry'), 'false');
    return true;
  });
  const r = await fetch(`${base}/demo/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'pm', stream: true, ...user('#error in a stream') }),
  });
  const body = await r.text();
  const lines = body.split('\n\n').filter(Boolean);
  assert.equal(lines.at(-1), 'data: [DONE]');
  const err = JSON.parse(lines.at(-2).slice(6));
  valid('error', err);
});

test('a crash notice signed by the backend key ends the turn with an error', async () => {
  await assert.rejects(client.chat.completions.create({ model: 'pm', ...user('#crash') }), err => err.status === 500);
});

test('an ask: its question and suggestions are the text; the next message answers it', async () => {
  const first = await client.chat.completions.create({ model: 'pm', ...user('#ask shall we?') });
  const text = first.choices[0].message.content;
  assert.match(text, /- yes\n- no/);
  const second = await client.chat.completions.create({
    model: 'pm',
    messages: [{ role: 'user', content: '#ask shall we?' }, { role: 'assistant', content: text }, { role: 'user', content: 'yes' }],
  });
  assert.match(second.choices[0].message.content, /yes/);
});

test('a project may be named by its naddr (how TENEX users share projects)', async () => {
  const naddr = nip19.naddrEncode({ identifier: 'demo', pubkey: ownerPub, kind: 31933, relays: [relay.url] });
  const r = await sdk(base, naddr).chat.completions.create({ model: 'pm', ...user('via naddr') });
  assert.equal(r.choices[0].message.content, 'echo: via naddr');
  const ids = (await sdk(base, `nostr:${naddr}`).models.list()).data.map(m => m.id);
  assert.deepEqual(ids, ['pm', 'coder']);
  const g = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'x', maxRetries: 0 });
  assert.equal((await g.chat.completions.create({ model: `${naddr}/coder`, ...user('naddr global') })).model, 'coder');
  const foreign = nip19.naddrEncode({ identifier: 'demo', pubkey: getPublicKey(generateSecretKey()), kind: 31933 });
  await assert.rejects(sdk(base, foreign).chat.completions.create({ model: 'pm', ...user('x') }), err => err.status === 404);
});

// ---- errors -----------------------------------------------------------------------------------
test('unknown project → 404 APIError from the SDK', async () => {
  await assert.rejects(sdk(base, 'nope').chat.completions.create({ model: 'pm', ...user('x') }), err => {
    assert.ok(err instanceof APIError);
    assert.equal(err.status, 404);
    return true;
  });
});

test('bad requests get OpenAI error objects with the right status', async () => {
  const post = (p, body, headers = {}) => fetch(`${base}${p}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  for (const [body, status] of [
    ['{', 400], ['{"model":"pm","messages":[]} trailing', 400], ['{"model":"pm"}', 400],
    ['{"model":"pm","messages":[{"role":"system","content":"x"}]}', 400], ['[]', 400],
  ]) {
    const r = await post('/demo/chat/completions', body);
    assert.equal(r.status, status, body);
    valid('error', await r.json());
  }
  // An oversized body is refused from its Content-Length, possibly before the upload ends: read
  // the answer on a raw socket (a fetch upload may see the reset first).
  const big = await new Promise((resolve, reject) => {
    const sock = net.connect(new URL(base).port, '127.0.0.1');
    let data = '';
    sock.on('data', d => { data += d; });
    sock.on('error', () => {});
    sock.on('close', () => resolve(data));
    setTimeout(() => reject(new Error('no answer to an oversized body')), 10000).unref();
    sock.write('POST /demo/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
      `Content-Length: ${2 * 1024 * 1024}\r\n\r\n` + '{"model":"pm",');
  });
  assert.match(big, /^HTTP\/1\.1 413/);
  const r404 = await fetch(`${base}/no/such/route`);
  assert.equal(r404.status, 404);
  const r405 = await fetch(`${base}/demo/chat/completions`);
  assert.equal(r405.status, 405);
});

test('the global /v1 route: model "<dtag>/<slug>" and unknown slug → model_not_found', async () => {
  const g = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'x', maxRetries: 0 });
  const r = await g.chat.completions.create({ model: 'demo/coder', ...user('global') });
  assert.equal(r.model, 'coder');
  await assert.rejects(g.chat.completions.create({ model: 'demo/nobody', ...user('x') }), err => err.status === 404 && err.code === 'model_not_found');
  const ids = (await g.models.list()).data.map(m => m.id);
  assert.ok(ids.includes('demo') && ids.includes('demo/pm') && ids.includes('demo/coder'), ids.join(','));
});

// ---- robustness ---------------------------------------------------------------------------------
test('client disconnect mid-stream frees the stream and its subscription', async () => {
  const idle = await health();
  const ac = new AbortController();
  const r = await fetch(`${base}/demo/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, signal: ac.signal,
    body: JSON.stringify({ model: 'pm', stream: true, ...user('#slow=300 #chunk=2 a long and slow answer') }),
  });
  const reader = r.body.getReader();
  await reader.read();
  await waitUntil(async () => (await health()).streams_open === idle.streams_open + 1, { what: 'the stream to open' });
  ac.abort();
  await waitUntil(async () => {
    const h = await health();
    return h.streams_open === idle.streams_open && h.subscriptions_open === idle.subscriptions_open;
  }, { timeoutMs: 30000, what: 'streams and subscriptions to return to idle' });
});

test('50 concurrent streams all complete', async () => {
  const results = await Promise.all(Array.from({ length: 50 }, (_, i) => streamText(client, user(`parallel ${i}`))));
  results.forEach(({ text }, i) => assert.equal(text, `echo: parallel ${i}`));
});

test('forged deltas in our thread (another key) never reach the client', async () => {
  const r = await fetch(`${base}/demo/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'pm', stream: true, ...user('#slow=200 #chunk=4 genuine text only') }),
  });
  const root = r.headers.get('x-nostr-thread');
  assert.match(root, /^[0-9a-f]{64}$/);
  const mallory = await relayClient(relay.url, { authKey: generateSecretKey() });
  onCleanup(() => mallory.close());
  for (const seq of ['1', '2', '3'])
    await mallory.publish({ kind: 24135, content: `FORGED${seq}`, tags: [['e', root, '', 'root'], ['e', root, '', 'reply'], ['stream-seq', seq], ['llm-ral', '0']] });
  await mallory.publish({ kind: 1, content: 'FORGED END', tags: [['e', root, '', 'root'], ['p', ownerPub], ['status', 'completed']] });
  const body = await r.text();
  assert.ok(body.endsWith('data: [DONE]\n\n'));
  assert.equal(sseText(body), 'echo: genuine text only');
  assert.ok(!body.includes('FORGED'), 'a forged event reached the client');
});

test('/metrics: Prometheus text with histograms, rejected events, relay state', async () => {
  const r = await fetch(`${base}/metrics`);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^text\/plain/);
  const text = await r.text();
  for (const line of text.split('\n').filter(l => l && !l.startsWith('#')))
    assert.match(line, /^[a-z_]+(\{[a-z_]+="(?:[^"\\]|\\.)*"(,[a-z_]+="(?:[^"\\]|\\.)*")*\})? [0-9.e+-]+$/, `not a Prometheus sample: ${line}`);
  const value = name => Number(text.match(new RegExp(`^${name.replace(/[{}"+]/g, c => '\\' + c)} (\\S+)$`, 'm'))?.[1]);
  assert.ok(value('bridge_time_to_first_chunk_seconds_count') > 0);
  assert.ok(value('bridge_turn_duration_seconds_count') > 0);
  assert.ok(value('bridge_publish_latency_seconds_count') > 0);
  assert.equal(value('bridge_time_to_first_chunk_seconds_bucket{le="+Inf"}'), value('bridge_time_to_first_chunk_seconds_count'));
  // the bridge's own delays: one per chunk a relay message brought, one per published turn
  const chunks = value('bridge_chunk_delay_seconds_count');
  assert.ok(chunks > 10 && chunks <= value('bridge_chunks_total'), `chunk delays ${chunks}`);
  assert.equal(value('bridge_chunk_delay_seconds_bucket{le="+Inf"}'), chunks);
  assert.ok(Number.isFinite(value('bridge_chunk_delay_seconds_bucket{le="1e-05"}')), 'the 10 µs bucket');
  assert.ok(value('bridge_chunk_delay_seconds_sum') / chunks < 0.25, 'a chunk took the bridge over 250 ms on average');
  const prepub = value('bridge_prepublish_seconds_count');
  assert.ok(prepub > 10 && prepub <= value('bridge_chat_requests_total'), `prepublish ${prepub}`);
  assert.ok(value('bridge_prepublish_seconds_sum') > 0);
  assert.ok(value('bridge_events_rejected_total{reason="wrong_author"}') >= 4, 'the forged events were counted');
  assert.equal(value(`bridge_relay_up{url="${relay.url}"}`), 1);
  assert.equal(value('bridge_streams_open'), 0);
  assert.ok(value('bridge_chat_completed_total') > 10);
  // every response by route and status, and they move
  const before = value('bridge_http_requests_total{route="unknown",status="404"}') || 0;
  assert.ok(value('bridge_http_requests_total{route="chat",status="200"}') > 10);
  assert.ok(value('bridge_store_latency_seconds_count') > 0);
  assert.equal((await fetch(`${base}/no/such/route`)).status, 404);
  const again = await (await fetch(`${base}/metrics`)).text();
  assert.match(again, new RegExp(`^bridge_http_requests_total\\{route="unknown",status="404"\\} ${before + 1}$`, 'm'));
});

test('raw SSE bytes: headers, role chunk first, [DONE] last, body ends', async () => {
  const r = await fetch(`${base}/demo/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({ model: 'pm', stream: true, ...user('raw bytes') }),
  });
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^text\/event-stream/);
  assert.equal(r.headers.get('cache-control'), 'no-cache');
  assert.equal(r.headers.get('x-accel-buffering'), 'no');
  assert.match(r.headers.get('x-request-id'), /^req_[0-9a-f]{32}$/);
  assert.match(r.headers.get('x-nostr-event-id'), /^[0-9a-f]{64}$/);
  const body = await withTimeout(r.text(), 30000, 'the body to end');
  const events = body.split('\n\n').filter(Boolean);
  assert.ok(events.every(e => e.startsWith('data: ') || e.startsWith(': ')), 'only data lines and comments');
  assert.ok(!/^data: *$/m.test(body), 'no empty data line');
  assert.equal(events.at(-1), 'data: [DONE]');
});

// ---- liveness ----------------------------------------------------------------------------------
test('offline project → 503; a lazily booted project answers', async () => {
  await startAgent('lazy', ['--lazy', '--agent', `lazypm=${nip19.nsecEncode(generateSecretKey())}`]);
  await startAgent('offline', ['--offline']);
  await waitUntil(async () => {
    const h = await health();
    return ['lazy', 'offline'].every(d => h.projects.some(p => p.dtag === d));
  }, { timeoutMs: 20000, what: 'both projects known' });
  const lazy = await sdk(base, 'lazy').chat.completions.create({ model: 'x', ...user('wake up') });
  assert.equal(lazy.choices[0].message.content, 'echo: wake up');
  // 'offline': its backend key is alive (it serves 'demo'), so bridge sends a boot request that
  // nobody answers, then gives up (a short --boot-timeout here)
  const b = await startBridge(['--boot-timeout', '2']);
  await waitOnline(b.base, 'demo');
  await assert.rejects(sdk(b.base, 'offline').chat.completions.create({ model: 'x', ...user('hello?') }), err => {
    assert.equal(err.status, 503);
    assert.equal(err.code, 'agent_offline');
    return true;
  });
  await b.proc.stop();
});

test('a legacy (pre-2025-12-30) project is read too', async () => {
  await startAgent('old', ['--legacy', '--agent', `oldpm=${nip19.nsecEncode(generateSecretKey())}`]);
  await waitOnline(base, 'old');
  const { text } = await streamText(sdk(base, 'old'), user('legacy hello'));
  assert.equal(text, 'echo: legacy hello');
});

test('agent silent → 504 timeout error', async () => {
  const b = await startBridge(['--first-event-timeout', '2']);
  await waitOnline(b.base, 'demo');
  await assert.rejects(sdk(b.base, 'demo').chat.completions.create({ model: 'pm', ...user('#silent') }), err => err.status === 504);
  const r = await fetch(`${b.base}/demo/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'pm', stream: true, ...user('#silent') }),
  });
  const body = await r.text();
  assert.match(body, /"type":"timeout_error"/);
  assert.ok(body.endsWith('data: [DONE]\n\n'));
  await b.proc.stop();
});

test('SIGTERM with open streams: each ends with an error event and [DONE], exit 0', async () => {
  const b = await startBridge();
  await waitOnline(b.base, 'demo');
  const open = Array.from({ length: 3 }, () => fetch(`${b.base}/demo/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'pm', stream: true, ...user('#slow=500 #chunk=1 a very slow answer indeed') }),
  }).then(r => r.text()));
  await waitUntil(async () => (await health(b.base)).streams_open === 3, { what: 'three streams open' });
  const exit = b.proc.stop('SIGTERM');
  const bodies = await Promise.all(open);
  for (const body of bodies) {
    assert.match(body, /"shutting_down"/);
    assert.ok(body.endsWith('data: [DONE]\n\n'));
  }
  const { code } = await exit;
  assert.equal(code, 0);
});

// ---- production options ---------------------------------------------------------------------------
test('--filler: the filler is the first delta once the agent starts working', async () => {
  const b = await startBridge(['--filler', '... ']);
  await waitOnline(b.base, 'demo');
  const { text, chunks } = await streamText(sdk(b.base, 'demo'), user('fill me'));
  assert.equal(chunks[1].choices[0].delta.content, '... ');
  assert.equal(text, '... echo: fill me');
  await b.proc.stop();
});

test('--stop-on-disconnect: a client gone mid-turn sends TENEX a stop (24134) for that run', async () => {
  const b = await startBridge(['--stop-on-disconnect']);
  await waitOnline(b.base, 'demo');
  const ac = new AbortController();
  const r = await fetch(`${b.base}/demo/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, signal: ac.signal,
    body: JSON.stringify({ model: 'pm', stream: true, ...user('#slow=400 #chunk=1 talk for a long while') }),
  });
  const root = r.headers.get('x-nostr-thread');
  await r.body.getReader().read();
  ac.abort();
  const c = await relayClient(relay.url, { authKey: owner });
  onCleanup(() => c.close());
  const sub = c.subscribe({ kinds: [24134], authors: [ownerPub], '#e': [root] });
  const stop = await sub.waitForEvent(() => true, 'the stop event');
  const pTags = stop.tags.filter(t => t[0] === 'p');
  assert.equal(pTags.length, 1, 'a stop needs exactly the agent as p');
  assert.ok(stop.tags.some(t => t[0] === 'a' && t[1] === `31933:${ownerPub}:demo`));
  assert.ok(nostrToolsVerify(stop));
  await b.proc.stop();
});

test('--log-format json: every line is JSON; no message content and no key in the logs', async () => {
  const b = await startBridge(['--log-format', 'json']);
  await waitOnline(b.base, 'demo');
  const secret = 'the secret word is pomegranate';
  await client.chat.completions.create({ model: 'pm', ...user('warm up') });
  const r = await sdk(b.base, 'demo').chat.completions.create({ model: 'pm', ...user(secret) });
  assert.match(r.choices[0].message.content, /pomegranate/);
  await b.proc.stop();
  const lines = b.proc.stderrLines;
  assert.ok(lines.length > 3);
  for (const l of lines) {
    const j = JSON.parse(l);
    assert.ok(j.ts && j.level && typeof j.msg === 'string', l);
  }
  const all = lines.join('\n');
  assert.ok(!all.includes('pomegranate'), 'message content was logged');
  assert.ok(!all.includes(nip19.nsecEncode(owner)) && !all.includes(ownerHex), 'the key was logged');
  assert.ok(lines.some(l => /chat chatcmpl-\S+ api=openai key=local project=demo agent=pm thread=[0-9a-f]{16} outcome=completed status=200/.test(JSON.parse(l).msg)),
    'one summary line per chat request');
});

test('--log-content: the summary line carries the user text and the reply, JSON-escaped', async () => {
  const b = await startBridge(['--log-content']);
  await waitOnline(b.base, 'demo');
  await sdk(b.base, 'demo').chat.completions.create({ model: 'pm', ...user('log "this" please') });
  await b.proc.stop();
  const line = b.proc.stderrLines.find(l => /chat chatcmpl-\S+ api=openai .*outcome=completed/.test(l));
  assert.ok(line, 'a summary line');
  assert.ok(line.includes('user_text="log \\"this\\" please"'), line);
  assert.ok(line.includes('reply_text="echo: log \\"this\\" please"'), line);
});

test('a client gone mid-turn: the turn still runs to its end and is recorded, so the conversation continues', async () => {
  const text = 'recorded while nobody listened';
  const r = await fetch(`${base}/demo/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'pm', stream: true, ...user(`#slow=150 #chunk=4 ${text}`) }),
  });
  const thread = r.headers.get('x-nostr-thread');
  assert.match(thread, /^[0-9a-f]{64}$/);
  const metric = async name => Number((await (await fetch(`${base}/metrics`)).text()).match(new RegExp(`^${name} (\\d+)$`, 'm'))[1]);
  const before = await metric('bridge_turns_recorded_detached_total');
  const reader = r.body.getReader();
  await reader.read();
  await reader.cancel(); // the client leaves mid-stream
  await waitUntil(async () => (await health()).detached_turns === 1, { what: 'the turn to run on detached' });
  await waitUntil(async () => (await metric('bridge_turns_recorded_detached_total')) === before + 1,
    { timeoutMs: 30000, what: 'the detached turn to be recorded' });
  assert.equal((await health()).detached_turns, 0);
  // the client comes back with the history it would have had: the same thread continues
  const { data, response } = await client.chat.completions.create({
    model: 'pm',
    messages: [
      { role: 'user', content: `#slow=150 #chunk=4 ${text}` },
      { role: 'assistant', content: `echo: ${text}` },
      { role: 'user', content: 'and now?' },
    ],
  }).withResponse();
  assert.equal(response.headers.get('x-nostr-thread'), thread);
  assert.match(data.choices[0].message.content, /turn 2; you said before/);
});
