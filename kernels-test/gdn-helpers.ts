/**
 * Shared by the GDN kernel tests (gdn.test.ts, gdn-chunked.test.ts): random recurrence inputs and
 * a driver that runs consecutive recurrent/chunked calls on one GPU state against ops.ts.
 * Tolerance of the recurrence checks (atol 1e-4, rtol 1e-4 on o and the state): every step rescales
 * S and adds a rank-1 update from dk-long f32 dots; with |k| = 1, β < 1 and e^g ≤ 1 the state stays
 * O(|v|) and rounding errors (~dk·2⁻²⁴ per step) accumulate at most linearly over the T ≤ 150 steps
 * of a case: ≤ 150·128·6e-8 ≈ 1e-3 worst case, ~1e-5 in practice (random walk). The chunked form
 * adds f32 rounding of γ (a sum of ≤ 64 gates) and of T = (I + A)⁻¹, both ~1e-6 relative.
 */
import { createStorage, readF32, submitDispatches, uploadStorage, writeBuffer, type KernelContext } from '../src/gpu/kernel.js';
import { createGdnChunked, createGdnRecurrent, gdnProjWidth, projectionWithGates, type GdnChunkedTuning } from '../src/kernels/gdn.js';
import { gdnChunked, gdnGates, gdnRecurrent, l2Normalize, type GdnDims, type GdnInputs } from '../src/model/ops.js';
import { Random } from '../src/model/random.js';
import { expectClose } from './harness.js';

export const GOLDEN: GdnDims = { keyHeads: 2, valueHeads: 4, keyDim: 16, valueDim: 16 };
export const QWEN_08B: GdnDims = { keyHeads: 16, valueHeads: 16, keyDim: 128, valueDim: 128 };

/**
 * A_log and dt_bias of every case: A_log from −6 (exp(A_log)·softplus small even for a > 20, so the
 * decay e^g stays sensitive to g) to 1.
 */
export const GATE_PARAMS = {
  aLog: (hv: number) => Float32Array.from({ length: hv }, (_, h) => -6 + (7 * h) / Math.max(1, hv - 1)),
  dtBias: (hv: number) => Float32Array.from({ length: hv }, (_, h) => 0.5 - h / hv),
};

/**
 * Recurrence inputs: q, k, v as the prep kernel would produce them (unit k, scaled unit q), the
 * projection's b and a columns [T, Hv] the kernels compute β and g from, and β, g themselves (ops.gdnGates)
 * for the reference. Every 31st a spans ±25, so softplus's identity branch (> 20) is exercised too.
 */
export interface RecurrenceInputs extends GdnInputs {
  b: Float32Array;
  a: Float32Array;
}

export function randomGdnInputs(rnd: Random, dims: GdnDims, tokens: number): RecurrenceInputs {
  const { keyHeads: hk, valueHeads: hv, keyDim: dk, valueDim: dv } = dims;
  const b = rnd.normals(tokens * hv);
  const a = Float32Array.from({ length: tokens * hv }, (_, i) => (i % 31 === 3 ? (rnd.next() - 0.5) * 50 : rnd.normal()));
  return {
    q: l2Normalize(rnd.normals(tokens * hk * dk), dk, 1 / Math.sqrt(dk)),
    k: l2Normalize(rnd.normals(tokens * hk * dk), dk),
    v: rnd.normals(tokens * hv * dv),
    b,
    a,
    ...gdnGates(b, a, GATE_PARAMS.aLog(hv), GATE_PARAMS.dtBias(hv)),
  };
}

export function sliceTokens(inp: RecurrenceInputs, dims: GdnDims, t0: number, t1: number): RecurrenceInputs {
  const { keyHeads: hk, valueHeads: hv, keyDim: dk, valueDim: dv } = dims;
  const perHead = (x: Float32Array) => x.subarray(t0 * hv, t1 * hv);
  return {
    q: inp.q.subarray(t0 * hk * dk, t1 * hk * dk),
    k: inp.k.subarray(t0 * hk * dk, t1 * hk * dk),
    v: inp.v.subarray(t0 * hv * dv, t1 * hv * dv),
    b: perHead(inp.b),
    a: perHead(inp.a),
    beta: perHead(inp.beta),
    g: perHead(inp.g),
  };
}

/** Buffers for the recurrence kernels at maxTokens, the state uploaded from `state`. */
export function recurrenceBuffers(ctx: KernelContext, dims: GdnDims, maxTokens: number, state: Float32Array) {
  const { keyHeads: hk, valueHeads: hv, keyDim: dk, valueDim: dv } = dims;
  return {
    q: createStorage(ctx, maxTokens * hk * dk * 4, 'q'),
    k: createStorage(ctx, maxTokens * hk * dk * 4, 'k'),
    v: createStorage(ctx, maxTokens * hv * dv * 4, 'v'),
    proj: createStorage(ctx, maxTokens * gdnProjWidth(dims) * 4, 'proj'),
    aLog: uploadStorage(ctx, GATE_PARAMS.aLog(hv), 'aLog'),
    dtBias: uploadStorage(ctx, GATE_PARAMS.dtBias(hv), 'dtBias'),
    state: uploadStorage(ctx, state, 'state', 'linear-state'),
    out: createStorage(ctx, maxTokens * hv * dv * 4, 'out'),
  };
}

/** q, k, v, and a projection that is NaN except for its b, a columns (nothing else of it may be read). */
export function uploadInputs(ctx: KernelContext, bufs: ReturnType<typeof recurrenceBuffers>, inp: RecurrenceInputs, dims: GdnDims): void {
  for (const key of ['q', 'k', 'v'] as const) writeBuffer(ctx, bufs[key], inp[key]);
  writeBuffer(ctx, bufs.proj, projectionWithGates(dims, inp.b, inp.a));
}

export type Kind = 'recurrent' | 'chunked';

/**
 * Runs consecutive calls (kind, T) on one GPU state and checks each call's output and the state
 * after it against the CPU reference of the same kind, which carries its own state. `tuning`: the
 * chunked kernel's (the reference uses the same chunk size).
 */
export async function checkCalls(ctx: KernelContext, dims: GdnDims, calls: Array<[Kind, number]>, tuning: Partial<GdnChunkedTuning> = {}): Promise<void> {
  const chunk = tuning.chunk ?? 64;
  const maxTokens = Math.max(...calls.map(([, T]) => T));
  const total = calls.reduce((a, [, T]) => a + T, 0);
  const rnd = new Random(dims.valueHeads * dims.keyDim + total + chunk);
  const inputs = randomGdnInputs(rnd, dims, total);
  const stateRef = rnd.normals(dims.valueHeads * dims.keyDim * dims.valueDim, 0.1);
  const shape = { ...dims, maxTokens };
  const kinds = new Set(calls.map(([kind]) => kind));
  const recurrent = kinds.has('recurrent') ? await createGdnRecurrent(ctx, shape) : undefined;
  const chunked = kinds.has('chunked') ? await createGdnChunked(ctx, { ...shape, ...tuning }) : undefined;
  const bufs = recurrenceBuffers(ctx, dims, maxTokens, stateRef);
  try {
    const bound = { recurrent: recurrent?.bind(bufs), chunked: chunked?.bind(bufs) };
    let t0 = 0;
    for (const [kind, T] of calls) {
      const inp = sliceTokens(inputs, dims, t0, t0 + T);
      uploadInputs(ctx, bufs, inp, dims);
      bound[kind]!.setTokens(T);
      submitDispatches(ctx, bound[kind]!.dispatches);
      const want = kind === 'chunked' ? gdnChunked(inp, stateRef, dims, chunk) : gdnRecurrent(inp, stateRef, dims);
      const what = `${kind} tokens ${t0}..${t0 + T - 1}`;
      expectClose(await readF32(ctx, bufs.out, want.length), want, 1e-4, 1e-4, `o, ${what}`);
      expectClose(await readF32(ctx, bufs.state), stateRef, 1e-4, 1e-4, `state, ${what}`);
      t0 += T;
    }
  } finally {
    Object.values(bufs).forEach((b) => ctx.allocator.destroy(b));
    chunked?.destroy();
  }
}

/** Both GPU kernels on the same inputs and initial state must agree with each other. */
export async function checkChunkedMatchesRecurrent(ctx: KernelContext, dims: GdnDims, tokens: number): Promise<void> {
  const rnd = new Random(tokens * 7 + dims.keyDim);
  const inputs = randomGdnInputs(rnd, dims, tokens);
  const state0 = rnd.normals(dims.valueHeads * dims.keyDim * dims.valueDim, 0.1);
  const shape = { ...dims, maxTokens: tokens };
  const [recurrent, chunked] = await Promise.all([createGdnRecurrent(ctx, shape), createGdnChunked(ctx, shape)]);
  const bufsR = recurrenceBuffers(ctx, dims, tokens, state0);
  const bufsC = recurrenceBuffers(ctx, dims, tokens, state0);
  try {
    uploadInputs(ctx, bufsR, inputs, dims);
    uploadInputs(ctx, bufsC, inputs, dims);
    const r = recurrent.bind(bufsR);
    const c = chunked.bind(bufsC);
    r.setTokens(tokens);
    c.setTokens(tokens);
    submitDispatches(ctx, [...r.dispatches, ...c.dispatches]);
    expectClose(await readF32(ctx, bufsC.out), await readF32(ctx, bufsR.out), 1e-4, 1e-4, 'o chunked vs recurrent');
    expectClose(await readF32(ctx, bufsC.state), await readF32(ctx, bufsR.state), 1e-4, 1e-4, 'state chunked vs recurrent');
  } finally {
    [...Object.values(bufsR), ...Object.values(bufsC)].forEach((b) => ctx.allocator.destroy(b));
    chunked.destroy();
  }
}
