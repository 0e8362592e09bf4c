// wss:// relays: a throwaway private CA made with the openssl CLI, the test relay serving TLS
// (tests/js/relay.mjs --tls-cert/--tls-key), and the real `bridge --server` (its /health shows
// each relay's state and last error), the example agent and pool_driver as clients. Checks that a
// relay is trusted only through --relay-ca (or the system store), that the host name is always
// checked, and that a refused certificate keeps the relay down with a reason that says so.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { before, test } from 'node:test';

import {
  BRIDGE_BIN, BUILD_DIR, freePort, generateSecretKey, nip19, onCleanup, relayClient, spawnProcess,
  startProcess, startRelay, tempDir, waitUntil,
} from '../js/lib/harness.mjs';

const DRIVER = process.env.NB_POOL_DRIVER || path.join(BUILD_DIR, 'tests', 'pool_driver');
const AGENT_BIN = path.join(BUILD_DIR, 'examples/echo-agent/echo-agent');
const SANITIZER = /AddressSanitizer|LeakSanitizer|runtime error/;
// No test may depend on the machine's own trust settings.
const CLEAN_TLS_ENV = { SSL_CERT_FILE: undefined, SSL_CERT_DIR: undefined, BRIDGE_RELAY_CA: undefined };

// ---- certificates ---------------------------------------------------------------------------
let dir;
const pki = {};

function openssl(args) {
  try {
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    throw new Error(`openssl ${args.join(' ')} failed: ${e.stderr?.toString() ?? e.message}`);
  }
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function makeCa(name) {
  openssl(['req', '-x509', ...EC, '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2',
    '-subj', `/CN=bridge test ${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  return path.join(dir, `${name}.pem`);
}

/** A server certificate signed by ca for the given subjectAltName list. */
function makeServerCert(name, ca, cn, san) {
  writeFileSync(path.join(dir, `${name}.ext`), [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature',
    'extendedKeyUsage=serverAuth',
    `subjectAltName=${san}`,
  ].join('\n') + '\n');
  openssl(['req', '-new', ...EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`]);
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`,
    '-set_serial', `0x${randomBytes(8).toString('hex')}`, '-days', '2', '-extfile', `${name}.ext`,
    '-out', `${name}.pem`]);
  return { cert: path.join(dir, `${name}.pem`), key: path.join(dir, `${name}.key`) };
}

before(() => {
  dir = tempDir('bridge-tls-');
  pki.ca = makeCa('ca');
  pki.otherCa = makeCa('other-ca'); // trusted by nobody's relay
  pki.localhost = makeServerCert('localhost', 'ca', 'localhost', 'DNS:localhost,IP:127.0.0.1,IP:::1');
  pki.wrongHost = makeServerCert('wrong-host', 'ca', 'example.invalid', 'DNS:example.invalid');
});

// ---- processes ------------------------------------------------------------------------------
// The relay listens on the address "localhost" resolves to first (as the clients will pick it),
// so wss://localhost:PORT works whether that is 127.0.0.1 or ::1.
const tlsRelay = (tls, opts = {}) => startRelay({ host: 'localhost', tls, ...opts });

async function startBridge(relayUrl, extra = [], env = {}, nsec = generateSecretKey()) {
  const port = await freePort();
  const proc = startProcess(BRIDGE_BIN, ['--server', '--bind', `127.0.0.1:${port}`, '--state', ':memory:',
    '--relay', relayUrl, ...extra], { env: { TENEX_NSEC: nip19.nsecEncode(nsec), ...CLEAN_TLS_ENV, ...env } });
  onCleanup(() => proc.stop());
  await proc.waitForLine(/listening on/, 20000, { stream: 'stderr' });
  const base = `http://127.0.0.1:${port}`;
  const b = {
    proc,
    base,
    async health() { return (await fetch(`${base}/health`)).json(); },
    async relay() { return (await b.health()).relays[0]; },
    async waitRelay(pred, what) {
      let last;
      return waitUntil(async () => {
        last = await b.relay();
        return pred(last) ? last : null;
      }, { timeoutMs: 20000, intervalMs: 100, what: `${what}; last /health relay: ${JSON.stringify(last)}` })
        .catch(e => { throw new Error(`${e.message}\nbridge output:\n${proc.output().slice(-3000)}`); });
    },
    // SIGTERM: exit 0, a clean shutdown, no sanitizer report.
    async stop() {
      const ex = await proc.stop('SIGTERM');
      const out = proc.output();
      assert.equal(ex.code, 0, `bridge exit status; output:\n${out.slice(-4000)}`);
      assert.match(out, /shutdown complete/);
      assert.ok(!SANITIZER.test(out), out.slice(-6000));
    },
  };
  return b;
}

// A refused relay: down, retried, never open, and the reason names the certificate problem.
async function assertRefused(b, reason) {
  const r = await b.waitRelay(x => x.reconnects >= 2 && /TLS certificate refused/.test(x.last_error),
    'the relay refused at least three times');
  assert.notEqual(r.state, 'open');
  assert.match(r.last_error, reason);
  const h = await b.health();
  assert.equal(h.status, 'degraded');
  assert.match(b.proc.stderrLines.join('\n'), /down \(connect failed: TLS certificate refused/);
  assert.ok(!b.proc.stderrLines.some(l => /relay wss:\S+: open/.test(l)), 'never opened');
  return r;
}

// ---- tests ----------------------------------------------------------------------------------
test('--relay-ca: the bridge talks to a wss:// relay behind a private CA, end to end', async () => {
  assert.ok(existsSync(AGENT_BIN), `echo-agent not built: ${AGENT_BIN}`);
  const relay = await tlsRelay(pki.localhost);
  assert.match(relay.url, /^wss:\/\/localhost:\d+$/);
  const owner = generateSecretKey();
  // The agent trusts the CA through the system store's SSL_CERT_FILE (same pool code).
  const agent = startProcess(AGENT_BIN, ['--relay', relay.url, '--project', 'tlsdemo', '--status-interval', '2'], {
    env: { ...CLEAN_TLS_ENV, SSL_CERT_FILE: pki.ca, ECHO_OWNER_NSEC: nip19.nsecEncode(owner), ECHO_BACKEND_NSEC: nip19.nsecEncode(generateSecretKey()) },
  });
  onCleanup(() => agent.stop());
  const b = await startBridge(relay.url, ['--relay-ca', pki.ca], {}, owner);
  assert.match(b.proc.stderrLines.join('\n'), /relay TLS: trusting only the CA certificates in .*ca\.pem/);
  const r = await b.waitRelay(x => x.state === 'open', 'the relay open');
  assert.equal(r.last_error, '');
  assert.equal((await b.health()).status, 'ok');
  const stats = await relay.stats();
  assert.equal(stats.tls, true);
  assert.ok(stats.subscriptionsOpen >= 1, 'the bridge subscribed over TLS');

  await waitUntil(async () => (await b.health()).projects?.some(p => p.dtag === 'tlsdemo' && p.online), {
    timeoutMs: 30000, intervalMs: 200, what: 'project tlsdemo online',
  });
  // A chat completion: the bridge publishes over TLS (a relay OK, or this is a 502), the agent's
  // reply comes back over TLS.
  const res = await fetch(`${b.base}/tlsdemo/chat/completions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ model: 'pm', messages: [{ role: 'user', content: 'hello over TLS' }] }),
  });
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  assert.equal(body.choices[0].message.content, 'echo: hello over TLS');
  await b.stop();
});

test('pool over wss://: DNS name and IP address SANs, publish gets OK, events flow both ways', async () => {
  const byName = await tlsRelay(pki.localhost);
  const byIp = await startRelay({ host: '127.0.0.1', tls: pki.localhost });
  assert.match(byIp.url, /^wss:\/\/127\.0\.0\.1:\d+$/);
  const proc = startProcess(DRIVER, ['--relay', byName.url, '--relay', byIp.url, '--ca', pki.ca,
    '--backoff-min', '100', '--backoff-max', '500'], { stdin: 'pipe', name: 'pool_driver', env: CLEAN_TLS_ENV });
  const lines = () => proc.stdoutLines.map(l => { try { return JSON.parse(l); } catch { return {}; } });
  const waitFor = (pred, what) => waitUntil(() => lines().find(pred),
    { timeoutMs: 15000, what: `${what}; output:\n${proc.output().slice(-3000)}` });
  await waitFor(l => l.ev === 'relay' && l.idx === 0 && l.state === 'open', 'wss://localhost open');
  await waitFor(l => l.ev === 'relay' && l.idx === 1 && l.state === 'open', 'wss://127.0.0.1 open');

  const client = await relayClient(byName.url, { ca: readFileSync(pki.ca) });
  proc.write(`sub s ${JSON.stringify({ kinds: [1], authors: [client.pubkey] })}\n`);
  await waitFor(l => l.ev === 'eose' && l.name === 's', 'EOSE over TLS');
  const ev = await client.publish({ kind: 1, content: 'to the pool over TLS' });
  assert.equal(ev.ok, true);
  await waitFor(l => l.ev === 'event' && l.id === ev.id, 'the event over TLS');

  proc.write('pub p 1 from the pool over TLS\n');
  const r = await waitFor(l => l.ev === 'pub_result' && l.name === 'p', 'the publish result');
  assert.equal(r.result, 'OK', r.detail);
  const id = lines().find(l => l.ev === 'published' && l.name === 'p').id;
  const stored = await client.subscribe({ ids: [id] }).eose;
  assert.equal(stored.length, 1, 'the relay stored the event the pool published over TLS');

  proc.write('quit\n');
  const ex = await proc.exited;
  assert.equal(ex.code, 0, proc.output().slice(-4000));
  assert.ok(!SANITIZER.test(proc.output()), proc.output().slice(-4000));
});

test('a certificate for another host name is refused even from the trusted CA', async () => {
  const relay = await tlsRelay(pki.wrongHost);
  const b = await startBridge(relay.url, ['--relay-ca', pki.ca]);
  await assertRefused(b, /hostname mismatch/);
  assert.equal((await relay.stats()).connectionsTotal, 0, 'no WebSocket was ever opened');
  await b.stop();
});

test('without --relay-ca the system store decides: a private CA is refused unless SSL_CERT_FILE names it', async () => {
  const relay = await tlsRelay(pki.localhost);
  const sys = await startBridge(relay.url);
  await assertRefused(sys, /unable to get local issuer certificate/);
  assert.equal((await relay.stats()).connectionsTotal, 0);
  await sys.stop();

  // The same relay is fine once the system store is pointed at the CA: the refusal was trust.
  const pointed = await startBridge(relay.url, [], { SSL_CERT_FILE: pki.ca });
  await pointed.waitRelay(x => x.state === 'open', 'open with SSL_CERT_FILE');
  await pointed.stop();
});

test('--relay-ca replaces the system store (it does not add to it); BRIDGE_RELAY_CA sets it too', async () => {
  const relay = await tlsRelay(pki.localhost);
  // The system store would trust the relay, but the configured CA file is another CA.
  const other = await startBridge(relay.url, [], { SSL_CERT_FILE: pki.ca, BRIDGE_RELAY_CA: pki.otherCa });
  await assertRefused(other, /unable to get local issuer certificate/);
  await other.stop();

  const env = await startBridge(relay.url, [], { BRIDGE_RELAY_CA: pki.ca });
  await env.waitRelay(x => x.state === 'open', 'open with BRIDGE_RELAY_CA');
  await env.stop();

  // The flag wins over the environment.
  const flag = await startBridge(relay.url, ['--relay-ca', pki.ca], { BRIDGE_RELAY_CA: pki.otherCa });
  await flag.waitRelay(x => x.state === 'open', 'open with --relay-ca over BRIDGE_RELAY_CA');
  await flag.stop();
});

test('an unusable --relay-ca stops start-up with exit status 2 and a reason', async () => {
  const env = { TENEX_NSEC: nip19.nsecEncode(generateSecretKey()), ...CLEAN_TLS_ENV };
  const run = extra => spawnProcess(BRIDGE_BIN, ['--server', '--bind', '127.0.0.1:0', '--state', ':memory:',
    '--relay', 'wss://localhost:1', ...extra], { env, timeoutMs: 20000 });

  const missing = await run(['--relay-ca', path.join(dir, 'no-such-file.pem')]);
  assert.equal(missing.code, 2, missing.stderr);
  assert.match(missing.stderr, /cannot read the CA file .*no-such-file\.pem: No such file or directory/);
  assert.match(missing.stderr, /cannot start the relay pool/);

  const junk = path.join(dir, 'junk.pem');
  writeFileSync(junk, 'this is not a certificate\n');
  const notPem = await run(['--relay-ca', junk]);
  assert.equal(notPem.code, 2, notPem.stderr);
  assert.match(notPem.stderr, /holds no PEM certificate/);

  const keyOnly = await run(['--relay-ca', pki.localhost.key]); // PEM, but no certificate in it
  assert.equal(keyOnly.code, 2, keyOnly.stderr);
  assert.match(keyOnly.stderr, /holds no PEM certificate/);

  const empty = await run(['--relay-ca=']);
  assert.equal(empty.code, 2);
  assert.match(empty.stderr, /--relay-ca needs a path/);
  for (const r of [missing, notPem, keyOnly, empty]) assert.ok(!SANITIZER.test(r.stderr), r.stderr);
});
