#!/usr/bin/env node
// A minimal WebSocket "relay" for bench_pool: on the first REQ it reads the events file (one
// event JSON per line, written by bench_pool), sends every event as ["EVENT",<sub>,ev] as fast as
// the socket takes them, then ["EOSE",<sub>]. Not a Nostr relay: it measures the client.
//   node bench/flood_relay.mjs --port N --events FILE     prints "READY ws://127.0.0.1:N"
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '..', 'tests', 'js', 'package.json'));
const { WebSocketServer } = require('ws');

const { values: args } = parseArgs({ options: { port: { type: 'string' }, events: { type: 'string' } } });
const wss = new WebSocketServer({ host: '127.0.0.1', port: Number(args.port), maxPayload: 1 << 20 });
wss.on('listening', () => process.stdout.write(`READY ws://127.0.0.1:${wss.address().port}\n`));
wss.on('connection', ws => {
  ws.on('message', data => {
    const msg = JSON.parse(data.toString());
    if (msg[0] !== 'REQ') return;
    const sub = JSON.stringify(msg[1]);
    const lines = readFileSync(args.events, 'utf8').split('\n').filter(Boolean);
    const frames = lines.map(l => `["EVENT",${sub},${l}]`);
    let i = 0;
    const pump = () => {
      while (i < frames.length) {
        ws.send(frames[i++]);
        if (ws.bufferedAmount > (1 << 20)) return setImmediate(pump);
      }
      ws.send(`["EOSE",${sub}]`);
    };
    pump();
  });
  ws.on('error', () => {});
});
process.on('SIGTERM', () => process.exit(0));
