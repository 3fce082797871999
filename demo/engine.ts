/**
 * What the inference worker does, without the messaging: one GPU device for the worker's
 * lifetime (acquired again after a loss), at most one loaded model, and the calls the page makes —
 * probe the adapter, inspect a checkpoint (predicted memory and fit, before loading), load it with
 * progress, stream a chat reply, reset, unload.
 */
import {
  DeviceLostError,
  SCENARIOS,
  acquireGpu,
  benchMarkdown,
  benchPlots,
  planForAdapter,
  runBenchmark,
  type BenchOptions,
  type BenchProgress,
  loadModel,
  openSource,
  readModelConfig,
  type ChatMessage,
  type GpuContext,
  type LoadProgress,
  type MemoryComparison,
  type Qwen35Config,
  type Qwen35Model,
} from '../src/index.js';
import type { MemoryReport } from '../src/gpu/allocator.js';
import { memoryPlot } from '../src/cli/mem-plot.js';
import { RateMeter } from '../src/io/progress.js';
import { checkFit } from './fit.js';
import type { AdapterView, BenchSettings, BenchView, Inspection, LoadedView, ModelSettings, ModelSummary, ProgressView, ReplyView, SamplingSettings, SourceInput } from './protocol.js';
import { toSourceSpec } from './source-spec.js';

export interface EngineEnvironment {
  /** Where relative URLs (the built-in /models/ folders) resolve. */
  pageUrl: string;
  /** navigator.deviceMemory (GiB), where the browser reports it. */
  systemRamGiB: number | undefined;
  /** Called when the device is lost while in use (the model is gone; the page must load again). */
  onDeviceLost(message: string): void;
}

export function adapterView(gpu: GpuContext): AdapterView {
  const f = gpu.features;
  const l = gpu.limits;
  return {
    name: gpu.adapter.name,
    isSoftware: gpu.adapter.isSoftware,
    f16: f.f16,
    subgroups: f.subgroups,
    subgroupSizes: f.subgroups ? `${f.subgroupMinSize}–${f.subgroupMaxSize}` : '',
    timestamps: f.timestamps,
    limits: {
      maxBufferSize: l.maxBufferSize,
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
      maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
    },
  };
}

/** The memory-vs-context plot (SVG) of src/cli/mem-plot.ts, with the measured point once loaded. */
function plot(source: string, config: Qwen35Config, settings: ModelSettings, measured?: MemoryComparison): string {
  const title = `${source}: ${settings.weightFormat} weights, ${settings.kvFormat} KV cache`;
  const points = measured ? [{ context: settings.maxContext, byCategory: measured.measured }] : [];
  return memoryPlot(title, config, { weightFormat: settings.weightFormat, kvFormat: settings.kvFormat }, points);
}

function summarize(source: string, config: Qwen35Config): ModelSummary {
  return {
    source,
    modelType: config.modelType,
    layers: config.numLayers,
    hiddenSize: config.hiddenSize,
    vocabSize: config.vocabSize,
    maxPositionEmbeddings: config.maxPositionEmbeddings,
    experts: config.moe?.numExperts ?? 0,
  };
}

/** LoadProgress → what the progress bar shows; speed and ETA over a 5 s window, restarted per phase. */
export function progressReporter(report: (p: ProgressView) => void): (p: LoadProgress) => void {
  let phase = '';
  let rate = new RateMeter();
  return (p) => {
    if (p.phase !== phase) {
      phase = p.phase;
      rate = new RateMeter();
    }
    rate.sample(p.bytesDone);
    report({
      phase: p.phase,
      bytesDone: p.bytesDone,
      bytesTotal: p.bytesTotal,
      filesDone: p.files.filter((f) => f.bytesDone >= f.bytesTotal).length,
      filesTotal: p.files.length,
      currentFile: p.files.find((f) => f.bytesDone < f.bytesTotal)?.file,
      bytesPerSecond: rate.bytesPerSecond(),
      etaSeconds: rate.etaSeconds(p.bytesTotal - p.bytesDone),
    });
  };
}

/** Interval of the live memory readings while a reply streams. */
export const MEMORY_READING_MS = 500;

export class Engine {
  private gpu: GpuContext | undefined;
  private active: { model: Qwen35Model; settings: ModelSettings } | undefined;

  constructor(private readonly env: EngineEnvironment) {}

  /** The worker's device, acquired on first use and again after it was lost. */
  private async device(): Promise<GpuContext> {
    if (this.gpu) return this.gpu;
    const gpu = await acquireGpu();
    this.gpu = gpu;
    void gpu.lost.then((info) => {
      if (this.gpu !== gpu) return;
      this.gpu = undefined;
      this.active = undefined; // its buffers died with the device
      this.env.onDeviceLost(`the GPU device was lost (${info.message || info.reason}); load the model again`);
    });
    return gpu;
  }

  async probe(): Promise<AdapterView> {
    return adapterView(await this.device());
  }

  async inspect(input: SourceInput, settings: ModelSettings, signal: AbortSignal): Promise<Inspection> {
    const gpu = await this.device();
    const { spec, options } = toSourceSpec(input, settings, this.env.pageUrl);
    const source = await openSource(spec, { ...options, signal });
    const config = await readModelConfig(source);
    const { prediction, fit } = checkFit(config, settings, gpu.limits, { isSoftware: gpu.adapter.isSoftware, systemRamGiB: this.env.systemRamGiB });
    return { model: summarize(source.description, config), prediction, fit, plot: prediction ? plot(source.description, config, settings) : undefined };
  }

  async load(input: SourceInput, settings: ModelSettings, signal: AbortSignal, onProgress: (p: ProgressView) => void): Promise<LoadedView> {
    this.unload();
    const gpu = await this.device();
    const started = performance.now();
    const { spec, options } = toSourceSpec(input, settings, this.env.pageUrl);
    const model = await loadModel(spec, {
      ...options,
      gpu,
      weightFormat: settings.weightFormat,
      maxContext: settings.maxContext,
      kvFormat: settings.kvFormat,
      signal,
      onProgress: progressReporter(onProgress),
    });
    this.active = { model, settings };
    const memory = model.memory();
    return {
      model: summarize(model.source.description, model.config),
      memory,
      plot: plot(model.source.description, model.config, settings, memory),
      loadMs: performance.now() - started,
    };
  }

  /** The loaded model and the settings it was loaded with. */
  current(): { model: Qwen35Model; settings: ModelSettings } {
    if (!this.active) throw new DeviceLostError('no model is loaded (the GPU device was lost or the model was unloaded); load a model first');
    return this.active;
  }

  /**
   * Streams the reply's text pieces (with the token count so far); returns the whole reply.
   * `onMemory` gets the allocator's counters (no prediction, no buffer walk) after the first
   * token and then at most every MEMORY_READING_MS.
   */
  async *chat(
    messages: ChatMessage[],
    sampling: SamplingSettings,
    signal: AbortSignal,
    onMemory?: (reading: MemoryReport, tokens: number) => void,
  ): AsyncGenerator<{ text: string; tokens: number }, ReplyView> {
    const { model } = this.current();
    const { enableThinking, ...generate } = sampling;
    const stream = model.chat(messages, { ...generate, enableThinking, signal });
    let lastReading = -Infinity;
    for (;;) {
      const r = await stream.next();
      if (r.done) {
        return { text: r.value.text, finishReason: r.value.finishReason, stats: r.value.stats, memory: model.memory() };
      }
      const tokens = r.value.generated;
      const now = performance.now();
      if (onMemory && now - lastReading >= MEMORY_READING_MS) {
        lastReading = now;
        onMemory(model.session.memory(), tokens);
      }
      if (r.value.text) yield { text: r.value.text, tokens };
    }
  }

  /**
   * runBenchmark on the loaded model: the adapter's plan (quick on a software adapter) with the
   * panel's overrides. The benchmark feeds its own prompts, so the chat's cached state is reset.
   */
  async bench(settings: BenchSettings, signal: AbortSignal, onProgress: BenchProgress): Promise<BenchView> {
    const { model } = this.current();
    const { kernels, ...overrides } = settings;
    const plan = planForAdapter({}, model.session.ctx.gpu.adapter.isSoftware);
    const options: BenchOptions = {
      ...plan.options,
      ...Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined)),
      scenarios: SCENARIOS.filter((s) => kernels || s !== 'kernels'),
    };
    try {
      const result = await runBenchmark(model, { ...options, signal }, onProgress);
      return { result, markdown: benchMarkdown(result), plots: benchPlots(result), reduced: plan.reduced };
    } finally {
      model.reset();
    }
  }

  reset(): MemoryComparison {
    const { model } = this.current();
    model.reset();
    return model.memory();
  }

  unload(): void {
    this.active?.model.dispose();
    this.active = undefined;
  }
}
