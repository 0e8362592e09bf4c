#!/usr/bin/env node
// bench_bridge_jsrelay.mjs — how the test relay (tests/js/relay.mjs: @nostr-relay/core + ws, the
// relay the integration tests use) would weigh in an end-to-end benchmark: the relay-only path
// publisher → relay → subscriber for the same 24135 deltas bench_bridge_load sends, and how many
// of them per second it forwards. It explains why bench_bridge_load plays the relay itself.
//
//   node bench/bench_bridge_jsrelay.mjs --bridge build-bench/bridge [--relay-cpu 0] [--events 5000] [--paced 300]
//
// The deltas are signed beforehand by `bridge sign --batch`; the relay runs pinned to --relay-cpu
// (taskset), this script should run on the other CPU (bench_bridge.sh does that). Prints one
// "result scenario=jsrelay …" line of key=value figures.
import { spawn, execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '..', 'tests', 'js', 'package.json'));
const { WebSocket } = require('ws');

const { values: a } = parseArgs({
  options: {
    bridge: { type: 'string' },
    'relay-cpu': { type: 'string', default: '0' },
    events: { type: 'string', default: '5000' },
    paced: { type: 'string', default: '300' },
  },
});
if (!a.bridge) { console.error('usage: bench_bridge_jsrelay.mjs --bridge PATH [--relay-cpu C] [--events N]'); process.exit(2); }
const N = Number(a.events), PACED = Number(a.paced);

// ---- sign the deltas (the same shape as bench_bridge_load's: 6 tags, ~100 bytes of content) --
const hex = n => randomBytes(n).toString('hex');
const root = hex(32), coord = `31933:${hex(32)}:bench`;
const now = Math.floor(Date.now() / 1000);
const filler = 'the quick brown fox jumps over the lazy dog, and then some more words. '.repeat(3);
const lines = [];
for (let i = 1; i <= N + PACED; i++) {
  const content = (`B0.${i}| ` + filler).slice(0, 100);
  lines.push(JSON.stringify({ kind: 24135, created_at: now, content,
    tags: [['e', root, '', 'root'], ['e', root, '', 'reply'], ['a', coord], ['llm-model', 'bench-model'],
      ['llm-ral', '1'], ['stream-seq', String(i)]] }));
}
const signed = execFileSync(a.bridge, ['sign', '--batch'], {
  input: lines.join('\n') + '\n', env: { ...process.env, TENEX_NSEC: hex(32) }, maxBuffer: 1 << 30,
}).toString().trim().split('\n');
const frames = signed.map(l => `["EVENT",${l}]`);
const seqOf = s => Number(/"content":"B0\.(\d+)\|/.exec(s)[1]);

// ---- the relay, pinned ----------------------------------------------------------------------
const relay = spawn('taskset', ['-c', a['relay-cpu'], 'node', path.join(here, '..', 'tests', 'js', 'relay.mjs'),
  '--port', '0', '--die-with-parent'], { stdio: ['pipe', 'pipe', 'inherit'] });
const url = await new Promise((resolve, reject) => {
  let buf = '';
  relay.stdout.on('data', d => { buf += d; const m = /READY (\S+)/.exec(buf); if (m) resolve(m[1]); });
  relay.on('exit', c => reject(new Error(`relay exited ${c}`)));
});
const open = u => new Promise(r => { const w = new WebSocket(u); w.on('open', () => r(w)); });
const sub = await open(url), pub = await open(url);

const sentAt = new Float64Array(N + PACED + 2), lat = [];
let delivered = 0, onDelivered = null;
sub.on('message', d => {
  const t = performance.now();
  const s = d.toString();
  if (s.startsWith('["EOSE"')) { onDelivered?.('eose'); return; }
  if (!s.startsWith('["EVENT"')) return;
  const q = seqOf(s);
  if (sentAt[q]) lat.push(t - sentAt[q]);
  delivered++;
  onDelivered?.(q);
});
await new Promise(r => { onDelivered = x => { if (x === 'eose') r(); }; sub.send(JSON.stringify(['REQ', 's', { kinds: [24135], '#e': [root] }])); });
let oks = 0, okFalse = 0, onOk = null;
pub.on('message', d => { const s = d.toString(); if (s.startsWith('["OK"')) { oks++; if (s.includes(',false,')) okFalse++; onOk?.(); } });

// What other processes did meanwhile (CPU seconds per second), as bench_bridge_load reports it.
const HZ = 100;
const machineBusy = () => { const v = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1, 9).map(Number);
  return (v.reduce((x, y) => x + y, 0) - v[3] - v[4]) / HZ; };
const cpuOf = pid => { try { const f = readFileSync(`/proc/${pid}/stat`, 'utf8'); const r = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(r[11]) + Number(r[12])) / HZ; } catch { return 0; } };
const selfCpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };
const m0 = machineBusy(), r0 = cpuOf(relay.pid), s0 = selfCpu(), w0 = performance.now();

// ---- 1: paced, one at a time every 20 ms: the relay-only latency publisher write → subscriber read
for (let i = 0; i < PACED; i++) {
  await new Promise(r => setTimeout(r, 20));
  const q = N + 1 + i;
  await new Promise(r => { onDelivered = x => { if (x === q) r(); }; sentAt[q] = performance.now(); pub.send(frames[q - 1]); });
}
const paced = lat.splice(0).sort((x, y) => x - y);

// ---- 2: flood with up to 500 unanswered EVENTs: events forwarded per second ----------------
delivered = 0;
const t0 = performance.now();
await new Promise(resolve => {
  let next = 0;
  const pump = () => { while (next < N && next - oks < 500) { const q = next + 1; sentAt[q] = performance.now(); pub.send(frames[next++]); } };
  onOk = pump;
  onDelivered = () => { if (delivered >= N) resolve(); };
  oks = 0;
  pump();
});
const secs = (performance.now() - t0) / 1000;
const wall = (performance.now() - w0) / 1000;
const others = Math.max(0, (machineBusy() - m0) - (cpuOf(relay.pid) - r0) - (selfCpu() - s0));
const pct = (v, p) => v.length ? v[Math.min(v.length - 1, Math.floor(p * v.length))] * 1000 : 0;
console.log(`result scenario=jsrelay others_cpu_pct=${(100 * others / wall).toFixed(0)} paced_events=${paced.length} relay_p50_us=${pct(paced, 0.5).toFixed(0)} relay_p99_us=${pct(paced, 0.99).toFixed(0)} ` +
  `flood_events=${N} flood_s=${secs.toFixed(2)} forwarded_per_s=${(N / secs).toFixed(0)} ok_false=${okFalse}`);
sub.close(); pub.close();
relay.kill('SIGTERM');
