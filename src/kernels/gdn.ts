/**
 * Gated DeltaNet mixer kernels (architecture §4): prep (shaders/gdn_prep.wgsl: conv1d + SiLU,
 * q/k l2norm, the conv state; one dispatch for one token, two otherwise), the token-by-token
 * recurrence (shaders/gdn_recurrent.wgsl) and, from the same source, the decode step: conv, l2norm,
 * recurrence and gated norm of one token in one dispatch. β and g are computed by the recurrence
 * kernels from the projection (gdn_gates.wgsl). The chunked prefill form lives in gdn-chunked.ts;
 * the gated output norm of prefill in rmsnorm.ts.
 */
import { bindBuffers, gridFor, type BufferArg, type Dispatch, type KernelContext } from '../gpu/kernel.js';
import { requireBufferBytes, requireThat, requireTokens } from './checks.js';
import {
  checkGdnDims,
  gdnActivationBytes,
  gdnChannels,
  stepBufferChecks,
  type BoundTokens,
  type GdnDimsShape,
  type GdnStepBuffers,
} from './gdn-shapes.js';

export * from './gdn-shapes.js';
export { createGdnChunked, gdnChunkedScratchBytes, type GdnChunkedShape, type GdnChunkedTuning } from './gdn-chunked.js';
export { createGatedRmsNorm } from './rmsnorm.js';

export interface GdnPrepShape extends GdnDimsShape {
  convKernel: number;
  /** q/k l2norm epsilon: x·rsqrt(Σx² + eps); default 1e-6 as in HF/FLA (§4.2 step 5, §9.10). */
  eps?: number;
}

const requireConvKernel = (name: string, k: number): void =>
  requireThat(name, Number.isInteger(k) && k >= 2, `convKernel must be an integer ≥ 2, got ${k}`);

/** The bind checks of the conv weight [C, K] and conv state [K−1, C] (prep and decode step). */
const convBufferChecks = (channels: number, convKernel: number, b: { convWeight: BufferArg; convState: BufferArg }): Record<'convWeight' | 'convState', [BufferArg, number]> => ({
  convWeight: [b.convWeight, channels * convKernel * 4],
  convState: [b.convState, (convKernel - 1) * channels * 4],
});

export interface GdnPrepBuffers {
  /** Fused projection [T, C + Hv·dv + 2·Hv]: qkv | z | b | a (§4.1). */
  proj: BufferArg;
  /** [C, K] f32. */
  convWeight: BufferArg;
  /** [K−1, C] f32, previous pre-conv columns oldest first; updated to end with this call's tokens. */
  convState: BufferArg;
  /** Outputs: q, k [T, Hk, dk]; v [T, Hv, dv]. */
  q: BufferArg;
  k: BufferArg;
  v: BufferArg;
}

const PREP_LAYOUT = [
  ['tokens', 'u32'],
  ['keyHeads', 'u32'],
  ['valueHeads', 'u32'],
  ['keyDim', 'u32'],
  ['valueDim', 'u32'],
  ['eps', 'f32'],
] as const;

export async function createGdnPrep(ctx: KernelContext, shape: GdnPrepShape) {
  const name = 'gdn prep';
  checkGdnDims(name, shape);
  requireConvKernel(name, shape.convKernel);
  const { keyHeads, valueHeads, keyDim, valueDim, maxTokens, convKernel } = shape;
  const [conv, shift] = await Promise.all(
    [false, true].map((SHIFT) => ctx.pipelines.get({ shader: 'gdn_prep', defines: { CONV_KERNEL: convKernel, SHIFT } })),
  );
  const channels = gdnChannels(shape);
  const bytes = gdnActivationBytes(shape);
  const maxGrid = ctx.gpu.limits.maxComputeWorkgroupsPerDimension;
  return {
    shape,
    bind(b: GdnPrepBuffers, label = 'gdn prep'): BoundTokens {
      requireBufferBytes(name, {
        proj: [b.proj, bytes.proj],
        ...convBufferChecks(channels, convKernel, b),
        q: [b.q, bytes.qk],
        k: [b.k, bytes.qk],
        v: [b.v, bytes.v],
      });
      const params = ctx.uniforms.alloc(PREP_LAYOUT, { keyHeads, valueHeads, keyDim, valueDim, eps: shape.eps ?? 1e-6 });
      const convPass: Dispatch = {
        label: `${label} conv`,
        pipeline: conv!,
        bindGroup: bindBuffers(ctx, conv!, `${label} conv`, [params.binding, b.proj, b.convWeight, b.convState, b.q, b.k, b.v]),
        workgroups: [0, 0, 0],
      };
      const shiftPass: Dispatch = {
        label: `${label} conv state`,
        pipeline: shift!,
        bindGroup: bindBuffers(ctx, shift!, `${label} conv state`, [params.binding, b.proj, b.convState]),
        workgroups: [0, 0, 0],
      };
      return {
        dispatches: [convPass, shiftPass],
        setTokens(tokens: number): void {
          requireTokens(name, tokens, maxTokens);
          params.set({ tokens });
          convPass.workgroups = [2 * keyHeads + valueHeads, tokens, tokens > 0 ? 1 : 0];
          // One token: the conv pass shifts the state itself.
          shiftPass.workgroups = tokens > 1 ? gridFor(Math.ceil(channels / 64), maxGrid) : [0, 0, 0];
        },
      };
    },
  };
}

const STEP_LAYOUT = [
  ['tokens', 'u32'],
  ['keyHeads', 'u32'],
  ['valueHeads', 'u32'],
] as const;

/**
 * Lanes per state column: a power of two ≤ the subgroup size (and ≤ maxLanes) that divides dk
 * (1 without subgroups).
 */
function lanesPerColumn(ctx: KernelContext, keyDim: number, maxLanes = 32): number {
  if (!ctx.gpu.features.subgroups) return 1;
  let lanes = 1;
  while (lanes * 2 <= Math.min(maxLanes, ctx.gpu.features.subgroupMinSize) && keyDim % (lanes * 2) === 0) lanes *= 2;
  return lanes;
}

export async function createGdnRecurrent(ctx: KernelContext, shape: GdnDimsShape) {
  const name = 'gdn recurrent';
  checkGdnDims(name, shape);
  const { keyHeads, valueHeads, keyDim, valueDim, maxTokens } = shape;
  const lanes = lanesPerColumn(ctx, keyDim);
  const cols = Math.max(1, 64 / lanes);
  const pipeline = await ctx.pipelines.get({
    shader: 'gdn_recurrent',
    defines: { LANES: lanes, COLS: cols, KEY_DIM: keyDim, VALUE_DIM: valueDim },
  });
  return {
    shape,
    bind(b: GdnStepBuffers, label = 'gdn recurrent'): BoundTokens {
      requireBufferBytes(name, stepBufferChecks(shape, b));
      const params = ctx.uniforms.alloc(STEP_LAYOUT, { keyHeads, valueHeads });
      const dispatch: Dispatch = {
        label,
        pipeline,
        bindGroup: bindBuffers(ctx, pipeline, label, [params.binding, b.q, b.k, b.v, b.proj, b.aLog, b.dtBias, b.state, b.out]),
        workgroups: [0, 0, 0],
      };
      return {
        dispatches: [dispatch],
        setTokens(tokens: number): void {
          requireTokens(name, tokens, maxTokens);
          params.set({ tokens });
          dispatch.workgroups = tokens > 0 ? [Math.ceil(valueDim / cols), valueHeads, 1] : [0, 0, 0];
        },
      };
    },
  };
}

export interface GdnDecodeStepShape extends Omit<GdnDimsShape, 'maxTokens'> {
  convKernel: number;
  /** q/k l2norm epsilon (default 1e-6, as the prep kernel). */
  l2Eps?: number;
  /** Gated RMSNorm epsilon (rms_norm_eps). */
  normEps: number;
}

export interface GdnDecodeStepBuffers {
  /** The fused projection of the one token [1, C + Hv·dv + 2·Hv] (§4.1): qkv, z, b, a. */
  proj: BufferArg;
  /** [C, K] f32. */
  convWeight: BufferArg;
  /** [K−1, C] f32, shifted by this token. */
  convState: BufferArg;
  aLog: BufferArg;
  dtBias: BufferArg;
  /** [dv] gated-norm weight. */
  norm: BufferArg;
  /** [Hv, dk, dv] f32, updated in place. */
  state: BufferArg;
  /** [1, Hv·dv]: the normalised, gated mixer output (what out_proj reads). */
  out: BufferArg;
}

const DECODE_STEP_LAYOUT = [...STEP_LAYOUT, ['l2Eps', 'f32'], ['normEps', 'f32']] as const;

/**
 * The GDN mixer of one decode token between in_proj and out_proj (gdn_recurrent.wgsl DECODE_STEP):
 * one workgroup per key head holding every column of its value heads, so dv (rounded up to a
 * power of two) times the lanes per column must fit the device's workgroup size.
 */
export async function createGdnDecodeStep(ctx: KernelContext, shape: GdnDecodeStepShape) {
  const name = 'gdn decode step';
  checkGdnDims(name, { ...shape, maxTokens: 1 });
  requireConvKernel(name, shape.convKernel);
  const { keyHeads, valueHeads, keyDim, valueDim } = shape;
  const cols = 2 ** Math.ceil(Math.log2(valueDim));
  const maxThreads = Math.min(ctx.gpu.limits.maxComputeInvocationsPerWorkgroup, ctx.gpu.limits.maxComputeWorkgroupSizeX);
  requireThat(name, cols <= maxThreads, `value dim ${valueDim} needs ${cols} threads per workgroup; the device allows ${maxThreads}`);
  const lanes = lanesPerColumn(ctx, keyDim, maxThreads / cols);
  const pipeline = await ctx.pipelines.get({
    shader: 'gdn_recurrent',
    defines: { DECODE_STEP: true, LANES: lanes, COLS: cols, KEY_DIM: keyDim, VALUE_DIM: valueDim, CONV_KERNEL: shape.convKernel },
  });
  const channels = gdnChannels(shape);
  const bytes = gdnActivationBytes({ ...shape, maxTokens: 1 });
  return {
    shape,
    bind(b: GdnDecodeStepBuffers, label = name): { dispatches: Dispatch[] } {
      requireBufferBytes(name, {
        proj: [b.proj, bytes.proj],
        ...convBufferChecks(channels, shape.convKernel, b),
        aLog: [b.aLog, valueHeads * 4],
        dtBias: [b.dtBias, valueHeads * 4],
        norm: [b.norm, valueDim * 4],
        state: [b.state, bytes.state],
        out: [b.out, bytes.v],
      });
      const params = ctx.uniforms.alloc(DECODE_STEP_LAYOUT, { tokens: 1, keyHeads, valueHeads, l2Eps: shape.l2Eps ?? 1e-6, normEps: shape.normEps });
      const resources = [params.binding, b.proj, b.convWeight, b.convState, b.aLog, b.dtBias, b.norm, b.state, b.out];
      return { dispatches: [{ label, pipeline, bindGroup: bindBuffers(ctx, pipeline, label, resources), workgroups: [1, keyHeads, 1] }] };
    },
  };
}
