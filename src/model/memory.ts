/**
 * GPU memory predicted from the config alone, before anything is loaded: the same plans the
 * session allocates from (gpu-weight-plan.ts, buffer-plan.ts), summed per category. Because
 * prediction and allocation share one source, the prediction is exact, not a rule of thumb.
 */
import { emptyByCategory, type MemoryByCategory } from '../gpu/allocator.js';
import { planGpuWeights, type WeightGroup } from '../runtime/gpu-weight-plan.js';
import { planSessionBuffers, resolveSessionOptions, type SessionOptions } from '../runtime/session.js';
import type { Qwen35Config } from './config.js';

export interface MemoryPrediction {
  byCategory: MemoryByCategory;
  /** Weights split by tensor group (embedding, lmHead — 0 when tied —, attention, deltanet, mlp, experts, router, norms). */
  weights: Record<WeightGroup, number>;
  total: number;
}

/** Binding limit assumed when no device is given (it only decides how big matrices are split). */
const DEFAULT_BINDING_BYTES = 2 ** 30;

export function predictMemory(config: Qwen35Config, options: SessionOptions = {}, limits?: GPUSupportedLimits): MemoryPrediction {
  const resolved = resolveSessionOptions(config, { maxBindingBytes: DEFAULT_BINDING_BYTES, ...options }, limits);
  const plan = planGpuWeights(config, resolved.formats, resolved.maxBindingBytes);
  const byCategory = emptyByCategory();
  const weights: Record<WeightGroup, number> = { embedding: 0, lmHead: 0, attention: 0, deltanet: 0, mlp: 0, experts: 0, router: 0, norms: 0 };
  for (const item of [...plan.matrices, ...plan.vectors]) weights[item.group] += item.bytes;
  byCategory.weights = plan.bytes;
  const buffers = planSessionBuffers(config, resolved);
  for (const spec of [...buffers.state, ...buffers.activations, ...buffers.scratch]) byCategory[spec.category] += spec.bytes;
  const total = Object.values(byCategory).reduce((a, b) => a + b, 0);
  return { byCategory, weights, total };
}
