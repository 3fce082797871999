/**
 * The Benchmark panel: the plan overrides (blank fields keep runBenchmark's plan for the adapter),
 * progress while it runs, then the key figures (prefill and decode tok/s, time to first token,
 * % of the bandwidth probe), the full bench.md report, a plot (tok/s vs context, or the roofline), and bench.json / bench.md
 * to download — the files `qwen35 bench` writes.
 */
import type { BenchResult } from '../../src/index.js';
import type { BenchSettings, BenchView } from '../protocol.js';
import { byId, el } from './dom.js';
import { formatMs, formatRate } from './format.js';

/** "128, 512" → [128, 512]; blank → undefined (the plan's value). Validation is the harness's. */
function intList(id: string): number[] | undefined {
  const text = byId<HTMLInputElement>(id).value.trim();
  return text ? text.split(/[\s,]+/).map(Number) : undefined;
}

function intField(id: string): number | undefined {
  const v = byId<HTMLInputElement>(id).valueAsNumber;
  return Number.isFinite(v) ? v : undefined;
}

export function readBenchSettings(): BenchSettings {
  return {
    repetitions: intField('bench-reps'),
    warmup: intField('bench-warmup'),
    prefillLengths: intList('bench-prompts'),
    decodeContexts: intList('bench-contexts'),
    decodeTokens: intField('bench-steps'),
    kernels: byId<HTMLInputElement>('bench-kernels').checked,
  };
}

/** idle: no model; ready: can start; running: Cancel instead of Benchmark. */
export function setBenchState(state: 'idle' | 'ready' | 'running'): void {
  byId<HTMLButtonElement>('bench').disabled = state !== 'ready';
  byId('cancel-bench').hidden = state !== 'running';
}

export function showBenchProgress(text: string): void {
  byId('bench-status').textContent = text;
}

function figures(r: BenchResult): HTMLTableElement {
  const rows: [string, string, string][] = [];
  for (const m of r.models) {
    for (const p of m.prefill) rows.push([`prefill ${p.promptTokens} tokens`, formatRate(p.tokensPerSecond.median), `first token ${formatMs(p.timeToFirstTokenMs.median)}`]);
    for (const d of m.decode) {
      const probe = d.percentOfProbe === undefined ? '' : ` · ${d.percentOfProbe.toFixed(1)}% of probe`;
      rows.push([`decode ${d.tokens} after ${d.context}`, formatRate(d.tokensPerSecond.median), `${d.effectiveGBps.toPrecision(3)} GB/s${probe}`]);
    }
  }
  const tr = (cells: string[], kind: 'td' | 'th'): HTMLTableRowElement => el('tr', {}, ...cells.map((c) => el(kind, { textContent: c })));
  return el('table', { className: 'bench-figures' }, el('thead', {}, tr(['scenario', 'median', 'detail'], 'th')), el('tbody', {}, ...rows.map((r) => tr(r, 'td'))));
}

let downloads: string[] = [];

function download(name: string, text: string, type: string): HTMLAnchorElement {
  const href = URL.createObjectURL(new Blob([text], { type }));
  downloads.push(href);
  return el('a', { href, download: name, className: 'download', textContent: name });
}

export function showBenchResult(view: BenchView | undefined): void {
  for (const url of downloads) URL.revokeObjectURL(url);
  downloads = [];
  const box = byId('bench-result');
  box.hidden = !view;
  if (!view) return box.replaceChildren();
  const { result } = view;
  const env = result.environment;
  const adapter = el('p', {
    className: env.adapter.isSoftware ? 'warning' : 'muted',
    textContent: `${env.adapter.name}: ${env.adapter.isSoftware ? 'software adapter — CPU numbers, not GPU speed' : 'hardware adapter'}` +
      (view.reduced ? ' · quick plan (software adapter)' : ''),
  });
  adapter.dataset.adapterKind = env.adapter.kind;
  const probe = result.adapter.bandwidth ? el('p', { textContent: `Bandwidth probe: ${result.adapter.bandwidth.gbps.toPrecision(3)} GB/s` }) : undefined;
  // tok/s vs context needs two contexts to draw a line; with one, the roofline bars say more.
  const lines = result.models.some((m) => m.decode.length > 1);
  const plot = view.plots[lines ? 'decode-vs-context.svg' : 'roofline.svg'];
  const plotBox = plot ? el('div', { className: 'plot bench-plot' }) : undefined;
  if (plotBox) plotBox.innerHTML = plot!; // a complete SVG document from the chart writer (text escaped)
  const report = el('details', {}, el('summary', { textContent: 'Full report (bench.md)' }), el('pre', { className: 'bench-report', textContent: view.markdown }));
  const files = el('div', { className: 'buttons' }, download('bench.json', JSON.stringify(result, null, 2) + '\n', 'application/json'), download('bench.md', view.markdown, 'text/markdown'));
  box.replaceChildren(...[adapter, figures(result), probe, plotBox, report, files].filter((n) => n !== undefined));
}
