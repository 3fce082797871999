/**
 * Device faults, provoked for real on the mini model (reliability-fixture.ts): the device
 * destroyed during the weight upload, between prefill chunks and between decoded tokens; plans
 * that do not fit the device (a KV cache beyond maxBufferSize, a weight block beyond the binding
 * limit), the driver running out of memory, and a broken command raising a validation error.
 * Each must end in its typed error within a bound (no hang), leave no GPU buffer behind (counted
 * on the device itself, not only by the allocator) and no unhandled rejection, and the model
 * must load again on a new device and generate exactly what it generated before the fault.
 * Comparisons are exact: the same weights on the same kind of device give the same greedy ids.
 */
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceLostError, GpuValidationError, OutOfGpuMemoryError } from '../errors.js';
import { formatBytes } from '../gpu/allocator.js';
import { acquireGpu, type GpuContext } from '../gpu/device.js';
import { FsCheckpointSource } from '../io/sources/fs.js';
import { openTensorDirectory } from '../io/tensor-directory.js';
import type { LoadProgress } from '../io/source.js';
import { predictMemory } from '../model/memory.js';
import { TINY_CONFIGS } from '../model/tiny.js';
import { planWeights } from '../model/weight-plan.js';
import { loadGpuWeights } from './gpu-weights.js';
import { drain, Qwen35Model } from './model.js';
import {
  collectUnhandledRejections,
  countDeviceBuffers,
  MINI_CONFIG,
  rejectionOf,
  tempDir,
  within,
  writeMiniCheckpoint,
} from './reliability-fixture.js';
import { Session } from './session.js';

const unhandled = collectUnhandledRejections();
const root = tempDir('faults');
const PROMPT = [3, 1, 4, 1, 5, 9, 2, 6];
const GREEDY = { maxTokens: 4, eosTokenIds: [] };
/** Any single wait in these tests: far beyond the slowest step on a loaded SwiftShader. */
const BOUND_MS = 60_000;
let dir: string;
let expected: number[];
let uploadSteps: number;

const load = (gpu: GpuContext, extra: { onProgress?: (p: LoadProgress) => void; prefillChunk?: number } = {}) =>
  Qwen35Model.load(new FsCheckpointSource(dir), { gpu, maxContext: 64, prefillChunk: 4, weightFormat: 'q8', ...extra });

/** Loads on a new device and checks the model generates what it did before any fault; frees it all. */
async function expectReloadWorks(): Promise<void> {
  const gpu = await acquireGpu();
  try {
    const model = await within(BOUND_MS, 'reload', load(gpu));
    expect((await model.generateText(PROMPT, GREEDY)).tokens).toEqual(expected);
    model.dispose();
  } finally {
    gpu.destroy();
  }
}

beforeAll(async () => {
  dir = await writeMiniCheckpoint(root);
  const gpu = await acquireGpu();
  let steps = 0;
  const model = await load(gpu, { onProgress: () => steps++ });
  expected = (await model.generateText(PROMPT, GREEDY)).tokens;
  uploadSteps = steps;
  model.dispose();
  gpu.destroy();
});
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  expect(unhandled).toEqual([]);
});

describe('device lost', () => {
  it.each([
    ['the first upload step', () => 1],
    ['half way through the upload', () => Math.ceil(uploadSteps / 2)],
    ['the last upload step (then pipelines build)', () => uploadSteps],
  ])('during load, at %s: DeviceLostError, nothing left on the device, loads again', async (_, at) => {
    expect(uploadSteps).toBeGreaterThan(4);
    const gpu = await acquireGpu();
    const buffers = countDeviceBuffers(gpu);
    let steps = 0;
    const onProgress = () => {
      if (++steps === at()) gpu.destroy();
    };
    const error = await rejectionOf(within(BOUND_MS, 'load on a lost device', load(gpu, { onProgress })));
    expect(error).toBeInstanceOf(DeviceLostError);
    expect(error.message).toMatch(/lost while loading the model .*load the model again/);
    expect(buffers.created()).toBeGreaterThan(0);
    expect(buffers.liveBuffers()).toBe(0);
    await expectReloadWorks();
  });

  it('between prefill chunks: DeviceLostError, then every call fails the same way; dispose frees everything', async () => {
    const gpu = await acquireGpu();
    const buffers = countDeviceBuffers(gpu);
    const model = await load(gpu);
    const queue = gpu.device.queue;
    const submit = queue.submit.bind(queue);
    let submits = 0;
    queue.submit = (commands: Iterable<GPUCommandBuffer>) => {
      submit(commands);
      if (++submits === 2) gpu.destroy();
    };
    const long = Array.from({ length: 30 }, (_, i) => (i * 7 + 2) % 500); // 8 chunks of 4
    const error = await rejectionOf(within(BOUND_MS, 'prefill on a lost device', model.generateText(long, GREEDY)));
    expect(error).toBeInstanceOf(DeviceLostError);
    expect(model.session.position).toBeLessThan(long.length);
    await expect(within(BOUND_MS, 'generate after loss', model.generateText([1], GREEDY))).rejects.toBeInstanceOf(DeviceLostError);
    expect(() => model.reset()).toThrow(DeviceLostError);
    expect(() => model.snapshot()).toThrow(DeviceLostError);
    model.dispose();
    expect(model.session.memory()).toMatchObject({ liveTotal: 0, buffers: 0 });
    expect(Object.values(model.session.memory().live)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(buffers.liveBuffers()).toBe(0);
    await expectReloadWorks();
  });

  it('between decoded tokens: the stream rejects with DeviceLostError after the tokens it gave', async () => {
    const gpu = await acquireGpu();
    const buffers = countDeviceBuffers(gpu);
    const model = await load(gpu);
    const seen: number[] = [];
    const stream = model.generate(PROMPT, { maxTokens: 20, eosTokenIds: [] });
    const error = await rejectionOf(
      within(
        BOUND_MS,
        'decode on a lost device',
        drain(stream, (chunk) => {
          seen.push(chunk.token);
          if (seen.length === 2) gpu.destroy();
        }),
      ),
    );
    expect(error).toBeInstanceOf(DeviceLostError);
    expect(seen).toEqual(expected.slice(0, 2));
    model.dispose();
    expect(model.session.memory().liveTotal).toBe(0);
    expect(buffers.liveBuffers()).toBe(0);
    await expectReloadWorks();
  });
});

describe('out of GPU memory', () => {
  /** maxPositionEmbeddings large enough that maxContext can exceed what one buffer may hold. */
  const LONG = { ...MINI_CONFIG, maxPositionEmbeddings: 2 ** 24 };
  let longDir: string;
  beforeAll(async () => {
    longDir = await writeMiniCheckpoint(root, 'long', LONG);
  });

  it('a KV cache beyond maxBufferSize: OutOfGpuMemoryError naming it and the predicted need, before any allocation', async () => {
    const gpu = await acquireGpu();
    const buffers = countDeviceBuffers(gpu);
    try {
      const options = { gpu, maxContext: 2 ** 24, kvFormat: 'f32' as const, weightFormat: 'q8' as const };
      const error = await rejectionOf(Qwen35Model.load(new FsCheckpointSource(longDir), options));
      expect(error).toBeInstanceOf(OutOfGpuMemoryError);
      // 2^24 positions × 2 KV heads × 16 dims × 4 bytes = 2 GiB > the 1 GiB SwiftShader allows.
      const kvBytes = 2 ** 24 * LONG.numKeyValueHeads * LONG.headDim * 4;
      const need = predictMemory(LONG, options, gpu.limits);
      expect(error.message).toContain(`layers.3.kCache (kv-cache) needs ${formatBytes(kvBytes)}`);
      expect(error.message).toContain(`allows at most ${formatBytes(Math.min(gpu.limits.maxBufferSize, gpu.limits.maxStorageBufferBindingSize))}`);
      expect(error.message).toContain(`would need ${formatBytes(need.total)} (weights ${formatBytes(need.byCategory.weights)}`);
      expect(error.message).toMatch(/Nothing was allocated: load with a smaller maxContext/);
      expect(buffers.created()).toBe(0);
    } finally {
      gpu.destroy();
    }
  });

  it('an expert block that no binding can hold: OutOfGpuMemoryError naming the matrix, before the loader runs', async () => {
    const gpu = await acquireGpu();
    const buffers = countDeviceBuffers(gpu);
    let loaderCalls = 0;
    try {
      const moe = TINY_CONFIGS.moe;
      // One expert's [gate; up] block in f32 is 2·64 rows × 64 cols × 4 B = 32 KiB; allow 16 KiB per binding.
      const options = { gpu, weightFormat: 'f32' as const, maxBindingBytes: 16 * 1024, maxContext: 64 };
      const error = await rejectionOf(
        Session.create(moe, options, async () => {
          loaderCalls++;
          throw new Error('the loader must not run');
        }),
      );
      expect(error).toBeInstanceOf(OutOfGpuMemoryError);
      expect(error.message).toMatch(/^layers\.0\.moe\.gateUp: 128 row\(s\) of a f32 matrix with 64 columns need 32\.0 KiB, more than one storage binding allows \(16\.0 KiB\)/);
      expect(error.message).toContain(`would need ${formatBytes(predictMemory(moe, { weightFormat: 'f32', maxContext: 64 }).total)}`);
      expect(loaderCalls).toBe(0);
      expect(buffers.created()).toBe(0);
    } finally {
      gpu.destroy();
    }
  });

  it('the driver refusing an allocation within the limits (SwiftShader: a buffer of exactly 1 GiB): OutOfGpuMemoryError naming it and the need, all released', async (ctx) => {
    const gpu = await acquireGpu();
    if (!gpu.adapter.isSoftware) {
      gpu.destroy();
      ctx.skip(); // a hardware GPU may well hold this buffer
    }
    const buffers = countDeviceBuffers(gpu);
    try {
      // K and V: 2^23 positions × 128 B = 1 GiB each: exactly maxBufferSize, which the device accepts, but SwiftShader's
      // Vulkan allocation (Dawn pads the buffer) fails with VK_ERROR_OUT_OF_DEVICE_MEMORY — a real driver OOM.
      const options = { gpu, maxContext: 2 ** 23, kvFormat: 'f32' as const, weightFormat: 'q8' as const, prefillChunk: 4 };
      const error = await rejectionOf(within(BOUND_MS, 'load beyond driver memory', Qwen35Model.load(new FsCheckpointSource(longDir), options)));
      expect(error).toBeInstanceOf(OutOfGpuMemoryError);
      expect(error.message).toContain('the GPU ran out of memory loading the model');
      // The buffer the driver refused (Dawn names it by label), its category and size: one of the two 1 GiB caches.
      expect(error.message).toMatch(new RegExp(`buffer "layers\\.3\\.[kv]Cache" \\(kv-cache, ${formatBytes(2 ** 23 * LONG.numKeyValueHeads * LONG.headDim * 4)}\\) did not fit`));
      expect(error.message).toContain(`it needs ${formatBytes(predictMemory(LONG, options, gpu.limits).total)}`);
      expect(buffers.liveBuffers()).toBe(0);
    } finally {
      gpu.destroy();
    }
  });
});

describe('GPU validation errors are surfaced, never swallowed', () => {
  it('a broken command on the session device fails the next call with GpuValidationError quoting the device', async () => {
    const gpu = await acquireGpu();
    const buffers = countDeviceBuffers(gpu);
    const model = await load(gpu);
    const ctx = model.session.ctx;
    const scratch = ctx.allocator.create({ label: 'deliberately-broken', category: 'other', size: 16, usage: GPUBufferUsage.COPY_SRC });
    const encoder = ctx.device.createCommandEncoder();
    encoder.copyBufferToBuffer(scratch, 0, scratch, 8, 16); // source = destination, and out of range
    ctx.device.queue.submit([encoder.finish()]);
    const error = await rejectionOf(within(BOUND_MS, 'generate after a validation error', model.generateText(PROMPT, GREEDY)));
    expect(error).toBeInstanceOf(GpuValidationError);
    expect(error.message).toMatch(/deliberately-broken/);
    // The session stays failed (its state can no longer be trusted) until it is loaded again.
    await expect(model.generateText(PROMPT, GREEDY)).rejects.toBeInstanceOf(GpuValidationError);
    model.dispose();
    expect(buffers.liveBuffers()).toBe(0);
    gpu.destroy();
  });

  it('a validation error raised while loading fails the load with GpuValidationError and frees everything', async () => {
    const gpu = await acquireGpu();
    const buffers = countDeviceBuffers(gpu);
    const tensors = await openTensorDirectory(new FsCheckpointSource(dir));
    const recipes = planWeights(MINI_CONFIG, tensors);
    const error = await rejectionOf(
      Session.create(MINI_CONFIG, { gpu, maxContext: 16 }, async (ctx, plan) => {
        const weights = await loadGpuWeights(ctx, plan, recipes, tensors);
        const encoder = ctx.device.createCommandEncoder();
        const matrix = weights.embed.parts[0]!.data;
        encoder.copyBufferToBuffer(matrix, 0, matrix, 4, 16); // a loader that broke something
        ctx.device.queue.submit([encoder.finish()]);
        return weights;
      }),
    );
    expect(error).toBeInstanceOf(GpuValidationError);
    expect(error.message).toMatch(/a GPU command failed .*found while loading the model/s);
    expect(buffers.liveBuffers()).toBe(0);
    gpu.destroy();
  });
});

