/**
 * Markdown reports of a `qwen35-bench/1` result and of a comparison. Every table states the
 * adapter; a software adapter (CPU) gets a warning line at the top of the report.
 */
import { formatBytes } from '../gpu/allocator.js';
import { adapterLabel } from './environment.js';
import type { BenchResult, CompareResult, DecodePoint, ModelResult } from './schema.js';
import type { Summary } from './stats.js';
import type { KernelProfile } from './profile.js';
import type { MatmulPoint } from './kernels-linear.js';

/** Three significant digits, no exponent for everyday magnitudes. */
export const fmt = (x: number): string => {
  if (!Number.isFinite(x)) return String(x);
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 1000) return Math.round(x).toLocaleString('en-US');
  return String(+x.toPrecision(3));
};

const range = (s: Summary): string => `${fmt(s.min)}–${fmt(s.max)}`;
const iqr = (s: Summary): string => `${fmt(s.q1)}–${fmt(s.q3)}`;

export function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]): string => `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(header), `|${header.map(() => '---').join('|')}|`, ...rows.map(line)].join('\n');
}

const modelId = (m: ModelResult): string => `${m.model.name} ${m.parameters.formatLabel}`;

function headline(r: BenchResult): string {
  const probe = r.adapter.bandwidth?.gbps;
  const rows = r.models.flatMap((m) =>
    m.decode.map((d) => [
      modelId(m),
      String(d.context),
      fmt(d.tokensPerSecond.median),
      formatBytes(d.bytesPerToken.total),
      fmt(d.effectiveGBps),
      probe === undefined ? 'n/a' : fmt(probe),
      d.percentOfProbe === undefined ? 'n/a' : `**${fmt(d.percentOfProbe)}%**`,
    ]),
  );
  if (rows.length === 0) return '';
  return [
    '## Headline: decode bandwidth vs the probe',
    '',
    'Bytes per token = weights touched by one decode step (MoE: the k active experts only; the embedding: one row) + KV rows read + DeltaNet state read and written, from the runtime\'s plans. Effective GB/s = bytes per token × tokens/s; the probe is a plain streaming read on the same adapter.',
    '',
    table(['model', 'context', 'tok/s', 'bytes/token', 'effective GB/s', 'probe GB/s', '% of probe'], rows),
  ].join('\n');
}

function prefillSection(r: BenchResult): string {
  const rows = r.models.flatMap((m) =>
    m.prefill.map((p) => [modelId(m), String(p.promptTokens), fmt(p.tokensPerSecond.median), range(p.tokensPerSecond), fmt(p.timeToFirstTokenMs.median), range(p.timeToFirstTokenMs)]),
  );
  if (rows.length === 0) return '';
  return ['## Prefill and time to first token', '', table(['model', 'prompt', 'tok/s (median)', 'tok/s min–max', 'TTFT ms (median)', 'TTFT min–max'], rows)].join('\n');
}

/** "paced, 18 % polling" (older records: "n/a"). */
function hostWaitCell(d: DecodePoint): string {
  const w = d.hostWaits;
  if (!w) return 'n/a';
  const waited = w.sleptMs + w.polledMs;
  return waited > 0 ? `${w.mode}, ${fmt((100 * w.polledMs) / waited)} % polling` : w.mode;
}

function decodeSection(r: BenchResult): string {
  const rows = r.models.flatMap((m) =>
    m.decode.map((d) => [modelId(m), String(d.context), String(d.tokens), fmt(d.tokensPerSecond.median), iqr(d.tokensPerSecond), range(d.tokensPerSecond), fmt(d.msPerToken.median), hostWaitCell(d)]),
  );
  if (rows.length === 0) return '';
  return [
    '## Decode',
    '',
    'Host waits: how the host waited for each sampled id (paced: asleep on a timer, then polling), and the share of the waiting spent polling.',
    '',
    table(['model', 'context', 'steps', 'tok/s (median)', 'IQR', 'min–max', 'ms/token', 'host waits'], rows),
  ].join('\n');
}

/** A profile's note and its per-kind and top-op tables, times in `unit` (ms/token, ms/chunk). */
function profileTables(p: Pick<KernelProfile, 'note' | 'byKind' | 'topOps'>, unit: string): string[] {
  const parts: string[] = [];
  if (p.note) parts.push('', `Note: ${p.note}.`);
  if (p.byKind) {
    parts.push('', table(['kind', unit, '%', 'nodes', 'dispatches'], p.byKind.map((k) => [k.kind, fmt(k.ms), fmt(k.percent), String(k.nodes), String(k.dispatches)])));
  }
  if (p.topOps) {
    parts.push('', 'Top operations (summed over layers):', '', table(['op', 'kind', unit, '%', 'layers'], p.topOps.map((o) => [o.op, o.kind, fmt(o.ms), fmt(o.percent), String(o.nodes)])));
  }
  return parts;
}

function profileSection(m: ModelResult): string {
  const p = m.profile;
  if (!p) return '';
  return [
    `## Decode profile: ${modelId(m)} (context ${p.context}, ${p.steps} steps)`,
    '',
    `${p.dispatchesPerToken} dispatches per token; host update + encode + submit ${fmt(p.encodeMsPerToken.median)} ms/token` +
      (p.gpuMsPerToken ? `; GPU kernels (sum, one pass per kernel) ${fmt(p.gpuMsPerToken.median)} ms/token.` : '.'),
    ...profileTables(p, 'ms/token'),
  ].join('\n');
}

function prefillProfileSection(m: ModelResult): string {
  const p = m.prefillProfile;
  if (!p) return '';
  const gpu = p.gpuMsPerChunk;
  return [
    `## Prefill profile: ${modelId(m)} (one ${p.tokens}-token chunk at position 0, ${p.runs} runs)`,
    '',
    `${p.dispatches} dispatches per chunk` +
      (gpu ? `; GPU kernels (sum, one pass per kernel) ${fmt(gpu.median)} ms per chunk, ${fmt((1000 * gpu.median) / p.tokens)} µs per token.` : '.'),
    ...profileTables(p, 'ms/chunk'),
  ].join('\n');
}

function gdnSection(r: BenchResult): string {
  const rows = r.models.flatMap((m) => {
    const g = m.gdnPrefill;
    return g ? [[`${modelId(m)} (whole prefill)`, String(g.promptTokens), fmt(g.chunkedMs.median), fmt(g.sequentialMs.median), `${fmt(g.speedup.median)}× (IQR ${iqr(g.speedup)})`]] : [];
  });
  const k = r.adapter.kernels?.gdnPrefill;
  if (k) {
    const dims = `${k.dims.valueHeads} heads ${k.dims.keyDim}×${k.dims.valueDim}`;
    rows.push([`kernel only (${dims})`, String(k.tokens), fmt(k.chunkedMs), fmt(k.sequentialMs), `${fmt(k.ratio)}×`]);
  }
  if (rows.length === 0) return '';
  const parts = ['## DeltaNet prefill: chunked vs sequential', '', 'Speedup = sequential time / chunked time on the same adapter (> 1: the chunked form is faster).', '', table(['what', 'prompt', 'chunked ms', 'sequential ms', 'speedup'], rows)];
  if (k?.chunkedStages?.length) {
    parts.push('', `Chunked stages, kernel only, each repeated on its own: ${k.chunkedStages.map((x) => `${x.stage} ${fmt(x.ms)} ms`).join(', ')}.`);
  }
  if (k?.sweep?.length) {
    const stageNames = k.sweep[0]!.stages.map((x) => x.stage);
    parts.push('', 'Chunked tuning sweep (kernel only; one change from the default, the first row, at a time):', '', table(
      ['chunk', 'scan columns', 'scan threads', 'scan batch', 'chunked ms', ...stageNames.map((n) => `${n} ms`), 'speedup'],
      k.sweep.map((x) => [String(x.tuning.chunk), String(x.tuning.scanColumns), String(x.tuning.scanThreads), String(x.tuning.scanBatch), fmt(x.chunkedMs), ...x.stages.map((st) => fmt(st.ms)), `${fmt(x.ratio)}×`]),
    ));
  }
  return parts.join('\n');
}

function kernelSection(r: BenchResult): string {
  const k = r.adapter.kernels;
  const parts: string[] = [];
  const probe = r.adapter.bandwidth?.gbps;
  if (r.adapter.bandwidth) {
    const b = r.adapter.bandwidth;
    parts.push(`Bandwidth probe: ${fmt(b.gbps)} GB/s (streaming read of ${formatBytes(b.bytes)}; runs ${range(b.runs)} GB/s).`);
  }
  if (k?.matvec) {
    const rows = k.matvec.points.map((x) => [x.shape, x.format, String(x.rowsPerWorkgroup ?? 8), String(x.groupsPerWorkgroup ?? 1), x.int8X ? 'int8' : 'f32', fmt(x.ms), fmt(x.gbps), probe ? `${fmt((100 * x.gbps) / probe)}%` : 'n/a']);
    parts.push('', 'Decode matvec (weights + scales + x + y bytes; rows per row group, row groups per workgroup, x as read or quantized to int8):', '', table(['shape', 'format', 'rows', 'groups', 'x', 'ms', 'GB/s', '% of probe'], rows));
  }
  if (k?.matmul) {
    const staging = (x: MatmulPoint): string => (x.prefetch === undefined ? '—' : x.prefetch ? 'prefetch' : 'direct');
    const rows = k.matmul.map((x) => [x.shape, x.format, String(x.tokens), staging(x), fmt(x.ms), fmt(x.gflops)]);
    parts.push('', 'Prefill matmul (one chunk; staging: direct, or prefetching the next step):', '', table(['shape', 'format', 'tokens', 'staging', 'ms', 'GFLOP/s'], rows));
  }
  if (k?.attentionDecode) {
    const a = k.attentionDecode;
    const rows = a.points.map((x) => [String(x.context), String(x.splits), fmt(x.ms)]);
    parts.push('', `Attention decode step (${a.heads} heads, ${a.kvHeads} KV heads, dim ${a.headDim}, ${a.kvFormat} cache${a.withPrep ? ', with its prep' : ''}):`, '', table(['context', 'splits', 'ms'], rows));
  }
  if (k?.sampler) {
    const rows = k.sampler.points.map((x) => [`T=${x.options.temperature} top-k ${x.options.topK} top-p ${x.options.topP} penalty ${x.options.repetitionPenalty}`, fmt(x.ms)]);
    parts.push('', `Sampler over ${k.sampler.vocab.toLocaleString('en-US')} logits:`, '', table(['options', 'ms'], rows));
  }
  if (parts.length && r.adapter.timing) parts.unshift(`Timed by ${r.adapter.timing}, ${r.parameters.kernelIterations} repetitions per pass.`, '');
  return parts.length ? ['## Adapter and kernel micro-benchmarks', '', ...parts].join('\n') : '';
}

export function benchMarkdown(r: BenchResult): string {
  const env = r.environment;
  const p = r.parameters;
  const models = r.models.map((m) => {
    const f = m.parameters;
    return `- ${m.model.name}: ${m.model.source} (${m.model.modelType}, ${m.model.numLayers} layers, hidden ${m.model.hiddenSize}; weights ${formatBytes(m.model.weightBytes)} in ${f.formatLabel}, KV ${f.kvFormat}, maxContext ${f.maxContext}, prefill chunk ${f.prefillChunk}${f.int8Activations ? ', int8 activations' : ''}, greedy sampling)`;
  });
  const skipped = r.models.flatMap((m) => m.skipped.map((s) => `- ${m.model.name} ${s.scenario} ${s.what}: ${s.reason}`));
  const header = [
    '# Qwen3.5 WebGPU benchmark',
    ...(env.warning ? ['', `> **Warning: ${env.warning}.**`] : []),
    '',
    `- adapter: ${env.adapter.isSoftware ? '**software (CPU), not GPU speed**' : 'hardware'} — ${env.adapter.description}`,
    `- runtime: ${env.runtime.version}${env.runtime.gpuWaits ? `; host waits for the GPU: ${env.runtime.gpuWaits}` : ''}`,
    `- date: ${r.createdAt}; schema ${r.schema}`,
    `- parameters: ${p.warmup} warm-up + ${p.repetitions} timed runs per point (median, IQR, min–max); prefill prompts ${p.prefillLengths.join('/')}; decode ${p.decodeTokens} steps after ${p.decodeContexts.join('/')} cached tokens; prompt ids seeded ${p.seed}`,
    ...models,
  ].join('\n');
  const sections = [
    header,
    headline(r),
    prefillSection(r),
    decodeSection(r),
    ...r.models.map(profileSection),
    ...r.models.map(prefillProfileSection),
    gdnSection(r),
    kernelSection(r),
    skipped.length ? ['## Skipped', '', ...skipped].join('\n') : '',
  ];
  return sections.filter((s) => s !== '').join('\n\n') + '\n';
}

export function compareMarkdown(c: CompareResult): string {
  const spread = c.mode === 'interleaved' ? 'IQR of paired ratios' : 'min/max bound';
  const rows = c.rows.map((r) => [r.metric, fmt(r.a), fmt(r.b), `**${fmt(r.ratio)}**`, `${fmt(r.low)}–${fmt(r.high)}`, r.higherIsBetter ? 'higher' : 'lower']);
  const parts = [
    `# Comparison (${c.mode}): B / A`,
    ...(c.environment?.warning ? ['', `> **Warning: ${c.environment.warning}.**`] : []),
    '',
    `- A: ${c.a}`,
    `- B: ${c.b}`,
    ...(c.environment ? [`- adapter: ${adapterLabel(c.environment)}`] : []),
    '',
    table(['metric', 'A', 'B', 'B/A', `spread (${spread})`, 'better'], rows),
  ];
  if (c.unmatched.length) parts.push('', 'Not compared:', '', ...c.unmatched.map((u) => `- ${u}`));
  return parts.join('\n') + '\n';
}
