// End to end: the native thread API (include/bridge/native.h) — `GET /chat` (WebSocket) and
// `POST /chat/sse` — with the real `bridge --server` binary, a real relay (NIP-42 AUTH on, as on
// relay.tenex.chat) and the example TENEX agent (examples/echo-agent: its directives act out
// steps, tools, retries, asks, delegations, …). The WebSocket client is the npm `ws` package.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  startRelay, startProcess, freePort, waitUntil, relayClient, onCleanup, withTimeout, WebSocket,
  generateSecretKey, getPublicKey, getEventHash, nip19, nostrToolsVerify, BUILD_DIR, BRIDGE_BIN,
} from '../js/lib/harness.mjs';

const AGENT_BIN = path.join(BUILD_DIR, 'examples/echo-agent/echo-agent');
const HEX64 = /^[0-9a-f]{64}$/;
const KEY_A = 'sk-native-key-a-0123456789';
const KEY_B = 'sk-native-key-b-9876543210';
const MAX_BODY = 64 * 1024;

// ---- the world ------------------------------------------------------------------------------
const owner = generateSecretKey();
const backend = generateSecretKey();
const ownerPub = getPublicKey(owner);
const coord = `31933:${ownerPub}:demo`;
let relay, agent, pmPub, main, keyed;

async function startAgent(project, extra = []) {
  const p = startProcess(AGENT_BIN, ['--relay', relay.url, '--project', project, '--status-interval', '2', ...extra], {
    env: { ECHO_OWNER_NSEC: nip19.nsecEncode(owner), ECHO_BACKEND_NSEC: nip19.nsecEncode(backend) },
    name: 'echo-agent',
  });
  onCleanup(() => p.stop());
  return p;
}

async function startBridge(extra = []) {
  const port = await freePort();
  const p = startProcess(BRIDGE_BIN, ['--server', '--bind', `127.0.0.1:${port}`, '--state', ':memory:', '--relay', relay.url, ...extra], {
    env: { TENEX_NSEC: nip19.nsecEncode(owner) },
    name: 'bridge',
  });
  onCleanup(() => p.stop());
  await p.waitForLine(/listening on/, 20000, { stream: 'stderr' });
  return { proc: p, port, base: `http://127.0.0.1:${port}`, wsBase: `ws://127.0.0.1:${port}` };
}

async function health(b) {
  const r = await fetch(`${b.base}/health`, { headers: b.key ? { authorization: `Bearer ${b.key}` } : {} });
  return r.json();
}

async function waitOnline(b, dtag = 'demo') {
  await waitUntil(async () => (await health(b)).projects?.some(p => p.dtag === dtag && p.online), {
    timeoutMs: 30000, intervalMs: 200, what: `project ${dtag} online via ${b.base}`,
  });
}

/** One Prometheus sample of /metrics (NaN when absent). */
async function metric(b, name) {
  const text = await (await fetch(`${b.base}/metrics`)).text();
  return Number(text.match(new RegExp(`^${name} (\\S+)$`, 'm'))?.[1]);
}

// ---- the server's event shapes (native.h) ------------------------------------------------------
const isThread = v => v === null || (typeof v === 'string' && HEX64.test(v));
const isStr = v => typeof v === 'string';
const isStrArray = v => Array.isArray(v) && v.every(isStr);
const isUsage = u => u === null || (typeof u === 'object' && ['prompt_tokens', 'completion_tokens', 'total_tokens']
  .every(k => Number.isInteger(u[k]) && u[k] >= 0) && Object.keys(u).length === 3);
const SHAPES = {
  thread: { thread_id: v => isStr(v) && HEX64.test(v), event_id: v => isStr(v) && HEX64.test(v), agent: isStr },
  content: { thread_id: isThread, content: isStr },
  status: { thread_id: isThread, message: isStr },
  tool: { thread_id: isThread, name: isStr, args: () => true },
  activity: { thread_id: isThread, agents: isStrArray },
  ask: {
    thread_id: isThread, ask_id: v => isStr(v) && HEX64.test(v), title: isStr, question: isStr,
    suggestions: isStrArray, multiselect: v => typeof v === 'boolean',
  },
  delegation: { thread_id: isThread, to: isStrArray },
  end: { thread_id: isThread, reason: v => ['completed', 'ask', 'idle'].includes(v), usage: isUsage },
  error: { thread_id: isThread, message: isStr, code: v => isStr(v) && v.length > 0 },
  stopped: { thread_id: isThread },
  pong: {},
};

/** Throws unless ev is one of native.h's server objects, with exactly its fields. */
function checkShape(ev) {
  const shape = SHAPES[ev?.type];
  if (!shape) assert.fail(`not a native event: ${JSON.stringify(ev)}`);
  for (const [k, ok] of Object.entries(shape))
    if (!(k in ev) || !ok(ev[k])) assert.fail(`${ev.type}.${k} missing or of the wrong type: ${JSON.stringify(ev)}`);
  if ('request_id' in ev && typeof ev.request_id !== 'string') assert.fail(`request_id must be a string: ${JSON.stringify(ev)}`);
  const extra = Object.keys(ev).filter(k => k !== 'type' && k !== 'request_id' && !(k in shape) && !(ev.type === 'pong' && k === 'thread_id'));
  if (extra.length) assert.fail(`${ev.type} has unexpected fields ${extra.join(',')}: ${JSON.stringify(ev)}`);
}

const textOf = events => events.filter(e => e.type === 'content').map(e => e.content).join('');

// ---- a WebSocket client ------------------------------------------------------------------------
/**
 * Open WS /chat. Resolves {ws, events (parsed, in order), send(obj|string), sendRaw(data, opts),
 * waitFor(pred, what, ms, from) → the first event at index ≥ from matching pred, closed (promise
 * of {code, reason}), close()}. Rejects with err.status = the HTTP status when the server refuses
 * the upgrade (err.body = its JSON).
 */
async function openChat(b, { query = '', headers = {} } = {}) {
  const ws = new WebSocket(`${b.wsBase}/chat${query}`, { headers });
  const events = [];
  const waiters = new Set();
  let closeInfo = null;
  const wake = () => { for (const w of [...waiters]) w(); };
  const closed = new Promise(resolve => ws.on('close', (code, reason) => {
    closeInfo = { code, reason: reason.toString() };
    resolve(closeInfo);
    wake();
  }));
  ws.on('message', (data, isBinary) => {
    let ev;
    try { ev = JSON.parse(data.toString()); } catch { ev = { type: '__unparseable__', raw: data.toString() }; }
    if (isBinary) ev = { type: '__binary__', raw: data.toString() };
    events.push(ev);
    wake();
  });
  ws.on('error', () => {});
  onCleanup(() => ws.terminate());
  await withTimeout(new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('unexpected-response', (req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', d => { body += d; });
      res.on('end', () => {
        const err = new Error(`the upgrade was refused: HTTP ${res.statusCode} ${body}`);
        err.status = res.statusCode;
        try { err.body = JSON.parse(body); } catch { err.body = body; }
        reject(err);
      });
    });
    ws.once('error', reject);
  }), 10000, `a WebSocket to ${b.wsBase}/chat${query}`);

  const c = {
    ws, events, closed,
    send: m => ws.send(typeof m === 'string' ? m : JSON.stringify(m)),
    sendRaw: (data, opts) => ws.send(data, opts),
    waitFor(pred, what = 'an event', ms = 30000, from = 0) {
      let w;
      const p = new Promise((resolve, reject) => {
        w = () => {
          for (let i = from; i < events.length; i++) {
            if (pred(events[i], i)) {
              checkShape(events[i]);
              resolve(events[i]);
              return;
            }
          }
          if (closeInfo) reject(new Error(`the socket closed (${JSON.stringify(closeInfo)}) before ${what}; events: ${JSON.stringify(events.slice(from))}`));
        };
        waiters.add(w);
        w();
      });
      return withTimeout(p, ms, `${what}; events so far: ${JSON.stringify(events.slice(from)).slice(-3000)}`)
        .finally(() => waiters.delete(w));
    },
    async close() {
      if (ws.readyState === WebSocket.CLOSED) return;
      ws.close(1000);
      const timer = setTimeout(() => ws.terminate(), 3000);
      await closed;
      clearTimeout(timer);
    },
  };
  return c;
}

/** The n-th event at index ≥ from matching pred. */
const nth = (c, pred, n, what, ms, from = 0) =>
  c.waitFor((e, i) => pred(e) && c.events.slice(from, i + 1).filter(pred).length === n, what, ms, from);

/**
 * Send one message and follow its turn: the first `thread` (or `error`) event after it names the
 * thread; the turn is every event of that thread up to its `end` or `error`. Only for one turn at a
 * time on the socket (the client cannot tell new threads apart by order).
 */
async function turn(c, msg, { ms = 30000, project = 'demo' } = {}) {
  const from = c.events.length;
  c.send({ type: 'message', project, ...msg });
  const first = await c.waitFor(e => e.type === 'thread' || e.type === 'error', 'the thread event', ms, from);
  if (first.type === 'error') return { error: first, events: [first] };
  const tid = first.thread_id;
  const last = await c.waitFor(e => e.thread_id === tid && (e.type === 'end' || e.type === 'error'),
    `the end of thread ${tid}`, ms, from);
  const events = c.events.slice(from, c.events.indexOf(last) + 1).filter(e => e.thread_id === tid);
  events.forEach(checkShape);
  return { thread: tid, first, events, end: last, text: textOf(events) };
}

// ---- the SSE variant ---------------------------------------------------------------------------
/** POST /chat/sse. An SSE answer → {status, headers, frames: [{event, data}], events, text}; any
 *  other answer → {status, headers, error (its JSON)}. */
async function sse(b, body, { headers = {}, signal } = {}) {
  const r = await fetch(`${b.base}/chat/sse`, {
    method: 'POST', signal,
    headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify({ project: 'demo', ...body }),
  });
  if (!(r.headers.get('content-type') || '').startsWith('text/event-stream'))
    return { status: r.status, headers: r.headers, error: await r.json() };
  const raw = await withTimeout(r.text(), 30000, 'the SSE body to end');
  const frames = [];
  for (const block of raw.split('\n\n')) {
    const lines = block.split('\n').filter(l => l && !l.startsWith(':'));
    if (!lines.length) continue;
    const f = { event: null, data: null };
    for (const l of lines) {
      if (l.startsWith('event: ')) f.event = l.slice(7);
      else if (l.startsWith('data: ')) f.data = JSON.parse(l.slice(6));
      else assert.fail(`not an SSE line: ${JSON.stringify(l)} in ${JSON.stringify(raw)}`);
    }
    assert.ok(f.data, `an SSE event without data: ${JSON.stringify(block)}`);
    checkShape(f.data);
    frames.push(f);
  }
  const events = frames.map(f => f.data);
  return { status: r.status, headers: r.headers, raw, frames, events, text: textOf(events) };
}

before(async () => {
  relay = await startRelay({ auth: true, replayEphemeral: 60 });
  agent = await startAgent('demo');
  pmPub = (await agent.waitForLine(/^agent pm ([0-9a-f]{64}) /, 20000))[1];
  [main, keyed] = await Promise.all([
    startBridge(['--max-body', String(MAX_BODY), '--first-event-timeout', '20']),
    startBridge(['--api-key', KEY_A, '--api-key', KEY_B, '--max-ws-threads', '2', '--first-event-timeout', '20']),
  ]);
  keyed.key = KEY_A;
  await Promise.all([waitOnline(main), waitOnline(keyed)]);
});

// ---- threads ------------------------------------------------------------------------------------
test('two new threads interleaved on one socket: each event carries its thread, each thread its own text', async () => {
  const c = await openChat(main);
  const texts = ['alpha thread speaks first and slowly', 'beta thread speaks second and slowly'];
  const from = c.events.length;
  for (const t of texts) c.send({ type: 'message', project: 'demo', content: `#slow=60 #chunk=4 ${t}` });
  const isEnd = e => e.type === 'end' || e.type === 'error';
  await nth(c, isEnd, 2, 'two ends', 30000, from);
  const all = c.events.slice(from);
  const ends = all.filter(isEnd);
  all.forEach(checkShape);
  assert.ok(ends.every(e => e.type === 'end' && e.reason === 'completed'), JSON.stringify(ends));
  const threads = all.filter(e => e.type === 'thread');
  assert.equal(threads.length, 2);
  const ids = threads.map(e => e.thread_id);
  assert.notEqual(ids[0], ids[1]);
  for (const t of threads) {
    assert.equal(t.event_id, t.thread_id, 'a new thread\'s root is the message bridge published');
    assert.equal(t.agent, 'pm');
  }
  assert.ok(all.every(e => ids.includes(e.thread_id)), 'every event names one of the two threads');
  // both were running at once: the second thread started before the first ended
  assert.ok(all.indexOf(threads[1]) < all.indexOf(ends[0]), 'the turns ran concurrently');
  const got = ids.map(id => textOf(all.filter(e => e.thread_id === id))).sort();
  assert.deepEqual(got, texts.map(t => `echo: ${t}`).sort());
  for (const id of ids) {
    const mine = all.filter(e => e.thread_id === id);
    assert.equal(mine[0].type, 'thread', 'a thread\'s first event is `thread`');
    assert.equal(mine.at(-1).type, 'end', 'a thread\'s last event is `end`');
  }
  await c.close();
});

test('request_id: every event about a message carries the client\'s id (how two new threads are told apart)', async () => {
  const c = await openChat(main);
  const from = c.events.length;
  c.send({ project: 'demo', content: '#slow=40 #chunk=4 first of two', request_id: 'req-1' });
  c.send({ project: 'demo', content: '#slow=40 #chunk=4 second of two', request_id: 'req-"2"' });
  c.send({ project: 'no-such-project', content: 'x', request_id: 'req-3' });
  c.send({ type: 'ping', request_id: 'req-4' });
  c.send('{"project":"demo","request_id":"req-5"'); // not even JSON: nothing known
  c.send({ project: 'demo', request_id: 'req-6' }); // no content: the id is still known
  const isEnd = e => e.type === 'end' || (e.type === 'error' && e.request_id !== undefined);
  await nth(c, isEnd, 4, 'the ends and errors', 30000, from);
  const all = c.events.slice(from);
  all.forEach(checkShape);
  const of = id => all.filter(e => e.request_id === id);
  assert.equal(textOf(of('req-1')), 'echo: first of two');
  assert.equal(textOf(of('req-"2"')), 'echo: second of two');
  for (const id of ['req-1', 'req-"2"']) {
    assert.equal(of(id)[0].type, 'thread');
    assert.equal(of(id).at(-1).type, 'end');
    assert.ok(of(id).every(e => e.thread_id === of(id)[0].thread_id));
  }
  assert.deepEqual(of('req-3').map(e => [e.type, e.code]), [['error', 'project_not_found']]);
  assert.deepEqual(of('req-4').map(e => e.type), ['pong']);
  assert.deepEqual(of('req-6').map(e => [e.type, e.code]), [['error', 'invalid_request']]);
  assert.ok(all.some(e => e.type === 'error' && e.code === 'invalid_request' && e.request_id === undefined));
  await c.close();
});

test('a follow-up by thread_id (hex, note1, nevent1) continues the Nostr thread', async () => {
  const c = await openChat(main);
  const first = await turn(c, { content: 'remember the word kiwi' });
  assert.equal(first.text, 'echo: remember the word kiwi');
  const T = first.thread;
  const second = await turn(c, { thread_id: T, content: 'what did I say?' });
  assert.equal(second.thread, T);
  assert.notEqual(second.first.event_id, T, 'the follow-up is a new event in the same thread');
  assert.equal(second.text, 'echo: what did I say? (turn 2; you said before: remember the word kiwi)');
  const third = await turn(c, { thread_id: nip19.noteEncode(T), role: 'user', content: [{ type: 'text', text: 'and now?' }] });
  assert.equal(third.thread, T, 'thread_id is always reported as hex');
  assert.equal(third.text, 'echo: and now? (turn 3; you said before: what did I say?)');
  const fourth = await turn(c, { thread_id: nip19.neventEncode({ id: T, relays: [relay.url] }), content: 'last one' });
  assert.equal(fourth.thread, T);
  assert.match(fourth.text, /^echo: last one \(turn 4; you said before: and now\?\)$/);
  // the follow-up's kind:1 is a reply in the thread (e root = T, p = the agent)
  const rc = await relayClient(relay.url, { authKey: generateSecretKey() });
  const sub = rc.subscribe({ kinds: [1], authors: [ownerPub], '#e': [T] });
  const replies = await sub.eose;
  const mine = replies.find(e => e.id === second.first.event_id);
  assert.ok(mine, 'the follow-up was published with e = the thread root');
  assert.ok(mine.tags.some(t => t[0] === 'e' && t[1] === T && t[3] === 'root'));
  assert.ok(mine.tags.some(t => t[0] === 'p' && t[1] === pmPub));
  await rc.close();
  await c.close();
});

// ---- the TENEX event stream ----------------------------------------------------------------------
test('steps: activity, content, tool (between the steps), content, end with usage — in order', async () => {
  const c = await openChat(main);
  const r = await turn(c, { content: '#steps=2 plan it' });
  assert.equal(r.end.type, 'end', JSON.stringify(r.end));
  assert.equal(r.end.reason, 'completed');
  const u = r.end.usage;
  assert.ok(u && u.total_tokens === u.prompt_tokens + u.completion_tokens && u.completion_tokens > 0, JSON.stringify(u));
  const tools = r.events.filter(e => e.type === 'tool');
  assert.equal(tools.length, 1, JSON.stringify(r.events));
  assert.equal(tools[0].name, 'echo_probe');
  assert.deepEqual(tools[0].args, { step: 1, of: 2 }, 'tool-args arrive as JSON');
  const ti = r.events.indexOf(tools[0]);
  assert.equal(textOf(r.events.slice(0, ti)).trim(), 'Step 1 of 2: thinking it over.');
  assert.equal(textOf(r.events.slice(ti)).trim(), 'echo: plan it');
  const act = r.events.filter(e => e.type === 'activity');
  assert.ok(act.some(e => e.agents.includes('pm')), `an activity event lists the working agent: ${JSON.stringify(act)}`);
  assert.equal(r.events[0].type, 'thread');
  assert.equal(r.events.at(-1), r.end);
  assert.ok(r.events.every(e => e.thread_id === r.thread));
  await c.close();
});

test('#retry: the seq-0 line is a status event, never content; the retried step is not repeated', async () => {
  const c = await openChat(main);
  const r = await turn(c, { content: '#retry the quick brown fox jumps over the lazy dog' });
  assert.equal(r.end.type, 'end', JSON.stringify(r.end));
  assert.equal(r.text, 'echo: the quick brown fox jumps over the lazy dog');
  const st = r.events.filter(e => e.type === 'status');
  assert.equal(st.length, 1, JSON.stringify(r.events));
  assert.match(st[0].message, /Model temporarily unavailable, retrying in 1s \(attempt 1\/5\)/);
  assert.ok(r.events.indexOf(st[0]) < r.events.indexOf(r.end));
  await c.close();
});

test('#ask: content, then the ask (title, question, suggestions), end "ask"; the next message answers it', async () => {
  const c = await openChat(main);
  const r = await turn(c, { content: '#ask shall we?' });
  assert.equal(r.end.type, 'end', JSON.stringify(r.end));
  assert.equal(r.end.reason, 'ask');
  const asks = r.events.filter(e => e.type === 'ask');
  assert.equal(asks.length, 1, JSON.stringify(r.events));
  const a = asks[0];
  assert.equal(a.title, 'Confirm echo');
  assert.equal(a.question, 'Should I echo "shall we?"?');
  assert.deepEqual(a.suggestions, ['yes', 'no']);
  assert.equal(a.multiselect, false);
  assert.ok(r.text.includes('I need your input before I can answer.'), r.text);
  assert.ok(r.text.includes('Before I echo your message, please confirm.'), r.text);
  assert.ok(!/- yes/.test(r.text), 'the suggestions are not rendered into the text');
  const ai = r.events.indexOf(a);
  assert.ok(r.events.slice(ai + 1).every(e => e.type !== 'content'), 'no content after the ask');
  assert.ok(ai < r.events.indexOf(r.end));
  // the answer: the same thread_id; it goes to the ask (a reply in the ask's thread)
  const ans = await turn(c, { thread_id: r.thread, content: 'yes' });
  assert.equal(ans.thread, r.thread, 'the answer is reported in the client\'s thread');
  assert.equal(ans.end.type, 'end', JSON.stringify(ans.end));
  assert.equal(ans.end.reason, 'completed');
  assert.equal(ans.text, 'echo: shall we? (you answered: yes)');
  const rc = await relayClient(relay.url, { authKey: generateSecretKey() });
  const answer = (await rc.subscribe({ kinds: [1], authors: [ownerPub], '#e': [a.ask_id] }).eose)
    .find(e => e.id === ans.first.event_id);
  assert.ok(answer, 'the answer was published in the ask\'s thread');
  assert.equal(answer.content, 'yes');
  await rc.close();
  // after the answer, the thread goes on in the client's thread
  const next = await turn(c, { thread_id: r.thread, content: 'thanks' });
  assert.equal(next.end.type, 'end', JSON.stringify(next.end));
  assert.match(next.text, /^echo: thanks \(turn \d+; you said before: /);
  await c.close();
});

test('#delegate: content, delegation {to:[coder]}, tool "delegate", then the second run\'s answer and end', async () => {
  const c = await openChat(main);
  const r = await turn(c, { content: '#delegate ask the team' }, { ms: 45000 });
  assert.equal(r.end.type, 'end', JSON.stringify(r.end));
  assert.equal(r.end.reason, 'completed');
  const del = r.events.filter(e => e.type === 'delegation');
  assert.equal(del.length, 1, JSON.stringify(r.events));
  assert.deepEqual(del[0].to, ['coder']);
  const tool = r.events.find(e => e.type === 'tool' && e.name === 'delegate');
  assert.ok(tool, JSON.stringify(r.events));
  assert.deepEqual(tool.args, { recipients: ['coder'], prompt: 'ask the team' });
  const di = r.events.indexOf(del[0]);
  assert.match(textOf(r.events.slice(0, di)), /^Let me delegate this to coder\./);
  assert.ok(r.text.endsWith('echo: ask the team (delegated to coder)'), JSON.stringify(r.text));
  assert.ok(!r.text.includes('@coder'), 'the delegation\'s own text is not the answer');
  assert.ok(r.events.filter(e => e.type === 'activity').some(e => e.agents.includes('pm')));
  await c.close();
});

test('stop: {"type":"stopped"}, a 24134 (e, p, a) reaches the relay, the agent\'s run ends; not_running, thread_busy, ping', async () => {
  const c = await openChat(main);
  const rc = await relayClient(relay.url, { authKey: generateSecretKey() });
  const from = c.events.length;
  c.send({ type: 'message', project: 'demo', content: '#slow=300 #chunk=2 talk for a very long while please' });
  const th = await c.waitFor(e => e.type === 'thread', 'the thread event', 30000, from);
  const T = th.thread_id;
  const sub = rc.subscribe({ kinds: [24134], '#e': [T] });
  await c.waitFor(e => e.type === 'content' && e.thread_id === T, 'the first content', 30000, from);
  c.send({ type: 'stop', thread_id: T });
  const stopped = await c.waitFor(e => e.type === 'stopped', 'stopped', 10000, from);
  assert.equal(stopped.thread_id, T);
  const stop = await sub.waitForEvent(() => true, 'the 24134 on the relay');
  assert.equal(stop.pubkey, ownerPub);
  assert.ok(nostrToolsVerify(stop));
  assert.deepEqual(stop.tags.filter(t => t[0] === 'p').map(t => t[1]), [pmPub], 'exactly the agent as p');
  assert.ok(stop.tags.some(t => t[0] === 'e' && t[1] === T));
  assert.ok(stop.tags.some(t => t[0] === 'a' && t[1] === coord));
  await agent.waitForLine(new RegExp(`stop pm root=${T.slice(0, 8)}: run ended`), 10000, { stream: 'stderr' });
  const end = await c.waitFor(e => e.thread_id === T && (e.type === 'end' || e.type === 'error'), 'the turn\'s end', 20000, from);
  assert.equal(end.type, 'end', JSON.stringify(end));
  assert.equal(end.reason, 'idle', 'a stopped run has no completion');
  const text = textOf(c.events.slice(from).filter(e => e.thread_id === T));
  assert.ok(text.length > 0 && text.length < 'echo: talk for a very long while please'.length, JSON.stringify(text));
  await rc.close();

  // nothing runs in T now
  const f2 = c.events.length;
  c.send({ type: 'stop', thread_id: T });
  const nr = await c.waitFor(e => e.type === 'error', 'not_running', 10000, f2);
  assert.equal(nr.code, 'not_running');
  assert.equal(nr.thread_id, T);
  // a second message to a thread with a running turn on this socket
  const f3 = c.events.length;
  c.send({ type: 'message', project: 'demo', thread_id: T, content: '#slow=100 again please' });
  c.send({ type: 'message', project: 'demo', thread_id: T, content: 'too soon' });
  const busy = await c.waitFor(e => e.type === 'error', 'thread_busy', 10000, f3);
  assert.equal(busy.code, 'thread_busy');
  assert.equal(busy.thread_id, T);
  const end2 = await c.waitFor(e => e.thread_id === T && (e.type === 'end' || e.type === 'error') && e !== busy,
    'the follow-up\'s end', 30000, f3);
  assert.equal(end2.type, 'end', JSON.stringify(end2));
  assert.match(textOf(c.events.slice(f3)), /^echo: again please \(turn \d+; you said before: /);
  assert.ok(!c.events.slice(f3).some(e => e.type === 'content' && e.content.includes('too soon')));
  c.send({ type: 'ping' });
  const pong = await c.waitFor(e => e.type === 'pong', 'pong', 10000, f3);
  checkShape(pong);
  await c.close();
});

// ---- POST /chat/sse ------------------------------------------------------------------------------
test('SSE: data lines, `event: end` last; follow-up by thread_id; a known history continues its thread', async () => {
  const r = await sse(main, { content: 'sse remember plum' });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('cache-control'), 'no-cache');
  for (const f of r.frames)
    assert.equal(f.event, f.data.type === 'end' || f.data.type === 'error' ? f.data.type : null, JSON.stringify(f));
  assert.equal(r.events[0].type, 'thread');
  const T = r.events[0].thread_id;
  assert.ok(r.events.every(e => e.thread_id === T));
  assert.equal(r.frames.at(-1).event, 'end');
  assert.equal(r.events.at(-1).reason, 'completed');
  assert.equal(r.text, 'echo: sse remember plum');
  assert.ok(r.raw.endsWith('\n\n'));

  const f = await sse(main, { thread_id: T, content: 'which fruit?' });
  assert.equal(f.events[0].thread_id, T);
  assert.equal(f.text, 'echo: which fruit? (turn 2; you said before: sse remember plum)');

  // a client that sends the conversation as history (OpenAI style) and no thread id: the store
  // knows that exchange, so the message continues its thread
  const h = await sse(main, {
    content: 'and the colour?',
    history: [
      { role: 'user', content: 'sse remember plum' }, { role: 'assistant', content: r.text },
    ],
  });
  assert.equal(h.events[0].thread_id, T, 'the history was recognised as thread T');
  assert.equal(h.text, 'echo: and the colour? (turn 3; you said before: which fruit?)');
});

test('SSE: an unknown history without a thread → the agent sees a transcript', async () => {
  const r = await sse(main, {
    content: 'what is my name?',
    history: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'my name is Ada' }, { role: 'assistant', content: 'hello Ada' }],
  });
  assert.equal(r.frames.at(-1).event, 'end');
  assert.equal(r.text, 'echo: Earlier in this conversation:\nuser: my name is Ada\nassistant: hello Ada\n\nwhat is my name?');
  assert.equal(r.events[0].event_id, r.events[0].thread_id, 'a new thread');
});

test('SSE: a turn that fails before anything streamed is an HTTP error, not a stream', async () => {
  const nf = await sse(main, { project: 'nope', content: 'x' });
  assert.equal(nf.status, 404, JSON.stringify(nf.error));
  assert.equal(nf.error.error.code, 'project_not_found');
  const bad = await sse(main, '{"project":"demo","content":');
  assert.equal(bad.status, 400);
  assert.equal(bad.error.error.type, 'invalid_request_error');
  const stop = await sse(main, '{"type":"stop","thread_id":"' + 'a'.repeat(64) + '"}');
  assert.equal(stop.status, 400);
  const role = await sse(main, { role: 'assistant', content: 'x' });
  assert.equal(role.status, 400);
  // over a stream: an error event with `event: error`
  const e = await sse(main, { content: '#error please fail' });
  assert.equal(e.status, 200);
  assert.equal(e.frames.at(-1).event, 'error');
  assert.equal(e.events.at(-1).code, 'agent_error');
  assert.equal(e.events.at(-1).thread_id, e.events[0].thread_id);
});

// ---- API keys ------------------------------------------------------------------------------------
test('API keys: 401 before the upgrade; ?token= and Bearer work; key B cannot use key A\'s thread', async () => {
  for (const [opts, what] of [[{}, 'no key'], [{ query: '?token=wrong' }, 'bad token'], [{ headers: { authorization: 'Bearer wrong' } }, 'bad bearer']]) {
    await assert.rejects(openChat(keyed, opts), err => {
      assert.equal(err.status, 401, `${what}: ${err.message}`);
      assert.equal(err.body?.error?.code, 'invalid_api_key', what);
      return true;
    }, what);
  }
  const sseNoKey = await sse(keyed, { content: 'x' });
  assert.equal(sseNoKey.status, 401);

  const a = await openChat(keyed, { query: `?token=${encodeURIComponent(KEY_A)}` });
  const ra = await turn(a, { content: 'a secret of key A' });
  assert.equal(ra.text, 'echo: a secret of key A');
  const T = ra.thread;
  const b = await openChat(keyed, { headers: { authorization: `Bearer ${KEY_B}` } });
  const rb = await turn(b, { thread_id: T, content: 'let me in' });
  assert.ok(rb.error, `key B used key A's thread: ${JSON.stringify(rb.events)}`);
  assert.equal(rb.error.code, 'thread_not_found');
  assert.equal(rb.error.thread_id, T);
  const bs = await sse(keyed, { thread_id: T, content: 'let me in' }, { headers: { 'x-api-key': KEY_B } });
  assert.equal(bs.status, 404);
  assert.equal(bs.error.error.code, 'thread_not_found');
  // stopping another key's thread finds nothing
  b.send({ type: 'stop', thread_id: T });
  assert.equal((await b.waitFor(e => e.type === 'error' && e !== rb.error, 'not_running')).code, 'not_running');
  // key A goes on in its thread (X-Api-Key on the upgrade this time)
  const a2 = await openChat(keyed, { headers: { 'x-api-key': KEY_A } });
  const ra2 = await turn(a2, { thread_id: T, content: 'still mine' });
  assert.equal(ra2.text, 'echo: still mine (turn 2; you said before: a secret of key A)');

  // --max-ws-threads 2: a third turn at once on one socket is refused, the two others complete
  const from = a2.events.length;
  for (const t of ['one', 'two', 'three']) a2.send({ type: 'message', project: 'demo', content: `#slow=100 #chunk=3 cap ${t}` });
  const tooMany = await a2.waitFor(e => e.type === 'error', 'too_many_threads', 20000, from);
  assert.equal(tooMany.code, 'too_many_threads');
  await nth(a2, e => e.type === 'end', 2, 'two ends', 30000, from);
  assert.equal(a2.events.slice(from).filter(e => e.type === 'thread').length, 2);
  for (const c of [a, b, a2]) await c.close();
});

// ---- malformed input ---------------------------------------------------------------------------
test('malformed frames: invalid_request and the socket stays usable; binary → error; oversized → 1009', async () => {
  const plain = await fetch(`${main.base}/chat`);
  assert.equal(plain.status, 400, 'GET /chat without an upgrade');
  const c = await openChat(main);
  for (const bad of ['{"type":"message",', 'not json', '[]', '{"type":"message","content":"no project"}',
    '{"type":"message","project":"demo","role":"assistant","content":"x"}', '{"type":"dance"}',
    '{"type":"message","project":"demo","thread_id":"xyz","content":"x"}', '{"type":"stop"}']) {
    const from = c.events.length;
    c.send(bad);
    const e = await c.waitFor(() => true, `an answer to ${bad}`, 10000, from);
    assert.equal(e.type, 'error', `${bad} → ${JSON.stringify(e)}`);
    assert.equal(e.code, 'invalid_request', bad);
    assert.equal(e.thread_id, null, bad);
  }
  const tb = c.events.length;
  c.sendRaw(Buffer.from('{"type":"ping"}'), { binary: true });
  const be = await c.waitFor(() => true, 'an answer to a binary frame', 10000, tb);
  assert.equal(be.type, 'error', JSON.stringify(be));
  // still usable
  const r = await turn(c, { content: 'still here' });
  assert.equal(r.text, 'echo: still here');
  // a message over --max-body closes the socket with 1009
  c.send(JSON.stringify({ type: 'message', project: 'demo', content: 'x'.repeat(MAX_BODY + 1024) }));
  const { code } = await withTimeout(c.closed, 10000, 'the close after an oversized frame');
  assert.equal(code, 1009);
  await waitUntil(async () => (await health(main)).sockets_open === 0, { what: 'sockets_open 0' });
});

// ---- resources -----------------------------------------------------------------------------------
test('a client gone mid-turn frees its socket at once; the turn runs on to its end, then nothing is left', async () => {
  await waitUntil(async () => (await health(main)).sockets_open === 0, { what: 'no socket open before' });
  const idle = await health(main);
  assert.equal(idle.streams_open, 0);
  assert.equal(idle.requests_open, 0);
  const recorded = await metric(main, 'bridge_turns_recorded_detached_total');
  const c = await openChat(main);
  c.send({ type: 'message', project: 'demo', content: '#slow=150 #chunk=3 a slow answer that goes on for a while' });
  const th = await c.waitFor(e => e.type === 'thread', 'the thread event');
  await c.waitFor(e => e.type === 'content', 'the first content');
  const busy = await health(main);
  assert.equal(busy.sockets_open, 1);
  assert.equal(busy.streams_open, 1);
  assert.equal(busy.requests_open, 1);
  c.ws.terminate(); // no close frame: the TCP connection just goes away
  await waitUntil(async () => (await health(main)).sockets_open === 0, { what: 'sockets_open back to 0' });
  await waitUntil(async () => {
    const h = await health(main);
    return h.streams_open === 0 && h.requests_open === 0 && h.detached_turns === 0 &&
      h.subscriptions_open === idle.subscriptions_open;
  }, { timeoutMs: 30000, intervalMs: 100, what: 'streams, requests, detached turns and subscriptions back to idle' });
  assert.equal(await metric(main, 'bridge_turns_recorded_detached_total'), recorded + 1, 'the detached turn ran to its end');
  // the thread is usable afterwards
  const c2 = await openChat(main);
  const f = await turn(c2, { thread_id: th.thread_id, content: 'are you done?' });
  assert.match(f.text, /^echo: are you done\? \(turn 2; you said before: a slow answer that goes on for a while\)$/);
  await c2.close();

  // the same for an SSE client that goes away
  const ac = new AbortController();
  const resp = await fetch(`${main.base}/chat/sse`, {
    method: 'POST', signal: ac.signal, headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
    body: JSON.stringify({ project: 'demo', content: '#slow=150 #chunk=3 another slow answer for a while' }),
  });
  const reader = resp.body.getReader();
  await reader.read();
  ac.abort();
  await waitUntil(async () => {
    const h = await health(main);
    return h.streams_open === 0 && h.requests_open === 0 && h.detached_turns === 0 && h.sockets_open === 0;
  }, { timeoutMs: 30000, intervalMs: 100, what: 'everything back to idle after the SSE client left' });
});

test('forged events (bad signatures, right author and thread) never reach the client', async () => {
  const c = await openChat(main);
  const from = c.events.length;
  c.send({ type: 'message', project: 'demo', content: '#slow=200 #chunk=4 genuine text only' });
  const th = await c.waitFor(e => e.type === 'thread', 'the thread event', 30000, from);
  const T = th.thread_id;
  const forge = (kind, content, tags) => {
    const ev = { kind, pubkey: pmPub, created_at: Math.floor(Date.now() / 1000), tags, content };
    ev.id = getEventHash(ev);
    ev.sig = 'ab'.repeat(64); // a well-formed but wrong signature
    return ev;
  };
  const thread = [['e', T, '', 'root'], ['e', th.event_id, '', 'reply'], ['a', coord]];
  let delivered = 0;
  for (const seq of ['1', '2', '3', '0'])
    delivered += (await relay.inject(forge(24135, `FORGED${seq} `, [...thread, ['llm-ral', '0'], ['stream-seq', seq]]))).delivered;
  delivered += (await relay.inject(forge(1, 'FORGED END', [...thread, ['p', ownerPub], ['status', 'completed']]))).delivered;
  delivered += (await relay.inject(forge(1, '', [...thread, ['tool', 'FORGEDTOOL']]))).delivered;
  // an id that does not match the content at all
  const wrongId = forge(24135, 'FORGEDID ', [...thread, ['llm-ral', '0'], ['stream-seq', '1']]);
  wrongId.id = 'cd'.repeat(32);
  delivered += (await relay.inject(wrongId)).delivered;
  assert.ok(delivered >= 7, `the forged events reached bridge's subscription (delivered ${delivered})`);
  const end = await c.waitFor(e => e.thread_id === T && (e.type === 'end' || e.type === 'error'), 'the end', 30000, from);
  assert.equal(end.type, 'end', JSON.stringify(end));
  const mine = c.events.slice(from).filter(e => e.thread_id === T);
  assert.equal(textOf(mine), 'echo: genuine text only');
  assert.ok(!JSON.stringify(c.events.slice(from)).includes('FORGED'), 'a forged event reached the client');
  await c.close();
});

test('a client that reconnects can stop its turn that ran on without it', async () => {
  const c = await openChat(main);
  c.send({ type: 'message', project: 'demo', content: '#slow=300 #chunk=2 keep talking after I am gone' });
  const th = await c.waitFor(e => e.type === 'thread', 'the thread event');
  await c.waitFor(e => e.type === 'content', 'the first content');
  c.ws.terminate();
  await waitUntil(async () => (await health(main)).sockets_open === 0, { what: 'the socket gone' });
  assert.equal((await health(main)).detached_turns, 1);
  const c2 = await openChat(main);
  c2.send({ type: 'stop', thread_id: th.thread_id });
  const r = await c2.waitFor(e => e.type === 'stopped' || e.type === 'error', 'stopped');
  assert.equal(r.type, 'stopped', JSON.stringify(r));
  assert.equal(r.thread_id, th.thread_id);
  await agent.waitForLine(new RegExp(`stop pm root=${th.thread_id.slice(0, 8)}: run ended`), 10000, { stream: 'stderr' });
  await waitUntil(async () => {
    const h = await health(main);
    return h.requests_open === 0 && h.detached_turns === 0 && h.streams_open === 0;
  }, { timeoutMs: 20000, intervalMs: 100, what: 'the stopped detached turn to end' });
  await c2.close();
});

test('SIGTERM: a running turn ends with an error event, the socket closes with 1001, exit 0, no sanitizer report', async () => {
  const c = await openChat(keyed, { query: `?token=${encodeURIComponent(KEY_A)}` });
  c.send({ type: 'message', project: 'demo', content: '#slow=300 #chunk=2 a turn the shutdown interrupts' });
  const th = await c.waitFor(e => e.type === 'thread', 'the thread event');
  await c.waitFor(e => e.type === 'content', 'the first content');
  const exits = [keyed, main].map(b => b.proc.stop('SIGTERM'));
  const err = await c.waitFor(e => e.type === 'error' || e.type === 'end', 'the turn\'s error', 15000);
  assert.equal(err.type, 'error', JSON.stringify(err));
  assert.equal(err.code, 'shutting_down');
  assert.equal(err.thread_id, th.thread_id);
  const { code } = await withTimeout(c.closed, 15000, 'the socket to close');
  assert.equal(code, 1001);
  for (const [b, exit] of [[keyed, exits[0]], [main, exits[1]]]) {
    const res = await exit;
    const out = b.proc.stderrLines.join('\n');
    assert.ok(!/Sanitizer|runtime error:/.test(out), `sanitizer report:\n${out.slice(-6000)}`);
    assert.equal(res.code, 0, `exit ${JSON.stringify(res)}`);
  }
});
