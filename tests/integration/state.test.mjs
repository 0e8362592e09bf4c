// Conversation continuity survives a restart: `bridge --server --state <file>` remembers which
// Nostr thread an OpenAI history belongs to in SQLite. A relay, the example agent and the bridge
// run for real; the bridge process is stopped and started again between two turns, and the agent
// proves (its "turn N; you said before: …" sentence) that the follow-up landed in the same thread.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  startRelay, startProcess, freePort, waitUntil, onCleanup, tempDir, generateSecretKey, nip19, BUILD_DIR,
  BRIDGE_BIN,
} from '../js/lib/harness.mjs';
import { OpenAI } from '../js/lib/deps.mjs';

const AGENT_BIN = path.join(BUILD_DIR, 'examples/echo-agent/echo-agent');
const owner = generateSecretKey();
const backend = generateSecretKey();
let relay, dir;

async function startBridge(state) {
  const port = await freePort();
  const p = startProcess(BRIDGE_BIN, ['--server', '--bind', `127.0.0.1:${port}`, '--relay', relay.url,
    '--state', state, '--first-event-timeout', '20', '--startup-grace', '3'], {
    env: { TENEX_NSEC: nip19.nsecEncode(owner), XDG_STATE_HOME: path.join(dir, 'xdg') },
  });
  onCleanup(() => p.stop());
  await p.waitForLine(/listening on/, 20000, { stream: 'stderr' });
  const base = `http://127.0.0.1:${port}`;
  await waitUntil(async () => (await (await fetch(`${base}/health`)).json()).projects?.some(x => x.dtag === 'demo' && x.online), {
    timeoutMs: 30000, intervalMs: 200, what: 'project demo online',
  });
  return { proc: p, sdk: new OpenAI({ baseURL: `${base}/demo`, apiKey: 'unused', maxRetries: 0, timeout: 60000 }) };
}

/** The line matching re that bridge logged (on stderr) before it listened. */
function logged(proc, re) {
  const line = proc.stderrLines.find(l => re.test(l));
  assert.ok(line, `bridge did not log ${re}:\n${proc.output()}`);
  return line;
}

const ask = async (sdk, messages) => (await sdk.chat.completions.create({ model: 'pm', messages })).choices[0].message.content;

before(async () => {
  dir = tempDir('bridge-state-');
  relay = await startRelay({ auth: true, replayEphemeral: 60 });
  const agent = startProcess(AGENT_BIN, ['--relay', relay.url, '--project', 'demo', '--status-interval', '2'], {
    env: { ECHO_OWNER_NSEC: nip19.nsecEncode(owner), ECHO_BACKEND_NSEC: nip19.nsecEncode(backend) },
  });
  onCleanup(() => agent.stop());
});

test('a follow-up after a bridge restart continues the same Nostr thread', async () => {
  const state = path.join(dir, 'nested', 'state.db');
  const first = await startBridge(state);
  logged(first.proc, /state .*state\.db: 0 conversation\(s\) remembered/);
  const q1 = 'remember the word papaya';
  const reply = await ask(first.sdk, [{ role: 'user', content: q1 }]);
  assert.equal(reply, `echo: ${q1}`);
  const exit = await first.proc.stop('SIGTERM');
  assert.equal(exit.code, 0, first.proc.output());
  assert.ok(existsSync(state), 'the state file exists');

  const second = await startBridge(state);
  logged(second.proc, /state .*state\.db: [1-9]\d* conversation\(s\) remembered/);
  const history = [{ role: 'user', content: q1 }, { role: 'assistant', content: reply }, { role: 'user', content: 'which fruit?' }];
  const follow = await ask(second.sdk, history);
  assert.match(follow, /^echo: which fruit\? \(turn 2; you said before: remember the word papaya\)/);
  // and a third turn, across one more restart, still in that thread
  assert.equal((await second.proc.stop('SIGTERM')).code, 0, second.proc.output());
  const third = await startBridge(state);
  const again = await ask(third.sdk, [...history, { role: 'assistant', content: follow }, { role: 'user', content: 'and now?' }]);
  assert.match(again, /^echo: and now\? \(turn 3; you said before: which fruit\?\)/);
  await third.proc.stop('SIGTERM');
});

test('--state :memory: forgets across a restart (the control: a restart alone does not keep the thread)', async () => {
  const first = await startBridge(':memory:');
  const q1 = 'remember the word quince';
  const reply = await ask(first.sdk, [{ role: 'user', content: q1 }]);
  assert.equal((await first.proc.stop('SIGTERM')).code, 0, first.proc.output());
  const second = await startBridge(':memory:');
  const follow = await ask(second.sdk, [{ role: 'user', content: q1 }, { role: 'assistant', content: reply }, { role: 'user', content: 'which fruit?' }]);
  assert.doesNotMatch(follow, /turn 2/);
  await second.proc.stop('SIGTERM');
});

test('an unusable --state file is logged and bridge carries on in memory', async () => {
  const blocker = path.join(dir, 'blocker'); // a file: the directory for the next path cannot be made
  writeFileSync(blocker, 'not a directory');
  const b = await startBridge(path.join(blocker, 'inner.db'));
  logged(b.proc, /error +state .*blocker\/inner\.db: cannot .*Not a directory/);
  logged(b.proc, /kept in memory only/);
  const r = await ask(b.sdk, [{ role: 'user', content: 'still works' }]);
  assert.equal(r, 'echo: still works');
  await b.proc.stop('SIGTERM');
});
