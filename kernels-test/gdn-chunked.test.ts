/**
 * Chunked (WY/UT) gated delta rule vs the CPU reference (ops.ts gdnChunked / gdnRecurrent) and vs
 * the GPU recurrent kernel: calls crossing chunk boundaries, partial chunks, the state carried
 * across calls in both directions (chunked → recurrent → chunked). Tolerance atol 1e-4, rtol 1e-4,
 * justified in gdn-helpers.ts.
 */
import { describe, it } from 'vitest';
import type { KernelContext } from '../src/gpu/kernel.js';
import { checkCalls, checkChunkedMatchesRecurrent, GOLDEN, QWEN_08B } from './gdn-helpers.js';
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
    checkCalls(ctx, { keyHeads: 1, valueHeads: 3, keyDim: 12, valueDim: 20 }, [['chunked', 37], ['recurrent', 2]], 16));
  run('0.8B shape, T=67 (two chunks)', (ctx) => checkCalls(ctx, QWEN_08B, [['chunked', 67]]));
  run('≡ GPU recurrent, golden shape, T=150', (ctx) => checkChunkedMatchesRecurrent(ctx, GOLDEN, 150));
  run('≡ GPU recurrent, 0.8B shape, T=20', (ctx) => checkChunkedMatchesRecurrent(ctx, QWEN_08B, 20));
});
