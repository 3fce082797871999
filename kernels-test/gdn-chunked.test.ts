/**
 * Chunked (WY/UT) gated delta rule vs the CPU reference (ops.ts gdnChunked / gdnRecurrent) and vs
 * the GPU recurrent kernel: calls crossing chunk boundaries, partial chunks, the state carried
 * across calls in both directions (chunked → recurrent → chunked). Tolerance atol 1e-4, rtol 1e-4,
 * justified in gdn-helpers.ts.
 */
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../src/errors.js';
import { createGdnChunked, createGdnRecurrent } from '../src/kernels/gdn.js';
import type { KernelContext } from '../src/gpu/kernel.js';
import { checkCalls, checkChunkedMatchesRecurrent, GOLDEN, QWEN_08B, recurrenceBuffers } from './gdn-helpers.js';
import { gpuContext, GPU_VARIANTS, variantAvailable } from './harness.js';

describe.each(GPU_VARIANTS)('gdn chunked ($name)', (variant) => {
  const run = (title: string, body: (ctx: KernelContext) => Promise<void>): void => {
    it(title, async ({ skip }) => {
      if (!(await variantAvailable(variant))) skip();
      await body(await gpuContext(variant));
    });
  };
  run('golden shape, calls T=1,7,64,150', (ctx) =>
    checkCalls(ctx, GOLDEN, [['chunked', 1], ['chunked', 7], ['chunked', 64], ['chunked', 150]]));
  run('chunked → recurrent → chunked → recurrent, golden shape (state carried both ways)', (ctx) =>
    checkCalls(ctx, GOLDEN, [['chunked', 70], ['recurrent', 3], ['chunked', 9], ['recurrent', 1]]));
  run('chunk 16, odd dims (Hk=1 Hv=3 dk=12 dv=20), T=37 then a recurrent step', (ctx) =>
    checkCalls(ctx, { keyHeads: 1, valueHeads: 3, keyDim: 12, valueDim: 20 }, [['chunked', 37], ['recurrent', 2]], { chunk: 16 }));
  run('0.8B shape, T=67 (two chunks)', (ctx) => checkCalls(ctx, QWEN_08B, [['chunked', 67]]));
  // The bench's tuning sweep: scan workgroups with 1 to 8 state rows per thread and idle thread rows (RG > DK).
  run('golden shape, scan 16 columns × 256 threads batch 32, then 4 columns × 64 threads batch 4, then chunk 32', async (ctx) => {
    await checkCalls(ctx, GOLDEN, [['chunked', 70], ['chunked', 9]], { scanColumns: 16, scanThreads: 256, scanBatch: 32 });
    await checkCalls(ctx, GOLDEN, [['chunked', 70], ['chunked', 9]], { scanColumns: 4, scanThreads: 64, scanBatch: 4 });
    await checkCalls(ctx, GOLDEN, [['chunked', 70], ['recurrent', 2], ['chunked', 33]], { chunk: 32 });
  });
  run('0.8B shape, T=67, scan 16 columns × 64 threads batch 32 (4 V′ rows and 8 state rows per thread)', (ctx) =>
    checkCalls(ctx, QWEN_08B, [['chunked', 67]], { scanColumns: 16, scanThreads: 64, scanBatch: 32 }));
  run('≡ GPU recurrent, golden shape, T=150', (ctx) => checkChunkedMatchesRecurrent(ctx, GOLDEN, 150));
  run('≡ GPU recurrent, 0.8B shape, T=20', (ctx) => checkChunkedMatchesRecurrent(ctx, QWEN_08B, 20));
});

describe('gdn chunked (bad input)', () => {
  it('rejects bad chunk sizes, head ratios, head dims and token counts with typed errors', async () => {
    const ctx = await gpuContext(GPU_VARIANTS[1]!);
    const shape = { ...GOLDEN, maxTokens: 8 };
    await expect(createGdnChunked(ctx, { ...shape, chunk: 100 })).rejects.toThrow(/chunk/);
    await expect(createGdnChunked(ctx, { ...shape, scanColumns: 12 })).rejects.toThrow(/scanColumns must be one of 4, 8, 16 and divide valueDim 16, got 12/);
    await expect(createGdnChunked(ctx, { ...shape, valueDim: 20, scanColumns: 8 })).rejects.toThrow(/divide valueDim 20/);
    await expect(createGdnChunked(ctx, { ...shape, scanThreads: 96 })).rejects.toThrow(/scanThreads must be one of 64, 128, 256, got 96/);
    await expect(createGdnChunked(ctx, { ...shape, scanBatch: 3 })).rejects.toThrow(/scanBatch must be one of 4, 8, 16, 32, got 3/);
    await expect(createGdnChunked(ctx, { ...shape, valueHeads: 3 })).rejects.toThrow(InvalidArgumentError);
    await expect(createGdnRecurrent(ctx, { ...shape, keyDim: 18 })).rejects.toThrow(/multiples of 4/);
    const recurrent = await createGdnRecurrent(ctx, shape);
    const state = new Float32Array(GOLDEN.valueHeads * GOLDEN.keyDim * GOLDEN.valueDim);
    const bufs = recurrenceBuffers(ctx, GOLDEN, 8, state);
    try {
      expect(() => recurrent.bind({ ...bufs, state: bufs.aLog })).toThrow(/buffer "state"/);
      expect(() => recurrent.bind(bufs).setTokens(9)).toThrow(/maxTokens/);
    } finally {
      Object.values(bufs).forEach((b) => ctx.allocator.destroy(b));
    }
  });
});
