/**
 * Summaries of repeated measurements: median and spread (min/max and the interquartile range),
 * and the ratio of paired samples (compare mode). Quartiles interpolate linearly between order
 * statistics (the "R-7" / NumPy default definition), so they are defined for any n ≥ 1.
 */
import { InvalidArgumentError } from '../errors.js';

export interface Summary {
  median: number;
  min: number;
  max: number;
  /** First and third quartiles. */
  q1: number;
  q3: number;
  n: number;
  /** Every sample, in measurement order. */
  samples: number[];
}

/** The p-quantile (0 ≤ p ≤ 1) of ascending `sorted`, linear between order statistics. */
export function quantile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) throw new InvalidArgumentError('quantile of an empty sample');
  const at = (sorted.length - 1) * p;
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (at - lo);
}

export function summarize(samples: readonly number[]): Summary {
  if (samples.length === 0) throw new InvalidArgumentError('cannot summarize zero measurements');
  if (!samples.every(Number.isFinite)) throw new InvalidArgumentError(`measurements must be finite numbers, got [${samples.join(', ')}]`);
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    median: quantile(sorted, 0.5),
    min: sorted[0]!,
    max: sorted[sorted.length - 1]!,
    q1: quantile(sorted, 0.25),
    q3: quantile(sorted, 0.75),
    n: sorted.length,
    samples: [...samples],
  };
}

/** Applies `f` to every sample (e.g. ms per token → tokens per second) and summarizes the result. */
export function mapSummary(s: Summary, f: (x: number) => number): Summary {
  return summarize(s.samples.map(f));
}

/** b_i / a_i for paired samples (A and B measured back to back, A B A B …). */
export function pairedRatios(a: readonly number[], b: readonly number[]): number[] {
  if (a.length !== b.length || a.length === 0) {
    throw new InvalidArgumentError(`paired ratios need two equally long, non-empty samples (got ${a.length} and ${b.length})`);
  }
  return a.map((x, i) => {
    if (!(x > 0)) throw new InvalidArgumentError(`ratio over a non-positive measurement (${x}) at pair ${i}`);
    return b[i]! / x;
  });
}

/**
 * Ratio of two independent summaries (two result files): b.median / a.median, with the widest
 * range the spreads allow, [b.min / a.max, b.max / a.min].
 */
export function summaryRatio(a: Summary, b: Summary): { ratio: number; low: number; high: number } {
  if (!(a.median > 0 && a.min > 0)) throw new InvalidArgumentError(`ratio over a non-positive measurement (median ${a.median}, min ${a.min})`);
  return { ratio: b.median / a.median, low: b.min / a.max, high: b.max / a.min };
}
