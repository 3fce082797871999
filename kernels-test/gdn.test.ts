/**
 * Gated DeltaNet prep and recurrent step vs the CPU reference (ops.ts: causalConv1dSilu,
 * l2Normalize, gdnGates, gdnRecurrent), calls of several sizes with conv and recurrent state
 * carried across them (chunked prefill: gdn-chunked.test.ts). The recurrent kernel computes β and g
 * from the projection's b, a columns itself, so its check covers the gates (gdn-helpers.ts).
 *
 * Tolerances:
 * - prep: a K-tap f32 conv + SiLU and an f32 l2norm over dk: a few f32 roundings of O(1) values
 *   (≤ ~1e-6 relative; exp on the GPU is a few ulp) → atol 1e-6, rtol 1e-5; the conv state exact
 *   (a copy), also after a one-token call, where the conv pass shifts it itself.
 * - recurrence: atol 1e-4, rtol 1e-4, justified in gdn-helpers.ts.
 * - decode step (conv, l2norm, recurrence and gated norm of one token in one dispatch) vs the chain
 *   of the references: the recurrence bound (the gated norm rescales o by rsqrt(mean o²), which
 *   keeps relative errors relative); the conv state exact.
 */
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../src/errors.js';
import { createStorage, readF32, submitDispatches, uploadStorage, writeBuffer, type KernelContext } from '../src/gpu/kernel.js';
import { createGdnDecodeStep, createGdnPrep, gdnChannels, gdnProjWidth } from '../src/kernels/gdn.js';
import { causalConv1dSilu, gatedRmsNorm, gdnGates, gdnRecurrent, l2Normalize, type GdnDims } from '../src/model/ops.js';
import { Random } from '../src/model/random.js';
import { checkCalls, GATE_PARAMS, GOLDEN, QWEN_08B } from './gdn-helpers.js';
import { expectClose, gpuContext, GPU_VARIANTS, variantAvailable } from './harness.js';

const CONV_KERNEL = 4;

/** Columns [offset, offset + width) of every row of a [rows, stride] matrix. */
function columns(m: Float32Array, stride: number, offset: number, width: number): Float32Array {
  const rows = m.length / stride;
  const out = new Float32Array(rows * width);
  for (let r = 0; r < rows; r++) out.set(m.subarray(r * stride + offset, r * stride + offset + width), r * width);
  return out;
}

async function checkPrep(ctx: KernelContext, dims: GdnDims, calls: number[]): Promise<void> {
  const { keyHeads: hk, valueHeads: hv, keyDim: dk, valueDim: dv } = dims;
  const maxTokens = Math.max(...calls);
  const C = gdnChannels(dims);
  const width = gdnProjWidth(dims);
  const rnd = new Random(C + maxTokens);
  const convWeight = rnd.normals(C * CONV_KERNEL, 0.5);
  const stateRef = rnd.normals((CONV_KERNEL - 1) * C); // a state left by earlier calls
  const prep = await createGdnPrep(ctx, { ...dims, convKernel: CONV_KERNEL, maxTokens });
  const bufs = {
    proj: createStorage(ctx, maxTokens * width * 4, 'proj'),
    convWeight: uploadStorage(ctx, convWeight, 'convWeight'),
    convState: uploadStorage(ctx, stateRef, 'convState', 'linear-state'),
    q: createStorage(ctx, maxTokens * hk * dk * 4, 'q'),
    k: createStorage(ctx, maxTokens * hk * dk * 4, 'k'),
    v: createStorage(ctx, maxTokens * hv * dv * 4, 'v'),
  };
  try {
    const bound = prep.bind(bufs);
    for (const [n, T] of calls.entries()) {
      const proj = rnd.normals(T * width);
      writeBuffer(ctx, bufs.proj, proj);
      bound.setTokens(T);
      submitDispatches(ctx, bound.dispatches);
      const what = `call ${n} (T=${T})`;
      const y = causalConv1dSilu(columns(proj, width, 0, C), stateRef, convWeight, C, CONV_KERNEL);
      expectClose(await readF32(ctx, bufs.q, T * hk * dk), l2Normalize(columns(y, C, 0, hk * dk), dk, 1 / Math.sqrt(dk)), 1e-6, 1e-5, `q, ${what}`);
      expectClose(await readF32(ctx, bufs.k, T * hk * dk), l2Normalize(columns(y, C, hk * dk, hk * dk), dk), 1e-6, 1e-5, `k, ${what}`);
      expectClose(await readF32(ctx, bufs.v, T * hv * dv), columns(y, C, 2 * hk * dk, hv * dv), 1e-6, 1e-5, `v, ${what}`);
      expectClose(await readF32(ctx, bufs.convState, (CONV_KERNEL - 1) * C), stateRef, 0, 0, `conv state, ${what}`);
    }
  } finally {
    Object.values(bufs).forEach((b) => ctx.allocator.destroy(b));
  }
}

/** Consecutive one-token decode steps on one conv state and recurrent state, each against prep → gates → recurrence → gated norm on the CPU. */
async function checkDecodeSteps(ctx: KernelContext, dims: GdnDims, steps: number): Promise<void> {
  const { keyHeads: hk, valueHeads: hv, keyDim: dk, valueDim: dv } = dims;
  const C = gdnChannels(dims);
  const width = gdnProjWidth(dims);
  const normEps = 1e-6;
  const rnd = new Random(C + steps + 17);
  const convWeight = rnd.normals(C * CONV_KERNEL, 0.5);
  const convRef = rnd.normals((CONV_KERNEL - 1) * C);
  const stateRef = rnd.normals(hv * dk * dv, 0.1);
  const aLog = GATE_PARAMS.aLog(hv);
  const dtBias = GATE_PARAMS.dtBias(hv);
  const normW = rnd.normals(dv, 0.5);
  const step = await createGdnDecodeStep(ctx, { ...dims, convKernel: CONV_KERNEL, normEps });
  const bufs = {
    proj: createStorage(ctx, width * 4, 'proj'),
    convWeight: uploadStorage(ctx, convWeight, 'convWeight'),
    convState: uploadStorage(ctx, convRef, 'convState', 'linear-state'),
    aLog: uploadStorage(ctx, aLog, 'aLog'),
    dtBias: uploadStorage(ctx, dtBias, 'dtBias'),
    norm: uploadStorage(ctx, normW, 'norm'),
    state: uploadStorage(ctx, stateRef, 'state', 'linear-state'),
    out: createStorage(ctx, hv * dv * 4, 'out'),
  };
  try {
    const bound = step.bind(bufs);
    for (let n = 0; n < steps; n++) {
      const proj = rnd.normals(width, 2);
      writeBuffer(ctx, bufs.proj, proj);
      submitDispatches(ctx, bound.dispatches);
      const y = causalConv1dSilu(proj.subarray(0, C), convRef, convWeight, C, CONV_KERNEL);
      const gates = gdnGates(proj.subarray(width - 2 * hv, width - hv), proj.subarray(width - hv), aLog, dtBias);
      const o = gdnRecurrent(
        {
          q: l2Normalize(y.subarray(0, hk * dk), dk, 1 / Math.sqrt(dk)),
          k: l2Normalize(y.subarray(hk * dk, 2 * hk * dk), dk),
          v: y.subarray(2 * hk * dk),
          ...gates,
        },
        stateRef,
        dims,
      );
      const want = gatedRmsNorm(o, proj.subarray(C, C + hv * dv), normW, normEps);
      const what = `step ${n}`;
      expectClose(await readF32(ctx, bufs.out), want, 1e-4, 1e-4, `out, ${what}`);
      expectClose(await readF32(ctx, bufs.state), stateRef, 1e-4, 1e-4, `state, ${what}`);
      expectClose(await readF32(ctx, bufs.convState), convRef, 0, 0, `conv state, ${what}`);
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
  run('recurrent, golden shape, calls T=1,7,64,150', (ctx) =>
    checkCalls(ctx, GOLDEN, [['recurrent', 1], ['recurrent', 7], ['recurrent', 64], ['recurrent', 150]]));
  run('recurrent, 0.8B shape, calls T=5,1', (ctx) => checkCalls(ctx, QWEN_08B, [['recurrent', 5], ['recurrent', 1]]));
  run('decode step, golden shape (2 value heads per key head), 3 steps', (ctx) => checkDecodeSteps(ctx, GOLDEN, 3));
  run('decode step, 0.8B shape, 2 steps', (ctx) => checkDecodeSteps(ctx, QWEN_08B, 2));
  run('decode step, odd sizes (dk 12, dv 20: idle threads; 3 value heads per key head), 3 steps', (ctx) =>
    checkDecodeSteps(ctx, { keyHeads: 2, valueHeads: 6, keyDim: 12, valueDim: 20 }, 3));
});

describe('gdn decode step (bad input)', () => {
  it('rejects a conv kernel < 2, value dims past the workgroup size and short buffers with typed errors', async () => {
    const ctx = await gpuContext(GPU_VARIANTS[1]!);
    const shape = { ...GOLDEN, convKernel: CONV_KERNEL, normEps: 1e-6 };
    await expect(createGdnDecodeStep(ctx, { ...shape, convKernel: 1 })).rejects.toThrow(/convKernel/);
    await expect(createGdnDecodeStep(ctx, { ...shape, valueDim: 4 * ctx.gpu.limits.maxComputeInvocationsPerWorkgroup })).rejects.toThrow(/threads per workgroup/);
    const step = await createGdnDecodeStep(ctx, shape);
    const C = gdnChannels(GOLDEN);
    const f32 = (n: number, label: string) => createStorage(ctx, n * 4, label);
    const bufs = {
      proj: f32(gdnProjWidth(GOLDEN), 'proj'),
      convWeight: f32(C * CONV_KERNEL, 'convWeight'),
      convState: f32(C * (CONV_KERNEL - 1), 'convState'),
      aLog: f32(GOLDEN.valueHeads, 'aLog'),
      dtBias: f32(GOLDEN.valueHeads, 'dtBias'),
      norm: f32(GOLDEN.valueDim, 'norm'),
      state: f32(GOLDEN.valueHeads * GOLDEN.keyDim * GOLDEN.valueDim, 'state'),
      out: f32(GOLDEN.valueHeads * GOLDEN.valueDim, 'out'),
    };
    try {
      expect(step.bind(bufs).dispatches).toHaveLength(1);
      expect(() => step.bind({ ...bufs, convState: bufs.aLog })).toThrow(InvalidArgumentError);
      expect(() => step.bind({ ...bufs, state: bufs.out })).toThrow(/buffer "state"/);
    } finally {
      Object.values(bufs).forEach((b) => ctx.allocator.destroy(b));
    }
  });
});
