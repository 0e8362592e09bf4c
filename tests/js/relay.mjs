#!/usr/bin/env node
// A real Nostr relay for bridge's tests, built on @nostr-relay/core (NIP-01 message handling,
// subscriptions, storage through @nostr-relay/event-repository-sqlite) with the `ws` server.
//
//   node tests/js/relay.mjs --port N [--host 127.0.0.1] [--auth] [--replay-ephemeral SECS]
//                           [--test-hooks] [--max-message-bytes N] [--db PATH]
//                           [--max-subscriptions N] [--tls-cert PEM --tls-key PEM]
//                           [--verbose] [--die-with-parent]
//
// Prints exactly one line `READY ws://HOST:PORT` (`READY wss://HOST:PORT` with TLS) on stdout once
// it listens (--port 0 picks a free port); everything else goes to stderr. SIGTERM/SIGINT: close
// every client and exit 0.
//
// What it adds to the library (see tests/js/README.md and TESTING.md "The relay"):
//  * live broadcast honours every filter field, tag filters included (#e, #E, #p, #P, …); the
//    library's own broadcast ignores tag filters, so the broadcast hook does the fan-out itself;
//  * `["delegation",<id>]` tags are plain tags (NIP-26 is off), as on TENEX's relay;
//  * --auth: TENEX-like NIP-42: `["AUTH",challenge]` on connect, every REQ refused with
//    `["CLOSED",sub,"auth-required: …"]` until a valid kind 22242 arrived; EVENT is allowed;
//  * --replay-ephemeral S: ephemeral events of the last S seconds are replayed to new REQs
//    (after the stored ones, before EOSE);
//  * --max-subscriptions N: a connection's REQ for a new subscription while it has N is refused
//    with `["CLOSED",sub,"error: too many concurrent REQs"]`, as strfry does (the library alone
//    would silently drop the least recently used one); POST /_test/sub-cap?n=N lowers it at run
//    time (n=0: back to --max-subscriptions);
//  * --test-hooks: HTTP side channel on the same port (POST /_test/inject, /_test/raw,
//    /_test/drop, /_test/stall, /_test/unstall, /_test/sub-cap; GET /_test/stats);
//  * --tls-cert/--tls-key: serve wss:// (and the hooks over https) with this certificate chain
//    and key (PEM files), for TLS tests with a private CA;
//  * --die-with-parent: exit when stdin reaches EOF (the harness keeps a pipe open, so the relay
//    never outlives a test process that was killed).

import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import process from 'node:process';
import { parseArgs } from 'node:util';
import { WebSocketServer } from 'ws';
import core from '@nostr-relay/core';
import common from '@nostr-relay/common';
import validatorPkg from '@nostr-relay/validator';
import sqlitePkg from '@nostr-relay/event-repository-sqlite';

const { NostrRelay } = core;
const { EventUtils } = common;
const { Validator } = validatorPkg;
const { EventRepositorySqlite } = sqlitePkg;

// ---- command line -------------------------------------------------------------------------
function usage(msg) {
  if (msg) process.stderr.write(`relay: ${msg}\n`);
  process.stderr.write(
    'usage: node relay.mjs --port N [--host 127.0.0.1] [--auth] [--replay-ephemeral SECS]\n' +
    '       [--test-hooks] [--max-message-bytes N] [--db PATH] [--max-subscriptions N]\n' +
    '       [--tls-cert PEM --tls-key PEM] [--verbose] [--die-with-parent]\n');
  process.exit(2);
}

let args;
try {
  args = parseArgs({
    options: {
      port: { type: 'string' },
      host: { type: 'string', default: '127.0.0.1' },
      auth: { type: 'boolean', default: false },
      'replay-ephemeral': { type: 'string', default: '0' },
      'test-hooks': { type: 'boolean', default: false },
      'max-message-bytes': { type: 'string', default: String(4 * 1024 * 1024) },
      db: { type: 'string', default: ':memory:' },
      'max-subscriptions': { type: 'string', default: '1000' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      verbose: { type: 'boolean', default: false },
      'die-with-parent': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  }).values;
} catch (e) {
  usage(e.message);
}
if (args.help) usage();

function intArg(name, min) {
  const s = args[name];
  if (s === undefined || !/^\d+$/.test(s) || Number(s) < min) usage(`--${name} needs an integer >= ${min}`);
  return Number(s);
}
const PORT = intArg('port', 0);
if (PORT > 65535) usage('--port out of range');
const HOST = args.host;
const AUTH = args.auth;
const REPLAY_SECS = intArg('replay-ephemeral', 0);
const TEST_HOOKS = args['test-hooks'];
const MAX_MESSAGE_BYTES = intArg('max-message-bytes', 1024);
const MAX_SUBS = intArg('max-subscriptions', 1);
const VERBOSE = args.verbose;
if (Boolean(args['tls-cert']) !== Boolean(args['tls-key'])) usage('--tls-cert and --tls-key go together');
const TLS = args['tls-cert'] ? { cert: readFileSync(args['tls-cert']), key: readFileSync(args['tls-key']) } : null;

// ---- logging (stderr only: stdout carries the READY line and nothing else) -----------------
const log = (...parts) => process.stderr.write(`relay[${process.pid}]: ${parts.join(' ')}\n`);
class StderrLogger { // the library's logger interface; quiet unless --verbose
  setLogLevel() {}
  debug(m) { if (VERBOSE) log('debug', m); }
  info(m) { if (VERBOSE) log('info', m); }
  warn(m) { log('warn', m); }
  error(m, e) { log('error', m, e && e.stack ? e.stack : ''); }
}
const trunc = s => (s.length > 300 ? `${s.slice(0, 300)}…(${s.length} chars)` : s);

// ---- library patch: TENEX's ["delegation",<event id>] is not a NIP-26 token ----------------
// EventUtils is the one class shared by core, the validator and the sqlite repository.
EventUtils.extractDelegationTag = () => undefined;

// ---- filter matching (NIP-01), used for live delivery, replay and the inject hook -----------
function matchFilter(filter, ev) {
  if (filter.ids && !filter.ids.includes(ev.id)) return false;
  if (filter.authors && !filter.authors.includes(ev.pubkey)) return false;
  if (filter.kinds && !filter.kinds.includes(ev.kind)) return false;
  if (filter.since !== undefined && !(ev.created_at >= filter.since)) return false;
  if (filter.until !== undefined && !(ev.created_at <= filter.until)) return false;
  for (const key of Object.keys(filter)) {
    if (key.length !== 2 || key[0] !== '#') continue;
    const values = filter[key];
    if (!Array.isArray(values)) continue;
    const name = key[1];
    const tags = Array.isArray(ev.tags) ? ev.tags : [];
    if (!tags.some(t => Array.isArray(t) && t[0] === name && t.length > 1 && values.includes(t[1]))) {
      return false;
    }
  }
  return true;
}
const matchAny = (filters, ev) => filters.some(f => matchFilter(f, ev));
const isEphemeral = kind => kind >= 20000 && kind < 30000;

// ---- the relay --------------------------------------------------------------------------
const repo = new EventRepositorySqlite(args.db);
await repo.init();

const relay = new NostrRelay(repo, {
  // NIP-42 in the library: it sends ["AUTH",<ctx.id>] on connect and checks the kind 22242
  // (signature, challenge, relay URL host, created_at within 10 min). The REQ gate is ours.
  hostname: AUTH ? HOST : undefined,
  logger: new StderrLogger(),
  maxSubscriptionsPerClient: MAX_SUBS,
  filterResultCacheTtl: 0, // no stale query results between publish and REQ
  eventHandlingResultCacheTtl: 0, // every EVENT is handled (ephemeral duplicates are re-sent)
});

const validator = new Validator({
  maxContentLength: MAX_MESSAGE_BYTES,
  maxTagValueLength: 64 * 1024,
  maxNumberOfTags: 10000,
  maxSubscriptionIdLength: 256,
  maxFilterKindsLength: 100,
  maxFilterGenericTagsLength: 1000,
});

let subCap = 0; // POST /_test/sub-cap: a lower per-connection subscription cap (0: none)
const stats = { eventsReceived: 0, eventsBroadcast: 0, reqsRefused: 0, authOk: 0, authFailed: 0 };
const connInfo = new Map(); // ws -> {n, remote, connectedAt}
let connCounter = 0;
const replayBuffer = []; // {at, event} of recent ephemeral events (--replay-ephemeral)
const REPLAY_MAX_EVENTS = 20000; // the newest ones win past this

function pruneReplay() {
  const cutoff = Date.now() - REPLAY_SECS * 1000;
  while (replayBuffer.length && replayBuffer[0].at < cutoff) replayBuffer.shift();
}

function sendText(ws, text) {
  if (ws.readyState === ws.OPEN) ws.send(text, { binary: false });
}

// Deliver a live event to every open subscription whose filters match it, tag filters included.
function fanOut(event) {
  for (const ctx of relay.clientContexts.values()) {
    if (!ctx.isOpen) continue;
    if (AUTH && !EventUtils.checkPermission(event, ctx.pubkey)) continue;
    ctx.subscriptions.forEach((filters, subId) => {
      if (!matchAny(filters, event)) return;
      sendText(ctx.client, JSON.stringify(['EVENT', subId, event]));
      stats.eventsBroadcast++;
    });
  }
}

relay.register({
  // The library calls this for every event to broadcast (stored ones and ephemeral ones). We do
  // the fan-out ourselves instead of calling next(): the library would ignore tag filters.
  async broadcast(event, _next) {
    if (REPLAY_SECS > 0 && isEphemeral(event.kind)) {
      pruneReplay();
      replayBuffer.push({ at: Date.now(), event });
      if (replayBuffer.length > REPLAY_MAX_EVENTS) replayBuffer.shift();
    }
    fanOut(event);
  },

  async handleMessage(ctx, message, next) {
    const type = message[0];
    if (type === 'EVENT') stats.eventsReceived++;
    if (type === 'REQ') {
      const subId = message[1];
      if (AUTH && !ctx.pubkey) {
        stats.reqsRefused++;
        ctx.sendMessage(['CLOSED', subId, 'auth-required: this relay only serves authenticated clients (NIP-42)']);
        return { messageType: 'REQ', events: [] };
      }
      const cap = subCap > 0 ? Math.min(subCap, MAX_SUBS) : MAX_SUBS;
      if (typeof subId === 'string' && !ctx.subscriptions.has(subId) && ctx.subscriptions.size >= cap) {
        stats.reqsRefused++;
        ctx.sendMessage(['CLOSED', subId, 'error: too many concurrent REQs']);
        return { messageType: 'REQ', events: [] };
      }
      if (REPLAY_SECS > 0) return handleReqWithReplay(ctx, subId, message.slice(2));
    }
    const result = await next();
    if (type === 'AUTH') {
      if (result && result.success) stats.authOk++;
      else stats.authFailed++;
    }
    return result;
  },
});

// Same steps as the library's REQ handling (stored events, EOSE, subscribe), with the replay of
// recent ephemeral events between the stored ones and EOSE.
async function handleReqWithReplay(ctx, subId, filters) {
  try {
    const events = await relay.findEvents(filters, ctx.pubkey, ev => {
      ctx.sendMessage(['EVENT', subId, ev]);
    });
    pruneReplay();
    for (const { event } of replayBuffer) {
      if (filters.some(f => f.limit !== 0 && matchFilter(f, event))) ctx.sendMessage(['EVENT', subId, event]);
    }
    ctx.sendMessage(['EOSE', subId]);
    relay.subscriptionService.subscribe(ctx, subId, filters);
    return { messageType: 'REQ', events };
  } catch (e) {
    ctx.sendMessage(['CLOSED', subId, `error: ${e.message}`]);
    return { messageType: 'REQ', events: [] };
  }
}

// When a message fails validation, answer in the way the client is waiting for.
function answerInvalid(ws, data, err) {
  const reason = String(err && err.message ? err.message : err).replace(/^Validation error: /, '');
  const msg = /^(invalid|error|blocked|restricted|rate-limited|pow|duplicate|auth-required):/.test(reason)
    ? reason : `invalid: ${reason}`;
  let parsed;
  try { parsed = JSON.parse(data.toString()); } catch { parsed = undefined; }
  if (Array.isArray(parsed) && (parsed[0] === 'EVENT' || parsed[0] === 'AUTH') &&
      parsed[1] && typeof parsed[1] === 'object' && typeof parsed[1].id === 'string') {
    sendText(ws, JSON.stringify(['OK', parsed[1].id, false, msg]));
  } else if (Array.isArray(parsed) && parsed[0] === 'REQ' && typeof parsed[1] === 'string') {
    sendText(ws, JSON.stringify(['CLOSED', parsed[1], msg]));
  } else {
    sendText(ws, JSON.stringify(['NOTICE', msg]));
  }
}

// ---- HTTP: test hooks and a NIP-11 document -------------------------------------------------
function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', c => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function reply(res, status, obj) {
  const body = JSON.stringify(obj);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

function storedCount() {
  try {
    return repo.getDatabase().prepare('SELECT COUNT(*) AS n FROM events').get().n;
  } catch {
    return null;
  }
}

function statsSnapshot() {
  const connections = [];
  for (const [ws, info] of connInfo) {
    const ctx = relay.clientContexts.get(ws);
    const subscriptions = {};
    ctx?.subscriptions.forEach((filters, subId) => { subscriptions[subId] = filters; });
    connections.push({
      n: info.n,
      remote: info.remote,
      connectedAt: info.connectedAt,
      challenge: AUTH ? ctx?.id ?? null : null,
      authed: Boolean(ctx?.pubkey),
      pubkey: ctx?.pubkey ?? null,
      subscriptions,
    });
  }
  pruneReplay();
  return {
    auth: AUTH,
    tls: Boolean(TLS),
    replayEphemeralSecs: REPLAY_SECS,
    connectionsOpen: connections.length,
    connectionsTotal: connCounter, // WebSocket connections ever opened
    stalled,
    subscriptionsOpen: connections.reduce((n, c) => n + Object.keys(c.subscriptions).length, 0),
    connections,
    eventsStored: storedCount(),
    ephemeralBuffered: replayBuffer.length,
    ...stats,
  };
}

async function handleTestHook(req, res, url) {
  const route = `${req.method} ${url.pathname}`;
  if (route === 'GET /_test/stats') return reply(res, 200, statsSnapshot());
  if (route === 'POST /_test/inject') {
    // Raw event JSON, not validated: sent as ["EVENT",<sub>,<raw bytes>] to every subscription
    // whose filters match what can be parsed from it (unparseable: to every subscription).
    // ?sub=ID restricts it to subscriptions with that id; ?all=1 skips the matching.
    const raw = await readBody(req);
    let parsed = null;
    try { parsed = JSON.parse(raw.toString('utf8')); } catch { parsed = null; }
    const onlySub = url.searchParams.get('sub');
    const all = url.searchParams.get('all') === '1' || parsed === null || typeof parsed !== 'object';
    let delivered = 0;
    for (const ctx of relay.clientContexts.values()) {
      if (!ctx.isOpen) continue;
      ctx.subscriptions.forEach((filters, subId) => {
        if (onlySub !== null && subId !== onlySub) return;
        let ok = all;
        if (!ok) { try { ok = matchAny(filters, parsed); } catch { ok = true; } }
        if (!ok) return;
        const frame = Buffer.concat([Buffer.from(`["EVENT",${JSON.stringify(subId)},`), raw, Buffer.from(']')]);
        sendText(ctx.client, frame);
        delivered++;
      });
    }
    return reply(res, 200, { delivered });
  }
  if (route === 'POST /_test/raw') {
    // Body sent verbatim as one WebSocket text frame (?binary=1: a binary frame) to every client.
    const raw = await readBody(req);
    const binary = url.searchParams.get('binary') === '1';
    let sent = 0;
    for (const ws of wss.clients) {
      if (ws.readyState !== ws.OPEN) continue;
      ws.send(raw, { binary });
      sent++;
    }
    return reply(res, 200, { sent });
  }
  if (route === 'POST /_test/drop') {
    // Abrupt: the TCP connections are destroyed, no close frame.
    let dropped = 0;
    for (const ws of wss.clients) { ws.terminate(); dropped++; }
    return reply(res, 200, { dropped });
  }
  if (route === 'POST /_test/stall') {
    // A frozen relay that keeps its sockets open: every WebSocket stops being read (so pings
    // are never answered, messages never handled) and new WebSocket upgrades are held without
    // an answer, until POST /_test/unstall or, with ?ms=N, N ms from now. The hooks still work.
    const ms = Number(url.searchParams.get('ms') || 0);
    const paused = stall();
    if (ms > 0) stallTimer = setTimeout(unstall, ms);
    return reply(res, 200, { paused });
  }
  if (route === 'POST /_test/unstall') return reply(res, 200, unstall());
  if (route === 'POST /_test/sub-cap') {
    subCap = Math.max(0, Number(url.searchParams.get('n') || 0));
    return reply(res, 200, { subCap });
  }
  return reply(res, 404, { error: `no such test hook: ${route}` });
}

// ---- stall (the /_test/stall hook) ------------------------------------------------------------
let stalled = false;
let stallTimer = null;
const heldUpgrades = []; // verifyClient callbacks of upgrades that arrived during a stall

function stall() {
  stalled = true;
  clearTimeout(stallTimer);
  let paused = 0;
  for (const ws of wss.clients) {
    ws.pause(); // stops reading the socket: no PONG, no message handling; the socket stays open
    paused++;
  }
  return paused;
}

function unstall() {
  stalled = false;
  clearTimeout(stallTimer);
  stallTimer = null;
  let resumed = 0;
  for (const ws of wss.clients) {
    if (ws.isPaused) { ws.resume(); resumed++; }
  }
  const upgrades = heldUpgrades.splice(0);
  for (const cb of upgrades) cb(true); // ws destroys the socket if the client gave up meanwhile
  return { resumed, upgrades: upgrades.length };
}

const onRequest = (req, res) => {
  const url = new URL(req.url, 'http://relay.invalid');
  if (url.pathname.startsWith('/_test/')) {
    if (!TEST_HOOKS) return reply(res, 404, { error: 'test hooks are off (--test-hooks)' });
    handleTestHook(req, res, url).catch(e => reply(res, 500, { error: e.message }));
    return;
  }
  if ((req.headers.accept || '').includes('application/nostr+json')) {
    return reply(res, 200, {
      name: 'bridge test relay',
      description: '@nostr-relay/core with sqlite storage, for tests',
      software: '@nostr-relay/core',
      supported_nips: AUTH ? [1, 11, 42] : [1, 11],
      limitation: { max_message_length: MAX_MESSAGE_BYTES, auth_required: AUTH },
    });
  }
  res.writeHead(426, { 'Content-Type': 'text/plain' });
  res.end('this is a Nostr relay: connect with a WebSocket\n');
};
const server = TLS ? https.createServer(TLS, onRequest) : http.createServer(onRequest);
// A failed TLS handshake (e.g. the client refused our certificate) is the client's business.
server.on('tlsClientError', e => { if (VERBOSE) log('tls client error', e.message); });

const wss = new WebSocketServer({
  server,
  maxPayload: MAX_MESSAGE_BYTES,
  verifyClient: (_info, cb) => (stalled ? heldUpgrades.push(cb) : cb(true)),
});

wss.on('connection', (ws, req) => {
  const info = { n: ++connCounter, remote: `${req.socket.remoteAddress}:${req.socket.remotePort}`, connectedAt: Date.now() };
  connInfo.set(ws, info);
  if (VERBOSE) {
    log('connect', info.n, info.remote);
    const send = ws.send.bind(ws);
    ws.send = (data, ...rest) => { log('out', info.n, trunc(data.toString())); return send(data, ...rest); };
  }
  relay.handleConnection(ws, req.socket.remoteAddress);
  ws.on('message', async (data, isBinary) => {
    if (VERBOSE) log('in', info.n, trunc(data.toString()));
    let message;
    try {
      message = await validator.validateIncomingMessage(data);
    } catch (e) {
      answerInvalid(ws, data, e);
      return;
    }
    try {
      await relay.handleMessage(ws, message);
    } catch (e) {
      log('error handling message:', e.stack || e.message);
      sendText(ws, JSON.stringify(['NOTICE', `error: ${e.message}`]));
    }
  });
  ws.on('error', e => { if (VERBOSE) log('ws error', info.n, e.message); });
  ws.on('close', (code, reason) => {
    if (VERBOSE) log('close', info.n, code, reason.toString());
    connInfo.delete(ws);
    relay.handleDisconnect(ws);
  });
});

// ---- lifecycle ----------------------------------------------------------------------------
let shuttingDown = false;
async function shutdown(why) {
  if (shuttingDown) return;
  shuttingDown = true;
  if (VERBOSE) log('shutting down:', why);
  setTimeout(() => process.exit(0), 3000).unref();
  for (const ws of wss.clients) ws.terminate();
  wss.close();
  server.close();
  try { await relay.destroy(); } catch { /* exiting anyway */ }
  try { await repo.destroy(); } catch { /* exiting anyway */ }
  process.exit(0);
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
if (args['die-with-parent']) {
  process.stdin.on('data', () => {});
  process.stdin.on('end', () => shutdown('stdin closed'));
  process.stdin.on('error', () => shutdown('stdin error'));
}

// ws re-emits the HTTP server's errors on the WebSocketServer: handle both, so a busy port is a
// clean exit 1 rather than an uncaught exception.
const onListenError = e => {
  log('cannot listen:', e.message);
  process.exit(1);
};
server.on('error', onListenError);
wss.on('error', onListenError);
server.listen(PORT, HOST, () => {
  const { port } = server.address();
  const host = HOST.includes(':') ? `[${HOST}]` : HOST;
  process.stdout.write(`READY ${TLS ? 'wss' : 'ws'}://${host}:${port}\n`);
});
