/**
 * Attention prep (shaders/attention_prep.wgsl, architecture §3 steps 1–2): per-head q_norm/k_norm,
 * partial rotate-half RoPE, and the K/V rows of the call's tokens written into the KV cache.
 */
import { bindBuffers, uploadStorage, type BufferArg, type Dispatch, type KernelContext } from '../gpu/kernel.js';
import { requireBufferBytes, requirePositions, requirePositiveInts, requireThat } from './checks.js';

/** KV cache element format: f32, or f16 packed two per u32 with pack2x16float (no shader-f16 needed). */
export type KvFormat = 'f32' | 'f16';

/**
 * Bytes of ONE cache buffer (K or V) of one attention layer, layout [maxContext, kvHeads, headDim].
 * A layer holds two of them.
 */
export function kvCacheBytes(kvFormat: KvFormat, maxContext: number, kvHeads: number, headDim: number): number {
  return maxContext * kvHeads * headDim * (kvFormat === 'f16' ? 2 : 4);
}

export interface AttentionPrepShape {
  heads: number;
  kvHeads: number;
  headDim: number;
  /** int(headDim · partial_rotary_factor); even, ≤ headDim. */
  rotaryDim: number;
  ropeTheta: number;
  eps: number;
  maxTokens: number;
  maxContext: number;
  kvFormat: KvFormat;
}

export interface AttentionPrepBuffers {
  /** Fused projection [T, 2·H·d + 2·Hkv·d] (per head q_h|gate_h, then k, then v). */
  proj: BufferArg;
  /** q_norm / k_norm weights [d] f32 (zero-centred: applied as 1 + w). */
  qNorm: BufferArg;
  kNorm: BufferArg;
  /** Output [T, H, d] f32. */
  q: BufferArg;
  /** [maxContext, Hkv, d] in kvFormat; rows pos0..pos0+T−1 are written. */
  kCache: BufferArg;
  vCache: BufferArg;
}

export interface BoundAttentionPrep {
  dispatches: Dispatch[];
  /** Sets the call: tokens at positions pos0..pos0+tokens−1. Submit before the next call (uniforms are per binding). */
  setPosition(pos0: number, tokens: number): void;
}

const LAYOUT = [
  ['tokens', 'u32'],
  ['pos0', 'u32'],
  ['heads', 'u32'],
  ['kvHeads', 'u32'],
  ['eps', 'f32'],
] as const;

/** The rotary dims are even and within the head (also checked by attention's decode prep). */
export function requireRotaryDim(name: string, rotaryDim: number, headDim: number): void {
  requireThat(name, Number.isInteger(rotaryDim) && rotaryDim >= 0 && rotaryDim % 2 === 0 && rotaryDim <= headDim,
    `rotaryDim must be even and within 0..headDim (${headDim}), got ${rotaryDim}`);
}

/** inv_freq_i = θ^(−2i/rotaryDim), i < rotaryDim/2, rounded once to f32 (as HF computes it, §3). */
export function ropeInvFreq(rotaryDim: number, theta: number): Float32Array {
  return Float32Array.from({ length: rotaryDim / 2 }, (_, i) => Math.pow(theta, (-2 * i) / rotaryDim));
}

export async function createAttentionPrep(ctx: KernelContext, shape: AttentionPrepShape) {
  const name = 'attention prep';
  const { heads, kvHeads, headDim: d, rotaryDim, maxTokens, maxContext } = shape;
  requirePositiveInts(name, { heads, kvHeads, headDim: d, maxTokens, maxContext });
  requireThat(name, heads % kvHeads === 0, `heads (${heads}) must be a multiple of kvHeads (${kvHeads})`);
  requireThat(name, d % 4 === 0, `headDim must be a multiple of 4 (vec4 cache rows), got ${d}`);
  requireRotaryDim(name, rotaryDim, d);
  requireThat(name, shape.ropeTheta > 1 && shape.eps > 0, `ropeTheta (${shape.ropeTheta}) must be > 1 and eps (${shape.eps}) > 0`);
  const pipeline = await ctx.pipelines.get({
    shader: 'attention_prep',
    defines: { HEAD_DIM: d, ROTARY_DIM: rotaryDim, KV_F16: shape.kvFormat === 'f16' },
  });
  const invFreq = uploadStorage(ctx, ropeInvFreq(rotaryDim, shape.ropeTheta), 'rope inv_freq', 'other');
  const stride = 2 * (heads + kvHeads) * d;
  const cacheBytes = kvCacheBytes(shape.kvFormat, maxContext, kvHeads, d);
  return {
    shape,
    /** θ^(−2i/rotaryDim) in f32 [rotaryDim/2] (also read by attention's decode prep). */
    invFreq,
    /** Frees the inv_freq table. */
    destroy: () => ctx.allocator.destroy(invFreq),
    bind(b: AttentionPrepBuffers, label = 'attention prep'): BoundAttentionPrep {
      requireBufferBytes(name, {
        proj: [b.proj, maxTokens * stride * 4],
        qNorm: [b.qNorm, d * 4],
        kNorm: [b.kNorm, d * 4],
        q: [b.q, maxTokens * heads * d * 4],
        kCache: [b.kCache, cacheBytes],
        vCache: [b.vCache, cacheBytes],
      });
      const params = ctx.uniforms.alloc(LAYOUT, {
        heads,
        kvHeads,
        eps: shape.eps,
      });
      const dispatch: Dispatch = {
        label,
        pipeline,
        bindGroup: bindBuffers(ctx, pipeline, label, [params.binding, b.proj, b.qNorm, b.kNorm, invFreq, b.kCache, b.vCache, b.q]),
        workgroups: [0, 0, 0],
      };
      return {
        dispatches: [dispatch],
        setPosition(pos0: number, tokens: number): void {
          requirePositions(name, pos0, tokens, maxTokens, maxContext);
          params.set({ pos0, tokens });
          dispatch.workgroups = [heads + 2 * kvHeads, tokens, 1];
        },
      };
    },
  };
}
