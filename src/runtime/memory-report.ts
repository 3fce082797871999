/** Measured (allocator) vs predicted (config-only plan) GPU memory of a live session, per category. */
import { MEMORY_CATEGORIES, type MemoryByCategory, type MemoryCategory } from '../gpu/allocator.js';
import { predictMemory, splitLinearState, type LinearStateBytes, type MemoryPrediction } from '../model/memory.js';
import type { Session } from './session.js';

export interface MemoryRow {
  category: MemoryCategory;
  predicted: number;
  measured: number;
  /** (measured − predicted) / predicted, in percent (0 when both are 0). */
  errorPercent: number;
}

export interface MemoryComparison {
  rows: MemoryRow[];
  predicted: MemoryPrediction;
  measured: MemoryByCategory;
  measuredPeak: MemoryByCategory;
  /** Highest total the allocator has held at once (≤ the sum of the per-category peaks, which may be at different times). */
  measuredPeakTotal: number;
  /** The live linear-state buffers split into conv and recurrent state (sums to measured['linear-state']). */
  measuredLinearState: LinearStateBytes;
}

export const errorPercent = (predicted: number, measured: number): number =>
  predicted === 0 ? (measured === 0 ? 0 : Infinity) : ((measured - predicted) / predicted) * 100;

export function predictSessionMemory(session: Session): MemoryComparison {
  const o = session.options;
  const predicted = predictMemory(
    session.config,
    { weightFormat: o.formats, maxContext: o.maxContext, prefillChunk: o.prefillChunk, kvFormat: o.kvFormat, maxBindingBytes: o.maxBindingBytes },
    session.ctx.gpu.limits,
  );
  const report = session.memory();
  const rows = MEMORY_CATEGORIES.map((category) => ({
    category,
    predicted: predicted.byCategory[category],
    measured: report.live[category],
    errorPercent: errorPercent(predicted.byCategory[category], report.live[category]),
  }));
  const buffers = session.ctx.allocator.listBuffers().map((b) => ({ label: b.label, category: b.category, bytes: b.size }));
  return { rows, predicted, measured: report.live, measuredPeak: report.peak, measuredPeakTotal: report.peakTotal, measuredLinearState: splitLinearState(buffers) };
}
