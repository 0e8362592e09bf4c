// Faults (issue 7): the real `bridge --server` binary (an ASan/UBSan build in CI) against real
// relays (tests/js/relay.mjs) and the example TENEX agent, while things go wrong: relays die or
// turn hostile, the agent dies, clients vanish or stop reading, requests are garbage, the
// process is signalled. Every test ends by stopping its bridge with SIGTERM and requires exit 0
// and no sanitizer report in its output (LeakSanitizer makes a leak a non-zero exit).
//
// bridge.test.mjs covers the happy paths and the simple fault cases (agent silent, a forged
// delta signed by another key, one client disconnect mid-stream, SIGTERM with three streams);
// this file does not repeat them.
//
// FAULTS_SEED=N replays the malformed-request test with another seed; FAULTS_DEBUG=1 runs the
// bridges with --log-level debug; HARNESS_ECHO=1 echoes every process's output.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import {
  startRelay, startProcess, waitUntil, relayClient, onCleanup, withTimeout, sleep, tempDir, freePort,
  WebSocket, WebSocketServer, generateSecretKey, getPublicKey, finalizeEvent, plainEvent, nip19, BUILD_DIR, BRIDGE_BIN,
} from '../js/lib/harness.mjs';

const AGENT_BIN = path.join(BUILD_DIR, 'examples/echo-agent/echo-agent');

// ---- keys ---------------------------------------------------------------------------------------
const owner = generateSecretKey();
const backend = generateSecretKey();
const pm = generateSecretKey();
const coder = generateSecretKey();
const ownerPub = getPublicKey(owner);
const pmPub = getPublicKey(pm);
const nsec = k => nip19.nsecEncode(k);
const AGENT_ENV = {
  ECHO_OWNER_NSEC: nsec(owner),
  ECHO_BACKEND_NSEC: nsec(backend),
  ECHO_AGENTS: `pm=${nsec(pm)} coder=${nsec(coder)}`,
};

const SANITIZER = /ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|SUMMARY: (?:Address|UndefinedBehavior|Leak)Sanitizer/;

// ---- processes ------------------------------------------------------------------------------------
function startAgent(relays, project = 'demo', extra = []) {
  const p = startProcess(AGENT_BIN, [
    '--project', project, '--status-interval', '2', ...relays.flatMap(r => ['--relay', r.url]), ...extra,
  ], { env: AGENT_ENV, name: `agent:${project}` });
  onCleanup(() => p.stop());
  return p;
}

/**
 * The relay (NIP-42 AUTH on, recent ephemeral events replayed, as on TENEX's relay) and the 'demo'
 * agent that the tests which do not kill them share; started by the first test that needs them.
 */
let shared;
async function sharedWorld() {
  if (!shared) {
    const relay = await startRelay({ auth: true, replayEphemeral: 60 });
    shared = { relay, agent: startAgent([relay]) };
  }
  return shared;
}

/**
 * Start `bridge --server` on a port the kernel picks, `--state :memory:` always. opts.logFile: the
 * bridge logs there (--log-file), so "listening" is looked for in that file.
 */
async function startBridge(relays, extra = [], { logFile, env = {} } = {}) {
  const args = ['--server', '--bind', '127.0.0.1:0', '--state', ':memory:', '--startup-grace', '3',
    ...relays.flatMap(r => ['--relay', r.url]), ...extra, ...(process.env.FAULTS_DEBUG ? ['--log-level', 'debug'] : [])];
  if (logFile) args.push('--log-file', logFile);
  const proc = startProcess(BRIDGE_BIN, args, { env: { TENEX_NSEC: nsec(owner), ...env }, name: 'bridge' });
  let port;
  if (logFile) {
    port = await waitUntil(() => {
      const m = existsSync(logFile) && /listening on http:\/\/\S+ \(port (\d+)\)/.exec(readFileSync(logFile, 'utf8'));
      if (!proc.running()) throw new Error(`bridge exited: ${proc.output()}`);
      return m && Number(m[1]);
    }, { timeoutMs: 30000, what: 'bridge to log "listening on" into its --log-file' });
  } else {
    port = Number((await proc.waitForLine(/listening on http:\/\/\S+ \(port (\d+)\)/, 30000, { stream: 'stderr' }))[1]);
  }
  const b = { proc, port, base: `http://127.0.0.1:${port}`, logFiles: logFile ? [logFile] : [] };
  b.health = async () => (await fetch(`${b.base}/health`)).json();
  b.metrics = () => metrics(b);
  return b;
}

/** Everything the bridge wrote: its stderr and its log files. */
function bridgeOutput(b) {
  let out = b.proc.output();
  for (const f of b.logFiles) if (existsSync(f)) out += `\n--- ${f} ---\n${readFileSync(f, 'utf8')}`;
  return out;
}

function assertNoSanitizerReport(b) {
  const out = bridgeOutput(b);
  const m = SANITIZER.exec(out);
  if (m) assert.fail(`the bridge printed a sanitizer report:\n${out.slice(Math.max(0, m.index - 2000), m.index + 6000)}`);
}

/** The end of every test: SIGTERM, exit 0 (LeakSanitizer exits non-zero on a leak), no report. */
async function finish(b) {
  assert.ok(b.proc.running(), `the bridge died during the test:\n${bridgeOutput(b).slice(-6000)}`);
  const { code, signal } = await b.proc.stop('SIGTERM', 30000);
  assertNoSanitizerReport(b);
  assert.equal(code, 0, `bridge exit code ${code} signal ${signal}:\n${bridgeOutput(b).slice(-4000)}`);
}

async function metrics(b) {
  const text = await (await fetch(`${b.base}/metrics`)).text();
  const m = new Map();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    m.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return m;
}

async function waitOnline(b, dtag = 'demo', timeoutMs = 30000) {
  await waitUntil(async () => (await b.health()).projects?.some(p => p.dtag === dtag && p.online), {
    timeoutMs, intervalMs: 100, what: `project ${dtag} online`,
  });
}

async function waitRelaysOpen(b, n, timeoutMs = 30000) {
  await waitUntil(async () => (await b.health()).relays.filter(r => r.state === 'open').length === n, {
    timeoutMs, intervalMs: 100, what: `${n} relays open`,
  });
}

/** Wait until nothing is open for clients and the subscriptions are back to `subs`. */
async function waitIdle(b, subs, what = 'the bridge to be idle') {
  let last;
  try {
    await waitUntil(async () => {
      last = await b.health();
      return last.streams_open === 0 && last.requests_open === 0 && (last.detached_turns ?? 0) === 0 &&
        (subs === undefined || last.subscriptions_open === subs);
    }, { timeoutMs: 20000, intervalMs: 100, what });
  } catch (e) {
    e.message += `; last /health: streams_open=${last?.streams_open} requests_open=${last?.requests_open} detached_turns=${last?.detached_turns} subscriptions_open=${last?.subscriptions_open} (want ${subs})`;
    throw e;
  }
  return last;
}

// ---- chat clients ------------------------------------------------------------------------------
const body = (content, extra = {}) => JSON.stringify({ model: 'pm', messages: [{ role: 'user', content }], ...extra });

function chatFetch(b, content, { project = 'demo', stream = true, signal, extra } = {}) {
  return fetch(`${b.base}/${project}/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, signal, body: body(content, { stream, ...extra }),
  });
}

/** Parse raw SSE text: the `data:` payloads, JSON-parsed except [DONE]. */
function sseData(raw) {
  return raw.split('\n\n').filter(e => e.startsWith('data: ')).map(e => e.slice(6)).map(d => (d === '[DONE]' ? d : JSON.parse(d)));
}
const deltaText = datas => datas.filter(d => d !== '[DONE]' && d.choices).map(d => d.choices[0]?.delta?.content ?? '').join('');
const errorOf = datas => datas.find(d => d !== '[DONE]' && d.error)?.error;

/**
 * A streaming chat read chunk by chunk: {response, root (X-Nostr-Thread), raw(), datas(), text(),
 * contentDeltas(), waitFor(pred over datas), done (resolves with the raw body), abort()}.
 */
async function openStream(b, content, opts = {}) {
  const ac = new AbortController();
  const response = await chatFetch(b, content, { ...opts, signal: ac.signal });
  const s = { response, root: response.headers.get('x-nostr-thread'), abort: () => ac.abort() };
  let raw = '';
  const waiters = new Set();
  s.raw = () => raw;
  s.datas = () => sseData(raw.slice(0, raw.lastIndexOf('\n\n') + 2));
  s.text = () => deltaText(s.datas());
  s.contentDeltas = () => s.datas().filter(d => d !== '[DONE]' && d.choices?.[0]?.delta?.content).length;
  s.done = (async () => {
    const dec = new TextDecoder();
    try {
      for await (const chunk of response.body) {
        raw += dec.decode(chunk, { stream: true });
        for (const w of waiters) w();
      }
    } finally {
      s.ended = true;
      for (const w of waiters) w();
    }
    return raw;
  })();
  s.done.catch(() => {});
  s.waitFor = (pred, what, ms = 30000) => withTimeout(new Promise((resolve, reject) => {
    const w = () => {
      if (pred(s)) { waiters.delete(w); resolve(); } else if (s.ended) { waiters.delete(w); reject(new Error(`stream ended before ${what}: ${raw.slice(-2000)}`)); }
    };
    waiters.add(w);
    w();
  }), ms, what);
  return s;
}

/** A plain chat that must succeed with exactly `echo: <text>`. */
async function chatOk(b, text, project = 'demo') {
  const r = await chatFetch(b, text, { project });
  const raw = await withTimeout(r.text(), 60000, 'a normal chat');
  assert.equal(r.status, 200, raw);
  const datas = sseData(raw);
  assert.equal(datas.at(-1), '[DONE]', raw.slice(-500));
  assert.equal(errorOf(datas), undefined, raw.slice(-1000));
  assert.equal(deltaText(datas), `echo: ${text}`);
}

/** The OpenAI error object shape. */
function assertOpenAIError(obj, raw) {
  assert.ok(obj && typeof obj === 'object' && obj.error && typeof obj.error === 'object', `not an OpenAI error: ${raw}`);
  assert.equal(typeof obj.error.message, 'string', raw);
  assert.ok(obj.error.message.length > 0, raw);
  assert.equal(typeof obj.error.type, 'string', raw);
  assert.ok(obj.error.param === null || typeof obj.error.param === 'string', raw);
  assert.ok(obj.error.code === null || typeof obj.error.code === 'string', raw);
}

/** A raw HTTP exchange: write `data` (Buffer/string parts), then read one response or the close. */
function rawExchange(port, parts, { endAfterWrite = true, timeoutMs = 10000 } = {}) {
  return new Promise(resolve => {
    const sock = net.connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    let settled = false;
    const finishWith = res => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      resolve({ ...res, bytes: buf });
    };
    const timer = setTimeout(() => finishWith({ outcome: 'hang' }), timeoutMs);
    sock.on('error', e => finishWith({ outcome: buf.length ? 'partial' : 'closed', error: e.code }));
    sock.on('close', () => {
      const parsed = parseResponse(buf);
      finishWith(parsed ? { outcome: 'response', ...parsed } : { outcome: buf.length ? 'partial' : 'closed' });
    });
    sock.on('data', d => {
      buf = Buffer.concat([buf, d]);
      const parsed = parseResponse(buf);
      if (parsed && parsed.complete) finishWith({ outcome: 'response', ...parsed });
    });
    sock.on('connect', () => {
      for (const p of parts) sock.write(p);
      if (endAfterWrite) sock.end();
    });
  });
}

/** Parse one HTTP/1.1 response from buf: null while the head is incomplete. */
function parseResponse(buf) {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const head = buf.subarray(0, end).toString('latin1');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(head);
  if (!m) return { status: 0, head, body: '', complete: true };
  if (m[1].startsWith('1')) return parseResponse(buf.subarray(end + 4)); // 100 Continue: the answer follows
  const headers = {};
  for (const line of head.split('\r\n').slice(1)) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  const rest = buf.subarray(end + 4);
  const cl = headers['content-length'];
  if (cl !== undefined) {
    const n = Number(cl);
    return { status: Number(m[1]), headers, head, body: rest.subarray(0, n).toString('utf8'), complete: rest.length >= n };
  }
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
    // de-chunk what is there; complete on the 0-length chunk
    let out = Buffer.alloc(0);
    let i = 0;
    for (;;) {
      const eol = rest.indexOf('\r\n', i);
      if (eol < 0) return { status: Number(m[1]), headers, head, body: out.toString('utf8'), complete: false };
      const size = parseInt(rest.subarray(i, eol).toString('latin1'), 16);
      if (size === 0) return { status: Number(m[1]), headers, head, body: out.toString('utf8'), complete: true };
      if (rest.length < eol + 2 + size + 2) return { status: Number(m[1]), headers, head, body: out.toString('utf8'), complete: false };
      out = Buffer.concat([out, rest.subarray(eol + 2, eol + 2 + size)]);
      i = eol + 2 + size + 2;
    }
  }
  return { status: Number(m[1]), headers, head, body: rest.toString('utf8'), complete: false };
}

/** VmRSS of a process in KiB. */
const rssKiB = pid => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);

/** The relay-side subscriptions of connections authenticated as pubkey (or of all connections). */
async function relaySubs(relay, pubkey) {
  const st = await relay.stats();
  return st.connections.filter(c => !pubkey || c.pubkey === pubkey).reduce((n, c) => n + Object.keys(c.subscriptions).length, 0);
}

/**
 * A WebSocket proxy in front of a relay that holds back the relay's frames matching `hold` (text)
 * for delayMs; everything else passes at once (so held frames are overtaken). Returns {url}.
 */
async function startDelayingProxy(relay, delayMs, hold = text => text.startsWith('["OK"')) {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((resolve, reject) => { wss.once('listening', resolve); wss.once('error', reject); });
  wss.on('connection', client => {
    const upstream = new WebSocket(relay.url);
    const early = [];
    const close = () => { client.terminate(); upstream.terminate(); };
    upstream.on('open', () => { for (const m of early.splice(0)) upstream.send(m); });
    client.on('message', (data, binary) => {
      const m = binary ? data : data.toString();
      if (upstream.readyState === WebSocket.OPEN) upstream.send(m); else early.push(m);
    });
    upstream.on('message', (data, binary) => {
      const m = binary ? data : data.toString();
      const send = () => { if (client.readyState === WebSocket.OPEN) client.send(m); };
      if (!binary && hold(m)) setTimeout(send, delayMs); else send();
    });
    for (const ws of [client, upstream]) { ws.on('close', close); ws.on('error', () => {}); }
  });
  onCleanup(() => new Promise(resolve => { for (const c of wss.clients) c.terminate(); wss.close(() => resolve()); }));
  return { url: `ws://127.0.0.1:${wss.address().port}` };
}

/** Sign with nostr-tools (a plain object) */
const sign = (template, key) => plainEvent(finalizeEvent({ created_at: Math.floor(Date.now() / 1000), tags: [], content: '', ...template }, key));

// ==== 1. two relays, one killed mid-stream ====================================================
test('two relays, one SIGKILLed mid-stream: the completion text is complete and exact', async () => {
  const [relayA, relayB] = await Promise.all([startRelay({ auth: true, replayEphemeral: 60 }), startRelay({ auth: true, replayEphemeral: 60 })]);
  startAgent([relayA, relayB]);
  const b = await startBridge([relayA, relayB], ['--idle-timeout', '15', '--first-event-timeout', '15']);
  await waitOnline(b);
  await waitRelaysOpen(b, 2);

  const text = 'every single word of this answer must arrive exactly once and in order';
  const s = await openStream(b, `#slow=120 #chunk=3 ${text}`);
  assert.equal(s.response.status, 200);
  await s.waitFor(x => x.contentDeltas() >= 3, 'three content deltas');
  await relayA.kill('SIGKILL');
  const raw = await withTimeout(s.done, 60000, 'the stream to end');
  const datas = sseData(raw);
  assert.equal(errorOf(datas), undefined, `the stream ended with an error: ${raw.slice(-1000)}`);
  assert.equal(datas.at(-1), '[DONE]');
  assert.equal(deltaText(datas), `echo: ${text}`);
  assert.equal(datas.filter(d => d.choices?.[0]?.finish_reason).at(-1).choices[0].finish_reason, 'stop');

  // the bridge noticed, and a follow-up in the same conversation goes through the survivor
  await waitUntil(async () => (await b.health()).relays.find(r => r.url === relayA.url).state !== 'open', { what: 'relay A seen down' });
  const follow = await fetch(`${b.base}/demo/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'pm', messages: [{ role: 'user', content: `#slow=120 #chunk=3 ${text}` }, { role: 'assistant', content: `echo: ${text}` }, { role: 'user', content: 'and now?' }] }),
  }).then(r => r.json());
  assert.match(follow.choices?.[0]?.message?.content ?? JSON.stringify(follow), /^echo: and now\? \(turn 2; /);
  await finish(b);
});

// ==== 2. every relay down mid-stream, then back ================================================
test('all relays down mid-stream: SSE error then [DONE]; relays back on the same ports: the next request succeeds', async () => {
  const [relayA, relayB] = await Promise.all([startRelay({ auth: true, replayEphemeral: 60 }), startRelay({ auth: true, replayEphemeral: 60 })]);
  startAgent([relayA, relayB]);
  const b = await startBridge([relayA, relayB], ['--idle-timeout', '2', '--first-event-timeout', '5', '--publish-timeout', '2']);
  await waitOnline(b);
  await waitRelaysOpen(b, 2);
  const idleSubs = (await b.health()).subscriptions_open;

  const s = await openStream(b, '#slow=300 #chunk=2 a long answer that will never be finished by anyone');
  assert.equal(s.response.status, 200);
  await s.waitFor(x => x.contentDeltas() >= 2, 'two content deltas');
  await Promise.all([relayA.kill('SIGKILL'), relayB.kill('SIGKILL')]);
  const raw = await withTimeout(s.done, 30000, 'the stream to end after the relays died');
  const datas = sseData(raw);
  assert.equal(datas.at(-1), '[DONE]', `the stream did not end with [DONE]: ${raw.slice(-1000)}`);
  const err = errorOf(datas);
  assert.ok(err, `no SSE error event: ${raw.slice(-1000)}`);
  assertOpenAIError({ error: err }, raw);
  assert.ok(datas.at(-2).error, 'the error event is the last before [DONE]');
  await waitIdle(b, undefined, 'the turn to be released');

  // while every relay is down a new request is refused cleanly (503 relay_unavailable or 502)
  const down = await chatFetch(b, 'anyone there?', { stream: false });
  const downBody = await down.text();
  assert.ok([502, 503, 504].includes(down.status), `status ${down.status}: ${downBody}`);
  assertOpenAIError(JSON.parse(downBody), downBody);
  process.stdout.write(`# relays down: the open stream ended with ${err.code ?? err.type}; a new request got ${down.status} ${JSON.parse(downBody).error.code}\n`);

  await Promise.all([relayA.restart(), relayB.restart()]);
  await waitRelaysOpen(b, 2, 60000);
  await waitOnline(b, 'demo', 60000);
  await chatOk(b, 'back again after the outage');
  await waitIdle(b, idleSubs, 'subscriptions back to the idle count');
  await finish(b);
});

// ==== 2b. a slow relay OK ======================================================================
// BUG (reported to the lead, not fixed here; this test fails until it is): a delta that arrives
// before the relay's OK for the published message (a relay slow to answer OK, an OK lost in a
// reconnect and the message re-sent, a second relay that is faster) reaches
// src/chat/session.c on_turn_text() while the session is still in ST_PUBLISH: it calls
// nb_http_sse_write() on a request whose SSE response has not started (on_published() starts
// it), gets NB_EINVAL, and takes that for a slow reader ("the client reads too slowly; the
// stream was cut"). The client gets a 200 with an empty body (or only the role chunk): no text,
// no error, no [DONE]. Non-streaming requests are not affected.
test('a relay slow to answer OK: deltas that overtake the OK are not lost', async () => {
  const relay = await startRelay({});
  startAgent([relay], 'demo', ['--delay-ms', '20']);
  const proxy = await startDelayingProxy(relay, 800); // every OK from the relay comes 0.8 s late
  const b = await startBridge([proxy], ['--idle-timeout', '15', '--first-event-timeout', '15']);
  await waitOnline(b);
  const text = 'these words overtake the relay OK for the message';
  const problems = [];
  const r = await chatFetch(b, `#chunk=4 ${text}`);
  const raw = await withTimeout(r.text(), 30000, 'the stream to end');
  const datas = sseData(raw);
  if (r.status !== 200 || errorOf(datas) || datas.at(-1) !== '[DONE]' || deltaText(datas) !== `echo: ${text}`)
    problems.push(`streaming: status ${r.status}, body ${JSON.stringify(raw.slice(-400))}`);
  const pr = await chatFetch(b, `#chunk=4 ${text} again`, { stream: false });
  const plain = await pr.text();
  let content;
  try { content = JSON.parse(plain).choices?.[0]?.message?.content; } catch { content = undefined; }
  if (content !== `echo: ${text} again`) problems.push(`non-streaming: status ${pr.status}, body ${plain.slice(0, 400)}`);
  assert.deepEqual(problems, [], `deltas before the OK were lost:\n${problems.join('\n')}`);
  await finish(b);
});

// A relay that caps subscriptions per connection (strfry's maxSubsPerConnection) refuses the
// conversation's REQ with CLOSED. Before, the bridge published anyway: the agent answered into a
// thread nobody listened to, and the client got a 504 a minute later. Now the message is not
// sent and the client hears why at once; a turn whose slot exists still works.
test('a relay that refuses or ends the conversation\'s subscription (per-connection cap, CLOSED mid-turn): 503 before anything is published, an error event mid-turn', async () => {
  const relay = await startRelay({ auth: true, replayEphemeral: 60 });
  startAgent([relay]);
  const b = await startBridge([relay], ['--first-event-timeout', '60']);
  await waitOnline(b);
  const idleSubs = (await b.health()).subscriptions_open;
  const capped = await relaySubs(relay, ownerPub);
  assert.ok(capped > 0 && capped === idleSubs, `the relay sees the bridge's ${idleSubs} subscriptions (${capped})`);
  // room for one conversation on the bridge's connection
  const hook = await fetch(`${relay.httpBase}/_test/sub-cap?n=${capped + 1}`, { method: 'POST' });
  assert.equal(hook.status, 200);
  const m0 = await b.metrics();

  const held = await openStream(b, '#slow=150 #chunk=2 this turn holds the only free slot for a while');
  await held.waitFor(s => s.contentDeltas() > 0, 'the first turn to stream');
  const marker = `refused-${Date.now()}`;
  const t0 = Date.now();
  for (const stream of [false, true]) {
    const r = await chatFetch(b, `${marker} ${stream}`, { stream });
    const raw = await r.text();
    assert.equal(r.status, 503, raw);
    const e = JSON.parse(raw);
    assertOpenAIError(e, raw);
    assert.equal(e.error.code, 'relay_refused', raw);
    assert.match(e.error.message, /too many concurrent REQs/, raw);
  }
  assert.ok(Date.now() - t0 < 10000, `the refusals took ${Date.now() - t0} ms (not a timeout)`);

  const done = await withTimeout(held.done, 60000, 'the held turn to finish');
  assert.equal(sseData(done).at(-1), '[DONE]');
  assert.equal(held.text(), 'echo: this turn holds the only free slot for a while');
  await waitIdle(b, idleSubs, 'the refused and the finished turns to release everything');

  // the slot is free again: a conversation works
  const ok = await chatFetch(b, '#chunk=3 and now there is room', { stream: false });
  const okRaw = await ok.text();
  assert.equal(ok.status, 200, okRaw);
  assert.equal(JSON.parse(okRaw).choices[0].message.content, 'echo: and now there is room');

  // the refused messages never reached the relay (nor the agent)
  await fetch(`${relay.httpBase}/_test/sub-cap?n=0`, { method: 'POST' });
  const watcher = await relayClient(relay.url, { authKey: generateSecretKey() }); // not the bridge's key: relaySubs counts that one
  const stored = await watcher.subscribe({ kinds: [1], authors: [ownerPub], limit: 500 }).eose;
  assert.ok(stored.some(ev => ev.content.endsWith('and now there is room')), 'the relay has the accepted message');
  assert.deepEqual(stored.filter(ev => ev.content.includes(marker)).map(ev => ev.content), []);
  const m1 = await b.metrics();
  assert.equal(m1.get('bridge_subscriptions_refused_total') - m0.get('bridge_subscriptions_refused_total'), 2);

  // mid-turn, the only relay ends the conversation's subscription: an error event now, not a
  // timeout later
  const s = await openStream(b, '#slow=200 #chunk=1 a long answer that the relay will stop carrying');
  await s.waitFor(x => x.contentDeltas() > 0, 'the turn to stream');
  const st = await relay.stats();
  const subId = st.connections.filter(c => c.pubkey === ownerPub).flatMap(c => Object.entries(c.subscriptions))
    .find(([, filters]) => filters.some(f => (f['#e'] || []).includes(s.root)))?.[0];
  assert.ok(subId, `the relay has the thread's subscription (${s.root})`);
  const raw = await fetch(`${relay.httpBase}/_test/raw`, { method: 'POST', body: JSON.stringify(['CLOSED', subId, 'error: shutting down']) });
  assert.equal(raw.status, 200);
  const t1 = Date.now();
  const datas = sseData(await withTimeout(s.done, 20000, 'the stream to end after CLOSED'));
  assert.ok(Date.now() - t1 < 10000, 'the error came at once, not after a timeout');
  assert.equal(errorOf(datas)?.code, 'relay_closed', JSON.stringify(datas.slice(-3)));
  assert.match(errorOf(datas).message, /shutting down/);
  assert.equal(datas.at(-1), '[DONE]');
  await waitIdle(b, idleSubs, 'the closed turn to release everything');
  await finish(b);

  // two relays, one of them down (in backoff): the one that is up refuses, so nobody would hear
  // the answer; the relay that is down must not count as carrying the subscription
  const dead = `ws://127.0.0.1:${await freePort()}`;
  const b2 = await startBridge([relay, { url: dead }]);
  await waitOnline(b2);
  await waitUntil(async () => (await b2.health()).relays.some(r => r.url === dead && r.state !== 'open'), { what: 'the dead relay to be down' });
  const capped2 = await relaySubs(relay, ownerPub);
  await fetch(`${relay.httpBase}/_test/sub-cap?n=${capped2}`, { method: 'POST' });
  const t2 = Date.now();
  const r2 = await chatFetch(b2, `${marker} with a relay down`, { stream: false });
  const raw2 = await r2.text();
  assert.equal(r2.status, 503, raw2);
  assert.equal(JSON.parse(raw2).error.code, 'relay_refused', raw2);
  assert.ok(Date.now() - t2 < 10000, `the refusal took ${Date.now() - t2} ms`);
  await fetch(`${relay.httpBase}/_test/sub-cap?n=0`, { method: 'POST' });
  const stored2 = await watcher.subscribe({ kinds: [1], authors: [ownerPub], limit: 500 }).eose;
  assert.deepEqual(stored2.filter(ev => ev.content.includes(marker)).map(ev => ev.content), []);
  await finish(b2);
});

// ==== 3. a hostile relay ============================================================================
test('a hostile relay (garbage, oversized frame, bad signatures, duplicates, NOTICE flood): bridge stays up, nothing forged reaches the client', async () => {
  const { relay: good } = await sharedWorld();
  const evil = await startRelay({}); // only the bridge connects here: /_test/raw reaches only it
  const b = await startBridge([good, evil], ['--idle-timeout', '15']);
  await waitOnline(b);
  await waitRelaysOpen(b, 2);
  const m0 = await b.metrics();
  const reconnects0 = m0.get(`bridge_relay_reconnects_total{url="${evil.url}"}`);

  const text = 'genuine words only and nothing forged in between them';
  const s = await openStream(b, `#slow=250 #chunk=4 ${text}`);
  assert.equal(s.response.status, 200);
  const root = s.root;
  assert.match(root, /^[0-9a-f]{64}$/);
  await s.waitFor(x => x.contentDeltas() >= 1, 'the first content delta');

  const threadTags = seq => [['e', root, '', 'root'], ['e', root, '', 'reply'], ['stream-seq', String(seq)], ['llm-ral', '0']];
  // (a) signed by the agent's key, then the signature broken / the content changed
  const forged = [];
  for (let seq = 1; seq <= 6; seq++) {
    const ev = sign({ kind: 24135, content: `FORGED-SIG-${seq} `, tags: threadTags(seq) }, pm);
    ev.sig = (ev.sig[0] === '0' ? '1' : '0') + ev.sig.slice(1);
    forged.push(ev);
  }
  for (let seq = 1; seq <= 3; seq++) {
    const ev = sign({ kind: 24135, content: `genuine ${seq}`, tags: threadTags(seq) }, pm);
    ev.content = `FORGED-CONTENT-${seq} `; // the id no longer matches
    forged.push(ev);
  }
  const end = sign({ kind: 1, content: 'FORGED-END', tags: [['e', root, '', 'root'], ['e', root, '', 'reply'], ['p', ownerPub], ['status', 'completed'], ['llm-ral', '1']] }, pm);
  end.sig = `${'00'.repeat(32)}${end.sig.slice(64)}`;
  forged.push(end);
  const garbageSig = sign({ kind: 24135, content: 'FORGED-GARBAGE-SIG', tags: threadTags(1) }, pm);
  garbageSig.sig = 'zz'.repeat(64);
  forged.push(garbageSig);
  let delivered = 0;
  for (const ev of forged) delivered += (await evil.inject(ev)).delivered;
  assert.ok(delivered >= forged.length, `the forged events reached the bridge's thread subscription (delivered ${delivered})`);

  // (b) duplicate ids: a validly signed stranger's event three times, and a genuine delta of the
  // agent (seen on the good relay) twice more through the evil one
  const stranger = sign({ kind: 24135, content: 'FORGED-STRANGER ', tags: threadTags(2) }, generateSecretKey());
  for (let i = 0; i < 3; i++) await evil.inject(stranger);
  const watcher = await relayClient(good.url, { authKey: owner });
  const genuine = await watcher.subscribe({ kinds: [24135], '#e': [root] }).waitForEvent(() => true, 'a genuine delta');
  for (let i = 0; i < 2; i++) await evil.inject(genuine);
  await watcher.close();

  // (c) garbage frames, malformed EVENTs on the bridge's real subscription ids, a NOTICE flood
  const st = await evil.stats();
  const subIds = st.connections.flatMap(c => Object.keys(c.subscriptions));
  assert.ok(subIds.length >= 1, 'the bridge has subscriptions on the evil relay');
  const deep = n => '['.repeat(n) + ']'.repeat(n);
  const garbage = [
    '', ' ', 'null', 'true', '42', '"str"', '{}', '[]', '[[]]', 'not json at all', '[', ']', '["EVENT"', '{"EVENT":1}',
    '["EVENT"]', '["EVENT","sub"]', '["EVENT","sub",null]', '["EVENT",1,2]', '["OK"]', '["OK","zz",true]',
    `["OK","${'a'.repeat(64)}","yes",7]`, '["EOSE"]', '["EOSE",{}]', '["CLOSED",1]', '["CLOSED"]', '["NOTICE"]', '["NOTICE",{}]',
    '["AUTH"]', '["AUTH",{}]', '["COUNT","x",{"count":"many"}]', '["UNKNOWN","x"]', '[1e999999]', '[-0.0e-99999]',
    '["NOTICE","\\ud800\\udc00\\ud800"]', '["NOTICE","\\u0000"]', '["NOTICE","\\x"]', '"\\uZZZZ"', '[1,]', '[,1]', '[01]',
    '["NOTICE","a"]]', '\u0000\u0001\u0002', '\ufeff["NOTICE","bom"]', deep(1000), deep(100000),
    '{"a":'.repeat(50000) + '1' + '}'.repeat(50000), `["NOTICE","${'x'.repeat(900000)}"]`,
    `[${'1,'.repeat(200000)}1]`,
  ];
  // malformed variants of an event whose signature is broken: however leniently one is parsed, it
  // must not verify (a variant of a correctly signed event, e.g. with an extra field, is genuine)
  const badEvent = sign({ kind: 24135, content: 'FORGED-MALFORMED', tags: threadTags(3) }, pm);
  badEvent.sig = badEvent.sig.slice(0, 10) + (badEvent.sig[10] === 'a' ? 'b' : 'a') + badEvent.sig.slice(11);
  const malformedEvents = [
    { ...badEvent, id: badEvent.id.slice(2) }, { ...badEvent, id: badEvent.id.toUpperCase() }, { ...badEvent, sig: undefined },
    { ...badEvent, kind: '24135' }, { ...badEvent, kind: 24135.5 }, { ...badEvent, kind: -1 }, { ...badEvent, kind: 1e20 },
    { ...badEvent, created_at: 1.5 }, { ...badEvent, created_at: -1 }, { ...badEvent, created_at: 1e300 },
    { ...badEvent, tags: 'no' }, { ...badEvent, tags: [[1, 2]] }, { ...badEvent, tags: [[]] }, { ...badEvent, tags: [['e', null]] },
    { ...badEvent, content: 7 }, { ...badEvent, pubkey: 'x'.repeat(64) }, { ...badEvent, pubkey: pmPub.slice(1) },
    { ...badEvent, tags: Array.from({ length: 3000 }, () => ['e', root]) }, { ...badEvent, extra: { nested: [1, 2, 3] } },
  ];
  for (const id of subIds) {
    for (const ev of malformedEvents) garbage.push(JSON.stringify(['EVENT', id, ev]));
    garbage.push(`["EVENT",${JSON.stringify(id)},{"id":"${'0'.repeat(64)}"`); // truncated
    garbage.push(JSON.stringify(['EOSE', id]), JSON.stringify(['EOSE', id]), JSON.stringify(['CLOSED', id, '']));
  }
  for (let i = 0; i < garbage.length; i += 16) await Promise.all(garbage.slice(i, i + 16).map(g => evil.raw(g)));
  for (let i = 0; i < 5; i++) await evil.raw(Buffer.from(Array.from({ length: 256 }, (_, k) => (k * 37 + i) & 255)), { binary: true });
  const NOTICES = 1500;
  for (let i = 0; i < NOTICES; i += 50)
    await Promise.all(Array.from({ length: 50 }, (_, k) => evil.raw(JSON.stringify(['NOTICE', `flood ${i + k} ${'n'.repeat(200)}`]))));

  const raw = await withTimeout(s.done, 60000, 'the genuine stream to end');
  const datas = sseData(raw);
  assert.equal(errorOf(datas), undefined, raw.slice(-1000));
  assert.equal(deltaText(datas), `echo: ${text}`);
  assert.ok(!raw.includes('FORGED'), 'a forged event reached the client');
  assert.equal(datas.at(-1), '[DONE]');

  // (d) a text frame that is not UTF-8, then a frame over the bridge's 1 MiB frame limit: the
  // connection is dropped (logged) and comes back
  await evil.raw(Buffer.from([0x5b, 0x22, 0xff, 0xfe, 0xc0, 0x80, 0x22, 0x5d]));
  await waitRelaysOpen(b, 2);
  await evil.raw(`["NOTICE","${'o'.repeat(1536 * 1024)}"]`);
  await waitUntil(() => /message larger than max_frame/.test(bridgeOutput(b)), { what: 'the bridge to drop the oversized frame' });
  await waitUntil(async () => (await b.metrics()).get(`bridge_relay_reconnects_total{url="${evil.url}"}`) > reconnects0,
    { what: 'the bridge to reconnect to the evil relay' });
  await waitRelaysOpen(b, 2);
  assert.ok(b.proc.running());

  const m1 = await b.metrics();
  const d = name => m1.get(name) - m0.get(name);
  const badSig = forged.length - 1; // all but garbageSig (not hex: malformed, never verified) have a bad id or sig
  assert.ok(d('bridge_relay_events_invalid_total') >= badSig, `invalid events counted: ${d('bridge_relay_events_invalid_total')} < ${badSig}`);
  assert.ok(d('bridge_events_rejected_total{reason="bad_signature"}') >= badSig);
  assert.ok(d('bridge_relay_events_duplicate_total') >= 2, `duplicates counted: ${d('bridge_relay_events_duplicate_total')}`);
  assert.ok(d('bridge_events_rejected_total{reason="wrong_author"}') >= 1, 'the stranger\'s event was rejected once');

  await chatOk(b, 'still working after all that');
  await finish(b);
});

// ==== 4. the agent dies mid-reply ====================================================================
test('agent dies mid-reply (#die): a timeout error, and the subscription is released (bridge and relay side)', async () => {
  const { relay } = await sharedWorld();
  let agent = startAgent([relay], 'mortal'); // its own project: #die kills the whole agent process
  const b = await startBridge([relay], ['--idle-timeout', '2', '--first-event-timeout', '4']);
  await waitOnline(b, 'mortal');
  const idleSubs = (await b.health()).subscriptions_open;
  const idleRelaySubs = await relaySubs(relay, ownerPub);
  const m0 = await b.metrics();

  // streaming: some deltas, then an SSE timeout error and [DONE]
  const s = await openStream(b, '#die #slow=100 #chunk=2 talking until I drop dead', { project: 'mortal' });
  const raw = await withTimeout(s.done, 30000, 'the stream of a dead agent to end');
  const datas = sseData(raw);
  assert.ok(deltaText(datas).length > 0, 'the agent said something before dying');
  assert.equal(datas.at(-1), '[DONE]', raw.slice(-1000));
  const err = errorOf(datas);
  assert.ok(err, `no error event: ${raw.slice(-1000)}`);
  assert.equal(err.type, 'timeout_error', JSON.stringify(err));
  assert.equal((await agent.exited).code, 3, 'the agent died with #die\'s status');

  await waitIdle(b, idleSubs, 'the dead turn\'s subscription to be released');
  await waitUntil(async () => (await relaySubs(relay, ownerPub)) === idleRelaySubs, { what: 'the relay to see the CLOSE' });
  const m1 = await b.metrics();
  assert.equal(m1.get('bridge_chat_timeouts_total') - m0.get('bridge_chat_timeouts_total'), 1);
  assert.equal(m1.get('bridge_streams_open'), 0);

  // non-streaming, with a new agent process: 504 agent_timeout
  agent = startAgent([relay], 'mortal');
  await agent.waitForLine(/^ready$/, 30000);
  const r = await chatFetch(b, '#die #chunk=2 not streamed and dying', { stream: false, project: 'mortal' });
  const rb = await r.text();
  assert.equal(r.status, 504, rb);
  const eobj = JSON.parse(rb);
  assertOpenAIError(eobj, rb);
  assert.equal(eobj.error.type, 'timeout_error');
  await waitIdle(b, idleSubs, 'the second dead turn\'s subscription to be released');
  await waitUntil(async () => (await relaySubs(relay, ownerPub)) === idleRelaySubs, { what: 'the relay to see the second CLOSE' });
  await finish(b);
});

// ==== 5. the client goes away at every stage ===========================================================
test('client disconnects at every stage (upload, resolve, after publish, mid-turn, RST mid-stream): nothing stays open', async () => {
  const { relay } = await sharedWorld();
  startAgent([relay], 'sleepy', ['--offline']); // its backend (shared key) is alive: bridge boots it and waits
  // A turn whose client left runs on until it ends (recorded for the conversation), at the latest
  // at these timeouts; the boot wait is longer, so only the client's leaving ends that one.
  const b = await startBridge([relay], ['--boot-timeout', '30', '--first-event-timeout', '4', '--idle-timeout', '4']);
  await waitOnline(b);
  await waitUntil(async () => (await b.health()).projects.some(p => p.dtag === 'sleepy'), { what: 'project sleepy known' });
  const idleSubs = (await b.health()).subscriptions_open;
  const idleRelaySubs = await relaySubs(relay, ownerPub);
  const watcher = await relayClient(relay.url, { authKey: owner });
  const gone0 = (await b.metrics()).get('bridge_chat_client_gone_total');
  let expectGone = 0;

  // (a) mid-headers and (b) mid-body: the socket closes before the request is complete
  for (const parts of [
    ['POST /demo/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Ty'],
    [`POST /demo/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n${body('half').slice(0, 20)}`],
  ]) {
    const res = await rawExchange(b.port, parts);
    assert.ok(res.outcome !== 'hang', `the bridge held a half request: ${JSON.stringify(res)}`);
    if (res.outcome === 'response') assert.ok(res.status >= 400 && res.status < 500, res.head);
  }
  await waitIdle(b, idleSubs, 'idle after half requests');

  // The stages below leave one after the other, and the bridge is checked once at the end: a
  // client that leaves while nothing is being written to it is noticed by the HTTP server's
  // liveness sweep (every 10 s), so waiting after each stage would take most of a minute.
  // Then no stream may stay open, and once the abandoned turns ended (detached turns run on to
  // be recorded, within the timeouts) nothing at all.
  // (c) while the project is being resolved (booting): nothing was published, nothing answers
  {
    const ac = new AbortController();
    const p = chatFetch(b, 'wake up for nobody', { project: 'sleepy', signal: ac.signal }).catch(e => e);
    await waitUntil(async () => (await b.health()).requests_open === 1, { what: 'the request to be waiting for the boot' });
    ac.abort();
    assert.equal((await p).name, 'AbortError');
    expectGone++;
  }

  // (d) after the publish, before the first delta (the agent is silent)
  for (const stream of [true, false]) {
    const marker = `#silent published but unanswered ${stream}`;
    const sub = watcher.subscribe({ kinds: [1], authors: [ownerPub], since: Math.floor(Date.now() / 1000) - 5 });
    const ac = new AbortController();
    const p = chatFetch(b, marker, { stream, signal: ac.signal }).then(async r => { await r.text(); return r; }).catch(e => e);
    await sub.waitForEvent(e => e.content === marker, 'the published kind:1');
    sub.close();
    await sleep(100);
    ac.abort();
    await p;
    expectGone++;
  }

  // (e) mid-turn, non-streaming: the agent is talking, the client leaves
  {
    const ac = new AbortController();
    const sub = watcher.subscribe({ kinds: [24135], authors: [pmPub], since: Math.floor(Date.now() / 1000) - 5 });
    const p = chatFetch(b, '#slow=300 #chunk=2 a slow answer nobody waits for', { stream: false, signal: ac.signal }).catch(e => e);
    await sub.waitForEvent(e => e.content.length > 0, 'the agent to start talking');
    sub.close();
    ac.abort();
    await p;
    expectGone++;
  }

  // (f) mid-stream, the client's socket is reset (RST, not FIN)
  {
    const sock = net.connect(b.port, '127.0.0.1');
    sock.on('error', () => {});
    const req = body('#slow=300 #chunk=2 reset me in the middle of it', { stream: true });
    sock.write(`POST /demo/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(req)}\r\n\r\n${req}`);
    let got = '';
    await withTimeout(new Promise(resolve => sock.on('data', d => { got += d; if ((got.match(/"content":"[^"]/g) || []).length >= 2) resolve(); })), 30000, 'two deltas on the raw socket');
    sock.resetAndDestroy();
    expectGone++;
  }

  await waitUntil(async () => (await b.health()).streams_open === 0, { timeoutMs: 20000, what: 'no stream open after the clients left' });
  await waitIdle(b, idleSubs, 'every abandoned request to be released');
  await waitUntil(async () => (await relaySubs(relay, ownerPub)) === idleRelaySubs, { what: 'the relay-side subscriptions back to idle' });
  const gone = (await b.metrics()).get('bridge_chat_client_gone_total') - gone0;
  process.stdout.write(`# disconnects: bridge_chat_client_gone_total moved by ${gone} for ${expectGone} abandoned chats\n`);
  // the boot wait (30 s) and the reset stream are always seen as gone; the others may end by
  // their timeout before the liveness sweep notices the client left
  assert.ok(gone >= 2 && gone <= expectGone, `client_gone moved by ${gone}`);
  await watcher.close();
  await chatOk(b, 'a client that stays');
  await finish(b);
});

// ==== 6. a client that stops reading =====================================================================
test('slow readers: streams that are not read are cut at --max-stream-queue, memory stays bounded, the server stays up', async () => {
  const { relay } = await sharedWorld();
  // Under ASan, freed memory waits in a quarantine (256 MB by default) before it is reused, so RSS
  // would grow with every byte that passed through, kept or not; a small quarantine makes the RSS
  // growth measure what the bridge holds.
  const asan = process.env.ASAN_OPTIONS ? `${process.env.ASAN_OPTIONS}:quarantine_size_mb=1` : 'quarantine_size_mb=1';
  const b = await startBridge([relay], ['--max-stream-queue', '64K', '--idle-timeout', '30'], { env: { ASAN_OPTIONS: asan } });
  await waitOnline(b);
  await chatOk(b, 'warm up');
  const rss0 = rssKiB(b.proc.pid);
  const HUGE = 4 * 1024 * 1024;
  const req = body(`#huge=${HUGE} #chunk=65536 #slow=5 x`, { stream: true });
  const readers = await Promise.all(Array.from({ length: 3 }, () => new Promise((resolve, reject) => {
    const sock = net.connect(b.port, '127.0.0.1');
    const r = { sock, head: '', bytes: 0, closed: false };
    sock.on('error', () => {});
    sock.on('close', () => { r.closed = true; });
    sock.on('data', d => {
      r.bytes += d.length;
      if (!r.head) {
        r.head = d.toString('latin1').split('\r\n')[0];
        sock.pause(); // and never read again (until the end of the test)
        resolve(r);
      }
    });
    sock.write(`POST /demo/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(req)}\r\n\r\n${req}`);
    setTimeout(() => reject(new Error('no response head')), 30000).unref();
  })));
  for (const r of readers) assert.match(r.head, /^HTTP\/1\.1 200/);
  await waitUntil(async () => (await b.health()).streams_open === 0, { timeoutMs: 60000, intervalMs: 200, what: 'the bridge to cut the stalled streams' });
  const rss1 = rssKiB(b.proc.pid);
  process.stdout.write(`# slow readers: bridge RSS ${rss0} KiB before, ${rss1} KiB after 3 stalled 4 MiB streams\n`);
  // every stalled stream was cut: reading what is left ends without the stream's end
  for (const r of readers) {
    let tail = '';
    r.sock.on('data', d => { tail = (tail + d.toString('latin1')).slice(-64); });
    r.sock.resume();
    await withTimeout(new Promise(resolve => (r.closed ? resolve() : r.sock.on('close', resolve))), 20000, 'the cut connection to close');
    assert.ok(r.bytes < HUGE, `a stalled reader got the whole ${HUGE}-byte answer (${r.bytes} bytes): it was not cut`);
    assert.ok(!tail.includes('[DONE]'), 'a stalled stream was completed, not cut');
  }
  process.stdout.write(`# slow readers: bytes that reached the stalled clients: ${readers.map(r => r.bytes).join(', ')}\n`);
  // bounded: the bridge did not keep the three answers (12 MiB together, more as SSE) in memory
  assert.ok(rss1 - rss0 < 10 * 1024, `RSS grew by ${rss1 - rss0} KiB`);
  assert.ok((await b.metrics()).get('bridge_chat_client_gone_total') >= 3);
  await waitRelaysOpen(b, 1); // the agent's 4 MB completion is over the frame limit: the bridge drops the relay connection
  await chatOk(b, 'a reader that reads');
  await finish(b);
});

// ==== 7. malformed HTTP ===========================================================================
test('1,000 malformed requests (bodies, types, sizes, UTF-8, Content-Length, methods, paths, headers): 4xx + OpenAI error or a clean close', async () => {
  const { relay } = await sharedWorld();
  const b = await startBridge([relay], ['--max-body', '256K', '--startup-grace', '0']);
  await waitOnline(b);

  const SEED = Number(process.env.FAULTS_SEED ?? 0x5eed1234) >>> 0;
  process.stdout.write(`# malformed requests: PRNG seed ${SEED} (rerun with FAULTS_SEED=${SEED})\n`);
  let state = SEED;
  const rnd = () => { // mulberry32
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = n => Math.floor(rnd() * n);
  const pick = a => a[int(a.length)];
  const randBytes = n => Buffer.from(Array.from({ length: n }, () => int(256)));
  const randAscii = n => Array.from({ length: n }, () => String.fromCharCode(33 + int(94))).join('');

  // Bodies that are invalid by construction. Requests that happen to be valid go to an unknown
  // project (404), so nothing here starts a turn.
  const valid = { model: 'pm', messages: [{ role: 'user', content: 'hi' }], stream: false };
  const wrongValues = [1, -1, 1.5, 1e308, true, false, null, 'str', '', [], [1], {}, { a: 1 }, [[]]];
  const badBody = () => {
    switch (int(9)) {
      case 0: { const s = JSON.stringify(valid); return s.slice(0, int(s.length)); } // truncated
      case 1: return randBytes(1 + int(300));
      case 2: { // byte flips in a valid body
        const s = Buffer.from(JSON.stringify(valid));
        for (let i = 0, n = 1 + int(4); i < n; i++) s[int(s.length)] = int(256);
        return s;
      }
      case 3: { // a wrong type somewhere
        const o = structuredClone(valid);
        const where = int(8);
        const v = pick(wrongValues);
        if (where === 0) o.model = v; else if (where === 1) o.messages = v; else if (where === 2) o.stream = v === false ? 'no' : v;
        else if (where === 3) o.messages[0].content = typeof v === 'string' ? 5 : v; else if (where === 4) o.messages[0].role = typeof v === 'string' ? 7 : v;
        else if (where === 5) o.messages = [v]; else if (where === 6) o.messages[0] = v; else o.stream_options = v === null ? 5 : v;
        return JSON.stringify(o);
      }
      case 4: { // invalid UTF-8 inside a string
        const s = JSON.stringify(valid);
        const at = s.indexOf('hi');
        return Buffer.concat([Buffer.from(s.slice(0, at)), pick([Buffer.from([0xff]), Buffer.from([0xc0, 0x80]), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from([0xe2, 0x82]), Buffer.from([0xf8, 0x88, 0x80, 0x80, 0x80])]), Buffer.from(s.slice(at))]);
      }
      case 5: return pick(['', '{', '}', '[]', 'null', '"x"', '{"model":"pm"}', '{"messages":[]}', '{"model":"pm","messages":[]}',
        '{"model":"pm","messages":[{"role":"system","content":"x"}]}', '{"model":"pm","messages":[{"role":"user"}]}',
        '{"model":"pm","messages":[{"role":"user","content":"a"}],"model":"x"}', '{"model":"pm","messages":[{"role":"user","content":"\\ud800"}]}',
        '{"model":"pm","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}',
        '{"model":"pm","messages":[{"role":"user","content":"a"}]} x', '\ufeff{}', '{"model":"pm","messages":[{"role":"user","content":"a"}],"n":2e999}']);
      case 6: { const d = 1000 + int(100000); return `{"model":"pm","messages":${'['.repeat(d)}${']'.repeat(d)}}`; } // deep nesting
      case 7: return `{"model":"pm","messages":[${Array.from({ length: 1001 + int(2000) }, () => '{"role":"user","content":"m"}').join(',')}]}`; // too many
      default: return `{"model":"${'m'.repeat(300000 + int(100000))}","messages":[{"role":"user","content":"x"}]}`; // > --max-body
    }
  };
  const methods = ['GET', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'TRACE', 'CONNECT', 'FOO', 'post', 'G\u00c9T', randAscii(8)];
  const randPath = () => pick([
    () => `/${randAscii(1 + int(40)).replace(/[\s?#]/g, '')}`, () => `/${'a/'.repeat(int(50))}x`, () => `/${'x'.repeat(1000 + int(20000))}`,
    () => '/../../etc/passwd', () => '/demo/chat/completions/extra', () => '/demo/%00/chat/completions', () => '/%zz', () => '/demo//chat/completions',
    () => '/v1/chat/completions/', () => '/demo/chat', () => '*', () => 'http://evil/demo/chat/completions', () => '/\u00e9t\u00e9',
  ])();

  const N = 1000;
  const failures = [];
  const outcomes = {};
  const closes = []; // unparseable HTTP answered by closing the connection
  const notJson = []; // unparseable HTTP answered by a 4xx whose body is not an OpenAI error
  const make = i => {
    const kind = int(12);
    const proj = pick(['nosuchproject', 'x', 'v2']); // bodies only reach unknown projects
    const path0 = pick([`/${proj}/chat/completions`, `/${proj}/v1/chat/completions`, '/demo/chat/completions', '/v1/chat/completions']);
    const framed = (p, bodyBuf, extraHeaders = '', method = 'POST') => {
      const bb = Buffer.isBuffer(bodyBuf) ? bodyBuf : Buffer.from(bodyBuf);
      return [Buffer.from(`${method} ${p} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n${extraHeaders}Content-Length: ${bb.length}\r\n${int(2) ? 'Connection: close\r\n' : ''}\r\n`), bb];
    };
    const bodyFor = p => {
      const bb = badBody();
      // only bodies that cannot be valid may go to the real project
      if (p === '/demo/chat/completions' || p === '/v1/chat/completions') {
        const s = Buffer.isBuffer(bb) ? bb.toString('latin1') : bb;
        try { JSON.parse(s); return [`/${proj}/chat/completions`, bb]; } catch { return [p, bb]; }
      }
      return [p, bb];
    };
    switch (kind) {
      case 0: case 1: case 2: case 3: case 4: { const [p, bb] = bodyFor(path0); return { what: 'bad body', framedOk: true, parts: framed(p, bb) }; }
      case 5: { // random method on a random or real path
        const m = pick(methods);
        const p = int(2) ? randPath() : pick(['/demo/chat/completions', '/v1/chat/completions', '/metrics/x', '/health/x']);
        return { what: `method ${m} ${p.slice(0, 60)}`, framedOk: /^[A-Z]+$/.test(m) && m !== 'CONNECT' && p.startsWith('/') && !/[^\x21-\x7e]/.test(p), parts: [Buffer.from(`${m} ${p} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, 'latin1')], method: m };
      }
      case 6: { // bad Content-Length
        const [p, bb] = bodyFor(path0);
        const bbuf = Buffer.isBuffer(bb) ? bb : Buffer.from(bb);
        const v = pick(['abc', '-5', '', '1e3', '0x10', '99999999999999999999', ' 12 3', `${bbuf.length + 10 + int(1000)}`, `${Math.max(0, bbuf.length - 1 - int(5))}`, `${bbuf.length}, ${bbuf.length + 1}`]);
        return { what: `Content-Length "${v}"`, framedOk: false, parts: [Buffer.from(`POST ${p} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${v}\r\n\r\n`), bbuf] };
      }
      case 7: { // two Content-Lengths, or CL + chunked with broken chunks
        const [p, bb] = bodyFor(path0);
        const bbuf = Buffer.isBuffer(bb) ? bb : Buffer.from(bb);
        if (int(2)) return { what: 'two Content-Lengths', framedOk: false, parts: [Buffer.from(`POST ${p} HTTP/1.1\r\nHost: x\r\nContent-Length: ${bbuf.length}\r\nContent-Length: ${bbuf.length + 3}\r\n\r\n`), bbuf] };
        return { what: 'bad chunked body', framedOk: false, parts: [Buffer.from(`POST ${p} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n${int(2) ? `Content-Length: ${bbuf.length}\r\n` : ''}\r\n${pick(['zz', '-1', 'ffffffffffffffffff', '5'])}\r\n`), bbuf, Buffer.from('\r\n')] };
      }
      case 8: { // broken header block
        const h = pick([
          'NoColonHere\r\n', 'Bad Name: x\r\n', `X-Big: ${'h'.repeat(70000 + int(30000))}\r\n`, Array.from({ length: 300 + int(500) }, (_, k) => `X-H${k}: v\r\n`).join(''),
          'X-Nul: a\u0000b\r\n', ' folded: continuation\r\n', 'X-Fold: a\r\n b\r\n', ':empty-name\r\n', 'Content-Type: application/json\r\nContent-Type: text/plain\r\n',
          'Authorization: Bearer \u00ff\u00fe\r\n', 'Expect: 100-continue\r\n', 'Transfer-Encoding: gzip, identity\r\n', `Cookie: ${randAscii(5000)}\r\n`,
        ]);
        const [p, bb] = bodyFor(path0);
        const bbuf = Buffer.isBuffer(bb) ? bb : Buffer.from(bb);
        return { what: `header ${JSON.stringify(h.slice(0, 40))}`, framedOk: false, parts: [Buffer.from(`POST ${p} HTTP/1.1\r\nHost: x\r\n${h}Content-Length: ${bbuf.length}\r\n\r\n`, 'latin1'), bbuf] };
      }
      case 9: { // broken request line
        const line = pick(['GARBAGE', 'POST', 'POST /demo/chat/completions', 'POST /demo/chat/completions HTTP/9.9', 'POST /demo/chat/completions HTTP/1.1 extra',
          'POST  /demo/chat/completions  HTTP/1.1', '\u0000\u0001\u0002', randAscii(2000), 'PRI * HTTP/2.0', 'GET / HTTP/1.1\nHost: x\n']);
        return { what: `request line ${JSON.stringify(line.slice(0, 40))}`, framedOk: false, parts: [Buffer.from(`${line}\r\nHost: x\r\n\r\n`, 'latin1')] };
      }
      case 10: return { what: 'random bytes', framedOk: false, parts: [randBytes(1 + int(4000))] };
      default: { // a huge or odd Content-Type / missing one, valid framing, bad body
        const [p, bb] = bodyFor(path0);
        const ct = pick(['text/plain', '', 'application/json; charset=latin1', `application/${'j'.repeat(10000)}`, 'multipart/form-data; boundary=x']);
        const bbuf = Buffer.isBuffer(bb) ? bb : Buffer.from(bb);
        return { what: `content-type ${ct.slice(0, 30)}`, framedOk: true, parts: [Buffer.from(`POST ${p} HTTP/1.1\r\nHost: x\r\n${ct ? `Content-Type: ${ct}\r\n` : ''}Content-Length: ${bbuf.length}\r\nConnection: close\r\n\r\n`), bbuf] };
      }
    }
  };
  const cases = Array.from({ length: N }, (_, i) => make(i));
  let next = 0;
  const worker = async () => {
    while (next < N) {
      const i = next++;
      const c = cases[i];
      const res = await rawExchange(b.port, c.parts, { timeoutMs: 15000 });
      const key = res.outcome === 'response' ? `${res.status}` : res.outcome;
      outcomes[key] = (outcomes[key] ?? 0) + 1;
      const bad = why => failures.push(`#${i} (${c.what}): ${why}; got ${res.outcome} ${res.head ? res.head.split('\r\n')[0] : ''} ${(res.body ?? '').slice(0, 200)}`);
      if (res.outcome === 'hang') { bad('no answer and no close within 15 s'); continue; }
      if (res.outcome !== 'response') {
        if (c.framedOk) bad('a well-framed request got no HTTP response');
        else closes.push(c.what);
        continue;
      }
      if (!(res.status >= 400 && res.status < 500)) { bad(`status ${res.status} is not a 4xx`); continue; }
      if (c.method === 'HEAD') continue; // no body by definition
      let obj;
      try { obj = JSON.parse(res.body); assertOpenAIError(obj, res.body); } catch (e) {
        if (c.framedOk) bad(`not an OpenAI error body: ${e.message}`);
        else notJson.push(`${c.what} → ${res.status}`);
      }
    }
  };
  await Promise.all(Array.from({ length: 12 }, worker));
  process.stdout.write(`# malformed requests: outcomes ${JSON.stringify(outcomes)}\n`);
  const tally = list => JSON.stringify(Object.entries(list.reduce((o, w) => ({ ...o, [w]: (o[w] ?? 0) + 1 }), {})));
  process.stdout.write(`# malformed requests: closed without an answer: ${tally(closes)}\n`);
  process.stdout.write(`# malformed requests: 4xx without an OpenAI error body: ${tally(notJson)}\n`);
  assert.ok(b.proc.running(), `the bridge died:\n${bridgeOutput(b).slice(-4000)}`);
  assert.deepEqual(failures, [], `seed ${SEED}: ${failures.length} bad answers:\n${failures.slice(0, 30).join('\n')}`);
  assert.equal((await fetch(`${b.base}/health`)).status, 200);
  await chatOk(b, 'a good request after the garbage');
  await finish(b);
});

// ==== 8. SIGTERM under load ==========================================================================
test('SIGTERM with 50 requests open (+ a stalled reader): exit 0 within the grace, every client gets an error + [DONE] or a complete answer', async () => {
  const { relay } = await sharedWorld();
  const GRACE = 2;
  const b = await startBridge([relay], ['--shutdown-grace', String(GRACE)]);
  await waitOnline(b);

  // A reader that never reads a 1 MB answer (the agent's completion event must stay under the
  // bridge's 1 MiB frame limit): the socket buffers fill up and the stream stays open, under
  // --max-stream-queue. Shutdown must not wait for it beyond the grace period.
  const stalled = net.connect(b.port, '127.0.0.1');
  stalled.on('error', () => {});
  const stalledClosed = new Promise(resolve => stalled.on('close', resolve));
  const hb = body('#huge=1000000 #chunk=65536 #slow=5 y', { stream: true });
  stalled.write(`POST /demo/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(hb)}\r\n\r\n${hb}`);
  const stalledHead = await withTimeout(new Promise(resolve => stalled.once('data', d => { stalled.pause(); resolve(d.toString('latin1')); })), 30000, 'the stalled reader\'s response head');
  const stalledRoot = /x-nostr-thread: ([0-9a-f]{64})/i.exec(stalledHead)?.[1];
  assert.ok(stalledRoot, stalledHead);
  const watcher = await relayClient(relay.url, { authKey: owner });
  await watcher.subscribe({ kinds: [1], authors: [pmPub], '#e': [stalledRoot] }).waitForEvent(e => e.tags.some(t => t[0] === 'status'), 'the huge answer to be complete', 30000);
  await watcher.close();

  const reqs = [];
  for (let i = 0; i < 50; i++) {
    const kind = i < 36 ? 'slow-stream' : i < 44 ? 'quick-stream' : 'slow-plain';
    const text = kind === 'quick-stream' ? `quick ${i}` : `#slow=250 #chunk=3 slow answer number ${i} that takes several seconds to say`;
    const expect = `echo: ${kind === 'quick-stream' ? `quick ${i}` : `slow answer number ${i} that takes several seconds to say`}`;
    reqs.push({
      kind, expect,
      result: chatFetch(b, text, { stream: kind !== 'slow-plain' }).then(async r => ({ status: r.status, raw: await r.text() }), e => ({ error: e })),
    });
  }
  await waitUntil(async () => (await b.health()).streams_open >= 31, { timeoutMs: 30000, what: '30+ streams open' });
  const termAt = Date.now();
  const exit = b.proc.stop('SIGTERM', 60000);
  // a request after SIGTERM: refused (connection refused, or a 503 shutting_down)
  const late = await chatFetch(b, 'too late', { stream: false }).then(async r => ({ status: r.status, raw: await r.text() }), e => ({ error: e }));
  if (!late.error) {
    assert.equal(late.status, 503, late.raw);
    assert.equal(JSON.parse(late.raw).error.code, 'shutting_down');
  }
  const { code, signal } = await withTimeout(exit, (GRACE + 20) * 1000, 'the bridge to exit after SIGTERM');
  process.stdout.write(`# SIGTERM under load: exit ${code} after ${Date.now() - termAt} ms (--shutdown-grace ${GRACE})\n`);
  assertNoSanitizerReport(b);
  assert.equal(code, 0, `exit ${code} ${signal}:\n${b.proc.output().slice(-4000)}`);

  let completed = 0;
  let cut = 0;
  for (const [i, r] of reqs.entries()) {
    const res = await withTimeout(r.result, 30000, `client ${i}`);
    assert.ok(!res.error, `client ${i} (${r.kind}) failed at the transport level: ${res.error}`);
    if (r.kind === 'slow-plain') {
      const obj = JSON.parse(res.raw);
      if (res.status === 200) { assert.equal(obj.choices[0].message.content, r.expect); completed++; } else {
        assert.equal(res.status, 503, res.raw);
        assertOpenAIError(obj, res.raw);
        assert.equal(obj.error.code, 'shutting_down');
        cut++;
      }
      continue;
    }
    if (res.status !== 200) { // not streaming yet at the SIGTERM (still being resolved or published)
      assert.equal(res.status, 503, res.raw);
      const obj = JSON.parse(res.raw);
      assertOpenAIError(obj, res.raw);
      assert.equal(obj.error.code, 'shutting_down');
      cut++;
      continue;
    }
    const datas = sseData(res.raw);
    assert.equal(datas.at(-1), '[DONE]', `client ${i} (${r.kind}) did not get [DONE]: ${res.raw.slice(-500)}`);
    const err = errorOf(datas);
    if (err) {
      assert.equal(err.code, 'shutting_down', JSON.stringify(err));
      cut++;
    } else {
      assert.equal(deltaText(datas), r.expect, `client ${i} (${r.kind}) got an incomplete answer without an error`);
      completed++;
    }
  }
  process.stdout.write(`# SIGTERM under load: ${completed} complete, ${cut} ended with shutting_down\n`);
  assert.ok(cut >= 30, 'the slow streams were open at the SIGTERM and got the error');
  stalled.resume(); // a paused socket does not see its end
  await withTimeout(stalledClosed, 10000, 'the stalled reader to be closed');
});

// ==== 9. SIGHUP reopens the log file ==========================================================================
test('--log-file + SIGHUP: after a rename, new lines go to a fresh file; an unopenable path keeps the old one', async () => {
  const { relay } = await sharedWorld();
  const dir = path.join(tempDir('bridge-logs-'), 'logs');
  mkdirSync(dir);
  const log = path.join(dir, 'bridge.log');
  const b = await startBridge([relay], [], { logFile: log });
  await waitOnline(b);
  const summary = /chat chatcmpl-\S+ .*project=demo .*outcome=completed/;
  await chatOk(b, 'before the rotation');
  await waitUntil(() => summary.test(readFileSync(log, 'utf8')), { what: 'the first chat logged into the file' });
  assert.deepEqual(b.proc.stderrLines.filter(l => !/^\s*$/.test(l)), [], 'nothing on stderr once the log file is open');

  const rotated = `${log}.1`;
  renameSync(log, rotated);
  b.logFiles.push(rotated);
  b.proc.child.kill('SIGHUP');
  await waitUntil(() => existsSync(log) && /SIGHUP: log file reopened/.test(readFileSync(log, 'utf8')), { what: 'a fresh log file after SIGHUP' });
  await chatOk(b, 'after the rotation');
  await waitUntil(() => summary.test(readFileSync(log, 'utf8')), { what: 'the second chat logged into the fresh file' });
  assert.equal(readFileSync(rotated, 'utf8').match(new RegExp(summary, 'g')).length, 1, 'the old file got only the first chat');
  assert.equal(readFileSync(log, 'utf8').match(new RegExp(summary, 'g')).length, 1, 'the new file got only the second chat');

  // the directory disappears: the reopen fails, the bridge keeps logging to the file it has
  const movedDir = `${dir}.old`;
  renameSync(dir, movedDir);
  b.logFiles = [path.join(movedDir, 'bridge.log'), path.join(movedDir, 'bridge.log.1')];
  b.proc.child.kill('SIGHUP');
  await waitUntil(() => /SIGHUP: cannot reopen the log file/.test(readFileSync(b.logFiles[0], 'utf8')), { what: 'the failed reopen to be logged in the old file' });
  await chatOk(b, 'with the log directory gone');
  await finish(b);

  // SIGHUP without --log-file: logged, nothing else happens (the default action would kill it)
  const plain = await startBridge([relay]);
  plain.proc.child.kill('SIGHUP');
  await plain.proc.waitForLine(/SIGHUP: no --log-file/, 10000, { stream: 'stderr' });
  await waitRelaysOpen(plain, 1);
  assert.equal((await plain.health()).status, 'ok');
  await finish(plain);
});
