/**
 * The memory-vs-context plot as an SVG string: predicted bytes per category stacked over a
 * log2 context axis, a dashed line at the chosen context and, once loaded, the measured total
 * there as a dot. (Written for the demo: no shared SVG chart writer existed in src/bench yet.)
 */
import type { MemoryCategory } from '../../src/gpu/allocator.js';
import { MEMORY_CATEGORIES } from '../../src/gpu/allocator.js';
import type { MemoryCurve } from '../memory-curve.js';
import { formatBytes } from './format.js';

export const CATEGORY_COLORS: Record<MemoryCategory, string> = {
  weights: '#4c6ef5',
  'kv-cache': '#f59f00',
  'linear-state': '#37b24d',
  activations: '#ae3ec9',
  staging: '#868e96',
  other: '#ced4da',
};

const W = 360;
const H = 230;
const M = { left: 58, right: 12, top: 12, bottom: 40 };

/** A round step giving about `count` ticks up to `max`. */
function tickStep(max: number, count: number): number {
  const raw = max / count;
  const mag = 2 ** Math.floor(Math.log2(raw));
  return [1, 2, 4, 8].map((m) => m * mag).find((s) => s >= raw) ?? 8 * mag;
}

const contextLabel = (c: number): string => (c >= 1024 && c % 1024 === 0 ? `${c / 1024}k` : String(c));
const escapeText = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

export function memoryChartSvg(curve: MemoryCurve, measuredTotal?: number): string {
  const n = curve.contexts.length;
  const totals = curve.contexts.map((_, i) => MEMORY_CATEGORIES.reduce((a, c) => a + curve.byCategory[c][i]!, 0));
  const yMax = Math.max(...totals, measuredTotal ?? 0) * 1.08 || 1;
  const lx0 = Math.log2(curve.contexts[0]!);
  const lx1 = Math.max(Math.log2(curve.contexts[n - 1]!), lx0 + 1);
  const x = (c: number): number => M.left + ((Math.log2(c) - lx0) / (lx1 - lx0)) * (W - M.left - M.right);
  const y = (b: number): number => H - M.bottom - (b / yMax) * (H - M.top - M.bottom);
  const out: string[] = [];

  const step = tickStep(yMax, 4);
  for (let b = 0; b <= yMax; b += step) {
    out.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${y(b)}" y2="${y(b)}" stroke="#e9ecef"/>`);
    out.push(`<text x="${M.left - 5}" y="${y(b) + 4}" text-anchor="end">${b === 0 ? '0' : formatBytes(b)}</text>`);
  }
  const every = Math.ceil(n / 7);
  curve.contexts.forEach((c, i) => {
    if (i % every === 0 || i === n - 1) out.push(`<text x="${x(c)}" y="${H - M.bottom + 15}" text-anchor="middle">${contextLabel(c)}</text>`);
  });
  out.push(`<text x="${(M.left + W - M.right) / 2}" y="${H - 6}" text-anchor="middle">context length (tokens, log scale)</text>`);

  const below = new Array<number>(n).fill(0);
  for (const cat of MEMORY_CATEGORIES) {
    const above = below.map((v, i) => v + curve.byCategory[cat][i]!);
    if (above.some((v, i) => v > below[i]!)) {
      const top = curve.contexts.map((c, i) => `${x(c).toFixed(1)},${y(above[i]!).toFixed(1)}`);
      const bottom = curve.contexts.map((c, i) => `${x(c).toFixed(1)},${y(below[i]!).toFixed(1)}`).reverse();
      out.push(`<polygon points="${[...top, ...bottom].join(' ')}" fill="${CATEGORY_COLORS[cat]}" fill-opacity="0.85"><title>${cat}</title></polygon>`);
    }
    above.forEach((v, i) => (below[i] = v));
  }

  const cx = x(curve.chosen);
  out.push(`<line x1="${cx}" x2="${cx}" y1="${M.top}" y2="${H - M.bottom}" stroke="#1d2330" stroke-dasharray="4 3"/>`);
  const anchor = cx > W - 90 ? 'end' : 'start';
  out.push(`<text x="${cx + (anchor === 'end' ? -4 : 4)}" y="${M.top + 10}" text-anchor="${anchor}">${escapeText(`context ${contextLabel(curve.chosen)}`)}</text>`);
  if (measuredTotal !== undefined) {
    out.push(`<circle cx="${cx}" cy="${y(measuredTotal)}" r="4" fill="#c92a2a"><title>measured ${formatBytes(measuredTotal)}</title></circle>`);
  }
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" font-size="10" font-family="system-ui, sans-serif" fill="#495057" ` +
    `role="img" aria-label="Predicted GPU memory per category against context length">${out.join('')}</svg>`
  );
}
