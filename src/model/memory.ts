/**
 * GPU memory predicted from the config alone, before anything is loaded: the same plans the
 * session allocates from (gpu-weight-plan.ts, buffer-plan.ts), summed per category. Because
 * prediction and allocation share one source, the prediction is exact, not a rule of thumb.
 *
 * Only full-attention layers hold a KV cache (1 in 4, §1); GDN layers hold a fixed conv +
 * recurrent state (§4.4) whatever the context. `allLayerKvBytes` is the naive "KV on every
 * layer" figure many calculators print, kept for comparison.
 */
import { InvalidArgumentError } from '../errors.js';
import { emptyByCategory, type MemoryByCategory } from '../gpu/allocator.js';
import { bitsPerWeight, isQuantized, QUANT_GROUP, type WeightFormat } from '../io/formats.js';
import { kvCacheBytes, type KvFormat } from '../kernels/attention.js';
import { planGpuWeights, resolveWeightFormats, WEIGHT_CLASSES, type WeightClass, type WeightGroup } from '../runtime/gpu-weight-plan.js';
import { planSessionBuffers, resolveSessionOptions, type ResolvedSessionOptions, type SessionOptions } from '../runtime/session.js';
import type { Qwen35Config } from './config.js';

/** A weight format as stored on the GPU (io/formats.ts): q8/q4 hold one f16 scale per group of 32 weights of a row. */
export interface WeightFormatInfo {
  format: WeightFormat;
  /** Weights per scale (null: unquantized). */
  groupSize: number | null;
  scaleDtype: 'f16' | null;
  /** Bits per weight including the scales. */
  bitsPerWeight: number;
}

export const describeWeightFormat = (format: WeightFormat): WeightFormatInfo => ({
  format,
  groupSize: isQuantized(format) ? QUANT_GROUP : null,
  scaleDtype: isQuantized(format) ? 'f16' : null,
  bitsPerWeight: bitsPerWeight(format),
});

/** The two parts of the DeltaNet state (category linear-state), both fixed whatever the context (§4.4). */
export interface LinearStateBytes {
  /** Causal conv1d history: (kernel − 1) × conv channels, f32, per GDN layer. */
  conv: number;
  /** Recurrent state S: value heads × key dim × value dim, f32, per GDN layer. */
  recurrent: number;
}

/**
 * Which part of the DeltaNet state a buffer is, by its plan key or allocator label
 * (`layers.N.convState`, `snapshot layers.N.recurrentState`, see buffer-plan.ts / state.ts).
 */
export function linearStatePart(label: string): keyof LinearStateBytes | undefined {
  return label.endsWith('.convState') ? 'conv' : label.endsWith('.recurrentState') ? 'recurrent' : undefined;
}

/** Sums the linear-state buffers of a list (plan specs or the allocator's live buffers) by part. */
export function splitLinearState(buffers: Iterable<{ label: string; category: string; bytes: number }>): LinearStateBytes {
  const out: LinearStateBytes = { conv: 0, recurrent: 0 };
  for (const b of buffers) {
    if (b.category !== 'linear-state') continue;
    const part = linearStatePart(b.label);
    if (!part) throw new InvalidArgumentError(`linear-state buffer "${b.label}" is neither a conv nor a recurrent state`);
    out[part] += b.bytes;
  }
  return out;
}

export interface MemoryPrediction {
  byCategory: MemoryByCategory;
  /** Weights split by tensor group (embedding, lmHead — 0 when tied —, attention, deltanet, mlp, experts, router, norms). */
  weights: Record<WeightGroup, number>;
  /** The format of each weight class with its group size and scale dtype. */
  formats: Record<WeightClass, WeightFormatInfo>;
  /** byCategory['linear-state'] split into conv and recurrent state. */
  linearState: LinearStateBytes;
  total: number;
  /** The settings the prediction is for (defaults filled in, as the session resolves them). */
  settings: ResolvedSessionOptions & { batch: number };
}

/** Binding limit assumed when no device is given (it only decides how big matrices are split). */
const DEFAULT_BINDING_BYTES = 2 ** 30;

/** Session options without the device (the predictor never touches a GPU), plus the batch size. */
export type PredictOptions = Omit<SessionOptions, 'gpu'> & {
  /**
   * Sequences held side by side (default 1). Each has its own KV cache, DeltaNet state,
   * activations, kernel scratch and read-back slots, so those categories scale by `batch`;
   * weights and the constant tables (category other: uniforms, RoPE frequencies) are shared.
   * The session runs one sequence: a batch > 1 is a prediction only, nothing can measure it.
   */
  batch?: number;
};

export function predictMemory(config: Qwen35Config, options: PredictOptions = {}, limits?: GPUSupportedLimits): MemoryPrediction {
  const { batch = 1, ...sessionOptions } = options;
  if (!(Number.isSafeInteger(batch) && batch >= 1)) throw new InvalidArgumentError(`batch must be an integer ≥ 1, got ${batch}`);
  const resolved = resolveSessionOptions(config, { maxBindingBytes: DEFAULT_BINDING_BYTES, ...sessionOptions }, limits);
  const plan = planGpuWeights(config, resolved.formats, resolved.maxBindingBytes);
  const byCategory = emptyByCategory();
  const weights: Record<WeightGroup, number> = { embedding: 0, lmHead: 0, attention: 0, deltanet: 0, mlp: 0, experts: 0, router: 0, norms: 0 };
  for (const item of [...plan.matrices, ...plan.vectors]) weights[item.group] += item.bytes;
  byCategory.weights = plan.bytes;
  const buffers = planSessionBuffers(config, resolved);
  const specs = [...buffers.state, ...buffers.activations, ...buffers.scratch].map((s) => ({
    label: s.key,
    category: s.category,
    bytes: s.category === 'other' ? s.bytes : s.bytes * batch,
  }));
  for (const spec of specs) byCategory[spec.category] += spec.bytes;
  const total = Object.values(byCategory).reduce((a, b) => a + b, 0);
  const formats = Object.fromEntries(WEIGHT_CLASSES.map((c) => [c, describeWeightFormat(resolved.formats[c])])) as Record<WeightClass, WeightFormatInfo>;
  return { byCategory, weights, formats, linearState: splitLinearState(specs), total, settings: { ...resolved, batch } };
}

/** Weights the decoder holds (each tensor once; a tied LM head is the embedding). */
export function parameterCount(config: Qwen35Config): number {
  const plan = planGpuWeights(config, resolveWeightFormats('f32'), Number.MAX_SAFE_INTEGER);
  return plan.matrices.reduce((a, m) => a + m.rows * m.cols, 0) + plan.vectors.reduce((a, v) => a + v.length, 0);
}

/** Layers that hold a KV cache (full attention, §1). */
export const kvLayerCount = (config: Qwen35Config): number => config.layerTypes.filter((t) => t === 'full_attention').length;

/** KV-cache bytes one token adds: K and V of every full-attention layer. */
export function kvBytesPerToken(config: Qwen35Config, kvFormat: KvFormat = 'f16'): number {
  return 2 * kvLayerCount(config) * kvCacheBytes(kvFormat, 1, config.numKeyValueHeads, config.headDim);
}

/** The naive estimate: a KV cache of `context` tokens on every layer, as if all were attention layers (× `batch` sequences). */
export function allLayerKvBytes(config: Qwen35Config, context: number, kvFormat: KvFormat = 'f16', batch = 1): number {
  return 2 * config.numLayers * kvCacheBytes(kvFormat, context, config.numKeyValueHeads, config.headDim) * batch;
}

/**
 * "Will it fit": the longest context whose predicted total is within `budgetBytes`, or 0 when
 * not even one token fits. The total grows with the context (KV, token history, attention
 * scratch), so a bisection over [1, maxPositionEmbeddings] finds it exactly.
 */
export function largestContextWithin(
  config: Qwen35Config,
  budgetBytes: number,
  options: Omit<PredictOptions, 'maxContext'> = {},
  limits?: GPUSupportedLimits,
): number {
  if (!(Number.isFinite(budgetBytes) && budgetBytes > 0)) throw new InvalidArgumentError(`memory budget must be a positive number of bytes, got ${budgetBytes}`);
  const fits = (context: number): boolean => predictMemory(config, { ...options, maxContext: context }, limits).total <= budgetBytes;
  let lo = 0;
  let hi = config.maxPositionEmbeddings;
  if (fits(hi)) return hi;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (fits(mid)) lo = mid;
    else hi = mid;
  }
  return lo;
}
