/**
 * qwen35-webgpu: Qwen3.5 inference on WebGPU (browser and Node). The public API, hand-picked.
 *
 *   const model = await loadModel('Qwen/Qwen3.5-0.8B', { weightFormat: 'q4', onProgress });
 *   for await (const piece of model.chat([{ role: 'user', content: 'Hi' }])) print(piece.text);
 *   const reply = await model.chat.completions.create({ messages, stream: false });
 *   console.log(model.memory().rows);   // GPU bytes per category, measured vs predicted
 *   const store = await defaultCacheStore();   // downloaded checkpoints: Node disk, or OPFS / Cache API
 *   for (const m of await listCachedModels(store)) await deleteCachedModel(store, m.id);
 */
import { openSource, type OpenSourceOptions, type SourceSpec } from './io/sources/open.js';
import type { CheckpointSource } from './io/source.js';
import { Qwen35Model, type LoadModelOptions } from './runtime/model.js';

export interface LoadOptions extends LoadModelOptions, Omit<OpenSourceOptions, 'signal' | 'onProgress'> {}

/**
 * Loads a checkpoint — a local folder (Node), an http(s) base URL, a hub repo id
 * ("Qwen/Qwen3.5-0.8B", optionally "@revision"), picked files or a directory handle, or any
 * CheckpointSource — onto the GPU. Download and upload progress go to `onProgress`.
 */
export async function loadModel(spec: SourceSpec | CheckpointSource, options: LoadOptions = {}): Promise<Qwen35Model> {
  const source = isSource(spec) ? spec : await openSource(spec, { ...options, signal: options.signal, onProgress: options.onProgress });
  return Qwen35Model.load(source, options);
}

function isSource(spec: unknown): spec is CheckpointSource {
  return typeof spec === 'object' && spec !== null && 'open' in spec && 'readText' in spec && 'has' in spec;
}

export { Qwen35Model, drain, readModelConfig, type ChatOptions, type LoadModelOptions } from './runtime/model.js';
export type { GenerationChunk, GenerationResult, GenerationStats, FinishReason } from './runtime/generate.js';
export type { GenerateOptions, SamplingOptions } from './runtime/options.js';
export type { ChatMessage } from './runtime/chat-template.js';
export type { ChatCompletion, ChatCompletionChunk, CompletionRequest } from './runtime/completions.js';
export type { MemoryComparison, MemoryRow } from './runtime/memory-report.js';
export type { CacheSnapshot } from './runtime/state.js';
export type { WeightFormatSpec, WeightFormats } from './runtime/gpu-weight-plan.js';
export type { WeightFormat } from './io/formats.js';
export type { CheckpointSource, ByteSource, LoadProgress, ProgressCallback } from './io/source.js';
export { openSource, type SourceSpec, type OpenSourceOptions } from './io/sources/open.js';
export {
  clearCache,
  defaultCacheStore,
  deleteCachedModel,
  isQuotaError,
  listCachedModels,
  nodeDiskCacheStore,
  type CachedFileInfo,
  type CachedModelInfo,
  type CacheStore,
} from './io/cache/index.js';
export { acquireGpu, describeGpu, type GpuContext } from './gpu/device.js';
export { predictMemory, type MemoryPrediction } from './model/memory.js';
export { parseConfig, type Qwen35Config } from './model/config.js';
export { PRESETS } from './model/presets.js';
export {
  planForAdapter,
  requiredContext,
  resolveBenchOptions,
  runBenchmark,
  type BenchProgress,
  type BenchProgressEvent,
} from './bench/harness.js';
export type { BenchOptions } from './bench/options.js';
export { BENCH_SCHEMA, SCENARIOS, type BenchResult, type Scenario } from './bench/schema.js';
export { benchMarkdown } from './bench/markdown.js';
export { benchPlots } from './bench/plots.js';
export * from './errors.js';
