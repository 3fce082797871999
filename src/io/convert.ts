/**
 * `qwen35 convert`: rewrites a Hugging Face checkpoint once into the packed layout of
 * ./packed-manifest.ts (GPU matrices already quantized), so that it downloads ~4× smaller (q4)
 * and loads without quantizing. config.json, generation_config.json, the tokenizer files and the
 * chat template are copied unchanged.
 *
 * Streaming: rows go checkpoint → f32 block (≤ 16 MiB) → packWeightRows → sink, so peak memory is one
 * block of rows or one vector. A quantized matrix is read and packed twice: its scales tensor is
 * written before its data (a safetensors tensor is contiguous), and keeping the scales in memory
 * instead would cost 1/32 of the matrix's bf16 size (268 MB for one 397B expert matrix).
 */
import { AbortedError, InvalidArgumentError, ModelFormatError } from '../errors.js';
import { loadConfig } from '../model/config.js';
import { planWeights } from '../model/weight-plan.js';
import { recipeRows, type RowBlock } from '../model/weight-rows.js';
import { directoryReader, materialize, weightEntries, type TensorRecipe } from '../model/weights.js';
import { planGpuWeights, resolveWeightFormats, type MatrixPlan, type VectorPlan, type WeightFormatSpec } from '../runtime/gpu-weight-plan.js';
import { paddedCols, QUANT_GROUP } from './formats.js';
import {
  buildPackedManifest,
  packedMatrixTensors,
  packedTensorSpecs,
  PACKED_FORMAT,
  PACKED_MANIFEST,
  WHOLE_MATRIX_BYTES,
  type PackedManifest,
} from './packed-manifest.js';
import { ProgressTracker } from './progress.js';
import { packWeightRows } from './pack-weights.js';
import type { PackedMatrix } from './quantize.js';
import { numel } from './safetensors.js';
import { planShards, safetensorsHeader, shardFileName, tensorBytes, writeShardedCheckpoint } from './safetensors-writer.js';
import { quoteName } from './show-value.js';
import type { CheckpointSource, ProgressCallback } from './source.js';
import { openTensorDirectory, type TensorDirectory } from './tensor-directory.js';

/** Where the converted files go: chunks appended file after file (one file open at a time). */
export interface CheckpointSink {
  write(file: string, chunk: Uint8Array): Promise<void>;
}

export interface ConvertOptions {
  /** One format for every matrix or per class (default q4); routers stay f32 as on load. */
  weightFormat?: WeightFormatSpec;
  /** Largest shard (tensor bytes); default 2 GiB. */
  maxShardBytes?: number;
  /** Phase 'convert', one entry per written file. */
  onProgress?: ProgressCallback;
  signal?: AbortSignal;
}

export interface ConvertResult {
  manifest: PackedManifest;
  /** Files written, in order. */
  files: string[];
  bytesWritten: number;
  /** Bytes of the written safetensors shards, and of the original's. */
  weightBytes: number;
  sourceBytes: number;
}

export const DEFAULT_SHARD_BYTES = 2 * 2 ** 30;
/** Small files copied unchanged when the checkpoint has them. */
export const COPIED_FILES = [
  'config.json',
  'generation_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'chat_template.jinja',
  'special_tokens_map.json',
  'added_tokens.json',
  'vocab.json',
  'merges.txt',
];
const MAX_COPIED_BYTES = 256 * 2 ** 20;
/** f32 bytes of one block of rows. */
const BLOCK_BYTES = 16 * 2 ** 20;

export async function convertCheckpoint(source: CheckpointSource, sink: CheckpointSink, options: ConvertOptions = {}): Promise<ConvertResult> {
  const maxShardBytes = options.maxShardBytes ?? DEFAULT_SHARD_BYTES;
  if (!(Number.isSafeInteger(maxShardBytes) && maxShardBytes > 0)) {
    throw new InvalidArgumentError(`convert: maxShardBytes must be a positive integer, got ${maxShardBytes}`);
  }
  const formats = resolveWeightFormats(options.weightFormat);
  if (await source.has(PACKED_MANIFEST)) {
    throw new InvalidArgumentError(`${source.description} is already converted (it has ${PACKED_MANIFEST}); convert the original checkpoint instead`);
  }
  const config = await loadConfig(source);
  const dir = await openTensorDirectory(source);
  const recipes = new Map(weightEntries(planWeights(config, dir)));
  const plan = planGpuWeights(config, formats, WHOLE_MATRIX_BYTES);
  const manifest = buildPackedManifest(plan, formats);
  const specs = packedTensorSpecs(plan);
  const metadata = { format: PACKED_FORMAT };

  const tracker = new ProgressTracker({ phase: 'convert', ...(options.onProgress ? { onProgress: options.onProgress } : {}) });
  const shards = planShards(specs, maxShardBytes);
  shards.forEach((shard, i) => {
    tracker.addFile(shardFileName(i, shards.length), safetensorsHeader(shard, metadata).length + shard.reduce((a, t) => a + tensorBytes(t), 0));
  });
  const files: string[] = [];
  const done = new Map<string, number>();
  let bytesWritten = 0;
  const write = async (file: string, chunk: Uint8Array): Promise<void> => {
    if (options.signal?.aborted) throw new AbortedError('the conversion was cancelled');
    if (!done.has(file)) {
      files.push(file);
      done.set(file, 0);
      if (!tracker.snapshot().files.some((f) => f.file === file)) tracker.addFile(file, chunk.byteLength);
    }
    await sink.write(file, chunk);
    done.set(file, done.get(file)! + chunk.byteLength);
    tracker.update(file, done.get(file)!);
    bytesWritten += chunk.byteLength;
  };

  for (const name of COPIED_FILES) if (await source.has(name)) await write(name, await readSmallFile(source, name));
  const producers = new Map<string, () => AsyncIterable<Uint8Array>>();
  const packer = new MatrixPacker(dir, recipes, options.signal);
  for (const m of plan.matrices) {
    const t = packedMatrixTensors(m);
    producers.set(t.data.name, () => packer.rows(m, 'data'));
    if (t.scales) producers.set(t.scales.name, () => packer.rows(m, 'scales'));
  }
  for (const v of plan.vectors) producers.set(v.key, () => vectorBytes(dir, recipes, v, options.signal));
  await writeShardedCheckpoint(specs, (spec) => producers.get(spec.name)!(), { maxShardBytes, metadata, write });
  await write(PACKED_MANIFEST, new TextEncoder().encode(JSON.stringify(manifest, null, 1) + '\n'));
  tracker.flush();
  const sourceBytes = [...dir.headers.values()].reduce((a, h) => a + h.size, 0);
  const weightBytes = [...done].reduce((a, [file, bytes]) => a + (file.endsWith('.safetensors') ? bytes : 0), 0);
  return { manifest, files, bytesWritten, weightBytes, sourceBytes };
}

async function readSmallFile(source: CheckpointSource, name: string): Promise<Uint8Array> {
  const file = await source.open(name);
  const size = await file.size();
  if (size > MAX_COPIED_BYTES) throw new ModelFormatError(`${source.description}: ${name} has ${size} bytes, more than ${MAX_COPIED_BYTES} for a config/tokenizer file`);
  return file.read(0, size);
}

function recipeFor(recipes: Map<string, TensorRecipe>, path: string, description: string): TensorRecipe {
  const r = recipes.get(path);
  if (!r) throw new ModelFormatError(`${description}: the checkpoint has no tensor for ${path}`);
  return r;
}

/** Packs a matrix's rows block by block and yields its data or its scales bytes. */
class MatrixPacker {
  constructor(
    private readonly dir: TensorDirectory,
    private readonly recipes: Map<string, TensorRecipe>,
    private readonly signal: AbortSignal | undefined,
  ) {}

  async *rows(m: MatrixPlan, part: 'data' | 'scales'): AsyncGenerator<Uint8Array> {
    const blockRows = Math.max(1, Math.floor(BLOCK_BYTES / (4 * m.cols)));
    const scaleRowBytes = (2 * paddedCols(m.cols)) / QUANT_GROUP;
    for (const s of m.sources) {
      const recipe = recipeFor(this.recipes, s.path, this.dir.description);
      if (recipe.shape[recipe.shape.length - 1] !== m.cols || numel(recipe.shape) !== s.rows * m.cols) {
        throw new ModelFormatError(`${s.path}: expected ${s.rows} rows of ${m.cols} for ${m.key}, the recipe gives [${recipe.shape.join(', ')}]`);
      }
      for await (const block of recipeRows(this.dir, recipe, blockRows, this.signal)) {
        const packed = this.pack(block, m);
        yield part === 'data' ? packed.data : packed.scales!.subarray(0, block.rows * scaleRowBytes);
      }
    }
  }

  /** Packs one block; a value the format cannot hold is named by checkpoint tensor, row and column. */
  private pack(block: RowBlock, m: MatrixPlan): PackedMatrix {
    const where = (r: number) => `${this.dir.description}: tensor ${quoteName(block.source)} row ${block.sourceRow + r} (for ${m.key})`;
    return packWeightRows(block.values, m.cols, m.format, block.rows, where);
  }
}

async function* vectorBytes(dir: TensorDirectory, recipes: Map<string, TensorRecipe>, v: VectorPlan, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
  const values = await materialize(recipeFor(recipes, v.path, dir.description), directoryReader(dir, signal));
  if (values.length !== v.length) throw new ModelFormatError(`${v.path}: expected ${v.length} values, got ${values.length}`);
  yield new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}
