/**
 * Soak: 250 short cycles on one mini model mixing every call a page makes over a long session —
 * generate (continuing the conversation), chat turns, aborts mid-decode and before the start,
 * snapshot/restore/release, reset, renderChat and memory reports, rejected calls (bad options,
 * context overflow). After them
 * the GPU memory must be exactly what it was after warm-up (allocator live bytes per category
 * and buffer count, and the buffers the device itself holds), and the JS heap (after a full GC)
 * within 2 MiB of it: one leaked buffer per cycle would show as 250 more buffers, and a JS leak
 * of more than ~8 KiB per cycle as heap growth. Every cycle's result is checked (token counts, errors).
 */
import { rmSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbortedError, ContextOverflowError, InvalidArgumentError } from '../errors.js';
import { acquireGpu, type GpuContext } from '../gpu/device.js';
import { FsCheckpointSource } from '../io/sources/fs.js';
import { drain, Qwen35Model } from './model.js';
import { collectUnhandledRejections, countDeviceBuffers, rejectionOf, tempDir, writeMiniCheckpoint, type DeviceBufferCount } from './reliability-fixture.js';

const unhandled = collectUnhandledRejections();
const root = tempDir('soak');
const CYCLES = 250;
/** Observed growth ~0.5 MiB (bytecode, caches); 2 MiB catches any leak above ~8 KiB per cycle. */
const HEAP_BOUND = 2 * 2 ** 20;
let gpu: GpuContext;
let buffers: DeviceBufferCount;
let model: Qwen35Model;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const heapAfterGc = (): number => {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
};

beforeAll(async () => {
  const dir = await writeMiniCheckpoint(root);
  gpu = await acquireGpu();
  buffers = countDeviceBuffers(gpu);
  model = await Qwen35Model.load(new FsCheckpointSource(dir), { gpu, maxContext: 64, prefillChunk: 8, weightFormat: 'q8' });
});
afterAll(() => {
  model?.dispose();
  expect(buffers?.liveBuffers()).toBe(0);
  gpu?.destroy();
  rmSync(root, { recursive: true, force: true });
  expect(unhandled).toEqual([]);
});

/** One cycle of kind `i % 10`; checks its own outcome. */
async function cycle(i: number): Promise<void> {
  const free = { eosTokenIds: [] as number[] };
  if (model.session.position > 40) model.reset();
  switch (i % 10) {
    case 0: {
      const r = await model.generateText([1 + (i % 97), 2], { ...free, maxTokens: 1 + (i % 3) });
      expect(r.tokens).toHaveLength(1 + (i % 3));
      return;
    }
    case 1: {
      const controller = new AbortController();
      const run = drain(model.generate([i % 300], { ...free, maxTokens: 8, signal: controller.signal }), () => controller.abort());
      expect(await rejectionOf(run)).toBeInstanceOf(AbortedError);
      return;
    }
    case 2:
      await expect(model.generateText([3], { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortedError);
      return;
    case 3: {
      const snap = model.snapshot();
      const position = model.session.position;
      if (i % 20 === 3) await model.generateText([i % 400], { ...free, maxTokens: 1 });
      model.restore(snap);
      model.releaseSnapshot(snap);
      expect(model.session.position).toBe(position);
      return;
    }
    case 4:
      model.reset();
      expect(model.session.position).toBe(0);
      return;
    case 5: {
      const r = await drain(model.chat([{ role: 'user', content: `q${i}` }], { ...free, maxTokens: 1 }));
      expect(r.tokens).toHaveLength(1);
      return;
    }
    case 6:
      await expect(model.generateText([1], { temperature: Number.NaN })).rejects.toBeInstanceOf(InvalidArgumentError);
      return;
    case 7:
      expect(model.renderChat([{ role: 'user', content: `r${i}` }])).toContain(`r${i}`);
      return;
    case 8:
      expect(model.memory().rows.every((r) => r.measured === r.predicted)).toBe(true);
      return;
    default:
      await expect(model.generateText(Array(70).fill(5), {})).rejects.toBeInstanceOf(ContextOverflowError);
  }
}

describe('soak', () => {
  it(`${CYCLES} generate/abort/snapshot/reset/chat/render/memory/error cycles: GPU memory identical, JS heap flat`, async () => {
    for (let i = 0; i < 20; i++) await cycle(i); // warm-up: every kind twice
    const gpuBefore = model.session.memory();
    const deviceBefore = buffers.liveBuffers();
    const heapBefore = heapAfterGc();
    for (let i = 20; i < 20 + CYCLES; i++) await cycle(i);
    model.reset();
    const gpuAfter = model.session.memory();
    expect(gpuAfter.live).toEqual(gpuBefore.live);
    expect(gpuAfter.buffers).toBe(gpuBefore.buffers);
    expect(buffers.liveBuffers()).toBe(deviceBefore);
    const heapGrowth = heapAfterGc() - heapBefore;
    console.log(`soak: ${CYCLES} cycles, GPU live ${gpuAfter.liveTotal} B in ${gpuAfter.buffers} buffers (unchanged), JS heap ${(heapGrowth / 2 ** 20).toFixed(2)} MiB`);
    expect(heapGrowth).toBeLessThan(HEAP_BOUND);
  });
});
