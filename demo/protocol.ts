/**
 * The typed message protocol between the page (worker-client.ts) and the inference worker
 * (worker.ts). The page sends `{id, request}`; the worker answers with any number of events for
 * that id (progress, streamed text) and then exactly one `result` or `error`. `cancel` aborts the
 * request with the given id (a load or a reply). Events with id 0 are unsolicited
 * (the device was lost). Everything here is structured-cloneable.
 */
import type { MemoryReport } from '../src/gpu/allocator.js';
import type { BenchResult, ChatMessage, FinishReason, GenerationStats, MemoryComparison, MemoryPrediction, WeightFormat } from '../src/index.js';
import type { FitReport } from './fit.js';

/** Where the checkpoint comes from. */
export type SourceInput =
  /** A folder of models/, served by the dev server at /models/<name>. */
  | { kind: 'builtin'; name: string }
  /** `endpoint`: the hub's base URL (a mirror, or a local test hub); empty for huggingface.co. */
  | { kind: 'hub'; repo: string; revision: string; endpoint: string; token?: string }
  | { kind: 'url'; url: string }
  /** `<input type=file webkitdirectory>`: the files of one checkpoint folder. */
  | { kind: 'files'; files: File[] }
  | { kind: 'directory'; handle: FileSystemDirectoryHandle };

export interface ModelSettings {
  weightFormat: WeightFormat;
  maxContext: number;
  kvFormat: 'f16' | 'f32';
  /** Keep remote downloads in the browser's storage (OPFS / Cache API). */
  cache: boolean;
}

export interface SamplingSettings {
  temperature: number;
  topK: number;
  topP: number;
  repetitionPenalty: number;
  seed: number;
  maxTokens: number;
  enableThinking: boolean;
}

export interface AdapterView {
  /** "vendor / architecture / description". */
  name: string;
  isSoftware: boolean;
  f16: boolean;
  subgroups: boolean;
  subgroupSizes: string;
  timestamps: boolean;
  limits: { maxBufferSize: number; maxStorageBufferBindingSize: number; maxComputeWorkgroupStorageSize: number; maxStorageBuffersPerShaderStage: number };
}

/** A short description of config.json. */
export interface ModelSummary {
  source: string;
  modelType: string;
  layers: number;
  hiddenSize: number;
  vocabSize: number;
  maxPositionEmbeddings: number;
  experts: number;
}

export interface Inspection {
  model: ModelSummary;
  /** Absent when the settings cannot be planned (the fit report says why). */
  prediction: MemoryPrediction | undefined;
  fit: FitReport;
  /** Predicted memory vs context length, an SVG document (src/cli/mem-plot.ts). */
  plot: string | undefined;
}

export interface ProgressView {
  phase: string;
  bytesDone: number;
  bytesTotal: number;
  filesDone: number;
  filesTotal: number;
  /** The file being transferred, if any. */
  currentFile: string | undefined;
  bytesPerSecond: number | undefined;
  etaSeconds: number | undefined;
}

export interface LoadedView {
  model: ModelSummary;
  memory: MemoryComparison;
  /** As Inspection.plot, with the measured total and KV cache at the loaded context. */
  plot: string;
  loadMs: number;
}

export interface ReplyView {
  text: string;
  finishReason: FinishReason;
  stats: GenerationStats;
  memory: MemoryComparison;
}

/**
 * The Benchmark panel's choices: overrides of the plan runBenchmark picks for the adapter (the
 * quick plan on a software adapter, planForAdapter); absent fields keep the plan's values.
 */
export interface BenchSettings {
  repetitions?: number;
  warmup?: number;
  prefillLengths?: number[];
  decodeContexts?: number[];
  decodeTokens?: number;
  /** The kernel micro-benchmarks at 0.8B shapes (minutes on a software adapter). */
  kernels: boolean;
}

export interface BenchView {
  result: BenchResult;
  /** benchMarkdown(result): what `qwen35 bench` writes as bench.md. */
  markdown: string;
  /** benchPlots(result): file name → SVG document. */
  plots: Record<string, string>;
  /** The quick plan was chosen because the adapter is software. */
  reduced: boolean;
}

export type Request =
  | { type: 'probe' }
  | { type: 'inspect'; source: SourceInput; settings: ModelSettings }
  | { type: 'load'; source: SourceInput; settings: ModelSettings }
  | { type: 'chat'; messages: ChatMessage[]; sampling: SamplingSettings }
  | { type: 'bench'; settings: BenchSettings }
  | { type: 'reset' }
  | { type: 'unload' }
  | { type: 'cancel'; target: number };

/** What each request resolves to. */
export interface Results {
  probe: AdapterView;
  inspect: Inspection;
  load: LoadedView;
  chat: ReplyView;
  bench: BenchView;
  reset: MemoryComparison;
  unload: null;
  cancel: null;
}

export type RequestType = Request['type'];

/** What the page can offer after an error. */
export type Recovery = 'retry' | 'pick-model' | 'reload-model' | 'reset-chat' | 'none';

export interface ErrorView {
  /** The error class (GpuUnavailableError, DownloadError, AbortedError, ...). */
  name: string;
  message: string;
  recovery: Recovery;
}

export interface RequestEnvelope {
  id: number;
  request: Request;
}

export type WorkerEvent =
  | { id: number; type: 'progress'; progress: ProgressView }
  | { id: number; type: 'text'; text: string; tokens: number }
  /** The allocator's counters while a reply streams (after the first token, then every ~500 ms). */
  | { id: number; type: 'memory'; reading: MemoryReport; tokens: number }
  | { id: number; type: 'bench-progress'; scenario: string; message: string }
  | { id: number; type: 'result'; result: Results[RequestType] }
  | { id: number; type: 'error'; error: ErrorView }
  | { id: 0; type: 'device-lost'; error: ErrorView };
