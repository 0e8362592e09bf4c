// The command line as a user meets it: help, version, keygen, pubkey, exit statuses, and the
// user guide documenting every flag --help prints.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SRC = process.env.BRIDGE_SOURCE_DIR ?? new URL('../..', import.meta.url).pathname;
const BIN = process.env.BRIDGE_BIN ?? join(SRC, 'build/bridge');

function run(args, { env = {}, input = '' } = {}) {
  const r = spawnSync(BIN, args, { input, env: { PATH: process.env.PATH, ...env }, encoding: 'utf8' });
  if (r.error) throw r.error;
  return { code: r.status, out: r.stdout, err: r.stderr };
}

// NIP-19's published example key pair.
const NSEC = 'nsec1vl029mgpspedva04g90vltkh6fvh240zqtv9k0t9af8935ke9laqsnlfe5';
const SEC_HEX = '67dea2ed018072d675f5415ecfaed7d2597555e202d85b3d65ea4e58d2d92ffa';
const NPUB = 'npub10elfcs4fr0l0r8af98jlmgdh9c8tcxjvz9qkw038js35mp4dma8qzvjptg';
const PUB_HEX = '7e7e9c42a91bfef19fa929e5fda1b72e0ebc1a4c1141673e2794234d86addf4e';

test('--help lists the commands and exits 0', () => {
  const r = run(['--help']);
  assert.equal(r.code, 0);
  for (const c of ['keygen', 'pubkey', 'sign', 'verify', '--version', 'TENEX_NSEC', '--nsec-file'])
    assert.match(r.out, new RegExp(c.replace(/-/g, '\\-')));
});

test('--version prints the version', () => {
  const r = run(['--version']);
  assert.equal(r.code, 0);
  assert.match(r.out, /^bridge \d+\.\d+\.\d+\n$/);
});

test('no arguments and unknown commands are usage errors (exit 2, one line)', () => {
  assert.equal(run([]).code, 2);
  const r = run(['frobnicate']);
  assert.equal(r.code, 2);
  assert.match(r.err, /unknown command or option 'frobnicate'/);
  assert.equal(r.err.trim().split('\n').length, 1);
});

test('keygen prints a usable fresh key each time', () => {
  const a = run(['keygen']), b = run(['keygen']);
  assert.equal(a.code, 0);
  const nsec = a.out.match(/^nsec: (nsec1[02-9ac-hj-np-z]{58})$/m)[1];
  const npub = a.out.match(/^npub: (npub1[02-9ac-hj-np-z]{58})$/m)[1];
  const hex = a.out.match(/^hex:  ([0-9a-f]{64})$/m)[1];
  assert.notEqual(a.out, b.out);
  const p = run(['pubkey'], { env: { TENEX_NSEC: nsec } });
  assert.equal(p.code, 0);
  assert.equal(p.out, `npub: ${npub}\nhex:  ${hex}\n`);
});

test('pubkey: nsec and hex forms give the NIP-19 example public key', () => {
  for (const k of [NSEC, SEC_HEX, `  ${NSEC}\n`]) {
    const r = run(['pubkey'], { env: { TENEX_NSEC: k } });
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, `npub: ${NPUB}\nhex:  ${PUB_HEX}\n`);
  }
});

test('pubkey: missing or bad key is exit 2 and never echoes the secret', () => {
  let r = run(['pubkey']);
  assert.equal(r.code, 2);
  assert.match(r.err, /TENEX_NSEC/);
  const bad = SEC_HEX.slice(0, 63) + 'x';
  r = run(['pubkey'], { env: { TENEX_NSEC: bad } });
  assert.equal(r.code, 2);
  assert.ok(!r.err.includes(bad.slice(0, 20)), 'secret material in error output');
  const badNsec = NSEC.slice(0, -1) + (NSEC.endsWith('5') ? '6' : '5');
  r = run(['pubkey'], { env: { TENEX_NSEC: badNsec } });
  assert.equal(r.code, 2);
  assert.ok(!r.err.includes(badNsec.slice(5, 25)), 'secret material in error output');
});

test('--nsec-file: owner-only file accepted, group/other-readable refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bridge-cli-'));
  const f = join(dir, 'key');
  writeFileSync(f, NSEC + '\n');
  chmodSync(f, 0o600);
  let r = run(['pubkey', '--nsec-file', f]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, new RegExp(NPUB));
  chmodSync(f, 0o644);
  r = run(['pubkey', '--nsec-file', f]);
  assert.equal(r.code, 2);
  assert.match(r.err, /readable by other users/);
  r = run(['pubkey', '--nsec-file', join(dir, 'missing')]);
  assert.equal(r.code, 2);
});

test('sign: each bad template gets a one-line error naming the problem (exit 2)', () => {
  const env = { TENEX_NSEC: NSEC };
  const cases = [
    ['', /not valid JSON/],
    ['{"kind":1,"content":"x"} trailing', /not valid JSON/],
    ['[1,2]', /must be a JSON object/],
    ['{"content":"x"}', /missing "kind"/],
    ['{"kind":1}', /missing "content"/],
    ['{"kind":70000,"content":"x"}', /"kind" must be an integer/],
    ['{"kind":1.5,"content":"x"}', /"kind" must be an integer/],
    ['{"kind":1,"content":5}', /"content" must be a string/],
    ['{"kind":1,"content":"x","tags":{}}', /"tags" must be an array/],
    ['{"kind":1,"content":"x","tags":[[]]}', /non-empty array/],
    ['{"kind":1,"content":"x","tags":[["e",1]]}', /tag items must be strings/],
    ['{"kind":1,"content":"x","created_at":-5}', /"created_at"/],
    ['{"kind":1,"content":"x","contnet":"y"}', /unknown field "contnet"/],
  ];
  for (const [input, re] of cases) {
    const r = run(['sign'], { env, input });
    assert.equal(r.code, 2, `input ${input}`);
    assert.match(r.err, re, `input ${input}`);
    assert.equal(r.err.trim().split('\n').length, 1);
    assert.equal(r.out, '');
  }
});

test('sign then verify; verify rejects tampering (exit 1) and garbage (exit 2)', () => {
  const s = run(['sign'], { env: { TENEX_NSEC: NSEC }, input: '{"kind":1,"content":"hi","tags":[["t","x"]],"created_at":1700000000}' });
  assert.equal(s.code, 0, s.err);
  const ev = JSON.parse(s.out);
  assert.equal(ev.pubkey, PUB_HEX);
  assert.equal(ev.created_at, 1700000000);
  assert.equal(run(['verify'], { input: s.out }).out, 'valid\n');
  const t = run(['verify'], { input: JSON.stringify({ ...ev, content: 'ho' }) });
  assert.equal(t.code, 1);
  assert.match(t.out, /^invalid: /);
  const sig = ev.sig.slice(0, 10) + (ev.sig[10] === '0' ? '1' : '0') + ev.sig.slice(11);
  const u = run(['verify'], { input: JSON.stringify({ ...ev, sig }) });
  assert.equal(u.code, 1);
  assert.match(u.out, /signature/);
  assert.equal(run(['verify'], { input: '{"id":1}' }).code, 2);
});

test('batch mode: one line in, one line out', () => {
  const lines = ['{"kind":1,"content":"a"}', '{"kind":7,"content":"+","tags":[["e","00"]]}'].join('\n');
  const s = run(['sign', '--batch'], { env: { TENEX_NSEC: NSEC }, input: lines + '\n' });
  assert.equal(s.code, 0, s.err);
  const evs = s.out.trim().split('\n');
  assert.equal(evs.length, 2);
  const broken = JSON.stringify({ ...JSON.parse(evs[1]), kind: 8 });
  const v = run(['verify', '--batch'], { input: [evs[0], broken, 'nope', evs[1]].join('\n') });
  assert.equal(v.code, 2);
  assert.deepEqual(v.out.trim().split('\n').map((l) => l.split(':')[0]), ['valid', 'invalid', 'error', 'valid']);
});

test('the user guide documents every flag and command --help prints', () => {
  const help = run(['--help']).out;
  const guide = readFileSync(join(SRC, 'docs/guide.md'), 'utf8');
  const flags = new Set(help.match(/--[a-z][a-z0-9-]*/g));
  const commands = new Set([...help.matchAll(/^  bridge ([a-z]+)/gm)].map((m) => m[1]));
  for (const f of flags) assert.ok(guide.includes(f), `docs/guide.md does not mention ${f}`);
  for (const c of commands) assert.ok(guide.includes(`bridge ${c}`), `docs/guide.md does not mention bridge ${c}`);
  assert.ok(guide.includes('TENEX_NSEC'));
});

test('--server: bad values of the newer flags are usage errors naming the flag (exit 2)', () => {
  const key = 'a'.repeat(63) + '1';
  for (const [flag, value] of [['--max-frame', '100'], ['--max-frame', '1G'], ['--max-ws-threads', '0'], ['--ws-idle-timeout', 'x']]) {
    const r = run(['--server', flag, value, '--state', ':memory:'], { env: { TENEX_NSEC: key } });
    assert.equal(r.code, 2, `${flag} ${value}`);
    assert.ok(r.err.includes(flag), r.err);
  }
});
