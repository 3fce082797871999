/**
 * RMSNorm kernel vs the CPU reference. Tolerance 1e-5 rel + 1e-6 abs: both sides compute in
 * f32/f64 and differ only by the order of the sum of squares (≤ ~n·eps32 relative).
 */
import { describe, it } from 'vitest';
import { createStorage, readF32, submitDispatches, uploadStorage } from '../src/gpu/kernel.js';
import { createRmsNorm } from '../src/kernels/rmsnorm.js';
import { rmsNorm } from '../src/model/ops.js';
import { Random } from '../src/model/random.js';
import { expectClose, gpuContext, GPU_VARIANTS, variantAvailable } from './harness.js';

const SHAPES = [
  { n: 64, rows: 3 },
  { n: 1000, rows: 5 }, // not a multiple of the workgroup size
  { n: 2048, rows: 1 },
  { n: 256, rows: 37 }, // per-head q/k norm shape
];

describe.each(GPU_VARIANTS)('rmsnorm ($name)', (variant) => {
  for (const unitOffset of [true, false]) {
    for (const { n, rows } of SHAPES) {
      it(`n=${n} rows=${rows} ${unitOffset ? '(1+w)' : 'w'}`, async ({ skip }) => {
        if (!(await variantAvailable(variant))) skip();
        const ctx = await gpuContext(variant);
        const rnd = new Random(n * 31 + rows);
        const x = rnd.normals(n * rows, 3);
        const w = rnd.normals(n, 0.5);
        const kernel = await createRmsNorm(ctx, { n, rows, eps: 1e-6, unitOffset });
        const bufs = {
          w: uploadStorage(ctx, w, 'w'),
          h: uploadStorage(ctx, x, 'x'),
          y: createStorage(ctx, x.byteLength, 'y'),
        };
        submitDispatches(ctx, kernel.bind(bufs).dispatches);
        expectClose(await readF32(ctx, bufs.y), rmsNorm(x, w, n, 1e-6, unitOffset), 1e-6, 1e-5, 'y');
        Object.values(bufs).forEach((b) => ctx.allocator.destroy(b));
      });
    }
  }

  it('runs fewer rows than bound via setRows, leaving the rest untouched', async ({ skip }) => {
    if (!(await variantAvailable(variant))) skip();
    const ctx = await gpuContext(variant);
    const n = 320;
    const rnd = new Random(7);
    const h = rnd.normals(n * 4);
    const w = rnd.normals(n, 0.1);
    const kernel = await createRmsNorm(ctx, { n, rows: 4, eps: 1e-6, unitOffset: true });
    const bufs = { w: uploadStorage(ctx, w, 'w'), h: uploadStorage(ctx, h, 'h'), y: createStorage(ctx, h.byteLength, 'y') };
    const bound = kernel.bind(bufs);
    bound.setRows(3);
    submitDispatches(ctx, bound.dispatches);
    expectClose(await readF32(ctx, bufs.y, 3 * n), rmsNorm(h.subarray(0, 3 * n), w, n, 1e-6, true), 1e-6, 1e-5, 'y');
    expectClose(await readF32(ctx, bufs.y, n, 3 * n), new Float32Array(n), 0, 0, 'untouched row');
    Object.values(bufs).forEach((b) => ctx.allocator.destroy(b));
  });
});
