// The relay pool (src/relay/) against real relays (tests/js/relay.mjs), driven through
// tests/integration/pool_driver.c. Every test ends with an orderly shutdown of the driver and
// checks that it closed cleanly: exit status 0 means uv_loop_close() returned 0 and, in a
// sanitizer build, that LeakSanitizer found nothing. Timeouts are hang guards only.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { test } from 'node:test';

import {
  BUILD_DIR, finalizeEvent, freePort, generateSecretKey, relayClient, sleep, startProcess, startRelay,
  startSilentTcp, waitUntil,
} from '../js/lib/harness.mjs';

const DRIVER = process.env.NB_POOL_DRIVER || path.join(BUILD_DIR, 'tests', 'pool_driver');

function startDriver(urls, extra = []) {
  assert.ok(existsSync(DRIVER), `pool_driver not built: ${DRIVER}`);
  const args = [];
  for (const u of urls) args.push('--relay', u);
  args.push('--backoff-min', '100', '--backoff-max', '500', ...extra);
  const proc = startProcess(DRIVER, args, { stdin: 'pipe', name: 'pool_driver' });
  const d = {
    proc,
    lines() {
      const out = [];
      for (const l of proc.stdoutLines) {
        try { out.push(JSON.parse(l)); } catch { /* not ours */ }
      }
      return out;
    },
    cmd(line) { proc.write(`${line}\n`); },
    async waitFor(pred, what, timeoutMs = 15000) {
      return waitUntil(() => {
        if (!proc.running()) throw new Error(`pool_driver exited while waiting for ${what}:\n${proc.output().slice(-4000)}`);
        return d.lines().find(pred);
      }, { timeoutMs, what: `${what}; output:\n${proc.output().slice(-3000)}` });
    },
    events(name) { return d.lines().filter(l => l.ev === 'event' && (!name || l.name === name)); },
    async stats(pred = () => true, what = 'stats') {
      return waitUntil(() => {
        d.cmd('stats');
        const all = d.lines().filter(l => l.ev === 'stats');
        return all.length && pred(all[all.length - 1]) ? all[all.length - 1] : null;
      }, { timeoutMs: 15000, intervalMs: 100, what: `${what}; output:\n${proc.output().slice(-3000)}` });
    },
    async open(idx = 0, minConnects = 1) {
      return d.waitFor(l => l.ev === 'relay' && l.idx === idx && l.state === 'open' && l.connects >= minConnects,
        `relay ${idx} open (connects >= ${minConnects})`);
    },
    async sub(name, filters) {
      d.cmd(`sub ${name} ${JSON.stringify(filters)}`);
      const r = await d.waitFor(l => l.ev === 'sub' && l.name === name, `sub ${name}`);
      assert.equal(r.rc, 0, `subscribe ${name}`);
      return r;
    },
    async eose(name) { return d.waitFor(l => l.ev === 'eose' && l.name === name, `EOSE on ${name}`); },
    async pub(name, kind, text, tag) {
      d.cmd(tag ? `pubtag ${name} ${kind} ${tag[0]} ${tag[1]} ${text}` : `pub ${name} ${kind} ${text}`);
      const p = await d.waitFor(l => l.ev === 'published' && l.name === name, `published ${name}`);
      assert.equal(p.rc, 0);
      const r = await d.waitFor(l => l.ev === 'pub_result' && l.name === name, `publish result ${name}`);
      return { id: p.id, result: r.result, detail: r.detail };
    },
    // Orderly shutdown; asserts a clean exit (uv_loop_close() == 0, no sanitizer report).
    async quit() {
      d.cmd('quit');
      const ex = await proc.exited;
      const exit = d.lines().find(l => l.ev === 'exit');
      assert.ok(exit, `no exit line; output:\n${proc.output().slice(-4000)}`);
      assert.equal(exit.loop_close, 0, 'uv_loop_close() returned 0');
      assert.equal(exit.pool_closed, true);
      assert.equal(ex.code, 0, `driver exit status; output:\n${proc.output().slice(-4000)}`);
      assert.ok(!/AddressSanitizer|LeakSanitizer|runtime error/.test(proc.output()), proc.output().slice(-4000));
    },
  };
  return d;
}

test('publish gets OK; REQ returns stored events then EOSE', async () => {
  const relay = await startRelay();
  const client = await relayClient(relay.url);
  const stored = [];
  for (let i = 0; i < 3; i++) stored.push((await client.publish({ kind: 1, content: `stored ${i}` })).id);

  const d = startDriver([relay.url]);
  await d.open();
  await d.sub('hist', { kinds: [1], authors: [client.pubkey] });
  await d.eose('hist');
  const lines = d.lines();
  const eoseAt = lines.findIndex(l => l.ev === 'eose' && l.name === 'hist');
  const before = lines.slice(0, eoseAt).filter(l => l.ev === 'event' && l.name === 'hist').map(l => l.id);
  assert.deepEqual(before.sort(), [...stored].sort(), 'stored events arrive before EOSE');

  const res = await d.pub('p1', 1, 'from the pool');
  assert.equal(res.result, 'OK');
  const seen = client.subscribe({ ids: [res.id] });
  const got = await seen.eose;
  assert.equal(got.length, 1, 'the relay stored the published event');
  assert.equal(got[0].content, 'from the pool');
  await d.quit();
});

test('ephemeral kind 21111 is delivered live; unwanted events are not verified', async () => {
  const relay = await startRelay();
  const d = startDriver([relay.url]);
  await d.open();
  const client = await relayClient(relay.url);
  await d.sub('live', { kinds: [21111], authors: [client.pubkey] });
  await d.eose('live');
  const ev = client.sign({ kind: 21111, content: 'chunk 1', tags: [['streaming', 'true']] });
  client.send(['EVENT', ev]);
  const got = await d.waitFor(l => l.ev === 'event' && l.id === ev.id, 'the ephemeral event');
  assert.equal(got.content, 'chunk 1');
  assert.equal(got.kind, 21111);

  // Sent under our subscription id but not matching its filter (kind 1): dropped as unwanted,
  // before any signature check (it is forged as well, so "invalid" must not move).
  const sub = d.lines().find(l => l.ev === 'sub' && l.name === 'live').id;
  const other = client.sign({ kind: 1, content: 'not for you' });
  await relay.inject({ ...other, sig: '0'.repeat(128) }, { sub, all: true });
  const s = await d.stats(x => x.unwanted >= 1, 'unwanted >= 1');
  assert.equal(s.invalid, 0);
  await d.quit();
});

test('the same event from two relays is delivered once', async () => {
  const r1 = await startRelay();
  const r2 = await startRelay();
  const d = startDriver([r1.url, r2.url]);
  await d.open(0);
  await d.open(1);
  const key = generateSecretKey();
  const c1 = await relayClient(r1.url, { key });
  const c2 = await relayClient(r2.url, { key });
  await d.sub('both', { kinds: [1], authors: [c1.pubkey] });
  await d.eose('both');
  const ev = c1.sign({ kind: 1, content: 'twice' });
  assert.equal((await c1.publish(ev)).ok, true);
  assert.equal((await c2.publish(ev)).ok, true);
  await d.stats(s => s.duplicate >= 1, 'the second copy counted as duplicate');
  // A third copy, from a late REQ on another subscription, is a separate delivery.
  await d.sub('again', { ids: [ev.id] });
  await d.eose('again');
  assert.equal(d.events('both').filter(l => l.id === ev.id).length, 1);
  assert.equal(d.events('again').filter(l => l.id === ev.id).length, 1);
  await d.quit();
});

test('forged events injected through the relay are never delivered, and counted', async () => {
  const relay = await startRelay();
  const d = startDriver([relay.url]);
  await d.open();
  const client = await relayClient(relay.url);
  await d.sub('s', { kinds: [1], authors: [client.pubkey] });
  await d.eose('s');
  const good = client.sign({ kind: 1, content: 'genuine' });
  const badSig = { ...good, sig: good.sig.slice(0, 10) + (good.sig[10] === 'a' ? 'b' : 'a') + good.sig.slice(11) };
  const badId = { ...good, content: 'tampered' }; // id no longer matches the content
  const other = finalizeEvent({ kind: 1, created_at: good.created_at, tags: [], content: 'x' }, generateSecretKey());
  const wrongAuthor = { ...other, pubkey: client.pubkey }; // claims to be the client
  await relay.inject(badSig);
  await relay.inject(badId);
  await relay.inject(wrongAuthor);
  await relay.inject('["not an event"'); // malformed: counted, relay kept
  await d.stats(s => s.invalid >= 3 && s.malformed >= 1, 'invalid >= 3, malformed >= 1');
  // The genuine event (same id as badSig) still gets through afterwards.
  assert.equal((await client.publish(good)).ok, true);
  await d.waitFor(l => l.ev === 'event' && l.id === good.id, 'the genuine event');
  const evs = d.events('s');
  assert.equal(evs.length, 1, 'only the genuine event was delivered');
  assert.equal(evs[0].content, 'genuine');
  const relays = d.lines().filter(l => l.ev === 'relay' && l.state !== 'open' && l.connects >= 1);
  assert.equal(relays.length, 0, 'the relay was kept');
  await d.quit();
});

test('a killed and restarted relay: reconnect, resubscribe, later events arrive', async () => {
  const relay = await startRelay();
  const d = startDriver([relay.url]);
  await d.open(0, 1);
  const key = generateSecretKey();
  const c1 = await relayClient(relay.url, { key });
  await d.sub('s', { kinds: [1], authors: [c1.pubkey] });
  await d.eose('s');
  await relay.kill('SIGKILL');
  await d.waitFor(l => l.ev === 'relay' && l.state === 'backoff' && l.connects === 1, 'backoff after the kill');
  await relay.restart();
  await d.open(0, 2);
  const c2 = await relayClient(relay.url, { key });
  // The REQ is re-sent on reconnect; wait until the relay has it, then publish.
  await waitUntil(async () => (await relay.stats()).subscriptionsOpen >= 1, { what: 'the REQ re-sent' });
  const ev = await c2.publish({ kind: 1, content: 'after restart' });
  assert.equal(ev.ok, true);
  await d.waitFor(l => l.ev === 'event' && l.id === ev.id, 'the event published after the restart');
  await d.quit();
});

test('a relay down at start: backoff, then connect', async () => {
  const port = await freePort();
  const url = `ws://127.0.0.1:${port}`;
  const d = startDriver([url]);
  const down = await d.waitFor(l => l.ev === 'relay' && l.state === 'backoff' && l.reconnects >= 1, 'a retry in backoff');
  assert.match(down.error, /connect|closed|destroyed/);
  await d.sub('s', { kinds: [1] });
  const relay = await startRelay({ port });
  await d.open();
  await d.eose('s'); // nobody was open at subscribe time: EOSE comes from the first relay to open
  const client = await relayClient(relay.url);
  const ev = await client.publish({ kind: 1, content: 'late relay' });
  await d.waitFor(l => l.ev === 'event' && l.id === ev.id, 'an event from the late relay');
  await d.quit();
});

test('a relay that accepts TCP but never upgrades is retried', async () => {
  const silent = await startSilentTcp();
  const d = startDriver([silent.url], ['--connect-timeout', '1']);
  const r = await d.waitFor(l => l.ev === 'relay' && l.state === 'backoff' && l.reconnects >= 1,
    'backoff after an upgrade that never came', 20000);
  assert.match(r.error, /upgrade|timed out|destroyed|closed/);
  await waitUntil(() => silent.connections >= 2, { what: 'a second TCP connection', timeoutMs: 20000 });
  await d.quit();
});

test('a relay that stops answering pings is hung up after ping + pong, and reconnected once it answers again', async () => {
  const PING_S = 1;
  const PONG_S = 2;
  const relay = await startRelay();
  const d = startDriver([relay.url], ['--ping', String(PING_S), '--pong', String(PONG_S), '--connect-timeout', '2']);
  await d.open(0, 1);
  await d.sub('s', { kinds: [1] });
  await d.eose('s');
  // A relay that answers its pings stays up well past ping + pong (lws counts only PONGs).
  await sleep((PING_S + PONG_S) * 1000 + 1500);
  assert.equal(d.lines().filter(l => l.ev === 'relay' && l.state !== 'open' && l.connects >= 1).length, 0,
    `the connection stayed up while pongs came; output:\n${d.proc.output().slice(-3000)}`);

  // Frozen: the relay's sockets stay open but nothing is read, so no PONG comes back.
  const stalledAt = Date.now();
  assert.equal((await relay.stall()).paused, 1);
  const down = await d.waitFor(l => l.ev === 'relay' && l.state === 'backoff' && l.connects === 1,
    'the hang-up of the frozen relay', 20000);
  const downAfterMs = Date.now() - stalledAt;
  // The last PONG came at most PING_S before the stall, so the hang-up is due by ping + pong
  // after it; the slack is for a slow (sanitizer) build, not a tolerance of the liveness check.
  assert.ok(downAfterMs <= (PING_S + PONG_S) * 1000 + 2000, `marked down ${downAfterMs} ms after the stall`);
  assert.match(down.error, /no pong within 2 s/);

  // Still frozen (new upgrades are held too): attempts time out, nothing opens.
  await d.waitFor(l => l.ev === 'relay' && l.state === 'backoff' && l.connects === 1 && /upgrade/.test(l.error),
    'a reconnect attempt that timed out during the stall', 20000);
  assert.equal(d.lines().filter(l => l.ev === 'relay' && l.connects >= 2).length, 0, 'no reconnect during the stall');

  await relay.unstall();
  await d.open(0, 2);
  // The subscription is re-sent and the connection works: an event published now arrives.
  await waitUntil(async () => {
    const s = await relay.stats(); // the frozen connection goes once its socket is read again
    return s.connectionsOpen === 1 && s.subscriptionsOpen >= 1;
  }, { what: 'the REQ re-sent on the new connection' });
  const client = await relayClient(relay.url);
  const ev = await client.publish({ kind: 1, content: 'after the stall' });
  await d.waitFor(l => l.ev === 'event' && l.id === ev.id, 'an event after the reconnect');
  const res = await d.pub('p', 1, 'published after the stall');
  assert.equal(res.result, 'OK');
  await d.quit();
});

test('an oversized frame drops the relay, which reconnects; the process is fine', async () => {
  const relay = await startRelay();
  const d = startDriver([relay.url], ['--max-frame', '4096']);
  await d.open(0, 1);
  await d.sub('s', { kinds: [1] });
  await d.eose('s');
  await relay.raw(`["NOTICE","${'x'.repeat(100000)}"]`);
  const down = await d.waitFor(l => l.ev === 'relay' && l.state === 'backoff' && l.connects === 1, 'the drop');
  assert.match(down.error, /max_frame/);
  await d.open(0, 2);
  const s = await d.stats(x => x.limit_drops >= 1, 'limit_drops >= 1');
  assert.equal(s.limit_drops, 1);
  assert.match(d.proc.stderrLines.join('\n'), /dropping connection.*max_frame/);
  const client = await relayClient(relay.url);
  await waitUntil(async () => (await relay.stats()).subscriptionsOpen >= 1, { what: 'the REQ re-sent' });
  const ev = await client.publish({ kind: 1, content: 'small' });
  await d.waitFor(l => l.ev === 'event' && l.id === ev.id, 'an event after the reconnect');
  await d.quit();
});

test('AUTH relay: REQ works after automatic NIP-42 AUTH', async () => {
  const relay = await startRelay({ auth: true });
  const client = await relayClient(relay.url); // EVENT needs no AUTH on this relay
  const stored = await client.publish({ kind: 1, content: 'behind auth' });
  assert.equal(stored.ok, true);
  const d = startDriver([relay.url]);
  await d.open();
  await d.sub('s', { kinds: [1], authors: [client.pubkey] });
  await d.waitFor(l => l.ev === 'event' && l.id === stored.id, 'the stored event after AUTH');
  await d.eose('s');
  assert.equal(d.lines().filter(l => l.ev === 'closed').length, 0, 'auth-required is not reported as CLOSED');
  const s = await d.stats(x => x.auths >= 1, 'auths >= 1');
  assert.ok(s.auths >= 1);
  d.cmd('relays');
  const info = await d.waitFor(l => l.ev === 'relays', 'relay info');
  assert.equal(info.relays[0].authenticated, true);
  await d.quit();
});

test('AUTH relay without a key: CLOSED is reported', async () => {
  const relay = await startRelay({ auth: true });
  const d = startDriver([relay.url], ['--no-keys']);
  await d.open();
  await d.sub('s', { kinds: [1] });
  const c = await d.waitFor(l => l.ev === 'closed' && l.name === 's', 'CLOSED');
  assert.match(c.msg, /^auth-required:/);
  await d.eose('s'); // a CLOSED relay no longer owes EOSE
  await d.quit();
});

test('publish failures: rejected, too big for the relay, no relay at all', async () => {
  const relay = await startRelay({ maxMessageBytes: 2048 });
  const d = startDriver([relay.url], ['--publish-timeout', '60000']);
  await d.open();
  const res = await d.pub('expired', 1, 'old news', ['expiration', '1']);
  assert.equal(res.result, 'EREJECTED');
  assert.ok(res.detail.startsWith(`${relay.url}: `) && /expired/.test(res.detail), res.detail);
  // The relay closes the connection (1009) instead of answering: after a few tries it counts
  // as refused, instead of a reconnect loop until the timeout.
  const big = await d.pub('big', 1, 'y'.repeat(3000));
  assert.equal(big.result, 'EREJECTED');
  assert.match(big.detail, /connection lost/);
  const ok = await d.pub('small', 1, 'fits');
  assert.equal(ok.result, 'OK');
  await d.quit();

  const none = startDriver([]);
  const r2 = await none.pub('p', 1, 'nowhere');
  assert.equal(r2.result, 'ENORELAY');
  await none.quit();

  const port = await freePort(); // nothing listens: times out without ever sending
  const down = startDriver([`ws://127.0.0.1:${port}`], ['--publish-timeout', '500']);
  const r3 = await down.pub('p', 1, 'later');
  assert.equal(r3.result, 'ENORELAY');
  assert.match(r3.detail, /not connected/);
  await down.quit();
});

test('shutdown with subscriptions, publishes and relays in every state is clean', async () => {
  const r1 = await startRelay();
  const r2 = await startRelay({ auth: true });
  const silent = await startSilentTcp();
  const port = await freePort();
  const d = startDriver([r1.url, r2.url, silent.url, `ws://127.0.0.1:${port}`], ['--publish-timeout', '60000']);
  await d.open(0);
  await d.open(1);
  for (let i = 0; i < 20; i++) d.cmd(`sub s${i} ${JSON.stringify({ kinds: [1, 21111], '#t': [`t${i}`] })}`);
  await d.eose('s19');
  d.cmd('unsub s3');
  d.cmd('pub pending 1 never answered by the silent ones');
  await d.waitFor(l => l.ev === 'published' && l.name === 'pending', 'publish queued');
  await d.quit();
  await waitUntil(async () => (await r1.stats()).subscriptionsOpen === 0, { what: 'relay 1 saw the CLOSEs or the disconnect' });
});
