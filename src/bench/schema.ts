/**
 * The benchmark result format, `qwen35-bench/1`. Stable: fields are only ever added; a change of
 * meaning bumps the version. Every figure carries what it was measured with (adapter, runtime,
 * model, formats, parameters). Times are milliseconds, rates per second, sizes bytes.
 * A result from a software adapter (SwiftShader: the CPU) has `environment.adapter.isSoftware`
 * set and every writer labels it; such numbers are never GPU speed.
 */
import type { AdapterSummary, GpuContext } from '../gpu/device.js';
import type { Summary } from './stats.js';
import type { DecodeTraffic } from './traffic.js';
import type { KernelProfile, PrefillProfile } from './profile.js';
import type { BandwidthResult, MatmulPoint, MatvecBench, SamplerPoint } from './kernels-linear.js';
import type { AttentionDecodeBench, GdnPrefillBench } from './kernels-mixers.js';
import type { GpuWaitMode, WaitStats } from '../gpu/wait-pacer.js';
import type { WeightFormats } from '../runtime/gpu-weight-plan.js';

export const BENCH_SCHEMA = 'qwen35-bench/1';
export const COMPARE_SCHEMA = 'qwen35-bench-compare/1';

/** Parts of a run; each can be selected with --scenarios. */
export const SCENARIOS = ['prefill', 'decode', 'profile', 'gdn', 'bandwidth', 'kernels'] as const;
export type Scenario = (typeof SCENARIOS)[number];

export interface Environment {
  adapter: AdapterSummary & {
    kind: 'hardware' | 'software';
    features: GpuContext['features'];
    /** The device limits the runtime raised (and a few it relies on). */
    limits: Record<string, number>;
    /** describeGpu(): the one-line description. */
    description: string;
  };
  /** gpuWaits: how the sessions' host waited for the GPU (src/gpu/wait-pacer.ts; absent in results before it existed). */
  runtime: { kind: 'node' | 'browser'; version: string; gpuWaits?: GpuWaitMode };
  /** Present on software adapters: say it wherever a number is shown. */
  warning?: string;
}

export interface ModelInfo {
  /** The name it was asked for (e.g. "0.8B", "tiny") or the checkpoint's description. */
  name: string;
  source: string;
  modelType: string;
  hiddenSize: number;
  numLayers: number;
  attentionLayers: number;
  deltaNetLayers: number;
  vocabSize: number;
  experts?: { total: number; active: number };
  /** Bytes of every weight buffer on the GPU (the weight plan). */
  weightBytes: number;
}

export interface SessionParameters {
  weightFormats: WeightFormats;
  /** "q4" when every class has the same format, else "mixed". */
  formatLabel: string;
  kvFormat: 'f16' | 'f32';
  maxContext: number;
  prefillChunk: number;
  /** The session's experimental int8Activations; absent in records from before the option. */
  int8Activations?: boolean;
  sampling: { temperature: number };
}

export interface PrefillPoint {
  promptTokens: number;
  tokensPerSecond: Summary;
  /** Prompt submitted → first sampled token read back (prefill + LM head + sampler). */
  timeToFirstTokenMs: Summary;
}

export interface DecodePoint {
  /** Tokens in the cache before the measured steps (filled by a prefill of that length). */
  context: number;
  /** Decode steps timed per repetition. */
  tokens: number;
  tokensPerSecond: Summary;
  msPerToken: Summary;
  /** Mean bytes one step moves over the timed steps (plans, not measurement). */
  bytesPerToken: DecodeTraffic;
  /** bytesPerToken.total × median tokens/s. */
  effectiveGBps: number;
  /** effectiveGBps / the bandwidth probe's GB/s × 100 (the headline figure); absent without a probe. */
  percentOfProbe?: number;
  /** The host's waits for sampled ids over all runs of the point, warm-up included (session.pacer.stats); absent in older records. */
  hostWaits?: WaitStats & { mode: GpuWaitMode };
}

export interface GdnPrefillComparison {
  promptTokens: number;
  chunkedMs: Summary;
  sequentialMs: Summary;
  /** Per pair sequential / chunked: > 1 means the chunked form is faster. */
  speedup: Summary;
}

export interface ModelResult {
  model: ModelInfo;
  parameters: SessionParameters;
  prefill: PrefillPoint[];
  decode: DecodePoint[];
  profile?: KernelProfile;
  /** Absent in records from before it was measured. */
  prefillProfile?: PrefillProfile;
  gdnPrefill?: GdnPrefillComparison;
  /** Scenario points that were not run and why (e.g. they do not fit maxContext). */
  skipped: Array<{ scenario: Scenario; what: string; reason: string }>;
}

export interface AdapterBenchmarks {
  /** How the probe and the kernels were timed (gpu-timer.ts); absent in records before it was kept. */
  timing?: 'gpu timestamps' | 'wall clock';
  bandwidth?: BandwidthResult & { runs: Summary };
  kernels?: {
    matvec?: MatvecBench;
    /** Absent in records from before it was measured. */
    matmul?: MatmulPoint[];
    attentionDecode?: AttentionDecodeBench;
    gdnPrefill?: GdnPrefillBench;
    sampler?: { vocab: number; points: SamplerPoint[] };
  };
}

/** Options as resolved (every parameter that shaped the run). */
export interface RunParameters {
  scenarios: Scenario[];
  prefillLengths: number[];
  decodeContexts: number[];
  decodeTokens: number;
  gdnTokens: number;
  profileSteps: number;
  warmup: number;
  repetitions: number;
  probeBytes: number;
  /** Repetitions per timed submission of the kernel micro-benchmarks. */
  kernelIterations: number;
  seed: number;
}

export interface BenchResult {
  schema: typeof BENCH_SCHEMA;
  createdAt: string;
  environment: Environment;
  parameters: RunParameters;
  adapter: AdapterBenchmarks;
  models: ModelResult[];
}

export interface CompareRow {
  /** e.g. "0.8B q4 · decode · context 1024 · tok/s". */
  metric: string;
  higherIsBetter: boolean;
  a: number;
  b: number;
  /** b / a (median of paired ratios in interleaved mode). */
  ratio: number;
  /** Spread of the ratio: [low, high] (interleaved: IQR of paired ratios; files: min/max bound). */
  low: number;
  high: number;
  /** Interleaved mode: the paired ratios. */
  ratios?: Summary;
}

export interface CompareResult {
  schema: typeof COMPARE_SCHEMA;
  createdAt: string;
  mode: 'files' | 'interleaved';
  a: string;
  b: string;
  environment?: Environment;
  rows: CompareRow[];
  /** Metrics present in only one input (files mode). */
  unmatched: string[];
}
