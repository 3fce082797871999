/**
 * Compare mode: the statistics (quantiles, paired ratios, ratio bounds) on samples whose results
 * are worked out by hand in the comments; comparing two result files (library and CLI); and one
 * real interleaved comparison (tiny model, q4 vs q8) checked for its shape and internal
 * consistency — never for speed. Exact values up to float rounding (toBeCloseTo, 12 digits).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { command } from '../cli/bench.js';
import { InvalidArgumentError } from '../errors.js';
import { acquireGpu } from '../gpu/device.js';
import { FsCheckpointSource } from '../io/sources/fs.js';
import { ensureDefaultModel } from '../model/tiny.js';
import { Qwen35Model } from '../runtime/model.js';
import { compareInterleaved, compareResults, metricsOf, pairedRow } from './compare.js';
import { describeEnvironment } from './environment.js';
import { resolveBenchOptions } from './options.js';
import type { BenchResult, CompareResult } from './schema.js';
import { pairedRatios, quantile, summarize, summaryRatio } from './stats.js';
import { fakeResult } from './test-fixture.js';

describe('statistics', () => {
  it('median, quartiles (linear between order statistics), min, max', () => {
    // Sorted [1, 2, 3, 4]: median at index 1.5 → 2.5; q1 at 0.75 → 1.75; q3 at 2.25 → 3.25.
    const s = summarize([4, 1, 3, 2]);
    expect(s).toEqual({ median: 2.5, min: 1, max: 4, q1: 1.75, q3: 3.25, n: 4, samples: [4, 1, 3, 2] });
    expect(summarize([7]).q3).toBe(7);
    expect(quantile([10, 20, 30, 40, 50], 0.5)).toBe(30);
  });

  it('rejects empty and non-finite samples with a typed error', () => {
    expect(() => summarize([])).toThrow(InvalidArgumentError);
    expect(() => summarize([1, NaN])).toThrow(/finite/);
  });

  it('paired ratios are b_i / a_i and need equal, positive pairs', () => {
    expect(pairedRatios([2, 4], [3, 2])).toEqual([1.5, 0.5]);
    expect(() => pairedRatios([1, 2], [1])).toThrow(InvalidArgumentError);
    expect(() => pairedRatios([0], [1])).toThrow(/non-positive/);
  });

  it('a paired row: median and IQR of the ratios', () => {
    // Ratios 15/10 = 1.5, 20/20 = 1, 60/30 = 2 → sorted [1, 1.5, 2]: median 1.5, q1 1.25, q3 1.75.
    const row = pairedRow('m', [10, 20, 30], [15, 20, 60]);
    expect(row).toMatchObject({ a: 20, b: 20, ratio: 1.5, low: 1.25, high: 1.75 });
    expect(row.ratios!.samples).toEqual([1.5, 1, 2]);
  });

  it('ratio of two independent summaries with the widest bound the spreads allow', () => {
    // a: [8, 10, 12], b: [14, 15, 18] → 15/10 = 1.5, bound [14/12, 18/8].
    const r = summaryRatio(summarize([8, 10, 12]), summarize([14, 15, 18]));
    expect(r.ratio).toBeCloseTo(1.5, 12);
    expect(r.low).toBeCloseTo(14 / 12, 12);
    expect(r.high).toBeCloseTo(18 / 8, 12);
  });
});

describe('comparing two result files', () => {
  // A decodes [40, 50, 60] tok/s at context 0 (and half at 1024); B [60, 75, 90]: ratio 1.5 everywhere.
  const a = fakeResult();
  const b = fakeResult({ decodeTps: [60, 75, 90], probe: 200 });

  it('names every comparable figure', () => {
    expect([...metricsOf(a).keys()]).toEqual([
      'bandwidth probe · GB/s',
      'tiny q4 · prefill 128 · tok/s',
      'tiny q4 · time to first token 128 · ms',
      'tiny q4 · decode context 0 · tok/s',
      'tiny q4 · decode context 1024 · tok/s',
      'tiny q4 · DeltaNet prefill 512 chunked speedup · ×',
    ]);
  });

  it('ratios B/A of the medians, bounds from min/max, and what only one side has', () => {
    const withExtra = fakeResult({ decodeTps: [60, 75, 90], probe: 200 });
    withExtra.models[0]!.decode.pop();
    const c = compareResults(a, withExtra, { a: 'a.json', b: 'b.json' });
    const decode0 = c.rows.find((r) => r.metric === 'tiny q4 · decode context 0 · tok/s')!;
    expect(decode0).toMatchObject({ a: 50, b: 75, ratio: 1.5, higherIsBetter: true });
    expect(decode0.low).toBeCloseTo(60 / 60, 12); // b.min / a.max
    expect(decode0.high).toBeCloseTo(90 / 40, 12); // b.max / a.min
    expect(c.rows.find((r) => r.metric === 'bandwidth probe · GB/s')!.ratio).toBe(2);
    expect(c.rows.find((r) => r.metric.includes('time to first token'))!).toMatchObject({ ratio: 1, higherIsBetter: false });
    expect(c.unmatched).toEqual(['tiny q4 · decode context 1024 · tok/s']);
  });

  it('qwen35 bench --compare a.json b.json writes compare.json/.md; a wrong schema or one file is a typed error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bench-compare-'));
    const quiet = [vi.spyOn(process.stdout, 'write').mockReturnValue(true), vi.spyOn(process.stderr, 'write').mockReturnValue(true)];
    try {
      writeFileSync(join(dir, 'a.json'), JSON.stringify(a));
      writeFileSync(join(dir, 'b.json'), JSON.stringify(b));
      writeFileSync(join(dir, 'bad.json'), JSON.stringify({ schema: 'something/9' }));
      const out = join(dir, 'out');
      expect(await command.run(['--compare', join(dir, 'a.json'), join(dir, 'b.json'), '--out', out])).toBe(0);
      const c = JSON.parse(readFileSync(join(out, 'compare.json'), 'utf8')) as CompareResult;
      expect(c.schema).toBe('qwen35-bench-compare/1');
      expect(c.rows.find((r) => r.metric === 'tiny q4 · decode context 1024 · tok/s')!.ratio).toBe(1.5);
      expect(readFileSync(join(out, 'compare.md'), 'utf8')).toContain('| tiny q4 · decode context 0 · tok/s | 50 | 75 | **1.5** | 1–2.25 | higher |');
      await expect(command.run(['--compare', join(dir, 'a.json'), '--compare', join(dir, 'bad.json'), '--out', out])).rejects.toThrow(/not a qwen35-bench\/1 result/);
      await expect(command.run(['--compare', join(dir, 'a.json'), '--out', out])).rejects.toThrow(InvalidArgumentError);
      // A model name that is nothing known fails before any measurement.
      await expect(command.run(['--models', 'tiny,7B', '--out', out])).rejects.toThrow(/"7B" is not a model name \(tiny, tiny-moe/);
    } finally {
      quiet.forEach((q) => q.mockRestore());
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('qwen35 bench --baseline prev.json (tiny model, 1 run)', () => {
  it('runs, then writes the ratios this run / baseline: medians of bench.json over the baseline\'s', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bench-baseline-'));
    const stdout: string[] = [];
    const stderr: string[] = [];
    const quiet = [
      vi.spyOn(process.stdout, 'write').mockImplementation((s) => {
        stdout.push(String(s));
        return true;
      }),
      vi.spyOn(process.stderr, 'write').mockImplementation((s) => {
        stderr.push(String(s));
        return true;
      }),
    ];
    try {
      // The baseline's medians (test-fixture.ts): prefill 128 of [100, 200, 300] tok/s → 200; TTFT 128·1000/tok/s →
      // median of [1280, 640, 426.7] = 640 ms; decode after 0 of [40, 50, 60] → 50 tok/s.
      const base = fakeResult();
      writeFileSync(join(dir, 'prev.json'), JSON.stringify(base));
      writeFileSync(join(dir, 'bad.json'), '{"schema": "qwen35-bench/0"}');
      const out = join(dir, 'out');
      const run = ['--models', 'tiny', '--scenarios', 'prefill,decode', '--prefill-lengths', '128', '--decode-contexts', '0', '--decode-tokens', '3', '--warmup', '0', '--reps', '1', '--out', out];
      await expect(command.run([...run, '--baseline', join(dir, 'bad.json')])).rejects.toThrow(/^--baseline: .*bad\.json is not a qwen35-bench\/1 result/);
      await expect(command.run([...run, '--baseline', join(dir, 'prev.json'), '--compare-subgroups'])).rejects.toThrow(InvalidArgumentError);
      expect(await command.run([...run, '--baseline', join(dir, 'prev.json')])).toBe(0);

      const now = JSON.parse(readFileSync(join(out, 'bench.json'), 'utf8')) as BenchResult;
      expect(now.environment.runtime.gpuWaits).toBe('paced'); // the Node default
      const c = JSON.parse(readFileSync(join(out, 'compare.json'), 'utf8')) as CompareResult;
      expect(c).toMatchObject({ schema: 'qwen35-bench-compare/1', mode: 'files', a: join(dir, 'prev.json'), b: 'this run' });
      const m = now.models[0]!;
      const want = [
        ['tiny q4 · prefill 128 · tok/s', 200, m.prefill[0]!.tokensPerSecond.median],
        ['tiny q4 · time to first token 128 · ms', 640, m.prefill[0]!.timeToFirstTokenMs.median],
        ['tiny q4 · decode context 0 · tok/s', 50, m.decode[0]!.tokensPerSecond.median],
      ] as const;
      expect(c.rows.map((r) => r.metric)).toEqual(want.map((w) => w[0]));
      c.rows.forEach((r, i) => {
        expect(r.a).toBe(want[i]![1]);
        expect(r.b).toBe(want[i]![2]);
        expect(r.ratio).toBeCloseTo(want[i]![2] / want[i]![1], 12);
      });
      expect(c.unmatched).toEqual(['bandwidth probe · GB/s', 'tiny q4 · decode context 1024 · tok/s', 'tiny q4 · DeltaNet prefill 512 chunked speedup · ×']);
      const md = readFileSync(join(out, 'compare.md'), 'utf8');
      expect(md).toContain(`- A: ${join(dir, 'prev.json')}`);
      expect(stdout.join('')).toContain(md);
      expect(stdout.join('')).toContain('# Qwen3.5 WebGPU benchmark'); // the run's own report comes first
      // The fixture's adapter is not this one: said, since the ratios then compare machines.
      expect(stderr.join('')).toContain(`WARNING: --baseline ${join(dir, 'prev.json')} was measured on ${base.environment.adapter.description}; this run on ${now.environment.adapter.description}`);
    } finally {
      quiet.forEach((q) => q.mockRestore());
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/**
 * `qwen35 bench` on the tiny model with `plan` (one timed run, output silenced, into a fresh
 * folder): first with `refused` (which must fail with `error`), then with `compare`; returns the
 * compare.json the second run wrote.
 */
async function interleavedCli(plan: string[], refused: { args: string[]; error: RegExp }, compare: string[]): Promise<CompareResult> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-interleaved-'));
  const quiet = [vi.spyOn(process.stdout, 'write').mockImplementation(() => true), vi.spyOn(process.stderr, 'write').mockImplementation(() => true)];
  try {
    const run = ['--models', 'tiny', ...plan, '--warmup', '0', '--reps', '1', '--out', dir];
    await expect(command.run([...run, ...refused.args])).rejects.toThrow(refused.error);
    expect(await command.run([...run, ...compare])).toBe(0);
    return JSON.parse(readFileSync(join(dir, 'compare.json'), 'utf8')) as CompareResult;
  } finally {
    quiet.forEach((q) => q.mockRestore());
    rmSync(dir, { recursive: true, force: true });
  }
}

const DECODE_PLAN = ['--scenarios', 'decode', '--decode-contexts', '0', '--decode-tokens', '3'];

describe('qwen35 bench --compare-waits (tiny model, 1 run)', () => {
  it('loads the model twice, paced (A) and polled (B), and writes their ratios; one comparison at a time', async () => {
    const c = await interleavedCli(DECODE_PLAN, { args: ['--compare-waits', '--compare-formats', 'q4,q8'], error: /compare one thing at a time/ }, ['--compare-waits']);
    expect(c.mode).toBe('interleaved');
    expect(c.a).toContain('tiny paced waits');
    expect(c.b).toContain('tiny polled waits');
    expect(c.rows.map((r) => r.metric)).toEqual(['decode context 0 · tok/s']);
    expect(c.rows[0]!.ratio).toBeGreaterThan(0);
  });
});

describe('qwen35 bench --compare-prefill-chunks (tiny model, 1 run)', () => {
  it('loads the model with each prefill chunk and times the prompt on both', async () => {
    const plan = ['--scenarios', 'prefill', '--prefill-lengths', '40', '--decode-contexts', '0'];
    const c = await interleavedCli(plan, { args: ['--compare-prefill-chunks', '8'], error: /takes two chunk sizes/ }, ['--compare-prefill-chunks', '8,32']);
    // The labels name the chunk each loaded session really has (its resolved options).
    expect(c.a).toMatch(/^tiny prefill chunk 8 \(.* q4, prefill chunk 8\)$/);
    expect(c.b).toMatch(/^tiny prefill chunk 32 \(.* q4, prefill chunk 32\)$/);
    expect(c.rows.map((r) => r.metric)).toEqual(['prefill 40 · tok/s']); // --scenarios prefill: no decode point
    expect(c.unmatched).toEqual([]);
    expect(c.rows[0]!.ratio).toBeGreaterThan(0);
  });
});

describe('qwen35 bench --compare-int8-activations (tiny model, 1 run)', () => {
  it('loads the q4 model with f32 (A) and int8 (B) activations; other formats are refused', async () => {
    const refused = { args: ['--compare-int8-activations', '--format', 'q8'], error: /q4 weights only, got --format q8/ };
    const c = await interleavedCli(DECODE_PLAN, refused, ['--compare-int8-activations']);
    expect(c.a).toMatch(/^tiny f32 activations \(.* q4, prefill chunk \d+\)$/);
    expect(c.b).toMatch(/^tiny int8 activations \(.* q4, prefill chunk \d+, int8 activations\)$/);
    expect(c.rows.map((r) => r.metric)).toEqual(['decode context 0 · tok/s']);
  });
});

describe('interleaved comparison on the GPU (tiny model, q4 vs q8)', () => {
  const disposers: Array<() => void> = [];
  afterAll(() => disposers.reverse().forEach((d) => d()));

  it('one row per scenario point with one ratio per timed pair, models left empty', async () => {
    const gpu = await acquireGpu();
    disposers.push(() => gpu.destroy());
    const source = new FsCheckpointSource(await ensureDefaultModel());
    const load = async (weightFormat: 'q4' | 'q8') => {
      const m = await Qwen35Model.load(source, { gpu, weightFormat, maxContext: 32 });
      disposers.push(() => m.dispose());
      return m;
    };
    const [a, b] = [await load('q4'), await load('q8')];
    const p = resolveBenchOptions({ prefillLengths: [5, 64], decodeContexts: [3], decodeTokens: 3, warmup: 0, repetitions: 2 });
    const c = await compareInterleaved({ label: 'q4', model: a }, { label: 'q8', model: b }, p, describeEnvironment(gpu));
    expect(c.mode).toBe('interleaved');
    expect(c.rows.map((r) => r.metric)).toEqual(['prefill 5 · tok/s', 'decode context 3 · tok/s']);
    expect(c.unmatched).toEqual(['prefill 64 · tok/s (needs context 65)']);
    for (const row of c.rows) {
      expect(row.ratios!.n).toBe(2);
      expect(row.ratio).toBe(row.ratios!.median);
      expect(row.a).toBeGreaterThan(0);
      expect(row.b).toBeGreaterThan(0);
      for (const r of row.ratios!.samples) expect(Number.isFinite(r) && r > 0).toBe(true);
    }
    expect(c.a).toContain('q4');
    expect(c.b).toContain('q8');
    expect([a.session.position, b.session.position]).toEqual([0, 0]);
  });
});
