/**
 * runBenchmark on the tiny model with fast settings: the qwen35-bench/1 result holds real
 * measured values, internally consistent (no timing is asserted, only relations that must hold
 * whatever the speed): TTFT × prefill tok/s = 1000 × prompt tokens; ms/token = 1000 / tok/s;
 * effective GB/s = planned bytes per token × median tok/s; % of probe = effective / probe; the
 * DeltaNet speedup samples = sequential / chunked per pair; the profile covers every decode node
 * with a known kernel kind. Float relations to 9 significant digits. The kernel micro-benchmarks
 * (0.8B-sized matrices, minutes on SwiftShader) are left out here.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsCheckpointSource } from '../io/sources/fs.js';
import { ensureDefaultModel } from '../model/tiny.js';
import { dispatchRuns } from '../gpu/kernel.js';
import type { ComputeNode } from '../runtime/graph.js';
import { Qwen35Model } from '../runtime/model.js';
import { requiredContext, resolveBenchOptions, runBenchmark, type BenchProgressEvent } from './harness.js';
import { benchMarkdown, fmt } from './markdown.js';
import { benchPlots } from './plots.js';
import { KERNEL_KINDS, kernelKind } from './profile.js';
import { benchMatmul, benchMatvec } from './kernels-linear.js';
import { benchAttentionDecode, benchGdnPrefill } from './kernels-mixers.js';
import type { BenchResult } from './schema.js';
import { meanDecodeTraffic } from './traffic.js';
import { parseXml } from './xml-check.js';

const OPTIONS = {
  scenarios: ['prefill', 'decode', 'profile', 'gdn', 'bandwidth'] as const,
  prefillLengths: [7, 40],
  decodeContexts: [0, 5, 30],
  decodeTokens: 3,
  gdnTokens: 9,
  profileSteps: 2,
  warmup: 1,
  repetitions: 2,
  probeBytes: 2 ** 20,
  kernelIterations: 2,
};

describe('runBenchmark on the tiny model', () => {
  let model: Qwen35Model;
  let result: BenchResult;
  const events: BenchProgressEvent[] = [];

  beforeAll(async () => {
    model = await Qwen35Model.load(new FsCheckpointSource(await ensureDefaultModel()), { maxContext: 24 });
    result = await runBenchmark(model, { ...OPTIONS, scenarios: [...OPTIONS.scenarios], name: 'tiny' }, (e) => events.push(e));
  });
  afterAll(() => model?.dispose());

  it('is a complete, JSON-safe qwen35-bench/1 record of what was run where', () => {
    expect(result.schema).toBe('qwen35-bench/1');
    expect(JSON.parse(JSON.stringify(result))).toEqual(result);
    expect(Number.isNaN(Date.parse(result.createdAt))).toBe(false);
    const env = result.environment;
    expect(env.adapter.kind).toBe(env.adapter.isSoftware ? 'software' : 'hardware');
    expect(env.warning !== undefined).toBe(env.adapter.isSoftware);
    expect(env.adapter.features).toEqual(model.session.ctx.gpu.features);
    expect(env.runtime.version).toContain(process.version);
    expect(result.parameters).toEqual(resolveBenchOptions({ ...OPTIONS, scenarios: [...OPTIONS.scenarios] }));
    const m = result.models[0]!;
    expect(m.model).toMatchObject({ name: 'tiny', numLayers: 8, attentionLayers: 2, deltaNetLayers: 6, weightBytes: model.session.weightPlan.bytes });
    expect(m.parameters).toMatchObject({ formatLabel: 'q4', kvFormat: 'f16', maxContext: 24, prefillChunk: 24 });
    expect(new Set(events.map((e) => e.scenario))).toEqual(new Set(OPTIONS.scenarios));
    expect(model.session.position).toBe(0);
  });

  it('prefill: real samples with TTFT × tok/s = 1000 × prompt tokens; the 40-token prompt is skipped', () => {
    const [p] = result.models[0]!.prefill;
    expect(result.models[0]!.prefill).toHaveLength(1);
    expect(p!.promptTokens).toBe(7);
    expect(p!.tokensPerSecond.n).toBe(2);
    p!.tokensPerSecond.samples.forEach((tps, i) => {
      expect(tps).toBeGreaterThan(0);
      expect(tps * p!.timeToFirstTokenMs.samples[i]!).toBeCloseTo(7000, 6);
    });
    expect(result.models[0]!.skipped).toEqual([
      { scenario: 'prefill', what: 'prompt 40', reason: expect.stringMatching(/needs a context of 41 tokens; the session holds 24/) },
      { scenario: 'decode', what: 'context 30', reason: expect.stringMatching(/needs a context of 35 tokens/) },
    ]);
  });

  it('decode: bytes from the plans, effective GB/s and % of the probe follow from the medians', () => {
    const m = result.models[0]!;
    const probe = result.adapter.bandwidth!;
    expect(result.adapter.timing).toBe(model.session.ctx.gpu.features.timestamps ? 'gpu timestamps' : 'wall clock');
    expect(probe.gbps).toBe(probe.runs.median);
    expect(probe.runs.n).toBe(2);
    expect(m.decode.map((d) => d.context)).toEqual([0, 5]);
    for (const d of m.decode) {
      expect(d.tokensPerSecond.n).toBe(2);
      d.msPerToken.samples.forEach((ms, i) => expect(ms * d.tokensPerSecond.samples[i]!).toBeCloseTo(1000, 6));
      // Timed steps feed positions context+1 … context+3 and attend context+2 … context+4 positions.
      expect(d.bytesPerToken).toEqual(meanDecodeTraffic(model.config, model.session.weightPlan, model.session.options, d.context + 2, 3));
      expect(d.effectiveGBps).toBeCloseTo((d.bytesPerToken.total * d.tokensPerSecond.median) / 1e9, 9);
      expect(d.percentOfProbe!).toBeCloseTo((100 * d.effectiveGBps) / probe.gbps, 9);
      // Each run reads back 4 ids (the fed token's, then 3 steps'), warm-up runs included.
      expect(d.hostWaits!.mode).toBe('paced');
      expect(d.hostWaits!.waits).toBe((result.parameters.warmup + result.parameters.repetitions) * 4);
      expect(d.hostWaits!.polledMs).toBeGreaterThan(0);
    }
    expect(benchMarkdown(result)).toMatch(/\| tiny q4 \| 0 \| 3 \| .* \| paced(, [\d.]+ % polling)? \|/);
  });

  it('profile: dispatches per token of the decode graph, every node timed under a known kind', () => {
    const prof = result.models[0]!.profile!;
    const graph = model.session.forward.decode;
    graph.update({ pos0: 1, tokens: 1 });
    expect(prof.dispatchesPerToken).toBe(graph.dispatchCount());
    expect(prof.encodeMsPerToken.n).toBe(2);
    expect(prof.timestamps).toBe(model.session.ctx.gpu.features.timestamps);
    // The input/post norms and the final norm run inside the matvecs at one token: their nodes issue nothing and are not timed.
    const nodes = graph.nodes.filter((n): n is ComputeNode => n.kind === 'compute');
    const idle = nodes.filter((n) => !n.dispatches().some(dispatchRuns)).map((n) => n.label);
    expect(idle).toEqual(model.config.layerTypes.flatMap((_, i) => [`L${i} input norm`, `L${i} post norm`]));
    // One compute pass (no copies: the embedding reads the sampled token, the LM head the one hidden
    // row); per layer qkv or in_proj, the mixer, o or out_proj, gate_up, down; then the embedding,
    // the LM head and the greedy sampler's prep and finish.
    expect(nodes.length).toBe(graph.nodes.length);
    expect(graph.dispatchCount()).toBe(5 * model.config.numLayers + 4);
    if (!prof.timestamps) return;
    const kinds = prof.byKind!;
    expect(kinds.reduce((a, k) => a + k.nodes, 0)).toBe(nodes.length - idle.length);
    expect(kinds.reduce((a, k) => a + k.dispatches, 0)).toBe(prof.dispatchesPerToken);
    expect(kinds.map((k) => k.kind).sort()).toEqual(['attention', 'embedding', 'gdn', 'matvec', 'sampler']);
    expect(kinds.every((k) => KERNEL_KINDS.includes(k.kind) && k.ms >= 0)).toBe(true);
    expect(kinds.reduce((a, k) => a + k.percent, 0)).toBeCloseTo(100, 9);
    expect(kinds.find((k) => k.kind === 'matvec')!.nodes).toBe(8 * 2 + 2 * 2 + 6 * 2 + 1); // MLP, attention, DeltaNet projections, LM head
    expect(prof.topOps!.length).toBeLessThanOrEqual(10);
    expect(prof.gpuMsPerToken!.n).toBe(2);
  });

  it('prefill profile: one chunk of the prefill graph, its projections timed as matmuls', () => {
    const prof = result.models[0]!.prefillProfile!;
    const graph = model.session.forward.prefill;
    graph.update({ pos0: 0, tokens: 24 });
    expect(prof).toMatchObject({ tokens: 24, runs: 2, dispatches: graph.dispatchCount(), timestamps: model.session.ctx.gpu.features.timestamps });
    if (!prof.timestamps) return;
    const running = graph.nodes.filter((n): n is ComputeNode => n.kind === 'compute' && n.dispatches().some(dispatchRuns));
    const kinds = prof.byKind!;
    expect(kinds.reduce((a, k) => a + k.nodes, 0)).toBe(running.length);
    expect(kinds.reduce((a, k) => a + k.dispatches, 0)).toBe(prof.dispatches);
    // Dense model: every projection runs the tiled matmul; the norms have their own dispatches in prefill.
    expect(kinds.map((k) => k.kind).sort()).toEqual(['attention', 'embedding', 'gdn', 'matmul', 'norms']);
    expect(kinds.find((k) => k.kind === 'matmul')!.nodes).toBe(8 * 2 + 2 * 2 + 6 * 2);
    expect(kinds.find((k) => k.kind === 'norms')!.nodes).toBe(8 * 2); // input and post norm per layer (the final norm is the head's)
    expect(kinds.reduce((a, k) => a + k.percent, 0)).toBeCloseTo(100, 9);
    expect(prof.gpuMsPerChunk!.n).toBe(2);
    expect(prof.gpuMsPerChunk!.median).toBeGreaterThan(0);
    expect(benchMarkdown(result)).toContain('## Prefill profile: tiny q4 (one 24-token chunk at position 0, 2 runs)');
  });

  it('kernel kinds: projections are matvecs at one token and matmuls at more, MoE experts matvecs at any count', () => {
    expect([kernelKind('L3 gate_up'), kernelKind('L3 gate_up', 24), kernelKind('L3 experts gate_up', 24), kernelKind('L0 gdn chunked', 24)]).toEqual(['matvec', 'matmul', 'matvec', 'gdn']);
  });

  it('chunked vs sequential DeltaNet prefill: paired speedups = sequential / chunked', () => {
    const g = result.models[0]!.gdnPrefill!;
    expect(g.promptTokens).toBe(9);
    g.speedup.samples.forEach((s, i) => expect(s).toBeCloseTo(g.sequentialMs.samples[i]! / g.chunkedMs.samples[i]!, 9));
  });

  it('GDN kernel bench: the chunked stages timed one by one, the ratio sequential / chunked, the tuning sweep', async () => {
    const k = await benchGdnPrefill(model.session.ctx, { tokens: 70, dims: { keyHeads: 2, valueHeads: 4, keyDim: 16, valueDim: 16 }, reps: 1, sweep: true });
    expect(k.chunkedStages!.map((x) => x.stage)).toEqual(['intra', 'scan', 'output']);
    for (const x of [...k.chunkedStages!.map((x) => x.ms), k.chunkedMs, k.sequentialMs]) expect(x).toBeGreaterThan(0);
    expect(k.ratio).toBe(k.sequentialMs / k.chunkedMs);
    const tunings = k.sweep!.map((x) => [x.tuning.chunk, x.tuning.scanColumns, x.tuning.scanThreads, x.tuning.scanBatch]);
    expect(tunings).toEqual([[64, 8, 128, 8], [32, 8, 128, 8], [16, 8, 128, 8], [64, 4, 128, 8], [64, 16, 128, 8], [64, 8, 64, 8], [64, 8, 256, 8], [64, 8, 128, 32]]);
    expect(k.tuning).toEqual(k.sweep![0]!.tuning);
    expect(k.chunkedMs).toBe(k.sweep![0]!.chunkedMs);
    for (const x of k.sweep!) {
      expect(x.stages.map((st) => st.stage)).toEqual(['intra', 'scan', 'output']);
      expect(x.ratio).toBe(k.sequentialMs / x.chunkedMs);
    }
    const md = benchMarkdown({ ...result, adapter: { ...result.adapter, kernels: { gdnPrefill: k } } });
    expect(md).toContain('| chunk | scan columns | scan threads | scan batch | chunked ms | intra ms | scan ms | output ms | speedup |');
    expect(md).toContain(`| 32 | 8 | 128 | 8 | ${fmt(k.sweep![1]!.chunkedMs)} |`);
  });

  it('attention decode bench: the one-pass step up to 128 positions, splits beyond, with the prep', async () => {
    const a = await benchAttentionDecode(model.session.ctx, { contexts: [1, 200], heads: 4, kvHeads: 2, headDim: 64, reps: 1 });
    expect(a.points.map((x) => [x.context, x.splits])).toEqual([[1, 1], [200, 2]]);
    for (const x of a.points) expect(x.ms).toBeGreaterThan(0);
    expect(a.withPrep).toBe(true);
  });

  it('decode matvec bench: the q4 sweep of rows, groups and int8 x on a swept shape, GB/s = bytes per ms', async () => {
    const shapes = [{ name: 'odd 96→300', rows: 300, cols: 96, sweepRows: true }];
    const m = await benchMatvec(model.session.ctx, { shapes, formats: ['q4', 'f32'], trials: 1, iterations: 1 });
    const q4 = m.points.filter((x) => x.format === 'q4');
    expect(q4.map((x) => [x.rowsPerWorkgroup, x.groupsPerWorkgroup, x.int8X])).toEqual([
      [4, 4, false], [8, 4, false], [16, 4, false], [32, 4, false], [8, 1, false], [8, 2, false], [8, 8, false], [8, 4, true], [16, 4, true],
    ]);
    expect(m.points.filter((x) => x.format === 'f32').map((x) => x.int8X)).toEqual([false]); // the sweep is q4 only
    for (const x of m.points) expect(x.gbps).toBeCloseTo(x.bytes / x.ms / 1e6, 9);
    const md = benchMarkdown({ ...result, adapter: { ...result.adapter, kernels: { matvec: m } } });
    expect(md).toContain('| odd 96→300 | q4 | 16 | 4 | int8 |');
  });

  it('prefill matmul bench: GFLOP/s = 2 · rows · cols · tokens per ms, rendered in the kernel section', async () => {
    const shapes = [{ name: 'odd 70→96', rows: 96, cols: 70 }];
    const m = await benchMatmul(model.session.ctx, { shapes, formats: ['q4', 'f32'], tokens: [5, 9], trials: 1, iterations: 1 });
    const staged = (format: string, tokens: number) => [[format, tokens, false], [format, tokens, true]];
    expect(m.points.map((x) => [x.format, x.tokens, x.prefetch])).toEqual([...staged('q4', 5), ...staged('q4', 9), ...staged('f32', 5), ...staged('f32', 9)]);
    expect(new Set(m.points.map((x) => x.shape))).toEqual(new Set(['odd 70→96']));
    for (const x of m.points) expect(x.gflops).toBeCloseTo((2 * 96 * 70 * x.tokens) / x.ms / 1e6, 9);
    const md = benchMarkdown({ ...result, adapter: { ...result.adapter, kernels: { matmul: m.points } } });
    expect(md).toContain('Prefill matmul (one chunk; staging: direct, or prefetching the next step):');
    expect(md).toContain('| odd 70→96 | f32 | 5 | direct |');
    expect(md).toContain('| odd 70→96 | f32 | 9 | prefetch |');
  });

  it('renders as Markdown and SVG', () => {
    const md = benchMarkdown(result);
    expect(md).toContain('## Headline: decode bandwidth vs the probe');
    expect(md).toContain('## Decode profile: tiny q4');
    for (const svg of Object.values(benchPlots(result))) expect(parseXml(svg).name).toBe('svg');
  });

  it('requiredContext is what every selected point needs', () => {
    expect(requiredContext(result.parameters)).toBe(41); // prompt 40 + 1 sampled > decode 30 + 3 + 2 = 35 > GDN 9
    expect(requiredContext(resolveBenchOptions({ scenarios: ['decode'], decodeContexts: [100], decodeTokens: 10 }))).toBe(112);
  });
});
