/**
 * Linear layers y = W·x for every projection of §3–§5 and the LM head. One token runs the
 * bandwidth-bound matvec (shaders/matvec.wgsl), several the tiled matmul (shaders/matmul.wgsl);
 * setTokens switches per call. One dispatch per matrix part, each writing its rows of y.
 *   x: [T, cols] f32;  y: [T, rows] f32 ('store' writes, 'add' accumulates: the residual add)
 *   'swiglu': W is the fused [gate (I); up (I)] (rows = 2I, one part), y: [T, I] = silu(g)·u (§5).
 * normInput: x is the zero-centred RMSNorm (§2) of a row h; the matvec applies the norm itself
 * (reading h and the norm weight), so a decode step skips the norm's dispatch; the matmul reads x.
 */
import { InvalidArgumentError } from '../errors.js';
import { bindBuffers, gridFor, type BufferArg, type Dispatch, type KernelContext } from '../gpu/kernel.js';
import type { Defines } from '../gpu/shaders.js';
import { paddedCols, type WeightFormat } from '../io/formats.js';
import { requireBytes } from './buffer-checks.js';
import type { UniformSlot } from '../gpu/uniforms.js';
import { partResources, weightDefines, type GpuMatrix, type GpuMatrixPart } from './matrix.js';

export type LinearEpilogue = 'store' | 'add' | 'swiglu';

export interface LinearShape {
  format: WeightFormat;
  rows: number;
  cols: number;
  /** Largest T a bound linear will be asked to run (setTokens). */
  tokens: number;
  epilogue: LinearEpilogue;
  /** The matvec normalises its input (bind with `norm`); eps of the zero-centred RMSNorm. */
  normInput?: { eps: number };
  /** Weight rows per matvec row group (default MATVEC_ROWS): the benchmark's tuning sweep sets it. */
  matvecRows?: number;
  /** Matvec row groups per workgroup (1, 2, 4 or 8; default from matvecLayout): swept by the benchmark too. */
  matvecGroups?: number;
  /**
   * The matmul fetches the next step's x and W while computing the current one, every thread
   * decoding an equal share of W (matmul.wgsl PREFETCH; default off): swept by the benchmark.
   */
  matmulPrefetch?: boolean;
  /**
   * q4 only: the matvec quantizes x to int8 per group of 32 and multiplies with integer dot
   * products (matvec.wgsl X_INT8; default off): fewer instructions per weight, x rounded to 8 bits.
   * Swept by the benchmark.
   */
  matvecInt8X?: boolean;
}

export interface LinearBuffers {
  w: GpuMatrix;
  /** [T, cols]; with normInput, the normalised rows (read by the matmul only). */
  x: BufferArg;
  y: BufferArg;
  /** normInput: the un-normalised row h [1, cols] and the norm weight w [cols] the matvec reads. */
  norm?: { h: BufferArg; w: BufferArg };
}

export interface BoundLinear {
  dispatches: Dispatch[];
  setTokens(t: number): void;
}

/**
 * matvec.wgsl: weight rows per row group, and threads per group: one per 16-byte word of a row (a
 * power of two in [32, 256]), so short quantized rows keep every thread busy. Measured on an H100
 * against fixed 64/128/256 threads with 2–8 rows and this rule with 4/8/16 rows: f32/f16 LM head
 * as fast (~3 TB/s), q8 and q4 about 2× faster than 128 threads × 4 rows.
 */
export const MATVEC_ROWS = 8;
const matvecThreadsPerRow = (format: WeightFormat, cols: number): number => Math.min(256, Math.max(32, 2 ** Math.ceil(Math.log2(wordsPerRow(format, cols)))));
/**
 * Row groups fill a workgroup up to this many threads: GPUs cap the workgroups resident per core
 * (32 per SM on NVIDIA Hopper/Ampere, 16 on Turing and consumer Ampere), so 32-thread workgroups
 * (q4 rows of 1024 columns) could use at most half of an SM's threads. Not yet timed on a GPU
 * against one group (the bench's sweep times both).
 */
const MATVEC_MIN_THREADS = 128;
const MATVEC_ROW_CHOICES = [2, 4, 8, 16, 32];
const MATVEC_GROUP_CHOICES = [1, 2, 4, 8];

/** How matvec.wgsl splits a workgroup: `groups` row groups of `threadsPerRow` threads, each computing `rows` weight rows. */
export interface MatvecLayout {
  rows: number;
  threadsPerRow: number;
  groups: number;
}

/**
 * The matvec layout for rows of `cols` columns: `rows` (default MATVEC_ROWS) and `groups` (default:
 * enough for MATVEC_MIN_THREADS threads, fewer where the partial sums would not fit in workgroup
 * memory), checked against the device's workgroup limits.
 */
export function matvecLayout(ctx: KernelContext, kernel: string, format: WeightFormat, cols: number, o: { rows?: number; groups?: number; normInput?: boolean } = {}): MatvecLayout {
  const rows = o.rows ?? MATVEC_ROWS;
  if (!MATVEC_ROW_CHOICES.includes(rows)) throw new InvalidArgumentError(`${kernel}: matvecRows must be ${MATVEC_ROW_CHOICES.join(', ')}, got ${rows}`);
  const threadsPerRow = matvecThreadsPerRow(format, cols);
  // matvec.wgsl's partial sums: one per accumulator (rows, + Σh² with normInput) per thread.
  const bytes = (groups: number): number => groups * threadsPerRow * (rows + (o.normInput ? 1 : 0)) * 4;
  const { maxComputeWorkgroupStorageSize: maxBytes, maxComputeInvocationsPerWorkgroup, maxComputeWorkgroupSizeX } = ctx.gpu.limits;
  const maxThreads = Math.min(maxComputeInvocationsPerWorkgroup, maxComputeWorkgroupSizeX);
  let groups = o.groups;
  if (groups === undefined) {
    groups = Math.max(1, MATVEC_MIN_THREADS / threadsPerRow);
    while (groups > 1 && bytes(groups) > maxBytes) groups /= 2;
  } else if (!MATVEC_GROUP_CHOICES.includes(groups) || groups * threadsPerRow > maxThreads) {
    throw new InvalidArgumentError(`${kernel}: matvecGroups must be one of ${MATVEC_GROUP_CHOICES.join(', ')} with at most ${maxThreads} threads (${threadsPerRow} per group), got ${groups}`);
  }
  if (bytes(groups) > maxBytes) {
    throw new InvalidArgumentError(`${kernel}: ${rows} matvec rows per group × ${groups} groups need ${bytes(groups)} bytes of workgroup memory; the device allows ${maxBytes}`);
  }
  return { rows, threadsPerRow, groups };
}
/** matmul.wgsl: tokens and weight rows per workgroup tile. */
const MATMUL_TILE = 64;

export const MATVEC_LAYOUT = [
  ['unit_rows', 'u32'], ['cols', 'u32'], ['words_per_row', 'u32'], ['outs', 'u32'], ['out_offset', 'u32'],
  ['out_stride', 'u32'], ['slots', 'u32'], ['blocks', 'u32'], ['first_expert', 'u32'], ['part_experts', 'u32'], ['top_k', 'u32'],
  ['norm_eps', 'f32'],
] as const;
const MATMUL_LAYOUT = [
  ['rows', 'u32'], ['cols', 'u32'], ['words_per_row', 'u32'], ['outs', 'u32'], ['out_offset', 'u32'],
  ['out_stride', 'u32'], ['tokens', 'u32'], ['row_tiles', 'u32'],
] as const;

const WORD_ELEMS: Record<WeightFormat, number> = { f32: 4, f16: 8, bf16: 8, q8: 16, q4: 32 };
/** 16-byte words per padded row (the unit matvec/matmul walk rows in). */
export const wordsPerRow = (format: WeightFormat, cols: number): number => paddedCols(cols) / WORD_ELEMS[format];

function epilogueDefines(format: WeightFormat, epilogue: LinearEpilogue | 'store'): Defines {
  return { ...weightDefines(format), SWIGLU: epilogue === 'swiglu', EPILOGUE_ADD: epilogue === 'add' };
}

/** The defines matvec and matmul share; X_VEC4: x is read 16 bytes at a time (every row of it is 16-byte aligned). */
function linearDefines(format: WeightFormat, epilogue: LinearEpilogue, cols: number): Defines {
  return { ...epilogueDefines(format, epilogue), X_VEC4: cols % 4 === 0 };
}

/** Defines of a matmul.wgsl pipeline: the shared ones and PREFETCH. */
function matmulDefines(format: WeightFormat, epilogue: LinearEpilogue, cols: number, prefetch = false): Defines {
  return { ...linearDefines(format, epilogue, cols), PREFETCH: prefetch };
}

/** Defines of a matvec.wgsl pipeline: the shared ones, its workgroup layout, NORM_X and X_INT8. */
export function matvecDefines(format: WeightFormat, epilogue: LinearEpilogue, cols: number, layout: MatvecLayout, normInput = false, int8X = false): Defines {
  return { ...linearDefines(format, epilogue, cols), TPR: layout.threadsPerRow, GROUPS: layout.groups, ROWS: layout.rows, NORM_X: normInput, X_INT8: int8X };
}

/** Workgroups per matvec slot for `outs` outputs. */
export const matvecBlocks = (outs: number, epilogue: LinearEpilogue, layout: MatvecLayout): number =>
  Math.ceil(outs / ((epilogue === 'swiglu' ? layout.rows / 2 : layout.rows) * layout.groups));

export function checkLinearShape(kernel: string, s: { rows: number; cols: number; tokens: number; epilogue: LinearEpilogue }): void {
  const ok = [s.rows, s.cols, s.tokens].every((n) => Number.isInteger(n) && n > 0) && (s.epilogue !== 'swiglu' || s.rows % 2 === 0);
  if (!ok) throw new InvalidArgumentError(`${kernel}: invalid shape rows=${s.rows} cols=${s.cols} tokens=${s.tokens} epilogue=${s.epilogue}`);
}

interface Pipelines {
  matvec: GPUComputePipeline;
  matmul?: GPUComputePipeline;
}

/** One part's dispatch and what setTokens needs to retarget it between matvec and matmul. */
interface LinearPart {
  dispatch: Dispatch;
  matvecGroup: GPUBindGroup;
  matmulGroup?: GPUBindGroup;
  matmulParams?: UniformSlot<typeof MATMUL_LAYOUT>;
  blocks: number;
  rowTiles: number;
}

function bindPart(ctx: KernelContext, pipes: Pipelines, shape: LinearShape, layout: MatvecLayout, part: GpuMatrixPart, b: LinearBuffers, name: string): LinearPart {
  const swiglu = shape.epilogue === 'swiglu';
  const outs = swiglu ? part.rows / 2 : part.rows;
  const common = {
    cols: shape.cols,
    words_per_row: wordsPerRow(shape.format, shape.cols),
    outs,
    out_offset: swiglu ? 0 : part.rowStart,
    out_stride: swiglu ? shape.rows / 2 : shape.rows,
  };
  const blocks = matvecBlocks(outs, shape.epilogue, layout);
  const rowTiles = Math.ceil(outs / (swiglu ? MATMUL_TILE / 2 : MATMUL_TILE));
  const resources = [...partResources(part), b.x, b.y];
  const matvecResources = b.norm ? [...partResources(part), b.norm.h, b.y, b.norm.w] : resources;
  const matvecParams = ctx.uniforms.alloc(MATVEC_LAYOUT, { ...common, unit_rows: part.rows, slots: 1, blocks, norm_eps: shape.normInput?.eps ?? 0 });
  const matvecGroup = bindBuffers(ctx, pipes.matvec, name, [matvecParams.binding, ...matvecResources]);
  const result: LinearPart = { dispatch: { label: name, pipeline: pipes.matvec, bindGroup: matvecGroup, workgroups: [0, 1, 1] }, matvecGroup, blocks, rowTiles };
  if (pipes.matmul) {
    result.matmulParams = ctx.uniforms.alloc(MATMUL_LAYOUT, { ...common, rows: part.rows, row_tiles: rowTiles });
    result.matmulGroup = bindBuffers(ctx, pipes.matmul, name, [result.matmulParams.binding, ...resources]);
  }
  return result;
}

export async function createLinear(ctx: KernelContext, shape: LinearShape) {
  checkLinearShape('linear', shape);
  const { format, rows, cols, epilogue } = shape;
  const layout = matvecLayout(ctx, 'linear', format, cols, { rows: shape.matvecRows, groups: shape.matvecGroups, normInput: shape.normInput !== undefined });
  if (shape.matvecInt8X && format !== 'q4') throw new InvalidArgumentError(`linear: matvecInt8X needs q4 weights, got ${format}`);
  const [matvec, matmul] = await Promise.all([
    ctx.pipelines.get({ shader: 'matvec', defines: matvecDefines(format, epilogue, cols, layout, shape.normInput !== undefined, shape.matvecInt8X) }),
    shape.tokens > 1 ? ctx.pipelines.get({ shader: 'matmul', defines: matmulDefines(format, epilogue, cols, shape.matmulPrefetch) }) : undefined,
  ]);
  const outStride = epilogue === 'swiglu' ? rows / 2 : rows;
  const maxGrid = ctx.gpu.limits.maxComputeWorkgroupsPerDimension;
  return {
    shape,
    /** The resolved matvec workgroup (rows and groups after the defaults). */
    matvecLayout: layout,
    bind(b: LinearBuffers, label = 'linear'): BoundLinear {
      if (b.w.format !== format || b.w.rows !== rows || b.w.cols !== cols) {
        throw new InvalidArgumentError(`${label}: kernel built for ${format} [${rows}, ${cols}], got ${b.w.label}: ${b.w.format} [${b.w.rows}, ${b.w.cols}]`);
      }
      if (epilogue === 'swiglu' && b.w.parts.length !== 1) {
        throw new InvalidArgumentError(`${label}: swiglu needs the fused gate/up matrix in one part; ${b.w.label} has ${b.w.parts.length}`);
      }
      if ((b.norm !== undefined) !== (shape.normInput !== undefined)) {
        throw new InvalidArgumentError(`${label}: ${shape.normInput ? 'a kernel built with normInput needs the norm buffers' : 'norm buffers given to a kernel built without normInput'}`);
      }
      requireBytes(`${label}: x [${shape.tokens}, ${cols}] f32`, b.x, shape.tokens * cols * 4);
      if (b.norm) {
        requireBytes(`${label}: norm h [1, ${cols}] f32`, b.norm.h, cols * 4);
        requireBytes(`${label}: norm w [${cols}] f32`, b.norm.w, cols * 4);
      }
      requireBytes(`${label}: y [${shape.tokens}, ${outStride}] f32`, b.y, shape.tokens * outStride * 4);
      const parts = b.w.parts.map((part, i) => bindPart(ctx, { matvec, matmul }, shape, layout, part, b, b.w.parts.length > 1 ? `${label}#${i}` : label));
      const setTokens = (t: number): void => {
        if (!(Number.isInteger(t) && t >= 0 && t <= shape.tokens)) throw new RangeError(`${label}: ${t} tokens outside 0..${shape.tokens}`);
        for (const p of parts) {
          const tiled = t > 1 && p.matmulParams !== undefined;
          p.dispatch.pipeline = tiled ? matmul! : matvec;
          p.dispatch.bindGroup = tiled ? p.matmulGroup! : p.matvecGroup;
          p.matmulParams?.set({ tokens: t });
          p.dispatch.workgroups = gridFor(tiled ? Math.ceil(t / MATMUL_TILE) * p.rowTiles : t * p.blocks, maxGrid);
        }
      };
      setTokens(shape.tokens);
      return { dispatches: parts.map((p) => p.dispatch), setTokens };
    },
  };
}
