/**
 * The benchmark harness (browser and Node: no Node imports). `runBenchmark(model, options,
 * onProgress)` measures one loaded model and the adapter it is on and returns a complete
 * `qwen35-bench/1` result; the CLI runs `benchAdapter` once and `benchModel` per model.
 * Each scenario point: `warmup` untimed runs, then `repetitions` timed runs → median and spread.
 */
import { AbortedError } from '../errors.js';
import type { KernelContext } from '../gpu/kernel.js';
import type { GpuContext } from '../gpu/device.js';
import type { WeightFormat } from '../io/formats.js';
import type { Qwen35Model } from '../runtime/model.js';
import { describeEnvironment } from './environment.js';
import { timingMethod } from './gpu-timer.js';
import { benchBandwidth, benchMatmul, benchMatvec, benchSampler, MATMUL_BENCH_TOKENS } from './kernels-linear.js';
import { benchAttentionDecode, benchGdnPrefill, QWEN35_08B_GDN } from './kernels-mixers.js';
import { planForAdapter, profiledPrefillTokens, requiredContext, resolveBenchOptions, type BenchOptions } from './options.js';
import { profileDecode, profilePrefill } from './profile.js';
import { decodeFootprint, measurePrefill, prefillFootprint, prepareDecode, promptIds, timeGdnPrefill } from './scenarios.js';
import { BENCH_SCHEMA, type AdapterBenchmarks, type BenchResult, type ModelInfo, type ModelResult, type RunParameters, type Scenario } from './schema.js';
import { mapSummary, pairedRatios, summarize } from './stats.js';
import { meanDecodeTraffic } from './traffic.js';

export interface BenchProgressEvent {
  scenario: Scenario;
  message: string;
}
export type BenchProgress = (event: BenchProgressEvent) => void;

export interface RunControl {
  onProgress?: BenchProgress;
  signal?: AbortSignal;
}

/** `warmup` untimed runs, then `repetitions` timed ones (checking `signal` between runs). */
async function repeat<T>(p: RunParameters, control: RunControl, run: () => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < p.warmup + p.repetitions; i++) {
    if (control.signal?.aborted) throw new AbortedError('the benchmark was cancelled');
    const r = await run();
    if (i >= p.warmup) out.push(r);
  }
  return out;
}

/** Adapter-level figures: the bandwidth probe and the kernel micro-benchmarks (model-independent shapes). */
export async function benchAdapter(ctx: KernelContext, p: RunParameters, formats: WeightFormat[], control: RunControl = {}): Promise<AdapterBenchmarks> {
  const say = (scenario: Scenario, message: string): void => control.onProgress?.({ scenario, message });
  const timing = { iterations: p.kernelIterations, trials: 3 };
  const result: AdapterBenchmarks = {};
  if (p.scenarios.includes('bandwidth') || p.scenarios.includes('kernels')) result.timing = timingMethod(ctx);
  if (p.scenarios.includes('bandwidth')) {
    say('bandwidth', `bandwidth probe: streaming ${Math.round(p.probeBytes / 2 ** 20)} MiB`);
    const runs = await repeat({ ...p, warmup: 0 }, control, () => benchBandwidth(ctx, { ...timing, bytes: p.probeBytes }));
    const gbps = summarize(runs.map((r) => r.gbps));
    const { bytes, adapter } = runs[0]!;
    result.bandwidth = { bytes, adapter, gbps: gbps.median, ms: bytes / gbps.median / 1e6, runs: gbps };
  }
  if (p.scenarios.includes('kernels')) {
    say('kernels', `matvec at Qwen3.5-0.8B shapes (${formats.join(', ')})`);
    const matvec = await benchMatvec(ctx, { ...timing, formats });
    say('kernels', `prefill matmul at Qwen3.5-0.8B shapes, ${MATMUL_BENCH_TOKENS.join(' and ')} tokens (${formats.join(', ')})`);
    const matmul = await benchMatmul(ctx, { ...timing, formats });
    say('kernels', 'attention decode step vs context');
    const contexts = [...new Set(p.decodeContexts.map((c) => Math.max(1, c + 1)))];
    const attentionDecode = await benchAttentionDecode(ctx, { contexts, reps: p.kernelIterations });
    say('kernels', `GDN prefill kernels, chunked vs sequential (${p.gdnTokens} tokens, 0.8B heads)`);
    const gdnPrefill = await benchGdnPrefill(ctx, { tokens: p.gdnTokens, dims: QWEN35_08B_GDN, reps: Math.max(1, Math.ceil(p.kernelIterations / 4)), sweep: true });
    say('kernels', 'sampler over a 248,320 vocabulary');
    const sampler = await benchSampler(ctx, timing);
    result.kernels = { matvec, matmul: matmul.points, attentionDecode, gdnPrefill, sampler: { vocab: sampler.vocab, points: sampler.points } };
  }
  return result;
}

function modelInfo(model: Qwen35Model, name: string): ModelInfo {
  const c = model.config;
  const attentionLayers = c.layerTypes.filter((t) => t === 'full_attention').length;
  return {
    name,
    source: model.source.description,
    modelType: c.modelType,
    hiddenSize: c.hiddenSize,
    numLayers: c.numLayers,
    attentionLayers,
    deltaNetLayers: c.numLayers - attentionLayers,
    vocabSize: c.vocabSize,
    ...(c.moe ? { experts: { total: c.moe.numExperts, active: c.moe.numExpertsPerTok } } : {}),
    weightBytes: model.session.weightPlan.bytes,
  };
}

export function formatLabel(formats: Record<string, WeightFormat>): string {
  const distinct = new Set(Object.values(formats));
  return distinct.size === 1 ? [...distinct][0]! : 'mixed';
}

/** Every model scenario of `p` on one loaded model; `probeGBps` turns effective GB/s into % of the probe. */
export async function benchModel(model: Qwen35Model, p: RunParameters, probeGBps: number | undefined, name: string, control: RunControl = {}): Promise<ModelResult> {
  const session = model.session;
  const maxContext = session.options.maxContext;
  const vocab = model.config.vocabSize;
  const say = (scenario: Scenario, message: string): void => control.onProgress?.({ scenario, message: `${name}: ${message}` });
  const result: ModelResult = {
    model: modelInfo(model, name),
    parameters: {
      weightFormats: { ...session.options.formats },
      formatLabel: formatLabel(session.options.formats),
      kvFormat: session.options.kvFormat,
      maxContext,
      prefillChunk: session.options.prefillChunk,
      int8Activations: session.options.int8Activations,
      sampling: { temperature: 0 },
    },
    prefill: [],
    decode: [],
    skipped: [],
  };
  const skip = (scenario: Scenario, what: string, reason: string): void => void result.skipped.push({ scenario, what, reason });
  const tooLong = (need: number): string => `needs a context of ${need} tokens; the session holds ${maxContext} (load with a larger maxContext)`;

  if (p.scenarios.includes('prefill')) {
    for (const length of p.prefillLengths) {
      if (prefillFootprint(length) > maxContext) {
        skip('prefill', `prompt ${length}`, tooLong(prefillFootprint(length)));
        continue;
      }
      say('prefill', `prefill ${length} tokens`);
      const ids = promptIds(length, vocab, p.seed);
      const runs = await repeat(p, control, () => measurePrefill(model, ids));
      result.prefill.push({
        promptTokens: length,
        tokensPerSecond: summarize(runs.map((r) => r.tokensPerSecond)),
        timeToFirstTokenMs: summarize(runs.map((r) => r.timeToFirstTokenMs)),
      });
    }
  }

  if (p.scenarios.includes('decode')) {
    for (const context of p.decodeContexts) {
      const need = decodeFootprint(context, p.decodeTokens);
      if (need > maxContext) {
        skip('decode', `context ${context}`, tooLong(need));
        continue;
      }
      say('decode', `decode ${p.decodeTokens} tokens after ${context}`);
      const fixture = await prepareDecode(model, context, p.seed);
      try {
        session.pacer.resetStats();
        const tps = summarize(await repeat(p, control, () => fixture.measure(p.decodeTokens)));
        const hostWaits = { mode: session.pacer.mode, ...session.pacer.stats };
        // The timed steps feed positions context+1 … context+tokens and attend one more position each.
        const bytes = meanDecodeTraffic(model.config, session.weightPlan, session.options, context + 2, p.decodeTokens);
        const effectiveGBps = (bytes.total * tps.median) / 1e9;
        result.decode.push({
          context,
          tokens: p.decodeTokens,
          tokensPerSecond: tps,
          msPerToken: mapSummary(tps, (t) => 1000 / t),
          bytesPerToken: bytes,
          effectiveGBps,
          ...(probeGBps ? { percentOfProbe: (100 * effectiveGBps) / probeGBps } : {}),
          hostWaits,
        });
      } finally {
        fixture.release();
      }
    }
  }

  if (p.scenarios.includes('profile')) {
    const context = Math.max(1, p.decodeContexts[0]!);
    if (context + p.profileSteps + 1 > maxContext) skip('profile', `context ${context}`, tooLong(context + p.profileSteps + 1));
    else {
      say('profile', `per-kernel profile of ${p.profileSteps} decode steps`);
      model.reset();
      result.profile = await profileDecode(session, promptIds(context, vocab, p.seed), p.profileSteps);
      model.reset();
    }
    const chunk = Math.min(session.options.prefillChunk, profiledPrefillTokens(p)); // the session's chunk is within its context
    say('profile', `per-kernel profile of ${p.profileSteps} runs of a ${chunk}-token prefill chunk`);
    result.prefillProfile = await profilePrefill(session, promptIds(chunk, vocab, p.seed), p.profileSteps);
    model.reset();
  }

  if (p.scenarios.includes('gdn')) {
    if (result.model.deltaNetLayers === 0) skip('gdn', 'chunked vs sequential', 'the model has no DeltaNet layers');
    else if (p.gdnTokens > maxContext) skip('gdn', `prompt ${p.gdnTokens}`, tooLong(p.gdnTokens));
    else {
      say('gdn', `prefill ${p.gdnTokens} tokens, chunked vs sequential DeltaNet (interleaved)`);
      const ids = promptIds(p.gdnTokens, vocab, p.seed);
      const pairs = await repeat(p, control, async () => [await timeGdnPrefill(model, ids, false), await timeGdnPrefill(model, ids, true)] as const);
      const chunked = pairs.map((x) => x[0]);
      const sequential = pairs.map((x) => x[1]);
      result.gdnPrefill = {
        promptTokens: p.gdnTokens,
        chunkedMs: summarize(chunked),
        sequentialMs: summarize(sequential),
        speedup: summarize(pairedRatios(chunked, sequential)),
      };
    }
  }
  return result;
}

export function newResult(gpu: GpuContext, p: RunParameters, adapter: AdapterBenchmarks, models: ModelResult[]): BenchResult {
  return { schema: BENCH_SCHEMA, createdAt: new Date().toISOString(), environment: describeEnvironment(gpu), parameters: p, adapter, models };
}

/**
 * Benchmarks a loaded model (e.g. from the demo's "Benchmark" button) and its adapter. On a
 * software adapter the quick plan is used unless `quick: false` or explicit lengths are given
 * (planForAdapter). Scenario points that do not fit the session's maxContext are skipped and
 * listed in `skipped` (`requiredContext(resolveBenchOptions(options))` says what to load with).
 */
export async function runBenchmark(
  model: Qwen35Model,
  options: BenchOptions & { name?: string; signal?: AbortSignal } = {},
  onProgress?: BenchProgress,
): Promise<BenchResult> {
  const p = resolveBenchOptions(planForAdapter(options, model.session.ctx.gpu.adapter.isSoftware).options);
  const control = { onProgress, signal: options.signal };
  const formats = [...new Set(Object.values(model.session.options.formats))];
  const adapter = await benchAdapter(model.session.ctx, p, formats, control);
  const models = [await benchModel(model, p, adapter.bandwidth?.gbps, options.name ?? model.source.description, control)];
  return newResult(model.session.ctx.gpu, p, adapter, models);
}

export { planForAdapter, requiredContext, resolveBenchOptions };
