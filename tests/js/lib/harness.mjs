// Helpers for bridge's integration tests (node:test). Import it from a test file with a relative
// path (tests/integration/*.test.mjs: `import … from '../js/lib/harness.mjs'`): bare package names
// do not resolve from tests/integration, so this module also re-exports what tests need from
// nostr-tools and ws (and ./deps.mjs re-exports openai and ajv).
//
// Everything started here (child processes, relays, TCP servers, WebSocket clients, temp dirs)
// is registered for cleanup: it is stopped when the test file ends, also when a test failed, and
// child processes get SIGKILL on process exit. Tests never assert on timing: the timeouts here
// only keep a broken run from hanging, and produce a clear error.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { finalizeEvent, generateSecretKey, getPublicKey, verifyEvent } from 'nostr-tools/pure';

export { WebSocket };
export { WebSocketServer } from 'ws';
export {
  finalizeEvent, generateSecretKey, getPublicKey, verifyEvent, getEventHash, serializeEvent,
} from 'nostr-tools/pure';
export * as nip19 from 'nostr-tools/nip19';

/** Hex string → Uint8Array (throws on bad hex). */
export function hexToBytes(hex) {
  if (typeof hex !== 'string' || hex.length % 2 || /[^0-9a-fA-F]/.test(hex)) throw new Error(`bad hex: ${hex}`);
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}
/** Uint8Array → lowercase hex. */
export const bytesToHex = bytes => Buffer.from(bytes).toString('hex');

// ---- paths ------------------------------------------------------------------------------------
const here = path.dirname(fileURLToPath(import.meta.url));
export const JS_DIR = path.resolve(here, '..');
export const RELAY_SCRIPT = path.join(JS_DIR, 'relay.mjs');
export const SOURCE_DIR = process.env.BRIDGE_SOURCE_DIR || path.resolve(JS_DIR, '..', '..');
export const BUILD_DIR = process.env.BRIDGE_BUILD_DIR || path.join(SOURCE_DIR, 'build');
export const BRIDGE_BIN = process.env.BRIDGE_BIN || path.join(BUILD_DIR, 'bridge');

// ---- cleanup registry -------------------------------------------------------------------------
const cleanups = new Set(); // async functions, run in reverse order of registration
const liveChildren = new Set(); // ChildProcess objects still running

/** Register fn (sync or async) to run when the test file ends. Returns an unregister function. */
export function onCleanup(fn) {
  cleanups.add(fn);
  return () => cleanups.delete(fn);
}

/** Run every registered cleanup now (also called automatically after the file's tests). */
export async function cleanup() {
  const fns = [...cleanups].reverse();
  cleanups.clear();
  for (const fn of fns) {
    try {
      await fn();
    } catch (e) {
      process.stderr.write(`harness cleanup: ${e && e.stack ? e.stack : e}\n`);
    }
  }
}

// Runs when the importing test file's tests are done (set HARNESS_NO_TEST=1 to use the harness
// outside node:test, e.g. from a benchmark, and call cleanup() yourself).
if (process.env.HARNESS_NO_TEST !== '1') after(cleanup);
process.on('exit', () => {
  for (const child of liveChildren) {
    try { child.kill('SIGKILL'); } catch { /* already gone */ }
  }
});

function track(child) {
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
}

/** A temp dir removed at cleanup. */
export function tempDir(prefix = 'bridge-test-') {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// ---- small utilities ----------------------------------------------------------------------------
export const sleep = ms => new Promise(r => setTimeout(r, ms));

/** Reject with a clear message if promise has not settled after ms (a hang guard, not a timing check). */
export function withTimeout(promise, ms, what) {
  let timer;
  const guard = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, guard]).finally(() => clearTimeout(timer));
}

/** Poll fn until it returns a truthy value (returned); throws after timeoutMs. */
export async function waitUntil(fn, { timeoutMs = 10000, intervalMs = 25, what = 'a condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// ---- processes ------------------------------------------------------------------------------------
/**
 * Run a command to completion. opts: {env (merged over process.env), input (string|Buffer),
 * cwd, timeoutMs (default 60000: SIGKILL and reject)}. Resolves {stdout, stderr (utf8 strings),
 * stdoutBuf, stderrBuf, code, signal}.
 */
export function spawnProcess(cmd, args = [], opts = {}) {
  const { env, input, cwd, timeoutMs = 60000 } = opts;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd,
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    track(child);
    const out = [];
    const err = [];
    let timedOut = false;
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, timeoutMs);
    child.stdout.on('data', c => out.push(c));
    child.stderr.on('data', c => err.push(c));
    child.on('error', e => { clearTimeout(timer); reject(e); });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const stdoutBuf = Buffer.concat(out);
      const stderrBuf = Buffer.concat(err);
      const res = { stdout: stdoutBuf.toString('utf8'), stderr: stderrBuf.toString('utf8'), stdoutBuf, stderrBuf, code, signal };
      if (timedOut) {
        const e = new Error(`${cmd} ${args.join(' ')} did not finish within ${timeoutMs} ms; stderr: ${res.stderr.slice(-2000)}`);
        e.result = res;
        reject(e);
      } else {
        resolve(res);
      }
    });
    child.stdin.on('error', () => { /* the child may exit without reading its input */ });
    if (input !== undefined) child.stdin.end(input);
    else child.stdin.end();
  });
}

/** Split a stream into lines, calling onLine for each complete line (without the newline). */
function lineReader(stream, onLine) {
  let pending = '';
  stream.setEncoding('utf8');
  stream.on('data', chunk => {
    pending += chunk;
    let i;
    while ((i = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, i).replace(/\r$/, '');
      pending = pending.slice(i + 1);
      onLine(line);
    }
  });
  stream.on('end', () => { if (pending) onLine(pending); pending = ''; });
}

/**
 * Start a long-running process. opts: {env, cwd, stdin ('pipe' keeps it open; default 'ignore'),
 * echo (copy its output to our stderr, default: env HARNESS_ECHO=1)}. Returns
 *   {child, pid, stdoutLines, stderrLines, exited (promise {code, signal}), running(),
 *    waitForLine(regex, timeoutMs = 10000, {stream: 'stdout'|'stderr'|'any'}) → RegExp match,
 *    output() (both streams, for error messages), write(data), kill(signal), stop(signal, timeoutMs)}.
 * waitForLine looks at lines already printed too; each call continues after the line the previous
 * call (on that stream) matched. It rejects at once if the process exits without printing the line.
 * stop() sends signal (default SIGTERM), waits for exit (SIGKILL after timeoutMs, default 10000)
 * and resolves {code, signal}. The process is killed at cleanup if still running.
 */
export function startProcess(cmd, args = [], opts = {}) {
  const { env, cwd, stdin = 'ignore', echo = process.env.HARNESS_ECHO === '1', name = path.basename(cmd) } = opts;
  const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: [stdin, 'pipe', 'pipe'] });
  track(child);
  const lines = { stdout: [], stderr: [] };
  const cursor = { stdout: 0, stderr: 0, any: 0 };
  const all = []; // [stream, line] in arrival order
  const waiters = new Set();
  let exitInfo = null;
  const exited = new Promise(resolve => {
    child.on('exit', (code, signal) => {
      exitInfo = { code, signal };
      resolve(exitInfo);
    });
    child.on('error', e => {
      exitInfo = { code: null, signal: null, error: e };
      resolve(exitInfo);
    });
  });
  // Wake waiters only once both pipes are drained, so that the last lines are seen. `closed` must
  // be set before the waiters look (they reject on it), so both happen in this one handler.
  let closed = false;
  child.on('close', () => {
    closed = true;
    for (const w of [...waiters]) w.check();
  });
  const onLine = stream => line => {
    lines[stream].push(line);
    all.push([stream, line]);
    if (echo) process.stderr.write(`[${name} ${child.pid} ${stream}] ${line}\n`);
    for (const w of waiters) w.check();
  };
  lineReader(child.stdout, onLine('stdout'));
  lineReader(child.stderr, onLine('stderr'));
  if (child.stdin) child.stdin.on('error', () => {});

  const output = () => all.map(([s, l]) => `${s === 'stderr' ? '! ' : '  '}${l}`).join('\n');

  function waitForLine(regex, timeoutMs = 10000, { stream = 'stdout' } = {}) {
    return new Promise((resolve, reject) => {
      const w = {
        check() {
          const list = stream === 'any' ? all.map(x => x[1]) : lines[stream];
          for (let i = cursor[stream]; i < list.length; i++) {
            const m = regex.exec(list[i]);
            if (m) {
              cursor[stream] = i + 1;
              done();
              resolve(m);
              return;
            }
          }
          if (closed) {
            done();
            reject(new Error(`${name} exited (${JSON.stringify(exitInfo)}) without printing a line matching ${regex}; output:\n${output().slice(-4000)}`));
          }
        },
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${name} to print ${regex}; output:\n${output().slice(-4000)}`));
      }, timeoutMs);
      const done = () => { clearTimeout(timer); waiters.delete(w); };
      waiters.add(w);
      w.check();
    });
  }

  async function stop(signal = 'SIGTERM', timeoutMs = 10000) {
    if (exitInfo) return exitInfo;
    child.kill(signal);
    const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    const res = await exited;
    clearTimeout(killer);
    return res;
  }

  const unregister = onCleanup(() => stop('SIGKILL'));
  exited.then(() => unregister());

  return {
    child,
    pid: child.pid,
    stdoutLines: lines.stdout,
    stderrLines: lines.stderr,
    exited,
    running: () => exitInfo === null,
    waitForLine,
    output,
    write: data => child.stdin.write(data),
    kill(signal = 'SIGKILL') {
      if (!exitInfo) child.kill(signal);
      return exited;
    },
    stop,
  };
}

// ---- the relay ----------------------------------------------------------------------------------
/**
 * Start tests/js/relay.mjs on 127.0.0.1. opts: {port (default: a free one), host (default
 * 127.0.0.1; 'localhost' binds the address a client resolving "localhost" gets first), auth,
 * replayEphemeral (seconds), testHooks (default true), maxMessageBytes, maxSubscriptions, persist
 * (default true: events survive restart()), tls ({cert, key}: PEM file paths; serves wss://, and
 * the hooks over https), verbose, args (extra CLI args)}. Returns
 *   {url, port, pid, proc, stop(), kill(signal = 'SIGKILL'), restart(), running(), output(),
 *    stats(), inject(eventOrRaw, {sub, all}), raw(text|Buffer, {binary}), drop(),
 *    stall(ms?), unstall()}.
 * stop() = SIGTERM and wait for the exit; kill() = signal and wait; restart() starts it again on
 * the same port (stopping it first if it still runs) with the same stored events. stall() freezes
 * every WebSocket (no reads, so no pongs; new upgrades held) until unstall() or ms later.
 */
export async function startRelay(opts = {}) {
  const {
    auth = false, replayEphemeral = 0, testHooks = true, maxMessageBytes, maxSubscriptions,
    persist = true, verbose = process.env.RELAY_VERBOSE === '1', args: extra = [], tls = null,
    host = '127.0.0.1',
  } = opts;
  const port = opts.port ?? (await freePort());
  const args = [RELAY_SCRIPT, '--port', String(port), '--host', host, '--die-with-parent'];
  if (tls) args.push('--tls-cert', tls.cert, '--tls-key', tls.key);
  if (auth) args.push('--auth');
  if (replayEphemeral) args.push('--replay-ephemeral', String(replayEphemeral));
  if (testHooks) args.push('--test-hooks');
  if (maxMessageBytes) args.push('--max-message-bytes', String(maxMessageBytes));
  if (maxSubscriptions) args.push('--max-subscriptions', String(maxSubscriptions));
  if (verbose) args.push('--verbose');
  if (persist) args.push('--db', path.join(tempDir('bridge-relay-'), 'events.sqlite'));
  args.push(...extra);

  const urlHost = host.includes(':') ? `[${host}]` : host;
  const url = `${tls ? 'wss' : 'ws'}://${urlHost}:${port}`;
  const httpBase = `${tls ? 'https' : 'http'}://${urlHost}:${port}`;
  const handle = { url, port, httpBase, proc: null, pid: null };

  async function launch() {
    const proc = startProcess(process.execPath, args, { stdin: 'pipe', name: `relay:${port}`, echo: verbose });
    try {
      await proc.waitForLine(/^READY (wss?:\/\/\S+)$/, 30000);
    } catch (e) {
      await proc.stop('SIGKILL');
      throw e;
    }
    handle.proc = proc;
    handle.pid = proc.pid;
  }

  handle.running = () => Boolean(handle.proc && handle.proc.running());
  handle.output = () => (handle.proc ? handle.proc.output() : '');
  handle.stop = async () => (handle.proc ? handle.proc.stop('SIGTERM') : null);
  handle.kill = async (signal = 'SIGKILL') => (handle.proc ? handle.proc.kill(signal) : null);
  handle.restart = async () => {
    if (handle.running()) await handle.stop();
    await launch();
    return handle;
  };

  async function hook(method, route, body, query = {}) {
    const qs = new URLSearchParams(Object.entries(query).filter(([, v]) => v !== undefined && v !== null)).toString();
    const target = `${httpBase}/_test/${route}${qs ? `?${qs}` : ''}`;
    const res = tls ? await httpsJson(method, target, body) : await fetch(target, { method, body });
    const json = await res.json();
    if (!res.ok) throw new Error(`relay hook ${route}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  }
  handle.stats = () => hook('GET', 'stats');
  handle.inject = (ev, { sub, all } = {}) =>
    hook('POST', 'inject', typeof ev === 'string' || Buffer.isBuffer(ev) ? ev : JSON.stringify(ev), { sub, all: all ? '1' : undefined });
  handle.raw = (data, { binary } = {}) => hook('POST', 'raw', data, { binary: binary ? '1' : undefined });
  handle.drop = () => hook('POST', 'drop');
  handle.stall = ms => hook('POST', 'stall', undefined, { ms });
  handle.unstall = () => hook('POST', 'unstall');

  await launch();
  onCleanup(() => handle.kill('SIGKILL'));
  return handle;
}

/**
 * A fetch-like request to a TLS relay's hooks: {ok, status, json()}. The certificate is not
 * checked: this is the test's side channel to its own child (a relay may serve a certificate made
 * to be refused); what is under test is the client's check.
 */
function httpsJson(method, target, body) {
  return new Promise((resolve, reject) => {
    const req = https.request(target, { method, rejectUnauthorized: false }, res => {
      const chunks = [];
      res.on('data', c => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ ok: res.statusCode >= 200 && res.statusCode < 300, status: res.statusCode, json: async () => JSON.parse(text) });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * A TCP server on 127.0.0.1 that accepts connections and never answers (a relay that hangs in
 * the WebSocket upgrade). Returns {url, port, connections (count so far), stop()}.
 */
export async function startSilentTcp() {
  const sockets = new Set();
  let connections = 0;
  const srv = net.createServer(sock => {
    connections++;
    sockets.add(sock);
    sock.on('error', () => {});
    sock.on('close', () => sockets.delete(sock));
    sock.resume(); // read and ignore whatever is sent
  });
  await new Promise((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', resolve);
  });
  const { port } = srv.address();
  let stopped = false;
  const stop = () => new Promise(resolve => {
    if (stopped) return resolve();
    stopped = true;
    for (const s of sockets) s.destroy();
    srv.close(() => resolve());
  });
  onCleanup(stop);
  return {
    url: `ws://127.0.0.1:${port}`,
    port,
    get connections() { return connections; },
    stop,
  };
}

// ---- a small Nostr client (acts as a third party in tests) ----------------------------------------
const toBytes = k => (typeof k === 'string' ? hexToBytes(k) : k);

/**
 * Connect to a relay. opts: {authKey (secret key, hex or bytes: do NIP-42 AUTH with it as soon as
 * the challenge arrives, and resolve only after the relay accepted it), key (default signing key:
 * authKey, else a fresh one), ca (PEM buffer trusted for wss://), timeoutMs (default 10000, for
 * every wait)}. Returns a client:
 *   secretKey, pubkey, messages (every frame received, parsed), challenge (last AUTH challenge),
 *   sign(template, key?) → signed event (created_at defaults to now, tags to [], content to ''),
 *   publish(eventOrTemplate, key?) → {ok, message, id, event} (waits for the relay's OK),
 *   auth(key?) → {ok, message} (signs a kind 22242 for the last challenge),
 *   subscribe(filters (one or an array), {id}) → sub (REQ sent at once; see below),
 *   send(array or raw string), waitFor(predicate(msg), what) → msg (past messages too),
 *   close() → waits for the socket to close.
 * A sub: {id, events (received, in order), eosed, closedReason, eose (promise: resolves on EOSE
 *   with the events before it, rejects on CLOSED or after timeoutMs), closed (promise of the
 *   CLOSED reason; rejects if none came within timeoutMs), waitForEvent(pred, what) → event,
 *   waitForEvents(n) → first n events, close() (sends CLOSE)}.
 */
export async function relayClient(url, opts = {}) {
  const { timeoutMs = 10000 } = opts;
  const authKey = opts.authKey ? toBytes(opts.authKey) : null;
  const secretKey = opts.key ? toBytes(opts.key) : authKey || generateSecretKey();
  const ws = new WebSocket(url, opts.ca ? { ca: opts.ca } : undefined);
  const messages = [];
  const listeners = new Set();
  const subs = new Map();
  let subCounter = 0;
  const client = {
    secretKey,
    pubkey: getPublicKey(secretKey),
    messages,
    challenge: null,
    ws,
  };

  ws.on('message', data => {
    let msg;
    try { msg = JSON.parse(data.toString()); } catch { msg = ['__unparseable__', data.toString()]; }
    messages.push(msg);
    if (Array.isArray(msg)) {
      if (msg[0] === 'AUTH' && typeof msg[1] === 'string') client.challenge = msg[1];
      const sub = typeof msg[1] === 'string' ? subs.get(msg[1]) : undefined;
      if (sub) sub._onMessage(msg);
    }
    for (const l of listeners) l(msg);
  });
  ws.on('error', () => {});
  const closedPromise = new Promise(resolve => ws.on('close', resolve));
  onCleanup(() => client.close());

  await withTimeout(new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  }), timeoutMs, `a WebSocket connection to ${url}`);

  client.waitFor = (pred, what = 'a relay message', ms = timeoutMs) => {
    const hit = messages.find(pred);
    if (hit) return Promise.resolve(hit);
    let listener;
    const p = new Promise(resolve => {
      listener = m => { if (pred(m)) resolve(m); };
      listeners.add(listener);
    });
    return withTimeout(p, ms, what).finally(() => listeners.delete(listener));
  };

  client.send = msg => ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));

  // A plain object (finalizeEvent marks its result with nostr-tools' "verified" symbol).
  client.sign = (template, key = secretKey) => plainEvent(finalizeEvent({
    created_at: Math.floor(Date.now() / 1000),
    tags: [],
    content: '',
    ...template,
  }, toBytes(key)));

  client.publish = async (ev, key) => {
    const event = ev.sig && ev.id && ev.pubkey ? ev : client.sign(ev, key);
    const since = messages.length;
    client.send(['EVENT', event]);
    const ok = await client.waitFor(
      m => messages.indexOf(m) >= since && Array.isArray(m) && m[0] === 'OK' && m[1] === event.id,
      `OK for event ${event.id}`,
    );
    return { ok: ok[2], message: ok[3], id: event.id, event };
  };

  client.auth = async (key = secretKey) => {
    if (!client.challenge) await client.waitFor(m => Array.isArray(m) && m[0] === 'AUTH', 'an AUTH challenge');
    const ev = finalizeEvent({
      kind: 22242,
      created_at: Math.floor(Date.now() / 1000),
      tags: [['relay', url], ['challenge', client.challenge]],
      content: '',
    }, toBytes(key));
    const since = messages.length;
    client.send(['AUTH', ev]);
    const ok = await client.waitFor(
      m => messages.indexOf(m) >= since && Array.isArray(m) && m[0] === 'OK' && m[1] === ev.id,
      'OK for the AUTH event',
    );
    return { ok: ok[2], message: ok[3] };
  };

  client.subscribe = (filters, { id } = {}) => {
    const list = Array.isArray(filters) ? filters : [filters];
    const subId = id ?? `sub${++subCounter}`;
    let resolveEose, rejectEose, resolveClosed, rejectClosed;
    const sub = {
      id: subId,
      events: [],
      eosed: false,
      closedReason: null,
      eose: new Promise((res, rej) => { resolveEose = res; rejectEose = rej; }),
      closed: new Promise((res, rej) => { resolveClosed = res; rejectClosed = rej; }),
      _waiters: new Set(),
      _onMessage(msg) {
        if (msg[0] === 'EVENT') {
          sub.events.push(msg[2]);
          for (const w of sub._waiters) w();
        } else if (msg[0] === 'EOSE') {
          sub.eosed = true;
          resolveEose(sub.events.slice());
        } else if (msg[0] === 'CLOSED') {
          sub.closedReason = msg[2];
          resolveClosed(msg[2]);
          const err = new Error(`subscription ${subId} CLOSED: ${msg[2]}`);
          err.reason = msg[2];
          rejectEose(err);
        }
      },
      waitForEvent(pred = () => true, what = `an event on ${subId}`, ms = timeoutMs) {
        const hit = sub.events.find(pred);
        if (hit) return Promise.resolve(hit);
        let w;
        const p = new Promise(resolve => {
          w = () => { const e = sub.events.find(pred); if (e) resolve(e); };
          sub._waiters.add(w);
        });
        return withTimeout(p, ms, what).finally(() => sub._waiters.delete(w));
      },
      async waitForEvents(n, what = `${n} events on ${subId}`, ms = timeoutMs) {
        await withTimeout(new Promise(resolve => {
          const w = () => { if (sub.events.length >= n) { sub._waiters.delete(w); resolve(); } };
          sub._waiters.add(w);
          w();
        }), ms, what);
        return sub.events.slice(0, n);
      },
      close() {
        subs.delete(subId);
        if (ws.readyState === WebSocket.OPEN) client.send(['CLOSE', subId]);
      },
    };
    // Hang guards: eose rejects if neither EOSE nor CLOSED came within timeoutMs, closed rejects
    // if no CLOSED came within timeoutMs of the REQ.
    const eoseTimer = setTimeout(() => rejectEose(new Error(`timed out after ${timeoutMs} ms waiting for EOSE on ${subId}`)), timeoutMs);
    const closedTimer = setTimeout(() => rejectClosed(new Error(`timed out after ${timeoutMs} ms waiting for CLOSED on ${subId}`)), timeoutMs);
    eoseTimer.unref();
    closedTimer.unref();
    sub.eose.finally(() => clearTimeout(eoseTimer)).catch(() => {});
    sub.closed.finally(() => clearTimeout(closedTimer)).catch(() => {});
    sub.eose.catch(() => {}); // a refused REQ is often expected: let the test look at it
    sub.closed.catch(() => {});
    subs.set(subId, sub);
    client.send(['REQ', subId, ...list]);
    return sub;
  };

  client.close = async () => {
    if (ws.readyState === WebSocket.CLOSED) return;
    ws.close();
    const timer = setTimeout(() => ws.terminate(), 2000);
    await closedPromise;
    clearTimeout(timer);
  };
  client.closed = closedPromise;

  if (authKey) {
    const res = await client.auth(authKey);
    if (!res.ok) throw new Error(`relay refused our AUTH: ${res.message}`);
  }
  return client;
}

/** A JSON copy of an event: only its own JSON fields, no nostr-tools "verified" mark. */
export const plainEvent = ev => JSON.parse(JSON.stringify(ev));

/** Verify a signed event with nostr-tools on a fresh copy (nostr-tools caches its verdict on the object). */
export function nostrToolsVerify(ev) {
  return verifyEvent(JSON.parse(JSON.stringify(ev)));
}
