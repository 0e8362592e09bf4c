// API keys: the official SDK with a wrong, missing and right key; Bearer and X-Api-Key; /health
// public unless protected; keys never in the logs; CORS preflight needs no key.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, chmodSync } from 'node:fs';
import path from 'node:path';
import {
  startRelay, startProcess, freePort, waitUntil, onCleanup, tempDir, generateSecretKey, nip19, BUILD_DIR, BRIDGE_BIN,
} from '../js/lib/harness.mjs';
import { OpenAI, APIError } from '../js/lib/deps.mjs';

const AGENT_BIN = path.join(BUILD_DIR, 'examples/echo-agent/echo-agent');
const owner = generateSecretKey();
const KEY_FLAG = 'sk-flag-0123456789', KEY_ENV = 'sk-env-abcdef', KEY_FILE = 'sk-file-xyz-987';
let base, bridge;

async function startBridge(extra, env = {}) {
  const port = await freePort();
  const p = startProcess(BRIDGE_BIN, ['--server', '--bind', `127.0.0.1:${port}`, '--state', ':memory:', '--relay', relay.url, ...extra], {
    env: { TENEX_NSEC: nip19.nsecEncode(owner), ...env },
  });
  onCleanup(() => p.stop());
  await p.waitForLine(/listening on/, 20000, { stream: 'stderr' });
  return { proc: p, base: `http://127.0.0.1:${port}` };
}

let relay;
before(async () => {
  relay = await startRelay({ auth: true });
  const agent = startProcess(AGENT_BIN, ['--relay', relay.url, '--project', 'demo', '--status-interval', '2'], {
    env: { ECHO_OWNER_NSEC: nip19.nsecEncode(owner), ECHO_BACKEND_NSEC: nip19.nsecEncode(generateSecretKey()) },
  });
  onCleanup(() => agent.stop());
  const dir = tempDir();
  const file = path.join(dir, 'keys');
  writeFileSync(file, `# one key per line\n${KEY_FILE}\n`);
  chmodSync(file, 0o600);
  ({ base, proc: bridge } = await startBridge(['--api-key', KEY_FLAG, '--api-key-file', file], { BRIDGE_API_KEYS: KEY_ENV }));
  await waitUntil(async () => (await (await fetch(`${base}/health`)).json()).projects?.some(p => p.online),
    { timeoutMs: 30000, intervalMs: 200, what: 'project online' });
});

const sdk = key => new OpenAI({ baseURL: `${base}/demo`, apiKey: key, maxRetries: 0 });
const ask = c => c.chat.completions.create({ model: 'pm', messages: [{ role: 'user', content: 'auth?' }] });

test('a wrong key is 401 invalid_api_key (AuthenticationError in the SDK)', async () => {
  await assert.rejects(ask(sdk('sk-wrong')), err => {
    assert.ok(err instanceof APIError);
    assert.equal(err.status, 401);
    assert.equal(err.code, 'invalid_api_key');
    assert.equal(err.type, 'invalid_request_error');
    return true;
  });
  await assert.rejects(sdk('sk-wrong').models.list(), err => err.status === 401);
});

test('a missing key is 401 too', async () => {
  const r = await fetch(`${base}/demo/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'pm', messages: [{ role: 'user', content: 'x' }] }),
  });
  assert.equal(r.status, 401);
  const body = await r.json();
  assert.equal(body.error.code, 'invalid_api_key');
  assert.match(body.error.message, /Authorization: Bearer/);
});

test('keys from --api-key, BRIDGE_API_KEYS and --api-key-file all work, as Bearer and as X-Api-Key', async () => {
  for (const key of [KEY_FLAG, KEY_ENV, KEY_FILE]) {
    const r = await ask(sdk(key));
    assert.equal(r.choices[0].message.content, 'echo: auth?');
  }
  const r = await fetch(`${base}/demo/models`, { headers: { 'x-api-key': KEY_FILE } });
  assert.equal(r.status, 200);
});

test('/health is public, /metrics is not; preflight needs no key', async () => {
  assert.equal((await fetch(`${base}/health`)).status, 200);
  assert.equal((await fetch(`${base}/metrics`)).status, 401);
  const m = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${KEY_FLAG}` } });
  assert.equal(m.status, 200);
  assert.match(await m.text(), /bridge_unauthorized_total [1-9]/);
  const pre = await fetch(`${base}/demo/chat/completions`, {
    method: 'OPTIONS', headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' },
  });
  assert.ok(pre.status === 204 || pre.status === 200, `preflight status ${pre.status}`);
});

test('--protect-health puts /health behind a key', async () => {
  const b = await startBridge(['--api-key', KEY_FLAG, '--protect-health']);
  assert.equal((await fetch(`${b.base}/health`)).status, 401);
  assert.equal((await fetch(`${b.base}/health`, { headers: { authorization: `Bearer ${KEY_FLAG}` } })).status, 200);
  await b.proc.stop();
});

test('no key and a public bind address: a warning at start-up', async () => {
  const port = await freePort();
  const p = startProcess(BRIDGE_BIN, ['--server', '--bind', `0.0.0.0:${port}`, '--state', ':memory:', '--relay', relay.url], {
    env: { TENEX_NSEC: nip19.nsecEncode(owner) },
  });
  onCleanup(() => p.stop());
  await p.waitForLine(/no API keys configured and 0\.0\.0\.0/, 20000, { stream: 'stderr' });
  await p.stop();
});

test('a key file readable by others is refused at start-up (exit 2)', async () => {
  const dir = tempDir();
  const file = path.join(dir, 'keys');
  writeFileSync(file, 'sk-x\n');
  chmodSync(file, 0o644);
  const p = startProcess(BRIDGE_BIN, ['--server', '--state', ':memory:', '--relay', relay.url, '--api-key-file', file], {
    env: { TENEX_NSEC: nip19.nsecEncode(owner) },
  });
  const { code } = await p.exited;
  assert.equal(code, 2);
  assert.match(p.output(), /readable by other users/);
});

test('no key ever appears in the logs', async () => {
  const out = bridge.output();
  for (const k of [KEY_FLAG, KEY_ENV, KEY_FILE]) assert.ok(!out.includes(k), `key ${k} was logged`);
  assert.match(out, /3 API key\(s\) configured/);
});

test('limits per key: requests per minute and concurrent streams → 429 with Retry-After', async () => {
  const b = await startBridge(['--api-key', 'key-a', '--api-key', 'key-b', '--rate-limit', '2', '--max-streams-per-key', '1']);
  await waitUntil(async () => (await (await fetch(`${b.base}/health`)).json()).projects?.some(p => p.online),
    { timeoutMs: 30000, intervalMs: 200, what: 'project online' });
  const chat = (key, content, stream = false) => fetch(`${b.base}/demo/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ model: 'pm', stream, messages: [{ role: 'user', content }] }),
  });
  // concurrency: a slow stream holds key-a's only slot
  const slow = await chat('key-a', '#slow=300 #chunk=1 hold the slot', true);
  assert.equal(slow.status, 200);
  const busy = await chat('key-a', 'second at once');
  assert.equal(busy.status, 429);
  assert.ok(Number(busy.headers.get('retry-after')) >= 1);
  const err = (await busy.json()).error;
  assert.equal(err.code, 'rate_limit_exceeded');
  assert.match(err.message, /concurrent/);
  assert.equal((await chat('key-b', 'other key is fine')).status, 200);
  await slow.text();
  // rate: key-a has used 1 of its 2 per minute (the 429 above did not count): one more, then no
  assert.equal((await chat('key-a', 'the second one')).status, 200);
  const third = await chat('key-a', 'one too many');
  assert.equal(third.status, 429);
  assert.match((await third.json()).error.message, /per minute/);
  assert.ok(Number(third.headers.get('retry-after')) >= 1);
  const m = await (await fetch(`${b.base}/metrics`, { headers: { authorization: 'Bearer key-b' } })).text();
  assert.match(m, /^bridge_rate_limited_total 2$/m);
  await b.proc.stop();
});

test('--config: named keys limited to projects; a thread belongs to the key that created it', async () => {
  const dir = tempDir();
  const file = path.join(dir, 'bridge.json');
  writeFileSync(file, JSON.stringify({
    api_keys: [
      { key: 'sk-alice-1111', name: 'alice', projects: ['demo'] },
      { key: 'sk-bob-2222', name: 'bob', projects: ['elsewhere'] },
      { key: 'sk-carol-3333', name: 'carol', max_streams: 3 },
    ],
  }));
  chmodSync(file, 0o644);
  const refused = startProcess(BRIDGE_BIN, ['--server', '--bind', '127.0.0.1:0', '--state', ':memory:', '--relay', relay.url, '--config', file], {
    env: { TENEX_NSEC: nip19.nsecEncode(owner) },
  });
  assert.equal((await refused.exited).code, 2, 'a config file readable by others is refused');
  chmodSync(file, 0o600);
  const b = await startBridge(['--config', file]);
  await waitUntil(async () => (await (await fetch(`${b.base}/health`)).json()).projects?.some(p => p.online),
    { timeoutMs: 30000, intervalMs: 200, what: 'project online' });
  const chat = (key, content, headers = {}) => fetch(`${b.base}/demo/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, ...headers },
    body: JSON.stringify({ model: 'pm', messages: [{ role: 'user', content }] }),
  });
  // bob may not use demo: it does not exist for him (not in /v1/models either)
  const bob = await chat('sk-bob-2222', 'hello?');
  assert.equal(bob.status, 404);
  assert.equal((await bob.json()).error.code, 'project_not_found');
  const models = await (await fetch(`${b.base}/v1/models`, { headers: { authorization: 'Bearer sk-bob-2222' } })).json();
  assert.deepEqual(models.data, []);
  // alice's thread
  const a1 = await chat('sk-alice-1111', 'alice says plum');
  assert.equal(a1.status, 200);
  const thread = a1.headers.get('x-nostr-thread');
  assert.match(thread, /^[0-9a-f]{64}$/);
  // carol cannot continue or name it
  const c1 = await chat('sk-carol-3333', 'what did alice say?', { 'x-nostr-thread': thread });
  assert.equal(c1.status, 404);
  assert.equal((await c1.json()).error.code, 'thread_not_found');
  // nor continue it by sending alice's history: that starts a thread of her own
  const history = { model: 'pm', messages: [
    { role: 'user', content: 'alice says plum' }, { role: 'assistant', content: 'echo: alice says plum' },
    { role: 'user', content: 'and then?' }] };
  const c2 = await fetch(`${b.base}/demo/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer sk-carol-3333' }, body: JSON.stringify(history),
  });
  assert.equal(c2.status, 200);
  assert.notEqual(c2.headers.get('x-nostr-thread'), thread);
  // alice can, both ways
  const a2 = await chat('sk-alice-1111', 'which fruit?', { 'x-nostr-thread': thread });
  assert.equal(a2.status, 200);
  assert.match((await a2.json()).choices[0].message.content, /you said before: alice says plum/);
  const a3 = await fetch(`${b.base}/demo/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer sk-alice-1111' }, body: JSON.stringify(history),
  });
  assert.equal(a3.headers.get('x-nostr-thread'), thread);
  const m = await (await fetch(`${b.base}/metrics`, { headers: { authorization: 'Bearer sk-carol-3333' } })).text();
  assert.match(m, /^bridge_thread_forbidden_total 1$/m);
  await b.proc.stop();
  const logs = b.proc.stderrLines.join('\n');
  assert.match(logs, /chat chatcmpl-\S+ api=openai key=alice project=demo/);
  assert.match(logs, /chat chatcmpl-\S+ api=openai key=carol project=demo/);
  for (const k of ['sk-alice-1111', 'sk-bob-2222', 'sk-carol-3333']) assert.ok(!logs.includes(k), 'a key was logged');
});
