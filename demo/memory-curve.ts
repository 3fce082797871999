/**
 * Predicted GPU memory per category as a function of the context length (the KV cache and the
 * attention scratch grow with it; weights and DeltaNet state do not): the data of the
 * memory-vs-context plot. Points at powers of two up to the model's maximum, plus the chosen length.
 */
import { predictMemory, type Qwen35Config } from '../src/index.js';
import { MEMORY_CATEGORIES, type MemoryCategory } from '../src/gpu/allocator.js';
import type { BufferLimits } from './fit.js';
import type { ModelSettings } from './protocol.js';

export interface MemoryCurve {
  /** Context lengths, ascending. */
  contexts: number[];
  /** Predicted bytes per category at each context length. */
  byCategory: Record<MemoryCategory, number[]>;
  /** The context length the model is (or will be) loaded with. */
  chosen: number;
}

const SMALLEST = 256;

export function contextPoints(maxPosition: number, chosen: number): number[] {
  const points = new Set<number>([chosen, maxPosition]);
  for (let c = Math.min(SMALLEST, maxPosition); c < maxPosition; c *= 2) points.add(c);
  return [...points].sort((a, b) => a - b);
}

export function memoryCurve(
  config: Qwen35Config,
  settings: Pick<ModelSettings, 'weightFormat' | 'maxContext' | 'kvFormat'>,
  limits: BufferLimits,
): MemoryCurve {
  const contexts = contextPoints(config.maxPositionEmbeddings, settings.maxContext);
  const byCategory = Object.fromEntries(MEMORY_CATEGORIES.map((c) => [c, [] as number[]])) as Record<MemoryCategory, number[]>;
  for (const maxContext of contexts) {
    const p = predictMemory(config, { ...settings, maxContext }, limits as GPUSupportedLimits);
    for (const c of MEMORY_CATEGORIES) byCategory[c].push(p.byCategory[c]);
  }
  return { contexts, byCategory, chosen: settings.maxContext };
}
