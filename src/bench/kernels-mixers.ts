/**
 * Micro-benchmarks of the mixer kernels (not tests):
 *   benchGdnPrefill       chunked vs token-sequential GDN prefill (recurrent kernel over T tokens)
 *                         at the 0.8B shape (Hk = Hv = 16, dk = dv = 128), T = 512 by default,
 *                         and each chunked stage timed on its own (where the time goes); with
 *                         `sweep`, the same for each chunked tuning of GDN_CHUNKED_SWEEP;
 *   benchAttentionDecode  one decode step of gated attention (one pass, or split + combine) vs context length.
 * Timing: gpu-timer.ts, one timed pass of `reps` repetitions. SwiftShader numbers are CPU numbers:
 * quote them as ratios only.
 */
import { describeGpu } from '../gpu/device.js';
import { createStorage, uploadStorage, type Dispatch, type KernelContext } from '../gpu/kernel.js';
import { createAttention, createAttentionPrep, decodeSplits, kvCacheBytes, type KvFormat } from '../kernels/attention.js';
import { createGdnChunked, createGdnRecurrent, projectionWithGates, type GdnChunkedShape, type GdnChunkedTuning, type GdnDimsShape, type GdnStepBuffers } from '../kernels/gdn.js';
import { l2Normalize, type GdnDims } from '../model/ops.js';
import { Random } from '../model/random.js';
import { medianMs } from './gpu-timer.js';

/** GPU milliseconds of one run of `dispatches`, over `reps` runs in one compute pass (after one warm-up pass). */
const timeDispatches = (ctx: KernelContext, dispatches: readonly Dispatch[], reps: number): Promise<number> => medianMs(ctx, dispatches, { iterations: reps, trials: 1 });

type StageTimes = Array<{ stage: string; ms: number }>;

/** One chunked tuning of the sweep, on the same inputs as the default. */
export interface GdnChunkedPoint {
  tuning: GdnChunkedTuning;
  chunkedMs: number;
  stages: StageTimes;
  /** sequentialMs / chunkedMs. */
  ratio: number;
}

export interface GdnPrefillBench {
  tokens: number;
  dims: GdnDims;
  sequentialMs: number;
  chunkedMs: number;
  /** Each chunked stage (intra, scan, output) repeated on its own: its share of chunkedMs. */
  chunkedStages?: StageTimes;
  /** sequentialMs / chunkedMs. */
  ratio: number;
  /** The default tuning (absent in records from before the sweep: chunk 64, 8 scan columns, 128 scan threads, batch 8). */
  tuning?: GdnChunkedTuning;
  /** With `sweep`: each tuning of GDN_CHUNKED_SWEEP, the default first. */
  sweep?: GdnChunkedPoint[];
  adapter: string;
}

/**
 * The chunked tuning sweep, one change from the default at a time: chunk size (more, smaller
 * intra/output workgroups against more sequential scan steps), then the scan's state columns per
 * workgroup (parallelism against re-reading W and K), threads per workgroup and loads in flight per
 * thread (latency hiding: at the 0.8B shape a scan workgroup has the registers to spare).
 */
const GDN_CHUNKED_SWEEP: Array<Partial<GdnChunkedTuning>> = [{}, { chunk: 32 }, { chunk: 16 }, { scanColumns: 4 }, { scanColumns: 16 }, { scanThreads: 64 }, { scanThreads: 256 }, { scanBatch: 32 }];

export const QWEN35_08B_GDN: GdnDims = { keyHeads: 16, valueHeads: 16, keyDim: 128, valueDim: 128 };

/** Chunked vs token-sequential GDN prefill of `tokens` tokens on the same inputs and state. */
export async function benchGdnPrefill(
  ctx: KernelContext,
  opts: { tokens?: number; dims?: GdnDims; reps?: number; sweep?: boolean } = {},
): Promise<GdnPrefillBench> {
  const tokens = opts.tokens ?? 512;
  const dims = opts.dims ?? QWEN35_08B_GDN;
  const reps = opts.reps ?? 5;
  const { keyHeads: hk, valueHeads: hv, keyDim: dk, valueDim: dv } = dims;
  const shape: GdnDimsShape = { ...dims, maxTokens: tokens };
  const recurrent = await createGdnRecurrent(ctx, shape);
  const rnd = new Random(tokens);
  const bufs: Record<string, GPUBuffer> = {};
  try {
    Object.assign(bufs, {
      q: uploadStorage(ctx, l2Normalize(rnd.normals(tokens * hk * dk), dk, 1 / Math.sqrt(dk)), 'bench q'),
      k: uploadStorage(ctx, l2Normalize(rnd.normals(tokens * hk * dk), dk), 'bench k'),
      v: uploadStorage(ctx, rnd.normals(tokens * hv * dv), 'bench v'),
      proj: uploadStorage(ctx, projectionWithGates(dims, rnd.normals(tokens * hv), rnd.normals(tokens * hv), 0), 'bench proj'),
      aLog: uploadStorage(ctx, rnd.normals(hv, 0.5), 'bench aLog'),
      dtBias: uploadStorage(ctx, rnd.normals(hv, 0.5), 'bench dtBias'),
      state: createStorage(ctx, hv * dk * dv * 4, 'bench state', 'linear-state'),
      out: createStorage(ctx, tokens * hv * dv * 4, 'bench out'),
    });
    const b = bufs as Record<keyof GdnStepBuffers, GPUBuffer>;
    const seq = recurrent.bind(b);
    seq.setTokens(tokens);
    const sequentialMs = await timeDispatches(ctx, seq.dispatches, reps);
    const points: GdnChunkedPoint[] = [];
    for (const variant of opts.sweep ? GDN_CHUNKED_SWEEP : [{}]) {
      points.push(await timeChunked(ctx, { ...shape, ...variant }, b, reps, sequentialMs));
    }
    const [first] = points;
    return {
      tokens, dims, sequentialMs, chunkedMs: first!.chunkedMs, chunkedStages: first!.stages, ratio: first!.ratio, tuning: first!.tuning,
      ...(opts.sweep ? { sweep: points } : {}),
      adapter: describeGpu(ctx.gpu),
    };
  } finally {
    Object.values(bufs).forEach((b) => ctx.allocator.destroy(b));
  }
}

/** The chunked kernel of `shape` over all its tokens, then each of its stages on its own. */
async function timeChunked(ctx: KernelContext, shape: GdnChunkedShape, b: GdnStepBuffers, reps: number, sequentialMs: number): Promise<GdnChunkedPoint> {
  const chunked = await createGdnChunked(ctx, shape);
  try {
    const bound = chunked.bind(b);
    bound.setTokens(shape.maxTokens);
    const chunkedMs = await timeDispatches(ctx, bound.dispatches, reps);
    const stages: StageTimes = [];
    for (const d of bound.dispatches) stages.push({ stage: d.label.replace(/^gdn chunked /, ''), ms: await timeDispatches(ctx, [d], reps) });
    return { tuning: chunked.tuning, chunkedMs, stages, ratio: sequentialMs / chunkedMs };
  } finally {
    chunked.destroy();
  }
}

export interface AttentionDecodeBench {
  heads: number;
  kvHeads: number;
  headDim: number;
  kvFormat: KvFormat;
  points: Array<{ context: number; splits: number; ms: number }>;
  /** The step includes its prep (decodePrep), as the model's decode runs it; absent in older records. */
  withPrep?: boolean;
  adapter: string;
}

/**
 * One decode step as the model runs it (one pass, or split + combine dispatches, with the q/k norm,
 * RoPE and the new K/V row done inside: decodePrep) over caches filled with random rows, per context length.
 */
export async function benchAttentionDecode(
  ctx: KernelContext,
  opts: { contexts?: number[]; heads?: number; kvHeads?: number; headDim?: number; kvFormat?: KvFormat; reps?: number } = {},
): Promise<AttentionDecodeBench> {
  const { heads = 8, kvHeads = 2, headDim = 256, kvFormat = 'f16', reps = 20 } = opts;
  const contexts = opts.contexts ?? [128, 512, 2048, 8192, 32768];
  const maxContext = Math.max(...contexts);
  const shape = { heads, kvHeads, headDim, maxTokens: 1, maxContext, kvFormat };
  const rope = { rotaryDim: headDim / 4, eps: 1e-6 }; // Qwen3.5: partial_rotary_factor 0.25
  const [attn, prep] = await Promise.all([
    createAttention(ctx, { ...shape, decodePrep: rope }),
    createAttentionPrep(ctx, { ...shape, ...rope, ropeTheta: 1e7 }),
  ]);
  const rnd = new Random(maxContext);
  const cacheBytes = kvCacheBytes(kvFormat, maxContext, kvHeads, headDim);
  // Random cache contents in ±[0.25, 1): f32 values, or f16 bit patterns (exponent 13..14) two per word.
  const randomHalf = (): number => (rnd.int(2) << 15) | ((13 + rnd.int(2)) << 10) | rnd.int(1024);
  const cacheWords =
    kvFormat === 'f16'
      ? Uint32Array.from({ length: cacheBytes / 4 }, () => (randomHalf() | (randomHalf() << 16)) >>> 0)
      : Float32Array.from({ length: cacheBytes / 4 }, () => (0.25 + 0.75 * rnd.next()) * (rnd.int(2) ? 1 : -1));
  const bufs: Record<string, GPUBuffer> = {};
  try {
    Object.assign(bufs, {
      q: uploadStorage(ctx, rnd.normals(heads * headDim), 'bench q'),
      kCache: uploadStorage(ctx, cacheWords, 'bench k cache', 'kv-cache'),
      vCache: uploadStorage(ctx, cacheWords, 'bench v cache', 'kv-cache'),
      proj: uploadStorage(ctx, rnd.normals(2 * (heads + kvHeads) * headDim), 'bench proj'),
      out: createStorage(ctx, heads * headDim * 4, 'bench out'),
      qNorm: uploadStorage(ctx, rnd.normals(headDim, 0.1), 'bench q norm'),
      kNorm: uploadStorage(ctx, rnd.normals(headDim, 0.1), 'bench k norm'),
    });
    const b = bufs as Record<'q' | 'kCache' | 'vCache' | 'proj' | 'out' | 'qNorm' | 'kNorm', GPUBuffer>;
    const bound = attn.bind({ ...b, prep: { qNorm: b.qNorm, kNorm: b.kNorm, invFreq: prep.invFreq } });
    const points: AttentionDecodeBench['points'] = [];
    for (const context of contexts) {
      bound.setPosition(context - 1, 1);
      points.push({ context, splits: decodeSplits(context, maxContext).splits, ms: await timeDispatches(ctx, bound.dispatches, reps) });
    }
    return { heads, kvHeads, headDim, kvFormat, points, withPrep: true, adapter: describeGpu(ctx.gpu) };
  } finally {
    attn.destroy();
    prep.destroy();
    Object.values(bufs).forEach((b) => ctx.allocator.destroy(b));
  }
}
