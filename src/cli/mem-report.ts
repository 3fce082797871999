/**
 * The report of `qwen35 mem` for one model and setting: predicted (and, for a loaded model,
 * measured) GPU bytes per category with the error, the weights by tensor group, the KV cache
 * arithmetic, and optionally a memory budget — as text or as a stable, versioned JSON object.
 */
import { MEMORY_CATEGORIES, formatBytes, type MemoryByCategory, type MemoryCategory } from '../gpu/allocator.js';
import type { Qwen35Config } from '../model/config.js';
import { allLayerKvBytes, kvBytesPerToken, kvLayerCount, type LinearStateBytes, type MemoryPrediction, type WeightFormatInfo } from '../model/memory.js';
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
  measured?: { live: MemoryByCategory; peak: MemoryByCategory; peakTotal: number; linearState: LinearStateBytes };
  budget?: { bytes: number; largestContext: number };
}

interface Row {
  category: MemoryCategory | 'total';
  predicted: number;
  measured: number | null;
  /** Highest measured figure since the model was loaded (null: prediction only). */
  peak: number | null;
  errorPercent: number | null;
}

const row = (category: Row['category'], predicted: number, measured: number | null, peak: number | null): Row => ({
  category,
  predicted,
  measured,
  peak,
  errorPercent: measured === null ? null : errorPercent(predicted, measured),
});

function rows(r: MemReport): Row[] {
  const m = r.measured;
  const out = MEMORY_CATEGORIES.map((c) => row(c, r.predicted.byCategory[c], m ? m.live[c] : null, m ? m.peak[c] : null));
  const measuredTotal = m ? MEMORY_CATEGORIES.reduce((a, c) => a + m.live[c], 0) : null;
  out.push(row('total', r.predicted.total, measuredTotal, m ? m.peakTotal : null));
  return out;
}

const LINEAR_STATE_PARTS = { conv: 'conv state', recurrent: 'recurrent state' } as const satisfies Record<keyof LinearStateBytes, string>;

/** linear-state split into the DeltaNet conv and recurrent state, predicted and measured. */
function linearStateParts(r: MemReport) {
  return (Object.keys(LINEAR_STATE_PARTS) as Array<keyof LinearStateBytes>).map((part) => {
    const predicted = r.predicted.linearState[part];
    const measured = r.measured ? r.measured.linearState[part] : null;
    return { part, predictedBytes: predicted, measuredBytes: measured, errorPercent: measured === null ? null : errorPercent(predicted, measured) };
  });
}

function kvSummary(r: MemReport) {
  const { maxContext, kvFormat, batch } = r.predicted.settings;
  return {
    layers: kvLayerCount(r.config),
    of: r.config.numLayers,
    bytesPerToken: kvBytesPerToken(r.config, kvFormat),
    bytes: r.predicted.byCategory['kv-cache'],
    bytesIfEveryLayer: allLayerKvBytes(r.config, maxContext, kvFormat, batch),
  };
}

const formatName = (f: WeightFormatInfo): string => (f.groupSize === null ? f.format : `${f.format} (${f.scaleDtype} scale per ${f.groupSize})`);

function describeFormats(r: MemReport): string {
  const f = r.predicted.formats;
  const distinct = new Set(Object.values(f).map(formatName));
  return distinct.size === 1 ? `${[...distinct][0]} weights` : `weights ${Object.entries(f).map(([k, v]) => `${k}=${formatName(v)}`).join(', ')}`;
}

const pct = (e: number | null): string => (e === null ? '' : Number.isFinite(e) ? `${e >= 0 ? '+' : ''}${e.toFixed(2)}%` : 'n/a');

export function reportText(r: MemReport): string {
  const s = r.predicted.settings;
  const batch = s.batch === 1 ? '' : `, batch ${s.batch} (prediction only: the runtime runs one sequence)`;
  const lines = [
    `${r.name}: ${describeFormats(r)}, ${s.kvFormat} KV cache, context ${s.maxContext.toLocaleString('en-US')} tokens, prefill chunk ${s.prefillChunk}${batch}`,
    r.measured
      ? 'GPU memory           predicted     measured         peak     error'
      : 'GPU memory           predicted   (prediction only: nothing loaded)',
  ];
  const line = (name: string, predicted: number, measured: number | null, peak: number | null, error: number | null): string => {
    const m = measured === null ? '' : `${formatBytes(measured).padStart(12)} ${peak === null ? ''.padStart(12) : formatBytes(peak).padStart(12)}`;
    return `  ${name.padEnd(17)} ${formatBytes(predicted).padStart(12)} ${m} ${pct(error).padStart(9)}`.trimEnd();
  };
  for (const row of rows(r)) {
    lines.push(line(row.category, row.predicted, row.measured, row.peak, row.errorPercent));
    if (row.category !== 'linear-state' || row.predicted === 0) continue;
    for (const p of linearStateParts(r)) lines.push(line(`  ${LINEAR_STATE_PARTS[p.part]}`, p.predictedBytes, p.measuredBytes, null, p.errorPercent));
  }
  const groups = Object.entries(r.predicted.weights).filter(([, b]) => b > 0);
  lines.push(`weights by group: ${groups.map(([g, b]) => `${g} ${formatBytes(b)}`).join(' · ')}${r.config.tieWordEmbeddings ? ' (LM head tied to the embedding)' : ''}`);
  const kv = kvSummary(r);
  lines.push(
    `KV cache: ${kv.layers} of ${kv.of} layers (full attention, §1) × 2 (K, V) × ${r.config.numKeyValueHeads} KV heads × ${r.config.headDim} × ` +
      `${s.kvFormat === 'f16' ? 2 : 4} B = ${formatBytes(kv.bytesPerToken)} per token${s.batch === 1 ? '' : ` × batch ${s.batch}`} → ${formatBytes(kv.bytes)}; on every layer it would be ${formatBytes(kv.bytesIfEveryLayer)}`,
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

function rowJson(row: Row) {
  return {
    category: row.category,
    predictedBytes: row.predicted,
    measuredBytes: row.measured,
    errorPercent: row.errorPercent,
    ...(row.peak === null ? {} : { measuredPeakBytes: row.peak }),
  };
}

export function reportJson(r: MemReport): object {
  const s = r.predicted.settings;
  return {
    schema: REPORT_SCHEMA,
    version: REPORT_VERSION,
    model: { name: r.name, predictionOnly: r.predictionOnly, modelType: r.config.modelType, layers: r.config.numLayers },
    settings: {
      context: s.maxContext,
      prefillChunk: s.prefillChunk,
      kvFormat: s.kvFormat,
      batch: s.batch,
      weightFormats: s.formats,
      /** Per class: { format, groupSize, scaleDtype, bitsPerWeight } (groupSize/scaleDtype null when unquantized). */
      weightFormatDetails: r.predicted.formats,
      maxBindingBytes: s.maxBindingBytes,
    },
    categories: rows(r).filter((row) => row.category !== 'total').map((row) => ({
      ...rowJson(row),
      ...(row.category === 'linear-state' ? { parts: linearStateParts(r) } : {}),
    })),
    total: (({ category: _total, ...rest }) => rest)(rowJson(rows(r).at(-1)!)),
    weightsByGroup: r.predicted.weights,
    kvCache: kvSummary(r),
    ...(r.budget ? { budget: { bytes: r.budget.bytes, fits: r.predicted.total <= r.budget.bytes, largestContext: r.budget.largestContext } } : {}),
  };
}
