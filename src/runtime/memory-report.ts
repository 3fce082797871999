/** Measured (allocator) vs predicted (config-only plan) GPU memory of a live session, per category. */
import { MEMORY_CATEGORIES, type MemoryByCategory, type MemoryCategory } from '../gpu/allocator.js';
import { predictMemory, type MemoryPrediction } from '../model/memory.js';
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
  return { rows, predicted, measured: report.live, measuredPeak: report.peak };
}
