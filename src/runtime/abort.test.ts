/**
 * Cancellation at every stage and concurrent use of one model, on the mini model
 * (reliability-fixture.ts): the download (a slow hub-style server), the upload (from disk and
 * from the network), the prompt (between prefill chunks) and decoding. Each abort must end in
 * AbortedError, free what the stage allocated (a failed load leaves no GPU buffer, counted on the
 * device; an aborted prompt or decode leaves the allocator's bytes per category and the device's
 * buffers as they were) and leave the model usable: what runs after an abort is exactly what
 * would have run without it. Concurrent generate() calls are queued in call order, never interleaved; calls
 * after dispose() fail clearly. All comparisons are exact (greedy ids on the same device).
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AbortedError, InvalidArgumentError } from '../errors.js';
import { acquireGpu, type GpuContext } from '../gpu/device.js';
import { loadModel } from '../index.js';
import { NodeDiskCacheStore } from '../io/cache/node-disk.js';
import { startHubServer, type HubServer } from '../io/hub-server.js';
import type { LoadProgress } from '../io/source.js';
import { FsCheckpointSource } from '../io/sources/fs.js';
import { drain, Qwen35Model } from './model.js';
import { collectUnhandledRejections, countDeviceBuffers, rejectionOf, tempDir, within, writeMiniCheckpoint, type DeviceBufferCount } from './reliability-fixture.js';

const unhandled = collectUnhandledRejections();
const root = tempDir('abort');
const BOUND_MS = 60_000;
const GREEDY = { eosTokenIds: [] as number[] };
const OPTIONS = { maxContext: 96, prefillChunk: 4, weightFormat: 'q8' as const };
const PROMPT = Array.from({ length: 18 }, (_, i) => (i * 11 + 3) % 500);
let dir: string;
let server: HubServer;
let gpu: GpuContext;
/** Every buffer on `gpu`, counted from before the shared model was loaded. */
let deviceBuffers: DeviceBufferCount;
let model: Qwen35Model;
/** Greedy continuation of PROMPT by 6 tokens, uninterrupted. */
let reference: number[];
/** Progress calls of one upload from disk. */
let uploadSteps = 0;

const loadLocal = (g: GpuContext, onProgress?: (p: LoadProgress) => void) =>
  Qwen35Model.load(new FsCheckpointSource(dir), { ...OPTIONS, gpu: g, ...(onProgress ? { onProgress } : {}) });

beforeAll(async () => {
  dir = await writeMiniCheckpoint(root);
  server = await startHubServer({ root: { 'local/mini': dir } });
  gpu = await acquireGpu();
  deviceBuffers = countDeviceBuffers(gpu);
  model = await loadLocal(gpu, () => uploadSteps++);
  reference = (await model.generateText(PROMPT, { ...GREEDY, maxTokens: 6 })).tokens;
});
afterAll(async () => {
  model?.dispose();
  gpu?.destroy();
  await server?.close();
  rmSync(root, { recursive: true, force: true });
  expect(unhandled).toEqual([]);
});
beforeEach(() => {
  server.faults.clear();
  server.requests.length = 0;
});

describe('abort while loading', () => {
  it('during the download (slow server): AbortedError, no GPU buffer; the next load resumes the download and works', async () => {
    const store = new NodeDiskCacheStore(join(root, 'cache-download'));
    server.faults.slow(150, { path: '.safetensors' });
    const g = await acquireGpu();
    const buffers = countDeviceBuffers(g);
    try {
      const controller = new AbortController();
      const onProgress = (p: LoadProgress) => {
        if (p.phase === 'download' && p.files.some((f) => f.file.endsWith('.safetensors') && f.bytesDone > 0)) controller.abort();
      };
      const options = { ...OPTIONS, gpu: g, hubUrl: server.url, cache: store, signal: controller.signal, onProgress };
      const error = await rejectionOf(within(BOUND_MS, 'aborted download', loadModel('local/mini', options)));
      expect(error).toBeInstanceOf(AbortedError);
      expect(buffers.created()).toBe(0);
      const kept = await store.storedBytes('local/mini/main', 'model-00001-of-00001.safetensors');
      expect(kept).toBeGreaterThan(0);
      server.faults.clear();
      server.requests.length = 0;
      const again = await within(BOUND_MS, 'resumed load', loadModel('local/mini', { ...OPTIONS, gpu: g, hubUrl: server.url, cache: store }));
      expect(server.requests.some((r) => r.path.endsWith('.safetensors') && r.method === 'GET' && r.range?.startsWith(`bytes=${kept}-`))).toBe(true);
      expect((await again.generateText(PROMPT, { ...GREEDY, maxTokens: 6 })).tokens).toEqual(reference);
      again.dispose();
      expect(buffers.liveBuffers()).toBe(0);
    } finally {
      g.destroy();
    }
  });

  it('during the upload from the network (no cache, slow server): AbortedError, every GPU buffer released', async () => {
    server.faults.slow(100, { path: '.safetensors' });
    const g = await acquireGpu();
    const buffers = countDeviceBuffers(g);
    try {
      const controller = new AbortController();
      const onProgress = (p: LoadProgress) => {
        if (p.phase === 'upload' && p.bytesDone > 0) controller.abort();
      };
      const options = { ...OPTIONS, gpu: g, hubUrl: server.url, cache: false, signal: controller.signal, onProgress };
      const error = await rejectionOf(within(BOUND_MS, 'aborted upload', loadModel('local/mini', options)));
      expect(error).toBeInstanceOf(AbortedError);
      expect(buffers.created()).toBeGreaterThan(0);
      expect(buffers.liveBuffers()).toBe(0);
    } finally {
      g.destroy();
    }
  });

  it('during the upload from disk, at the first, middle and last step: AbortedError and nothing left', async () => {
    const g = await acquireGpu();
    const buffers = countDeviceBuffers(g);
    try {
      expect(uploadSteps).toBeGreaterThan(4);
      for (const at of [1, Math.ceil(uploadSteps / 2), uploadSteps]) {
        const controller = new AbortController();
        let n = 0;
        const load = Qwen35Model.load(new FsCheckpointSource(dir), {
          ...OPTIONS,
          gpu: g,
          signal: controller.signal,
          onProgress: () => {
            if (++n === at) controller.abort();
          },
        });
        expect(await rejectionOf(within(BOUND_MS, `upload aborted at step ${at}`, load))).toBeInstanceOf(AbortedError);
        expect(buffers.created()).toBeGreaterThan(0);
        expect(buffers.liveBuffers()).toBe(0);
      }
    } finally {
      g.destroy();
    }
  });
});

describe('abort while generating', () => {
  it('between prefill chunks: AbortedError; the cache holds whole chunks and the rest of the prompt continues exactly', async () => {
    model.reset();
    const memoryBefore = model.session.memory();
    const buffersBefore = deviceBuffers.liveBuffers();
    const controller = new AbortController();
    const queue = gpu.device.queue;
    const submit = queue.submit.bind(queue);
    let submits = 0;
    queue.submit = (commands: Iterable<GPUCommandBuffer>) => {
      submit(commands);
      if (++submits === 2) controller.abort();
    };
    try {
      const stream = model.generate(PROMPT, { ...GREEDY, maxTokens: 6, signal: controller.signal });
      expect(await rejectionOf(within(BOUND_MS, 'aborted prefill', drain(stream)))).toBeInstanceOf(AbortedError);
    } finally {
      queue.submit = submit;
    }
    const cached = model.session.position;
    expect(cached % OPTIONS.prefillChunk).toBe(0);
    expect(cached).toBeGreaterThan(0);
    expect(cached).toBeLessThan(PROMPT.length);
    const rest = await model.generateText(PROMPT.slice(cached), { ...GREEDY, maxTokens: 6 });
    expect(rest.tokens).toEqual(reference);
    expect(model.session.memory().live).toEqual(memoryBefore.live);
    expect(deviceBuffers.liveBuffers()).toBe(buffersBefore);
  });

  it('while decoding: AbortedError after the tokens streamed; GPU memory as before; the conversation continues as one long prompt would', async () => {
    model.reset();
    const gpuMemory = () => ({ allocator: model.session.memory(), buffers: deviceBuffers.liveBuffers(), bytes: deviceBuffers.liveBytes() });
    const before = gpuMemory();
    const controller = new AbortController();
    const streamed: number[] = [];
    const stream = model.generate(PROMPT, { ...GREEDY, maxTokens: 30, signal: controller.signal });
    const error = await rejectionOf(
      drain(stream, (c) => {
        streamed.push(c.token);
        if (streamed.length === 3) controller.abort();
      }),
    );
    expect(error).toBeInstanceOf(AbortedError);
    expect(streamed).toEqual(reference.slice(0, 3));
    // Per category (weights, KV cache, state, activations, ...), in the allocator and on the device.
    expect(gpuMemory()).toEqual(before);
    expect(before.buffers).toBeGreaterThan(0);
    const next = await model.generateText([7, 8, 9], { ...GREEDY, maxTokens: 4 });
    model.reset();
    const whole = await model.generateText([...PROMPT, ...streamed, 7, 8, 9], { ...GREEDY, maxTokens: 4 });
    expect(next.tokens).toEqual(whole.tokens);
    model.reset();
    expect((await model.generateText(PROMPT, { ...GREEDY, maxTokens: 6 })).tokens).toEqual(reference);
    expect(gpuMemory()).toEqual(before);
  });

  it('while text is held back (a possible stop string): the last chunk releases it, counted as the same token', async () => {
    model.reset();
    const decode = (ids: number[]) => model.tokenizer.decode(ids);
    // The text of tokens 3–4 followed by a character the model never writes: a stop string that
    // is only ever partly matched, so their text is held back until the end.
    const held = decode(reference.slice(0, 4)).slice(decode(reference.slice(0, 2)).length);
    expect(held.length).toBeGreaterThan(0);
    const controller = new AbortController();
    const chunks: { token: number; text: string; generated: number }[] = [];
    const stream = model.generate(PROMPT, { ...GREEDY, maxTokens: 30, stop: [held + '\u0000'], signal: controller.signal });
    const error = await rejectionOf(
      drain(stream, (c) => {
        chunks.push(c);
        if (c.generated === 4) controller.abort();
      }),
    );
    expect(error).toBeInstanceOf(AbortedError);
    expect(chunks.map((c) => c.generated)).toEqual([1, 2, 3, 4, 4]);
    expect(chunks.map((c) => c.token)).toEqual([...reference.slice(0, 4), reference[3]]);
    expect(chunks.at(-1)!.text).toBe(held);
    expect(chunks.map((c) => c.text).join('')).toBe(decode(reference.slice(0, 4)));
  });

  it('a signal aborted before the call: AbortedError, nothing submitted, the cache unchanged', async () => {
    model.reset();
    await model.generateText([1, 2], { ...GREEDY, maxTokens: 2 });
    const position = model.session.position;
    const queue = gpu.device.queue;
    const submit = queue.submit.bind(queue);
    let submits = 0;
    queue.submit = (commands: Iterable<GPUCommandBuffer>) => {
      submits++;
      submit(commands);
    };
    try {
      await expect(model.generateText([3, 4], { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortedError);
    } finally {
      queue.submit = submit;
    }
    expect(submits).toBe(0);
    expect(model.session.position).toBe(position);
  });
});

describe('concurrent calls', () => {
  const prompts = [[4, 4, 4], [9, 1], [250, 17, 3, 3]];

  it('generate() and chat() calls made together run one after another in call order, as if awaited one by one', async () => {
    model.reset();
    const sequential = [];
    for (const p of prompts) sequential.push((await model.generateText(p, { ...GREEDY, maxTokens: 5 })).tokens);
    model.reset();
    const together = await within(BOUND_MS, 'concurrent calls', Promise.all(prompts.map((p) => model.generateText(p, { ...GREEDY, maxTokens: 5 }))));
    expect(together.map((r) => r.tokens)).toEqual(sequential);
    // chat() decides what to reuse of the cache when its turn comes, not when it is called.
    const turns = [[{ role: 'user' as const, content: 'hi' }], [{ role: 'user' as const, content: 'yo' }]];
    model.reset();
    const chats = [];
    for (const t of turns) chats.push((await drain(model.chat(t, { ...GREEDY, maxTokens: 3 }))).tokens);
    model.reset();
    const chatsTogether = await Promise.all(turns.map((t) => drain(model.chat(t, { ...GREEDY, maxTokens: 3 }))));
    expect(chatsTogether.map((r) => r.tokens)).toEqual(chats);
  });

  it('a second stream waits while the first is paused between tokens, then runs; a stream left with break releases the model', async () => {
    model.reset();
    const first = await model.generateText(prompts[0]!, { ...GREEDY, maxTokens: 5 });
    const second = await model.generateText(prompts[1]!, { ...GREEDY, maxTokens: 5 });
    model.reset();
    const a = model.generate(prompts[0]!, { ...GREEDY, maxTokens: 5 });
    const b = model.generate(prompts[1]!, { ...GREEDY, maxTokens: 5 });
    const aFirst = await a.next();
    // While a stream holds the model, calls that would change its cache under it are refused.
    expect(() => model.reset()).toThrow(/reset\(\) while a generation is running/);
    expect(() => model.snapshot()).toThrow(InvalidArgumentError);
    let bStarted = false;
    const bDone = drain(b).then((r) => {
      bStarted = true;
      return r;
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(bStarted).toBe(false);
    const aRest = await drain(a);
    expect([(aFirst.value as { token: number }).token, ...aRest.tokens.slice(1)]).toEqual(first.tokens);
    expect((await within(BOUND_MS, 'queued stream', bDone)).tokens).toEqual(second.tokens);
    for await (const chunk of model.generate([5], { ...GREEDY, maxTokens: 20 })) {
      expect(typeof chunk.token).toBe('number');
      break;
    }
    const after = await within(BOUND_MS, 'call after a broken-off stream', model.generateText([6], { ...GREEDY, maxTokens: 2 }));
    expect(after.tokens).toHaveLength(2);
  });
});

describe('dispose', () => {
  it('during a generation, the stream fails with a clear error; every later call too; all GPU memory is released', async () => {
    const g = await acquireGpu();
    const buffers = countDeviceBuffers(g);
    try {
      const m = await loadLocal(g);
      const snapshot = m.snapshot();
      const stream = m.generate(PROMPT, { ...GREEDY, maxTokens: 30 });
      let n = 0;
      const error = await rejectionOf(
        within(
          BOUND_MS,
          'stream after dispose',
          drain(stream, () => {
            if (++n === 2) m.dispose();
          }),
        ),
      );
      expect(error).toBeInstanceOf(InvalidArgumentError);
      expect(error.message).toMatch(/has been disposed .*load it again/);
      const disposed = /has been disposed/;
      await expect(m.generateText([1], GREEDY)).rejects.toThrow(disposed);
      await expect(drain(m.chat([{ role: 'user', content: 'hi' }]))).rejects.toThrow(disposed);
      expect(() => m.reset()).toThrow(disposed);
      expect(() => m.snapshot()).toThrow(disposed);
      expect(() => m.restore(snapshot)).toThrow(disposed);
      await expect(m.session.readLogits()).rejects.toThrow(disposed);
      expect(() => m.releaseSnapshot(snapshot)).not.toThrow();
      expect(() => m.dispose()).not.toThrow();
      expect(m.session.memory()).toMatchObject({ liveTotal: 0, buffers: 0 });
      expect(buffers.liveBuffers()).toBe(0);
    } finally {
      g.destroy();
    }
  });
});
