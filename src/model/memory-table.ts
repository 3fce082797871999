/**
 * The "will it fit" table: predicted GPU memory of every released size (§7 presets) at a few
 * context lengths and weight formats, from the same predictor a live session is checked against.
 */
import type { MemoryByCategory } from '../gpu/allocator.js';
import type { WeightFormat } from '../io/formats.js';
import type { KvFormat } from '../kernels/attention.js';
import type { WeightGroup } from '../runtime/gpu-weight-plan.js';
import { allLayerKvBytes, kvBytesPerToken, parameterCount, predictMemory, type LinearStateBytes } from './memory.js';
import { PRESETS } from './presets.js';

export const TABLE_CONTEXTS: readonly number[] = [1024, 32768, 262144];
export const TABLE_FORMATS: readonly WeightFormat[] = ['bf16', 'q8', 'q4'];

export interface TableSettings {
  /** Preset names (default: every released size, PRESETS order). */
  presets?: readonly string[];
  contexts?: readonly number[];
  formats?: readonly WeightFormat[];
  kvFormat?: KvFormat;
  prefillChunk?: number;
}

export interface TableCell {
  context: number;
  byCategory: MemoryByCategory;
  total: number;
  /** The same total with a KV cache on every layer instead of the full-attention ones only. */
  totalIfKvOnEveryLayer: number;
}

export interface TableRow {
  model: string;
  format: WeightFormat;
  parameters: number;
  weights: Record<WeightGroup, number>;
  weightBytes: number;
  /** DeltaNet conv + recurrent state (fixed, §4.4). */
  linearStateBytes: number;
  /** The same split into conv and recurrent state. */
  linearState: LinearStateBytes;
  kvBytesPerToken: number;
  cells: TableCell[];
}

/** One row per (preset, format), one cell per context. */
export function memoryTable(settings: TableSettings = {}): TableRow[] {
  const kvFormat = settings.kvFormat ?? 'f16';
  const rows: TableRow[] = [];
  for (const model of settings.presets ?? Object.keys(PRESETS)) {
    const config = PRESETS[model]!;
    const parameters = parameterCount(config);
    for (const format of settings.formats ?? TABLE_FORMATS) {
      const cells = (settings.contexts ?? TABLE_CONTEXTS).map((context): TableCell => {
        const p = predictMemory(config, { weightFormat: format, maxContext: context, kvFormat, prefillChunk: settings.prefillChunk });
        const naive = p.total - p.byCategory['kv-cache'] + allLayerKvBytes(config, context, kvFormat);
        return { context, byCategory: p.byCategory, total: p.total, totalIfKvOnEveryLayer: naive };
      });
      const first = predictMemory(config, { weightFormat: format, maxContext: 1, kvFormat });
      rows.push({
        model,
        format,
        parameters,
        weights: first.weights,
        weightBytes: first.byCategory.weights,
        linearStateBytes: first.byCategory['linear-state'],
        linearState: first.linearState,
        kvBytesPerToken: kvBytesPerToken(config, kvFormat),
        cells,
      });
    }
  }
  return rows;
}
