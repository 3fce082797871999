/**
 * SVG plots of a benchmark result (drawn with svg.ts): decode tokens/s vs context, prefill
 * tokens/s vs prompt length, and the roofline bars (effective decode GB/s next to the probe's GB/s).
 * Every title names the adapter and marks a software adapter as CPU numbers.
 */
import { adapterLabel } from './environment.js';
import type { BenchResult, ModelResult } from './schema.js';
import { barChart, lineChart } from './svg.js';

const modelId = (m: ModelResult): string => `${m.model.name} ${m.parameters.formatLabel}`;

/** Decode tokens/s (median) vs cached tokens, one line per model. */
export function decodePlot(r: BenchResult): string | undefined {
  const series = r.models.filter((m) => m.decode.length > 0).map((m) => ({ name: modelId(m), points: m.decode.map((d) => [d.context, d.tokensPerSecond.median] as const) }));
  if (series.length === 0) return undefined;
  return lineChart({
    title: `Decode tokens/s vs context — ${adapterLabel(r.environment)}`,
    x: { label: 'tokens in the cache (context)' },
    y: { label: 'decode tokens/s (median)' },
    series,
  });
}

/** Prefill tokens/s (median) vs prompt length, one line per model. */
export function prefillPlot(r: BenchResult): string | undefined {
  const series = r.models.filter((m) => m.prefill.length > 0).map((m) => ({ name: modelId(m), points: m.prefill.map((p) => [p.promptTokens, p.tokensPerSecond.median] as const) }));
  if (series.length === 0) return undefined;
  return lineChart({
    title: `Prefill tokens/s vs prompt length — ${adapterLabel(r.environment)}`,
    x: { label: 'prompt tokens', scale: 'log2' },
    y: { label: 'prefill tokens/s (median)' },
    series,
  });
}

/** Effective decode GB/s per model and context, beside the bandwidth probe on the same adapter. */
export function rooflinePlot(r: BenchResult): string | undefined {
  const points = r.models.flatMap((m) => m.decode.map((d) => ({ label: `${modelId(m)} @${d.context}`, gbps: d.effectiveGBps })));
  if (points.length === 0) return undefined;
  const probe = r.adapter.bandwidth?.gbps;
  const series = [{ name: 'effective GB/s (decode)', values: points.map((p) => p.gbps) }];
  if (probe !== undefined) series.push({ name: 'probe GB/s (streaming read)', values: points.map(() => probe) });
  return barChart({
    title: `Roofline: decode bytes/token × tokens/s vs probe — ${adapterLabel(r.environment)}`,
    categories: points.map((p) => p.label),
    series,
    y: { label: 'GB/s' },
    xLabel: 'model, format @ context',
  });
}

/** File name → SVG document, for every plot the result has data for. */
export function benchPlots(r: BenchResult): Record<string, string> {
  const out: Record<string, string> = {};
  const add = (name: string, svg: string | undefined): void => {
    if (svg !== undefined) out[name] = svg;
  };
  add('decode-vs-context.svg', decodePlot(r));
  add('prefill-vs-length.svg', prefillPlot(r));
  add('roofline.svg', rooflinePlot(r));
  return out;
}
