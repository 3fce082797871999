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
import { kvCacheBytes, type KvFormat } from '../kernels/attention.js';
import { planGpuWeights, resolveWeightFormats, type WeightGroup } from '../runtime/gpu-weight-plan.js';
import { planSessionBuffers, resolveSessionOptions, type ResolvedSessionOptions, type SessionOptions } from '../runtime/session.js';
import type { Qwen35Config } from './config.js';

export interface MemoryPrediction {
  byCategory: MemoryByCategory;
  /** Weights split by tensor group (embedding, lmHead — 0 when tied —, attention, deltanet, mlp, experts, router, norms). */
  weights: Record<WeightGroup, number>;
  total: number;
  /** The settings the prediction is for (defaults filled in, as the session resolves them). */
  settings: ResolvedSessionOptions;
}

/** Binding limit assumed when no device is given (it only decides how big matrices are split). */
const DEFAULT_BINDING_BYTES = 2 ** 30;

/** Session options without the device (the predictor never touches a GPU). */
export type PredictOptions = Omit<SessionOptions, 'gpu'>;

export function predictMemory(config: Qwen35Config, options: PredictOptions = {}, limits?: GPUSupportedLimits): MemoryPrediction {
  const settings = resolveSessionOptions(config, { maxBindingBytes: DEFAULT_BINDING_BYTES, ...options }, limits);
  const plan = planGpuWeights(config, settings.formats, settings.maxBindingBytes);
  const byCategory = emptyByCategory();
  const weights: Record<WeightGroup, number> = { embedding: 0, lmHead: 0, attention: 0, deltanet: 0, mlp: 0, experts: 0, router: 0, norms: 0 };
  for (const item of [...plan.matrices, ...plan.vectors]) weights[item.group] += item.bytes;
  byCategory.weights = plan.bytes;
  const buffers = planSessionBuffers(config, settings);
  for (const spec of [...buffers.state, ...buffers.activations, ...buffers.scratch]) byCategory[spec.category] += spec.bytes;
  const total = Object.values(byCategory).reduce((a, b) => a + b, 0);
  return { byCategory, weights, total, settings };
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

/** The naive estimate: a KV cache of `context` tokens on every layer, as if all were attention layers. */
export function allLayerKvBytes(config: Qwen35Config, context: number, kvFormat: KvFormat = 'f16'): number {
  return 2 * config.numLayers * kvCacheBytes(kvFormat, context, config.numKeyValueHeads, config.headDim);
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
