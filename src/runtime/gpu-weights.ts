/**
 * Uploads a checkpoint into GPU buffers following the weight plan (gpu-weight-plan.ts): fused
 * matrices in their chosen format (quantized on the CPU as rows stream in, on worker threads by
 * default: pack-pool.ts) and f32 vectors. Peak JS memory is one block of rows (≤ 16 MiB of f32)
 * per quantize worker plus one being read, and one small tensor: a plain
 * checkpoint tensor is read in row blocks straight from its file; only tensors that need
 * reshuffling (Qwen3-Next de-interleaving, per-expert stacking, FP8 scaling) are materialized.
 * On any failure every buffer created so far is destroyed.
 */
import { AbortedError, InvalidArgumentError, ModelFormatError } from '../errors.js';
import { storageUsage, writeBuffer, type KernelContext } from '../gpu/kernel.js';
import { dataBytes, isQuantized, paddedCols, QUANT_GROUP, scaleBytes } from '../io/formats.js';
import { defaultPackThreads, PackPool } from '../io/pack-pool.js';
import { packWeightRows } from '../io/pack-weights.js';
import type { PackedMatrix } from '../io/quantize.js';
import { toFloat32 } from '../io/safetensors.js';
import { quoteName } from '../io/show-value.js';
import type { ProgressCallback } from '../io/source.js';
import type { TensorDirectory } from '../io/tensor-directory.js';
import { destroyMatrix, type GpuMatrix, type GpuMatrixPart } from '../kernels/matrix.js';
import { directoryReader, materialize, weightEntries, type ModelWeights, type TensorRecipe } from '../model/weights.js';
import type { MatrixPlan, VectorPlan, WeightPlan } from './gpu-weight-plan.js';

export interface GpuAttnWeights {
  qkv: GpuMatrix;
  o: GpuMatrix;
  qNorm: GPUBuffer;
  kNorm: GPUBuffer;
}
export interface GpuGdnWeights {
  inProj: GpuMatrix;
  outProj: GpuMatrix;
  conv1d: GPUBuffer;
  aLog: GPUBuffer;
  dtBias: GPUBuffer;
  norm: GPUBuffer;
}
export interface GpuMlpWeights {
  gateUp: GpuMatrix;
  down: GpuMatrix;
}
export interface GpuMoeWeights {
  /** [E + 1, hidden]: the router's rows, then the shared expert's gate row. */
  router: GpuMatrix;
  gateUp: GpuMatrix;
  down: GpuMatrix;
  sharedGateUp: GpuMatrix;
  sharedDown: GpuMatrix;
}
export interface GpuLayerWeights {
  inputNorm: GPUBuffer;
  postNorm: GPUBuffer;
  attn?: GpuAttnWeights;
  gdn?: GpuGdnWeights;
  mlp?: GpuMlpWeights;
  moe?: GpuMoeWeights;
}
export interface GpuWeights {
  embed: GpuMatrix;
  /** The embedding itself when tied. */
  lmHead: GpuMatrix;
  finalNorm: GPUBuffer;
  layers: GpuLayerWeights[];
}

export interface LoadWeightsOptions {
  onProgress?: ProgressCallback;
  signal?: AbortSignal;
  /**
   * Workers that quantize on load (q8/q4 from a bf16/f16/f32 checkpoint); default one per spare
   * core, at most 4; 0 packs on the caller's thread. The bytes are the same either way.
   */
  quantizeThreads?: number;
}

/** f32 bytes of one block of rows converted at a time. */
const BLOCK_BYTES = 16 * 2 ** 20;
/**
 * Without an explicit quantizeThreads, workers start only when the quantized matrices hold at
 * least this many f32 bytes: a smaller model is packed before a worker (a module load) is up.
 */
const POOL_MIN_F32_BYTES = 4 * BLOCK_BYTES;
/** More workers than this only add memory (a block each): the GPU upload is the next bottleneck. */
const MAX_QUANTIZE_THREADS = 16;
/** Wait for the queue after this many uploaded bytes so Dawn's staging memory stays bounded. */
const FLUSH_BYTES = 256 * 2 ** 20;

/** A block of rows on its way to the GPU: where it goes and how to name its rows in messages. */
interface RowBlock {
  values: Float32Array;
  rows: number;
  part: GpuMatrixPart;
  /** First row of the block inside its part. */
  local: number;
  where: (row: number) => string;
}

/**
 * Streams rows (in order) into a matrix's parts. Rows are packed in blocks of an even number of
 * rows counted from the start of each part, so every write offset — including the scale array's,
 * 2 bytes per group of 32 — is a multiple of 4 bytes. With a PackPool, q8/q4 blocks are packed on
 * its workers, one block in flight per worker while the next one is read.
 */
class MatrixWriter {
  /** Rows handed on so far (= first row of the pending block). */
  private row = 0;
  private pending: Float32Array;
  private pendingRows = 0;
  /** Where the pending rows come from: from pending row `at` on, rows of `recipe` counted from `row` (for messages). */
  private origins: { at: number; recipe: TensorRecipe; row: number }[] = [];
  /** Blocks out on the pool, oldest first, and blocks back from it for reuse. */
  private readonly inFlight: Promise<void>[] = [];
  private readonly spare: Float32Array[] = [];
  readonly blockRows: number;

  constructor(
    private readonly ctx: KernelContext,
    private readonly m: GpuMatrix,
    private readonly onBytes: (n: number) => Promise<void>,
    private readonly description: string,
    private readonly pool: PackPool | undefined,
  ) {
    this.blockRows = Math.max(2, 2 * Math.floor(BLOCK_BYTES / (8 * m.cols)));
    this.pending = new Float32Array(this.blockRows * m.cols);
  }

  private part(): GpuMatrixPart {
    return this.m.parts.find((p) => this.row >= p.rowStart && this.row < p.rowStart + p.rows)!;
  }

  /** Appends rows `firstRow`.. of `recipe`. */
  async push(values: Float32Array, recipe: TensorRecipe, firstRow: number): Promise<void> {
    const cols = this.m.cols;
    for (let off = 0; off < values.length; ) {
      const part = this.part();
      const limit = Math.min(this.blockRows, part.rowStart + part.rows - this.row);
      const take = Math.min(values.length - off, (limit - this.pendingRows) * cols);
      this.origins.push({ at: this.pendingRows, recipe, row: firstRow + off / cols });
      this.pending.set(values.subarray(off, off + take), this.pendingRows * cols);
      this.pendingRows += take / cols;
      off += take;
      if (this.pendingRows === limit) await this.flush();
    }
  }

  /** Packs and writes the pending rows (all inside the current part), on the pool when there is one. */
  async flush(): Promise<void> {
    if (this.pendingRows === 0) return;
    const part = this.part();
    const [origins, first] = [this.origins, this.row];
    const where = (r: number): string => {
      const o = origins.findLast((x) => x.at <= r)!;
      return `${this.description}: ${checkpointRow(o.recipe, o.row + r - o.at)} (for ${this.m.label} row ${first + r})`;
    };
    const block: RowBlock = { values: this.pending, rows: this.pendingRows, part, local: first - part.rowStart, where };
    this.row += this.pendingRows;
    this.pendingRows = 0;
    this.origins = [];
    const { format, cols } = this.m;
    if (!this.pool || !isQuantized(format)) {
      await this.write(block, packWeightRows(block.values, cols, format, block.rows, where));
      return;
    }
    this.pending = this.spare.pop() ?? new Float32Array(this.blockRows * cols);
    const task = this.packOnPool(this.pool, block).then((packed) => this.write(block, packed));
    task.catch(() => {}); // awaited below or by finish()/settle(); until then a failure is not unhandled
    this.inFlight.push(task);
    while (this.inFlight.length > this.pool.threads) await this.inFlight.shift();
  }

  private async packOnPool(pool: PackPool, block: RowBlock): Promise<PackedMatrix> {
    const { format, cols } = this.m;
    const out = await pool.pack(block.values, cols, format, block.rows);
    this.spare.push(out.values);
    // A refused value: packing the block here again gives the error that names its row and column.
    return out.packed ?? packWeightRows(out.values, cols, format, block.rows, block.where);
  }

  private async write(block: RowBlock, packed: PackedMatrix): Promise<void> {
    const { format, cols } = this.m;
    writeBuffer(this.ctx, block.part.data, packed.data, dataBytes(format, block.local, cols));
    if (block.part.scales && packed.scales) writeBuffer(this.ctx, block.part.scales, packed.scales, (block.local * paddedCols(cols)) / QUANT_GROUP * 2);
    await this.onBytes(packed.data.byteLength + (packed.scales?.byteLength ?? 0));
  }

  /** Writes what is left and checks that every row arrived. */
  async finish(): Promise<void> {
    await this.flush();
    while (this.inFlight.length > 0) await this.inFlight.shift();
    if (this.row !== this.m.rows) throw new ModelFormatError(`${this.m.label}: wrote ${this.row} of ${this.m.rows} rows`);
  }

  /** After a failure: waits until no block is still on its way (its buffers are about to be destroyed). */
  async settle(): Promise<void> {
    await Promise.allSettled(this.inFlight);
  }
}

/** `tensor "<name>" row <n>`: the checkpoint row behind row `row` of a recipe. */
function checkpointRow(recipe: TensorRecipe, row: number): string {
  let start = 0;
  for (const copy of recipe.rows) {
    if (row < start + copy.rows) return `tensor ${quoteName(recipe.sources[copy.source]!.name)} row ${copy.from + row - start}`;
    start += copy.rows;
  }
  return `${recipe.path} row ${row}`;
}

/** True when a recipe is one contiguous checkpoint tensor: its rows can stream straight from the file. */
function isPlainCopy(recipe: TensorRecipe): boolean {
  const src = recipe.sources[0];
  return recipe.sources.length === 1 && recipe.rows.length === 1 && recipe.rows[0]!.from === 0 && !src!.scaleInv;
}

export async function loadGpuWeights(
  ctx: KernelContext,
  plan: WeightPlan,
  recipes: ModelWeights<TensorRecipe>,
  dir: TensorDirectory,
  options: LoadWeightsOptions = {},
): Promise<GpuWeights> {
  const byPath = new Map(weightEntries(recipes));
  const recipe = (path: string): TensorRecipe => {
    const r = byPath.get(path);
    if (!r) throw new ModelFormatError(`${dir.description}: the checkpoint has no tensor for ${path}`);
    return r;
  };
  const created: GpuMatrix[] = [];
  const vectors: GPUBuffer[] = [];
  const total = plan.bytes;
  let done = 0;
  let sinceFlush = 0;
  const progress = async (bytes: number): Promise<void> => {
    if (options.signal?.aborted) throw new AbortedError('loading the weights was cancelled');
    done += bytes;
    sinceFlush += bytes;
    if (sinceFlush >= FLUSH_BYTES) {
      sinceFlush = 0;
      await ctx.device.queue.onSubmittedWorkDone();
    }
    options.onProgress?.({ phase: 'upload', bytesDone: done, bytesTotal: total, files: [] });
  };
  const read = directoryReader(dir, options.signal);

  const uploadMatrix = async (m: MatrixPlan): Promise<GpuMatrix> => {
    const matrix: GpuMatrix = { label: m.key, format: m.format, rows: m.rows, cols: m.cols, parts: [] };
    created.push(matrix);
    for (const p of m.parts) {
      const part: GpuMatrixPart = { ...p, data: allocate(ctx, `${m.key}[${p.rowStart}..]`, dataBytes(m.format, p.rows, m.cols)) };
      const sb = scaleBytes(m.format, p.rows, m.cols);
      if (sb > 0) part.scales = allocate(ctx, `${m.key}[${p.rowStart}..].scales`, sb);
      matrix.parts.push(part);
    }
    const writer = new MatrixWriter(ctx, matrix, progress, dir.description, pool);
    current = writer;
    for (const source of m.sources) {
      const r = recipe(source.path);
      // Stacked experts [E, n, cols] are rows of a [E·n, cols] matrix.
      const cols = r.shape[r.shape.length - 1];
      if (cols !== m.cols || r.shape.reduce((a, b) => a * b, 1) !== source.rows * m.cols) {
        throw new ModelFormatError(`${r.path}: expected ${source.rows} rows of ${m.cols} for ${m.key}, the recipe gives [${r.shape.join(', ')}]`);
      }
      if (isPlainCopy(r)) await streamRows(dir, r, m.cols, writer.blockRows, (v, row) => writer.push(v, r, row), options.signal);
      else await writer.push(await materialize(r, read), r, 0);
    }
    await writer.finish();
    return matrix;
  };

  const uploadVector = async (v: VectorPlan): Promise<GPUBuffer> => {
    const values = await materialize(recipe(v.path), read);
    if (values.length !== v.length) throw new ModelFormatError(`${v.path}: expected ${v.length} values, got ${values.length}`);
    const buffer = allocate(ctx, v.key, v.bytes);
    vectors.push(buffer);
    writeBuffer(ctx, buffer, values);
    await progress(v.bytes);
    return buffer;
  };

  let pool: PackPool | undefined;
  let current: MatrixWriter | undefined;
  try {
    pool = await startPackPool(plan, options.quantizeThreads);
    const m = new Map<string, GpuMatrix>();
    for (const mp of plan.matrices) m.set(mp.key, await uploadMatrix(mp));
    const v = new Map<string, GPUBuffer>();
    for (const vp of plan.vectors) v.set(vp.key, await uploadVector(vp));
    await ctx.device.queue.onSubmittedWorkDone();
    return assemble(m, v, plan, recipes.layers.length);
  } catch (e) {
    await current?.settle();
    created.forEach((matrix) => destroyMatrix(ctx, matrix));
    vectors.forEach((b) => ctx.allocator.destroy(b));
    throw e;
  } finally {
    pool?.close();
  }
}

/**
 * The workers that quantize on load: only when some matrix is q8/q4 and threads are not 0 (by
 * default, only for at least POOL_MIN_F32_BYTES of quantized weights). Where
 * workers cannot start (a page whose CSP forbids them), the default packs on the caller's thread;
 * an explicit thread count is a PackWorkerError.
 */
async function startPackPool(plan: WeightPlan, threads: number | undefined): Promise<PackPool | undefined> {
  if (threads !== undefined && !(Number.isInteger(threads) && threads >= 0 && threads <= MAX_QUANTIZE_THREADS)) {
    throw new InvalidArgumentError(`quantizeThreads must be an integer from 0 to ${MAX_QUANTIZE_THREADS}, got ${threads}`);
  }
  const quantizedF32Bytes = plan.matrices.reduce((sum, m) => sum + (isQuantized(m.format) ? m.rows * m.cols * 4 : 0), 0);
  if (quantizedF32Bytes === 0 || threads === 0) return undefined;
  if (threads !== undefined) return PackPool.start(threads);
  if (quantizedF32Bytes < POOL_MIN_F32_BYTES) return undefined;
  return PackPool.start(await defaultPackThreads()).catch(() => undefined);
}

/** A weight buffer (also used by the packed loader, packed-weights.ts). */
export function allocate(ctx: KernelContext, label: string, bytes: number): GPUBuffer {
  return ctx.allocator.create({ label, category: 'weights', size: bytes, usage: storageUsage() });
}

/** Reads a plain tensor's rows block by block (range reads) and hands them on as f32. */
async function streamRows(
  dir: TensorDirectory,
  recipe: TensorRecipe,
  cols: number,
  blockRows: number,
  sink: (values: Float32Array, firstRow: number) => Promise<void>,
  signal?: AbortSignal,
): Promise<void> {
  const src = recipe.sources[0]!;
  const entry = dir.tensors.get(src.name)!;
  const file = dir.files.get(entry.file)!;
  const rows = recipe.shape.reduce((a, b) => a * b, 1) / cols;
  const rowBytes = entry.info.byteLength / rows;
  for (let r = 0; r < rows; r += blockRows) {
    const n = Math.min(blockRows, rows - r);
    const bytes = await file.read(entry.info.offset + r * rowBytes, n * rowBytes, signal);
    await sink(toFloat32(bytes, entry.info.dtype, [n, cols]), r);
  }
}

/** The GpuWeights structure from the uploaded matrices and vectors by key (also used by packed-weights.ts). */
export function assemble(m: Map<string, GpuMatrix>, v: Map<string, GPUBuffer>, plan: WeightPlan, layers: number): GpuWeights {
  const mat = (k: string): GpuMatrix => m.get(k)!;
  const vec = (k: string): GPUBuffer => v.get(k)!;
  const out: GpuWeights = { embed: mat('embed'), lmHead: mat(plan.lmHeadKey), finalNorm: vec('finalNorm'), layers: [] };
  for (let i = 0; i < layers; i++) {
    const p = `layers.${i}`;
    const layer: GpuLayerWeights = { inputNorm: vec(`${p}.inputNorm`), postNorm: vec(`${p}.postNorm`) };
    if (m.has(`${p}.attn.qkv`)) {
      layer.attn = { qkv: mat(`${p}.attn.qkv`), o: mat(`${p}.attn.o`), qNorm: vec(`${p}.attn.qNorm`), kNorm: vec(`${p}.attn.kNorm`) };
    } else {
      layer.gdn = {
        inProj: mat(`${p}.gdn.inProj`),
        outProj: mat(`${p}.gdn.out`),
        conv1d: vec(`${p}.gdn.conv1d`),
        aLog: vec(`${p}.gdn.aLog`),
        dtBias: vec(`${p}.gdn.dtBias`),
        norm: vec(`${p}.gdn.norm`),
      };
    }
    if (m.has(`${p}.moe.router`)) {
      layer.moe = {
        router: mat(`${p}.moe.router`),
        gateUp: mat(`${p}.moe.gateUp`),
        down: mat(`${p}.moe.down`),
        sharedGateUp: mat(`${p}.moe.sharedGateUp`),
        sharedDown: mat(`${p}.moe.sharedDown`),
      };
    } else {
      layer.mlp = { gateUp: mat(`${p}.mlp.gateUp`), down: mat(`${p}.mlp.down`) };
    }
    out.layers.push(layer);
  }
  return out;
}

/** Destroys every weight buffer. */
export function destroyGpuWeights(ctx: KernelContext, w: GpuWeights): void {
  const matrices = new Set<GpuMatrix>([w.embed, w.lmHead]);
  const buffers = [w.finalNorm];
  for (const l of w.layers) {
    buffers.push(l.inputNorm, l.postNorm);
    if (l.attn) {
      matrices.add(l.attn.qkv).add(l.attn.o);
      buffers.push(l.attn.qNorm, l.attn.kNorm);
    }
    if (l.gdn) {
      matrices.add(l.gdn.inProj).add(l.gdn.outProj);
      buffers.push(l.gdn.conv1d, l.gdn.aLog, l.gdn.dtBias, l.gdn.norm);
    }
    if (l.mlp) matrices.add(l.mlp.gateUp).add(l.mlp.down);
    if (l.moe) Object.values(l.moe).forEach((mm) => matrices.add(mm));
  }
  matrices.forEach((mm) => destroyMatrix(ctx, mm));
  buffers.forEach((b) => ctx.allocator.destroy(b));
}
