/**
 * Where a decode step's time goes, and a prefill chunk's. Per-kernel GPU time comes from timestamp
 * queries: the graph is encoded with one compute pass per node (Graph.encode with timestamps), so
 * each node's time includes one pass boundary — their sum is a little above the time of the real
 * one-pass run. A node's time is the MEAN over the profiled runs: where timestamps are quantized
 * (browsers; a kernel shorter than the quantum then reads 0 or one quantum), the mean of many
 * differences is still unbiased, the median is not. Host time is what the runtime spends per
 * token in update + encode + submit (Session.submitDecode), measured on the real path.
 */
import { InvalidArgumentError } from '../errors.js';
import { dispatchRuns } from '../gpu/kernel.js';
import type { ComputeNode, Graph } from '../runtime/graph.js';
import type { Session } from '../runtime/session.js';
import { summarize, type Summary } from './stats.js';

export const KERNEL_KINDS = ['matvec', 'matmul', 'attention', 'gdn', 'norms', 'sampler', 'moe routing', 'embedding', 'other'] as const;
export type KernelKind = (typeof KERNEL_KINDS)[number];

/** Operation names of the forward graph (src/runtime/forward.ts node labels without the "L<i> " layer prefix). */
const KIND_OF_OP: Record<string, KernelKind> = {
  qkv: 'matvec',
  o_proj: 'matvec',
  in_proj: 'matvec',
  out_proj: 'matvec',
  gate_up: 'matvec',
  down: 'matvec',
  lm_head: 'matvec',
  router: 'matvec',
  'experts gate_up': 'matvec',
  'experts down': 'matvec',
  'shared gate_up': 'matvec',
  'shared down': 'matvec',
  'shared gate': 'matvec',
  'attn prep': 'attention',
  attention: 'attention',
  'gdn prep': 'gdn',
  'gdn recurrent': 'gdn',
  'gdn decode step': 'gdn',
  'gdn chunked': 'gdn',
  'gated norm': 'gdn',
  'input norm': 'norms',
  'post norm': 'norms',
  'top-k': 'moe routing',
  'moe combine': 'moe routing',
  sampler: 'sampler',
  embedding: 'embedding',
};

/** "L12 gate_up" → "gate_up". */
export const opName = (label: string): string => label.replace(/^L\d+ /, '');

/**
 * The kind of a node's kernels at `tokens` tokens: a projection runs the matvec at one token and
 * the tiled matmul at more (src/kernels/linear.ts); the MoE experts stay matvecs (one per slot).
 */
export function kernelKind(label: string, tokens = 1): KernelKind {
  const op = opName(label);
  const kind = KIND_OF_OP[op] ?? 'other';
  return kind === 'matvec' && tokens > 1 && !op.startsWith('experts ') ? 'matmul' : kind;
}

export interface KindTime {
  kind: KernelKind;
  /** Mean GPU ms per run (decode: a token; prefill: a chunk), summed over the nodes of this kind. */
  ms: number;
  percent: number;
  nodes: number;
  dispatches: number;
}

export interface OpTime {
  op: string;
  kind: KernelKind;
  ms: number;
  percent: number;
  /** Nodes (layers) with this op. */
  nodes: number;
}

export interface KernelProfile {
  /** Tokens in the cache when profiling (the decode steps run at this position). */
  context: number;
  steps: number;
  dispatchesPerToken: number;
  /** Host: Session.submitDecode (graph update + encode + submit) per token. */
  encodeMsPerToken: Summary;
  timestamps: boolean;
  /** Sum of the per-node GPU times of one step (one pass per node). */
  gpuMsPerToken?: Summary;
  byKind?: KindTime[];
  /** The ten most expensive operations, summed over layers. */
  topOps?: OpTime[];
  note?: string;
}

/** Where one prefill chunk's GPU time goes (the prefill graph without the LM head and sampler, which the decode profile covers). */
export interface PrefillProfile {
  /** Tokens of the profiled chunk at position 0: the session's prefill chunk, or the plan's longest prompt (or the context) if smaller. */
  tokens: number;
  runs: number;
  dispatches: number;
  timestamps: boolean;
  /** Sum of the per-node GPU times of one chunk (one pass per node). */
  gpuMsPerChunk?: Summary;
  byKind?: KindTime[];
  /** The ten most expensive operations, summed over layers. */
  topOps?: OpTime[];
  note?: string;
}

/** Timestamp queries per query set (WebGPU's limit is 4096 queries; 2 per node). */
const NODES_PER_QUERY_SET = 2048;

/**
 * GPU ms of every compute node of `graph` for `steps` runs at `shape` (the cache position does not
 * advance: each run rewrites the same KV rows).
 */
async function timeNodes(session: Session, graph: Graph, nodes: ComputeNode[], steps: number, shape: { pos0: number; tokens: number }): Promise<number[][]> {
  const { device, allocator } = session.ctx;
  const times = nodes.map(() => [] as number[]);
  const count = Math.min(nodes.length, NODES_PER_QUERY_SET);
  const querySet = device.createQuerySet({ type: 'timestamp', count: 2 * count, label: 'profile' });
  const resolve = allocator.create({ label: 'profile resolve', category: 'staging', size: 16 * count, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  const readback = allocator.create({ label: 'profile readback', category: 'staging', size: 16 * count, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  try {
    for (let first = 0; first < nodes.length; first += count) {
      const window = nodes.slice(first, first + count);
      const nodeIndex = new Map(window.map((n, i) => [n, i]));
      for (let step = 0; step < steps; step++) {
        graph.update(shape);
        session.forward.sampler.setStep(step + 1, shape.pos0 + shape.tokens);
        session.ctx.uniforms.flush();
        const encoder = device.createCommandEncoder({ label: 'profile' });
        graph.encode(encoder, shape, { querySet, nodeIndex });
        encoder.resolveQuerySet(querySet, 0, 2 * window.length, resolve, 0);
        encoder.copyBufferToBuffer(resolve, 0, readback, 0, 16 * window.length);
        device.queue.submit([encoder.finish()]);
        await readback.mapAsync(GPUMapMode.READ);
        const stamps = new BigUint64Array(readback.getMappedRange().slice(0));
        readback.unmap();
        session.checkHealthy();
        window.forEach((_, i) => times[first + i]!.push(Math.max(0, Number(stamps[2 * i + 1]! - stamps[2 * i]!) / 1e6)));
      }
    }
  } finally {
    querySet.destroy();
    allocator.destroy(resolve);
    allocator.destroy(readback);
  }
  return times;
}

/** Per-kind and top-op tables from per-node means, and the per-run sums; `tokens` per run decides the projections' kind. */
function tabulate(nodes: ComputeNode[], times: number[][], tokens: number): { byKind: KindTime[]; topOps: OpTime[]; perRun: Summary } {
  const means = times.map((t) => t.reduce((a, b) => a + b, 0) / t.length);
  const total = means.reduce((a, b) => a + b, 0);
  const pct = (ms: number): number => (total > 0 ? (100 * ms) / total : 0);
  const kinds = new Map<KernelKind, KindTime>();
  const ops = new Map<string, OpTime>();
  nodes.forEach((node, i) => {
    const kind = kernelKind(node.label, tokens);
    const k = kinds.get(kind) ?? { kind, ms: 0, percent: 0, nodes: 0, dispatches: 0 };
    k.ms += means[i]!;
    k.nodes++;
    k.dispatches += node.dispatches().filter(dispatchRuns).length;
    kinds.set(kind, k);
    const name = opName(node.label);
    const o = ops.get(name) ?? { op: name, kind, ms: 0, percent: 0, nodes: 0 };
    o.ms += means[i]!;
    o.nodes++;
    ops.set(name, o);
  });
  const byKind = [...kinds.values()].map((k) => ({ ...k, percent: pct(k.ms) })).sort((a, b) => b.ms - a.ms);
  const topOps = [...ops.values()].map((o) => ({ ...o, percent: pct(o.ms) })).sort((a, b) => b.ms - a.ms).slice(0, 10);
  const perRun = times[0]!.map((_, s) => times.reduce((a, t) => a + t[s]!, 0));
  return { byKind, topOps, perRun: summarize(perRun) };
}

const NO_TIMESTAMPS = 'the adapter has no timestamp-query: per-kernel GPU times are unavailable';

const timestampNote = (session: Session): string | undefined =>
  session.ctx.gpu.adapter.runtime === 'browser' ? 'browsers may quantize timestamps (Chrome: to 100 µs unless WebGPU Developer Features are enabled)' : undefined;

/** The compute nodes of `graph` that issue work at its current shape (nodes sized to nothing are not timed). */
const runningNodes = (graph: Graph): ComputeNode[] => graph.nodes.filter((n): n is ComputeNode => n.kind === 'compute' && n.dispatches().some(dispatchRuns));

/**
 * Profiles decode after a prefill of `prompt` (ids; its length is the context): first `steps`
 * real decode steps timed on the host, then (with timestamp-query) `steps` profiled steps.
 * Leaves the session reset (empty cache).
 */
export async function profileDecode(session: Session, prompt: readonly number[], steps: number): Promise<KernelProfile> {
  if (!(Number.isSafeInteger(steps) && steps >= 1)) throw new InvalidArgumentError(`profile steps must be an integer ≥ 1, got ${steps}`);
  return session.exclusive(async () => {
    session.reset();
    try {
      let id = await session.readToken(await session.prefill(prompt, 0));
      const graph = session.forward.decode;
      graph.update({ pos0: session.position, tokens: 1 });
      const dispatchesPerToken = graph.dispatchCount();
      const encodeMs: number[] = [];
      for (let step = 1; step <= steps; step++) {
        const t0 = performance.now();
        session.submitDecode(id, step, 0);
        encodeMs.push(performance.now() - t0);
        id = await session.readToken(0);
      }
      const base = { context: prompt.length, steps, dispatchesPerToken, encodeMsPerToken: summarize(encodeMs) };
      if (!session.ctx.gpu.features.timestamps) {
        return { ...base, timestamps: false, note: NO_TIMESTAMPS };
      }
      // Nodes with nothing to run at one token (norms fused into the matvecs) are not timed.
      const nodes = runningNodes(graph);
      const times = await timeNodes(session, graph, nodes, steps, { pos0: session.position, tokens: 1 });
      const { perRun, ...tables } = tabulate(nodes, times, 1);
      const note = timestampNote(session);
      return { ...base, timestamps: true, gpuMsPerToken: perRun, ...tables, ...(note ? { note } : {}) };
    } finally {
      session.reset();
    }
  });
}

/**
 * Profiles the prefill graph on one chunk at position 0: `prompt` (at most one chunk) is prefilled
 * once for real (so the ids buffer holds it), then the chunk's graph runs `runs` times with one pass
 * per node. Leaves the session reset (empty cache).
 */
export async function profilePrefill(session: Session, prompt: readonly number[], runs: number): Promise<PrefillProfile> {
  if (!(Number.isSafeInteger(runs) && runs >= 1)) throw new InvalidArgumentError(`profile runs must be an integer ≥ 1, got ${runs}`);
  if (prompt.length < 1 || prompt.length > session.options.prefillChunk) {
    throw new InvalidArgumentError(`the profiled prompt must be one prefill chunk (1..${session.options.prefillChunk} tokens), got ${prompt.length}`);
  }
  return session.exclusive(async () => {
    session.reset();
    try {
      await session.readToken(await session.prefill(prompt, 0));
      const shape = { pos0: 0, tokens: prompt.length };
      const graph = session.forward.prefill;
      graph.update(shape);
      const base = { tokens: prompt.length, runs, dispatches: graph.dispatchCount() };
      if (!session.ctx.gpu.features.timestamps) return { ...base, timestamps: false, note: NO_TIMESTAMPS };
      const nodes = runningNodes(graph);
      const { perRun, ...tables } = tabulate(nodes, await timeNodes(session, graph, nodes, runs, shape), prompt.length);
      const note = timestampNote(session);
      return { ...base, timestamps: true, gpuMsPerChunk: perRun, ...tables, ...(note ? { note } : {}) };
    } finally {
      session.reset();
    }
  });
}
