/**
 * The worker's Engine in Node (Dawn on SwiftShader), reading the built-in tiny model over HTTP
 * from the dev server's /models/ route: inspect, a load cancelled half way (no model is left
 * behind and the next load works; that a failed load frees its buffers is
 * src/runtime/fuzz-gpu.test.ts's subject), a load and a short reply. The page-level flows are in
 * chat.test.ts; this covers what the browser test cannot make deterministic (cancelling a load).
 *
 * Tolerance: exact — measured memory equals the prediction (one shared plan), and the reply is
 * compared with the model's own generateText on the same cache state (same kernels, same ids).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbortedError, ContextOverflowError, DeviceLostError } from '../src/errors.js';
import { predictMemory } from '../src/model/memory.js';
import { ensureDefaultModel, MODELS_DIR, TINY_CONFIGS } from '../src/model/tiny.js';
import { Engine } from './engine.js';
import type { ModelSettings, ProgressView } from './protocol.js';
import { serveModels } from './server/models-plugin.js';

const SETTINGS: ModelSettings = { weightFormat: 'q8', maxContext: 128, kvFormat: 'f16', cache: false };
const BUILTIN = { kind: 'builtin', name: 'tiny-dense' } as const;

let server: Server;
let engine: Engine;
const lost: string[] = [];

beforeAll(async () => {
  await ensureDefaultModel();
  server = createServer((req, res) => {
    req.url = req.url?.replace(/^\/models/, '');
    void serveModels(MODELS_DIR, req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const pageUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/index.html`;
  engine = new Engine({ pageUrl, systemRamGiB: undefined, onDeviceLost: (m) => lost.push(m) });
});
afterAll(async () => {
  engine?.unload();
  await new Promise((r) => server.close(r));
});

describe('Engine', () => {
  it('inspects the checkpoint: config summary, prediction and fit before anything is loaded', async () => {
    const adapter = await engine.probe();
    expect(adapter.limits.maxBufferSize).toBeGreaterThan(0);
    const inspection = await engine.inspect(BUILTIN, SETTINGS, new AbortController().signal);
    expect(inspection.model).toMatchObject({ modelType: 'qwen3_5', layers: 8, hiddenSize: 128, vocabSize: 512 });
    expect(inspection.fit.fits).toBe(true);
    expect(inspection.prediction?.total).toBe(predictMemory(TINY_CONFIGS.dense, SETTINGS).total);
  });

  it('cancels a load at its first progress report; nothing is loaded and loading again works', async () => {
    const abort = new AbortController();
    const seen: ProgressView[] = [];
    const cancelled = engine.load(BUILTIN, SETTINGS, abort.signal, (p) => {
      seen.push(p);
      abort.abort();
    });
    await expect(cancelled).rejects.toBeInstanceOf(AbortedError);
    expect(seen.length).toBeGreaterThan(0);
    expect(() => engine.current()).toThrow(DeviceLostError);

    const progress: ProgressView[] = [];
    const loaded = await engine.load(BUILTIN, SETTINGS, new AbortController().signal, (p) => progress.push(p));
    const last = progress[progress.length - 1]!;
    expect(last.bytesDone).toBe(last.bytesTotal);
    expect(last.bytesTotal).toBeGreaterThan(0);
    for (const row of loaded.memory.rows) expect(row.measured).toBe(row.predicted);
    expect(lost).toEqual([]);
  });

  it('streams a reply whose pieces add up to the returned text, then resets', async () => {
    const sampling = { temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1, seed: 0, maxTokens: 5, enableThinking: false };
    const stream = engine.chat([{ role: 'user', content: 'Hi' }], sampling, new AbortController().signal);
    let streamed = '';
    let tokens = 0;
    let r = await stream.next();
    for (; !r.done; r = await stream.next()) {
      streamed += r.value.text;
      expect(r.value.tokens).toBeGreaterThan(tokens);
      tokens = r.value.tokens;
    }
    expect(r.value.text).toBe(streamed);
    expect(r.value.stats.generatedTokens).toBeGreaterThanOrEqual(tokens);
    expect(r.value.stats.decodeTokensPerSecond).toBeGreaterThan(0);

    const { model } = engine.current();
    model.reset();
    const again = await model.generateText(model.renderChat([{ role: 'user', content: 'Hi' }], { enableThinking: false }), { maxTokens: 5 });
    expect(again.text).toBe(r.value.text);
    const memory = engine.reset();
    expect(memory.rows.find((m) => m.category === 'weights')!.measured).toBeGreaterThan(0);
  });

  it('refuses a conversation longer than the context with ContextOverflowError', async () => {
    const sampling = { temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1, seed: 0, maxTokens: 2, enableThinking: false };
    const long = engine.chat([{ role: 'user', content: 'word '.repeat(SETTINGS.maxContext) }], sampling, new AbortController().signal);
    await expect(long.next()).rejects.toBeInstanceOf(ContextOverflowError);
  });

  it('reports a lost device, drops the model, and loads again on a fresh device', async () => {
    engine.current().model.session.ctx.gpu.destroy();
    await expect.poll(() => lost.length).toBe(1);
    expect(lost[0]).toMatch(/device was lost/);
    expect(() => engine.current()).toThrow(DeviceLostError);
    const loaded = await engine.load(BUILTIN, SETTINGS, new AbortController().signal, () => undefined);
    expect(loaded.memory.rows.every((r) => r.measured === r.predicted)).toBe(true);
    expect(lost).toHaveLength(1);
  });
});
