/**
 * Micro-benchmarks of the linear-algebra kernels (not tests), called by the benchmark CLI:
 *   benchBandwidth  a plain streaming read over a large buffer → the adapter's attainable GB/s;
 *   benchMatvec     the decode matvec per weight format at Qwen3.5-0.8B shapes, in GB/s of
 *                   weights + scales + x + y moved, to compare with the probe; the q4 LM head
 *                   also with 4 / 16 / 32 weight rows per workgroup besides the default 8;
 *   benchMatmul     the prefill matmul over one chunk of 128 and of 512 tokens at the same shapes, in GFLOP/s;
 *   benchSampler    one sampled token over a full 248,320 vocabulary, per option mix.
 * Timing: gpu-timer.ts (GPU timestamps around one pass when the device has them), the median of
 * `trials`. SwiftShader results are CPU numbers: never quote them as GPU speed.
 */
import { describeGpu } from '../gpu/device.js';
import { bindBuffers, createStorage, gridFor, uploadStorage, type Dispatch, type KernelContext } from '../gpu/kernel.js';
import { dataBytes, scaleBytes, WEIGHT_FORMATS, type WeightFormat } from '../io/formats.js';
import { packRows } from '../io/quantize.js';
import { createLinear } from '../kernels/linear.js';
import { destroyMatrix, partByteLimit, planMatrixParts, uploadPackedPart, type GpuMatrix } from '../kernels/matrix.js';
import { createSampler } from '../kernels/sampler.js';
import { Random } from '../model/random.js';
import type { SamplerOptions } from '../model/sampling.js';
import { medianMs, type TimingOptions } from './gpu-timer.js';

export interface BandwidthResult {
  bytes: number;
  ms: number;
  gbps: number;
  adapter: string;
}

/** Streams `bytes` (default 256 MiB) once per iteration with 16-byte loads (bench_read.wgsl). */
export async function benchBandwidth(ctx: KernelContext, opts: TimingOptions & { bytes?: number } = {}): Promise<BandwidthResult> {
  const bytes = Math.floor(Math.min(opts.bytes ?? 256 * 2 ** 20, partByteLimit(ctx)) / 16) * 16;
  const groups = Math.ceil(bytes / 16 / (256 * 16)); // 256 threads × 16 words per workgroup
  const pipeline = await ctx.pipelines.get({ shader: 'bench_read' });
  const data = createStorage(ctx, bytes, 'bench data', 'other');
  const sink = createStorage(ctx, groups * 4, 'bench sink', 'other');
  const params = ctx.uniforms.alloc([['words', 'u32']] as const, { words: bytes / 16 });
  try {
    const dispatch: Dispatch = {
      label: 'bandwidth probe',
      pipeline,
      bindGroup: bindBuffers(ctx, pipeline, 'bandwidth probe', [params.binding, data, sink]),
      workgroups: gridFor(groups, ctx.gpu.limits.maxComputeWorkgroupsPerDimension),
    };
    const ms = await medianMs(ctx, [dispatch], opts);
    return { bytes, ms, gbps: bytes / ms / 1e6, adapter: describeGpu(ctx.gpu) };
  } finally {
    ctx.allocator.destroy(data);
    ctx.allocator.destroy(sink);
  }
}

export interface MatrixShape {
  name: string;
  rows: number;
  cols: number;
  /** In q4, also time 4, 16 and 32 weight rows per row group and 1–8 row groups per workgroup (the tuning sweep), not only the default. */
  sweepRows?: boolean;
}

/** The decode matvecs that dominate Qwen3.5-0.8B (hidden 1024, intermediate 3584, vocabulary 248,320). */
export const QWEN35_08B_MATVECS: MatrixShape[] = [
  { name: 'gate/up 1024→3584', rows: 3584, cols: 1024 },
  { name: 'down 3584→1024', rows: 1024, cols: 3584 },
  { name: 'lm head 1024→248320', rows: 248320, cols: 1024, sweepRows: true },
];

/** A matrix of realistic codes without packing every row: one packed 64-row block, tiled. */
function uploadSynthetic(ctx: KernelContext, format: WeightFormat, rows: number, cols: number): GpuMatrix {
  const blockRows = 64;
  const block = packRows(new Random(rows + cols).normals(blockRows * cols, 0.05), cols, format, 0, blockRows);
  const tile = (src: Uint8Array, bytes: number): Uint8Array => {
    const out = new Uint8Array(bytes);
    for (let o = 0; o < bytes; o += src.byteLength) out.set(src.subarray(0, Math.min(src.byteLength, bytes - o)), o);
    return out;
  };
  const m: GpuMatrix = { label: `bench ${format} [${rows}, ${cols}]`, format, rows, cols, parts: [] };
  try {
    for (const part of planMatrixParts(format, rows, cols, partByteLimit(ctx))) {
      const packed = { data: tile(block.data, dataBytes(format, part.rows, cols)), ...(block.scales ? { scales: tile(block.scales, scaleBytes(format, part.rows, cols)) } : {}) };
      m.parts.push(uploadPackedPart(ctx, m.label, format, cols, part, packed));
    }
  } catch (e) {
    destroyMatrix(ctx, m);
    throw e;
  }
  return m;
}

/** The q4 tuning sweep: rows per group at the default groups, then groups at the default rows, then int8 x (matvecInt8X) at 8 and 16 rows. */
const MATVEC_SWEEP: { rows?: number; groups?: number; int8X?: boolean }[] = [
  { rows: 4 }, {}, { rows: 16 }, { rows: 32 }, { groups: 1 }, { groups: 2 }, { groups: 8 }, { int8X: true }, { rows: 16, int8X: true },
];

export interface MatvecPoint {
  shape: string;
  format: WeightFormat;
  rows: number;
  cols: number;
  /** Weight rows per matvec row group (LinearShape.matvecRows); absent in records from before the sweep (8). */
  rowsPerWorkgroup?: number;
  /** Matvec row groups per workgroup (LinearShape.matvecGroups); absent in records from before row groups (1). */
  groupsPerWorkgroup?: number;
  /** x quantized to int8 in the kernel (LinearShape.matvecInt8X); absent in records from before it was swept. */
  int8X?: boolean;
  /** Weights + scales + x + y bytes per call. */
  bytes: number;
  ms: number;
  gbps: number;
}

export interface MatvecBench {
  points: MatvecPoint[];
  adapter: string;
}

/** A synthetic [rows, cols] matrix in `format`, x [tokens, cols] and y [tokens, rows] for `run`; all freed after. */
async function withOperands<T>(ctx: KernelContext, format: WeightFormat, rows: number, cols: number, tokens: number, run: (b: { w: GpuMatrix; x: GPUBuffer; y: GPUBuffer }) => Promise<T>): Promise<T> {
  const w = uploadSynthetic(ctx, format, rows, cols);
  const buffers: GPUBuffer[] = [];
  try {
    const x = uploadStorage(ctx, new Random(cols).normals(tokens * cols), 'bench x');
    buffers.push(x);
    const y = createStorage(ctx, tokens * rows * 4, 'bench y');
    buffers.push(y);
    return await run({ w, x, y });
  } finally {
    destroyMatrix(ctx, w);
    buffers.forEach((buf) => ctx.allocator.destroy(buf));
  }
}

export async function benchMatvec(ctx: KernelContext, opts: TimingOptions & { formats?: WeightFormat[]; shapes?: MatrixShape[] } = {}): Promise<MatvecBench> {
  const points: MatvecPoint[] = [];
  for (const shape of opts.shapes ?? QWEN35_08B_MATVECS) {
    for (const format of opts.formats ?? WEIGHT_FORMATS) {
      const { rows, cols } = shape;
      const bytes = dataBytes(format, rows, cols) + scaleBytes(format, rows, cols) + 4 * (rows + cols);
      await withOperands(ctx, format, rows, cols, 1, async (b) => {
        for (const variant of shape.sweepRows && format === 'q4' ? MATVEC_SWEEP : [{}]) {
          const int8X = variant.int8X ?? false;
          const kernel = await createLinear(ctx, { format, rows, cols, tokens: 1, epilogue: 'store', matvecRows: variant.rows, matvecGroups: variant.groups, matvecInt8X: int8X });
          const ms = await medianMs(ctx, kernel.bind(b, shape.name).dispatches, opts);
          const { rows: rowsPerWorkgroup, groups: groupsPerWorkgroup } = kernel.matvecLayout;
          points.push({ shape: shape.name, format, rows, cols, rowsPerWorkgroup, groupsPerWorkgroup, int8X, bytes, ms, gbps: bytes / ms / 1e6 });
        }
      });
    }
  }
  return { points, adapter: describeGpu(ctx.gpu) };
}

export interface MatmulPoint {
  shape: string;
  format: WeightFormat;
  rows: number;
  cols: number;
  tokens: number;
  /** The prefetching staging (LinearShape.matmulPrefetch); absent in records from before it was swept. */
  prefetch?: boolean;
  ms: number;
  /** 2 · rows · cols · tokens multiply-adds counted as two operations, per second. */
  gflops: number;
}

/**
 * Token counts of the matmul bench: prefill chunks of 128 and 512 tokens. A 64 × 64 output tile
 * per 256-thread workgroup gives T · rows / 16 threads, so at 128 tokens the 0.8B down projection
 * (1,024 rows) is 256 warps: about 2 per SM of a 132-SM GPU, too few to hide latency.
 */
export const MATMUL_BENCH_TOKENS = [128, 512];

/**
 * The prefill matmul at Qwen3.5-0.8B shapes, store epilogue, over one chunk of each of `tokens`
 * (default MATMUL_BENCH_TOKENS), with the direct and the prefetching staging (LinearShape.matmulPrefetch).
 */
export async function benchMatmul(ctx: KernelContext, opts: TimingOptions & { formats?: WeightFormat[]; shapes?: MatrixShape[]; tokens?: number[] } = {}): Promise<{ points: MatmulPoint[]; adapter: string }> {
  const points: MatmulPoint[] = [];
  for (const shape of opts.shapes ?? QWEN35_08B_MATVECS.filter((m) => !m.sweepRows)) {
    for (const format of opts.formats ?? ['q4' as const]) {
      for (const tokens of opts.tokens ?? MATMUL_BENCH_TOKENS) {
        for (const prefetch of [false, true]) points.push(await benchMatmulPoint(ctx, shape, format, tokens, prefetch, opts));
      }
    }
  }
  return { points, adapter: describeGpu(ctx.gpu) };
}

async function benchMatmulPoint(ctx: KernelContext, shape: MatrixShape, format: WeightFormat, tokens: number, prefetch: boolean, opts: TimingOptions): Promise<MatmulPoint> {
  const { rows, cols } = shape;
  return withOperands(ctx, format, rows, cols, tokens, async (b) => {
    const linear = (await createLinear(ctx, { format, rows, cols, tokens, epilogue: 'store', matmulPrefetch: prefetch })).bind(b, shape.name);
    const ms = await medianMs(ctx, linear.dispatches, opts);
    return { shape: shape.name, format, rows, cols, tokens, prefetch, ms, gflops: (2 * rows * cols * tokens) / ms / 1e6 };
  });
}

export interface SamplerPoint {
  options: SamplerOptions;
  ms: number;
}

/** One sampled token (with 64 history entries) per option mix, over `vocab` (default 248,320) peaked logits. */
export async function benchSampler(ctx: KernelContext, opts: TimingOptions & { vocab?: number; mixes?: SamplerOptions[] } = {}): Promise<{ vocab: number; points: SamplerPoint[]; adapter: string }> {
  const vocab = opts.vocab ?? 248320;
  const mixes = opts.mixes ?? [
    { temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1, seed: 0 },
    { temperature: 0.7, topK: 20, topP: 0.8, repetitionPenalty: 1, seed: 1 },
    { temperature: 1, topK: 0, topP: 0.95, repetitionPenalty: 1.1, seed: 2 },
  ];
  const history = 64;
  const bufs = {
    logits: uploadStorage(ctx, new Random(vocab).normals(vocab, 3), 'bench logits'),
    history: uploadStorage(ctx, Uint32Array.from({ length: history + 1 }, (_, i) => (i * 7919) % vocab), 'bench history'),
    token: createStorage(ctx, 4, 'bench token'),
  };
  const sampler = (await createSampler(ctx, { vocab, maxHistory: history + 1 })).bind(bufs);
  try {
    const points: SamplerPoint[] = [];
    for (const options of mixes) {
      sampler.setOptions(options);
      sampler.setStep(1, history);
      points.push({ options, ms: await medianMs(ctx, sampler.dispatches, opts) });
    }
    return { vocab, points, adapter: describeGpu(ctx.gpu) };
  } finally {
    sampler.destroy();
    Object.values(bufs).forEach((b) => ctx.allocator.destroy(b));
  }
}
