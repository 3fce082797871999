/**
 * `qwen35 mem --plot`: GPU memory against context length for one model and setting: predicted
 * total and each category, measured totals (sessions loaded at some contexts), and the naive
 * "KV cache on every layer" total, so the effect of holding KV on 1 layer in 4 (§1) is visible.
 */
import { MEMORY_CATEGORIES, type MemoryByCategory } from '../gpu/allocator.js';
import { lineChart, type LineSeries } from '../bench/svg.js';
import type { Qwen35Config } from '../model/config.js';
import { allLayerKvBytes, predictMemory, type PredictOptions } from '../model/memory.js';

export interface MeasuredPoint {
  context: number;
  byCategory: MemoryByCategory;
}

/** Powers of two from 256 (or 1 for tiny models) to the model's maximum, plus the extra contexts given. */
export function plotContexts(maxContext: number, extra: readonly number[] = []): number[] {
  const start = maxContext >= 256 ? 256 : 1;
  const set = new Set<number>([maxContext, ...extra.filter((c) => c >= 1 && c <= maxContext)]);
  for (let c = start; c < maxContext; c *= 2) set.add(c);
  return [...set].sort((a, b) => a - b);
}

export const byteLabel = (b: number): string =>
  b === 0 ? '0' : b >= 2 ** 30 ? `${+(b / 2 ** 30).toFixed(2)} GiB` : b >= 2 ** 20 ? `${+(b / 2 ** 20).toFixed(1)} MiB` : `${+(b / 1024).toFixed(1)} KiB`;

/** 1024 → "1k", 262144 → "256k" (binary thousands, as context lengths are usually quoted). */
export const tokenLabel = (n: number): string => (n >= 1024 && n % 1024 === 0 ? `${n / 1024}k` : String(n));

const sum = (c: MemoryByCategory): number => MEMORY_CATEGORIES.reduce((a, k) => a + c[k], 0);

/** The SVG document. `options.maxContext` is ignored: the x axis sweeps the context. */
export function memoryPlot(title: string, config: Qwen35Config, options: PredictOptions, measured: readonly MeasuredPoint[] = []): string {
  const contexts = plotContexts(config.maxPositionEmbeddings, measured.map((m) => m.context));
  const predictions = contexts.map((context) => ({ context, p: predictMemory(config, { ...options, maxContext: context }) }));
  const kvFormat = predictions[0]!.p.settings.kvFormat;
  const series: LineSeries[] = [
    { name: 'predicted total', points: predictions.map(({ context, p }) => [context, p.total]) },
    {
      name: 'total if KV were on every layer',
      style: 'dashed',
      points: predictions.map(({ context, p }) => [context, p.total - p.byCategory['kv-cache'] + allLayerKvBytes(config, context, kvFormat, p.settings.batch)]),
    },
  ];
  for (const category of MEMORY_CATEGORIES) {
    if (predictions.every(({ p }) => p.byCategory[category] === 0)) continue;
    series.push({ name: `predicted ${category}`, points: predictions.map(({ context, p }) => [context, p.byCategory[category]]) });
  }
  if (measured.length > 0) {
    series.push({ name: 'measured total', style: 'points', points: measured.map((m) => [m.context, sum(m.byCategory)]) });
    series.push({ name: 'measured kv-cache', style: 'points', points: measured.map((m) => [m.context, m.byCategory['kv-cache']]) });
  }
  const largest = Math.max(...series.flatMap((s) => s.points.map((p) => p[1])));
  return lineChart({
    title,
    x: { label: 'context length (tokens)', scale: 'log2', format: tokenLabel },
    y: { label: 'GPU memory', format: byteLabel, unit: largest >= 2 ** 30 ? 2 ** 30 : largest >= 2 ** 20 ? 2 ** 20 : 1024 },
    series,
    width: 1000,
    height: 560,
  });
}
