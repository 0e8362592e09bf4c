#!/usr/bin/env node
// openai_client.mjs — the official `openai` npm SDK talking to bridge: a streamed chat completion
// (deltas printed as they arrive), a non-streamed one, and the project's agents as models.
//
//   scripts/demo.sh --keep                       # relay + example agent + bridge on :8080
//   npm install openai && node examples/openai_client.mjs
//
// Environment: BRIDGE_URL (default http://127.0.0.1:8080), PROJECT (default demo), MODEL (default
// pm: any name that is not an agent's slug goes to the project manager), API_KEY (sent as
// "Authorization: Bearer"; bridge does not check it yet), OPENAI_MODULE (where to load the SDK
// from: a path to its index.mjs or a package name; optional, see loadOpenAI below).
// Exit status 0 when all three calls succeeded, 1 otherwise.
//
// It is also a module: `import { main } from './openai_client.mjs'` runs the same calls.
import { createRequire } from 'node:module';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * The SDK's OpenAI class, found in this order: $OPENAI_MODULE; `openai` resolved from this file
 * (installed in examples/, the repository or above); `openai` installed in the current directory
 * (or above it); the copy the test suite installs in tests/js/node_modules.
 */
export async function loadOpenAI() {
  const pick = mod => mod.OpenAI ?? mod.default?.OpenAI ?? mod.default;
  const notFound = e => e && (e.code === 'ERR_MODULE_NOT_FOUND' || e.code === 'MODULE_NOT_FOUND');
  const spec = process.env.OPENAI_MODULE;
  if (spec) {
    const isPath = spec.startsWith('.') || path.isAbsolute(spec);
    return pick(await import(isPath ? pathToFileURL(path.resolve(spec)).href : spec));
  }
  try {
    return pick(await import('openai'));
  } catch (e) {
    if (!notFound(e)) throw e;
  }
  try {
    const fromCwd = createRequire(path.join(process.cwd(), 'index.js')).resolve('openai');
    return pick(await import(pathToFileURL(fromCwd).href));
  } catch (e) {
    if (!notFound(e)) throw e;
  }
  try {
    return pick(await import(new URL('../tests/js/node_modules/openai/index.mjs', import.meta.url).href));
  } catch (e) {
    if (!notFound(e)) throw e;
    throw new Error('the openai package is not installed: run `npm install openai` (or set OPENAI_MODULE)');
  }
}

/** Run the three examples; resolves with what they returned. out: where to print (default stdout). */
export async function main({
  bridgeUrl = process.env.BRIDGE_URL || 'http://127.0.0.1:8080',
  project = process.env.PROJECT || 'demo',
  model = process.env.MODEL || 'pm',
  apiKey = process.env.API_KEY || 'unused',
  out = process.stdout,
} = {}) {
  const OpenAI = await loadOpenAI();
  const baseURL = `${bridgeUrl.replace(/\/+$/, '')}/${project}`;
  // maxRetries 0: a retried chat completion would send the message to the agent a second time.
  const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 120_000 });
  out.write(`bridge at ${baseURL}\n`);

  out.write(`\n== streaming: chat.completions.create({stream: true}) — deltas as they arrive\n`);
  const stream = await client.chat.completions.create({
    model,
    stream: true,
    messages: [{ role: 'user', content: 'Hello from the OpenAI SDK, streamed' }],
  });
  let streamed = '';
  let finish = null;
  for await (const chunk of stream) {
    const choice = chunk.choices[0];
    const delta = choice?.delta?.content ?? '';
    streamed += delta;
    out.write(delta);
    if (choice?.finish_reason) finish = choice.finish_reason;
  }
  out.write(`\n-> finish_reason: ${finish}\n`);
  if (!streamed) throw new Error('the stream carried no text');

  out.write(`\n== non-streaming: chat.completions.create() — one chat.completion\n`);
  const completion = await client.chat.completions.create({
    model,
    messages: [{ role: 'user', content: 'Hello from the OpenAI SDK, in one piece' }],
  });
  const answer = completion.choices[0].message.content;
  out.write(`${answer}\n-> model ${completion.model}, ${completion.usage?.total_tokens ?? '?'} tokens\n`);
  if (!answer) throw new Error('the completion carried no text');

  out.write(`\n== models.list() — the project's agents (the PM first)\n`);
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  out.write(`${ids.join('\n')}\n`);
  if (ids.length === 0) throw new Error('the project lists no agents');

  return { streamed, finish, answer, models: ids };
}

const invoked = process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (invoked) {
  main().then(
    () => { process.exitCode = 0; },
    err => {
      const status = err?.status ? ` (HTTP ${err.status}${err.code ? `, ${err.code}` : ''})` : '';
      process.stderr.write(`openai_client: ${err?.message ?? err}${status}\n`);
      process.exitCode = 1;
    },
  );
}
