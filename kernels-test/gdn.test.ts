/**
 * Gated DeltaNet kernels vs the CPU reference (ops.ts: causalConv1dSilu, l2Normalize, gdnGates,
 * gdnRecurrent, gdnChunked), calls of several sizes with conv and recurrent state carried across them.
 *
 * Tolerances:
 * - prep: a K-tap f32 conv + SiLU, an f32 l2norm over dk and the gates: a few f32 roundings of O(1)
 *   values (≤ ~1e-6 relative; exp/log on the GPU are a few ulp) → atol 1e-6, rtol 1e-5.
 * - recurrence: every step rescales S and adds a rank-1 update from dk-long f32 dots; with |k| = 1,
 *   β < 1 and e^g ≤ 1 the state stays O(|v|) and rounding errors (~dk·2⁻²⁴ per step) accumulate at
 *   most linearly over the T ≤ 150 steps of a case: ≤ 150·128·6e-8 ≈ 1e-3 worst case, ~1e-5 in
 *   practice (random-walk) → atol 1e-4, rtol 1e-4 on o and the final state.
 */
import { describe, it } from 'vitest';
import { createStorage, readF32, submitDispatches, uploadStorage, writeBuffer, type KernelContext } from '../src/gpu/kernel.js';
import { createGdnPrep, createGdnRecurrent, gdnChannels, gdnProjWidth, type GdnDimsShape } from '../src/kernels/gdn.js';
import { causalConv1dSilu, gdnGates, gdnRecurrent, l2Normalize, type GdnDims, type GdnInputs } from '../src/model/ops.js';
import { Random } from '../src/model/random.js';
import { expectClose, gpuContext, GPU_VARIANTS, variantAvailable } from './harness.js';

const GOLDEN: GdnDims = { keyHeads: 2, valueHeads: 4, keyDim: 16, valueDim: 16 };
const QWEN_08B: GdnDims = { keyHeads: 16, valueHeads: 16, keyDim: 128, valueDim: 128 };
const CONV_KERNEL = 4;

/** Columns [offset, offset + width) of every row of a [rows, stride] matrix. */
function columns(m: Float32Array, stride: number, offset: number, width: number): Float32Array {
  const rows = m.length / stride;
  const out = new Float32Array(rows * width);
  for (let r = 0; r < rows; r++) out.set(m.subarray(r * stride + offset, r * stride + offset + width), r * width);
  return out;
}

/** Random recurrence inputs for T tokens as the prep kernel would produce them (unit k, scaled unit q). */
function randomGdnInputs(rnd: Random, dims: GdnDims, tokens: number): GdnInputs {
  const { keyHeads: hk, valueHeads: hv, keyDim: dk, valueDim: dv } = dims;
  const gates = gdnGates(rnd.normals(tokens * hv), rnd.normals(tokens * hv), rnd.normals(hv, 0.5), rnd.normals(hv, 0.5));
  return {
    q: l2Normalize(rnd.normals(tokens * hk * dk), dk, 1 / Math.sqrt(dk)),
    k: l2Normalize(rnd.normals(tokens * hk * dk), dk),
    v: rnd.normals(tokens * hv * dv),
    beta: gates.beta,
    g: gates.g,
  };
}

function sliceTokens(inp: GdnInputs, dims: GdnDims, t0: number, t1: number): GdnInputs {
  const { keyHeads: hk, valueHeads: hv, keyDim: dk, valueDim: dv } = dims;
  return {
    q: inp.q.subarray(t0 * hk * dk, t1 * hk * dk),
    k: inp.k.subarray(t0 * hk * dk, t1 * hk * dk),
    v: inp.v.subarray(t0 * hv * dv, t1 * hv * dv),
    beta: inp.beta.subarray(t0 * hv, t1 * hv),
    g: inp.g.subarray(t0 * hv, t1 * hv),
  };
}

async function checkPrep(ctx: KernelContext, dims: GdnDims, calls: number[]): Promise<void> {
  const { keyHeads: hk, valueHeads: hv, keyDim: dk, valueDim: dv } = dims;
  const maxTokens = Math.max(...calls);
  const C = gdnChannels(dims);
  const width = gdnProjWidth(dims);
  const rnd = new Random(C + maxTokens);
  const convWeight = rnd.normals(C * CONV_KERNEL, 0.5);
  const aLog = rnd.normals(hv, 0.5);
  const dtBias = rnd.normals(hv, 0.5);
  const stateRef = rnd.normals((CONV_KERNEL - 1) * C); // a state left by earlier calls
  const prep = await createGdnPrep(ctx, { ...dims, convKernel: CONV_KERNEL, maxTokens });
  const bufs = {
    proj: createStorage(ctx, maxTokens * width * 4, 'proj'),
    convWeight: uploadStorage(ctx, convWeight, 'convWeight'),
    convState: uploadStorage(ctx, stateRef, 'convState', 'linear-state'),
    aLog: uploadStorage(ctx, aLog, 'aLog'),
    dtBias: uploadStorage(ctx, dtBias, 'dtBias'),
    q: createStorage(ctx, maxTokens * hk * dk * 4, 'q'),
    k: createStorage(ctx, maxTokens * hk * dk * 4, 'k'),
    v: createStorage(ctx, maxTokens * hv * dv * 4, 'v'),
    beta: createStorage(ctx, maxTokens * hv * 4, 'beta'),
    g: createStorage(ctx, maxTokens * hv * 4, 'g'),
  };
  try {
    const bound = prep.bind(bufs);
    for (const [n, T] of calls.entries()) {
      const proj = rnd.normals(T * width);
      // a spans ±25 so that softplus's identity branch (> 20) is exercised too.
      for (let t = 0; t < T; t++) proj[t * width + width - 1] = (rnd.next() - 0.5) * 50;
      writeBuffer(ctx, bufs.proj, proj);
      bound.setTokens(T);
      submitDispatches(ctx, bound.dispatches);
      const what = `call ${n} (T=${T})`;
      const y = causalConv1dSilu(columns(proj, width, 0, C), stateRef, convWeight, C, CONV_KERNEL);
      const gates = gdnGates(columns(proj, width, C + hv * dv, hv), columns(proj, width, C + hv * dv + hv, hv), aLog, dtBias);
      expectClose(await readF32(ctx, bufs.q, T * hk * dk), l2Normalize(columns(y, C, 0, hk * dk), dk, 1 / Math.sqrt(dk)), 1e-6, 1e-5, `q, ${what}`);
      expectClose(await readF32(ctx, bufs.k, T * hk * dk), l2Normalize(columns(y, C, hk * dk, hk * dk), dk), 1e-6, 1e-5, `k, ${what}`);
      expectClose(await readF32(ctx, bufs.v, T * hv * dv), columns(y, C, 2 * hk * dk, hv * dv), 1e-6, 1e-5, `v, ${what}`);
      expectClose(await readF32(ctx, bufs.beta, T * hv), gates.beta, 1e-6, 1e-5, `beta, ${what}`);
      expectClose(await readF32(ctx, bufs.g, T * hv), gates.g, 1e-6, 1e-5, `g, ${what}`);
      expectClose(await readF32(ctx, bufs.convState, (CONV_KERNEL - 1) * C), stateRef, 0, 0, `conv state, ${what}`);
    }
  } finally {
    Object.values(bufs).forEach((b) => ctx.allocator.destroy(b));
  }
}

/** Buffers for the recurrence kernels at maxTokens, the state uploaded from `state`. */
function recurrenceBuffers(ctx: KernelContext, dims: GdnDims, maxTokens: number, state: Float32Array) {
  const { keyHeads: hk, valueHeads: hv, keyDim: dk, valueDim: dv } = dims;
  return {
    q: createStorage(ctx, maxTokens * hk * dk * 4, 'q'),
    k: createStorage(ctx, maxTokens * hk * dk * 4, 'k'),
    v: createStorage(ctx, maxTokens * hv * dv * 4, 'v'),
    beta: createStorage(ctx, maxTokens * hv * 4, 'beta'),
    g: createStorage(ctx, maxTokens * hv * 4, 'g'),
    state: uploadStorage(ctx, state, 'state', 'linear-state'),
    out: createStorage(ctx, maxTokens * hv * dv * 4, 'out'),
  };
}

function uploadInputs(ctx: KernelContext, bufs: ReturnType<typeof recurrenceBuffers>, inp: GdnInputs): void {
  for (const key of ['q', 'k', 'v', 'beta', 'g'] as const) writeBuffer(ctx, bufs[key], inp[key]);
}

async function checkRecurrent(ctx: KernelContext, dims: GdnDims, calls: number[]): Promise<void> {
  const maxTokens = Math.max(...calls);
  const total = calls.reduce((a, b) => a + b, 0);
  const rnd = new Random(dims.valueHeads * dims.keyDim + total);
  const inputs = randomGdnInputs(rnd, dims, total);
  const stateRef = rnd.normals(dims.valueHeads * dims.keyDim * dims.valueDim, 0.1);
  const shape: GdnDimsShape = { ...dims, maxTokens };
  const kernel = await createGdnRecurrent(ctx, shape);
  const bufs = recurrenceBuffers(ctx, dims, maxTokens, stateRef);
  try {
    const bound = kernel.bind(bufs);
    let t0 = 0;
    for (const T of calls) {
      const inp = sliceTokens(inputs, dims, t0, t0 + T);
      uploadInputs(ctx, bufs, inp);
      bound.setTokens(T);
      submitDispatches(ctx, bound.dispatches);
      const want = gdnRecurrent(inp, stateRef, dims);
      const what = `tokens ${t0}..${t0 + T - 1}`;
      expectClose(await readF32(ctx, bufs.out, want.length), want, 1e-4, 1e-4, `o, ${what}`);
      expectClose(await readF32(ctx, bufs.state), stateRef, 1e-4, 1e-4, `state, ${what}`);
      t0 += T;
    }
  } finally {
    Object.values(bufs).forEach((b) => ctx.allocator.destroy(b));
  }
}

describe.each(GPU_VARIANTS)('gdn ($name)', (variant) => {
  const run = (title: string, body: (ctx: KernelContext) => Promise<void>): void => {
    it(title, async ({ skip }) => {
      if (!(await variantAvailable(variant))) skip();
      await body(await gpuContext(variant));
    });
  };
  run('prep, golden shape, calls T=7,1,64 (conv state carried)', (ctx) => checkPrep(ctx, GOLDEN, [7, 1, 64]));
  run('prep, 0.8B shape, calls T=3,1', (ctx) => checkPrep(ctx, QWEN_08B, [3, 1]));
  run('recurrent, golden shape, calls T=1,7,64,150', (ctx) => checkRecurrent(ctx, GOLDEN, [1, 7, 64, 150]));
  run('recurrent, 0.8B shape, calls T=5,1', (ctx) => checkRecurrent(ctx, QWEN_08B, [5, 1]));
});
