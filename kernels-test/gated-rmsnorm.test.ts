/**
 * Gated RMSNorm (the GDN output norm, rmsnorm.wgsl GATED) vs ops.ts gatedRmsNorm, with z read from
 * the fused GDN projection. Tolerance 1e-5 rel + 1e-6 abs: f32 sum of squares over dv (order only,
 * as in the plain RMSNorm test) plus one f32 exp in silu (a few ulp).
 */
import { describe, it } from 'vitest';
import { createStorage, readF32, submitDispatches, uploadStorage } from '../src/gpu/kernel.js';
import { gdnChannels, gdnProjWidth } from '../src/kernels/gdn.js';
import { createGatedRmsNorm } from '../src/kernels/rmsnorm.js';
import { gatedRmsNorm } from '../src/model/ops.js';
import { Random } from '../src/model/random.js';
import { expectClose, gpuContext, GPU_VARIANTS, variantAvailable } from './harness.js';

const SHAPES = [
  { keyHeads: 2, valueHeads: 4, keyDim: 16, valueDim: 16, maxTokens: 9, tokens: 7 }, // golden; 2 rows left untouched
  { keyHeads: 16, valueHeads: 16, keyDim: 128, valueDim: 128, maxTokens: 3, tokens: 3 }, // 0.8B
  { keyHeads: 2, valueHeads: 6, keyDim: 12, valueDim: 20, maxTokens: 5, tokens: 1 }, // odd sizes, decode
];

describe.each(GPU_VARIANTS)('gated rmsnorm ($name)', (variant) => {
  for (const s of SHAPES) {
    it(`Hv=${s.valueHeads} dv=${s.valueDim} (Hk=${s.keyHeads} dk=${s.keyDim}) T=${s.tokens}/${s.maxTokens}`, async ({ skip }) => {
      if (!(await variantAvailable(variant))) skip();
      const ctx = await gpuContext(variant);
      const rnd = new Random(s.valueHeads * s.valueDim + s.tokens);
      const width = gdnProjWidth(s);
      const rowLen = s.valueHeads * s.valueDim;
      const proj = rnd.normals(s.maxTokens * width, 2);
      const o = rnd.normals(s.maxTokens * rowLen);
      const w = rnd.normals(s.valueDim, 0.5);
      const kernel = await createGatedRmsNorm(ctx, { ...s, eps: 1e-6 });
      const bufs = {
        o: uploadStorage(ctx, o, 'o'),
        proj: uploadStorage(ctx, proj, 'proj'),
        w: uploadStorage(ctx, w, 'w'),
        y: createStorage(ctx, s.maxTokens * rowLen * 4, 'y'),
      };
      try {
        const bound = kernel.bind(bufs);
        bound.setTokens(s.tokens);
        submitDispatches(ctx, bound.dispatches);
        const z = new Float32Array(s.tokens * rowLen);
        for (let t = 0; t < s.tokens; t++) z.set(proj.subarray(t * width + gdnChannels(s), t * width + gdnChannels(s) + rowLen), t * rowLen);
        const want = gatedRmsNorm(o.subarray(0, s.tokens * rowLen), z, w, 1e-6);
        expectClose(await readF32(ctx, bufs.y, s.tokens * rowLen), want, 1e-6, 1e-5, 'y');
        const rest = (s.maxTokens - s.tokens) * rowLen;
        expectClose(await readF32(ctx, bufs.y, rest, s.tokens * rowLen), new Float32Array(rest), 0, 0, 'rows beyond tokens');
      } finally {
        Object.values(bufs).forEach((b) => ctx.allocator.destroy(b));
      }
    });
  }
});
