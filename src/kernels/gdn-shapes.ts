/** Shapes, buffers and size helpers shared by the GDN kernels (gdn.ts, gdn-chunked.ts), architecture §4. */
import type { BufferArg, Dispatch } from '../gpu/kernel.js';
import { requirePositiveInts, requireThat } from './checks.js';

export interface GdnDimsShape {
  keyHeads: number;
  valueHeads: number;
  /** Multiples of 4 (the chunked kernel also checks its workgroup memory against the device). */
  keyDim: number;
  valueDim: number;
  maxTokens: number;
}

export interface GdnStepBuffers {
  q: BufferArg;
  k: BufferArg;
  v: BufferArg;
  /** The fused projection [T, C + Hv·dv + 2·Hv] (§4.1): β and g are computed from its b, a columns. */
  proj: BufferArg;
  /** [Hv] f32 each: the gate parameters A_log and dt_bias. */
  aLog: BufferArg;
  dtBias: BufferArg;
  /** [Hv, dk, dv] f32, read and updated in place. */
  state: BufferArg;
  /** [T, Hv, dv]. */
  out: BufferArg;
}

export interface BoundTokens {
  dispatches: Dispatch[];
  /** Sets the call's token count (≤ maxTokens). Submit before the next call (uniforms are per binding). */
  setTokens(tokens: number): void;
}

/** Channels of the conv (q, k and v of all heads). */
export const gdnChannels = (s: Pick<GdnDimsShape, 'keyHeads' | 'keyDim' | 'valueHeads' | 'valueDim'>): number =>
  2 * s.keyHeads * s.keyDim + s.valueHeads * s.valueDim;

/** Elements per token of the fused GDN projection. */
export const gdnProjWidth = (s: Pick<GdnDimsShape, 'keyHeads' | 'keyDim' | 'valueHeads' | 'valueDim'>): number =>
  gdnChannels(s) + s.valueHeads * s.valueDim + 2 * s.valueHeads;

/** Byte sizes of the per-call GDN activations at maxTokens (for the bind checks and the memory predictor). */
export function gdnActivationBytes(s: GdnDimsShape): Record<'qk' | 'v' | 'proj' | 'state', number> {
  return {
    qk: s.maxTokens * s.keyHeads * s.keyDim * 4,
    v: s.maxTokens * s.valueHeads * s.valueDim * 4,
    proj: s.maxTokens * gdnProjWidth(s) * 4,
    state: s.valueHeads * s.keyDim * s.valueDim * 4,
  };
}

/** The bind checks shared by the recurrent and chunked kernels. */
export function stepBufferChecks(s: GdnDimsShape, b: GdnStepBuffers): Record<keyof GdnStepBuffers, [BufferArg, number]> {
  const bytes = gdnActivationBytes(s);
  return {
    q: [b.q, bytes.qk],
    k: [b.k, bytes.qk],
    v: [b.v, bytes.v],
    proj: [b.proj, bytes.proj],
    aLog: [b.aLog, s.valueHeads * 4],
    dtBias: [b.dtBias, s.valueHeads * 4],
    state: [b.state, bytes.state],
    out: [b.out, bytes.v],
  };
}

export function checkGdnDims(name: string, s: GdnDimsShape): void {
  const { keyHeads, valueHeads, keyDim, valueDim, maxTokens } = s;
  requirePositiveInts(name, { keyHeads, valueHeads, keyDim, valueDim, maxTokens });
  requireThat(name, valueHeads % keyHeads === 0, `valueHeads (${valueHeads}) must be a multiple of keyHeads (${keyHeads})`);
  requireThat(name, keyDim % 4 === 0 && valueDim % 4 === 0, `head dims must be multiples of 4, got dk=${keyDim} dv=${valueDim}`);
}

/**
 * A projection [T, C + Hv·dv + 2·Hv] holding b and a [T, Hv] in their columns and `fill` everywhere
 * else: the part of it the recurrence kernels read (tests and benchmarks).
 */
export function projectionWithGates(s: Pick<GdnDimsShape, 'keyHeads' | 'keyDim' | 'valueHeads' | 'valueDim'>, b: Float32Array, a: Float32Array, fill = Number.NaN): Float32Array {
  const hv = s.valueHeads;
  const width = gdnProjWidth(s);
  const tokens = b.length / hv;
  const proj = new Float32Array(tokens * width).fill(fill);
  const bAt = width - 2 * hv;
  for (let t = 0; t < tokens; t++) {
    proj.set(b.subarray(t * hv, (t + 1) * hv), t * width + bAt);
    proj.set(a.subarray(t * hv, (t + 1) * hv), t * width + bAt + hv);
  }
  return proj;
}
