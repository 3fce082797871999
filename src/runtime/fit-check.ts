/**
 * The check a session makes before it allocates anything: every planned buffer (weight parts and
 * vectors, KV cache, DeltaNet state, activations, scratch) must fit the device's per-buffer
 * limits. A plan that does not fit is an OutOfGpuMemoryError naming the buffer, its size, the
 * limit and what the whole session would need — the same plans `predictMemory` sums — thrown
 * while nothing is allocated, so a failed load never uploads weights it cannot use.
 */
import { OutOfGpuMemoryError } from '../errors.js';
import { formatBytes, MEMORY_CATEGORIES, emptyByCategory, type MemoryCategory } from '../gpu/allocator.js';
import { dataBytes, scaleBytes } from '../io/formats.js';
import type { Qwen35Config } from '../model/config.js';
import type { BufferSpec } from './buffer-plan.js';
import { planGpuWeights, type WeightFormats, type WeightPlan } from './gpu-weight-plan.js';

/** What to change when a buffer of this category is too big. */
const ADVICE: Record<MemoryCategory, string> = {
  weights: 'use a smaller weight format (q8 or q4)',
  'kv-cache': 'load with a smaller maxContext (or kvFormat "f16")',
  'linear-state': 'this model is too large for the device',
  activations: 'load with a smaller prefillChunk or maxContext',
  staging: 'load with a smaller maxContext',
  other: 'this model is too large for the device',
};

/** Every weight buffer of a plan, as the loaders allocate them (data and scales of each part, vectors). */
function weightBuffers(plan: WeightPlan): BufferSpec[] {
  const out: BufferSpec[] = [];
  for (const m of plan.matrices) {
    for (const p of m.parts) {
      out.push({ key: `${m.key}[${p.rowStart}..]`, category: 'weights', bytes: dataBytes(m.format, p.rows, m.cols) });
      const scales = scaleBytes(m.format, p.rows, m.cols);
      if (scales > 0) out.push({ key: `${m.key}[${p.rowStart}..].scales`, category: 'weights', bytes: scales });
    }
  }
  for (const v of plan.vectors) out.push({ key: v.key, category: 'weights', bytes: v.bytes });
  return out;
}

/**
 * The buffer a driver's out-of-memory message names (Dawn: `CreateBuffer([BufferDescriptor "label"])`)
 * with its category and size from `buffers`, as ` buffer "label" (kv-cache, 1.00 GiB) did not fit;`;
 * '' when the message names none.
 */
export function failedBufferNote(message: string, buffers: readonly { label: string; category: MemoryCategory; size: number }[]): string {
  const label = /BufferDescriptor "+([^"]+)"+/.exec(message)?.[1];
  if (label === undefined) return '';
  const b = buffers.find((x) => x.label === label);
  return ` buffer "${label}"${b ? ` (${b.category}, ${formatBytes(b.size)})` : ''} did not fit;`;
}

/** "1.20 GiB (weights 1.00 GiB, kv-cache 200.0 MiB, ...)": a session's need, non-zero categories only. */
export function describeNeed(weightBytes: number, buffers: readonly BufferSpec[]): string {
  const by = emptyByCategory();
  by.weights = weightBytes;
  for (const b of buffers) by[b.category] += b.bytes;
  const total = MEMORY_CATEGORIES.reduce((a, c) => a + by[c], 0);
  const parts = MEMORY_CATEGORIES.filter((c) => by[c] > 0).map((c) => `${c} ${formatBytes(by[c])}`);
  return `${formatBytes(total)} (${parts.join(', ')})`;
}

/**
 * The weight plan for this device; a matrix whose smallest splittable block exceeds the binding
 * limit becomes an OutOfGpuMemoryError that also says what the whole session would need.
 */
export function planWeightsForDevice(config: Qwen35Config, formats: WeightFormats, maxBindingBytes: number, buffers: readonly BufferSpec[]): WeightPlan {
  try {
    return planGpuWeights(config, formats, maxBindingBytes);
  } catch (e) {
    if (!(e instanceof OutOfGpuMemoryError)) throw e;
    const unsplit = planGpuWeights(config, formats, Number.MAX_SAFE_INTEGER);
    throw new OutOfGpuMemoryError(`${e.message}; the session would need ${describeNeed(unsplit.bytes, buffers)} in all`, { cause: e });
  }
}

/** Throws OutOfGpuMemoryError if any planned buffer is larger than one buffer/binding of the device may be. */
export function checkPlanFits(weights: WeightPlan, buffers: readonly BufferSpec[], limits: GPUSupportedLimits): void {
  const limit = Math.min(limits.maxBufferSize, limits.maxStorageBufferBindingSize);
  const tooBig = [...weightBuffers(weights), ...buffers].find((b) => b.bytes > limit);
  if (!tooBig) return;
  throw new OutOfGpuMemoryError(
    `${tooBig.key} (${tooBig.category}) needs ${formatBytes(tooBig.bytes)} in one buffer, but this device allows at most ` +
      `${formatBytes(limit)} (maxBufferSize ${formatBytes(limits.maxBufferSize)}, maxStorageBufferBindingSize ` +
      `${formatBytes(limits.maxStorageBufferBindingSize)}); the session would need ${describeNeed(weights.bytes, buffers)} ` +
      `in all. Nothing was allocated: ${ADVICE[tooBig.category]}`,
  );
}
