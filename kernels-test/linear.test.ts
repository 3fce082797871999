/**
 * Linear kernels (matvec for T = 1, tiled matmul for T > 1) vs ops.linear / ops.swiglu run on
 * the DEQUANTIZED weights. Tolerance: the per-element f32 accumulation bound of dot-bounds.ts,
 * (cols + 2)·2^-24·Σ|w·x| (any summation order), plus one rounding of |y| for 'add'.
 * normInput (the RMSNorm fused into the matvec): x = rmsNorm(h) in f64 rounded to f32 is the
 * reference input; the kernel's r = rsqrt(Σh²/cols + eps) carries the f32 sum's cols·u (halved by
 * the square root) and inverseSqrt's 2 ULP, and each term the roundings of 1 + w, h·(1 + w), ·r and
 * the reference's own x: (cols/2 + 8)·u more per term.
 */
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../src/errors.js';
import { createStorage, readF32, submitDispatches, uploadStorage, type KernelContext } from '../src/gpu/kernel.js';
import { dataBytes, WEIGHT_FORMATS, type WeightFormat } from '../src/io/formats.js';
import { dequantizeMatrix, packMatrix } from '../src/io/quantize.js';
import { createLinear, type LinearEpilogue } from '../src/kernels/linear.js';
import { destroyMatrix, uploadMatrix } from '../src/kernels/matrix.js';
import { linear, rmsNorm, swiglu } from '../src/model/ops.js';
import { Random } from '../src/model/random.js';
import { dotBounds, expectWithinBounds, int8XMatvec, swigluBounds, U32 } from './dot-bounds.js';
import { gpuContext, GPU_VARIANTS, variantAvailable } from './harness.js';

interface Case {
  format: WeightFormat;
  rows: number;
  cols: number;
  epilogue: LinearEpilogue;
  /** Token counts run one after the other on the same bound kernel (setTokens). */
  tokenCounts: number[];
  maxPartBytes?: number;
  /** The matvec normalises x itself (normInput); the matmul reads the normalised rows. */
  normInput?: boolean;
  /** Weight rows per matvec row group (default 8). */
  matvecRows?: number;
  /** Matvec row groups per workgroup (default: matvecLayout's). */
  matvecGroups?: number;
  /** The matmul's prefetching staging (default: direct). */
  matmulPrefetch?: boolean;
  /** q4: the matvec's int8 x (T = 1 only), checked against its exact model int8XMatvec. */
  matvecInt8X?: boolean;
}

const EPS = 1e-6;

/** Runs the case for each token count and checks it against the reference. */
async function checkCase(ctx: KernelContext, c: Case, seed: number): Promise<void> {
  const rnd = new Random(seed);
  const maxT = Math.max(...c.tokenCounts);
  const values = rnd.normals(c.rows * c.cols, 1 / Math.sqrt(c.cols));
  const w = dequantizeMatrix(packMatrix(values, c.rows, c.cols, c.format), c.rows, c.cols, c.format);
  const outs = c.epilogue === 'swiglu' ? c.rows / 2 : c.rows;
  const matrix = uploadMatrix(ctx, 'w', values, c.rows, c.cols, c.format, { maxPartBytes: c.maxPartBytes });
  if (c.maxPartBytes) expect(matrix.parts.length).toBeGreaterThan(1);
  const normInput = c.normInput ? { eps: EPS } : undefined;
  const kernel = await createLinear(ctx, { format: c.format, rows: c.rows, cols: c.cols, tokens: maxT, epilogue: c.epilogue, normInput, matvecRows: c.matvecRows, matvecGroups: c.matvecGroups, matmulPrefetch: c.matmulPrefetch, matvecInt8X: c.matvecInt8X });
  const normWeight = rnd.normals(c.cols, 0.5);
  const normBuf = uploadStorage(ctx, normWeight, 'norm w');
  for (const T of c.tokenCounts) {
    const h = rnd.normals(T * c.cols, 3);
    const x = c.normInput ? rmsNorm(h, normWeight, c.cols, EPS, true) : h;
    const y0 = rnd.normals(maxT * outs); // prior contents: kept beyond T, the residual for 'add'
    const xPadded = new Float32Array(maxT * c.cols).fill(Number.NaN); // tokens past T must not be read
    xPadded.set(x);
    const xBuf = uploadStorage(ctx, xPadded, 'x');
    const yBuf = uploadStorage(ctx, y0, 'y');
    const hBuf = uploadStorage(ctx, h, 'h');
    const bound = kernel.bind({ w: matrix, x: xBuf, y: yBuf, ...(c.normInput ? { norm: { h: hBuf, w: normBuf } } : {}) });
    bound.setTokens(T);
    submitDispatches(ctx, bound.dispatches);
    const got = await readF32(ctx, yBuf);
    let product: Float32Array;
    let bounds: Float32Array;
    if (c.matvecInt8X) {
      // The kernel quantizes x, or h·(1 + w) (the f32 products it forms) with r = rsqrt(mean h² + eps) applied to the totals.
      const v = c.normInput ? h.map((hv, i) => Math.fround(hv * Math.fround(1 + normWeight[i]!))) : x;
      const post = c.normInput ? 1 / Math.sqrt(h.reduce((a, hv) => a + hv * hv, 0) / c.cols + EPS) : 1;
      const model = int8XMatvec(v, w, c.rows, c.cols, post, c.normInput ? c.cols / 2 + 8 : 0);
      expect(model.nearTies, 'inputs near a rounding tie of the int8 codes').toBe(0);
      ({ product, bounds } = model);
    } else {
      product = linear(x, w, c.rows, c.cols);
      bounds = dotBounds(x, w, c.rows, c.cols, c.normInput && T === 1 ? c.cols / 2 + 8 : 0);
    }
    let want: Float32Array;
    let tol: Float32Array;
    if (c.epilogue === 'swiglu') {
      want = swiglu(product, outs);
      tol = swigluBounds(product, bounds, outs);
    } else if (c.epilogue === 'add') {
      want = product.map((v, i) => v + y0[i]!);
      tol = bounds.map((b, i) => b + U32 * Math.abs(want[i]!));
    } else {
      want = product;
      tol = bounds;
    }
    const what = `${c.format} [${c.rows}, ${c.cols}] ${c.epilogue}${c.normInput ? ' normInput' : ''} T=${T}`;
    expectWithinBounds(got.subarray(0, T * outs), want, tol, what);
    expect(Array.from(got.subarray(T * outs)), `${what}: rows past T untouched`).toEqual(Array.from(y0.subarray(T * outs)));
    [xBuf, yBuf, hBuf].forEach((b) => ctx.allocator.destroy(b));
  }
  ctx.allocator.destroy(normBuf);
  destroyMatrix(ctx, matrix);
}

const SHAPES = [
  { rows: 37, cols: 100 },
  { rows: 64, cols: 48 },
  { rows: 21, cols: 1000 },
];

describe.each(GPU_VARIANTS)('linear ($name)', (variant) => {
  for (const format of WEIGHT_FORMATS) {
    for (const { rows, cols } of SHAPES) {
      it(`${format} [${rows}, ${cols}] store, T = 1, 3, 70`, async ({ skip }) => {
        if (!(await variantAvailable(variant))) skip();
        await checkCase(await gpuContext(variant), { format, rows, cols, epilogue: 'store', tokenCounts: [1, 3, 70] }, rows * cols);
      });
    }
    it(`${format} add and swiglu epilogues [74, 100], T = 1, 3, 70`, async ({ skip }) => {
      if (!(await variantAvailable(variant))) skip();
      const ctx = await gpuContext(variant);
      await checkCase(ctx, { format, rows: 74, cols: 100, epilogue: 'add', tokenCounts: [1, 3, 70] }, 1);
      await checkCase(ctx, { format, rows: 74, cols: 100, epilogue: 'swiglu', tokenCounts: [1, 3, 70] }, 2);
    });
    it(`${format} forced split in parts [150, 70], store and add, T = 1, 5`, async ({ skip }) => {
      if (!(await variantAvailable(variant))) skip();
      const ctx = await gpuContext(variant);
      const maxPartBytes = dataBytes(format, 40, 70);
      await checkCase(ctx, { format, rows: 150, cols: 70, epilogue: 'store', tokenCounts: [1, 5], maxPartBytes }, 3);
      await checkCase(ctx, { format, rows: 150, cols: 70, epilogue: 'add', tokenCounts: [5, 1], maxPartBytes }, 4);
    });
    it(`${format} normInput (RMSNorm fused into the matvec): store [37, 100], swiglu [74, 70], split add [150, 70], T = 1, 3`, async ({ skip }) => {
      if (!(await variantAvailable(variant))) skip();
      const ctx = await gpuContext(variant);
      await checkCase(ctx, { format, rows: 37, cols: 100, epilogue: 'store', tokenCounts: [1, 3], normInput: true }, 6);
      await checkCase(ctx, { format, rows: 74, cols: 70, epilogue: 'swiglu', tokenCounts: [3, 1], normInput: true }, 7);
      const maxPartBytes = dataBytes(format, 40, 70);
      await checkCase(ctx, { format, rows: 150, cols: 70, epilogue: 'add', tokenCounts: [1, 3], maxPartBytes, normInput: true }, 8);
    });
    it(`${format} matmul with prefetching staging: store [37, 100] / [21, 1000], add and swiglu [74, 70], split add [150, 70], T = 3, 70`, async ({ skip }) => {
      if (!(await variantAvailable(variant))) skip();
      const ctx = await gpuContext(variant);
      const matmulPrefetch = true;
      await checkCase(ctx, { format, rows: 37, cols: 100, epilogue: 'store', tokenCounts: [3, 70], matmulPrefetch }, 14);
      await checkCase(ctx, { format, rows: 21, cols: 1000, epilogue: 'store', tokenCounts: [70, 3], matmulPrefetch }, 15);
      await checkCase(ctx, { format, rows: 74, cols: 70, epilogue: 'add', tokenCounts: [3, 70], matmulPrefetch }, 16);
      await checkCase(ctx, { format, rows: 74, cols: 70, epilogue: 'swiglu', tokenCounts: [70, 3], matmulPrefetch }, 17);
      await checkCase(ctx, { format, rows: 150, cols: 70, epilogue: 'add', tokenCounts: [3, 70], matmulPrefetch, maxPartBytes: dataBytes(format, 40, 70) }, 18);
    });
    it(`${format} matvec with 2 / 32 rows per workgroup (the bench's sweep): store [37, 100], swiglu [74, 70], T = 1`, async ({ skip }) => {
      if (!(await variantAvailable(variant))) skip();
      const ctx = await gpuContext(variant);
      for (const matvecRows of [2, 32]) {
        await checkCase(ctx, { format, rows: 37, cols: 100, epilogue: 'store', tokenCounts: [1], matvecRows }, 9);
        await checkCase(ctx, { format, rows: 74, cols: 70, epilogue: 'swiglu', tokenCounts: [1], matvecRows, normInput: true }, 10);
      }
    });
    it(`${format} matvec with 1 / 8 row groups per workgroup: store [37, 100], swiglu [74, 70] normInput, split add [150, 70], T = 1`, async ({ skip }) => {
      if (!(await variantAvailable(variant))) skip();
      const ctx = await gpuContext(variant);
      const maxPartBytes = dataBytes(format, 40, 70);
      for (const matvecGroups of [1, 8]) {
        await checkCase(ctx, { format, rows: 37, cols: 100, epilogue: 'store', tokenCounts: [1], matvecGroups }, 11);
        await checkCase(ctx, { format, rows: 74, cols: 70, epilogue: 'swiglu', tokenCounts: [1], matvecGroups, normInput: true }, 12);
        await checkCase(ctx, { format, rows: 150, cols: 70, epilogue: 'add', tokenCounts: [1], matvecGroups, maxPartBytes }, 13);
      }
    });
  }
  it('q4 matvec with int8 x: store [37, 100] / [21, 1000] (several words per thread), swiglu [74, 70] normInput, split add [150, 70], 2 and 32 rows per group', async ({ skip }) => {
    if (!(await variantAvailable(variant))) skip();
    const ctx = await gpuContext(variant);
    const base = { format: 'q4' as const, tokenCounts: [1], matvecInt8X: true };
    await checkCase(ctx, { ...base, rows: 37, cols: 100, epilogue: 'store' }, 19);
    await checkCase(ctx, { ...base, rows: 21, cols: 1000, epilogue: 'store' }, 20);
    await checkCase(ctx, { ...base, rows: 74, cols: 70, epilogue: 'swiglu', normInput: true }, 21);
    await checkCase(ctx, { ...base, rows: 150, cols: 70, epilogue: 'add', maxPartBytes: dataBytes('q4', 40, 70) }, 22);
    for (const matvecRows of [2, 32]) await checkCase(ctx, { ...base, rows: 37, cols: 100, epilogue: 'store', matvecRows }, 23);
  });
});

describe('linear grid', () => {
  // Host-side split (gridFor) and the shader's flat workgroup index are the same in both
  // variants; this costs ~10 s on SwiftShader, so it runs on the first variant only.
  it('matvec grid over 65535 workgroups is split over y (270,001 rows, LM-head style)', async () => {
    await checkCase(await gpuContext(GPU_VARIANTS[0]!), { format: 'q4', rows: 270001, cols: 32, epilogue: 'store', tokenCounts: [1] }, 5);
  });
});

describe('linear errors', () => {
  it('mismatched matrix, split swiglu matrix and short buffers throw InvalidArgumentError', async () => {
    const ctx = await gpuContext(GPU_VARIANTS[0]!);
    const m = uploadMatrix(ctx, 'blk.0.gate_up', new Float32Array(8 * 32), 8, 32, 'q8', { maxPartBytes: 4 * 32 });
    const x = createStorage(ctx, 2 * 32 * 4, 'x');
    const y = createStorage(ctx, 2 * 8 * 4, 'y');
    const wrong = await createLinear(ctx, { format: 'q4', rows: 8, cols: 32, tokens: 2, epilogue: 'store' });
    expect(() => wrong.bind({ w: m, x, y })).toThrow(/built for q4 \[8, 32\], got blk\.0\.gate_up: q8 \[8, 32\]/);
    const fused = await createLinear(ctx, { format: 'q8', rows: 8, cols: 32, tokens: 2, epilogue: 'swiglu' });
    expect(() => fused.bind({ w: m, x, y })).toThrow(/one part; blk\.0\.gate_up has 2/);
    const plain = await createLinear(ctx, { format: 'q8', rows: 8, cols: 32, tokens: 3, epilogue: 'store' });
    expect(() => plain.bind({ w: m, x, y })).toThrow(InvalidArgumentError);
    await expect(createLinear(ctx, { format: 'q8', rows: 7, cols: 32, tokens: 1, epilogue: 'swiglu' })).rejects.toThrow(InvalidArgumentError);
    await expect(createLinear(ctx, { format: 'q8', rows: 8, cols: 32, tokens: 1, epilogue: 'store', matvecRows: 3 })).rejects.toThrow(/matvecRows/);
    await expect(createLinear(ctx, { format: 'q8', rows: 8, cols: 32, tokens: 1, epilogue: 'store', matvecGroups: 3 })).rejects.toThrow(/matvecGroups must be one of 1, 2, 4, 8/);
    await expect(createLinear(ctx, { format: 'f32', rows: 8, cols: 1024, tokens: 1, epilogue: 'store', matvecGroups: 8 })).rejects.toThrow(/at most \d+ threads \(256 per group\)/);
    await expect(createLinear(ctx, { format: 'q8', rows: 8, cols: 32, tokens: 1, epilogue: 'store', matvecInt8X: true })).rejects.toThrow(/matvecInt8X needs q4 weights, got q8/);
    expect(() => plain.bind({ w: m, x: createStorage(ctx, 3 * 32 * 4, 'x3'), y: createStorage(ctx, 3 * 8 * 4, 'y3') }).setTokens(4)).toThrow(RangeError);
    destroyMatrix(ctx, m);
  });
});
