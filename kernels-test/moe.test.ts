/**
 * MoE kernels vs ops.ts. A whole block (router + shared gate linear → top-k → experts gate_up
 * (swiglu) → experts down → shared expert → combine) runs in one submission, laid out as the
 * runtime runs it: the router matrix has the shared expert's gate row under the E expert rows, so
 * each logits row is [E logits, gate] (the top-k reads a row of E + 1, the combine its last
 * column). Every intermediate is read back
 * and checked against the CPU composition applied to the GPU's previous stage, so each stage has
 * a rigorous bound and one discrete routing decision cannot cascade:
 *   linear stages: the f32 accumulation bound of dot-bounds.ts;
 *   router: ids exactly equal to routerTopK(logits) (ties → lower index); weights within
 *     (k + 16 + 2·Δ)·2^-24 relative, Δ = the largest |logit − max| among the chosen finite logits
 *     (exp's 3 + 2|x| ULP, the k-term sum and one division); −inf logits give exactly 0;
 *   combine: (k + 4)·2^-24·(|h| + Σ|w·e| + |σ·s|) for the sum, plus |s|·(8 + 2|g|)·2^-24 for sigmoid(g).
 * With the post norm fused (the experts' gate_up at any T, the router and shared linears at one
 * token), those stages read the raw hidden row and the bound adds the fused norm's
 * (cols/2 + 8)·2^-24 per term, as in linear.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../src/errors.js';
import { createStorage, readF32, readU32, submitDispatches, uploadStorage, type KernelContext } from '../src/gpu/kernel.js';
import { dataBytes, type WeightFormat } from '../src/io/formats.js';
import { dequantizeMatrix, packMatrix } from '../src/io/quantize.js';
import { createLinear } from '../src/kernels/linear.js';
import { destroyMatrix, uploadMatrix, type GpuMatrix } from '../src/kernels/matrix.js';
import { createExpertLinear, createMoeCombine, createRouter } from '../src/kernels/moe.js';
import { linear, rmsNorm, routerTopK, sigmoid, swiglu } from '../src/model/ops.js';
import { Random } from '../src/model/random.js';
import { dotBounds, expectWithinBounds, swigluBounds, U32 } from './dot-bounds.js';
import { gpuContext, GPU_VARIANTS, variantAvailable } from './harness.js';

const HIDDEN = 40; // not a multiple of 32: exercises row padding
const INTER = 24;
const SHARED_INTER = 20;

interface Weights {
  gpu: GpuMatrix;
  /** Dequantized, [rows, cols]. */
  cpu: Float32Array;
}

function makeWeights(ctx: KernelContext, rnd: Random, label: string, rows: number, cols: number, format: WeightFormat, opts: { rowGranularity?: number; maxPartBytes?: number } = {}): Weights {
  const values = rnd.normals(rows * cols, 1 / Math.sqrt(cols));
  return { gpu: uploadMatrix(ctx, label, values, rows, cols, format, opts), cpu: dequantizeMatrix(packMatrix(values, rows, cols, format), rows, cols, format) };
}

/** Routing weights must match routerTopK on the same logits (see the header for the bound). */
function checkRouting(logits: Float32Array, ids: Uint32Array, weights: Float32Array, experts: number, topK: number, renormalize: boolean): void {
  const want = routerTopK(logits, experts, topK, renormalize);
  expect(Array.from(ids), 'expert ids').toEqual(Array.from(want.ids));
  const bound = want.weights.map((w, i) => {
    const t = Math.floor(i / topK);
    const row = logits.subarray(t * experts, (t + 1) * experts);
    const chosen = Array.from(want.ids.subarray(t * topK, (t + 1) * topK), (e) => row[e]!).filter(Number.isFinite);
    const spread = Math.max(...row) - Math.min(...chosen);
    return w === 0 ? 0 : (topK + 16 + 2 * spread) * U32 * w; // −inf logits must give exactly 0
  });
  expectWithinBounds(weights, want.weights, bound, 'routing weights');
}

/** Rows [e·n, (e+1)·n) of a stacked expert matrix. */
const expertRows = (w: Float32Array, e: number, n: number, cols: number): Float32Array => w.subarray(e * n * cols, (e + 1) * n * cols);

const EPS = 1e-6;

async function checkBlock(ctx: KernelContext, experts: number, topK: number, tokens: number, format: WeightFormat, splitExperts: boolean, postNorm = false): Promise<void> {
  const rnd = new Random(experts * 100 + topK * 10 + tokens);
  const split = (n: number, cols: number) => (splitExperts ? { rowGranularity: n, maxPartBytes: dataBytes(format, 7 * n, cols) } : { rowGranularity: n });
  const w = {
    router: makeWeights(ctx, rnd, 'router + shared expert gate', experts + 1, HIDDEN, 'f32'),
    gateUp: makeWeights(ctx, rnd, 'experts.gate_up', experts * 2 * INTER, HIDDEN, format, split(2 * INTER, HIDDEN)),
    down: makeWeights(ctx, rnd, 'experts.down', experts * HIDDEN, INTER, format, split(HIDDEN, INTER)),
    sharedGateUp: makeWeights(ctx, rnd, 'shared.gate_up', 2 * SHARED_INTER, HIDDEN, format),
    sharedDown: makeWeights(ctx, rnd, 'shared.down', HIDDEN, SHARED_INTER, format),
  };
  if (splitExperts) expect(w.gateUp.gpu.parts.length).toBe(Math.ceil(experts / 7));
  let x = rnd.normals(tokens * HIDDEN);
  const h0 = rnd.normals(tokens * HIDDEN);
  // postNorm: the block's input is the raw row hRaw; x = its post norm (what the norm kernel writes for T > 1).
  const hRaw = postNorm ? rnd.normals(tokens * HIDDEN, 3) : x;
  const normW = postNorm ? rnd.normals(HIDDEN, 0.5) : new Float32Array(HIDDEN);
  if (postNorm) x = rmsNorm(hRaw, normW, HIDDEN, EPS, true);
  /** Extra roundings of a stage that normalises its input itself. */
  const fusedAt = (always: boolean): number => (postNorm && (always || tokens === 1) ? HIDDEN / 2 + 8 : 0);
  const f32 = (n: number, label: string) => createStorage(ctx, n * 4, label);
  const buf = {
    x: uploadStorage(ctx, x, 'normed'),
    hRaw: uploadStorage(ctx, hRaw, 'post-norm input'),
    normW: uploadStorage(ctx, normW, 'post norm w'),
    h: uploadStorage(ctx, h0, 'hidden'),
    logits: f32(tokens * (experts + 1), 'logits'),
    ids: f32(tokens * topK, 'ids'),
    weights: f32(tokens * topK, 'weights'),
    act: f32(tokens * topK * INTER, 'expertAct'),
    out: f32(tokens * topK * HIDDEN, 'expertOut'),
    sharedAct: f32(tokens * SHARED_INTER, 'sharedAct'),
    sharedOut: f32(tokens * HIDDEN, 'sharedOut'),
  };
  /** `normed`: a reader of the post norm (fused at one token when postNorm). */
  const lin = async (m: Weights, epilogue: 'store' | 'swiglu', xb: GPUBuffer, yb: GPUBuffer, normed = false) => {
    const fuse = postNorm && normed;
    const kernel = await createLinear(ctx, { format: m.gpu.format, rows: m.gpu.rows, cols: m.gpu.cols, tokens, epilogue, ...(fuse ? { normInput: { eps: EPS } } : {}) });
    return kernel.bind({ w: m.gpu, x: xb, y: yb, ...(fuse ? { norm: { h: buf.hRaw, w: buf.normW } } : {}) });
  };
  const expertsLinear = async (m: Weights, n: number, cols: number, epilogue: 'store' | 'swiglu', inputPerSlot: boolean, xb: GPUBuffer, yb: GPUBuffer) => {
    const fuse = postNorm && !inputPerSlot;
    const kernel = await createExpertLinear(ctx, { format, experts, rows: n, cols, topK, tokens, epilogue, inputPerSlot, ...(fuse ? { normInput: { eps: EPS } } : {}) });
    return kernel.bind({ w: m.gpu, x: fuse ? buf.hRaw : xb, ids: buf.ids, y: yb, ...(fuse ? { normWeight: buf.normW } : {}) });
  };
  const steps = [
    await lin(w.router, 'store', buf.x, buf.logits, true),
    (await createRouter(ctx, { experts, topK, renormalize: true, tokens, logitStride: experts + 1 })).bind({ logits: buf.logits, ids: buf.ids, weights: buf.weights }),
    await expertsLinear(w.gateUp, 2 * INTER, HIDDEN, 'swiglu', false, buf.x, buf.act),
    await expertsLinear(w.down, HIDDEN, INTER, 'store', true, buf.act, buf.out),
    await lin(w.sharedGateUp, 'swiglu', buf.x, buf.sharedAct, true),
    await lin(w.sharedDown, 'store', buf.sharedAct, buf.sharedOut),
    (await createMoeCombine(ctx, { hidden: HIDDEN, topK, tokens, gateStride: experts + 1, gateColumn: experts })).bind({
      expertOut: buf.out, weights: buf.weights, shared: buf.sharedOut, sharedGate: buf.logits, h: buf.h,
    }),
  ];
  submitDispatches(ctx, steps.flatMap((s) => s.dispatches));

  const logits = await readF32(ctx, buf.logits);
  expectWithinBounds(logits, linear(x, w.router.cpu, experts + 1, HIDDEN), dotBounds(x, w.router.cpu, experts + 1, HIDDEN, fusedAt(false)), 'router and shared gate logits');
  const rows = Array.from({ length: tokens }, (_, t) => logits.subarray(t * (experts + 1), (t + 1) * (experts + 1)));
  const expertLogits = Float32Array.from(rows.flatMap((r) => Array.from(r.subarray(0, experts))));
  const sharedGate = Float32Array.from(rows, (r) => r[experts]!);
  const ids = await readU32(ctx, buf.ids);
  const weights = await readF32(ctx, buf.weights);
  checkRouting(expertLogits, ids, weights, experts, topK, true);

  const act = await readF32(ctx, buf.act);
  const out = await readF32(ctx, buf.out);
  for (let s = 0; s < tokens * topK; s++) {
    const e = ids[s]!;
    const xt = x.subarray(Math.floor(s / topK) * HIDDEN, (Math.floor(s / topK) + 1) * HIDDEN);
    const wgu = expertRows(w.gateUp.cpu, e, 2 * INTER, HIDDEN);
    const gu = linear(xt, wgu, 2 * INTER, HIDDEN);
    const slotAct = act.subarray(s * INTER, (s + 1) * INTER);
    expectWithinBounds(slotAct, swiglu(gu, INTER), swigluBounds(gu, dotBounds(xt, wgu, 2 * INTER, HIDDEN, fusedAt(true)), INTER), `slot ${s} (expert ${e}) gate_up`);
    const wd = expertRows(w.down.cpu, e, HIDDEN, INTER);
    expectWithinBounds(out.subarray(s * HIDDEN, (s + 1) * HIDDEN), linear(slotAct, wd, HIDDEN, INTER), dotBounds(slotAct, wd, HIDDEN, INTER), `slot ${s} (expert ${e}) down`);
  }

  const sharedAct = await readF32(ctx, buf.sharedAct);
  const sharedOut = await readF32(ctx, buf.sharedOut);
  const sgu = linear(x, w.sharedGateUp.cpu, 2 * SHARED_INTER, HIDDEN);
  expectWithinBounds(sharedAct, swiglu(sgu, SHARED_INTER), swigluBounds(sgu, dotBounds(x, w.sharedGateUp.cpu, 2 * SHARED_INTER, HIDDEN, fusedAt(false)), SHARED_INTER), 'shared gate_up');
  expectWithinBounds(sharedOut, linear(sharedAct, w.sharedDown.cpu, HIDDEN, SHARED_INTER), dotBounds(sharedAct, w.sharedDown.cpu, HIDDEN, SHARED_INTER), 'shared down');

  const want = new Float32Array(tokens * HIDDEN);
  const bound = new Float32Array(tokens * HIDDEN);
  for (let t = 0; t < tokens; t++) {
    const g = sharedGate[t]!;
    for (let c = 0; c < HIDDEN; c++) {
      const i = t * HIDDEN + c;
      let v = h0[i]!;
      let mag = Math.abs(v);
      for (let j = 0; j < topK; j++) {
        const term = weights[t * topK + j]! * out[(t * topK + j) * HIDDEN + c]!;
        v += term;
        mag += Math.abs(term);
      }
      const shared = sigmoid(g) * sharedOut[i]!;
      want[i] = v + shared;
      bound[i] = (topK + 4) * U32 * (mag + Math.abs(shared)) + Math.abs(sharedOut[i]!) * (8 + 2 * Math.abs(g)) * U32;
    }
  }
  expectWithinBounds(await readF32(ctx, buf.h), want, bound, 'h after combine');

  Object.values(w).forEach((m) => destroyMatrix(ctx, m.gpu));
  Object.values(buf).forEach((b) => ctx.allocator.destroy(b));
}

describe.each(GPU_VARIANTS)('moe ($name)', (variant) => {
  for (const tokens of [1, 5]) {
    it(`block E=8 top-2, q8, T=${tokens}`, async ({ skip }) => {
      if (!(await variantAvailable(variant))) skip();
      await checkBlock(await gpuContext(variant), 8, 2, tokens, 'q8', false);
    });
    it(`block E=20 top-3, q4, experts split in 3 parts, T=${tokens}`, async ({ skip }) => {
      if (!(await variantAvailable(variant))) skip();
      await checkBlock(await gpuContext(variant), 20, 3, tokens, 'q4', true);
    });
  }
  it('block E=20 top-3, bf16, T=5', async ({ skip }) => {
    if (!(await variantAvailable(variant))) skip();
    await checkBlock(await gpuContext(variant), 20, 3, 5, 'bf16', false);
  });
  for (const tokens of [1, 5]) {
    it(`block with the post norm fused, E=20 top-3, q4, experts split in 3 parts, T=${tokens}`, async ({ skip }) => {
      if (!(await variantAvailable(variant))) skip();
      await checkBlock(await gpuContext(variant), 20, 3, tokens, 'q4', true, true);
    });
  }

  for (const renormalize of [true, false]) {
    it(`router: ties → lower index, −inf logits, renormalize=${renormalize}, E=20 top-4, T=70`, async ({ skip }) => {
      if (!(await variantAvailable(variant))) skip();
      const ctx = await gpuContext(variant);
      const experts = 20;
      const topK = 4;
      const tokens = 70;
      const rnd = new Random(9);
      const logits = rnd.normals(tokens * experts, 2);
      for (let t = 0; t < tokens; t += 3) logits.fill(1.5, t * experts + 3, t * experts + 9); // six-way ties at the top
      for (let t = 1; t < tokens; t += 5) logits.fill(-Infinity, t * experts, t * experts + 18); // only two finite
      const lb = uploadStorage(ctx, logits, 'logits');
      const ids = createStorage(ctx, tokens * topK * 4, 'ids');
      const weights = createStorage(ctx, tokens * topK * 4, 'weights');
      const router = (await createRouter(ctx, { experts, topK, renormalize, tokens })).bind({ logits: lb, ids, weights });
      submitDispatches(ctx, router.dispatches);
      checkRouting(logits, await readU32(ctx, ids), await readF32(ctx, weights), experts, topK, renormalize);
      [lb, ids, weights].forEach((b) => ctx.allocator.destroy(b));
    });
  }
});

describe('moe errors', () => {
  it('experts split inside an expert, wrong matrix and bad shapes throw InvalidArgumentError', async () => {
    const ctx = await gpuContext(GPU_VARIANTS[0]!);
    const m = uploadMatrix(ctx, 'layers.0.mlp.experts.down_proj', new Float32Array(4 * 6 * 32), 24, 32, 'q8', { maxPartBytes: 10 * 32 });
    const kernel = await createExpertLinear(ctx, { format: 'q8', experts: 4, rows: 6, cols: 32, topK: 2, tokens: 1, epilogue: 'store', inputPerSlot: false });
    const b = { x: createStorage(ctx, 32 * 4, 'x'), ids: createStorage(ctx, 8, 'ids'), y: createStorage(ctx, 2 * 6 * 4, 'y') };
    expect(() => kernel.bind({ w: m, ...b })).toThrow(/split inside an expert \(part at row 0\); upload it with rowGranularity 6/);
    const other = await createExpertLinear(ctx, { format: 'q4', experts: 4, rows: 6, cols: 32, topK: 2, tokens: 1, epilogue: 'store', inputPerSlot: false });
    expect(() => other.bind({ w: m, ...b })).toThrow(InvalidArgumentError);
    await expect(createRouter(ctx, { experts: 4, topK: 5, renormalize: true, tokens: 1 })).rejects.toThrow(InvalidArgumentError);
    await expect(createExpertLinear(ctx, { format: 'q8', experts: 4, rows: 5, cols: 32, topK: 2, tokens: 1, epilogue: 'swiglu', inputPerSlot: false })).rejects.toThrow(InvalidArgumentError);
    await expect(createExpertLinear(ctx, { format: 'q8', experts: 4, rows: 6, cols: 32, topK: 2, tokens: 1, epilogue: 'store', inputPerSlot: true, normInput: { eps: 1e-6 } })).rejects.toThrow(/input per slot/);
    const whole = uploadMatrix(ctx, 'layers.0.mlp.experts.down_proj', new Float32Array(4 * 6 * 32), 24, 32, 'q8');
    expect(() => kernel.bind({ w: whole, ...b, normWeight: b.x })).toThrow(/norm weight goes with normInput/);
    destroyMatrix(ctx, whole);
    destroyMatrix(ctx, m);
  });
});
