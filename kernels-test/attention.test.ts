/**
 * Attention prep (q/k norm + RoPE + KV write) and gated causal attention (decode: one pass, or
 * splits + combine; tiled prefill) vs the CPU reference (ops.ts: rmsNorm, applyRope, attention,
 * sigmoidGate). Every case also runs with decodePrep, where a decode step is the attention
 * dispatches alone: the cache row they write and their output are read before the prep kernel
 * runs (afterwards, only to get the GPU's q for the reference output).
 *
 * Tolerances:
 * - q and cached k: f32 RMSNorm (sum order, ~1e-6 relative) plus RoPE, whose f32 angle
 *   f32(pos)·f32(inv_freq) is off the f64 reference by ≤ 2 ulp of the angle (≤ pos·1.2e-7 rad) and
 *   whose polynomial sin/cos add ~1e-7: |Δ| ≤ (1e-7 + pos·1.2e-7)·|pair|, |pair| ≤ ~10 for these
 *   unit-RMS rows with (1+w) weights → atol 2e-6 + maxPos·1.2e-6, rtol 1e-5.
 * - f16 cache: each stored element is the f32 value rounded to f16: ≤ 2⁻¹¹ relative (normal range)
 *   or 2⁻²⁵ absolute (subnormal), on top of the f32 tolerance above.
 * - attention output: computed by the reference on the cache contents the GPU actually holds (so the
 *   f16 rounding is not double counted); f32 dot products of length d and an f32 online softmax over
 *   ≤ 600 positions: atol 2e-5, rtol 1e-4.
 */
import { describe, expect, it } from 'vitest';
import { ContextOverflowError, InvalidArgumentError } from '../src/errors.js';
import { createStorage, readBuffer, readF32, submitDispatches, uploadStorage, writeBuffer, type KernelContext } from '../src/gpu/kernel.js';
import { createAttention, createAttentionPrep, decodeSplits, kvCacheBytes, type KvFormat } from '../src/kernels/attention.js';
import { f16ToF32 } from '../src/io/bf16.js';
import { applyRope, attention, rmsNorm, sigmoidGate } from '../src/model/ops.js';
import { Random } from '../src/model/random.js';
import { expectClose, gpuContext, GPU_VARIANTS, variantAvailable } from './harness.js';

interface Case {
  heads: number;
  kvHeads: number;
  headDim: number;
  rotaryDim: number;
  kvFormat: KvFormat;
  /** Positions cached (through the prep kernel alone) before the first checked call. */
  pos0: number;
  /** Token counts of consecutive checked calls (1 = decode step, > 1 = prefill). */
  calls: number[];
}

const THETA = 1e7;
const EPS = 1e-6;
const PREP_CHUNK = 64;

// Every case runs both the decode (split + combine) and the prefill pipeline of its shape.
const CASES: Case[] = [
  // Golden tiny model shape (GQA 2, d 64, rotary 16): context 1, prefill continuing at pos 1, decode at 37.
  { heads: 4, kvHeads: 2, headDim: 64, rotaryDim: 16, kvFormat: 'f32', pos0: 0, calls: [1, 36, 1] },
  // GQA 1: prefill at 290, then a decode step over 301 positions (3 splits).
  { heads: 4, kvHeads: 4, headDim: 64, rotaryDim: 16, kvFormat: 'f16', pos0: 290, calls: [10, 1] },
  // GQA 4: decode over 600 positions (5 splits), then a 2-token prefill.
  { heads: 8, kvHeads: 2, headDim: 64, rotaryDim: 16, kvFormat: 'f16', pos0: 599, calls: [1, 2] },
  // Real head dim 256, rotary 64: GQA 4 decode over 417 positions (4 splits) then prefill;
  { heads: 8, kvHeads: 2, headDim: 256, rotaryDim: 64, kvFormat: 'f32', pos0: 416, calls: [1, 7] },
  // GQA 2 prefill at pos0 > 0 then decode over 301 positions.
  { heads: 4, kvHeads: 2, headDim: 256, rotaryDim: 64, kvFormat: 'f16', pos0: 277, calls: [23, 1] },
  // GQA 32: two head blocks of 16 per KV head (one writes the new row); decode at 127, 128 (one pass), 129 (2 splits).
  { heads: 32, kvHeads: 1, headDim: 64, rotaryDim: 16, kvFormat: 'f16', pos0: 126, calls: [1, 1, 1] },
];

async function readCache(ctx: KernelContext, buffer: GPUBuffer, format: KvFormat, elements: number): Promise<Float32Array> {
  if (format === 'f32') return readF32(ctx, buffer, elements);
  const halves = new Uint16Array(await readBuffer(ctx, buffer, elements * 2));
  return Float32Array.from(halves, f16ToF32);
}

/** Columns [offset, offset + width) of every row of a [rows, stride] matrix, concatenated. */
function columns(m: Float32Array, stride: number, offset: number, width: number): Float32Array {
  const rows = m.length / stride;
  const out = new Float32Array(rows * width);
  for (let r = 0; r < rows; r++) out.set(m.subarray(r * stride + offset, r * stride + offset + width), r * width);
  return out;
}

/** Per token, the d-wide pieces of each head at `offset + h·headStride` within a row, as [T, heads, d]. */
function heads(proj: Float32Array, stride: number, count: number, d: number, offset: number, headStride: number): Float32Array {
  const rows = proj.length / stride;
  const out = new Float32Array(rows * count * d);
  for (let t = 0; t < rows; t++) {
    for (let h = 0; h < count; h++) {
      const src = t * stride + offset + h * headStride;
      out.set(proj.subarray(src, src + d), (t * count + h) * d);
    }
  }
  return out;
}

async function runCase(ctx: KernelContext, c: Case, decodePrep: boolean): Promise<void> {
  const { heads: H, kvHeads: Hkv, headDim: d, rotaryDim: rd, kvFormat } = c;
  const context = c.pos0 + c.calls.reduce((a, b) => a + b, 0);
  const maxContext = context + 5; // the cache has unused rows at the end
  const maxTokens = Math.max(PREP_CHUNK, ...c.calls);
  const stride = 2 * (H + Hkv) * d;
  const rnd = new Random(H * 1000 + Hkv * 100 + d + context);
  const proj = rnd.normals(context * stride);
  const qNorm = rnd.normals(d, 0.3);
  const kNorm = rnd.normals(d, 0.3);

  const shape = { heads: H, kvHeads: Hkv, headDim: d, maxTokens, maxContext, kvFormat };
  const prep = await createAttentionPrep(ctx, { ...shape, rotaryDim: rd, ropeTheta: THETA, eps: EPS });
  const attn = await createAttention(ctx, { ...shape, ...(decodePrep ? { decodePrep: { rotaryDim: rd, eps: EPS } } : {}) });
  const cacheBytes = kvCacheBytes(kvFormat, maxContext, Hkv, d);
  const bufs = {
    proj: createStorage(ctx, maxTokens * stride * 4, 'proj'),
    qNorm: uploadStorage(ctx, qNorm, 'qNorm'),
    kNorm: uploadStorage(ctx, kNorm, 'kNorm'),
    q: createStorage(ctx, maxTokens * H * d * 4, 'q'),
    kCache: createStorage(ctx, cacheBytes, 'kCache', 'kv-cache'),
    vCache: createStorage(ctx, cacheBytes, 'vCache', 'kv-cache'),
    out: createStorage(ctx, maxTokens * H * d * 4, 'out'),
  };
  try {
    const boundPrep = prep.bind(bufs);
    const boundAttn = attn.bind({ ...bufs, ...(decodePrep ? { prep: { qNorm: bufs.qNorm, kNorm: bufs.kNorm, invFreq: prep.invFreq } } : {}) });
    // Fill the history through the prep kernel in chunks (each call continues the cache at pos).
    for (let pos = 0; pos < c.pos0; pos += PREP_CHUNK) {
      const n = Math.min(PREP_CHUNK, c.pos0 - pos);
      writeBuffer(ctx, bufs.proj, proj.subarray(pos * stride, (pos + n) * stride));
      boundPrep.setPosition(pos, n);
      submitDispatches(ctx, boundPrep.dispatches);
    }
    // Reference cache rows for every position.
    const kRef = rmsNorm(columns(proj, stride, 2 * H * d, Hkv * d), kNorm, d, EPS, true);
    applyRope(kRef, Hkv, d, rd, THETA, 0);
    const vRef = columns(proj, stride, 2 * H * d + Hkv * d, Hkv * d);
    const f16 = kvFormat === 'f16';

    let pos0 = c.pos0;
    for (const T of c.calls) {
      const callProj = proj.subarray(pos0 * stride, (pos0 + T) * stride);
      writeBuffer(ctx, bufs.proj, callProj);
      boundPrep.setPosition(pos0, T);
      boundAttn.setPosition(pos0, T);
      const fusedStep = decodePrep && T === 1;
      submitDispatches(ctx, fusedStep ? boundAttn.dispatches : [...boundPrep.dispatches, ...boundAttn.dispatches]);
      const seen = pos0 + T;
      const what = `call at pos0=${pos0} T=${T}`;
      const kGot = await readCache(ctx, bufs.kCache, kvFormat, seen * Hkv * d);
      const vGot = await readCache(ctx, bufs.vCache, kvFormat, seen * Hkv * d);
      const outGot = await readF32(ctx, bufs.out, T * H * d);
      if (fusedStep) submitDispatches(ctx, boundPrep.dispatches);

      const qRef = rmsNorm(heads(callProj, stride, H, d, 0, 2 * d), qNorm, d, EPS, true);
      applyRope(qRef, H, d, rd, THETA, pos0);
      const ropeAtol = 2e-6 + seen * 1.2e-6;
      const qGot = await readF32(ctx, bufs.q, T * H * d);
      expectClose(qGot, qRef, ropeAtol, 1e-5, `q, ${what}`);
      const kWant = kRef.subarray(0, seen * Hkv * d);
      expectClose(kGot, kWant, ropeAtol + (f16 ? 2 ** -25 : 0), 1e-5 + (f16 ? 2 ** -11 : 0), `k cache, ${what}`);
      expectClose(vGot, vRef.subarray(0, seen * Hkv * d), f16 ? 2 ** -25 : 0, f16 ? 2 ** -11 : 0, `v cache, ${what}`);

      const o = attention(qGot, kGot, vGot, { heads: H, kvHeads: Hkv, headDim: d }, pos0);
      const gate = heads(callProj, stride, H, d, d, 2 * d);
      expectClose(outGot, sigmoidGate(o, gate), 2e-5, 1e-4, `out, ${what}`);
      pos0 = seen;
    }
  } finally {
    Object.values(bufs).forEach((buf) => ctx.allocator.destroy(buf));
    attn.destroy();
    prep.destroy();
  }
}

const describeCalls = (c: Case): string => {
  let pos = c.pos0;
  return c.calls
    .map((T) => {
      const s = T === 1 ? `decode@${pos} (${decodeSplits(pos + 1, pos + 1).splits} split)` : `prefill ${T}@${pos}`;
      pos += T;
      return s;
    })
    .join(', ');
};

describe.each(GPU_VARIANTS)('attention ($name)', (variant) => {
  for (const c of CASES) {
    for (const decodePrep of [false, true]) {
      it(`H=${c.heads} Hkv=${c.kvHeads} d=${c.headDim}/${c.rotaryDim} ${c.kvFormat}${decodePrep ? ', decode prep fused' : ''}: ${describeCalls(c)}`, async ({ skip }) => {
        if (!(await variantAvailable(variant))) skip();
        await runCase(await gpuContext(variant), c, decodePrep);
      });
    }
  }
});

describe('attention (bad input)', () => {
  it('rejects inconsistent shapes, short buffers and positions past maxContext with typed errors', async () => {
    const ctx = await gpuContext(GPU_VARIANTS[1]!);
    const shape = { heads: 4, kvHeads: 2, headDim: 64, maxTokens: 4, maxContext: 8, kvFormat: 'f32' as const };
    await expect(createAttention(ctx, { ...shape, heads: 3 })).rejects.toThrow(InvalidArgumentError);
    await expect(createAttention(ctx, { ...shape, headDim: 62 })).rejects.toThrow(/multiple of 4/);
    await expect(createAttentionPrep(ctx, { ...shape, rotaryDim: 15, ropeTheta: THETA, eps: EPS })).rejects.toThrow(/rotaryDim/);
    await expect(createAttention(ctx, { ...shape, decodePrep: { rotaryDim: 15, eps: EPS } })).rejects.toThrow(/rotaryDim/);
    const attn = await createAttention(ctx, shape);
    const withPrep = await createAttention(ctx, { ...shape, decodePrep: { rotaryDim: 16, eps: EPS } });
    const small = createStorage(ctx, 64, 'small');
    const cache = createStorage(ctx, kvCacheBytes('f32', 8, 2, 64), 'cache');
    const big = createStorage(ctx, 4 * 2 * 6 * 64 * 4, 'big');
    try {
      expect(() => attn.bind({ q: small, kCache: cache, vCache: cache, proj: big, out: big })).toThrow(/buffer "q"/);
      expect(() => withPrep.bind({ q: big, kCache: cache, vCache: cache, proj: big, out: big })).toThrow(/go with decodePrep/);
      expect(() => attn.bind({ q: big, kCache: cache, vCache: cache, proj: big, out: big, prep: { qNorm: big, kNorm: big, invFreq: big } })).toThrow(/go with decodePrep/);
      expect(() => withPrep.bind({ q: big, kCache: cache, vCache: cache, proj: big, out: big, prep: { qNorm: small, kNorm: big, invFreq: big } })).toThrow(/buffer "qNorm"/);
      const bound = attn.bind({ q: big, kCache: cache, vCache: cache, proj: big, out: big });
      expect(() => bound.setPosition(6, 3)).toThrow(ContextOverflowError);
      expect(() => bound.setPosition(0, 5)).toThrow(/maxTokens/);
    } finally {
      [small, cache, big].forEach((b) => ctx.allocator.destroy(b));
      attn.destroy();
      withPrep.destroy();
    }
  });
});
