/**
 * The memory panel: one bar pair per category — predicted from the config (wide, light) and
 * measured by the allocator (narrow, coloured) with the error in percent, refreshed from the
 * allocator's counters while a reply streams — the totals, and the
 * memory-vs-context plot (an SVG made in the worker by src/cli/mem-plot.ts), shown small in the
 * panel and full size in a dialog when clicked.
 */
import { MEMORY_CATEGORIES, type MemoryByCategory, type MemoryCategory, type MemoryReport } from '../../src/gpu/allocator.js';
import { errorPercent } from '../../src/runtime/memory-report.js';
import type { MemoryComparison } from '../../src/index.js';
import { byId, el } from './dom.js';
import { formatBytes, formatPercent } from './format.js';

const CATEGORY_COLORS: Record<MemoryCategory, string> = {
  weights: '#4c6ef5',
  'kv-cache': '#f59f00',
  'linear-state': '#37b24d',
  activations: '#ae3ec9',
  staging: '#868e96',
  other: '#adb5bd',
};

const totalBytes = (m: MemoryByCategory): number => Object.values(m).reduce((a, b) => a + b, 0);

function swatch(color: string, label: string): HTMLSpanElement {
  const box = el('i');
  box.style.background = color;
  return el('span', {}, box, label);
}

function bar(className: string, bytes: number, scale: number, color?: string): HTMLDivElement {
  const div = el('div', { className });
  div.style.width = bytes > 0 ? `max(2px, ${((bytes / scale) * 100).toFixed(2)}%)` : '0';
  if (color) div.style.background = color;
  return div;
}

/** A comparison with the measured side replaced by a live allocator reading (the prediction does not change). */
export function withReading(memory: MemoryComparison, reading: MemoryReport): MemoryComparison {
  return {
    ...memory,
    measured: reading.live,
    measuredPeak: reading.peak,
    measuredPeakTotal: reading.peakTotal,
    rows: memory.rows.map((r) => ({ ...r, measured: reading.live[r.category], errorPercent: errorPercent(r.predicted, reading.live[r.category]) })),
  };
}

/** `measured` absent: before loading, only the prediction is shown. `live`: a reading taken while a reply streams. */
export function showMemory(predicted: MemoryByCategory, memory?: MemoryComparison, live?: { tokens: number }): void {
  byId('memory-state').textContent = !memory ? 'predicted (not loaded)' : live ? `measured (live, token ${live.tokens}) vs predicted` : 'measured vs predicted';
  const scale = Math.max(...MEMORY_CATEGORIES.map((c) => Math.max(predicted[c], memory?.measured[c] ?? 0)), 1);
  const rows = MEMORY_CATEGORIES.map((c) => {
    const row = memory?.rows.find((r) => r.category === c);
    const numbers = row
      ? `${formatBytes(row.measured)} / ${formatBytes(row.predicted)} (${formatPercent(row.errorPercent)})`
      : formatBytes(predicted[c]);
    return el(
      'div',
      { className: 'memory-row' },
      el('div', { className: 'label' }, el('span', { textContent: c }), el('span', { className: 'numbers', textContent: numbers })),
      el('div', { className: 'track' }, bar('predicted', predicted[c], scale), row ? bar('measured', row.measured, scale, CATEGORY_COLORS[c]) : undefined),
    );
  });
  const total = memory
    ? `Total: ${formatBytes(totalBytes(memory.measured))} measured / ${formatBytes(memory.predicted.total)} predicted · peak ${formatBytes(totalBytes(memory.measuredPeak))}`
    : `Total: ${formatBytes(totalBytes(predicted))} predicted`;
  const legend = el(
    'div',
    { className: 'legend' },
    swatch('#c5d0fa', 'predicted'),
    memory ? swatch(CATEGORY_COLORS.weights, 'measured (allocator)') : undefined,
  );
  byId('memory-bars').replaceChildren(legend, ...rows, el('div', { className: 'memory-total', id: 'memory-total', textContent: total }));
}

/** `svg`: a complete SVG document from the worker (text escaped by the chart writer). */
export function showMemoryPlot(svg: string | undefined): void {
  const thumbnail = byId<HTMLButtonElement>('memory-plot');
  thumbnail.innerHTML = svg ?? '';
  thumbnail.hidden = svg === undefined;
  byId('plot-dialog-body').innerHTML = svg ?? '';
}

/** Opens the plot full size when the thumbnail is clicked. */
export function enablePlotDialog(): void {
  const dialog = byId<HTMLDialogElement>('plot-dialog');
  byId('memory-plot').addEventListener('click', () => dialog.showModal());
  byId('plot-dialog-close').addEventListener('click', () => dialog.close());
  dialog.addEventListener('click', (ev) => ev.target === dialog && dialog.close());
}
