// WebSockets on GET /chat and the POST /chat/sse route (src/http/ws.c, src/http/route.c), driven
// through tests/integration/http_driver.c, whose chat_ws route accepts and obeys JSON commands
// ({"echo"}, {"close"}, {"burst"}, {"flood"}). Every test stops the driver with SIGTERM and checks
// a clean exit (status 0: uv_loop_close() returned 0 and, in a sanitizer build, ASan/LSan found
// nothing). Everything binds 127.0.0.1; timeouts are hang guards only, never assertions.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import process from 'node:process';
import { test } from 'node:test';

import { BUILD_DIR, WebSocket, onCleanup, sleep, startProcess, waitUntil, withTimeout } from '../js/lib/harness.mjs';

const DRIVER = process.env.NB_HTTP_DRIVER || path.join(BUILD_DIR, 'tests', 'http_driver');
const REQ_ID = /^req_[0-9a-f]{32}$/;
const SANITIZER = /AddressSanitizer|LeakSanitizer|runtime error/;

// ---- the driver ------------------------------------------------------------------------------

async function startServer(extra = []) {
  assert.ok(existsSync(DRIVER), `http_driver not built: ${DRIVER}`);
  const proc = startProcess(DRIVER, ['--bind', '127.0.0.1:0', '--heartbeat-ms', '200', ...extra], { name: 'http_driver' });
  const m = await proc.waitForLine(/"ev":"listening","port":(\d+)/, 15000);
  const port = Number(m[1]);
  const s = {
    proc,
    port,
    lines() {
      const out = [];
      for (const l of proc.stdoutLines) {
        try { out.push(JSON.parse(l)); } catch { /* not ours */ }
      }
      return out;
    },
    count(ev) { return s.lines().filter(l => l.ev === ev).length; },
    async waitFor(pred, what, timeoutMs = 20000) {
      return waitUntil(() => {
        if (!proc.running()) throw new Error(`http_driver exited while waiting for ${what}:\n${proc.output().slice(-4000)}`);
        return s.lines().find(pred);
      }, { timeoutMs, what: `${what}; output:\n${proc.output().slice(-3000)}` });
    },
    async health() {
      const r = await request(port, { path: '/health' });
      assert.equal(r.status, 200);
      return JSON.parse(r.body);
    },
    // Nothing left open: only the /health request itself is active, no WebSocket remains.
    async idle(what = 'the server to be idle') {
      return waitUntil(async () => {
        const h = await s.health();
        return h.active === 1 && h.sessions === 0 && h.ws === 0 ? h : null;
      }, { timeoutMs: 20000, intervalMs: 50, what });
    },
    async stop() {
      const ex = await proc.stop('SIGTERM', 20000);
      const exit = s.lines().find(l => l.ev === 'exit');
      assert.ok(exit, `no exit line; output:\n${proc.output().slice(-4000)}`);
      assert.equal(exit.loop_close, 0, 'uv_loop_close() returned 0');
      assert.equal(ex.code, 0, `driver exit status; output:\n${proc.output().slice(-4000)}`);
      assert.ok(!SANITIZER.test(proc.output()), proc.output().slice(-4000));
      return ex;
    },
  };
  return s;
}

// ---- clients ---------------------------------------------------------------------------------

/** One request on a fresh connection (node:http). Resolves {status, headers, body}. */
function request(port, { method = 'GET', path: p = '/', headers = {}, body } = {}) {
  return withTimeout(new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: p, headers, agent: false }, res => {
      const chunks = [];
      res.on('data', c => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body !== undefined) req.end(typeof body === 'string' ? body : JSON.stringify(body));
    else req.end();
  }), 20000, `${method} ${p}`);
}

function assertErrorObject(r, status) {
  assert.equal(r.status, status, r.body);
  assert.match(r.headers['content-type'], /^application\/json/);
  assert.match(r.headers['x-request-id'], REQ_ID);
  const j = JSON.parse(r.body);
  assert.deepEqual(Object.keys(j), ['error']);
  assert.deepEqual(Object.keys(j.error).sort(), ['code', 'message', 'param', 'type']);
  return j.error;
}

/**
 * A `ws` client that records everything: msgs (text parsed as JSON when possible), pings, the
 * upgrade response, the close {code, reason}. opened / closed are promises (hang-guarded).
 */
function openWs(port, p = '/chat', opts = {}) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${p}`, opts);
  const c = { ws, msgs: [], pings: 0, upgrade: null, close: null, error: null, unexpected: null };
  ws.on('upgrade', res => { c.upgrade = res; });
  ws.on('message', (data, isBinary) => {
    const text = isBinary ? null : data.toString('utf8');
    let json = null;
    try { json = text !== null ? JSON.parse(text) : null; } catch { /* raw */ }
    c.msgs.push({ text, json, isBinary, len: data.length });
  });
  ws.on('ping', () => { c.pings++; });
  ws.on('error', e => { c.error = e; });
  ws.on('unexpected-response', (req, res) => {
    const chunks = [];
    res.on('data', d => chunks.push(d));
    res.on('end', () => {
      c.unexpected = { status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') };
      ws.terminate(); // with this listener, ending the refused handshake is up to us
    });
  });
  const closed = new Promise(resolve => ws.on('close', (code, reason) => {
    c.close = { code, reason: reason.toString('utf8') };
    resolve(c.close);
  }));
  c.opened = withTimeout(new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
    ws.once('close', () => reject(new Error(`closed before open: ${JSON.stringify(c.close)}`)));
  }), 20000, `the WebSocket on ${p} to open`);
  c.closed = (what = 'the WebSocket to close') => withTimeout(closed, 20000, what);
  c.waitMsg = (pred, what) => waitUntil(() => c.msgs.find(pred), { timeoutMs: 20000, intervalMs: 5, what: `${what}; got ${c.msgs.length} messages` });
  c.waitCount = (n, what = `${n} messages`) => waitUntil(() => c.msgs.length >= n, { timeoutMs: 60000, intervalMs: 5, what: `${what}; got ${c.msgs.length}` });
  onCleanup(() => ws.terminate());
  return c;
}

const hello = c => c.waitMsg(m => m.json && m.json.hello !== undefined, 'the hello message');

/** A raw TCP client doing the handshake by hand: it never answers pings or close frames. */
function rawWs(port, p = '/chat', extraHeaders = '') {
  const sock = net.connect(port, '127.0.0.1');
  const c = { sock, data: Buffer.alloc(0), ended: false };
  sock.on('data', d => { c.data = Buffer.concat([c.data, d]); });
  sock.on('error', () => {});
  const closed = new Promise(resolve => sock.on('close', () => { c.ended = true; resolve(); }));
  c.connected = new Promise((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject); });
  c.handshake = () => sock.write(`GET ${p} HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${extraHeaders}\r\n`);
  c.closed = (what = 'the server to close the connection') => withTimeout(closed, 20000, what);
  c.head = () => { const i = c.data.indexOf('\r\n\r\n'); return i < 0 ? null : c.data.subarray(0, i).toString('latin1'); };
  // The server's frames after the 101 (unmasked): [{opcode, payload}].
  c.frames = () => {
    const i = c.data.indexOf('\r\n\r\n');
    if (i < 0) return [];
    let b = c.data.subarray(i + 4);
    const out = [];
    while (b.length >= 2) {
      let len = b[1] & 0x7f, off = 2;
      if (len === 126) { if (b.length < 4) break; len = b.readUInt16BE(2); off = 4; }
      else if (len === 127) { if (b.length < 10) break; len = Number(b.readBigUInt64BE(2)); off = 10; }
      if (b.length < off + len) break;
      out.push({ opcode: b[0] & 0x0f, fin: !!(b[0] & 0x80), payload: b.subarray(off, off + len) });
      b = b.subarray(off + len);
    }
    return out;
  };
  c.waitFrames = (pred, what) => waitUntil(() => pred(c.frames()), { timeoutMs: 20000, intervalMs: 10, what });
  onCleanup(() => sock.destroy());
  return c;
}

/** A masked client frame (opcode 1 text, 2 binary, 8 close, 10 pong). */
function clientFrame(opcode, payload, fin = true) {
  const data = Buffer.from(payload);
  const mask = Buffer.from([1, 2, 3, 4]);
  let head;
  if (data.length < 126) head = Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | data.length]);
  else { head = Buffer.alloc(4); head[0] = (fin ? 0x80 : 0) | opcode; head[1] = 0x80 | 126; head.writeUInt16BE(data.length, 2); }
  const masked = Buffer.from(data.map((x, i) => x ^ mask[i % 4]));
  return Buffer.concat([head, mask, masked]);
}

// ---- the upgrade -------------------------------------------------------------------------------

test('upgrade: 101 with a request id, hello, echo in order, binary and empty messages, the query', async () => {
  const s = await startServer();
  const c = openWs(s.port, '/chat?thread=t1&x=%2F');
  await c.opened;
  assert.equal(c.upgrade.statusCode, 101);
  assert.match(c.upgrade.headers['x-request-id'], REQ_ID);
  assert.equal(c.upgrade.headers['access-control-allow-origin'], '*');
  const h = await hello(c);
  assert.equal(c.msgs[0], h, 'hello comes first (it was queued before the 101 was written)');
  const req = await s.waitFor(l => l.ev === 'request' && l.route === 'chat_ws', 'the request line');
  assert.equal(req.query, 'thread=t1&x=%2F');
  assert.equal(req.handshake, true);
  assert.equal(req.id, c.upgrade.headers['x-request-id']);
  const open = await s.waitFor(l => l.ev === 'ws_open', 'ws_open');
  assert.equal(open.peer, '127.0.0.1');
  // the socket counts as active until it is gone
  assert.equal((await s.health()).active, 2);

  // echo: many messages, in order
  for (let i = 0; i < 100; i++) c.ws.send(JSON.stringify({ echo: i }));
  await c.waitCount(101, 'the echoes');
  assert.deepEqual(c.msgs.slice(1, 101).map(m => m.json.echo), [...Array(100).keys()]);
  // binary reaches on_message with is_text false
  c.ws.send(Buffer.alloc(1000, 7));
  const bin = await c.waitMsg(m => m.json && m.json.binary !== undefined, 'the binary reply');
  assert.equal(bin.json.binary, 1000);
  const bl = await s.waitFor(l => l.ev === 'ws_message' && l.text === false, 'the binary ws_message line');
  assert.equal(bl.len, 1000);
  // an empty text message is a message too
  c.ws.send('');
  await c.waitMsg(m => m.json && m.json.error === 'not a JSON object', 'the reply to an empty message');
  await s.waitFor(l => l.ev === 'ws_message' && l.len === 0 && l.text === true, 'the empty ws_message line');
  // a large message (half the default 1 MiB cap) and a fragmented one are whole when they arrive
  const big = 'b'.repeat(512 * 1024);
  c.ws.send(JSON.stringify({ echo: big }));
  const back = await c.waitMsg(m => m.json && m.json.echo === big, 'the large echo');
  assert.equal(back.len, big.length + 11);
  c.ws.send('{"echo":"frag', { fin: false });
  c.ws.send('mented"}', { fin: true });
  await c.waitMsg(m => m.json && m.json.echo === 'fragmented', 'the reassembled echo');

  // a client close ends it: on_close, and nothing stays active
  c.ws.close(1000, 'done');
  const cl = await c.closed();
  assert.equal(cl.code, 1000);
  const wc = await s.waitFor(l => l.ev === 'ws_close', 'ws_close');
  assert.equal(wc.received, 104);
  await s.idle();
  await s.stop();
});

test('GET /chat without a handshake is a 400 error object; methods, preflight, deny, deferred accept', async () => {
  const s = await startServer();
  // a plain GET reaches the route, which answers 400
  const plain = await request(s.port, { path: '/chat?x=1' });
  const e = assertErrorObject(plain, 400);
  assert.match(e.message, /WebSocket/);
  assert.equal(plain.headers['sec-websocket-version'], '13');
  assert.equal((await s.waitFor(l => l.route === 'chat_ws', 'the request line')).handshake, false);
  // incomplete or wrong handshakes
  for (const headers of [
    { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13' }, // no key
    { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version': '8' },
    { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' }, // no version
    { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-key': 'short', 'sec-websocket-version': '13' },
    { connection: 'keep-alive', upgrade: 'websocket', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version': '13' },
  ]) {
    const r = await request(s.port, { path: '/chat', headers });
    assertErrorObject(r, 400);
  }
  // a raw handshake over HTTP/1.0 is refused too
  {
    const c = rawWs(s.port);
    await c.connected;
    c.sock.write('GET /chat HTTP/1.0\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
    await c.closed();
    assert.match(c.head(), /^HTTP\/1\.1 400/);
  }
  // methods and preflight
  const post = await request(s.port, { method: 'POST', path: '/chat', body: '{}' });
  assertErrorObject(post, 405);
  assert.equal(post.headers.allow, 'GET, OPTIONS');
  const pre = await request(s.port, { method: 'OPTIONS', path: '/chat', headers: { origin: 'https://a.example', 'access-control-request-method': 'GET' } });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers['access-control-allow-origin'], '*');
  // the route can refuse the upgrade with an error response
  const denied = openWs(s.port, '/chat?deny=1');
  await assert.rejects(denied.opened);
  await waitUntil(() => denied.unexpected, { what: 'the refusal' });
  assert.equal(denied.unexpected.status, 401);
  assert.equal(JSON.parse(denied.unexpected.body).error.code, 'invalid_api_key');
  // or accept it after its handler returned
  const later = openWs(s.port, '/chat?defer=1');
  await later.opened;
  await hello(later);
  later.ws.send(JSON.stringify({ echo: 'late' }));
  await later.waitMsg(m => m.json && m.json.echo === 'late', 'the echo on a deferred socket');
  later.ws.close();
  await later.closed();
  // a client that leaves while the accept is deferred
  const gone = rawWs(s.port, '/chat?defer=2');
  await gone.connected;
  gone.handshake();
  await s.waitFor(l => l.route === 'chat_ws' && l.query === 'defer=2', 'the deferred request');
  gone.sock.destroy();
  await s.idle();
  await s.stop();
});

test('POST /chat/sse streams; a project named "chat" keeps its routes; --no-native turns both off', async () => {
  const s = await startServer();
  const body = JSON.stringify({ message: 'hi' });
  const r = await request(s.port, { method: 'POST', path: '/chat/sse?x=1', body, headers: { 'content-type': 'application/json' } });
  assert.equal(r.status, 200);
  assert.match(r.headers['content-type'], /^text\/event-stream/);
  assert.match(r.headers['x-request-id'], REQ_ID);
  assert.equal(r.body, `data: {"len":${body.length}}\n\ndata: [DONE]\n\n`);
  const get = await request(s.port, { path: '/chat/sse' });
  assertErrorObject(get, 405);
  assert.equal(get.headers.allow, 'POST, OPTIONS');
  assert.equal((await request(s.port, { method: 'OPTIONS', path: '/chat/sse' })).status, 204);
  const proj = await request(s.port, { method: 'POST', path: '/chat/chat/completions', body: { mode: 'json' }, headers: { 'content-type': 'application/json' } });
  assert.equal(proj.status, 200);
  assert.equal(JSON.parse(proj.body).dtag, 'chat');
  const models = await request(s.port, { path: '/chat/models' });
  assert.equal(models.status, 200);
  assert.deepEqual(JSON.parse(models.body).data.map(m => m.id), ['agent-a', 'agent-b']);
  await s.idle();
  await s.stop();

  const n = await startServer(['--no-native']);
  assertErrorObject(await request(n.port, { path: '/chat' }), 404);
  assertErrorObject(await request(n.port, { method: 'POST', path: '/chat/sse', body: '{}' }), 404);
  assertErrorObject(await request(n.port, { method: 'OPTIONS', path: '/chat' }), 404);
  const ws = openWs(n.port, '/chat');
  await assert.rejects(ws.opened);
  await waitUntil(() => ws.unexpected, { what: 'the 404' });
  assert.equal(ws.unexpected.status, 404);
  assert.equal(n.count('request'), 0);
  await n.stop();
});

// ---- limits --------------------------------------------------------------------------------------

test('a message over max_ws_message closes with 1009 (whole or fragmented); at the cap it is fine', async () => {
  const s = await startServer(['--max-ws-message', '1024']);
  const pad = n => JSON.stringify({ echo: 'e'.repeat(n - 11) });
  assert.equal(pad(1024).length, 1024);
  const c = openWs(s.port);
  await c.opened;
  c.ws.send(pad(1024));
  await c.waitMsg(m => m.len === 1024, 'the echo of a message exactly at the cap');
  c.ws.send(pad(1025));
  assert.equal((await c.closed()).code, 1009);
  await s.waitFor(l => l.ev === 'ws_close', 'ws_close');
  assert.equal(s.count('ws_message'), 1, 'the oversized message never reached on_message');
  assert.equal(s.lines().find(l => l.route === 'chat_ws').query, '', 'no query string');

  // fragments count together
  const f = openWs(s.port);
  await f.opened;
  await hello(f);
  f.ws.send('{"echo":"' + 'a'.repeat(600), { fin: false });
  f.ws.send('a'.repeat(600) + '"}', { fin: true });
  assert.equal((await f.closed()).code, 1009);
  await s.idle();
  // the server is fine afterwards
  const ok = openWs(s.port);
  await ok.opened;
  ok.ws.send(JSON.stringify({ echo: 1 }));
  await ok.waitMsg(m => m.json && m.json.echo === 1, 'an echo after the limit closes');
  ok.ws.close();
  await ok.closed();
  await s.idle();
  await s.stop();
});

test('a peer that does not read is closed with 1008 at the queue cap; the server stays healthy', async () => {
  const s = await startServer(['--max-queue', '262144']);
  const slow = openWs(s.port);
  await slow.opened;
  await hello(slow);
  const other = openWs(s.port);
  await other.opened;
  await hello(other);
  slow.ws._socket.pause(); // stop reading: the kernel buffers fill, then the server's queue
  slow.ws.send(JSON.stringify({ flood: 1e6, bytes: 16384, per_tick: 4 }));
  const limit = await s.waitFor(l => l.ev === 'ws_limit', 'the server to refuse a send (queue cap)', 60000);
  assert.equal(limit.why, 'ELIMIT');
  assert.ok(limit.queued < 262144 + 128, `queued ${limit.queued}: the cap (and the close frame)`);
  assert.match(s.proc.output(), /websocket cut, the peer does not read/);
  // the rest of the server does not notice
  other.ws.send(JSON.stringify({ echo: 'still here' }));
  await other.waitMsg(m => m.json && m.json.echo === 'still here', 'an echo on the other socket');
  assert.equal((await s.health()).status, 'ok');
  // reading again: what was written arrives in order, then the close frame (1008)
  slow.ws._socket.resume();
  const cl = await slow.closed();
  assert.equal(cl.code, 1008);
  const is = slow.msgs.filter(m => m.json && m.json.i !== undefined).map(m => m.json.i);
  assert.ok(is.length > 0);
  assert.deepEqual(is, [...Array(is.length).keys()], 'messages arrive in order, none skipped');
  await s.waitFor(l => l.ev === 'ws_close' && l.id === limit.id, 'on_close after the cut');
  other.ws.close();
  await other.closed();
  await s.idle();
  await s.stop();
});

test('bursts and floods to a reading peer all arrive, in order; nb_ws_close comes after them', async () => {
  const s = await startServer();
  const c = openWs(s.port);
  await c.opened;
  await hello(c);
  c.ws.send(JSON.stringify({ flood: 3000, bytes: 700, per_tick: 10 }));
  await c.waitMsg(m => m.json && m.json.flood_done === 3000, 'the end of the flood');
  const is = c.msgs.filter(m => m.json && m.json.i !== undefined).map(m => m.json.i);
  assert.deepEqual(is, [...Array(3000).keys()]);
  // queued from inside on_message, then closed: every message before the close frame
  c.ws.send(JSON.stringify({ burst: 300, bytes: 2000, then_close: 4002 }));
  const cl = await c.closed();
  assert.deepEqual(cl, { code: 4002, reason: 'burst done' });
  const burst = c.msgs.filter(m => m.json && m.json.i !== undefined).slice(3000).map(m => m.json.i);
  assert.deepEqual(burst, [...Array(300).keys()]);
  // close codes and reasons; an over-long reason is cut to 123 bytes at a character boundary
  const r = openWs(s.port);
  await r.opened;
  r.ws.send(JSON.stringify({ close: 4000, reason: 'bye now' }));
  assert.deepEqual(await r.closed(), { code: 4000, reason: 'bye now' });
  const l = openWs(s.port);
  await l.opened;
  l.ws.send(JSON.stringify({ close: 4001, reason: 'é'.repeat(100) }));
  const lc = await l.closed();
  assert.equal(lc.code, 4001);
  assert.equal(lc.reason, 'é'.repeat(61));
  await s.idle();
  await s.stop();
});

// ---- liveness --------------------------------------------------------------------------------------

test('pings keep an answering peer open; a silent one is closed with 1001 and then cut', async () => {
  const s = await startServer(['--heartbeat-ms', '100', '--ws-idle-ms', '1000']);
  const live = openWs(s.port);
  await live.opened;
  // the ws client answers pings by itself: it stays open well past the idle timeout
  await sleep(2500);
  assert.ok(live.pings >= 3, `pings seen: ${live.pings}`);
  assert.equal(live.close, null);
  live.ws.send(JSON.stringify({ echo: 'alive' }));
  await live.waitMsg(m => m.json && m.json.echo === 'alive', 'an echo after the pings');

  const dead = rawWs(s.port);
  await dead.connected;
  dead.handshake();
  // pings first, then the close frame, which it does not answer either: the server cuts it
  await dead.waitFrames(f => f.some(x => x.opcode === 8), 'the idle close frame');
  const frames = dead.frames();
  assert.match(dead.head(), /^HTTP\/1\.1 101 /);
  assert.equal(frames[0].opcode, 1); // hello
  assert.ok(frames.filter(x => x.opcode === 9).length >= 2, 'pings before the close');
  const close = frames.find(x => x.opcode === 8);
  assert.equal(close.payload.readUInt16BE(0), 1001);
  assert.equal(close.payload.subarray(2).toString(), 'idle timeout');
  await dead.closed();
  assert.match(s.proc.output(), /websocket silent for \d+ ms, closing/);
  live.ws.close();
  await live.closed();
  await s.idle();
  await s.stop();
});

test('clients that vanish (mid-session, or right after the handshake) are noticed', async () => {
  const s = await startServer();
  const c = openWs(s.port);
  await c.opened;
  await hello(c);
  c.ws.terminate();
  await s.waitFor(l => l.ev === 'ws_close', 'ws_close after terminate');
  for (let i = 0; i < 10; i++) {
    const r = rawWs(s.port);
    await r.connected;
    r.handshake();
    if (i % 2) await r.waitFrames(f => f.length > 0, 'hello');
    r.sock.destroy();
  }
  // a peer that sends a frame and its close in one write, and answers nothing after
  const q = rawWs(s.port);
  await q.connected;
  q.handshake();
  q.sock.write(Buffer.concat([clientFrame(1, '{"echo":"x"}'), clientFrame(8, Buffer.from([0x03, 0xe8]))]));
  await q.closed();
  const fr = q.frames();
  assert.equal(fr[fr.length - 1].opcode, 8, 'the close is answered');
  await s.idle();
  // a client gone before its request was read is never routed; every accepted one gets on_close
  await waitUntil(() => s.count('ws_open') >= 7, { what: `at least 7 ws_open lines; got ${s.count('ws_open')}` });
  await waitUntil(() => s.count('ws_close') === s.count('ws_open'), { what: 'on_close for every socket' });
  await s.stop();
});

test('200 concurrent WebSockets', async () => {
  const s = await startServer();
  const N = 200;
  const cs = [];
  for (let i = 0; i < N; i++) cs.push(openWs(s.port, `/chat?n=${i}`));
  await Promise.all(cs.map(c => c.opened));
  await Promise.all(cs.map(c => hello(c)));
  assert.equal((await s.health()).active, N + 1);
  cs.forEach((c, i) => c.ws.send(JSON.stringify({ echo: `n${i}` })));
  await Promise.all(cs.map((c, i) => c.waitMsg(m => m.json && m.json.echo === `n${i}`, `echo ${i}`)));
  cs.forEach(c => c.ws.close(1000));
  await Promise.all(cs.map(c => c.closed()));
  await waitUntil(() => s.count('ws_close') === N, { what: `on_close for all ${N}` });
  await s.idle();
  await s.stop();
});

// ---- shutdown ------------------------------------------------------------------------------------

test('SIGTERM with open WebSockets: the last message, then close 1001, and a clean exit', async () => {
  const s = await startServer(['--heartbeat-ms', '1000']);
  const cs = [];
  for (let i = 0; i < 5; i++) cs.push(openWs(s.port));
  await Promise.all(cs.map(c => c.opened));
  await Promise.all(cs.map(c => hello(c)));
  // one that never answers the close: the close grace period ends it
  const mute = rawWs(s.port);
  await mute.connected;
  mute.handshake();
  await mute.waitFrames(f => f.length > 0, 'hello on the mute socket');
  // one flooding a reader that keeps up
  const busy = openWs(s.port);
  await busy.opened;
  busy.ws.send(JSON.stringify({ flood: 1e9, bytes: 100, per_tick: 10 }));
  await busy.waitCount(100, 'the flood to run');

  const ex = await s.stop();
  assert.equal(ex.code, 0);
  for (const c of [...cs, busy]) {
    const cl = await c.closed();
    assert.deepEqual(cl, { code: 1001, reason: 'server shutting down' });
    assert.deepEqual(c.msgs[c.msgs.length - 1].json, { bye: true }, 'the message sent before the close arrives');
  }
  await mute.closed();
  const fr = mute.frames();
  assert.equal(fr[fr.length - 1].opcode, 8);
  assert.equal(fr[fr.length - 1].payload.readUInt16BE(0), 1001);
  assert.equal(s.count('ws_close'), 7);
  assert.ok(s.lines().some(l => l.ev === 'closed'));
});
