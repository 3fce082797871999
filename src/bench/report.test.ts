/**
 * The Markdown and SVG writers on hand-made results (test-fixture.ts: decode [40, 50, 60] tok/s at
 * 1 GB per token against a 100 GB/s probe, so the expected cells follow by hand: median 50 tok/s →
 * 50 GB/s effective → 50% of the probe). SVG output is parsed back with the strict XML checker and
 * its series counted. Software results must say so in the report and in every plot title.
 */
import { describe, expect, it } from 'vitest';
import { benchMarkdown, compareMarkdown, fmt, table } from './markdown.js';
import { benchPlots, decodePlot, rooflinePlot } from './plots.js';
import { pairedRow } from './compare.js';
import { fakeResult } from './test-fixture.js';
import { findAll, parseXml, seriesGroups } from './xml-check.js';

/** The cells of the first Markdown table row whose first cells are `start`. */
function row(markdown: string, ...start: string[]): string[] {
  const line = markdown.split('\n').find((l) => l.startsWith(`| ${start.join(' | ')} |`));
  if (!line) throw new Error(`no row starting with ${start.join(' | ')}`);
  return line.slice(2, -2).split(' | ');
}

describe('number and table formatting', () => {
  it('three significant digits, thousands separated', () => {
    expect([fmt(0), fmt(12.345), fmt(0.012345), fmt(999.6), fmt(1234.5), fmt(2e6)]).toEqual(['0', '12.3', '0.0123', '1000', '1,235', '2,000,000']);
  });

  it('escapes pipes in cells', () => {
    expect(table(['a', 'b'], [['x|y', '1']])).toBe('| a | b |\n|---|---|\n| x\\|y | 1 |');
  });
});

describe('benchMarkdown', () => {
  const hw = benchMarkdown(fakeResult());
  const sw = benchMarkdown(fakeResult({ software: true }));

  it('headline: tok/s, bytes per token (1e9 B = 953.7 MiB), effective GB/s and % of the probe', () => {
    expect(row(hw, 'tiny q4', '0')).toEqual(['tiny q4', '0', '50', '953.7 MiB', '50', '100', '**50%**']);
    expect(row(hw, 'tiny q4', '1024')).toEqual(['tiny q4', '1024', '25', '953.7 MiB', '25', '100', '**25%**']);
  });

  it('prefill/TTFT, decode spread, DeltaNet speedup, parameters and skipped points', () => {
    // Prefill [100, 200, 300] tok/s over 128 tokens → TTFT 1280, 640, 426.7 ms.
    expect(row(hw, 'tiny q4', '128')).toEqual(['tiny q4', '128', '200', '100–300', '640', '427–1,280']);
    // Decode at context 0: [40, 50, 60] → IQR 45–55, ms/token median 1000/50 = 20.
    expect(row(hw, 'tiny q4', '0', '16')).toEqual(['tiny q4', '0', '16', '50', '45–55', '40–60', '20', 'n/a']); // a record without hostWaits
    expect(row(hw, 'tiny q4 (whole prefill)')).toEqual(['tiny q4 (whole prefill)', '512', '15', '50', '3.5× (IQR 3.25–3.75)']);
    expect(hw).toContain('1 warm-up + 3 timed runs per point');
    expect(hw).toContain('- tiny decode context 4096: needs a context of 4226 tokens');
    expect(hw).toContain('Bandwidth probe: 100 GB/s');
  });

  it('a software adapter is flagged at the top; a hardware one is not', () => {
    expect(sw.split('\n')[2]).toMatch(/^> \*\*Warning: software adapter .*not GPU speed/);
    expect(sw).toContain('**software (CPU), not GPU speed**');
    expect(hw).not.toMatch(/software/i);
  });

  it('compareMarkdown lists B/A with its spread', () => {
    const md = compareMarkdown({ schema: 'qwen35-bench-compare/1', createdAt: '', mode: 'interleaved', a: 'A', b: 'B', rows: [pairedRow('decode', [10, 20, 30], [15, 20, 60])], unmatched: ['x'] });
    expect(row(md, 'decode')).toEqual(['decode', '20', '20', '**1.5**', '1.25–1.75', 'higher']);
    expect(md).toContain('- x');
  });
});

describe('plots', () => {
  it('decode tokens/s vs context: one line per model through its medians', () => {
    const svg = parseXml(decodePlot(fakeResult())!);
    const groups = seriesGroups(svg);
    expect(groups.map((g) => g.attrs['data-series'])).toEqual(['tiny q4']);
    expect(findAll(groups[0]!, (n) => n.name === 'path')[0]!.attrs.d!.match(/[ML]/g)).toHaveLength(2);
  });

  it('roofline: effective GB/s beside the probe, one bar each per decode point; without a probe, one series', () => {
    const r = fakeResult();
    const svg = parseXml(rooflinePlot(r)!);
    const groups = seriesGroups(svg);
    expect(groups.map((g) => g.attrs['data-series'])).toEqual(['effective GB/s (decode)', 'probe GB/s (streaming read)']);
    expect(groups.map((g) => g.children.filter((c) => c.name === 'rect').length)).toEqual([2, 2]);
    // Bar heights are proportional to value: the probe bar (100) is twice the context-0 bar (50).
    const [eff, probe] = groups.map((g) => g.children.map((c) => Number(c.attrs.height)));
    expect(probe![0]! / eff![0]!).toBeCloseTo(2, 2);
    delete r.adapter.bandwidth;
    expect(seriesGroups(parseXml(rooflinePlot(r)!))).toHaveLength(1);
  });

  it('every plot title names the adapter and marks software results', () => {
    const plots = benchPlots(fakeResult({ software: true }));
    expect(Object.keys(plots)).toEqual(['decode-vs-context.svg', 'prefill-vs-length.svg', 'roofline.svg']);
    for (const svg of Object.values(plots)) {
      expect(findAll(parseXml(svg), (n) => n.name === 'title')[0]!.text).toContain('SOFTWARE adapter: CPU, not GPU speed');
    }
    const empty = fakeResult();
    empty.models = [];
    expect(benchPlots(empty)).toEqual({});
  });
});
