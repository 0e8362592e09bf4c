// examples/echo-agent (the TENEX backend stand-in) against the real test relay with NIP-42 on.
// The test plays the human user with nostr-tools: it checks the project and status shapes,
// sends kind:1 messages and checks every event of the turn (24133 activity, 24135 deltas, the
// kind:1 conversation / tool / completion / error / crash / ask events) against
// /work/shared/design/PROTOCOL.md, signatures included. Timeouts are hang guards only; "not
// answered" is proven by the agent's own log line for that event ("ignore …", "stored …").
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { before, describe, test } from 'node:test';

import {
  BUILD_DIR, bytesToHex, generateSecretKey, getPublicKey, nip19, nostrToolsVerify, relayClient,
  spawnProcess, startProcess, startRelay, waitUntil, withTimeout,
} from '../js/lib/harness.mjs';

const AGENT_BIN = process.env.ECHO_AGENT_BIN || path.join(BUILD_DIR, 'examples', 'echo-agent', 'echo-agent');
const MODEL = 'echo:echo-1';
const RETRY_LINE = '\u26a0\ufe0f Model temporarily unavailable, retrying in 1s (attempt 1/5)\u2026';
const WAIT = 20000; // hang guard for one turn

// ---- keys and processes ---------------------------------------------------------------------
function keypair() {
  const sk = generateSecretKey();
  return { sk, hex: bytesToHex(sk), pk: getPublicKey(sk) };
}

const tagValues = (ev, name) => ev.tags.filter(t => t[0] === name).map(t => t[1]);
const hasTag = (ev, ...items) => ev.tags.some(t => items.every((v, i) => t[i] === v));

/**
 * Start echo-agent with the given keys. opts: {owner, backend, agents: [[slug, keypair]…], args,
 * env, ready (default true: wait for "ready")}. Returns {proc, coord, agents: {slug: pk}, …}.
 */
async function startAgent(relay, opts = {}) {
  assert.ok(existsSync(AGENT_BIN), `echo-agent not built: ${AGENT_BIN}`);
  const { owner, backend, agents = [], args = [], env = {}, ready = true, dtag = 'demo' } = opts;
  const argv = ['--relay', relay.url, '--project', dtag, '--status-interval', '1', '--delay-ms', '5'];
  if (owner) argv.push('--owner-nsec', owner.hex);
  if (backend) argv.push('--backend-nsec', backend.hex);
  for (const [slug, kp] of agents) argv.push('--agent', `${slug}=${nip19.nsecEncode(kp.sk)}`);
  argv.push(...args);
  const proc = startProcess(AGENT_BIN, argv, { env, name: `echo-agent:${dtag}` });
  const info = { proc, agents: {}, slugs: [] };
  const ownerLine = await proc.waitForLine(/^owner ([0-9a-f]{64}) (npub1\w+)$/);
  info.owner = ownerLine[1];
  info.backend = (await proc.waitForLine(/^backend ([0-9a-f]{64}) /))[1];
  for (;;) {
    const m = await proc.waitForLine(/^(agent (\S+) ([0-9a-f]{64}) npub1\w+|project (\S+))$/);
    if (m[4]) {
      info.coord = m[4];
      break;
    }
    info.agents[m[2]] = m[3];
    info.slugs.push(m[2]);
  }
  if (ready) await proc.waitForLine(/^ready$/, 20000);
  return info;
}

/**
 * SIGTERM and wait for the exit and the end of its output; asserts a clean shutdown: exit 0
 * (uv_loop_close() == 0) and no sanitizer report.
 */
async function stopClean(a) {
  const { child } = a.proc;
  const closed = new Promise(resolve => {
    if (child.stdout.readableEnded && child.stderr.readableEnded) resolve();
    else child.once('close', resolve);
  });
  const ex = await a.proc.stop('SIGTERM');
  await withTimeout(closed, 10000, 'the end of the agent output');
  const out = a.proc.output();
  assert.deepEqual(ex, { code: 0, signal: null }, `echo-agent exit; output:\n${out.slice(-6000)}`);
  assert.ok(!/AddressSanitizer|LeakSanitizer|runtime error/.test(out), out.slice(-6000));
  assert.match(out, /shutdown: done, exit 0/);
}

/** Resolve when the agent logs a line matching re (stderr). */
const logLine = (agent, re, ms = WAIT) => agent.proc.waitForLine(re, ms, { stream: 'stderr' });

// ---- one turn ----------------------------------------------------------------------------------
/**
 * Sign a kind:1 from `key`, subscribe to its thread like the bridge (history before EOSE is
 * ignored), then publish it. opts: {root (follow-up), p (array of pubkeys; default [PM]), tags
 * (replaces the default tags), extraFilters}. Returns {ev, root, sub}.
 */
async function send(client, agent, content, opts = {}) {
  const { root = null, key = client.secretKey, extraFilters = [] } = opts;
  const p = opts.p ?? [agent.agents[agent.slugs[0]]];
  let tags = opts.tags;
  if (!tags) {
    tags = [];
    if (root) tags.push(['e', root, '', 'root']);
    tags.push(['a', agent.coord]);
    for (const pk of p) tags.push(['p', pk]);
    if (!root) tags.push(['title', content.slice(0, 50)]);
    tags.push(['client', 'echo-agent-test']);
  }
  const ev = client.sign({ kind: 1, content, tags }, key);
  const threadRoot = root ?? ev.id;
  const sub = client.subscribe([
    { kinds: [1, 1111, 24133, 24135, 21111], '#e': [threadRoot, ev.id], since: ev.created_at - 60 },
    { kinds: [1111, 21111], '#E': [threadRoot], since: ev.created_at - 60 },
    ...extraFilters,
  ]);
  await withTimeout(sub.eose, WAIT, 'EOSE of the thread subscription');
  const res = await client.publish(ev);
  assert.equal(res.ok, true, `relay refused the message: ${res.message}`);
  return { ev, root: threadRoot, sub };
}

/** Wait until cond(events) is truthy (returns its value). */
function until(sub, cond, what, ms = WAIT) {
  return waitUntil(() => cond(sub.events), { timeoutMs: ms, what });
}

/** The 24133 activity of root by the backend, in arrival order, as arrays of working agents. */
function activity(events, agent, root) {
  return events
    .filter(e => e.kind === 24133 && e.pubkey === agent.backend && hasTag(e, 'e', root))
    .map(e => tagValues(e, 'p'));
}

/** True once pk was listed as working in root and a later 24133 no longer lists it. */
function runEnded(events, agent, root, pk, cycles = 1) {
  let busy = false;
  let ends = 0;
  for (const working of activity(events, agent, root)) {
    if (working.includes(pk)) busy = true;
    else if (busy) {
      ends++;
      busy = false;
    }
  }
  return ends >= cycles;
}

const seqOf = ev => Number(tagValues(ev, 'stream-seq')[0]);
const ralOf = ev => Number(tagValues(ev, 'llm-ral')[0]);
const deltasOf = (events, pk) => events.filter(e => e.kind === 24135 && e.pubkey === pk);
const isCompletion = (e, trigger) => (e.kind === 1 || e.kind === 1111) && hasTag(e, 'status', 'completed') &&
  (trigger === undefined || hasTag(e, 'e', trigger, '', 'reply') || (e.kind === 1111 && hasTag(e, 'e', trigger)));

/** Wait for the completion of trigger and the end of the run; returns {completion, events}. */
async function finished(sub, agent, root, trigger, pk) {
  const completion = await until(sub, evs => evs.find(e => isCompletion(e, trigger) && e.pubkey === pk), 'the completion');
  await until(sub, evs => runEnded(evs, agent, root, pk), 'the 24133 activity end');
  return { completion, events: sub.events.slice() };
}

/** Check a delta's exact tags (PROTOCOL.md "Stream delta") and signature. */
function checkDelta(d, { root, trigger, coord, pk }) {
  assert.equal(d.kind, 24135);
  assert.equal(d.pubkey, pk, 'delta signed by the agent');
  assert.ok(nostrToolsVerify(d), 'delta signature');
  assert.equal(d.tags.length, 6, JSON.stringify(d.tags));
  assert.deepEqual(d.tags[0], ['e', root, '', 'root']);
  assert.deepEqual(d.tags[1], ['e', trigger, '', 'reply']);
  assert.deepEqual(d.tags[2], ['a', coord]);
  assert.deepEqual(d.tags[3], ['llm-model', MODEL]);
  assert.equal(d.tags[4][0], 'llm-ral');
  assert.match(d.tags[4][1], /^\d+$/);
  assert.equal(d.tags[5][0], 'stream-seq');
  assert.match(d.tags[5][1], /^\d+$/);
}

/** Deltas of one step (ordered by seq, seq 0 excluded) → their text. */
function stepText(deltas) {
  return deltas.filter(d => seqOf(d) > 0).sort((a, b) => seqOf(a) - seqOf(b)).map(d => d.content).join('');
}

function checkCompletion(c, { root, trigger, coord, pk, user, content }) {
  assert.equal(c.kind, 1);
  assert.equal(c.pubkey, pk);
  assert.ok(nostrToolsVerify(c), 'completion signature');
  assert.deepEqual(c.tags[0], ['e', root, '', 'root']);
  assert.deepEqual(c.tags[1], ['e', trigger, '', 'reply']);
  assert.deepEqual(c.tags[2], ['p', user]);
  assert.deepEqual(c.tags[3], ['status', 'completed']);
  const names = c.tags.map(t => t[0]);
  assert.deepEqual(names, ['e', 'e', 'p', 'status', 'llm-prompt-tokens', 'llm-completion-tokens', 'llm-total-tokens',
    'a', 'llm-model', 'llm-ral']);
  const [pt, ct, tt] = ['llm-prompt-tokens', 'llm-completion-tokens', 'llm-total-tokens'].map(n => Number(tagValues(c, n)[0]));
  assert.ok(pt > 0 && ct > 0 && tt === pt + ct, 'usage adds up');
  assert.deepEqual(c.tags[7], ['a', coord]);
  assert.deepEqual(c.tags[8], ['llm-model', MODEL]);
  if (content !== undefined) assert.equal(c.content, content);
}

// ---- the shared setup: one relay with NIP-42, one agent process ------------------------------------
let relay;
let user; // the owner (whitelisted by default) acting as the human
let bridgeKey; // another key, whitelisted with --whitelist
let stranger; // not whitelisted
let owner;
let backend;
let pmKey;
let coderKey;
let agent;

before(async () => {
  relay = await startRelay({ auth: true });
  owner = keypair();
  backend = keypair();
  pmKey = keypair();
  coderKey = keypair();
  bridgeKey = keypair();
  stranger = keypair();
  agent = await startAgent(relay, {
    owner, backend, agents: [['pm', pmKey], ['coder', coderKey]],
    args: ['--whitelist', nip19.npubEncode(bridgeKey.pk)],
  });
  user = await relayClient(relay.url, { authKey: owner.sk });
});

const PM = () => agent.agents.pm;
const CODER = () => agent.agents.coder;

// ---- project and status ------------------------------------------------------------------------
describe('project and liveness', () => {
  test('identities printed on stdout match the keys given', () => {
    assert.equal(agent.owner, owner.pk);
    assert.equal(agent.backend, backend.pk);
    assert.deepEqual(agent.slugs, ['pm', 'coder']);
    assert.equal(agent.agents.pm, pmKey.pk);
    assert.equal(agent.coord, `31933:${owner.pk}:demo`);
  });

  test('NIP-42: the agent authenticated as the backend and its REQ is live', async () => {
    const st = await relay.stats();
    assert.equal(st.auth, true);
    const conn = st.connections.find(c => c.pubkey === backend.pk);
    assert.ok(conn && conn.authed, JSON.stringify(st.connections));
    const filters = Object.values(conn.subscriptions).flat();
    assert.deepEqual(filters.map(f => f.kinds), [[1], [1], [24134], [24000]]);
    assert.deepEqual(filters[0]['#a'], [agent.coord]);
    assert.deepEqual(filters[1]['#p'], [pmKey.pk, coderKey.pk]);
    assert.equal(typeof filters[0].since, 'number');
  });

  test('31933 by the owner: d, title, roster as lowercase p (PM first)', async () => {
    const sub = user.subscribe({ kinds: [31933], authors: [owner.pk] });
    await sub.eose;
    const ev = await sub.waitForEvent(e => hasTag(e, 'd', 'demo'), '31933');
    assert.ok(nostrToolsVerify(ev));
    assert.deepEqual(ev.tags, [['d', 'demo'], ['title', 'Echo demo'], ['p', pmKey.pk], ['p', coderKey.pk]]);
    sub.close();
  });

  test('kind 0 profiles: name = slug, signed by each agent', async () => {
    const sub = user.subscribe({ kinds: [0], authors: [pmKey.pk, coderKey.pk] });
    await sub.eose;
    await sub.waitForEvents(2);
    for (const ev of sub.events) {
      assert.ok(nostrToolsVerify(ev));
      const slug = ev.pubkey === pmKey.pk ? 'pm' : 'coder';
      assert.equal(JSON.parse(ev.content).name, slug);
    }
    sub.close();
  });

  test('24012 heartbeat, 24011 inventory and 24010 status by the backend key', async () => {
    const sub = user.subscribe({ kinds: [24010, 24011, 24012], '#p': [owner.pk] });
    const get = kind => sub.waitForEvent(e => e.kind === kind, `kind ${kind}`, WAIT);
    const [hb, inv, st] = [await get(24012), await get(24011), await get(24010)];
    for (const ev of [hb, inv, st]) {
      assert.equal(ev.pubkey, backend.pk);
      assert.ok(nostrToolsVerify(ev));
    }
    const humans = [['p', owner.pk], ['p', bridgeKey.pk]];
    const agentTags = [['agent', pmKey.pk, 'pm'], ['agent', coderKey.pk, 'coder']];
    assert.deepEqual(hb.tags, humans);
    assert.deepEqual(inv.tags, [...humans, ...agentTags, ['model', MODEL]]);
    assert.deepEqual(st.tags, [['a', agent.coord], ...humans, ...agentTags]);
    sub.close();
  });
});

// ---- turns ------------------------------------------------------------------------------------------
describe('turns', () => {
  test('a new thread: activity, deltas, completion — and a follow-up that remembers', async () => {
    const t = await send(user, agent, 'hello world, how are you?');
    const { completion, events } = await finished(t.sub, agent, t.root, t.ev.id, PM());
    const ctx = { root: t.root, trigger: t.ev.id, coord: agent.coord, pk: PM(), user: owner.pk };
    checkCompletion(completion, { ...ctx, content: 'echo: hello world, how are you?' });
    assert.equal(tagValues(completion, 'llm-ral')[0], '1');

    const deltas = deltasOf(events, PM());
    assert.ok(deltas.length >= 3, 'streamed word by word');
    for (const d of deltas) checkDelta(d, ctx);
    assert.deepEqual(deltas.map(seqOf).sort((a, b) => a - b), deltas.map((_, i) => i + 1), 'seq 1..n');
    assert.ok(deltas.every(d => ralOf(d) === 0), 'deltas carry the step counter 0');
    assert.equal(stepText(deltas), completion.content);

    // Activity: by the backend, unmarked e root, P humans, p working agents, a.
    const acts = events.filter(e => e.kind === 24133);
    assert.ok(acts.length >= 2);
    for (const a of acts) {
      assert.equal(a.pubkey, backend.pk);
      assert.ok(nostrToolsVerify(a));
      assert.deepEqual(a.tags[0], ['e', t.root]);
      assert.deepEqual(tagValues(a, 'P'), [owner.pk, bridgeKey.pk]);
      assert.deepEqual(a.tags[a.tags.length - 1], ['a', agent.coord]);
    }
    assert.deepEqual(activity(events, agent, t.root), [[PM()], []]);
    assert.ok(!events.some(e => e.pubkey === CODER()), 'only the target agent spoke');
    t.sub.close();

    // Follow-up: e root marked, p the agent → the second sentence proves the thread memory.
    const f = await send(user, agent, 'and now something else', { root: t.root });
    const r2 = await finished(f.sub, agent, t.root, f.ev.id, PM());
    checkCompletion(r2.completion, { ...ctx, trigger: f.ev.id,
      content: 'echo: and now something else (turn 2; you said before: hello world, how are you?)' });
    const d2 = deltasOf(r2.events, PM()).filter(d => hasTag(d, 'e', f.ev.id, '', 'reply'));
    assert.equal(stepText(d2), r2.completion.content);
    f.sub.close();
  });

  test('a new root without p goes to the PM; p tags are matched in roster order', async () => {
    const a = await send(user, agent, 'no p at all', { p: [] });
    const r = await finished(a.sub, agent, a.root, a.ev.id, PM());
    assert.equal(r.completion.content, 'echo: no p at all');
    a.sub.close();
    const b = await send(user, agent, 'both named', { p: [CODER(), PM()] });
    const rb = await finished(b.sub, agent, b.root, b.ev.id, PM());
    assert.equal(rb.completion.content, 'echo: both named');
    b.sub.close();
    const c = await send(user, agent, 'coder please', { p: [CODER()] });
    const rc = await finished(c.sub, agent, c.root, c.ev.id, CODER());
    checkCompletion(rc.completion, { root: c.root, trigger: c.ev.id, coord: agent.coord, pk: CODER(), user: owner.pk,
      content: 'echo: coder please' });
    c.sub.close();
  });

  test('an e marked only "reply" starts a new conversation (root = the event itself)', async () => {
    const other = 'ab'.repeat(32);
    const tags = [['e', other, '', 'reply'], ['a', agent.coord], ['p', PM()]];
    const t = await send(user, agent, 'reply-marked only', { tags });
    const r = await finished(t.sub, agent, t.ev.id, t.ev.id, PM());
    assert.deepEqual(r.completion.tags[0], ['e', t.ev.id, '', 'root']);
    t.sub.close();
  });

  test('a whitelisted non-owner key is obeyed', async () => {
    const bridge = await relayClient(relay.url, { authKey: bridgeKey.sk });
    const t = await send(bridge, agent, 'from the bridge key');
    const r = await finished(t.sub, agent, t.root, t.ev.id, PM());
    assert.deepEqual(r.completion.tags[2], ['p', bridgeKey.pk], 'the completion goes to the author of the trigger');
    t.sub.close();
    await bridge.close();
  });
});

// ---- routing: what is not answered ------------------------------------------------------------
describe('routing and trust', () => {
  test('an author that is not whitelisted is ignored', async () => {
    const s = await relayClient(relay.url, { authKey: stranger.sk });
    const t = await send(s, agent, 'let me in');
    await logLine(agent, new RegExp(`ignore id=${t.ev.id.slice(0, 8)} kind=1 reason=author-not-whitelisted`));
    // Anything the agent would have said comes before the answer to a later message.
    const u = await send(user, agent, 'after the stranger');
    await finished(u.sub, agent, u.root, u.ev.id, PM());
    assert.deepEqual(t.sub.events, [], 'nothing in the stranger\'s thread');
    t.sub.close();
    u.sub.close();
    await s.close();
  });

  test('a reply without p is only stored (and remembered)', async () => {
    const t = await send(user, agent, 'first message');
    await finished(t.sub, agent, t.root, t.ev.id, PM());
    const n = t.sub.events.length;
    const q = await send(user, agent, 'quiet reply', { root: t.root, p: [] });
    await logLine(agent, new RegExp(`stored id=${q.ev.id.slice(0, 8)} root=${t.root.slice(0, 8)} reason=reply-without-p`));
    const f = await send(user, agent, 'loud reply', { root: t.root });
    const r = await finished(f.sub, agent, t.root, f.ev.id, PM());
    assert.equal(r.completion.content, 'echo: loud reply (turn 3; you said before: quiet reply)');
    assert.ok(!q.sub.events.some(e => e.kind === 24135 && hasTag(e, 'e', q.ev.id, '', 'reply')), 'no delta for the quiet reply');
    assert.ok(t.sub.events.length >= n);
    for (const s of [t.sub, q.sub, f.sub]) s.close();
  });

  test('p tags that name no agent are ignored', async () => {
    const t = await send(user, agent, 'to nobody', { p: [stranger.pk] });
    await logLine(agent, new RegExp(`ignore id=${t.ev.id.slice(0, 8)} kind=1 reason=p-names-no-agent`));
    t.sub.close();
  });

  test('another project\'s a-tag is ignored', async () => {
    const tags = [['a', `31933:${owner.pk}:elsewhere`], ['p', PM()]];
    const t = await send(user, agent, 'wrong project', { tags });
    await logLine(agent, new RegExp(`ignore id=${t.ev.id.slice(0, 8)} kind=1 reason=other-project`));
    t.sub.close();
  });

  test('malformed tags, forged and unparsable events do not hurt the agent', async () => {
    // Signed by the owner, with broken tags: no usable e or p → a new root for the PM.
    const weird = user.sign({ kind: 1, content: 'odd tags', tags: [['e'], ['e', 'zz'], ['p'], ['a'], ['a', agent.coord]] });
    const sub = user.subscribe({ kinds: [1, 24133, 24135], '#e': [weird.id] });
    await sub.eose;
    assert.equal((await user.publish(weird)).ok, true);
    await until(sub, evs => evs.some(e => isCompletion(e, weird.id)), 'the answer to odd tags');
    // A forged event (bad signature) and garbage frames straight from the relay.
    const forged = { ...user.sign({ kind: 1, content: 'forged #crash', tags: [['a', agent.coord], ['p', PM()]] }) };
    forged.sig = '00'.repeat(64);
    await relay.inject(forged, { all: true });
    await relay.inject('{"not":"an event"', { all: true });
    await relay.inject({ id: 'x', kind: 1 }, { all: true });
    const t = await send(user, agent, 'still alive?');
    await finished(t.sub, agent, t.root, t.ev.id, PM());
    assert.ok(agent.proc.running());
    assert.ok(!agent.proc.output().includes('forged'), 'the forged text was never echoed');
    sub.close();
    t.sub.close();
  });
});

// ---- directives -----------------------------------------------------------------------------------
describe('directives', () => {
  test('#steps=2: a conversation kind:1 and a tool kind:1 close step 1; the completion has the last step only', async () => {
    const t = await send(user, agent, 'two steps #steps=2');
    const { completion, events } = await finished(t.sub, agent, t.root, t.ev.id, PM());
    const ctx = { root: t.root, trigger: t.ev.id, coord: agent.coord, pk: PM(), user: owner.pk };
    checkCompletion(completion, { ...ctx, content: 'echo: two steps' });
    const kind1 = events.filter(e => e.kind === 1 && e.pubkey === PM());
    const conv = kind1.find(e => !hasTag(e, 'status', 'completed') && !e.tags.some(x => x[0] === 'tool'));
    const tool = kind1.find(e => e.tags.some(x => x[0] === 'tool'));
    assert.ok(conv && tool, 'conversation and tool events');
    assert.deepEqual(conv.tags.map(x => x[0]), ['e', 'e', 'a', 'llm-model', 'llm-ral'], 'no p, no status');
    assert.equal(conv.content, 'Step 1 of 2: thinking it over. ');
    assert.deepEqual(tool.tags.slice(0, 4), [['e', t.root, '', 'root'], ['e', t.ev.id, '', 'reply'], ['tool', 'echo_probe'],
      ['tool-args', '{"step":1,"of":2}']]);
    assert.equal(tool.content, '');
    assert.ok(!tool.tags.some(x => x[0] === 'p'));
    const deltas = deltasOf(events, PM());
    deltas.forEach(d => checkDelta(d, ctx));
    const step0 = deltas.filter(d => ralOf(d) === 0);
    const step1 = deltas.filter(d => ralOf(d) === 1);
    assert.equal(stepText(step0), conv.content);
    assert.equal(stepText(step1), completion.content);
    assert.equal(Math.min(...step1.map(seqOf)), 1, 'seq starts at 1 again for the next step');
    assert.equal(tagValues(conv, 'llm-ral')[0], '1', 'the kind:1 carries the step counter + 1');
    assert.equal(tagValues(completion, 'llm-ral')[0], '2');
    t.sub.close();
  });

  test('#tool: a tool-only step (no text) before the answer', async () => {
    const t = await send(user, agent, 'use a tool #tool');
    const { completion, events } = await finished(t.sub, agent, t.root, t.ev.id, PM());
    assert.equal(completion.content, 'echo: use a tool');
    const kind1 = events.filter(e => e.kind === 1 && e.pubkey === PM());
    assert.equal(kind1.length, 2);
    assert.ok(hasTag(kind1.find(e => !hasTag(e, 'status', 'completed')), 'tool', 'echo_probe'));
    assert.ok(deltasOf(events, PM()).every(d => ralOf(d) === 1), 'only the answer step streams');
    t.sub.close();
  });

  test('#retry: part of the step, a seq-0 status line, then the step again from seq 1', async () => {
    const t = await send(user, agent, 'please retry this one #retry');
    const { completion, events } = await finished(t.sub, agent, t.root, t.ev.id, PM());
    assert.equal(completion.content, 'echo: please retry this one');
    const deltas = deltasOf(events, PM());
    const status = deltas.filter(d => seqOf(d) === 0);
    assert.equal(status.length, 1);
    assert.equal(status[0].content, RETRY_LINE);
    assert.equal(deltas.filter(d => seqOf(d) === 1).length, 2, 'seq 1 twice');
    assert.ok(deltas.every(d => ralOf(d) === 0), 'same llm-ral');
    const i0 = deltas.indexOf(status[0]);
    assert.equal(stepText(deltas.slice(i0 + 1)), completion.content, 'the re-stream carries the whole step');
    t.sub.close();
  });

  test('#acp: llm-ral 0 and one counter that never resets', async () => {
    const a = await send(user, agent, 'acp one #acp');
    const ra = await finished(a.sub, agent, a.root, a.ev.id, PM());
    const da = deltasOf(ra.events, PM());
    assert.ok(da.every(d => ralOf(d) === 0));
    const seqA = da.map(seqOf).sort((x, y) => x - y);
    assert.ok(seqA[0] > 1, 'an ACP turn does not start at seq 1');
    assert.equal(tagValues(ra.completion, 'llm-ral')[0], '0');
    const b = await send(user, agent, 'acp two #acp', { root: a.root });
    const rb = await finished(b.sub, agent, a.root, b.ev.id, PM());
    const db = deltasOf(rb.events, PM()).filter(d => hasTag(d, 'e', b.ev.id, '', 'reply'));
    assert.equal(Math.min(...db.map(seqOf)), seqA[seqA.length - 1] + 1, 'continues where the last turn ended');
    assert.equal(stepText(db), rb.completion.content);
    a.sub.close();
    b.sub.close();
  });

  test('#ask: a new root ask, a conversation kind:1, no completion; the answer gets a completion in the ask thread', async () => {
    const askSub = user.subscribe({ kinds: [1], '#t': ['ask'], '#p': [owner.pk] });
    await askSub.eose;
    const t = await send(user, agent, 'shall we dance #ask');
    const ask = await askSub.waitForEvent(e => hasTag(e, 'delegation', t.root), 'the ask', WAIT);
    await until(t.sub, evs => runEnded(evs, agent, t.root, PM()), 'the activity end');
    assert.equal(ask.pubkey, PM());
    assert.ok(nostrToolsVerify(ask));
    assert.ok(!ask.tags.some(x => x[0] === 'e'), 'a new root');
    assert.deepEqual(ask.tags.slice(0, 6), [['ask', 'true'], ['t', 'ask'], ['delegation', t.root], ['p', owner.pk],
      ['title', 'Confirm echo'], ['question', 'Confirm echo', 'Should I echo "shall we dance"?', 'yes', 'no']]);
    assert.ok(hasTag(ask, 'a', agent.coord));
    // The stored kind:1 may arrive after the ephemeral activity end: wait for it.
    await until(t.sub, evs => evs.some(e => e.kind === 1 && e.pubkey === PM()), 'the conversation kind:1');
    const mine = t.sub.events.filter(e => e.kind === 1 && e.pubkey === PM());
    assert.equal(mine.length, 1);
    assert.ok(!hasTag(mine[0], 'status', 'completed') && !mine[0].tags.some(x => x[0] === 'p'), 'conversation kind:1');
    assert.equal(mine[0].content, stepText(deltasOf(t.sub.events, PM())));

    const ans = await send(user, agent, 'yes', { root: ask.id });
    const r = await finished(ans.sub, agent, ask.id, ans.ev.id, PM());
    checkCompletion(r.completion, { root: ask.id, trigger: ans.ev.id, coord: agent.coord, pk: PM(), user: owner.pk,
      content: 'echo: shall we dance (you answered: yes)' });
    askSub.close();
    t.sub.close();
    ans.sub.close();
  });

  test('#nocompletion: deltas and a conversation kind:1, then the activity end', async () => {
    const t = await send(user, agent, 'no completion #nocompletion');
    await until(t.sub, evs => runEnded(evs, agent, t.root, PM()), 'the activity end');
    await until(t.sub, evs => evs.some(e => e.kind === 1 && e.pubkey === PM()), 'the conversation kind:1');
    const mine = t.sub.events.filter(e => e.kind === 1 && e.pubkey === PM());
    assert.equal(mine.length, 1);
    assert.equal(mine[0].content, 'echo: no completion');
    assert.ok(!hasTag(mine[0], 'status', 'completed'));
    t.sub.close();
  });

  test('#delegate: tool delegate, activity end, the delegatee works elsewhere, then a second run completes', async () => {
    const delegations = user.subscribe({ kinds: [1], authors: [PM()], '#p': [CODER()] });
    await delegations.eose;
    const t = await send(user, agent, 'hand it over #delegate');
    const { completion } = await finished(t.sub, agent, t.root, t.ev.id, PM());
    await until(t.sub, evs => runEnded(evs, agent, t.root, PM(), 2), 'the second run\'s activity end');
    const events = t.sub.events.slice();
    assert.equal(completion.content, 'echo: hand it over (delegated to coder)');
    const tool = events.find(e => e.kind === 1 && hasTag(e, 'tool', 'delegate'));
    assert.ok(tool, 'tool delegate');
    assert.equal(tool.content, '');
    const dlg = await delegations.waitForEvent(e => hasTag(e, 'delegation', t.root), 'the delegation', WAIT);
    assert.equal(dlg.content, '@coder: hand it over');
    assert.ok(hasTag(tool, 'q', dlg.id));
    // Activity: PM busy, idle (delegation pending), busy again, idle.
    assert.deepEqual(activity(events, agent, t.root), [[PM()], [], [PM()], []]);
    // (The relay may deliver the ephemeral 24133 before the stored tool kind:1 that was
    // published first, so only the idle stretch before the completion is checked.)
    const idle = events.findIndex(e => e.kind === 24133 && !tagValues(e, 'p').includes(PM()));
    assert.ok(idle >= 0 && idle < events.indexOf(completion), 'idle between the two runs');
    // The delegatee's answer is in the delegation's thread and goes to the PM, not to the user.
    const dsub = user.subscribe({ kinds: [1], '#e': [dlg.id], authors: [CODER()] });
    const dc = await dsub.waitForEvent(e => hasTag(e, 'status', 'completed'), 'the delegatee completion', WAIT);
    assert.deepEqual(dc.tags[2], ['p', PM()]);
    assert.ok(!events.some(e => e.pubkey === CODER()), 'nothing from the delegatee in our thread');
    delegations.close();
    dsub.close();
    t.sub.close();
  });

  test('#silent: nothing at all', async () => {
    const t = await send(user, agent, 'say nothing #silent');
    await logLine(agent, new RegExp(`run pm root=${t.root.slice(0, 8)} directives=silent trigger=${t.ev.id.slice(0, 8)}`));
    const u = await send(user, agent, 'and now?', { root: t.root });
    const r = await finished(u.sub, agent, t.root, u.ev.id, PM());
    assert.equal(r.completion.content, 'echo: and now? (turn 2; you said before: say nothing)');
    assert.ok(!t.sub.events.some(e => hasTag(e, 'e', t.ev.id, '', 'reply')), 'no event answers the silent message');
    t.sub.close();
    u.sub.close();
  });

  test('#error: kind:1 with error, status completed and p user', async () => {
    const t = await send(user, agent, 'fail please #error');
    const err = await until(t.sub, evs => evs.find(e => e.kind === 1 && hasTag(e, 'error', 'system')), 'the error');
    assert.equal(err.pubkey, PM());
    assert.deepEqual(err.tags.slice(0, 5), [['e', t.root, '', 'root'], ['e', t.ev.id, '', 'reply'], ['error', 'system'],
      ['p', owner.pk], ['status', 'completed']]);
    assert.ok(err.content.length > 0);
    t.sub.close();
  });

  test('#crash: a notice signed by the backend key with an unmarked e on the trigger', async () => {
    const t = await send(user, agent, 'crash now #crash');
    const crash = await until(t.sub, evs => evs.find(e => e.kind === 1 && e.pubkey === backend.pk), 'the crash notice');
    assert.ok(nostrToolsVerify(crash));
    assert.equal(crash.content, '\u26a0\ufe0f pm: agent process exited with code 1');
    assert.deepEqual(crash.tags, [['e', t.ev.id], ['p', owner.pk], ['a', agent.coord]]);
    await until(t.sub, evs => runEnded(evs, agent, t.root, PM()), 'the activity end');
    assert.ok(!t.sub.events.some(e => isCompletion(e)), 'no completion');
    t.sub.close();
  });

  test('#drop=2, #reorder and #dup: gaps, order and duplicates on the wire; the completion is whole', async () => {
    const a = await send(user, agent, 'one two three four five #drop=2');
    const ra = await finished(a.sub, agent, a.root, a.ev.id, PM());
    const seqs = deltasOf(ra.events, PM()).map(seqOf);
    assert.ok(!seqs.includes(2) && seqs.includes(1) && seqs.includes(3));
    assert.equal(ra.completion.content, 'echo: one two three four five');
    a.sub.close();

    const b = await send(user, agent, 'one two three four five #reorder');
    const rb = await finished(b.sub, agent, b.root, b.ev.id, PM());
    const order = deltasOf(rb.events, PM()).map(seqOf);
    assert.ok(order.indexOf(3) < order.indexOf(2), `published 3 before 2: ${order}`);
    assert.equal(stepText(deltasOf(rb.events, PM())), rb.completion.content);
    b.sub.close();

    const c = await send(user, agent, 'one two three four five #dup');
    const rc = await finished(c.sub, agent, c.root, c.ev.id, PM());
    const ids = deltasOf(rc.events, PM()).map(d => d.id);
    assert.ok(ids.length > new Set(ids).size, 'some delta arrived twice (same id)');
    const unique = [...new Map(deltasOf(rc.events, PM()).map(d => [d.id, d])).values()];
    assert.equal(stepText(unique), rc.completion.content);
    c.sub.close();
  });

  test('#unicode and #chunk=3: hostile text survives, deltas are cut on UTF-8 boundaries', async () => {
    const t = await send(user, agent, 'h\u00e9llo w\u00f6rld \ud83d\udc4d #unicode #chunk=3');
    const { completion, events } = await finished(t.sub, agent, t.root, t.ev.id, PM());
    const c = completion.content;
    assert.ok(c.startsWith('echo: h\u00e9llo w\u00f6rld \ud83d\udc4d\n'));
    for (const piece of ['\u202e', '\u0301', '\u2028', '\u0000', '\u001b', '\r\n', 'data: [DONE]', '\\u0041', '"double"']) {
      assert.ok(c.includes(piece), `completion contains ${JSON.stringify(piece)}`);
    }
    assert.ok(!c.includes('\ufffd'), 'no replacement characters');
    const deltas = deltasOf(events, PM());
    for (const d of deltas) {
      assert.ok(!d.content.includes('\ufffd'));
      const bytes = Buffer.byteLength(d.content, 'utf8');
      assert.ok(bytes <= 3 || [...d.content].length === 1, `chunk of ${bytes} bytes: ${JSON.stringify(d.content)}`);
    }
    assert.equal(stepText(deltas), c);
    t.sub.close();
  });

  test('#huge=100000: a reply of exactly that many bytes', async () => {
    const t = await send(user, agent, 'big #huge=100000');
    const { completion, events } = await finished(t.sub, agent, t.root, t.ev.id, PM());
    assert.equal(Buffer.byteLength(completion.content, 'utf8'), 100000);
    assert.ok(completion.content.startsWith('echo: big lorem ipsum'));
    assert.equal(stepText(deltasOf(events, PM())), completion.content);
    t.sub.close();
  });

  test('a busy agent queues the next message of the thread', async () => {
    const t = await send(user, agent, 'slow one two three four five six #slow=400');
    await until(t.sub, evs => deltasOf(evs, PM()).length > 0, 'the first delta');
    const f = await send(user, agent, 'right behind', { root: t.root });
    await logLine(agent, new RegExp(`queued pm root=${t.root.slice(0, 8)} trigger=${f.ev.id.slice(0, 8)}`));
    const r = await finished(f.sub, agent, t.root, f.ev.id, PM());
    assert.match(r.completion.content, /^echo: right behind \(turn 2; you said before: slow one/);
    assert.ok(t.sub.events.some(e => isCompletion(e, t.ev.id)), 'the first message got its own completion');
    t.sub.close();
    f.sub.close();
  });
});

// ---- stop ----------------------------------------------------------------------------------------
describe('stop (24134)', () => {
  test('ends the run at once: activity end, no completion; the next message is answered', async () => {
    const t = await send(user, agent, 'a b c d e f g h i j k l m n o p #slow=500');
    await until(t.sub, evs => deltasOf(evs, PM()).length > 0, 'the first delta');
    const stop = await user.publish({ kind: 24134, tags: [['e', t.root], ['p', PM()], ['a', agent.coord],
      ['client', 'echo-agent-test'], ['reason', 'user pressed stop']] });
    assert.equal(stop.ok, true);
    await logLine(agent, new RegExp(`stop pm root=${t.root.slice(0, 8)}: run ended`));
    await until(t.sub, evs => runEnded(evs, agent, t.root, PM()), 'the activity end');
    const f = await send(user, agent, 'go on', { root: t.root });
    const r = await finished(f.sub, agent, t.root, f.ev.id, PM());
    assert.match(r.completion.content, /^echo: go on \(turn 2/);
    assert.ok(!t.sub.events.some(e => isCompletion(e, t.ev.id)), 'the stopped run has no completion');
    const stopped = deltasOf(t.sub.events, PM()).filter(d => hasTag(d, 'e', t.ev.id, '', 'reply'));
    assert.ok(stopped.length < 16, 'the stopped run did not stream to the end');
    t.sub.close();
    f.sub.close();
  });

  test('a stop without p, or from a stranger, is ignored', async () => {
    const a = await user.publish({ kind: 24134, tags: [['e', 'cd'.repeat(32)], ['a', agent.coord]] });
    assert.equal(a.ok, true);
    // No #p → not even delivered to the agent's subscription; with p from a stranger: logged.
    const s = await relayClient(relay.url, { authKey: stranger.sk });
    const b = await s.publish({ kind: 24134, tags: [['e', 'cd'.repeat(32)], ['p', PM()]] });
    await logLine(agent, new RegExp(`ignore id=${b.id.slice(0, 8)} kind=24134 reason=author-not-whitelisted`));
    await s.close();
  });
});

// ---- other processes: --lazy, --legacy, --offline, #die ------------------------------------------
describe('modes', () => {
  test('--lazy: no 24010 and kind:1 ignored until a 24000 boot request; --status-order reversed', async () => {
    const lazy = await startAgent(relay, { owner, backend: keypair(), dtag: 'lazy',
      agents: [['pm', keypair()], ['coder', keypair()]], args: ['--lazy', '--status-order', 'reversed'] });
    const st = user.subscribe({ kinds: [24010, 24011, 24012], authors: [lazy.backend] });
    // Two heartbeats: a running project would have published its 24010 with the first one.
    await st.waitForEvents(1);
    await until(st, evs => evs.filter(e => e.kind === 24012).length >= 2, 'two heartbeats');
    assert.ok(!st.events.some(e => e.kind === 24010), 'no 24010 while not running');
    const inv = st.events.find(e => e.kind === 24011);
    assert.deepEqual(tagValues(inv, 'agent'), [lazy.agents.coder, lazy.agents.pm], 'reversed order');

    const early = await send(user, lazy, 'anyone there?');
    await logLine(lazy, new RegExp(`ignore id=${early.ev.id.slice(0, 8)} kind=1 reason=project-not-running`));
    early.sub.close();

    const boot = await user.publish({ kind: 24000, tags: [['a', lazy.coord], ['p', owner.pk], ['client', 'echo-agent-test']] });
    assert.equal(boot.ok, true);
    const status = await st.waitForEvent(e => e.kind === 24010, 'the 24010 after the boot', WAIT);
    assert.deepEqual(status.tags[0], ['a', lazy.coord]);
    assert.deepEqual(status.tags.filter(x => x[0] === 'agent').map(x => x[2]), ['coder', 'pm']);
    // The 31933 roster still has the PM first.
    const pj = user.subscribe({ kinds: [31933], authors: [owner.pk], '#d': ['lazy'] });
    const proj = await pj.waitForEvent(() => true, 'the lazy 31933', WAIT);
    assert.deepEqual(tagValues(proj, 'p'), [lazy.agents.pm, lazy.agents.coder]);

    const t = await send(user, lazy, 'now?');
    const r = await finished(t.sub, lazy, t.root, t.ev.id, lazy.agents.pm);
    assert.equal(r.completion.content, 'echo: now?');
    for (const s of [st, pj, t.sub]) s.close();
    await stopClean(lazy);
  });

  test('--legacy: 31933 agent ids, 24010 "pm" marker, 21111 chunks and a kind 1111 completion', async () => {
    const pm = keypair();
    const legacy = await startAgent(relay, { owner, backend: keypair(), dtag: 'legacy',
      agents: [['pm', pm], ['coder', keypair()]], args: ['--legacy'] });
    const pj = user.subscribe({ kinds: [31933], authors: [owner.pk], '#d': ['legacy'] });
    const proj = await pj.waitForEvent(() => true, 'the legacy 31933', WAIT);
    assert.equal(tagValues(proj, 'p').length, 0, 'no p roster');
    const ids = tagValues(proj, 'agent');
    assert.equal(ids.length, 2);
    assert.ok(ids.every(id => /^[0-9a-f]{64}$/.test(id)));
    const st = user.subscribe({ kinds: [24010], authors: [legacy.backend] });
    const status = await st.waitForEvent(() => true, 'the legacy 24010', WAIT);
    assert.deepEqual(status.tags.filter(x => x[0] === 'agent'), [['agent', pm.pk, 'pm', 'pm'],
      ['agent', legacy.agents.coder, 'coder']]);

    const t = await send(user, legacy, 'old times');
    const comp = await until(t.sub, evs => evs.find(e => e.kind === 1111 && hasTag(e, 'status', 'completed')), 'the 1111 completion');
    assert.equal(comp.pubkey, pm.pk);
    assert.equal(comp.content, 'echo: old times');
    assert.deepEqual(comp.tags.slice(0, 6), [['E', t.root], ['K', '1'], ['P', owner.pk], ['e', t.ev.id], ['p', owner.pk],
      ['status', 'completed']]);
    const chunks = t.sub.events.filter(e => e.kind === 21111);
    assert.ok(chunks.length >= 2);
    for (const ch of chunks) {
      assert.equal(ch.pubkey, pm.pk);
      assert.ok(nostrToolsVerify(ch));
      assert.deepEqual(ch.tags.slice(0, 4), [['E', t.root], ['K', '1'], ['P', owner.pk], ['e', t.ev.id]]);
      assert.ok(hasTag(ch, 'streaming', 'true'));
      assert.match(tagValues(ch, 'sequence')[0], /^\d+$/);
    }
    const text = chunks.sort((a, b) => Number(tagValues(a, 'sequence')[0]) - Number(tagValues(b, 'sequence')[0]))
      .map(c => c.content).join('');
    assert.equal(text, comp.content);
    assert.ok(!t.sub.events.some(e => e.kind === 24135), 'no 24135 in legacy mode');
    for (const s of [pj, st, t.sub]) s.close();
    await stopClean(legacy);
  });

  test('--offline: the project exists, but no backend speaks', async () => {
    const off = await startAgent(relay, { owner, backend: keypair(), dtag: 'offline', args: ['--offline'] });
    const pj = user.subscribe({ kinds: [31933], authors: [owner.pk], '#d': ['offline'] });
    await pj.waitForEvent(() => true, 'the offline 31933', WAIT);
    await stopClean(off);
    // Its backend key never published anything (stored or live events since it started).
    const st = user.subscribe({ authors: [off.backend] });
    await st.eose;
    assert.deepEqual(st.events, []);
    pj.close();
    st.close();
  });

  test('#die: the process exits abruptly mid-reply', async () => {
    const dier = await startAgent(relay, { owner, backend: keypair(), dtag: 'die', agents: [['pm', keypair()]] });
    const t = await send(user, dier, 'one two three four five six seven #die');
    const ex = await withTimeout(dier.proc.exited, WAIT, 'the #die exit');
    assert.equal(ex.code, 3);
    await until(t.sub, evs => deltasOf(evs, dier.agents.pm).length > 0, 'some deltas');
    assert.ok(!t.sub.events.some(e => isCompletion(e)), 'no completion');
    t.sub.close();
  });
});

// ---- the command line ---------------------------------------------------------------------------------
describe('command line', () => {
  test('--help documents every flag', async () => {
    const r = await spawnProcess(AGENT_BIN, ['--help']);
    assert.equal(r.code, 0);
    for (const flag of ['--relay', '--owner-nsec', '--backend-nsec', '--agent', '--whitelist', '--generate', '--project',
      '--title', '--model', '--status-interval', '--status-order', '--lazy', '--offline', '--legacy', '--chunk',
      '--delay-ms', '--log-level', '--log-json', '--help', '--version']) {
      assert.ok(r.stdout.includes(flag), `--help mentions ${flag}`);
    }
  });

  test('--generate prints export lines with valid keys', async () => {
    const r = await spawnProcess(AGENT_BIN, ['--generate', '--agent', 'pm', '--agent', 'writer']);
    assert.equal(r.code, 0);
    const owner = /^export ECHO_OWNER_NSEC=(nsec1\w+)$/m.exec(r.stdout);
    const backend = /^export ECHO_BACKEND_NSEC=(nsec1\w+)$/m.exec(r.stdout);
    const agents = /^export ECHO_AGENTS="(.*)"$/m.exec(r.stdout);
    assert.ok(owner && backend && agents, r.stdout);
    assert.equal(nip19.decode(owner[1]).type, 'nsec');
    const pairs = agents[1].split(' ').map(p => p.split('='));
    assert.deepEqual(pairs.map(p => p[0]), ['pm', 'writer']);
    for (const [, k] of pairs) assert.equal(nip19.decode(k).type, 'nsec');
  });

  test('bad flags exit 2 with a message', async () => {
    for (const args of [['--bogus'], ['--relay', 'http://x'], [], ['--relay', 'ws://127.0.0.1:1', '--agent', 'bad slug!'],
      ['--relay', 'ws://127.0.0.1:1', '--owner-nsec', 'nsec1garbage'], ['--relay', 'ws://127.0.0.1:1', '--chunk', '-1']]) {
      const r = await spawnProcess(AGENT_BIN, args, { env: { ECHO_RELAYS: '' } });
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /echo-agent: /);
    }
  });
});

// ---- last: the shared agent shuts down cleanly ---------------------------------------------------------
describe('shutdown', () => {
  test('SIGTERM: exit 0, uv_loop_close() == 0, nothing for the sanitizers', async () => {
    await stopClean(agent);
  });
});
