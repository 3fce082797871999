/**
 * recipeRows streams exactly the canonical tensors materialize builds, for every recipe kind
 * (plain, Qwen3-Next de-interleaving, expert stacking, FP8 block scaling) and block sizes that
 * do not divide the row counts. Tolerance 0: both only move f32 values (FP8: one f32 multiply by
 * the same factor).
 */
import { describe, expect, it } from 'vitest';
import { AbortedError, ModelFormatError } from '../errors.js';
import { f32ToF8e4m3 } from '../io/bf16.js';
import { MemoryCheckpointSource, MemorySink } from '../io/memory-checkpoint.js';
import { writeSafetensors, type TensorData } from '../io/safetensors-writer.js';
import { openTensorDirectory, type TensorDirectory } from '../io/tensor-directory.js';
import { Random } from './random.js';
import { writeSyntheticCheckpoint } from './synthetic.js';
import { TINY_CONFIGS } from './tiny.js';
import { planWeights } from './weight-plan.js';
import { recipeRows } from './weight-rows.js';
import { directoryReader, materialize, weightEntries, type TensorRecipe } from './weights.js';

async function streamed(dir: TensorDirectory, recipe: TensorRecipe, maxRows: number): Promise<Float32Array> {
  const cols = recipe.shape[recipe.shape.length - 1]!;
  const parts: Float32Array[] = [];
  let next = 0;
  for await (const block of recipeRows(dir, recipe, maxRows)) {
    if (block.rows > maxRows || block.values.length !== block.rows * cols || block.row !== next) {
      throw new Error(`${recipe.path}: bad block (${block.rows} rows at ${block.row}, ${block.values.length} values; next row ${next})`);
    }
    next += block.rows;
    parts.push(block.values);
  }
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
  return out;
}

/** Bit-exact equality (fast on large arrays, unlike a deep toEqual). */
const bytesOf = (v: Float32Array): Buffer => Buffer.from(v.buffer, v.byteOffset, v.byteLength);
const expectSame = (got: Float32Array, want: Float32Array, what: string): void => {
  expect(got.length, what).toBe(want.length);
  expect(Buffer.compare(bytesOf(got), bytesOf(want)), what).toBe(0);
};

describe('recipeRows', () => {
  for (const kind of ['dense', 'moe', 'next'] as const) {
    it(`streams every canonical tensor of tiny-${kind} as materialize builds it (blocks of 7 rows)`, async () => {
      const sink = new MemorySink();
      await writeSyntheticCheckpoint(TINY_CONFIGS[kind], { seed: 3, maxShardBytes: 256 * 1024 }, (f, c) => sink.write(f, c));
      const dir = await openTensorDirectory(new MemoryCheckpointSource(sink.files()));
      for (const [path, recipe] of weightEntries(planWeights(TINY_CONFIGS[kind], dir))) {
        expectSame(await streamed(dir, recipe, 7), await materialize(recipe, directoryReader(dir)), path);
      }
    });
  }

  it('applies FP8 128×128 block scales by absolute row (blocks straddle the 128-row boundaries)', async () => {
    const rows = 300;
    const cols = 200;
    const rnd = new Random(4);
    const codes = Uint8Array.from({ length: rows * cols }, () => f32ToF8e4m3(rnd.normal() * 50));
    const scale = Float32Array.from({ length: 3 * 2 }, () => 0.001 + rnd.next() * 0.01);
    const tensors: TensorData[] = [
      { name: 'w', dtype: 'F8_E4M3', shape: [rows, cols], data: codes },
      { name: 'w_scale_inv', dtype: 'F32', shape: [3, 2], data: new Uint8Array(scale.buffer) },
    ];
    const dir = await openTensorDirectory(new MemoryCheckpointSource(new Map([['model.safetensors', writeSafetensors(tensors)]])));
    // Rows 250..299 then 0..99 of the weight, in that order.
    const recipe: TensorRecipe = {
      path: 'test.w',
      shape: [150, cols],
      sources: [{ name: 'w', shape: [rows, cols], dtype: 'F8_E4M3', scaleInv: 'w_scale_inv' }],
      rows: [
        { source: 0, from: 250, rows: 50 },
        { source: 0, from: 0, rows: 100 },
      ],
    };
    expectSame(await streamed(dir, recipe, 45), await materialize(recipe, directoryReader(dir)), 'fp8');
  });

  it('names the tensor when a recipe reads outside it, when it is missing, and stops when aborted', async () => {
    const data = new Uint8Array(4 * 6 * 4);
    const dir = await openTensorDirectory(new MemoryCheckpointSource(new Map([['model.safetensors', writeSafetensors([{ name: 'w', dtype: 'F32', shape: [6, 4], data }])]])));
    const recipe = (from: number, name = 'w'): TensorRecipe => ({ path: 'x.w', shape: [3, 4], sources: [{ name, shape: [6, 4], dtype: 'F32' }], rows: [{ source: 0, from, rows: 3 }] });
    const drain = async (r: TensorRecipe, signal?: AbortSignal) => {
      for await (const _ of recipeRows(dir, r, 2, signal));
    };
    await expect(drain(recipe(4))).rejects.toThrow(ModelFormatError);
    await expect(drain(recipe(4))).rejects.toThrow(/model\.safetensors: tensor "w" \(for x\.w\): rows 4\.\.6 .* outside its 24 values/);
    await expect(drain(recipe(0, 'v'))).rejects.toThrow(/tensor "v" for x\.w is not in the checkpoint/);
    await expect(drain(recipe(0), AbortSignal.abort())).rejects.toThrow(AbortedError);
  });
});
