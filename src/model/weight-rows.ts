/**
 * Streams the rows of a canonical tensor (a TensorRecipe of weights.ts) in output order with
 * range reads, whatever the recipe does — a plain copy, Qwen3-Next de-interleaving (§4.5),
 * per-expert stacking (§5) or FP8 block scaling — so that a converter or loader never holds the
 * whole tensor: peak memory is one block of rows (plus an FP8 weight's scale tensor, 1/16384 of it).
 * Rows are the canonical last dimension: stacked experts [E, n, cols] are E·n rows.
 */
import { AbortedError, ModelFormatError } from '../errors.js';
import { DTYPE_BYTES, numel, toFloat32 } from '../io/safetensors.js';
import { showValue } from '../io/show-value.js';
import { readTensorF32, type TensorDirectory } from '../io/tensor-directory.js';
import { dequantizeBlocks, FP8_BLOCK, type TensorRecipe } from './weights.js';

export interface RowBlock {
  /** `rows` rows of the canonical tensor, row-major f32. */
  values: Float32Array;
  rows: number;
  /** First canonical row of the block. */
  row: number;
  /** The checkpoint tensor the rows come from, and the first of its rows (for messages). */
  source: string;
  sourceRow: number;
}

/** Yields the recipe's rows in blocks of at most `maxRows` rows (a block never spans two row copies). */
export async function* recipeRows(dir: TensorDirectory, recipe: TensorRecipe, maxRows: number, signal?: AbortSignal): AsyncGenerator<RowBlock> {
  const cols = recipe.shape[recipe.shape.length - 1] ?? 1;
  let row = 0;
  for (const copy of recipe.rows) {
    const src = recipe.sources[copy.source];
    const entry = src && dir.tensors.get(src.name);
    if (!src || !entry) throw new ModelFormatError(`${dir.description}: tensor "${src?.name ?? `#${copy.source}`}" for ${recipe.path} is not in the checkpoint`);
    const { info } = entry;
    const fail = (what: string): never => {
      throw new ModelFormatError(`${entry.file}: tensor "${src.name}" (for ${recipe.path}): ${what}`);
    };
    if (info.dtype !== src.dtype || numel(info.shape) !== numel(src.shape)) {
      fail(`found ${info.dtype} ${showValue(info.shape)}, the plan expects ${src.dtype} ${showValue(src.shape)}`);
    }
    const sourceRows = numel(src.shape) / cols;
    if (!(Number.isInteger(sourceRows) && copy.from >= 0 && copy.from + copy.rows <= sourceRows)) {
      fail(`rows ${copy.from}..${copy.from + copy.rows - 1} of rows of ${cols} values are outside its ${numel(src.shape)} values`);
    }
    const scaleInv = src.scaleInv ? await readScaleInv(dir, src.scaleInv, sourceRows, cols, signal) : undefined;
    const file = dir.files.get(entry.file)!;
    const rowBytes = cols * DTYPE_BYTES[info.dtype];
    for (let r = copy.from; r < copy.from + copy.rows; r += maxRows) {
      if (signal?.aborted) throw new AbortedError(`reading ${recipe.path} was cancelled`);
      const n = Math.min(maxRows, copy.from + copy.rows - r);
      const bytes = await file.read(info.offset + r * rowBytes, n * rowBytes, signal);
      if (bytes.byteLength !== n * rowBytes) fail(`read ${bytes.byteLength} bytes of rows ${r}..${r + n - 1}, expected ${n * rowBytes}`);
      const values = toFloat32(bytes, info.dtype, [n, cols]);
      if (scaleInv) dequantizeBlocks(values, scaleInv, n, cols, r);
      yield { values, rows: n, row, source: src.name, sourceRow: r };
      row += n;
    }
  }
}

/** An FP8 weight's `weight_scale_inv` [⌈rows/128⌉, ⌈cols/128⌉] as f32. */
async function readScaleInv(dir: TensorDirectory, name: string, rows: number, cols: number, signal?: AbortSignal): Promise<Float32Array> {
  const scale = await readTensorF32(dir, name, signal);
  const want = Math.ceil(rows / FP8_BLOCK) * Math.ceil(cols / FP8_BLOCK);
  if (scale.length !== want) {
    throw new ModelFormatError(`${dir.description}: tensor "${name}" has ${scale.length} values, expected ${want} (one per 128×128 block of a [${rows}, ${cols}] weight)`);
  }
  return scale;
}
