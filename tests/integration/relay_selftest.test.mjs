// Tests of the test relay itself (tests/js/relay.mjs), so that the bridge's integration tests can
// trust it: storage, live delivery with tag filters, ephemeral events, addressable replacement,
// TENEX-like NIP-42 AUTH, ephemeral replay, the test hooks, and the harness around it.
import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import {
  startRelay, relayClient, startSilentTcp, spawnProcess, startProcess, freePort,
  generateSecretKey, getPublicKey, finalizeEvent, nostrToolsVerify, plainEvent, bytesToHex, WebSocket,
  withTimeout, waitUntil,
} from '../js/lib/harness.mjs';

const now = () => Math.floor(Date.now() / 1000);
const randHex = () => bytesToHex(generateSecretKey());
const ids = events => events.map(e => e.id).sort();

describe('relay: storage and live delivery', { timeout: 120000 }, () => {
  let relay;
  before(async () => { relay = await startRelay(); });

  test('publish answers OK true, REQ returns stored events then EOSE', async () => {
    const c = await relayClient(relay.url);
    const ev = c.sign({ kind: 1, content: 'hello', tags: [['t', 'selftest']] });
    const res = await c.publish(ev);
    assert.equal(res.ok, true, res.message);
    assert.ok(nostrToolsVerify(ev));

    const sub = c.subscribe({ kinds: [1], authors: [c.pubkey] });
    const stored = await sub.eose;
    assert.deepEqual(stored, [ev]);
    // The order on the wire: the EVENT frame comes before the EOSE frame.
    const frames = c.messages.filter(m => m[1] === sub.id).map(m => m[0]);
    assert.deepEqual(frames, ['EVENT', 'EOSE']);

    const dup = await c.publish(ev);
    assert.equal(dup.ok, true);
    assert.match(dup.message, /^duplicate:/);
  });

  test('events with a wrong signature or id are refused with OK false', async () => {
    const c = await relayClient(relay.url);
    const ev = c.sign({ kind: 1, content: 'original' });
    const badSig = { ...ev, sig: ev.sig.slice(0, -2) + (ev.sig.endsWith('00') ? '01' : '00') };
    const r1 = await c.publish(badSig);
    assert.equal(r1.ok, false);
    assert.match(r1.message, /^invalid:/);
    const badId = { ...ev, content: 'changed' };
    const r2 = await c.publish(badId);
    assert.equal(r2.ok, false);
    assert.match(r2.message, /^invalid:/);
    const sub = c.subscribe({ authors: [c.pubkey] });
    assert.deepEqual(await sub.eose, []);
  });

  test('malformed messages get NOTICE / OK false / CLOSED, and the connection stays usable', async () => {
    const c = await relayClient(relay.url);
    c.send('this is not json');
    await c.waitFor(m => m[0] === 'NOTICE', 'a NOTICE for garbage');
    c.send(['EVENT', { id: 'a'.repeat(64), kind: 'one' }]);
    const ok = await c.waitFor(m => m[0] === 'OK' && m[1] === 'a'.repeat(64), 'OK false for a malformed event');
    assert.equal(ok[2], false);
    c.send(['REQ', 'badfilter', { kinds: 'x' }]);
    const closed = await c.waitFor(m => m[0] === 'CLOSED' && m[1] === 'badfilter', 'CLOSED for a bad filter');
    assert.match(closed[2], /^invalid:/);
    const res = await c.publish({ kind: 1, content: 'still fine' });
    assert.equal(res.ok, true);
  });

  test('ephemeral events reach live subscribers and are not stored', async () => {
    const a = await relayClient(relay.url);
    const b = await relayClient(relay.url);
    const before = (await relay.stats()).eventsStored;
    const sub = a.subscribe({ kinds: [24135], authors: [b.pubkey] });
    assert.deepEqual(await sub.eose, []);
    const ev = b.sign({ kind: 24135, content: 'chunk', tags: [['stream-seq', '1']] });
    assert.equal((await b.publish(ev)).ok, true);
    assert.deepEqual(await sub.waitForEvent(e => e.id === ev.id), ev);

    const later = b.subscribe({ kinds: [24135], authors: [b.pubkey] });
    assert.deepEqual(await later.eose, [], 'ephemeral events are not stored (no replay here)');
    assert.equal((await relay.stats()).eventsStored, before);
  });

  test('tag filters (#e #E #p #P #a) apply to live events and to stored queries', async () => {
    const listener = await relayClient(relay.url);
    const pub = await relayClient(relay.url);
    const [e1, E1, p1, P1] = [randHex(), randHex(), randHex(), randHex()];
    const coord = `31933:${randHex()}:proj`;
    const filters = {
      e: { kinds: [1, 24135], '#e': [e1] },
      E: { kinds: [1, 24135], '#E': [E1] },
      p: { kinds: [1, 24135], '#p': [p1] },
      P: { kinds: [1, 24135], '#P': [P1] },
      a: { kinds: [1, 24135], '#a': [coord], '#e': [e1] }, // two tag filters: both must match
    };
    const subs = Object.fromEntries(Object.entries(filters).map(([k, f]) => [k, listener.subscribe(f, { id: `tag-${k}` })]));
    await Promise.all(Object.values(subs).map(s => s.eose));

    // Decoys first (same values under the other case, other values), then the matching events;
    // every publish waits for its OK, and the relay broadcasts before it answers OK.
    const decoys = [
      [['E', e1]], [['e', E1]], [['P', p1]], [['p', P1]], [['e', randHex()]], [['a', coord]],
      [['e', p1]], [],
    ];
    for (const tags of decoys) {
      for (const kind of [1, 24135]) assert.equal((await pub.publish({ kind, tags, content: 'decoy' })).ok, true);
    }
    const want = { e: [], E: [], p: [], P: [], a: [] };
    for (const kind of [1, 24135]) {
      const evE = pub.sign({ kind, tags: [['e', e1, '', 'root'], ['a', coord]], content: 'match e+a' });
      const evBigE = pub.sign({ kind, tags: [['E', E1], ['K', '1']], content: 'match E' });
      const evP = pub.sign({ kind, tags: [['p', p1]], content: 'match p' });
      const evBigP = pub.sign({ kind, tags: [['P', P1]], content: 'match P' });
      for (const ev of [evE, evBigE, evP, evBigP]) assert.equal((await pub.publish(ev)).ok, true);
      want.e.push(evE); want.a.push(evE); want.E.push(evBigE); want.p.push(evP); want.P.push(evBigP);
    }
    // A final marker that every subscription matches: once it arrived, everything sent before it did.
    const marker = pub.sign({ kind: 1, tags: [['e', e1], ['E', E1], ['p', p1], ['P', P1], ['a', coord]], content: 'marker' });
    assert.equal((await pub.publish(marker)).ok, true);
    for (const [k, sub] of Object.entries(subs)) {
      await sub.waitForEvent(e => e.id === marker.id, `the marker on #${k}`);
      assert.deepEqual(ids(sub.events), ids([...want[k], marker]), `live events of the #${k} subscription`);
    }

    // Stored queries: only the kind 1 events are stored.
    for (const [k, f] of Object.entries(filters)) {
      const stored = await listener.subscribe(f).eose;
      assert.deepEqual(ids(stored), ids([...want[k].filter(e => e.kind === 1), marker]), `stored #${k}`);
    }
  });

  test('a ["delegation",<event id>] tag is a plain tag (NIP-26 is off)', async () => {
    const c = await relayClient(relay.url);
    const root = randHex();
    const sub = c.subscribe({ kinds: [1], '#t': ['ask'], '#p': [c.pubkey] });
    await sub.eose;
    const ask = c.sign({ kind: 1, content: 'which one?', tags: [['ask', 'true'], ['t', 'ask'], ['delegation', root], ['p', c.pubkey]] });
    const res = await c.publish(ask);
    assert.equal(res.ok, true, res.message);
    assert.equal((await sub.waitForEvent(e => e.id === ask.id)).pubkey, c.pubkey);
    const stored = await c.subscribe({ authors: [c.pubkey], kinds: [1] }).eose;
    assert.deepEqual(ids(stored), [ask.id]);
  });

  test('addressable events: the latest (kind, pubkey, d) wins', async () => {
    const c = await relayClient(relay.url);
    const t = now() - 100;
    const v1 = c.sign({ kind: 31933, created_at: t, tags: [['d', 'proj'], ['title', 'v1']], content: '' });
    const v2 = c.sign({ kind: 31933, created_at: t + 10, tags: [['d', 'proj'], ['title', 'v2']], content: '' });
    const old = c.sign({ kind: 31933, created_at: t - 10, tags: [['d', 'proj'], ['title', 'old']], content: '' });
    const other = c.sign({ kind: 31933, created_at: t, tags: [['d', 'other']], content: '' });
    for (const ev of [v1, v2, old, other]) await c.publish(ev);
    const stored = await c.subscribe({ kinds: [31933], authors: [c.pubkey] }).eose;
    assert.deepEqual(ids(stored), ids([v2, other]));
    const byD = await c.subscribe({ kinds: [31933], authors: [c.pubkey], '#d': ['proj'] }).eose;
    assert.deepEqual(byD, [v2]);
  });

  test('CLOSE ends a subscription; REQ with the same id replaces its filters', async () => {
    const a = await relayClient(relay.url);
    const b = await relayClient(relay.url);
    const sub = a.subscribe({ kinds: [20001], authors: [b.pubkey] }, { id: 'same' });
    await sub.eose;
    const st = await relay.stats();
    const mine = st.connections.find(x => x.subscriptions.same && x.subscriptions.same[0].authors?.[0] === b.pubkey);
    assert.ok(mine, 'stats list the subscription with its filter');
    sub.close();
    const replaced = a.subscribe({ kinds: [20002], authors: [b.pubkey] }, { id: 'same2' });
    await replaced.eose;
    await b.publish({ kind: 20001, content: 'to the closed sub' });
    const ev = await b.publish({ kind: 20002, content: 'to the open sub' });
    await replaced.waitForEvent(e => e.id === ev.id);
    assert.ok(!a.messages.some(m => m[0] === 'EVENT' && m[1] === 'same' && m[2].kind === 20001));
  });

  test('stats count connections and subscriptions', async () => {
    const c = await relayClient(relay.url);
    c.subscribe({ kinds: [1], '#e': ['0'.repeat(64)] }, { id: 'counted' });
    await c.waitFor(m => m[0] === 'EOSE' && m[1] === 'counted');
    const st = await relay.stats();
    assert.ok(st.connectionsOpen >= 1);
    const conn = st.connections.find(x => x.subscriptions.counted);
    assert.deepEqual(conn.subscriptions.counted, [{ kinds: [1], '#e': ['0'.repeat(64)] }]);
    assert.equal(typeof st.eventsStored, 'number');
  });
});

describe('relay: --auth (TENEX-like NIP-42)', { timeout: 120000 }, () => {
  let relay;
  before(async () => { relay = await startRelay({ auth: true }); });

  test('REQ is refused with auth-required until AUTH; EVENT is allowed before', async () => {
    const c = await relayClient(relay.url);
    await c.waitFor(m => m[0] === 'AUTH', 'the AUTH challenge on connect');
    assert.equal(typeof c.challenge, 'string');
    const refused = c.subscribe({ kinds: [1] });
    const reason = await refused.closed;
    assert.match(reason, /^auth-required:/);
    await assert.rejects(refused.eose, /auth-required/);

    const pub = await c.publish({ kind: 1, content: 'published before auth' });
    assert.equal(pub.ok, true, pub.message);

    const res = await c.auth();
    assert.equal(res.ok, true, res.message);
    const stored = await c.subscribe({ kinds: [1], authors: [c.pubkey] }).eose;
    assert.deepEqual(ids(stored), [pub.id]);
    const st = await relay.stats();
    assert.ok(st.connections.some(x => x.authed && x.pubkey === c.pubkey));
  });

  test('bad AUTH events are answered OK false and REQs stay refused', async () => {
    const c = await relayClient(relay.url);
    await c.waitFor(m => m[0] === 'AUTH');
    const sk = c.secretKey;
    const mk = (tags, created_at = now(), kind = 22242) => finalizeEvent({ kind, created_at, tags, content: '' }, sk);
    const bad = {
      'wrong challenge': mk([['relay', relay.url], ['challenge', 'nope']]),
      'no relay tag': mk([['challenge', c.challenge]]),
      'relay of another host': mk([['relay', 'wss://relay.example.com'], ['challenge', c.challenge]]),
      'too old': mk([['relay', relay.url], ['challenge', c.challenge]], now() - 3600),
      'wrong kind': mk([['relay', relay.url], ['challenge', c.challenge]], now(), 22243),
    };
    const tampered = mk([['relay', relay.url], ['challenge', c.challenge]]);
    bad['bad signature'] = { ...tampered, sig: tampered.sig.replace(/^./, ch => (ch === '0' ? '1' : '0')) };
    for (const [what, ev] of Object.entries(bad)) {
      c.send(['AUTH', ev]);
      const ok = await c.waitFor(m => m[0] === 'OK' && m[1] === ev.id, `OK for AUTH (${what})`);
      assert.equal(ok[2], false, `AUTH with ${what} must fail`);
    }
    const reason = await c.subscribe({ kinds: [1] }).closed;
    assert.match(reason, /^auth-required:/);
  });

  test('relayClient({authKey}) authenticates on connect', async () => {
    const sk = generateSecretKey();
    const c = await relayClient(relay.url, { authKey: sk });
    assert.equal(c.pubkey, getPublicKey(sk));
    assert.deepEqual(await c.subscribe({ kinds: [1], authors: [randHex()] }).eose, []);
  });
});

describe('relay: --replay-ephemeral', { timeout: 120000 }, () => {
  test('recent ephemeral events are replayed to new matching REQs before EOSE', async () => {
    const relay = await startRelay({ auth: true, replayEphemeral: 60 });
    const pub = await relayClient(relay.url);
    const root = randHex();
    const chunk = pub.sign({ kind: 24135, content: 'early chunk', tags: [['e', root, '', 'root']] });
    const other = pub.sign({ kind: 24135, content: 'other thread', tags: [['e', randHex(), '', 'root']] });
    const note = pub.sign({ kind: 1, content: 'stored', tags: [['e', root, '', 'root']] });
    for (const ev of [chunk, other, note]) assert.equal((await pub.publish(ev)).ok, true);

    const c = await relayClient(relay.url, { authKey: generateSecretKey() });
    const sub = c.subscribe({ kinds: [1, 24135], '#e': [root] });
    const history = await sub.eose;
    assert.deepEqual(ids(history), ids([chunk, note]));
    assert.equal((await relay.stats()).ephemeralBuffered, 2);

    // Live delivery still works after the replay.
    const live = pub.sign({ kind: 24135, content: 'live chunk', tags: [['e', root, '', 'root']] });
    await pub.publish(live);
    await sub.waitForEvent(e => e.id === live.id);
    await relay.stop();
  });
});

describe('relay: test hooks', { timeout: 120000 }, () => {
  let relay;
  before(async () => { relay = await startRelay(); });

  test('inject delivers a raw, unvalidated event to matching subscriptions only', async () => {
    const c = await relayClient(relay.url);
    const root = randHex();
    const sub = c.subscribe({ kinds: [24135], '#e': [root] }, { id: 'inj' });
    await sub.eose;
    const forger = generateSecretKey();
    const forged = finalizeEvent({ kind: 24135, created_at: now(), tags: [['e', root]], content: 'forged' }, forger);
    forged.content = 'changed after signing'; // now the id and signature are wrong
    const forgedPlain = plainEvent(forged);
    const nonMatching = { ...forged, tags: [['e', randHex()]] };
    assert.equal((await relay.inject(nonMatching)).delivered, 0);
    assert.equal((await relay.inject(forged)).delivered, 1);
    const got = await sub.waitForEvent(e => e.content === 'changed after signing');
    assert.deepEqual(got, forgedPlain);
    assert.equal(nostrToolsVerify(got), false);

    // Raw text is sent as is (here with odd spacing and a duplicate key).
    const raw = `{"id":"${'1'.repeat(64)}", "kind":24135,"kind":24135,"tags":[["e","${root}"]],"content":"raw"}`;
    assert.equal((await relay.inject(raw)).delivered, 1);
    await c.waitFor(m => m[0] === 'EVENT' && m[2].content === 'raw');
  });

  test('raw sends one frame verbatim to every client; drop closes every connection', async () => {
    const a = await relayClient(relay.url);
    const b = await relayClient(relay.url);
    const res = await relay.raw('garbage {{{');
    assert.ok(res.sent >= 2);
    for (const c of [a, b]) {
      const m = await c.waitFor(x => x[0] === '__unparseable__', 'the raw frame');
      assert.equal(m[1], 'garbage {{{');
    }
    const big = 'x'.repeat(300000);
    await relay.raw(big);
    await a.waitFor(x => x[0] === '__unparseable__' && x[1].length === big.length, 'the big raw frame');

    const dropped = await relay.drop();
    assert.ok(dropped.dropped >= 2);
    const code = await withTimeout(a.closed, 10000, 'the dropped connection to close');
    assert.equal(code, 1006, 'abrupt close: no close frame');
    await withTimeout(b.closed, 10000, 'the dropped connection to close');
    await waitUntil(async () => (await relay.stats()).connectionsOpen === 0, { what: 'no open connections' });
  });

  test('hooks are off without --test-hooks', async () => {
    const plain = await startRelay({ testHooks: false });
    await assert.rejects(plain.stats(), /404/);
    await plain.stop();
  });
});

describe('relay: process and transport behaviour', { timeout: 120000 }, () => {
  test('restart() keeps the port and the stored events; SIGTERM exits 0', async () => {
    const relay = await startRelay();
    const c = await relayClient(relay.url);
    const ev = await c.publish({ kind: 1, content: 'survives a restart' });
    await c.close();
    await relay.kill('SIGKILL');
    await relay.restart();
    const c2 = await relayClient(relay.url);
    assert.deepEqual(ids(await c2.subscribe({ authors: [ev.event.pubkey] }).eose), [ev.id]);
    const exit = await relay.stop();
    assert.deepEqual(exit, { code: 0, signal: null });
    await withTimeout(c2.closed, 10000, 'the client to see the relay go away');
  });

  test('frames over --max-message-bytes close the connection', async () => {
    const relay = await startRelay({ maxMessageBytes: 4096 });
    const c = await relayClient(relay.url);
    c.send(['EVENT', c.sign({ kind: 1, content: 'y'.repeat(8000) })]);
    const code = await withTimeout(c.closed, 10000, 'the relay to close an oversized frame');
    assert.equal(code, 1009);
    const c2 = await relayClient(relay.url);
    assert.equal((await c2.publish({ kind: 1, content: 'small' })).ok, true);
  });

  test('startSilentTcp accepts TCP and never completes the WebSocket upgrade', async () => {
    const silent = await startSilentTcp();
    const ws = new WebSocket(silent.url, { handshakeTimeout: 300 });
    const err = await new Promise(resolve => { ws.on('error', resolve); ws.on('open', () => resolve(null)); });
    assert.ok(err, 'the upgrade must not succeed');
    assert.match(err.message, /timed out/i);
    assert.equal(silent.connections, 1);
    await silent.stop();
  });

  test('relay CLI: bad arguments exit 2; a busy port fails', async () => {
    const r1 = await spawnProcess(process.execPath, ['tests/js/relay.mjs', '--port', 'x'], { cwd: new URL('../..', import.meta.url).pathname });
    assert.equal(r1.code, 2);
    assert.match(r1.stderr, /--port/);
    const relay = await startRelay();
    const proc = startProcess(process.execPath, [new URL('../js/relay.mjs', import.meta.url).pathname, '--port', String(relay.port)]);
    const exit = await proc.exited;
    assert.equal(exit.code, 1);
    await assert.rejects(proc.waitForLine(/READY/), /exited/);
    assert.equal(typeof (await freePort()), 'number');
  });
});
