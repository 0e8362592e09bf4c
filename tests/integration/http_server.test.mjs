// The HTTP front (src/http/) driven through tests/integration/http_driver.c, whose fake routes do
// what the request body says. Every test stops the driver with SIGTERM and checks a clean exit:
// status 0 means uv_loop_close() returned 0 and, in a sanitizer build, that ASan/LSan found
// nothing. Everything binds 127.0.0.1; timeouts are hang guards only, never assertions.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import process from 'node:process';
import { test } from 'node:test';

import { BUILD_DIR, sleep, startProcess, waitUntil, withTimeout } from '../js/lib/harness.mjs';
import { APIError, OpenAI } from '../js/lib/deps.mjs';

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
    base: `http://127.0.0.1:${port}`,
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
    // Nothing left open: only the /health request itself is active, and no fake session remains.
    async idle(what = 'the server to be idle') {
      return waitUntil(async () => {
        const h = await s.health();
        return h.active === 1 && h.sessions === 0 ? h : null;
      }, { timeoutMs: 20000, intervalMs: 50, what });
    },
    // SIGTERM and a clean exit.
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

// ---- HTTP helpers --------------------------------------------------------------------------------

/** One request on a fresh connection (node:http). Resolves {status, headers, body, res}. */
function request(port, { method = 'GET', path: p = '/', headers = {}, body } = {}) {
  return withTimeout(new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: p, headers, agent: false }, res => {
      const chunks = [];
      res.on('data', c => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), res }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body !== undefined) req.end(typeof body === 'string' ? body : JSON.stringify(body));
    else req.end();
  }), 20000, `${method} ${p}`);
}

const chat = (port, body, p = '/proj/chat/completions', headers = {}) =>
  request(port, { method: 'POST', path: p, body, headers: { 'content-type': 'application/json', ...headers } });

function assertErrorObject(r, status) {
  assert.equal(r.status, status, r.body);
  assert.match(r.headers['content-type'], /^application\/json/);
  assert.match(r.headers['x-request-id'], REQ_ID);
  const j = JSON.parse(r.body);
  assert.deepEqual(Object.keys(j), ['error']);
  assert.deepEqual(Object.keys(j.error).sort(), ['code', 'message', 'param', 'type']);
  assert.equal(typeof j.error.message, 'string');
  assert.ok(j.error.message.length > 0);
  assert.equal(typeof j.error.type, 'string');
  return j.error;
}

/** A raw TCP connection: write bytes, collect everything until the server closes. */
function rawConnect(port) {
  const sock = net.connect(port, '127.0.0.1');
  const c = { sock, data: Buffer.alloc(0), ended: false, error: null };
  sock.on('data', d => { c.data = Buffer.concat([c.data, d]); });
  const closed = new Promise(resolve => sock.on('close', () => { c.ended = true; resolve(); }));
  sock.on('error', e => { c.error = e; });
  c.connected = new Promise((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject); });
  c.closed = (what = 'the server to close the connection') => withTimeout(closed, 20000, what);
  c.waitData = (pred, what) => waitUntil(() => pred(c.data.toString('latin1')), { timeoutMs: 20000, intervalMs: 10, what });
  return c;
}

/** Parse consecutive HTTP/1.1 responses from text (Content-Length, chunked or until close). */
function parseResponses(text) {
  const out = [];
  let rest = text;
  while (rest.length) {
    const he = rest.indexOf('\r\n\r\n');
    if (he < 0) break;
    const [statusLine, ...hl] = rest.slice(0, he).split('\r\n');
    const status = Number(statusLine.split(' ')[1]);
    const headers = {};
    for (const h of hl) {
      const i = h.indexOf(':');
      headers[h.slice(0, i).toLowerCase()] = h.slice(i + 1).trim();
    }
    rest = rest.slice(he + 4);
    let body = '';
    if (headers['content-length'] !== undefined) {
      const n = Number(headers['content-length']);
      body = rest.slice(0, n);
      rest = rest.slice(n);
    } else if (/chunked/i.test(headers['transfer-encoding'] || '')) {
      for (;;) {
        const le = rest.indexOf('\r\n');
        if (le < 0) { rest = ''; break; }
        const n = parseInt(rest.slice(0, le), 16);
        rest = rest.slice(le + 2);
        if (n === 0) { rest = rest.slice(2); break; }
        body += rest.slice(0, n);
        rest = rest.slice(n + 2);
      }
    } else if (status !== 204) {
      body = rest;
      rest = '';
    }
    out.push({ status, headers, body });
  }
  return out;
}

/** An SSE response read incrementally. */
function openStream(port, body, { path: p = '/proj/chat/completions', headers = {} } = {}) {
  const s = { text: '', res: null, ended: false, error: null };
  s.response = withTimeout(new Promise((resolve, reject) => {
    s.req = http.request({ host: '127.0.0.1', port, method: 'POST', path: p, agent: false,
      // ask for keep-alive: the server must close after a stream anyway
      headers: { 'content-type': 'application/json', connection: 'keep-alive', ...headers } }, res => {
      s.res = res;
      res.setEncoding('utf8');
      res.on('data', d => { s.text += d; });
      res.on('end', () => { s.ended = true; });
      res.on('error', e => { s.error = e; });
      resolve(res);
    });
    s.req.on('error', e => { s.error = e; reject(e); });
    s.req.end(JSON.stringify(body));
  }), 20000, 'SSE response headers');
  s.done = () => waitUntil(() => s.ended || s.error, { timeoutMs: 30000, intervalMs: 10, what: `the stream to end; got: ${s.text.slice(-300)}` });
  s.waitText = (pred, what) => waitUntil(() => pred(s.text), { timeoutMs: 20000, intervalMs: 10, what });
  s.destroy = () => { s.req.destroy(); if (s.res) s.res.destroy(); };
  return s;
}

/** The SSE blocks of a body: "data: …" events and ": …" comments, checked for empty data lines. */
function sseBlocks(text) {
  assert.ok(!/^data:\s*$/m.test(text), 'never an empty data: line');
  return text.split('\n\n').filter(b => b.length);
}

// ---- routes and error objects ----------------------------------------------------------------------

test('routes dispatch with the decoded d-tag; every response has an X-Request-Id', async () => {
  const s = await startServer();
  const ids = new Set();
  for (const [p, dtag] of [
    ['/proj/chat/completions', 'proj'],
    ['/proj/v1/chat/completions', 'proj'],
    ['/v1/chat/completions', null],
    ['/my%20proj/chat/completions', 'my proj'],
    ['/caf%C3%A9/v1/chat/completions', 'café'],
    ['/v1/v1/chat/completions', 'v1'],
  ]) {
    const r = await chat(s.port, { mode: 'json' }, p);
    assert.equal(r.status, 200, `${p}: ${r.body}`);
    assert.match(r.headers['content-type'], /^application\/json/);
    const j = JSON.parse(r.body);
    assert.equal(j.ok, true);
    assert.equal(j.dtag, dtag, p);
    assert.match(r.headers['x-request-id'], REQ_ID);
    ids.add(r.headers['x-request-id']);
    // headers added by the route go out; a value with CR/LF is refused, not injected
    assert.equal(r.headers['x-nostr-event-id'], 'abc123');
    assert.equal(r.headers['x-bad'], undefined);
    assert.equal(r.headers.injected, undefined);
  }
  for (const [p, dtag] of [['/proj/models', 'proj'], ['/proj/v1/models', 'proj'], ['/v1/models', null]]) {
    const r = await request(s.port, { path: p });
    assert.equal(r.status, 200, r.body);
    const j = JSON.parse(r.body);
    assert.equal(j.object, 'list');
    assert.deepEqual(j.data.map(m => m.id), dtag ? ['agent-a', 'agent-b'] : ['proj/agent-a', 'proj/agent-b']);
    ids.add(r.headers['x-request-id']);
  }
  const h = await request(s.port, { path: '/health?x=1' });
  assert.equal(h.status, 200);
  assert.equal(JSON.parse(h.body).status, 'ok');
  const m = await request(s.port, { path: '/metrics' });
  assert.equal(m.status, 200);
  assert.match(m.headers['content-type'], /^text\/plain/);
  assert.match(m.body, /^bridge_streams_open 0$/m);
  ids.add(h.headers['x-request-id']).add(m.headers['x-request-id']);
  assert.equal(ids.size, 11, 'request ids are unique');
  // the body arrives whole, and the route sees Authorization
  const big = 'x'.repeat(200000);
  const r = await chat(s.port, { mode: 'json', pad: big }, '/proj/chat/completions', { authorization: 'Bearer sk-abc' });
  assert.equal(JSON.parse(r.body).len, JSON.stringify({ mode: 'json', pad: big }).length);
  assert.equal(JSON.parse(r.body).auth, true);
  const seen = s.lines().filter(l => l.ev === 'request' && l.route === 'chat').map(l => l.dtag);
  assert.deepEqual(seen.slice(0, 6), ['proj', 'proj', null, 'my proj', 'café', 'v1']);
  await s.stop();
});

test('unknown paths are 404 and wrong methods 405, both OpenAI error objects', async () => {
  const s = await startServer();
  for (const [method, p] of [
    ['GET', '/'], ['GET', '/nope'], ['POST', '/v1/completions'], ['GET', '/proj/chat'],
    ['POST', '/a%2Fb/chat/completions'], ['POST', '/a%zz/chat/completions'], ['POST', '//chat/completions'],
    ['GET', `/${'a'.repeat(257)}/models`], ['POST', '/%C3%28/chat/completions'], ['GET', '/v1/models/'],
  ]) {
    const r = await request(s.port, { method, path: p });
    const e = assertErrorObject(r, 404);
    assert.equal(e.type, 'invalid_request_error');
    assert.equal(r.headers['x-should-retry'], 'false');
  }
  for (const [method, p, allow] of [
    ['GET', '/proj/chat/completions', 'POST, OPTIONS'], ['PUT', '/v1/chat/completions', 'POST, OPTIONS'],
    ['POST', '/v1/models', 'GET, OPTIONS'], ['DELETE', '/health', 'GET, OPTIONS'], ['POST', '/metrics', 'GET, OPTIONS'],
  ]) {
    const r = await request(s.port, { method, path: p, body: method === 'GET' ? undefined : '{}' });
    assertErrorObject(r, 405);
    assert.equal(r.headers.allow, allow);
  }
  // HEAD gets the status and headers without a body
  const head = await request(s.port, { method: 'HEAD', path: '/health' });
  assert.equal(head.status, 405);
  assert.equal(head.body, '');
  // errors the route produces
  for (const status of [400, 401, 404, 429, 500, 503, 504]) {
    const r = await chat(s.port, { mode: 'error', status });
    const e = assertErrorObject(r, status);
    assert.equal(e.message, `fake error ${status}`);
    const noRetry = status >= 400 && status < 500 && status !== 429;
    assert.equal(r.headers['x-should-retry'], noRetry ? 'false' : undefined, `x-should-retry on ${status}`);
    if (status === 404) assert.equal(e.code, 'model_not_found');
  }
  assertErrorObject(await chat(s.port, 'not json'), 400);
  await s.stop();

  const n = await startServer(['--no-metrics']);
  assertErrorObject(await request(n.port, { path: '/metrics' }), 404);
  await n.stop();
});

// ---- CORS ------------------------------------------------------------------------------------------

test('CORS: preflight and response headers, any origin by default', async () => {
  const s = await startServer();
  for (const p of ['/proj/chat/completions', '/v1/chat/completions', '/proj/v1/models', '/health']) {
    const r = await request(s.port, {
      method: 'OPTIONS', path: p,
      headers: { origin: 'https://app.example', 'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization, content-type, x-stainless-os' },
    });
    assert.equal(r.status, 204, p);
    assert.equal(r.body, '');
    assert.equal(r.headers['access-control-allow-origin'], '*');
    const methods = r.headers['access-control-allow-methods'].split(/,\s*/);
    for (const m of ['GET', 'POST', 'OPTIONS']) assert.ok(methods.includes(m), m);
    const allowed = r.headers['access-control-allow-headers'].toLowerCase().split(/,\s*/);
    for (const h of ['authorization', 'content-type', 'x-stainless-os']) assert.ok(allowed.includes(h), h);
    assert.match(r.headers['x-request-id'], REQ_ID);
  }
  // without Access-Control-Request-Headers the two the SDKs need are still allowed
  const bare = await request(s.port, { method: 'OPTIONS', path: '/v1/chat/completions', headers: { origin: 'https://a.example' } });
  const allowed = bare.headers['access-control-allow-headers'].toLowerCase();
  assert.match(allowed, /authorization/);
  assert.match(allowed, /content-type/);
  const r = await chat(s.port, { mode: 'json' }, '/proj/chat/completions', { origin: 'https://app.example' });
  assert.equal(r.headers['access-control-allow-origin'], '*');
  assert.match(r.headers['access-control-expose-headers'], /X-Request-Id/i);
  await s.stop();
});

test('CORS: a restricted origin list is honoured', async () => {
  const s = await startServer(['--cors', 'https://good.example', '--cors', 'http://localhost:5173']);
  const pre = origin => request(s.port, {
    method: 'OPTIONS', path: '/proj/chat/completions',
    headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
  });
  for (const origin of ['https://good.example', 'http://localhost:5173']) {
    const r = await pre(origin);
    assert.equal(r.status, 204);
    assert.equal(r.headers['access-control-allow-origin'], origin);
    assert.match(r.headers.vary, /Origin/);
    assert.match(r.headers['access-control-allow-headers'].toLowerCase(), /authorization/);
  }
  const evil = await pre('https://evil.example');
  assert.equal(evil.headers['access-control-allow-origin'], undefined);
  assert.equal(evil.headers['access-control-allow-methods'], undefined);
  const good = await chat(s.port, { mode: 'json' }, '/proj/chat/completions', { origin: 'https://good.example' });
  assert.equal(good.headers['access-control-allow-origin'], 'https://good.example');
  const bad = await chat(s.port, { mode: 'json' }, '/proj/chat/completions', { origin: 'https://evil.example' });
  assert.equal(bad.status, 200);
  assert.equal(bad.headers['access-control-allow-origin'], undefined);
  const none = await request(s.port, { path: '/health' });
  assert.equal(none.headers['access-control-allow-origin'], undefined);
  await s.stop();
});

// ---- request bodies ------------------------------------------------------------------------------

test('body cap: 413 as an error object; chunked bodies are reassembled', async () => {
  const s = await startServer(['--max-body', '1000']);
  // Content-Length over the cap: answered before the body is sent
  {
    const c = rawConnect(s.port);
    await c.connected;
    c.sock.write('POST /proj/chat/completions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n');
    await c.closed();
    const [r] = parseResponses(c.data.toString('utf8'));
    assertErrorObject(r, 413);
    assert.equal(r.headers.connection, 'close');
    assert.match(JSON.parse(r.body).error.message, /1000 bytes/);
  }
  // Expect: 100-continue over the cap: no 100, the 413 at once
  {
    const c = rawConnect(s.port);
    await c.connected;
    c.sock.write('POST /proj/chat/completions HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 100000\r\n\r\n');
    await c.closed();
    const text = c.data.toString('utf8');
    assert.ok(!text.startsWith('HTTP/1.1 100'), text);
    assertErrorObject(parseResponses(text)[0], 413);
  }
  // exactly at the cap is fine
  {
    const body = JSON.stringify({ mode: 'json', pad: 'p'.repeat(1000 - 24) });
    assert.equal(body.length, 1000);
    const r = await chat(s.port, body);
    assert.equal(r.status, 200, r.body);
    assert.equal(JSON.parse(r.body).len, 1000);
  }
  // a chunked body under the cap arrives whole
  {
    const body = JSON.stringify({ mode: 'json', pad: 'c'.repeat(400) });
    const parts = [body.slice(0, 10), body.slice(10, 200), body.slice(200)];
    const c = rawConnect(s.port);
    await c.connected;
    c.sock.write('POST /proj/chat/completions HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n');
    for (const p of parts) {
      c.sock.write(`${p.length.toString(16)}\r\n${p}\r\n`);
      await sleep(20);
    }
    c.sock.write('0\r\n\r\n');
    await c.closed();
    const [r] = parseResponses(c.data.toString('utf8'));
    assert.equal(r.status, 200, r.body);
    assert.equal(JSON.parse(r.body).len, body.length);
  }
  // a chunked body over the cap
  {
    const c = rawConnect(s.port);
    await c.connected;
    const p = 'z'.repeat(1500);
    c.sock.write(`POST /proj/chat/completions HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n${p.length.toString(16)}\r\n${p}\r\n`);
    await c.closed();
    assertErrorObject(parseResponses(c.data.toString('utf8'))[0], 413);
  }
  // nothing was routed for the oversized ones
  assert.equal(s.count('request'), 2);
  await s.stop();
});

test('keep-alive: JSON responses reuse the connection, pipelined requests are answered in order', async () => {
  const s = await startServer();
  const c = rawConnect(s.port);
  await c.connected;
  const body = JSON.stringify({ mode: 'json' });
  const reqText = p => `POST ${p} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  for (let i = 1; i <= 3; i++) {
    c.sock.write(reqText(`/p${i}/chat/completions`));
    await c.waitData(t => parseResponses(t).filter(r => r.body.endsWith('}')).length >= i, `response ${i}`);
  }
  c.sock.write(reqText('/p4/chat/completions') + 'GET /health HTTP/1.1\r\nHost: t\r\n\r\n' + reqText('/p5/v1/chat/completions'));
  await c.waitData(t => parseResponses(t).length >= 6 && parseResponses(t)[5].body.endsWith('}'), 'pipelined responses');
  const rs = parseResponses(c.data.toString('utf8'));
  assert.equal(c.ended, false, 'the connection stays open');
  assert.deepEqual(rs.map(r => r.status), [200, 200, 200, 200, 200, 200]);
  assert.deepEqual(rs.map(r => JSON.parse(r.body).dtag ?? JSON.parse(r.body).status), ['p1', 'p2', 'p3', 'p4', 'ok', 'p5']);
  for (const r of rs) assert.equal(r.headers.connection, 'keep-alive');
  // HTTP/1.0 without keep-alive: answered, then closed
  c.sock.end();
  const d = rawConnect(s.port);
  await d.connected;
  d.sock.write('GET /health HTTP/1.0\r\n\r\n');
  await d.closed();
  const [r10] = parseResponses(d.data.toString('utf8'));
  assert.equal(r10.status, 200);
  assert.equal(r10.headers.connection, 'close');
  await s.stop();
});

// ---- SSE ------------------------------------------------------------------------------------------

test('SSE: exact headers, chunks in order, the body ends after [DONE]', async () => {
  const s = await startServer();
  const st = openStream(s.port, { mode: 'stream', chunks: 5, interval_ms: 20 });
  const res = await st.response;
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers['content-type'], 'text/event-stream');
  assert.equal(res.headers['cache-control'], 'no-cache');
  assert.equal(res.headers['x-accel-buffering'], 'no');
  assert.equal(res.headers.connection, 'close');
  assert.equal(res.headers['transfer-encoding'], 'chunked');
  assert.equal(res.headers['content-length'], undefined);
  assert.match(res.headers['x-request-id'], REQ_ID);
  assert.equal(res.headers['x-stream-mode'], 'stream');
  await st.done();
  assert.equal(st.error, null);
  const blocks = sseBlocks(st.text);
  assert.equal(JSON.parse(blocks[0].slice(6)).choices[0].delta.role, 'assistant');
  assert.deepEqual(blocks.slice(1, 6).map(b => JSON.parse(b.slice(6)).i), [0, 1, 2, 3, 4]);
  assert.equal(blocks[6], 'data: [DONE]');
  assert.equal(blocks.length, 7);
  assert.ok(st.text.endsWith('data: [DONE]\n\n'));
  await s.waitFor(l => l.ev === 'stream_end' && l.why === 'done', 'stream_end');
  await s.idle();
  await s.stop();
});

test('SSE: an idle stream gets ": ping" heartbeats; a client that leaves is noticed', async () => {
  const s = await startServer(['--heartbeat-ms', '100']);
  const st = openStream(s.port, { mode: 'idle' });
  await st.response;
  await st.waitText(t => (t.match(/^: ping\n\n/gm) || []).length >= 3, 'three pings');
  for (const b of sseBlocks(st.text)) assert.equal(b, ': ping');
  assert.equal((await s.health()).sessions, 1);
  st.destroy();
  await s.waitFor(l => l.ev === 'gone', 'on_gone after the client left');
  await s.idle('active back to 0 after the client left');
  await s.stop();
});

test('client disconnects: mid-stream and before an answer, on_gone fires and nothing stays active', async () => {
  const s = await startServer();
  // streams writing fast: the failed write (or the peek) notices
  const streams = [];
  for (let i = 0; i < 5; i++) streams.push(openStream(s.port, { mode: 'stream', chunks: 1e9, interval_ms: 2, bytes: 100 }));
  for (const st of streams) await st.waitText(t => t.split('\n\n').length > 5, 'a few chunks');
  for (const st of streams) st.destroy();
  await s.waitFor(() => s.count('gone') >= 5, 'on_gone for every stream');
  // a request that is never answered: the liveness check notices the client leaving
  const hang = http.request({ host: '127.0.0.1', port: s.port, method: 'POST', path: '/proj/chat/completions', agent: false });
  hang.on('error', () => {});
  hang.end(JSON.stringify({ mode: 'hang' }));
  await s.waitFor(l => l.ev === 'request' && s.lines().filter(x => x.ev === 'request').length === 6, 'the hang request');
  assert.equal((await s.health()).active, 2);
  hang.destroy();
  await s.waitFor(() => s.count('gone') >= 6, 'on_gone for the unanswered request');
  await s.idle();
  assert.ok(/http: POST \/proj\/chat\/completions 499 /.test(s.proc.output()), 'the access log shows 499 for it');
  await s.stop();
});

test('slow reader: the stream is cut at the queue cap and memory stays bounded', async () => {
  const s = await startServer(['--max-queue', '262144']);
  const c = rawConnect(s.port);
  await c.connected;
  const body = JSON.stringify({ mode: 'flood', bytes: 32768, interval_ms: 1 });
  c.sock.write(`POST /proj/chat/completions HTTP/1.1\r\nHost: t\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  await c.waitData(t => t.includes('\r\n\r\n'), 'the stream headers');
  c.sock.pause(); // stop reading: the kernel buffers fill, then the server's queue
  const limit = await s.waitFor(l => l.ev === 'limit', 'the server to refuse writes (queue cap)', 60000);
  await s.waitFor(l => l.ev === 'gone' && l.id === limit.id, 'on_gone after the cut', 60000);
  assert.match(s.proc.output(), /stream cut, the client does not read/);
  await s.idle();
  // the connection is gone: reading again ends (the body was broken off, never completed)
  c.sock.resume();
  await c.closed();
  assert.ok(!c.data.toString('latin1').endsWith('0\r\n\r\n'), 'no clean end of body after a cut');
  await s.stop();
});

test('200 concurrent streams all complete', async () => {
  const s = await startServer();
  const N = 200;
  const streams = [];
  for (let i = 0; i < N; i++) streams.push(openStream(s.port, { mode: 'stream', chunks: 5, interval_ms: 20 }, { path: `/p${i}/chat/completions` }));
  await Promise.all(streams.map(st => st.response));
  await Promise.all(streams.map(st => st.done()));
  for (const st of streams) {
    assert.equal(st.error, null);
    const blocks = sseBlocks(st.text);
    assert.equal(blocks.length, 7, st.text);
    assert.equal(blocks[6], 'data: [DONE]');
  }
  // The driver logs stream_end after it wrote [DONE]; its stdout pipe may lag the sockets.
  await s.waitFor(() => s.count('stream_end') >= N, `stream_end for all ${N} streams`);
  assert.equal(s.count('stream_end'), N);
  assert.equal(s.count('gone'), 0);
  await s.idle();
  await s.stop();
});

// ---- shutdown ------------------------------------------------------------------------------------

test('SIGTERM with open streams: each gets the error event and [DONE], the process exits 0', async () => {
  const s = await startServer(['--heartbeat-ms', '1000']);
  const idle = [];
  for (let i = 0; i < 4; i++) idle.push(openStream(s.port, { mode: 'idle' }));
  const busy = openStream(s.port, { mode: 'stream', chunks: 1e9, interval_ms: 5, bytes: 10 });
  const hang = chat(s.port, { mode: 'hang' });
  const keep = rawConnect(s.port); // an idle keep-alive connection
  await keep.connected;
  keep.sock.write('GET /health HTTP/1.1\r\nHost: t\r\n\r\n');
  await keep.waitData(t => t.includes('"status":"ok"'), 'the keep-alive response');
  await Promise.all([...idle, busy].map(st => st.response));
  await busy.waitText(t => t.split('\n\n').length > 10, 'the busy stream to run');
  await waitUntil(async () => (await s.health()).sessions === 6, { what: 'six open sessions' });

  const ex = await s.stop();
  assert.equal(ex.code, 0);
  for (const st of [...idle, busy]) {
    await st.done();
    const blocks = sseBlocks(st.text);
    const err = blocks[blocks.length - 2];
    assert.ok(err.startsWith('data: {"error"'), st.text.slice(-400));
    const j = JSON.parse(err.slice(6));
    assert.deepEqual(Object.keys(j.error).sort(), ['code', 'message', 'param', 'type']);
    assert.equal(blocks[blocks.length - 1], 'data: [DONE]');
  }
  const h = await hang;
  assertErrorObject(h, 503);
  await keep.closed('the idle keep-alive connection to close');
  assert.equal(s.count('stream_end'), 5);
});

test('SIGTERM with a stalled reader: the close grace period ends it, the process still exits 0', async () => {
  const s = await startServer(['--max-queue', String(1 << 30)]);
  const c = rawConnect(s.port);
  await c.connected;
  const body = JSON.stringify({ mode: 'flood', bytes: 32768, interval_ms: 1 });
  c.sock.write(`POST /proj/chat/completions HTTP/1.1\r\nHost: t\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  await c.waitData(t => t.includes('\r\n\r\n'), 'the stream headers');
  c.sock.pause();
  // 600 writes of 32 KiB are far more than the socket buffers hold: a write is stuck in flight
  await s.waitFor(l => l.ev === 'flood' && l.sent >= 600, 'the flood to back up', 60000);
  await s.stop();
  assert.ok(s.lines().some(l => l.ev === 'closed'));
  assert.equal(s.count('limit'), 0);
  c.sock.destroy();
});

test('listening: bad addresses and a port in use fail cleanly; extra connections are refused', async () => {
  for (const bind of ['nonsense', '127.0.0.1', '127.0.0.1:99999', '[::1:80', 'example.com:80', ':80']) {
    const p = startProcess(DRIVER, ['--bind', bind], { name: 'http_driver' });
    const ex = await p.exited;
    assert.equal(ex.code, 1, bind);
    assert.match(p.output(), /"ev":"start_failed","err":"EINVAL"/, bind);
    assert.ok(!SANITIZER.test(p.output()), p.output());
  }
  const s = await startServer(['--max-conns', '2']);
  const taken = startProcess(DRIVER, ['--bind', `127.0.0.1:${s.port}`], { name: 'http_driver' });
  const ex = await taken.exited;
  assert.equal(ex.code, 1);
  assert.match(taken.output(), /"err":"EIO"/);
  assert.match(taken.output(), /cannot listen on/);

  const a = rawConnect(s.port);
  const b = rawConnect(s.port);
  await Promise.all([a.connected, b.connected]);
  a.sock.write('GET /health HTTP/1.1\r\nHost: t\r\n\r\n');
  b.sock.write('GET /health HTTP/1.1\r\nHost: t\r\n\r\n');
  await a.waitData(t => t.includes('"status"'), 'a');
  await b.waitData(t => t.includes('"status"'), 'b');
  const c = rawConnect(s.port);
  await c.connected;
  c.sock.write('GET /health HTTP/1.1\r\nHost: t\r\n\r\n');
  await c.closed('the third connection to be closed');
  assert.equal(c.data.length, 0);
  a.sock.destroy();
  b.sock.destroy();
  await s.stop();
});

// ---- access log ----------------------------------------------------------------------------------

test('access log: one line per finished request, without bodies or credentials', async () => {
  const s = await startServer();
  const r = await chat(s.port, { mode: 'json', secret: 'BODY-SECRET-42' }, '/proj/chat/completions?key=QUERY-SECRET',
    { authorization: 'Bearer sk-AUTH-SECRET' });
  const id = r.headers['x-request-id'];
  const line = await waitUntil(() => s.proc.stderrLines.find(l => l.includes(id) && l.includes(' bytes=')), { what: 'the access log line' });
  assert.match(line, new RegExp(`http: POST /proj/chat/completions 200 bytes=${Buffer.byteLength(r.body)} ms=[0-9.]+ id=${id}$`));
  const nf = await request(s.port, { path: '/nope' });
  await waitUntil(() => s.proc.stderrLines.find(l => l.includes(nf.headers['x-request-id']) && / 404 /.test(l)), { what: '404 log line' });
  await s.stop();
  const out = s.proc.output();
  for (const secret of ['BODY-SECRET-42', 'sk-AUTH-SECRET', 'QUERY-SECRET']) assert.ok(!out.includes(secret), secret);
  assert.equal(s.proc.stderrLines.filter(l => l.includes(id) && l.includes(' bytes=')).length, 1);
});

// ---- the official SDK ------------------------------------------------------------------------------

test('the official openai SDK reaches the routes', async () => {
  const s = await startServer();
  const client = new OpenAI({ baseURL: `${s.base}/proj`, apiKey: 'sk-test', maxRetries: 0 });
  const models = [];
  for await (const m of client.models.list()) models.push(m.id);
  assert.deepEqual(models, ['agent-a', 'agent-b']);
  const global = new OpenAI({ baseURL: `${s.base}/v1`, apiKey: 'sk-test', maxRetries: 0 });
  const gm = [];
  for await (const m of global.models.list()) gm.push(m.id);
  assert.deepEqual(gm, ['proj/agent-a', 'proj/agent-b']);

  // a stream (the fake route's chunks after the first are not chat chunks: the SDK passes them on)
  const stream = await client.chat.completions.create({
    model: 'agent-a', messages: [{ role: 'user', content: 'hi' }], stream: true, mode: 'stream', chunks: 3, interval_ms: 5,
  });
  const got = [];
  for await (const chunk of stream) got.push(chunk);
  assert.equal(got.length, 4);
  assert.equal(got[0].choices[0].delta.role, 'assistant');
  assert.deepEqual(got.slice(1).map(c => c.i), [0, 1, 2]);

  // errors become APIError with status and code
  await assert.rejects(
    client.chat.completions.create({ model: 'agent-a', messages: [{ role: 'user', content: 'hi' }], mode: 'error', status: 404 }),
    e => e instanceof APIError && e.status === 404 && e.code === 'model_not_found' && e.type === 'invalid_request_error',
  );
  await assert.rejects(
    client.chat.completions.create({ model: 'agent-a', messages: [{ role: 'user', content: 'hi' }] }),
    e => e instanceof APIError && e.status === 400,
  );
  await s.idle();
  await s.stop();
});
