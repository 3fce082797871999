/** RMSNorm family (shaders/rmsnorm.wgsl): zero-centred or plain weight, optionally fused with the residual add. */
import { bindBuffers, gridFor, type BufferArg, type Dispatch, type KernelContext } from '../gpu/kernel.js';

export interface RmsNormShape {
  /** Length of each normalised row. */
  n: number;
  /** Number of rows (tokens, or tokens × heads for the per-head q/k norm). */
  rows: number;
  eps: number;
  /** (1 + w) scaling (every Qwen3.5 norm except the GDN gated norm, which uses plain w). */
  unitOffset: boolean;
  /** h ← h + delta before normalising h. */
  addResidual?: boolean;
}

const LAYOUT = [
  ['n', 'u32'],
  ['rows', 'u32'],
  ['eps', 'f32'],
] as const;

export interface RmsNormBuffers {
  /** Weight, n f32. */
  w: BufferArg;
  /** Input rows (or the residual stream, updated in place, when addResidual). */
  h: BufferArg;
  /** Sub-layer output added to h (addResidual only). */
  delta?: BufferArg;
  /** Normalised output rows. */
  y: BufferArg;
}

export async function createRmsNorm(ctx: KernelContext, shape: RmsNormShape) {
  if (!(shape.n > 0 && shape.rows > 0)) throw new RangeError(`rmsnorm: invalid shape n=${shape.n} rows=${shape.rows}`);
  const pipeline = await ctx.pipelines.get({
    shader: 'rmsnorm',
    defines: { UNIT_OFFSET: shape.unitOffset, ADD_RESIDUAL: !!shape.addResidual },
  });
  return {
    shape,
    /** Binds buffers sized for shape.rows rows; setRows() later runs fewer (a partial prefill chunk). */
    bind(b: RmsNormBuffers, label = 'rmsnorm'): Dispatch & { setRows(rows: number): void } {
      const params = ctx.uniforms.alloc(LAYOUT, { n: shape.n, rows: shape.rows, eps: shape.eps });
      if (shape.addResidual && !b.delta) throw new TypeError('rmsnorm: addResidual needs a delta buffer');
      const resources = shape.addResidual ? [params.binding, b.w, b.delta!, b.h, b.y] : [params.binding, b.w, b.h, b.y];
      const maxGrid = ctx.gpu.limits.maxComputeWorkgroupsPerDimension;
      const dispatch = {
        label,
        pipeline,
        bindGroup: bindBuffers(ctx, pipeline, label, resources),
        workgroups: gridFor(shape.rows, maxGrid),
        setRows(rows: number): void {
          if (!(rows >= 0 && rows <= shape.rows)) throw new RangeError(`rmsnorm: ${rows} rows outside 0..${shape.rows}`);
          params.set({ rows });
          dispatch.workgroups = gridFor(rows, maxGrid);
        },
      };
      return dispatch;
    },
  };
}
