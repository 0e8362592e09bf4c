// Cross-check of bridge's Nostr signer and verifier against nostr-tools, through the real binary
// (env BRIDGE_BIN):
//   TENEX_NSEC=<nsec1…|hex> bridge sign [--batch]  template JSON in, signed event (one line) out
//   bridge verify [--batch]                         "valid" (exit 0) / "invalid: …" (exit 1)
//   bad input                                       one-line error on stderr, exit 2
// Random events with hostile content and tags (every plane of Unicode, emoji, combining marks,
// quotes, backslashes, '/', every control byte) go both ways: bridge signs → nostr-tools
// recomputes the id and verifies; nostr-tools signs → bridge verifies. Tampered events must be
// refused (exit 1) and malformed input must exit 2.
//
// The inputs come from a seeded PRNG; the seed is printed. Reproduce a run with
//   CROSSCHECK_SEED=<seed> node --test tests/integration/nostr_tools_crosscheck.test.mjs
// CROSSCHECK_COUNT (default 250) sets the number of random events each way. `--batch` is used when
// the binary has it (a sample still runs one process per event); CROSSCHECK_NO_BATCH=1 never uses it.
import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import {
  BRIDGE_BIN, spawnProcess, finalizeEvent, getPublicKey, getEventHash, verifyEvent, nip19, bytesToHex,
} from '../js/lib/harness.mjs';

const SEED = process.env.CROSSCHECK_SEED !== undefined
  ? Number(process.env.CROSSCHECK_SEED) >>> 0
  : (Math.random() * 2 ** 32) >>> 0;
const COUNT = Number(process.env.CROSSCHECK_COUNT || 250);
console.log(`nostr-tools cross-check: seed ${SEED} (reproduce with CROSSCHECK_SEED=${SEED}), ${COUNT} events each way, bridge = ${BRIDGE_BIN}`);

// ---- deterministic PRNG (sfc32) ------------------------------------------------------------
function makeRng(seed) {
  let a = 0x9e3779b9, b = 0x243f6a88, c = 0xb7e15162, d = seed >>> 0;
  const u32 = () => {
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = ((c << 21) | (c >>> 11)) >>> 0;
    c = (c + t) >>> 0;
    return t;
  };
  for (let i = 0; i < 32; i++) u32();
  const r = {
    u32,
    int: n => Math.floor((u32() / 2 ** 32) * n), // 0 … n-1
    range: (lo, hi) => lo + r.int(hi - lo + 1), // lo … hi
    chance: p => u32() / 2 ** 32 < p,
    pick: arr => arr[r.int(arr.length)],
    bytes: n => Uint8Array.from({ length: n }, () => r.int(256)),
  };
  return r;
}

// ---- hostile strings (valid Unicode only: no lone surrogates) ----------------------------------
const cp = String.fromCodePoint;
const CONTROLS = [...Array(0x20).keys(), 0x7f].map(c => cp(c));
const COMBINING = [[0x0300, 0x036f], [0x1ab0, 0x1aff], [0x1dc0, 0x1dff], [0x20d0, 0x20ff], [0xfe20, 0xfe2f]];
const EMOJI_SEQ = [
  '👨‍👩‍👧‍👦', '🏳️‍🌈', '👍🏽', '🇩🇪', '🇯🇵', '1️⃣', '❤️', '🧑🏿‍🚀', '😀', '🤖', '⚠️', '🫠', '👋',
];
const SPECIALS = ['"', '\\', '/', '\\"', '\\\\', '\\u0000', '\\n', '</script>', '"},{"', '\'', '`', '${x}', '%s', '\u2028', '\u2029', '\ufeff', '\ufffe', '\uffff', '\u{1fffe}', '\u{10ffff}', '\u0085', '\u00a0'];

function codePointIn(r, lo, hi) {
  for (;;) {
    const c = r.range(lo, hi);
    if (c < 0xd800 || c > 0xdfff) return c;
  }
}

function piece(r) {
  switch (r.int(12)) {
    case 0: return r.pick(CONTROLS);
    case 1: return r.pick(SPECIALS);
    case 2: return cp(r.range(0x80, 0xff)); // Latin-1 and C1 controls
    case 3: return cp(codePointIn(r, 0x100, 0xfffd)); // anywhere in the BMP
    case 4: { // a base letter with combining marks
      let s = cp(r.range(0x61, 0x7a));
      for (let n = r.range(1, 6); n > 0; n--) { const [lo, hi] = r.pick(COMBINING); s += cp(r.range(lo, hi)); }
      return s;
    }
    case 5: return cp(r.range(0x1f300, 0x1faff)); // emoji blocks
    case 6: return r.pick(EMOJI_SEQ);
    case 7: return cp(r.range(0x10000, 0x10ffff)); // any supplementary plane (1–16)
    case 8: return cp(r.pick([r.range(0x0590, 0x08ff), r.range(0x202a, 0x202e), r.range(0x2066, 0x2069)])); // RTL, bidi controls
    case 9: return cp(r.pick([r.range(0x4e00, 0x9fff), r.range(0x20000, 0x2a6df), r.range(0xac00, 0xd7a3)])); // CJK, Hangul
    default: { // plain ASCII words
      let s = '';
      for (let n = r.range(1, 12); n > 0; n--) s += cp(r.range(0x20, 0x7e));
      return s;
    }
  }
}

function hostileString(r, maxPieces = 60) {
  const mode = r.int(20);
  if (mode === 0) return '';
  if (mode === 1) { // a lone long string: one hostile character repeated
    const ch = r.pick([...CONTROLS, '\\', '"', '/', 'a', '😀', '\u0301', '\u{10ffff}', 'é']);
    return ch.repeat(r.range(1000, 30000));
  }
  if (mode === 2) { // a long mixed string
    let s = '';
    for (let n = r.range(500, 3000); n > 0; n--) s += piece(r);
    return s;
  }
  let s = '';
  for (let n = r.range(1, maxPieces); n > 0; n--) s += piece(r);
  return s;
}

const TAG_NAMES = ['e', 'p', 'a', 'E', 'P', 'K', 't', 'd', 'client', 'delegation', 'stream-seq', 'llm-ral', 'title', 'question', 'tool-args'];
function hostileTags(r) {
  const tags = [];
  for (let n = r.pick([0, 0, 1, 2, 3, 5, 8]); n > 0; n--) {
    const tag = [r.chance(0.7) ? r.pick(TAG_NAMES) : hostileString(r, 4)];
    for (let m = r.range(0, 4); m > 0; m--) {
      tag.push(r.chance(0.3) ? bytesToHex(r.bytes(32)) : hostileString(r, 12));
    }
    tags.push(tag); // never an empty tag array: bridge rejects those
  }
  return tags;
}

function hostileTemplate(r, { allowNoCreatedAt = true } = {}) {
  const kind = r.pick([0, 1, 1, 1, 7, 1111, 22242, 24010, 24133, 24134, 24135, 31933, 65535, r.range(0, 65535)]);
  const tpl = { kind, content: hostileString(r), tags: hostileTags(r) };
  // Stay inside bridge's documented event limit (512 KiB of JSON text) in every encoding used
  // below: several long escaped strings (a control byte is 6 bytes on the wire) can pass it.
  while (tpl.tags.length > 0 && toAsciiJson(tpl).length > 384 * 1024) tpl.tags.pop();
  const when = r.int(12);
  if (when === 0 && allowNoCreatedAt) return tpl; // bridge fills in now
  tpl.created_at = when === 1 ? 0 : when === 2 ? r.pick([2 ** 31 - 1, 2 ** 32 - 1, 2 ** 53 - 1]) : r.range(1e9, 2e9);
  return tpl;
}

// Different but equivalent JSON texts for the same object: bridge must decode them all alike.
function toAsciiJson(obj) { // every non-ASCII character (and DEL) as \uXXXX, astral ones as surrogate pairs
  return JSON.stringify(obj).replace(/[\u007f-\uffff]/g, c => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
function encodeJson(r, obj, { oneLine = false } = {}) {
  switch (r.int(oneLine ? 3 : 5)) {
    case 0: return toAsciiJson(obj);
    case 1: return JSON.stringify(obj).replace(/\//g, '\\/'); // escaped solidus
    case 3: return JSON.stringify(obj, null, 2); // pretty, multi-line
    case 4: { // shuffled keys and spaces
      const keys = Object.keys(obj);
      for (let i = keys.length - 1; i > 0; i--) { const j = r.int(i + 1); [keys[i], keys[j]] = [keys[j], keys[i]]; }
      return ` { ${keys.map(k => `${JSON.stringify(k)} : ${JSON.stringify(obj[k])}`).join(' ,\n ')} } \n`;
    }
    default: return JSON.stringify(obj);
  }
}

// ---- running the binary ------------------------------------------------------------------------
async function pool(items, limit, fn) {
  const results = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) { const i = next++; results[i] = await fn(items[i], i); }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
const CONCURRENCY = 4;
const bridge = (args, input, env = {}) => spawnProcess(BRIDGE_BIN, args, { input, env, timeoutMs: 60000 });
const EVENT_KEYS = ['content', 'created_at', 'id', 'kind', 'pubkey', 'sig', 'tags'];
const fresh = ev => JSON.parse(JSON.stringify(ev)); // nostr-tools caches its verdict on the object
const ctx = (i, what) => `[seed ${SEED}, ${what} #${i}]`;

/** Checks one line printed by `bridge sign` against its template; returns the event. */
function checkSigned(line, tpl, pubkey, where) {
  assert.ok(!line.includes('\n'), `${where} the signed event must be one line`);
  let ev;
  try { ev = JSON.parse(line); } catch (e) { assert.fail(`${where} bridge sign printed invalid JSON (${e.message}): ${line.slice(0, 300)}`); }
  assert.deepEqual(Object.keys(ev).sort(), EVENT_KEYS, `${where} event fields`);
  assert.equal(ev.pubkey, pubkey, `${where} pubkey`);
  assert.equal(ev.kind, tpl.kind, `${where} kind`);
  assert.equal(ev.content, tpl.content, `${where} content round trip`);
  assert.deepEqual(ev.tags, tpl.tags, `${where} tags round trip`);
  if (tpl.created_at !== undefined) {
    assert.equal(ev.created_at, tpl.created_at, `${where} created_at`);
  } else {
    assert.ok(Number.isInteger(ev.created_at) && Math.abs(ev.created_at - Date.now() / 1000) < 86400, `${where} created_at defaults to now, got ${ev.created_at}`);
  }
  assert.match(ev.id, /^[0-9a-f]{64}$/, `${where} id is 64 lowercase hex`);
  assert.match(ev.sig, /^[0-9a-f]{128}$/, `${where} sig is 128 lowercase hex`);
  assert.equal(getEventHash(fresh(ev)), ev.id, `${where} nostr-tools getEventHash must equal bridge's id`);
  assert.equal(verifyEvent(fresh(ev)), true, `${where} nostr-tools verifyEvent`);
  return ev;
}

let batchSign = false;
let batchVerify = false;

describe('bridge sign/verify cross-checked with nostr-tools', { timeout: 600000 }, () => {
  before(async () => {
    assert.ok(existsSync(BRIDGE_BIN), `the bridge binary is missing: ${BRIDGE_BIN} (set BRIDGE_BIN)`);
    if (process.env.CROSSCHECK_NO_BATCH === '1') return; // one process per event
    const sk = bytesToHex(makeRng(1).bytes(32));
    const probe = await bridge(['sign', '--batch'], '{"kind":1,"content":"a","tags":[]}\n{"kind":1,"content":"b","tags":[]}\n', { TENEX_NSEC: sk });
    const lines = probe.stdout.split('\n').filter(Boolean);
    batchSign = probe.code === 0 && lines.length === 2 && lines.every(l => { try { return JSON.parse(l).id; } catch { return false; } });
    if (batchSign) {
      const v = await bridge(['verify', '--batch'], `${lines.join('\n')}\n`);
      batchVerify = v.code === 0 && v.stdout.split('\n').filter(Boolean).length === 2;
    }
    console.log(`batch mode: sign ${batchSign ? 'yes' : 'no'}, verify ${batchVerify ? 'yes' : 'no'}`);
  });

  test(`bridge sign: ${COUNT} hostile events verify with nostr-tools (id recomputed, signature checked)`, async () => {
    const r = makeRng(SEED);
    const keys = [r.bytes(32), r.bytes(32)];
    // One key given as hex, the other as nsec1… (NIP-19).
    const keyEnv = [bytesToHex(keys[0]), nip19.nsecEncode(keys[1])];
    const pubkeys = keys.map(k => getPublicKey(k));
    const templates = Array.from({ length: COUNT }, () => hostileTemplate(r));
    const inputs = templates.map(t => encodeJson(r, t, { oneLine: true }));

    // The single-event mode on a sample (all of them without --batch), with multi-line JSON too.
    const singles = batchSign ? templates.slice(0, 30) : templates;
    await pool(singles, CONCURRENCY, async (tpl, i) => {
      const k = i % 2;
      const res = await bridge(['sign'], encodeJson(r, tpl), { TENEX_NSEC: keyEnv[k] });
      const where = ctx(i, 'sign');
      assert.equal(res.code, 0, `${where} exit status; stderr: ${res.stderr}`);
      assert.ok(res.stdout.endsWith('\n') && res.stdout.indexOf('\n') === res.stdout.length - 1, `${where} exactly one line on stdout`);
      assert.equal(Buffer.from(res.stdout, 'utf8').equals(res.stdoutBuf), true, `${where} output is valid UTF-8`);
      checkSigned(res.stdout.slice(0, -1), tpl, pubkeys[k], where);
    });

    if (batchSign) {
      for (const k of [0, 1]) {
        const idx = templates.map((_, i) => i).filter(i => i % 2 === k);
        const res = await bridge(['sign', '--batch'], `${idx.map(i => inputs[i]).join('\n')}\n`, { TENEX_NSEC: keyEnv[k] });
        assert.equal(res.code, 0, `[seed ${SEED}] sign --batch exit status; stderr: ${res.stderr}`);
        assert.equal(Buffer.from(res.stdout, 'utf8').equals(res.stdoutBuf), true, `[seed ${SEED}] batch output is valid UTF-8`);
        const lines = res.stdout.split('\n');
        assert.equal(lines.pop(), '', 'batch output ends with a newline');
        assert.equal(lines.length, idx.length, 'one output line per input line');
        idx.forEach((i, j) => checkSigned(lines[j], templates[i], pubkeys[k], ctx(i, 'sign --batch')));
      }
    }
  });

  test(`bridge verify: ${COUNT} hostile events signed by nostr-tools are valid`, async () => {
    const r = makeRng(SEED ^ 0x5eed);
    const events = Array.from({ length: COUNT }, () => fresh(finalizeEvent(hostileTemplate(r, { allowNoCreatedAt: false }), r.bytes(32))));

    const singles = batchVerify ? events.slice(0, 40) : events;
    await pool(singles, CONCURRENCY, async (ev, i) => {
      const res = await bridge(['verify'], encodeJson(r, ev));
      assert.equal(res.code, 0, `${ctx(i, 'verify')} exit status; stdout: ${res.stdout} stderr: ${res.stderr}; event: ${JSON.stringify(ev).slice(0, 500)}`);
      assert.equal(res.stdout.trim(), 'valid', ctx(i, 'verify'));
    });

    if (batchVerify) {
      const res = await bridge(['verify', '--batch'], `${events.map(ev => encodeJson(r, ev, { oneLine: true })).join('\n')}\n`);
      const lines = res.stdout.split('\n').filter(Boolean);
      assert.equal(lines.length, events.length, 'one verdict per event');
      lines.forEach((l, i) => assert.equal(l, 'valid', `${ctx(i, 'verify --batch')} event: ${JSON.stringify(events[i]).slice(0, 500)}`));
      assert.equal(res.code, 0, `verify --batch exit status; stderr: ${res.stderr}`);
    }
  });

  test('bridge verify: tampered events are invalid (exit 1)', async () => {
    const r = makeRng(SEED ^ 0x7a3b);
    const otherKey = r.bytes(32);
    const tamper = {
      'content changed': ev => { // the last code point replaced (never split a surrogate pair)
        const cps = Array.from(ev.content);
        const last = cps.pop();
        ev.content = cps.join('') + (last === 'x' ? 'y' : 'x');
      },
      'tag changed': ev => {
        if (ev.tags.length && ev.tags[0].length > 1) ev.tags[0][1] += '!';
        else ev.tags.push(['t', 'added']);
      },
      'tag added': ev => { ev.tags.push(['p', getPublicKey(otherKey)]); },
      'kind changed': ev => { ev.kind = ev.kind === 1 ? 2 : 1; },
      'created_at changed': ev => { ev.created_at += ev.created_at > 0 ? -1 : 1; },
      'sig byte flipped': ev => {
        const i = r.int(64) * 2;
        const byte = (parseInt(ev.sig.slice(i, i + 2), 16) ^ (1 << r.int(8))).toString(16).padStart(2, '0');
        ev.sig = ev.sig.slice(0, i) + byte + ev.sig.slice(i + 2);
      },
      'id changed': ev => { ev.id = bytesToHex(r.bytes(32)); },
      'content changed, id recomputed': ev => { ev.content += ' (edited)'; ev.id = getEventHash(ev); },
      'pubkey changed, id recomputed': ev => { ev.pubkey = getPublicKey(otherKey); ev.id = getEventHash(ev); },
      'signature of another event': ev => { ev.sig = finalizeEvent({ kind: 1, created_at: 1, tags: [], content: 'other' }, otherKey).sig; ev.pubkey = getPublicKey(otherKey); ev.id = getEventHash(ev); },
    };
    const cases = [];
    for (const [what, fn] of Object.entries(tamper)) {
      for (let n = 0; n < 20; n++) {
        const ev = fresh(finalizeEvent(hostileTemplate(r, { allowNoCreatedAt: false }), r.bytes(32)));
        fn(ev);
        assert.equal(verifyEvent(fresh(ev)), false, `nostr-tools must refuse it too (${what})`);
        cases.push({ what, ev });
      }
    }
    await pool(cases, CONCURRENCY, async ({ what, ev }, i) => {
      const res = await bridge(['verify'], JSON.stringify(ev));
      assert.equal(res.code, 1, `${ctx(i, what)} exit status; stdout: ${res.stdout} stderr: ${res.stderr}`);
      assert.match(`${res.stdout}${res.stderr}`, /invalid/, `${ctx(i, what)} says why`);
    });
    if (batchVerify) {
      const res = await bridge(['verify', '--batch'], cases.map(c => JSON.stringify(c.ev)).join('\n'));
      const lines = res.stdout.split('\n').filter(Boolean);
      assert.equal(lines.length, cases.length);
      lines.forEach((l, i) => assert.match(l, /^invalid/, ctx(i, `verify --batch, ${cases[i].what}`)));
      assert.equal(res.code, 1);
    }
  });

  test('bridge sign: malformed input exits 2 with a one-line error', async () => {
    const key = bytesToHex(makeRng(SEED).bytes(32));
    const ok = '{"kind":1,"content":"x","tags":[]}';
    const bad = {
      'empty input': '',
      'not JSON': 'hello',
      'truncated JSON': '{"kind":1,"content":"x"',
      'trailing garbage': `${ok} xyz`,
      'two objects': `${ok}${ok}`,
      'an array': '[1,"x",[]]',
      'a string': '"x"',
      'null': 'null',
      'missing kind': '{"content":"x","tags":[]}',
      'missing content': '{"kind":1,"tags":[]}',
      'kind as string': '{"kind":"1","content":"x","tags":[]}',
      'negative kind': '{"kind":-1,"content":"x","tags":[]}',
      'fractional kind': '{"kind":1.5,"content":"x","tags":[]}',
      'kind above 65535': '{"kind":65536,"content":"x","tags":[]}',
      'content as number': '{"kind":1,"content":5,"tags":[]}',
      'content as null': '{"kind":1,"content":null,"tags":[]}',
      'tags as string': '{"kind":1,"content":"x","tags":"e"}',
      'tags of strings': '{"kind":1,"content":"x","tags":["e","f"]}',
      'tag item a number': '{"kind":1,"content":"x","tags":[["e",1]]}',
      'tag item null': '{"kind":1,"content":"x","tags":[["e",null]]}',
      'created_at as string': '{"kind":1,"content":"x","tags":[],"created_at":"now"}',
      'negative created_at': '{"kind":1,"content":"x","tags":[],"created_at":-5}',
      'fractional created_at': '{"kind":1,"content":"x","tags":[],"created_at":1.5}',
      'raw newline inside a string': '{"kind":1,"content":"a\nb","tags":[]}',
      'raw tab inside a string': '{"kind":1,"content":"a\tb","tags":[]}',
      'bad escape': '{"kind":1,"content":"\\x41","tags":[]}',
      'short \\u escape': '{"kind":1,"content":"\\u12","tags":[]}',
      'lone high surrogate': '{"kind":1,"content":"\\ud800","tags":[]}',
      'lone low surrogate': '{"kind":1,"content":"a\\udc00b","tags":[]}',
      'high surrogate then letter': '{"kind":1,"content":"\\ud83dx","tags":[]}',
      'lone surrogate in a tag': '{"kind":1,"content":"x","tags":[["t","\\udfff"]]}',
      'invalid UTF-8 byte 0xff': Buffer.concat([Buffer.from('{"kind":1,"content":"a'), Buffer.from([0xff]), Buffer.from('","tags":[]}')]),
      'overlong UTF-8 /': Buffer.concat([Buffer.from('{"kind":1,"content":"'), Buffer.from([0xc0, 0xaf]), Buffer.from('","tags":[]}')]),
      'lone continuation byte': Buffer.concat([Buffer.from('{"kind":1,"content":"'), Buffer.from([0x80]), Buffer.from('","tags":[]}')]),
      'UTF-8 encoded surrogate': Buffer.concat([Buffer.from('{"kind":1,"content":"'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('","tags":[]}')]),
      'truncated UTF-8 sequence': Buffer.concat([Buffer.from('{"kind":1,"content":"'), Buffer.from([0xf0, 0x9f, 0x98]), Buffer.from('","tags":[]}')]),
      'code point above U+10FFFF': Buffer.concat([Buffer.from('{"kind":1,"content":"'), Buffer.from([0xf4, 0x90, 0x80, 0x80]), Buffer.from('","tags":[]}')]),
      'NUL byte outside strings': Buffer.from(`${ok}\0`),
    };
    const cases = Object.entries(bad).map(([what, input]) => ({ what, input, env: { TENEX_NSEC: key } }));
    // Bad keys are bad usage too.
    for (const [what, nsec] of Object.entries({
      'no key': undefined,
      'empty key': '',
      'key of 63 hex digits': key.slice(1),
      'key not hex': 'z'.repeat(64),
      'zero key': '0'.repeat(64),
      'key above the curve order': 'f'.repeat(64),
      'nsec with a bad checksum': nip19.nsecEncode(makeRng(2).bytes(32)).slice(0, -1) + 'q',
      'npub instead of nsec': nip19.npubEncode(getPublicKey(makeRng(3).bytes(32))),
    })) {
      cases.push({ what, input: ok, env: { TENEX_NSEC: nsec } });
    }
    await pool(cases, CONCURRENCY, async ({ what, input, env }) => {
      // TENEX_NSEC undefined: run with the variable removed from the environment.
      const res = env.TENEX_NSEC === undefined
        ? await spawnProcess('/usr/bin/env', ['-u', 'TENEX_NSEC', BRIDGE_BIN, 'sign'], { input, timeoutMs: 60000 })
        : await bridge(['sign'], input, env);
      assert.equal(res.code, 2, `sign (${what}): exit status; stdout: ${res.stdout.slice(0, 300)} stderr: ${res.stderr}`);
      assert.equal(res.stdout, '', `sign (${what}): nothing on stdout`);
      const err = res.stderr.replace(/\n$/, '');
      assert.ok(err.length > 0 && !err.includes('\n'), `sign (${what}): one line on stderr, got ${JSON.stringify(res.stderr)}`);
    });
  });

  test('bridge verify: malformed input exits 2', async () => {
    const ev = fresh(finalizeEvent({ kind: 1, created_at: 1700000000, tags: [['t', 'x']], content: 'hi' }, makeRng(SEED).bytes(32)));
    const j = JSON.stringify(ev);
    const without = k => { const o = { ...ev }; delete o[k]; return JSON.stringify(o); };
    const withField = (k, v) => JSON.stringify({ ...ev, [k]: v });
    const bad = {
      'empty input': '',
      'not JSON': 'valid',
      'truncated JSON': j.slice(0, -5),
      'trailing garbage': `${j} x`,
      'an array': JSON.stringify([ev]),
      'a number': '42',
      'an empty object': '{}',
      'raw newline inside content': j.replace('"hi"', '"h\ni"'),
      'invalid UTF-8': Buffer.concat([Buffer.from(j.slice(0, j.indexOf('"hi"') + 1)), Buffer.from([0xfe]), Buffer.from(j.slice(j.indexOf('"hi"') + 1))]),
    };
    for (const k of EVENT_KEYS) bad[`missing ${k}`] = without(k);
    Object.assign(bad, {
      'id as number': withField('id', 5),
      'pubkey as null': withField('pubkey', null),
      'created_at as string': withField('created_at', '1700000000'),
      'kind as string': withField('kind', '1'),
      'tags as object': withField('tags', {}),
      'tag item as number': withField('tags', [['t', 1]]),
      'content as array': withField('content', ['hi']),
      'sig as bool': withField('sig', true),
    });
    // Shapes a verifier may call malformed (2) or invalid (1), but never valid.
    const notValid = {
      'id of 63 hex digits': withField('id', ev.id.slice(1)),
      'id in upper case': withField('id', ev.id.toUpperCase()),
      'pubkey not hex': withField('pubkey', 'g'.repeat(64)),
      'sig too short': withField('sig', ev.sig.slice(2)),
      'lone surrogate in content': j.replace('"hi"', '"h\\ud800i"'),
      'negative kind': withField('kind', -1),
    };
    await pool(Object.entries(bad), CONCURRENCY, async ([what, input]) => {
      const res = await bridge(['verify'], input);
      assert.equal(res.code, 2, `verify (${what}): exit status; stdout: ${res.stdout} stderr: ${res.stderr}`);
      assert.notEqual(res.stdout.trim(), 'valid', `verify (${what})`);
    });
    await pool(Object.entries(notValid), CONCURRENCY, async ([what, input]) => {
      const res = await bridge(['verify'], input);
      assert.ok(res.code === 1 || res.code === 2, `verify (${what}): exit status ${res.code}; stdout: ${res.stdout} stderr: ${res.stderr}`);
      assert.notEqual(res.stdout.trim(), 'valid', `verify (${what})`);
    });
  });
});
