/**
 * `qwen35 mem --table`: the prediction for every released size as Markdown (or a versioned JSON
 * object), followed by the figures public calculators publish, our prediction for the same
 * setting, their reconstruction from the publisher's assumptions and the reasons they differ.
 */
import { formatBytes } from '../gpu/allocator.js';
import { describeWeightFormat } from '../model/memory.js';
import { memoryTable, TABLE_CONTEXTS, TABLE_FORMATS, type TableRow } from '../model/memory-table.js';
import { publishedComparisons, UNIT_BYTES, type PublishedComparison } from '../model/memory-published.js';
import { PRESETS } from '../model/presets.js';
import { DEFAULT_PREFILL_CHUNK as PREFILL_CHUNK } from '../runtime/session.js';

export const TABLE_SCHEMA = 'qwen35-mem-table';
export const TABLE_VERSION = 1;

const KV_FORMAT = 'f16';

const gib = (b: number): string => `${(b / 2 ** 30).toFixed(2)}`;
const tokens = (n: number): string => n.toLocaleString('en-US');
const modelName = (key: string): string => (PRESETS[key]!.modelType === 'qwen3_next' ? `Qwen3-${key}` : `Qwen3.5-${key}`);

function predictionMarkdown(rows: TableRow[]): string[] {
  const contexts = rows[0]!.cells.map((c) => c.context);
  const head = [
    'model',
    'params',
    'format',
    'weights GiB',
    'DeltaNet state',
    'KV / 1k tokens',
    ...contexts.map((c) => `total GiB @ ${tokens(c)}`),
    `GiB @ ${tokens(contexts[contexts.length - 1]!)} if KV were on every layer`,
  ];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i < 3 ? '---' : '---:')).join('|')}|`];
  for (const r of rows) {
    const last = r.cells[r.cells.length - 1]!;
    const cells = [
      modelName(r.model),
      `${(r.parameters / 1e9).toFixed(2)} B`,
      r.format,
      gib(r.weightBytes),
      formatBytes(r.linearStateBytes),
      formatBytes(r.kvBytesPerToken * 1024),
      ...r.cells.map((c) => gib(c.total)),
      gib(last.totalIfKvOnEveryLayer),
    ];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines;
}

const published = (c: PublishedComparison): string => `${c.figure.value.toFixed(2)} ${c.figure.unit}`;
const inUnit = (c: PublishedComparison, bytes: number): string => `${(bytes / UNIT_BYTES[c.figure.unit]).toFixed(2)} ${c.figure.unit}`;

function publishedMarkdown(comparisons: PublishedComparison[]): string[] {
  const lines = [
    '| source | model, setting | published | their assumptions, term by term | reconstructed | residual | this runtime, same setting |',
    '|---|---|---:|---|---:|---:|---:|',
  ];
  for (const c of comparisons) {
    const f = c.figure;
    const terms = c.terms.map((t) => `${t.label} = ${inUnit(c, t.bytes)}`).join('; ');
    const residual = `${inUnit(c, c.residual)} (${((c.residual / c.publishedBytes) * 100).toFixed(1)} %)`;
    lines.push(
      `| ${f.source} | ${modelName(f.model)} ${f.variant}, ${tokens(f.context)} tokens | ${published(c)} | ${terms} | ${inUnit(c, c.reconstructed)} | ${residual} | ${inUnit(c, c.ours.total)} (${c.oursSetting}) |`,
    );
  }
  const reasons = new Map<string, string[]>();
  for (const c of comparisons) reasons.set(`${c.figure.source}: ${modelName(c.figure.model)} ${c.figure.variant}`, c.reasons);
  lines.push('', 'Why they differ:', '');
  for (const [what, list] of reasons) lines.push(`- **${what}**`, ...list.map((r) => `  - ${r}`));
  return lines;
}

/** The whole `--table` report as Markdown. */
export function tableMarkdown(): string {
  const rows = memoryTable({ prefillChunk: PREFILL_CHUNK, kvFormat: KV_FORMAT });
  const comparisons = publishedComparisons();
  return [
    '## Predicted GPU memory of every released size',
    '',
    `This runtime: ${KV_FORMAT} KV cache on the full-attention layers only (1 in 4, §1), DeltaNet state f32, activations for a`,
    `${PREFILL_CHUNK}-token prefill chunk, norms f32. GiB = 2^30 B. q8/q4 carry one f16 scale per 32 weights (8.5 / 4.5 bits).`,
    '',
    ...predictionMarkdown(rows),
    '',
    '## Published figures, reconstructed',
    '',
    'Another calculator notes that only 16 of Qwen3.5-27B\'s 64 layers hold a KV cache; that is what the table above',
    `assumes too (27B: ${formatBytes(rows.find((r) => r.model === '27B')!.kvBytesPerToken)} of KV per token in f16 = 16 × 2 × 4 × 256 × 2 B).`,
    '',
    ...publishedMarkdown(comparisons),
    '',
  ].join('\n');
}

/** The same report as a stable, versioned JSON object. */
export function tableJson(): object {
  const rows = memoryTable({ prefillChunk: PREFILL_CHUNK, kvFormat: KV_FORMAT });
  return {
    schema: TABLE_SCHEMA,
    version: TABLE_VERSION,
    settings: { kvFormat: KV_FORMAT, prefillChunk: PREFILL_CHUNK, contexts: TABLE_CONTEXTS, formats: TABLE_FORMATS },
    rows: rows.map((r) => ({
      model: modelName(r.model),
      preset: r.model,
      format: r.format,
      formatDetails: describeWeightFormat(r.format),
      parameters: r.parameters,
      weightBytes: r.weightBytes,
      weightsByGroup: r.weights,
      linearStateBytes: r.linearStateBytes,
      linearState: r.linearState,
      kvBytesPerToken: r.kvBytesPerToken,
      cells: r.cells.map((c) => ({ context: c.context, totalBytes: c.total, byCategory: c.byCategory, totalIfKvOnEveryLayerBytes: c.totalIfKvOnEveryLayer })),
    })),
    published: publishedComparisons().map((c) => ({
      source: c.figure.source,
      model: modelName(c.figure.model),
      variant: c.figure.variant,
      context: c.figure.context,
      value: c.figure.value,
      unit: c.figure.unit,
      publishedBytes: c.publishedBytes,
      reconstruction: { terms: c.terms, bytes: c.reconstructed, residualBytes: c.residual },
      ours: { setting: c.oursSetting, totalBytes: c.ours.total, byCategory: c.ours.byCategory },
      reasons: c.reasons,
    })),
  };
}
