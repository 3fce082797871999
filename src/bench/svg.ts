/**
 * A small hand-written SVG chart writer (no plotting dependency): line charts (linear or log
 * axes, solid / dashed lines or point markers) and grouped or stacked bar charts. Output is a
 * standalone SVG document; every series is a `<g class="series" data-series="NAME">` so tests and
 * scripts can find it again. Used by `qwen35 mem --plot` and reusable by the benchmark reports.
 */
import { InvalidArgumentError } from '../errors.js';

export type AxisScale = 'linear' | 'log2' | 'log10';

export interface Axis {
  label: string;
  scale?: AxisScale;
  /** Tick label text (default: a compact number). */
  format?: (value: number) => string;
  /** Range (default: from the data; a linear axis starts at 0 when all data are ≥ 0). */
  min?: number;
  max?: number;
  /** Linear axes: ticks fall on round multiples of this unit (e.g. 2^30 for GiB); default 1. */
  unit?: number;
}

export interface LineSeries {
  name: string;
  points: ReadonlyArray<readonly [x: number, y: number]>;
  /** 'line' (default), 'dashed', or 'points' (markers only, e.g. measurements). */
  style?: 'line' | 'dashed' | 'points';
  color?: string;
}

export interface LineChartSpec {
  title: string;
  x: Axis;
  y: Axis;
  series: LineSeries[];
  width?: number;
  height?: number;
}

export interface BarSeries {
  name: string;
  /** One value per category. */
  values: readonly number[];
  color?: string;
}

export interface BarChartSpec {
  title: string;
  categories: readonly string[];
  series: BarSeries[];
  y: Axis;
  /** Label under the categories. */
  xLabel?: string;
  /** Stack the series in each category instead of placing them side by side. */
  stacked?: boolean;
  width?: number;
  height?: number;
}

/** Colour-blind-safe palette (Okabe–Ito), cycled. */
export const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000', '#F0E442'];

const MARGIN = { left: 80, top: 40, bottom: 56 };

/** Room for the legend: swatch + the longest name at ~7 px per character (12 px sans-serif). */
const legendWidth = (names: readonly string[]): number => 60 + 7 * Math.max(0, ...names.map((n) => n.length));

export const escapeXml = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');

const num = (v: number): string => (Number.isInteger(v) ? String(v) : v.toFixed(2));

export const compactNumber = (v: number): string => {
  const a = Math.abs(v);
  if (a >= 1e9) return `${+(v / 1e9).toPrecision(3)}G`;
  if (a >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e3) return `${+(v / 1e3).toPrecision(3)}k`;
  return String(+v.toPrecision(3));
};

interface Scale {
  map(v: number): number;
  ticks: number[];
}

const LOG_BASE: Record<Exclude<AxisScale, 'linear'>, number> = { log2: 2, log10: 10 };

/** 1, 2, 5 × 10^k steps giving about `count` ticks over [min, max]. */
function niceTicks(min: number, max: number, count = 6): number[] {
  const raw = (max - min) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const ticks: number[] = [];
  for (let t = Math.ceil(min / step) * step; t <= max + step * 1e-9; t += step) ticks.push(+t.toPrecision(12));
  return ticks;
}

function makeScale(axis: Axis, values: number[], from: number, to: number): Scale {
  const scale = axis.scale ?? 'linear';
  if (scale === 'linear') {
    let min = axis.min ?? Math.min(...values);
    let max = axis.max ?? Math.max(...values);
    if (axis.min === undefined && min >= 0) min = 0;
    if (max === min) max = min + 1;
    const unit = axis.unit ?? 1;
    const ticks = niceTicks(min / unit, max / unit).map((t) => t * unit);
    if (axis.max === undefined) max = Math.max(max, ticks[ticks.length - 1]!);
    return { map: (v) => from + ((v - min) / (max - min)) * (to - from), ticks: ticks.filter((t) => t >= min && t <= max) };
  }
  const base = LOG_BASE[scale];
  if (values.some((v) => !(v > 0))) throw new InvalidArgumentError(`axis "${axis.label}": a ${scale} axis needs values > 0`);
  const lo = Math.log(axis.min ?? Math.min(...values)) / Math.log(base);
  let hi = Math.log(axis.max ?? Math.max(...values)) / Math.log(base);
  if (hi === lo) hi = lo + 1;
  const ticks: number[] = [];
  for (let e = Math.ceil(lo - 1e-9); e <= hi + 1e-9; e++) ticks.push(base ** e);
  return { map: (v) => from + ((Math.log(v) / Math.log(base) - lo) / (hi - lo)) * (to - from), ticks };
}

function checkFinite(what: string, values: number[]): void {
  if (values.length === 0) throw new InvalidArgumentError(`${what}: no data to plot`);
  const bad = values.find((v) => !Number.isFinite(v));
  if (bad !== undefined) throw new InvalidArgumentError(`${what}: values must be finite numbers, found ${bad}`);
}

/** Document, title, plot frame, gridlines with tick labels, axis labels and the legend. */
function frame(
  spec: { title: string; width?: number; height?: number },
  x: { axis: Axis; scale: Scale; labels?: readonly string[] },
  y: { axis: Axis; scale: Scale },
  legend: Array<{ name: string; color: string; dashed?: boolean }>,
  body: string,
): string {
  const w = spec.width ?? 900;
  const h = spec.height ?? 520;
  const fmtX = x.axis.format ?? compactNumber;
  const fmtY = y.axis.format ?? compactNumber;
  const bottom = h - MARGIN.bottom;
  const right = w - legendWidth(legend.map((l) => l.name));
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" font-family="sans-serif" font-size="12">`,
    `<title>${escapeXml(spec.title)}</title>`,
    `<rect width="${w}" height="${h}" fill="#ffffff"/>`,
    `<text class="chart-title" x="${w / 2}" y="24" text-anchor="middle" font-size="16">${escapeXml(spec.title)}</text>`,
    `<g class="axis y-axis">`,
    ...y.scale.ticks.map((t) => {
      const py = num(y.scale.map(t));
      return `<line x1="${MARGIN.left}" x2="${right}" y1="${py}" y2="${py}" stroke="#e0e0e0"/><text x="${MARGIN.left - 6}" y="${py}" text-anchor="end" dominant-baseline="middle">${escapeXml(fmtY(t))}</text>`;
    }),
    `<text x="18" y="${(MARGIN.top + bottom) / 2}" transform="rotate(-90 18 ${(MARGIN.top + bottom) / 2})" text-anchor="middle">${escapeXml(y.axis.label)}</text>`,
    `</g>`,
    `<g class="axis x-axis">`,
    ...x.scale.ticks.map((t, i) => {
      const px = num(x.scale.map(t));
      const text = x.labels ? x.labels[i]! : fmtX(t);
      return `<line x1="${px}" x2="${px}" y1="${bottom}" y2="${bottom + 5}" stroke="#333333"/><text x="${px}" y="${bottom + 18}" text-anchor="middle">${escapeXml(text)}</text>`;
    }),
    `<text x="${(MARGIN.left + right) / 2}" y="${h - 12}" text-anchor="middle">${escapeXml(x.axis.label)}</text>`,
    `</g>`,
    `<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${right - MARGIN.left}" height="${bottom - MARGIN.top}" fill="none" stroke="#333333"/>`,
    body,
    `<g class="legend">`,
    ...legend.map((item, i) => {
      const ly = MARGIN.top + 10 + i * 20;
      const dash = item.dashed ? ' stroke-dasharray="6 4"' : '';
      return `<line x1="${right + 12}" x2="${right + 36}" y1="${ly}" y2="${ly}" stroke="${item.color}" stroke-width="3"${dash}/><text x="${right + 42}" y="${ly}" dominant-baseline="middle">${escapeXml(item.name)}</text>`;
    }),
    `</g>`,
    `</svg>`,
  ];
  return out.join('\n') + '\n';
}

const plotBox = (spec: { width?: number; height?: number }, names: readonly string[]) => ({
  left: MARGIN.left,
  right: (spec.width ?? 900) - legendWidth(names),
  top: MARGIN.top,
  bottom: (spec.height ?? 520) - MARGIN.bottom,
});

/** A line chart: one `<g class="series">` per series (path for lines, circles for points). */
export function lineChart(spec: LineChartSpec): string {
  const xs = spec.series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = spec.series.flatMap((s) => s.points.map((p) => p[1]));
  checkFinite(`${spec.title}: x`, xs);
  checkFinite(`${spec.title}: y`, ys);
  const box = plotBox(spec, spec.series.map((s) => s.name));
  const xScale = makeScale(spec.x, xs, box.left, box.right);
  const yScale = makeScale(spec.y, ys, box.bottom, box.top);
  const legend = spec.series.map((s, i) => ({ name: s.name, color: s.color ?? PALETTE[i % PALETTE.length]!, dashed: s.style === 'dashed' }));
  const body = spec.series.map((s, i) => {
    const color = legend[i]!.color;
    const pts = [...s.points].sort((a, b) => a[0] - b[0]).map(([x, y]) => [num(xScale.map(x)), num(yScale.map(y))] as const);
    const open = `<g class="series" data-series="${escapeXml(s.name)}" data-style="${s.style ?? 'line'}">`;
    if (s.style === 'points') {
      return `${open}${pts.map(([x, y]) => `<circle cx="${x}" cy="${y}" r="4" fill="${color}"/>`).join('')}</g>`;
    }
    const dash = s.style === 'dashed' ? ' stroke-dasharray="6 4"' : '';
    const d = pts.map(([x, y], j) => `${j === 0 ? 'M' : 'L'}${x} ${y}`).join(' ');
    return `${open}<path d="${d}" fill="none" stroke="${color}" stroke-width="2"${dash}/></g>`;
  });
  return frame(spec, { axis: spec.x, scale: xScale }, { axis: spec.y, scale: yScale }, legend, body.join('\n'));
}

/** A bar chart over categories: series side by side, or stacked when `stacked` is set. */
export function barChart(spec: BarChartSpec): string {
  for (const s of spec.series) {
    if (s.values.length !== spec.categories.length) {
      throw new InvalidArgumentError(`${spec.title}: series "${s.name}" has ${s.values.length} values for ${spec.categories.length} categories`);
    }
  }
  const values = spec.series.flatMap((s) => [...s.values]);
  checkFinite(spec.title, values);
  const totals = spec.categories.map((_, c) => spec.series.reduce((a, s) => a + s.values[c]!, 0));
  const box = plotBox(spec, spec.series.map((s) => s.name));
  const yScale = makeScale(spec.y, spec.stacked ? [0, ...totals] : [0, ...values], box.bottom, box.top);
  const slot = (box.right - box.left) / spec.categories.length;
  const centers = spec.categories.map((_, c) => box.left + slot * (c + 0.5));
  const xScale: Scale = { map: (c) => centers[c]!, ticks: spec.categories.map((_, c) => c) };
  const legend = spec.series.map((s, i) => ({ name: s.name, color: s.color ?? PALETTE[i % PALETTE.length]! }));
  const barWidth = (slot * 0.7) / (spec.stacked ? 1 : spec.series.length);
  const base = spec.categories.map(() => 0);
  const body = spec.series.map((s, i) => {
    const rects = s.values.map((v, c) => {
      const x0 = centers[c]! - slot * 0.35 + (spec.stacked ? 0 : i * barWidth);
      const y0 = spec.stacked ? base[c]! : 0;
      const top = yScale.map(y0 + v);
      const height = yScale.map(y0) - top;
      if (spec.stacked) base[c] = y0 + v;
      return `<rect x="${num(x0)}" y="${num(top)}" width="${num(barWidth)}" height="${num(height)}" fill="${legend[i]!.color}"><title>${escapeXml(`${spec.categories[c]}: ${s.name} ${(spec.y.format ?? compactNumber)(v)}`)}</title></rect>`;
    });
    return `<g class="series" data-series="${escapeXml(s.name)}" data-style="bar">${rects.join('')}</g>`;
  });
  return frame(spec, { axis: { label: spec.xLabel ?? '' }, scale: xScale, labels: spec.categories }, { axis: spec.y, scale: yScale }, legend, body.join('\n'));
}
