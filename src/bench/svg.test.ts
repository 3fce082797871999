/**
 * The SVG writer: output is parsed back with a small strict XML parser (xml-check.ts: every tag
 * closed in order, attributes quoted, only the five XML entities) and checked for the expected series,
 * their geometry (exact pixel positions computed here from the axis ranges), escaping and errors.
 * Pixel coordinates are written with 2 decimals, so positions are compared to within 0.01 px.
 */
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../errors.js';
import { barChart, lineChart } from './svg.js';
import { findAll as all, parseXml, pathPoints, seriesGroups } from './xml-check.js';

describe('lineChart', () => {
  const spec = {
    title: 'Memory <vs> context & "format"',
    x: { label: 'context (tokens)', scale: 'log2' as const, min: 256, max: 4096 },
    y: { label: 'bytes', min: 0, max: 1000 },
    series: [
      { name: 'total', points: [[4096, 900], [256, 100], [1000, 500]] as Array<[number, number]> },
      { name: 'naive', points: [[256, 0], [4096, 1000]] as Array<[number, number]>, style: 'dashed' as const },
      { name: 'measured', points: [[512, 250], [2048, 750]] as Array<[number, number]>, style: 'points' as const },
    ],
    width: 700,
    height: 500,
  };
  const svg = parseXml(lineChart(spec));

  it('is a well-formed standalone SVG with the escaped title', () => {
    expect(svg.name).toBe('svg');
    expect(svg.attrs.xmlns).toBe('http://www.w3.org/2000/svg');
    expect(svg.attrs.viewBox).toBe('0 0 700 500');
    expect(all(svg, (n) => n.name === 'title')[0]!.text).toBe(spec.title);
  });

  it('has one group per series, in order, with its style', () => {
    const groups = seriesGroups(svg);
    expect(groups.map((g) => g.attrs['data-series'])).toEqual(['total', 'naive', 'measured']);
    expect(groups.map((g) => g.attrs['data-style'])).toEqual(['line', 'dashed', 'points']);
    expect(groups[1]!.children[0]!.attrs['stroke-dasharray']).toBeDefined();
    expect(groups[2]!.children.map((c) => c.name)).toEqual(['circle', 'circle']);
  });

  it('places points on the log and linear axes (sorted by x)', () => {
    // Plot box: x 80..(700 − legend 60 + 7 px × 8 chars of "measured") = 584, y (500 − 56) = 444..40.
    const px = (x: number) => 80 + ((Math.log2(x) - 8) / (12 - 8)) * (584 - 80);
    const py = (y: number) => 444 + (y / 1000) * (40 - 444);
    const d = pathPoints(seriesGroups(svg)[0]!.children[0]!.attrs.d!);
    const expected = [[256, 100], [1000, 500], [4096, 900]].map(([x, y]) => [px(x!), py(y!)]);
    d.forEach((p, i) => {
      expect(p[0]).toBeCloseTo(expected[i]![0]!, 2);
      expect(p[1]).toBeCloseTo(expected[i]![1]!, 2);
    });
    const circles = seriesGroups(svg)[2]!.children;
    expect(Number(circles[0]!.attrs.cx)).toBeCloseTo(px(512), 2);
    expect(Number(circles[1]!.attrs.cy)).toBeCloseTo(py(750), 2);
  });

  it('labels log ticks at each power of the base and lists every series in the legend', () => {
    const xTicks = all(svg, (n) => n.name === 'g' && n.attrs.class === 'axis x-axis')[0]!.children.filter((c) => c.name === 'text');
    expect(xTicks.map((t) => t.text)).toEqual(['256', '512', '1.02k', '2.05k', '4.1k', 'context (tokens)']);
    const legend = all(svg, (n) => n.name === 'g' && n.attrs.class === 'legend')[0]!;
    expect(legend.children.filter((c) => c.name === 'text').map((t) => t.text)).toEqual(['total', 'naive', 'measured']);
  });

  it('rejects empty, non-finite and non-positive log data with typed errors', () => {
    expect(() => lineChart({ ...spec, series: [] })).toThrow(InvalidArgumentError);
    expect(() => lineChart({ ...spec, series: [{ name: 'a', points: [[1, NaN]] }] })).toThrow(/finite/);
    expect(() => lineChart({ ...spec, x: { label: 'x', scale: 'log10' }, series: [{ name: 'a', points: [[0, 1]] }] })).toThrow(/> 0/);
  });
});

describe('barChart', () => {
  const categories = ['0.8B', '2B', '9B'];
  const series = [
    { name: 'weights', values: [3, 5, 7] },
    { name: 'kv-cache', values: [1, 2, 3] },
  ];

  it('stacks series per category: heights add up to the totals', () => {
    const svg = parseXml(barChart({ title: 'stacked', categories, series, y: { label: 'GiB', min: 0, max: 10 }, stacked: true, xLabel: 'model' }));
    const groups = seriesGroups(svg);
    expect(groups.map((g) => g.attrs['data-series'])).toEqual(['weights', 'kv-cache']);
    const unit = (520 - 56 - 40) / 10; // default height 520: plot box y 464..40
    groups.forEach((g, s) => {
      expect(g.children).toHaveLength(3);
      g.children.forEach((rect, c) => expect(Number(rect.attrs.height)).toBeCloseTo(series[s]!.values[c]! * unit, 2));
    });
    // The kv-cache bar sits on top of the weights bar.
    const w = groups[0]!.children[2]!;
    const kv = groups[1]!.children[2]!;
    expect(Number(kv.attrs.y) + Number(kv.attrs.height)).toBeCloseTo(Number(w.attrs.y), 2);
    const xTexts = all(svg, (n) => n.name === 'g' && n.attrs.class === 'axis x-axis')[0]!.children.filter((c) => c.name === 'text');
    expect(xTexts.map((t) => t.text)).toEqual([...categories, 'model']);
  });

  it('places grouped bars side by side and rejects a series of the wrong length', () => {
    const svg = parseXml(barChart({ title: 'grouped', categories, series, y: { label: 'GiB' } }));
    const [a, b] = seriesGroups(svg).map((g) => g.children[0]!);
    expect(Number(b!.attrs.x)).toBeCloseTo(Number(a!.attrs.x) + Number(a!.attrs.width), 2);
    expect(() => barChart({ title: 't', categories, series: [{ name: 'x', values: [1] }], y: { label: '' } })).toThrow(/1 values for 3 categories/);
  });
});

describe('the XML check used above', () => {
  it('rejects what is not well-formed', () => {
    for (const bad of ['<a><b></a></b>', '<a x=1/>', '<a>&nbsp;</a>', '<a/><b/>', '<a x="1" x="2"/>', '<a>1 > 0</a>', '<a>']) {
      expect(() => parseXml(bad), bad).toThrow();
    }
    expect(parseXml('<a x="&quot;"><b/>t&amp;</a>')).toEqual({ name: 'a', attrs: { x: '"' }, text: 't&', children: [{ name: 'b', attrs: {}, children: [], text: '' }] });
  });
});
