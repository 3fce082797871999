/**
 * A loaded model on one GPU device: weights, KV cache + DeltaNet state, the forward graphs and
 * the primitives generation is built from — prefill (in chunks), decode (one command buffer per
 * token, the sampled id fed back on the GPU, only 4 bytes read back), reset, snapshot/restore.
 * Calls are serialised by a queue; a lost device or a GPU validation error fails the call
 * with a clear error and leaves nothing allocated after dispose().
 */
import { AbortedError, ContextOverflowError, DeviceLostError, InvalidArgumentError, OutOfGpuMemoryError, Qwen35Error } from '../errors.js';
import type { MemoryReport } from '../gpu/allocator.js';
import { acquireGpu, type GpuContext } from '../gpu/device.js';
import { createKernelContext, readF32, writeBuffer, type KernelContext } from '../gpu/kernel.js';
import { defaultWaitMode, hostClock, timerSleep, WaitPacer, type GpuWaitMode } from '../gpu/wait-pacer.js';
import type { KvFormat } from '../kernels/attention.js';
import type { Qwen35Config } from '../model/config.js';
import { planActivations, planKernelScratch, planState, uniformArenaBytes, type BufferSpec, type SessionShape } from './buffer-plan.js';
import { DeviceWatch } from './device-guard.js';
import { checkPlanFits, describeNeed, failedBufferNote, planWeightsForDevice } from './fit-check.js';
import { buildForwardGraphs, type ForwardGraphs } from './forward.js';
import { resolveWeightFormats, type WeightFormats, type WeightFormatSpec, type WeightPlan } from './gpu-weight-plan.js';
import { destroyGpuWeights, type GpuWeights } from './gpu-weights.js';
import type { Graph } from './graph.js';
import type { SamplingOptions } from './options.js';
import { BufferSet, CacheState, releaseSnapshot, type CacheSnapshot } from './state.js';

/** Stands in the token list for a fed id not read back yet (see Session.submitDecode). */
const UNKNOWN_TOKEN = -1;
/** A decode step's read-back (pacing: one unit per step). */
const TOKEN_WORK = { kind: 'token', units: 1 };

/** Tokens per prefill call unless the session is given `prefillChunk`. */
export const DEFAULT_PREFILL_CHUNK = 512;

export interface SessionOptions {
  /** One format for every matrix or per class; default q4. */
  weightFormat?: WeightFormatSpec;
  /** Longest sequence the session holds (prompt + output); default min(4096, the model's maximum). */
  maxContext?: number;
  /** Tokens per prefill call; default DEFAULT_PREFILL_CHUNK. */
  prefillChunk?: number;
  /** KV cache element format; default f16. */
  kvFormat?: KvFormat;
  /** Reuse a device; by default the session acquires (and later destroys) its own. */
  gpu?: GpuContext;
  /** Cap on one weight buffer (tests force multi-part matrices with it). */
  maxBindingBytes?: number;
  /**
   * How the host waits for the GPU (src/gpu/wait-pacer.ts): 'paced' sleeps through most of each
   * learned wait before asking Dawn, which then polls; 'polled' asks at once. Default: paced in
   * Node, polled in browsers.
   */
  gpuWaits?: GpuWaitMode;
  /**
   * Experimental, default off: the q4 decode matvecs quantize their input to int8 per group of 32
   * and multiply with integer dot products (LinearShape.matvecInt8X): fewer instructions per
   * weight, at the cost of rounding x to 8 bits.
   */
  int8Activations?: boolean;
}

export interface ResolvedSessionOptions extends SessionShape {
  formats: WeightFormats;
  maxBindingBytes: number;
  int8Activations: boolean;
}

export function resolveSessionOptions(config: Qwen35Config, options: SessionOptions, limits?: GPUSupportedLimits): ResolvedSessionOptions {
  const maxContext = options.maxContext ?? Math.min(4096, config.maxPositionEmbeddings);
  const prefillChunk = options.prefillChunk ?? DEFAULT_PREFILL_CHUNK;
  if (!(Number.isSafeInteger(maxContext) && maxContext >= 1 && maxContext <= config.maxPositionEmbeddings)) {
    throw new InvalidArgumentError(`maxContext must be an integer in [1, ${config.maxPositionEmbeddings}], got ${maxContext}`);
  }
  if (!(Number.isSafeInteger(prefillChunk) && prefillChunk >= 1 && prefillChunk <= 4096)) {
    throw new InvalidArgumentError(`prefillChunk must be an integer in [1, 4096], got ${prefillChunk}`);
  }
  const int8 = options.int8Activations;
  if (int8 !== undefined && typeof int8 !== 'boolean') throw new InvalidArgumentError(`int8Activations must be true or false, got ${String(int8)}`);
  const kvFormat = options.kvFormat ?? 'f16';
  if (kvFormat !== 'f16' && kvFormat !== 'f32') throw new InvalidArgumentError(`kvFormat must be "f16" or "f32", got ${String(kvFormat)}`);
  const deviceMax = limits ? Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize) : 2 ** 30;
  return {
    maxContext,
    prefillChunk: Math.min(prefillChunk, maxContext),
    kvFormat,
    formats: resolveWeightFormats(options.weightFormat),
    maxBindingBytes: Math.min(deviceMax, options.maxBindingBytes ?? Infinity),
    int8Activations: int8 ?? false,
  };
}

/** Everything the session allocates besides the weights, in allocation order. */
export function planSessionBuffers(config: Qwen35Config, shape: SessionShape): { state: BufferSpec[]; activations: BufferSpec[]; scratch: BufferSpec[] } {
  return { state: planState(config, shape), activations: planActivations(config, shape), scratch: planKernelScratch(config, shape) };
}

/** Weights, cache, activations and graphs, in that order; on failure the caller frees the allocator. */
async function allocate(
  ctx: KernelContext,
  config: Qwen35Config,
  resolved: ResolvedSessionOptions,
  plan: WeightPlan,
  loadWeights: (ctx: KernelContext, plan: WeightPlan) => Promise<GpuWeights>,
): Promise<{ weights: GpuWeights; cache: CacheState; activations: BufferSet; graphs: ForwardGraphs }> {
  const weights = await loadWeights(ctx, plan);
  const buffers = planSessionBuffers(config, resolved);
  const kvRowBytes = config.numKeyValueHeads * config.headDim * (resolved.kvFormat === 'f16' ? 2 : 4);
  const cache = new CacheState(ctx, buffers.state, kvRowBytes);
  const activations = new BufferSet(ctx, buffers.activations);
  const graphs = await buildForwardGraphs(ctx, config, resolved, weights, activations.buffers, cache.buffers);
  return { weights, cache, activations, graphs };
}

export interface LoadedWeights {
  plan: WeightPlan;
  weights: GpuWeights;
}

export class Session {
  /** Tokens whose K/V and DeltaNet state are in the cache, in order. */
  readonly tokens: number[] = [];
  private queue: Promise<unknown> = Promise.resolve();
  private readonly readbacks: GPUBuffer[];
  /** What each read-back slot's last submission waits on, for pacing its wait. */
  private readonly slotWork: { kind: string; units: number }[] = [TOKEN_WORK, TOKEN_WORK];
  private disposed = false;
  /** Buffers of the snapshots taken and not released (restore() accepts only these; copies of a snapshot share them). */
  private readonly snapshots = new WeakSet<CacheSnapshot['buffers']>();

  private constructor(
    readonly ctx: KernelContext,
    readonly config: Qwen35Config,
    readonly options: ResolvedSessionOptions,
    readonly weightPlan: WeightPlan,
    private readonly weights: GpuWeights,
    private readonly activations: BufferSet,
    private readonly cache: CacheState,
    private readonly graphs: ForwardGraphs,
    private readonly watch: DeviceWatch,
    /** How the host waits for the GPU; its stats show the time spent asleep and polling. */
    readonly pacer: WaitPacer,
    private readonly ownsDevice: boolean,
  ) {
    this.readbacks = [activations.buffers.readback0!, activations.buffers.readback1!];
  }

  /**
   * Creates a session on a device: `loadWeights` fills the GPU weights (the loader decides where they
   * come from); the rest is allocated from the buffer plan. The plan is checked against the device's
   * buffer limits before anything is allocated; a lost device, a GPU error or running out of GPU
   * memory fail the load with a typed error, and everything is released if any step fails.
   */
  static async create(
    config: Qwen35Config,
    options: SessionOptions,
    loadWeights: (ctx: KernelContext, plan: WeightPlan) => Promise<GpuWeights>,
  ): Promise<Session> {
    const waits = options.gpuWaits;
    if (waits !== undefined && waits !== 'paced' && waits !== 'polled') throw new InvalidArgumentError(`gpuWaits must be "paced" or "polled", got ${String(waits)}`);
    const gpu = options.gpu ?? (await acquireGpu());
    let ctx: KernelContext | undefined;
    const watch = new DeviceWatch(gpu);
    try {
      const resolved = resolveSessionOptions(config, options, gpu.limits);
      const buffers = planSessionBuffers(config, resolved);
      const bufferList = [...buffers.state, ...buffers.activations, ...buffers.scratch];
      const plan = planWeightsForDevice(config, resolved.formats, resolved.maxBindingBytes, bufferList);
      checkPlanFits(plan, bufferList, gpu.limits);
      ctx = createKernelContext(gpu, { uniformBytes: uniformArenaBytes(config) });
      gpu.device.pushErrorScope('out-of-memory');
      let parts: Awaited<ReturnType<typeof allocate>>;
      try {
        parts = await watch.wait(allocate(ctx, config, resolved, plan, loadWeights), 'loading the model');
      } finally {
        const oom = await gpu.device.popErrorScope().catch(() => null);
        if (oom) {
          throw new OutOfGpuMemoryError(
            `the GPU ran out of memory loading the model (${oom.message.split('\n')[0]});${failedBufferNote(oom.message, ctx.allocator.listBuffers())} it needs ` +
              `${describeNeed(plan.bytes, bufferList)}: load it with a smaller weight format or maxContext`,
          );
        }
      }
      watch.check('loading the model');
      const { weights, cache, activations, graphs } = parts;
      const pacer = new WaitPacer(waits ?? defaultWaitMode(gpu.adapter.runtime), hostClock((ms) => watch.wait(timerSleep(ms), 'waiting for the GPU')));
      return new Session(ctx, config, resolved, plan, weights, activations, cache, graphs, watch, pacer, !options.gpu);
    } catch (e) {
      watch.dispose();
      ctx?.allocator.dispose();
      if (!options.gpu) gpu.destroy();
      throw e;
    }
  }

  /** Tokens in the cache. */
  get position(): number {
    return this.tokens.length;
  }

  /** Runs `task` after every earlier call has finished (calls never interleave). */
  exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Throws if the session was disposed, the device was lost or a GPU error was raised. */
  checkHealthy(what = 'running the model'): void {
    if (this.disposed) throw new InvalidArgumentError(`this model has been disposed (while ${what}); load it again to continue`);
    this.watch.check(what);
  }

  setSampling(options: SamplingOptions): void {
    this.graphs.sampler.setOptions(options);
  }

  /**
   * Runs the prompt in chunks at the current position (the last chunk with the LM head and the
   * sampler, whose id goes to the read-back slot returned). At most two chunks are in
   * flight, so a long prompt neither floods the queue nor ignores `signal` (checked between chunks;
   * the cache then holds the chunks already run).
   */
  async prefill(ids: readonly number[], step: number, options: { signal?: AbortSignal; sequentialGdn?: boolean } = {}): Promise<number> {
    this.checkHealthy();
    if (ids.length === 0) throw new InvalidArgumentError('the prompt is empty: give at least one token');
    if (this.position + ids.length > this.options.maxContext) {
      throw new ContextOverflowError(
        `the prompt (${ids.length} tokens) does not fit: ${this.position} tokens are cached and the context holds ` +
          `${this.options.maxContext}; reset the session or load it with a larger maxContext`,
      );
    }
    const chunk = this.options.prefillChunk;
    const body = options.sequentialGdn ? this.graphs.prefillSequential : this.graphs.prefill;
    // Chunk c copies the token into read-back slot c % 2, which marks its completion: mapping the
    // slot waits for that chunk alone (the last submission using it), started only when needed.
    const inFlight: { slot: number; tokens: number }[] = [];
    let slot = 0;
    for (let start = 0, c = 0; start < ids.length; start += chunk, c++) {
      if (inFlight.length >= 2) {
        const done = inFlight.shift()!;
        await this.waitForSlot(done.slot, { kind: 'prompt chunk', units: done.tokens }, 'running the prompt');
        this.readbacks[done.slot]!.unmap();
      }
      if (options.signal?.aborted) throw new AbortedError('the prompt was cancelled during prefill');
      this.checkHealthy();
      const part = ids.slice(start, start + chunk);
      const shape = { pos0: this.position, tokens: part.length };
      writeBuffer(this.ctx, this.activations.buffers.ids!, Uint32Array.from(part));
      writeBuffer(this.ctx, this.activations.buffers.history!, Uint32Array.from(part), shape.pos0 * 4);
      const last = start + chunk >= ids.length;
      slot = c % 2;
      this.submit(last ? [body, this.graphs.head] : [body], shape, step, slot);
      this.tokens.push(...part);
      inFlight.push({ slot, tokens: part.length });
    }
    // The sampled id waits on every chunk still in flight.
    this.slotWork[slot] = { kind: 'prompt', units: inFlight.reduce((n, f) => n + f.tokens, 0) };
    return slot;
  }

  /**
   * Feeds the token sampled into `token` (at the current position) and samples the next into `slot`.
   * The fed id may still be on its way back (`undefined`): the step is then submitted before the
   * host has read it, and `recordFedToken` fills it in once it has.
   */
  submitDecode(fedToken: number | undefined, step: number, slot: number): void {
    this.checkHealthy();
    if (this.position >= this.options.maxContext) throw new ContextOverflowError(`the context (${this.options.maxContext} tokens) is full`);
    this.submit([this.graphs.decode], { pos0: this.position, tokens: 1 }, step, slot);
    this.slotWork[slot] = TOKEN_WORK;
    this.tokens.push(fedToken ?? UNKNOWN_TOKEN);
  }

  /** Names the last fed token once its id is read back (see submitDecode). */
  recordFedToken(id: number): void {
    if (this.tokens[this.tokens.length - 1] !== UNKNOWN_TOKEN) throw new Error('recordFedToken: the last fed token is already known');
    this.tokens[this.tokens.length - 1] = id;
  }

  private submit(graphs: Graph[], shape: { pos0: number; tokens: number }, step: number, slot: number | undefined): void {
    for (const g of graphs) g.update(shape);
    this.graphs.sampler.setStep(step, shape.pos0 + shape.tokens);
    this.ctx.uniforms.flush();
    const encoder = this.ctx.device.createCommandEncoder({ label: graphs[0]!.label });
    for (const g of graphs) g.encode(encoder, shape);
    if (slot !== undefined) encoder.copyBufferToBuffer(this.activations.buffers.token!, 0, this.readbacks[slot]!, 0, 4);
    this.ctx.device.queue.submit([encoder.finish()]);
  }

  /**
   * Feeds `id` at the current position through the decode graph (as generation does) and returns
   * the id sampled after it; for tests and scoring, which then read the logits.
   */
  async decodeWith(id: number, step: number): Promise<number> {
    writeBuffer(this.ctx, this.activations.buffers.token!, Uint32Array.of(id));
    this.submitDecode(id, step, 0);
    return this.readToken(0);
  }

  /** Waits for the id sampled into `slot`. */
  async readToken(slot: number): Promise<number> {
    const buffer = this.readbacks[slot]!;
    await this.waitForSlot(slot, this.slotWork[slot]!, 'waiting for the sampled token');
    const id = new Uint32Array(buffer.getMappedRange())[0]!;
    buffer.unmap();
    this.checkHealthy();
    return id;
  }

  /** Maps read-back `slot` (paced as `work`): settles when the last submission writing it has run. */
  private async waitForSlot(slot: number, work: { kind: string; units: number }, what: string): Promise<void> {
    try {
      await this.pacer.wait(work.kind, work.units, () => this.watch.wait(this.readbacks[slot]!.mapAsync(GPUMapMode.READ), what));
    } catch (e) {
      this.checkHealthy(what);
      if (e instanceof Qwen35Error) throw e;
      throw new DeviceLostError(`${what} failed: ${(e as Error).message}`, { cause: e });
    }
  }

  /** The logits of the last forward call (tests and scoring; a full read-back of the vocabulary). */
  async readLogits(): Promise<Float32Array> {
    this.checkHealthy('reading the logits');
    return this.watch.wait(readF32(this.ctx, this.activations.buffers.logits!, this.config.vocabSize), 'reading the logits');
  }

  /** Forgets the cached tokens (DeltaNet state zeroed; KV rows are overwritten as needed). */
  reset(): void {
    this.checkHealthy();
    const encoder = this.ctx.device.createCommandEncoder({ label: 'reset' });
    this.cache.clear(encoder);
    this.ctx.device.queue.submit([encoder.finish()]);
    this.tokens.length = 0;
  }

  /** Copies the whole cache state; restore() returns to it. Release with releaseSnapshot(). */
  snapshot(): CacheSnapshot {
    this.checkHealthy('taking a snapshot');
    const snap = this.cache.snapshot(this.ctx, this.position, this.tokens);
    this.snapshots.add(snap.buffers);
    return snap;
  }

  /** Returns to a snapshot this session took and has not released. */
  restore(snap: CacheSnapshot): void {
    this.checkHealthy('restoring a snapshot');
    if (!this.snapshots.has(snap.buffers)) {
      throw new InvalidArgumentError('restore() needs a snapshot taken by this model with snapshot() and not released yet');
    }
    this.cache.restore(this.ctx, snap);
    // The sampler's repetition penalty reads the cached ids from `history`; later calls overwrote it.
    if (snap.tokens.length > 0) writeBuffer(this.ctx, this.activations.buffers.history!, Uint32Array.from(snap.tokens));
    this.tokens.splice(0, this.tokens.length, ...snap.tokens);
  }

  releaseSnapshot(snap: CacheSnapshot): void {
    this.snapshots.delete(snap.buffers);
    releaseSnapshot(this.ctx, snap);
  }

  /** Live GPU bytes per category, as the allocator counts them. */
  memory(): MemoryReport {
    return this.ctx.allocator.report();
  }

  /** Graphs, for benchmarks and profiling. */
  get forward(): ForwardGraphs {
    return this.graphs;
  }

  /** Frees every GPU buffer (and the device if the session created it). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.watch.dispose();
    this.graphs.destroy();
    destroyGpuWeights(this.ctx, this.weights);
    this.activations.destroy();
    this.cache.destroy();
    this.ctx.allocator.dispose();
    if (this.ownsDevice) this.ctx.gpu.destroy();
  }
}
