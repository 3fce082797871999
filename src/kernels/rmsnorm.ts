/**
 * RMSNorm family (shaders/rmsnorm.wgsl): zero-centred or plain weight, and the GDN gated norm
 * (plain weight × silu(z)). The residual adds of the decoder are fused into the output
 * projections instead (linear.ts, 'add' epilogue).
 */
import { bindBuffers, gridFor, type BufferArg, type Dispatch, type KernelContext } from '../gpu/kernel.js';
import { requireBufferBytes, requirePositiveInts, requireTokens } from './checks.js';

export interface RmsNormShape {
  /** Length of each normalised row. */
  n: number;
  /** Number of rows (tokens, or tokens × heads for the per-head q/k norm). */
  rows: number;
  eps: number;
  /** (1 + w) scaling (every Qwen3.5 norm except the GDN gated norm, which uses plain w). */
  unitOffset: boolean;
}

const LAYOUT = [
  ['n', 'u32'],
  ['rows', 'u32'],
  ['eps', 'f32'],
] as const;

export interface RmsNormBuffers {
  /** Weight, n f32. */
  w: BufferArg;
  /** Input rows. */
  h: BufferArg;
  /** Normalised output rows. */
  y: BufferArg;
}

export async function createRmsNorm(ctx: KernelContext, shape: RmsNormShape) {
  if (!(shape.n > 0 && shape.rows > 0)) throw new RangeError(`rmsnorm: invalid shape n=${shape.n} rows=${shape.rows}`);
  const pipeline = await ctx.pipelines.get({
    shader: 'rmsnorm',
    defines: { UNIT_OFFSET: shape.unitOffset },
  });
  return {
    shape,
    /** Binds buffers sized for shape.rows rows; setRows() later runs fewer (a partial prefill chunk). */
    bind(b: RmsNormBuffers, label = 'rmsnorm'): { dispatches: Dispatch[]; setRows(rows: number): void } {
      requireBufferBytes('rmsnorm', { w: [b.w, shape.n * 4], h: [b.h, shape.rows * shape.n * 4], y: [b.y, shape.rows * shape.n * 4] });
      const params = ctx.uniforms.alloc(LAYOUT, { n: shape.n, rows: shape.rows, eps: shape.eps });
      const maxGrid = ctx.gpu.limits.maxComputeWorkgroupsPerDimension;
      const dispatch: Dispatch = {
        label,
        pipeline,
        bindGroup: bindBuffers(ctx, pipeline, label, [params.binding, b.w, b.h, b.y]),
        workgroups: gridFor(shape.rows, maxGrid),
      };
      return {
        dispatches: [dispatch],
        setRows(rows: number): void {
          requireTokens('rmsnorm', rows, shape.rows);
          params.set({ rows });
          dispatch.workgroups = rows > 0 ? gridFor(rows, maxGrid) : [0, 0, 0];
        },
      };
    },
  };
}

export interface GatedRmsNormShape {
  valueHeads: number;
  valueDim: number;
  eps: number;
  maxTokens: number;
  /** GDN key heads and dim: they place z in the fused projection, at offset C = 2·Hk·dk + Hv·dv (§4.1). */
  keyHeads: number;
  keyDim: number;
}

export interface GatedRmsNormBuffers {
  /** GDN output [T, Hv, dv]. */
  o: BufferArg;
  /** Fused GDN projection [T, C + Hv·dv + 2·Hv]; z is read at offset C with its token stride. */
  proj: BufferArg;
  /** norm.weight [dv] (plain weight, no +1). */
  w: BufferArg;
  /** Output [T, Hv·dv]. */
  y: BufferArg;
}

const GATED_LAYOUT = [...LAYOUT, ['heads', 'u32'], ['zStride', 'u32'], ['zOffset', 'u32']] as const;

/** Gated RMSNorm of the GDN output (§2): y = rmsnorm(o_h)·w·silu(z_h) per value head, one row per (token, head). */
export async function createGatedRmsNorm(ctx: KernelContext, shape: GatedRmsNormShape) {
  const { valueHeads: heads, valueDim: n, maxTokens, keyHeads, keyDim } = shape;
  requirePositiveInts('gated rmsnorm', { valueHeads: heads, valueDim: n, maxTokens, keyHeads, keyDim });
  const zOffset = 2 * keyHeads * keyDim + heads * n;
  const zStride = zOffset + heads * n + 2 * heads;
  const pipeline = await ctx.pipelines.get({ shader: 'rmsnorm', defines: { UNIT_OFFSET: false, GATED: true } });
  const maxGrid = ctx.gpu.limits.maxComputeWorkgroupsPerDimension;
  return {
    shape,
    bind(b: GatedRmsNormBuffers, label = 'gated rmsnorm'): { dispatches: Dispatch[]; setTokens(tokens: number): void } {
      const rowBytes = heads * n * 4;
      requireBufferBytes('gated rmsnorm', {
        o: [b.o, maxTokens * rowBytes],
        proj: [b.proj, ((maxTokens - 1) * zStride + zOffset) * 4 + rowBytes],
        w: [b.w, n * 4],
        y: [b.y, maxTokens * rowBytes],
      });
      const params = ctx.uniforms.alloc(GATED_LAYOUT, { n, eps: shape.eps, heads, zStride, zOffset });
      const dispatch: Dispatch = {
        label,
        pipeline,
        bindGroup: bindBuffers(ctx, pipeline, label, [params.binding, b.w, b.proj, b.o, b.y]),
        workgroups: [0, 0, 0],
      };
      return {
        dispatches: [dispatch],
        setTokens(tokens: number): void {
          requireTokens('gated rmsnorm', tokens, maxTokens);
          params.set({ rows: tokens * heads });
          dispatch.workgroups = tokens > 0 ? gridFor(tokens * heads, maxGrid) : [0, 0, 0];
        },
      };
    },
  };
}
