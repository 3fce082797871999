/**
 * `qwen35 mem` end to end through the command object: the versioned JSON against the predictor
 * (exact bytes), the budget answer, the table and its published figures, the SVG plot parsed
 * back (expected series, measured points from sessions actually loaded), and typed errors.
 * Loads only the tiny dense checkpoint (a few seconds per session on SwiftShader).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findAll, parseXml, seriesGroups } from '../bench/xml-check.js';
import { InvalidArgumentError } from '../errors.js';
import { largestContextWithin, predictMemory } from '../model/memory.js';
import { PRESETS } from '../model/presets.js';
import { generateCheckpoint, TINY_CONFIGS } from '../model/tiny.js';
import { command } from './mem.js';
import { runCapturingStdout } from './test-helpers.js';

const root = mkdtempSync(join(tmpdir(), 'qwen35-mem-cli-'));
const tiny = join(root, 'tiny-dense');
beforeAll(() => generateCheckpoint(TINY_CONFIGS.dense, tiny, { seed: 5 }));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Runs the command and returns what it printed on stdout. */
const run = (...args: string[]): Promise<string> => runCapturingStdout(command, args);

interface ReportJson {
  schema: string;
  version: number;
  settings: { context: number; prefillChunk: number; kvFormat: string };
  categories: Array<{
    category: string;
    predictedBytes: number;
    measuredBytes: number | null;
    errorPercent: number | null;
    parts?: Array<{ part: string; predictedBytes: number; measuredBytes: number | null }>;
  }>;
  total: { predictedBytes: number; measuredBytes: number | null; measuredPeakBytes?: number };
  kvCache: { layers: number; of: number; bytes: number; bytesIfEveryLayer: number };
  budget?: { bytes: number; fits: boolean; largestContext: number };
}

const seriesNames = (svg: string) => seriesGroups(parseXml(svg)).map((g) => g.attrs['data-series']);

describe('prediction from a preset (nothing loaded)', () => {
  it('--json: the versioned report equals the predictor, byte for byte', async () => {
    const r = JSON.parse(await run('--preset', '0.8B', '--context', '4099', '--format', 'q4', '--prefill-chunk', '77', '--json')) as ReportJson;
    const p = predictMemory(PRESETS['0.8B']!, { weightFormat: 'q4', maxContext: 4099, prefillChunk: 77 });
    expect([r.schema, r.version]).toEqual(['qwen35-mem', 1]);
    expect(r.settings).toMatchObject({ context: 4099, prefillChunk: 77, kvFormat: 'f16' });
    expect(Object.fromEntries(r.categories.map((c) => [c.category, c.predictedBytes]))).toEqual(p.byCategory);
    expect(r.categories.every((c) => c.measuredBytes === null && c.errorPercent === null)).toBe(true);
    expect(r.total).toEqual({ predictedBytes: p.total, measuredBytes: null, errorPercent: null });
    expect(r.kvCache).toMatchObject({ layers: 6, of: 24, bytes: 6 * 2 * 2 * 256 * 4099 * 2, bytesIfEveryLayer: 24 * 2 * 2 * 256 * 4099 * 2 });
  });

  it('--budget answers "will it fit" and gives the longest context that does', async () => {
    const r = JSON.parse(await run('--preset', '9B', '--context', '262144', '--budget', '6GiB', '--json')) as ReportJson;
    const want = largestContextWithin(PRESETS['9B']!, 6 * 2 ** 30, { weightFormat: 'q4' });
    expect(r.budget).toEqual({ bytes: 6 * 2 ** 30, fits: false, largestContext: want });
    expect(want).toBeGreaterThan(0);
    const text = await run('--preset', '0.8B', '--budget', '1GiB');
    expect(text).toMatch(/budget 1\.00 GiB: fits \(.* needed\); the longest context within it is [\d,]+ tokens/);
  });

  it('--plot: predicted total, each non-empty category and the every-layer KV total; no measured points', async () => {
    const file = join(root, 'preset.svg');
    await run('--preset', '2B', '--plot', file);
    const names = seriesNames(readFileSync(file, 'utf8'));
    expect(names).toEqual([
      'predicted total',
      'total if KV were on every layer',
      'predicted weights',
      'predicted kv-cache',
      'predicted linear-state',
      'predicted activations',
      'predicted staging',
      'predicted other',
    ]);
  });
});

describe('--table', () => {
  it('JSON: every preset × format, and every published figure with its reconstruction', async () => {
    const t = JSON.parse(await run('--table', '--json')) as { schema: string; rows: unknown[]; published: Array<{ value: number; reconstruction: { bytes: number } }> };
    expect(t.schema).toBe('qwen35-mem-table');
    expect(t.rows).toHaveLength(Object.keys(PRESETS).length * 3);
    expect(t.published.map((p) => p.value)).toEqual(expect.arrayContaining([58.48, 130.36, 1629.49, 1894.19, 2245.44, 3867.82, 6433.01]));
  });

  it('through the bin with stdout as a pipe, the whole JSON arrives (more than the 64 KiB a pipe buffers)', async () => {
    // A slow reader: one byte as soon as the bin writes, then a pause, so the pipe is full when the
    // bin is done. The bin must wait for stdout to drain before it exits (exiting at once cut this at 65,536 bytes).
    const slowReader = 'node bin/qwen35.js mem --table --json | { dd bs=1 count=1 2>/dev/null; sleep 1; cat; }';
    const { stdout } = await promisify(execFile)('sh', ['-c', slowReader], { maxBuffer: 64 * 2 ** 20 });
    expect(stdout.length).toBeGreaterThan(2 ** 16);
    expect(JSON.parse(stdout)).toEqual(JSON.parse(await run('--table', '--json')));
  });

  it('Markdown: both tables and the reasons', async () => {
    const md = await run('--table');
    expect(md).toContain('| Qwen3-Next-80B-A3B | 79.67 B | q4 |');
    expect(md).toContain('| a public VRAM calculator (as quoted in the task brief) | Qwen3.5-27B bf16, 262,144 tokens | 130.36 GB |');
    expect(md).toMatch(/only the 16 full-attention layers of 64 hold one/);
  });
});

describe('a loaded model', () => {
  it('--json: measured equals predicted; --plot --measure draws the sessions it loaded', async () => {
    const file = join(root, 'tiny.svg');
    const r = JSON.parse(await run('--model', tiny, '--context', '300', '--prefill-chunk', '33', '--json', '--plot', file, '--measure', '100,300')) as ReportJson;
    for (const c of r.categories) {
      expect(c.measuredBytes, c.category).toBe(c.predictedBytes);
      expect(c.errorPercent).toBe(0);
    }
    expect(r.total.measuredBytes).toBe(r.total.predictedBytes);
    expect(r.total.measuredPeakBytes).toBe(r.total.measuredBytes); // nothing transient during the load
    const parts = r.categories.find((c) => c.category === 'linear-state')!.parts!;
    expect(parts.map((p) => p.part)).toEqual(['conv', 'recurrent']);
    for (const p of parts) expect(p.measuredBytes, p.part).toBe(p.predictedBytes);
    const svg = parseXml(readFileSync(file, 'utf8'));
    const measured = seriesGroups(svg).find((g) => g.attrs['data-series'] === 'measured total')!;
    expect(findAll(measured, (n) => n.name === 'circle')).toHaveLength(2); // the live session (300) and one at 100
  });
});

describe('errors', () => {
  it.each([
    [['--preset', '1B'], /unknown preset "1B"; presets: 0\.8B, 2B/],
    [['--preset', '0.8B', '--model', 'x'], /either --model .* or --preset/],
    [['--preset', '0.8B', '--measure', '100'], /--measure needs a loaded model/],
    [['--table', '--preset', '0.8B'], /--table covers every preset/],
    [['--preset', '0.8B', '--budget', 'lots'], /--budget must be a positive size/],
    [['--preset', '0.8B', '--context', '300000'], /maxContext must be an integer in \[1, 262144\]/],
    [['--preset', '0.8B', '--format', 'q3'], /unknown weight format "q3"/],
  ])('%j', async (args, message) => {
    await expect(command.run(args)).rejects.toThrow(InvalidArgumentError);
    await expect(command.run(args)).rejects.toThrow(message);
  });
});
