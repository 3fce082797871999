/**
 * Compare mode. Two result files: every metric both contain, as b / a of the medians with the
 * widest ratio the spreads allow. Two configurations in one process (formats, subgroups on/off):
 * measured interleaved — A B A B … — so drift of a noisy machine (clocks, other load) hits both
 * alike; each pair gives one ratio b_i / a_i, reported as median and IQR.
 */
import { AbortedError, InvalidArgumentError } from '../errors.js';
import type { Qwen35Model } from '../runtime/model.js';
import { formatLabel, type RunControl } from './harness.js';
import { decodeFootprint, measurePrefill, prefillFootprint, prepareDecode, promptIds } from './scenarios.js';
import { COMPARE_SCHEMA, type BenchResult, type CompareResult, type CompareRow, type Environment, type RunParameters } from './schema.js';
import { pairedRatios, summarize, summaryRatio, type Summary } from './stats.js';

interface Metric {
  summary: Summary;
  higherIsBetter: boolean;
}

/** Every comparable figure of a result, by a readable key. */
export function metricsOf(result: BenchResult): Map<string, Metric> {
  const out = new Map<string, Metric>();
  const put = (key: string, summary: Summary, higherIsBetter: boolean): void => void out.set(key, { summary, higherIsBetter });
  if (result.adapter.bandwidth) put('bandwidth probe · GB/s', result.adapter.bandwidth.runs, true);
  for (const m of result.models) {
    const id = `${m.model.name} ${m.parameters.formatLabel}`;
    for (const p of m.prefill) {
      put(`${id} · prefill ${p.promptTokens} · tok/s`, p.tokensPerSecond, true);
      put(`${id} · time to first token ${p.promptTokens} · ms`, p.timeToFirstTokenMs, false);
    }
    for (const d of m.decode) put(`${id} · decode context ${d.context} · tok/s`, d.tokensPerSecond, true);
    if (m.profile) {
      put(`${id} · host encode · ms/token`, m.profile.encodeMsPerToken, false);
      if (m.profile.gpuMsPerToken) put(`${id} · decode kernels (sum) · ms/token`, m.profile.gpuMsPerToken, false);
    }
    if (m.prefillProfile?.gpuMsPerChunk) {
      put(`${id} · prefill kernels (sum, ${m.prefillProfile.tokens}-token chunk) · ms`, m.prefillProfile.gpuMsPerChunk, false);
    }
    if (m.gdnPrefill) put(`${id} · DeltaNet prefill ${m.gdnPrefill.promptTokens} chunked speedup · ×`, m.gdnPrefill.speedup, true);
  }
  return out;
}

export function compareResults(a: BenchResult, b: BenchResult, labels: { a: string; b: string }): CompareResult {
  const ma = metricsOf(a);
  const mb = metricsOf(b);
  const rows: CompareRow[] = [];
  for (const [metric, x] of ma) {
    const y = mb.get(metric);
    if (!y) continue;
    const r = summaryRatio(x.summary, y.summary);
    rows.push({ metric, higherIsBetter: x.higherIsBetter, a: x.summary.median, b: y.summary.median, ratio: r.ratio, low: r.low, high: r.high });
  }
  const unmatched = [...[...ma.keys()].filter((k) => !mb.has(k)), ...[...mb.keys()].filter((k) => !ma.has(k))];
  return { schema: COMPARE_SCHEMA, createdAt: new Date().toISOString(), mode: 'files', a: labels.a, b: labels.b, rows, unmatched };
}

/** A row from paired samples (a_i, b_i measured back to back). */
export function pairedRow(metric: string, a: readonly number[], b: readonly number[], higherIsBetter = true): CompareRow {
  const ratios = summarize(pairedRatios(a, b));
  return { metric, higherIsBetter, a: summarize(a).median, b: summarize(b).median, ratio: ratios.median, low: ratios.q1, high: ratios.q3, ratios };
}

export interface Contender {
  label: string;
  model: Qwen35Model;
}

/** Runs `measure` on A then B, `warmup` untimed pairs then `repetitions` timed pairs. */
async function interleave(p: RunParameters, control: RunControl, measure: (m: Qwen35Model) => Promise<number>, a: Qwen35Model, b: Qwen35Model) {
  const xs: number[] = [];
  const ys: number[] = [];
  for (let i = 0; i < p.warmup + p.repetitions; i++) {
    if (control.signal?.aborted) throw new AbortedError('the comparison was cancelled');
    const x = await measure(a);
    const y = await measure(b);
    if (i >= p.warmup) {
      xs.push(x);
      ys.push(y);
    }
  }
  return { xs, ys };
}

/** Prefill and decode tokens/s of two loaded models, interleaved point by point (the prefill and decode scenarios of p). */
export async function compareInterleaved(a: Contender, b: Contender, p: RunParameters, environment: Environment, control: RunControl = {}): Promise<CompareResult> {
  if (a.model.config.vocabSize !== b.model.config.vocabSize) {
    throw new InvalidArgumentError(`cannot interleave different models (${a.model.source.description} vs ${b.model.source.description})`);
  }
  const maxContext = Math.min(a.model.session.options.maxContext, b.model.session.options.maxContext);
  const vocab = a.model.config.vocabSize;
  const name = (m: Qwen35Model): string =>
    `${m.source.description} ${formatLabel(m.session.options.formats)}, prefill chunk ${m.session.options.prefillChunk}${m.session.options.int8Activations ? ', int8 activations' : ''}`;
  const rows: CompareRow[] = [];
  const unmatched: string[] = [];
  const points = (scenario: 'prefill' | 'decode', xs: number[]): number[] => (p.scenarios.includes(scenario) ? xs : []);
  for (const length of points('prefill', p.prefillLengths)) {
    const metric = `prefill ${length} · tok/s`;
    if (prefillFootprint(length) > maxContext) {
      unmatched.push(`${metric} (needs context ${prefillFootprint(length)})`);
      continue;
    }
    control.onProgress?.({ scenario: 'prefill', message: `interleaved ${metric}` });
    const ids = promptIds(length, vocab, p.seed);
    const { xs, ys } = await interleave(p, control, async (m) => (await measurePrefill(m, ids)).tokensPerSecond, a.model, b.model);
    rows.push(pairedRow(metric, xs, ys));
  }
  for (const context of points('decode', p.decodeContexts)) {
    const metric = `decode context ${context} · tok/s`;
    if (decodeFootprint(context, p.decodeTokens) > maxContext) {
      unmatched.push(`${metric} (needs context ${decodeFootprint(context, p.decodeTokens)})`);
      continue;
    }
    control.onProgress?.({ scenario: 'decode', message: `interleaved ${metric}` });
    const fa = await prepareDecode(a.model, context, p.seed);
    try {
      const fb = await prepareDecode(b.model, context, p.seed);
      try {
        const fixture = (m: Qwen35Model) => (m === a.model ? fa : fb);
        const { xs, ys } = await interleave(p, control, (m) => fixture(m).measure(p.decodeTokens), a.model, b.model);
        rows.push(pairedRow(metric, xs, ys));
      } finally {
        fb.release();
      }
    } finally {
      fa.release();
    }
  }
  return {
    schema: COMPARE_SCHEMA,
    createdAt: new Date().toISOString(),
    mode: 'interleaved',
    a: `${a.label} (${name(a.model)})`,
    b: `${b.label} (${name(b.model)})`,
    environment,
    rows,
    unmatched,
  };
}
