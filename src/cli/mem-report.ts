/**
 * The report of `qwen35 mem` for one model and setting: predicted (and, for a loaded model,
 * measured) GPU bytes per category with the error, the weights by tensor group, the KV cache
 * arithmetic, and optionally a memory budget — as text or as a stable, versioned JSON object.
 */
import { MEMORY_CATEGORIES, formatBytes, type MemoryByCategory, type MemoryCategory } from '../gpu/allocator.js';
import type { Qwen35Config } from '../model/config.js';
import { allLayerKvBytes, kvBytesPerToken, kvLayerCount, type MemoryPrediction } from '../model/memory.js';
import { errorPercent } from '../runtime/memory-report.js';

export const REPORT_SCHEMA = 'qwen35-mem';
export const REPORT_VERSION = 1;

export interface MemReport {
  /** Preset name or checkpoint description. */
  name: string;
  /** True when nothing was loaded (prediction from a preset). */
  predictionOnly: boolean;
  config: Qwen35Config;
  predicted: MemoryPrediction;
  measured?: { live: MemoryByCategory; peak: MemoryByCategory };
  budget?: { bytes: number; largestContext: number };
}

interface Row {
  category: MemoryCategory | 'total';
  predicted: number;
  measured: number | null;
  errorPercent: number | null;
}

function rows(r: MemReport): Row[] {
  const out: Row[] = MEMORY_CATEGORIES.map((category) => {
    const measured = r.measured ? r.measured.live[category] : null;
    const predicted = r.predicted.byCategory[category];
    return { category, predicted, measured, errorPercent: measured === null ? null : errorPercent(predicted, measured) };
  });
  const measuredTotal = r.measured ? MEMORY_CATEGORIES.reduce((a, c) => a + r.measured!.live[c], 0) : null;
  out.push({
    category: 'total',
    predicted: r.predicted.total,
    measured: measuredTotal,
    errorPercent: measuredTotal === null ? null : errorPercent(r.predicted.total, measuredTotal),
  });
  return out;
}

function kvSummary(r: MemReport) {
  const { maxContext, kvFormat } = r.predicted.settings;
  return {
    layers: kvLayerCount(r.config),
    of: r.config.numLayers,
    bytesPerToken: kvBytesPerToken(r.config, kvFormat),
    bytes: r.predicted.byCategory['kv-cache'],
    bytesIfEveryLayer: allLayerKvBytes(r.config, maxContext, kvFormat),
  };
}

function describeFormats(r: MemReport): string {
  const f = r.predicted.settings.formats;
  const distinct = new Set(Object.values(f));
  return distinct.size === 1 ? `${[...distinct][0]} weights` : `weights ${Object.entries(f).map(([k, v]) => `${k}=${v}`).join(', ')}`;
}

const pct = (e: number | null): string => (e === null ? '' : Number.isFinite(e) ? `${e >= 0 ? '+' : ''}${e.toFixed(2)}%` : 'n/a');

export function reportText(r: MemReport): string {
  const s = r.predicted.settings;
  const lines = [
    `${r.name}: ${describeFormats(r)}, ${s.kvFormat} KV cache, context ${s.maxContext.toLocaleString('en-US')} tokens, prefill chunk ${s.prefillChunk}`,
    r.measured ? 'GPU memory        predicted      measured     error' : 'GPU memory        predicted   (prediction only: nothing loaded)',
  ];
  for (const row of rows(r)) {
    const measured = row.measured === null ? '' : formatBytes(row.measured).padStart(12);
    lines.push(`  ${row.category.padEnd(14)} ${formatBytes(row.predicted).padStart(12)} ${measured} ${pct(row.errorPercent).padStart(9)}`.trimEnd());
  }
  const groups = Object.entries(r.predicted.weights).filter(([, b]) => b > 0);
  lines.push(`weights by group: ${groups.map(([g, b]) => `${g} ${formatBytes(b)}`).join(' · ')}${r.config.tieWordEmbeddings ? ' (LM head tied to the embedding)' : ''}`);
  const kv = kvSummary(r);
  lines.push(
    `KV cache: ${kv.layers} of ${kv.of} layers (full attention, §1) × 2 (K, V) × ${r.config.numKeyValueHeads} KV heads × ${r.config.headDim} × ` +
      `${s.kvFormat === 'f16' ? 2 : 4} B = ${formatBytes(kv.bytesPerToken)} per token → ${formatBytes(kv.bytes)}; on every layer it would be ${formatBytes(kv.bytesIfEveryLayer)}`,
  );
  if (r.budget) {
    const fits = r.predicted.total <= r.budget.bytes;
    lines.push(
      `budget ${formatBytes(r.budget.bytes)}: ${fits ? 'fits' : 'does NOT fit'} (${formatBytes(r.predicted.total)} needed); ` +
        (r.budget.largestContext > 0
          ? `the longest context within it is ${r.budget.largestContext.toLocaleString('en-US')} tokens`
          : 'not even a 1-token context fits'),
    );
  }
  return lines.join('\n') + '\n';
}

export function reportJson(r: MemReport): object {
  const s = r.predicted.settings;
  return {
    schema: REPORT_SCHEMA,
    version: REPORT_VERSION,
    model: { name: r.name, predictionOnly: r.predictionOnly, modelType: r.config.modelType, layers: r.config.numLayers },
    settings: { context: s.maxContext, prefillChunk: s.prefillChunk, kvFormat: s.kvFormat, weightFormats: s.formats, maxBindingBytes: s.maxBindingBytes },
    categories: rows(r).filter((row) => row.category !== 'total').map((row) => ({
      category: row.category,
      predictedBytes: row.predicted,
      measuredBytes: row.measured,
      errorPercent: row.errorPercent,
      ...(r.measured ? { measuredPeakBytes: r.measured.peak[row.category as MemoryCategory] } : {}),
    })),
    total: (({ predicted, measured, errorPercent }) => ({ predictedBytes: predicted, measuredBytes: measured, errorPercent }))(rows(r).at(-1)!),
    weightsByGroup: r.predicted.weights,
    kvCache: kvSummary(r),
    ...(r.budget ? { budget: { bytes: r.budget.bytes, fits: r.predicted.total <= r.budget.bytes, largestContext: r.budget.largestContext } } : {}),
  };
}
