/**
 * Mixture-of-experts block (architecture §5), entirely on the GPU (no expert id is read back):
 *   router      logits [T, E(+1)] → ids [T, k] u32, weights [T, k] f32 (shaders/moe_router.wgsl)
 *   experts     per slot (t, j): y[t, j] = W_{ids[t,j]} · x               (shaders/matvec.wgsl, EXPERTS;
 *               gate_up can apply the post norm to x itself: normInput)
 *   combine     h += Σ_j w_j·expertOut_j + sigmoid(g)·shared            (shaders/moe_combine.wgsl)
 * The router logits and the shared expert are ordinary createLinear layers. The runtime stacks the
 * shared expert's gate row under the router's (gpu-weight-plan.ts), so one matvec gives each token
 * [E expert logits, g]: the router reads a row of E + 1 (logitStride) and the combine reads g
 * from its last column.
 */
import { InvalidArgumentError } from '../errors.js';
import { bindBuffers, gridFor, type BufferArg, type Dispatch, type KernelContext } from '../gpu/kernel.js';
import type { WeightFormat } from '../io/formats.js';
import { requireBytes } from './buffer-checks.js';
import { checkLinearShape, MATVEC_LAYOUT, matvecBlocks, matvecDefines, matvecLayout, wordsPerRow } from './linear.js';
import { partResources, type GpuMatrix } from './matrix.js';

export interface BoundTokens {
  dispatches: Dispatch[];
  setTokens(t: number): void;
}

const positive = (...ns: number[]): boolean => ns.every((n) => Number.isInteger(n) && n > 0);

function tokenSetter(label: string, maxTokens: number, apply: (t: number) => void): (t: number) => void {
  return (t: number) => {
    if (!(Number.isInteger(t) && t >= 0 && t <= maxTokens)) throw new RangeError(`${label}: ${t} tokens outside 0..${maxTokens}`);
    apply(t);
  };
}

export interface RouterShape {
  experts: number;
  topK: number;
  /** Divide the k weights by their sum (always for Qwen3.5-MoE; norm_topk_prob for Qwen3-Next). */
  renormalize: boolean;
  tokens: number;
  /** Values per logits row, the expert logits first (default experts). */
  logitStride?: number;
}

/** Softmax over all experts, top-k (ties → lower index), optional renormalisation; one workgroup per token. */
export async function createRouter(ctx: KernelContext, shape: RouterShape) {
  const { experts, topK, tokens } = shape;
  const stride = shape.logitStride ?? experts;
  if (!positive(experts, topK, tokens, stride) || topK > experts || stride < experts) {
    throw new InvalidArgumentError(`router: invalid shape experts=${experts} topK=${topK} tokens=${tokens} logitStride=${stride}`);
  }
  const pipeline = await ctx.pipelines.get({ shader: 'moe_router', defines: { EXPERTS: experts, TOP_K: topK, LOGIT_STRIDE: stride, RENORMALIZE: shape.renormalize } });
  const maxGrid = ctx.gpu.limits.maxComputeWorkgroupsPerDimension;
  return {
    shape,
    bind(b: { logits: BufferArg; ids: BufferArg; weights: BufferArg }, label = 'router'): BoundTokens {
      requireBytes(`${label}: logits [${tokens}, ${stride}] f32`, b.logits, tokens * stride * 4);
      requireBytes(`${label}: ids [${tokens}, ${topK}] u32`, b.ids, tokens * topK * 4);
      requireBytes(`${label}: weights [${tokens}, ${topK}] f32`, b.weights, tokens * topK * 4);
      const params = ctx.uniforms.alloc([['tokens', 'u32']] as const, { tokens });
      const dispatch: Dispatch = { label, pipeline, bindGroup: bindBuffers(ctx, pipeline, label, [params.binding, b.logits, b.ids, b.weights]), workgroups: [0, 1, 1] };
      const setTokens = tokenSetter(label, tokens, (t) => {
        params.set({ tokens: t });
        dispatch.workgroups = gridFor(t, maxGrid);
      });
      setTokens(tokens);
      return { dispatches: [dispatch], setTokens };
    },
  };
}

export interface ExpertLinearShape {
  format: WeightFormat;
  experts: number;
  /** Rows per expert (n); the stacked matrix has experts · n rows. */
  rows: number;
  cols: number;
  topK: number;
  tokens: number;
  /** 'swiglu': each expert's rows are [gate (n/2); up (n/2)] and y holds n/2 values per slot. */
  epilogue: 'store' | 'swiglu';
  /** x is [T, k, cols] (one input per slot, e.g. the down projection) instead of [T, cols]. */
  inputPerSlot: boolean;
  /**
   * x is the un-normalised [T, cols] and the matvec applies the zero-centred RMSNorm (§2) to each
   * token's row itself (bind `normWeight`): the MoE post norm, at any T. Not with inputPerSlot.
   */
  normInput?: { eps: number };
}

export interface ExpertLinearBuffers {
  /** experts · rows rows; expert e is rows [e·n, (e+1)·n); parts split at expert boundaries. */
  w: GpuMatrix;
  x: BufferArg;
  ids: BufferArg;
  /** [T, k, n] or [T, k, n/2] for swiglu. */
  y: BufferArg;
  /** normInput: the norm weight [cols]. */
  normWeight?: BufferArg;
}

/** Matvec of each routed slot with its expert's rows (llama.cpp mul_mat_id style). */
export async function createExpertLinear(ctx: KernelContext, shape: ExpertLinearShape) {
  const { format, experts, rows: n, cols, topK, tokens, epilogue } = shape;
  checkLinearShape('expert linear', { rows: n, cols, tokens, epilogue });
  if (!positive(experts, topK) || topK > experts) throw new InvalidArgumentError(`expert linear: invalid experts=${experts} topK=${topK}`);
  if (shape.normInput && shape.inputPerSlot) throw new InvalidArgumentError('expert linear: normInput normalises token rows; it cannot take an input per slot');
  const layout = matvecLayout(ctx, 'expert linear', format, cols, { normInput: shape.normInput !== undefined });
  const defines = { ...matvecDefines(format, epilogue, cols, layout, shape.normInput !== undefined), EXPERTS: true, X_PER_SLOT: shape.inputPerSlot };
  const pipeline = await ctx.pipelines.get({ shader: 'matvec', defines });
  const outs = epilogue === 'swiglu' ? n / 2 : n;
  const blocks = matvecBlocks(outs, epilogue, layout);
  const maxGrid = ctx.gpu.limits.maxComputeWorkgroupsPerDimension;
  return {
    shape,
    bind(b: ExpertLinearBuffers, label = 'experts'): BoundTokens {
      if (b.w.format !== format || b.w.rows !== experts * n || b.w.cols !== cols) {
        throw new InvalidArgumentError(`${label}: kernel built for ${format} [${experts}·${n}, ${cols}], got ${b.w.label}: ${b.w.format} [${b.w.rows}, ${b.w.cols}]`);
      }
      const split = b.w.parts.find((p) => p.rowStart % n !== 0 || p.rows % n !== 0);
      if (split) throw new InvalidArgumentError(`${label}: ${b.w.label} is split inside an expert (part at row ${split.rowStart}); upload it with rowGranularity ${n}`);
      requireBytes(`${label}: x`, b.x, tokens * (shape.inputPerSlot ? topK : 1) * cols * 4);
      requireBytes(`${label}: ids [${tokens}, ${topK}] u32`, b.ids, tokens * topK * 4);
      requireBytes(`${label}: y [${tokens}, ${topK}, ${outs}] f32`, b.y, tokens * topK * outs * 4);
      if ((b.normWeight !== undefined) !== (shape.normInput !== undefined)) {
        throw new InvalidArgumentError(`${label}: the norm weight goes with normInput, and only with it`);
      }
      if (b.normWeight) requireBytes(`${label}: norm weight [${cols}] f32`, b.normWeight, cols * 4);
      const parts = b.w.parts.map((part, i) => {
        const params = ctx.uniforms.alloc(MATVEC_LAYOUT, {
          unit_rows: n, cols, words_per_row: wordsPerRow(format, cols), outs, out_offset: 0, out_stride: outs,
          slots: tokens * topK, blocks, first_expert: part.rowStart / n, part_experts: part.rows / n, top_k: topK,
          norm_eps: shape.normInput?.eps ?? 0,
        });
        const name = b.w.parts.length > 1 ? `${label}#${i}` : label;
        const bindGroup = bindBuffers(ctx, pipeline, name, [params.binding, ...partResources(part), b.x, b.y, b.ids, ...(b.normWeight ? [b.normWeight] : [])]);
        return { params, dispatch: { label: name, pipeline, bindGroup, workgroups: [0, 1, 1] } as Dispatch };
      });
      const setTokens = tokenSetter(label, tokens, (t) => {
        for (const p of parts) {
          p.params.set({ slots: t * topK });
          p.dispatch.workgroups = gridFor(t * topK * blocks, maxGrid);
        }
      });
      setTokens(tokens);
      return { dispatches: parts.map((p) => p.dispatch), setTokens };
    },
  };
}

export interface MoeCombineBuffers {
  /** [T, k, hidden] expert outputs. */
  expertOut: BufferArg;
  /** [T, k] routing weights. */
  weights: BufferArg;
  /** [T, hidden] shared expert output. */
  shared: BufferArg;
  /** [T, gateStride] holding each token's shared-expert gate logit in column gateColumn (sigmoid applied here). */
  sharedGate: BufferArg;
  /** [T, hidden] residual stream, updated in place. */
  h: BufferArg;
}

const COMBINE_WG = 256;

export interface MoeCombineShape {
  hidden: number;
  topK: number;
  tokens: number;
  /** Where sharedGate holds each token's gate logit: row length and column (the router's logits: E + 1 and E). */
  gateStride: number;
  gateColumn: number;
}

export async function createMoeCombine(ctx: KernelContext, shape: MoeCombineShape) {
  const { hidden, topK, tokens, gateStride, gateColumn } = shape;
  if (!positive(hidden, topK, tokens, gateStride) || !(Number.isInteger(gateColumn) && gateColumn >= 0 && gateColumn < gateStride)) {
    throw new InvalidArgumentError(`moe combine: invalid shape hidden=${hidden} topK=${topK} tokens=${tokens} gateStride=${gateStride} gateColumn=${gateColumn}`);
  }
  const pipeline = await ctx.pipelines.get({ shader: 'moe_combine' });
  const maxGrid = ctx.gpu.limits.maxComputeWorkgroupsPerDimension;
  return {
    shape,
    bind(b: MoeCombineBuffers, label = 'moe combine'): BoundTokens {
      requireBytes(`${label}: expertOut [${tokens}, ${topK}, ${hidden}] f32`, b.expertOut, tokens * topK * hidden * 4);
      requireBytes(`${label}: weights [${tokens}, ${topK}] f32`, b.weights, tokens * topK * 4);
      requireBytes(`${label}: shared [${tokens}, ${hidden}] f32`, b.shared, tokens * hidden * 4);
      requireBytes(`${label}: sharedGate [${tokens}, ${gateStride}] f32`, b.sharedGate, tokens * gateStride * 4);
      requireBytes(`${label}: h [${tokens}, ${hidden}] f32`, b.h, tokens * hidden * 4);
      const layout = [['hidden', 'u32'], ['top_k', 'u32'], ['tokens', 'u32'], ['gate_stride', 'u32'], ['gate_column', 'u32']] as const;
      const params = ctx.uniforms.alloc(layout, { hidden, top_k: topK, tokens, gate_stride: gateStride, gate_column: gateColumn });
      const resources = [params.binding, b.expertOut, b.weights, b.shared, b.sharedGate, b.h];
      const dispatch: Dispatch = { label, pipeline, bindGroup: bindBuffers(ctx, pipeline, label, resources), workgroups: [0, 1, 1] };
      const setTokens = tokenSetter(label, tokens, (t) => {
        params.set({ tokens: t });
        dispatch.workgroups = gridFor(Math.ceil((t * hidden) / COMBINE_WG), maxGrid);
      });
      setTokens(tokens);
      return { dispatches: [dispatch], setTokens };
    },
  };
}
