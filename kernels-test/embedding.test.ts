/**
 * Embedding lookup vs ops.embed on the dequantized table. Tolerance 0: decoding is exact in f32
 * (f16/bf16 widen exactly; q8/q4 codes times an f16 scale need at most 19 significant bits).
 */
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../src/errors.js';
import { createStorage, readF32, submitDispatches, uploadStorage, writeBuffer } from '../src/gpu/kernel.js';
import { dataBytes, WEIGHT_FORMATS, type WeightFormat } from '../src/io/formats.js';
import { dequantizeMatrix, packMatrix } from '../src/io/quantize.js';
import { createEmbedding } from '../src/kernels/embedding.js';
import { destroyMatrix, uploadMatrix } from '../src/kernels/matrix.js';
import { embed } from '../src/model/ops.js';
import { Random } from '../src/model/random.js';
import { gpuContext, GPU_VARIANTS, variantAvailable, type GpuVariant } from './harness.js';

const ROWS = 37;
const COLS = 100;
/** Valid ids (first, last, repeated) and out-of-range ones (= rows, huge). */
const IDS = [5, 0, 36, 5, 37, 0xffffffff, 20, 12, 33];

async function check(variant: GpuVariant, format: WeightFormat, maxPartBytes?: number): Promise<void> {
  const ctx = await gpuContext(variant);
  const values = new Random(ROWS + COLS).normals(ROWS * COLS);
  const table = dequantizeMatrix(packMatrix(values, ROWS, COLS, format), ROWS, COLS, format);
  const w = uploadMatrix(ctx, 'embed', values, ROWS, COLS, format, { maxPartBytes });
  if (maxPartBytes) expect(w.parts.length).toBe(4);
  const kernel = await createEmbedding(ctx, { format, rows: ROWS, cols: COLS, tokens: IDS.length });
  const ids = uploadStorage(ctx, Uint32Array.from(IDS), 'ids');
  const sentinel = new Float32Array(IDS.length * COLS).fill(-7);
  const out = uploadStorage(ctx, sentinel, 'out');
  const bound = kernel.bind({ w, ids, out });
  for (const T of [IDS.length, 3]) {
    writeBuffer(ctx, out, sentinel); // leftovers of the previous call cannot pass for results
    bound.setTokens(T);
    submitDispatches(ctx, bound.dispatches);
    const got = await readF32(ctx, out);
    const want = new Float32Array(T * COLS); // out-of-range ids → zero rows
    IDS.slice(0, T).forEach((id, t) => {
      if (id < ROWS) want.set(embed(table, COLS, [id]), t * COLS);
    });
    expect(Array.from(got.subarray(0, T * COLS)), `${format} T=${T}`).toEqual(Array.from(want));
    expect(got.subarray(T * COLS).every((v) => v === -7), `${format} T=${T}: tokens past T untouched`).toBe(true);
  }
  destroyMatrix(ctx, w);
  ctx.allocator.destroy(ids);
  ctx.allocator.destroy(out);
}

describe.each(GPU_VARIANTS)('embedding ($name)', (variant) => {
  for (const format of WEIGHT_FORMATS) {
    it(`${format}: [${ROWS}, ${COLS}] table, ids in and out of range, T = ${IDS.length} then 3`, async ({ skip }) => {
      if (!(await variantAvailable(variant))) skip();
      await check(variant, format);
    });
    it(`${format}: table split in 4 parts`, async ({ skip }) => {
      if (!(await variantAvailable(variant))) skip();
      await check(variant, format, dataBytes(format, 10, COLS));
    });
  }
});

describe('embedding errors', () => {
  it('mismatched table and short buffers throw InvalidArgumentError', async () => {
    const ctx = await gpuContext(GPU_VARIANTS[0]!);
    const w = uploadMatrix(ctx, 'model.embed_tokens', new Float32Array(8 * 32), 8, 32, 'bf16');
    const kernel = await createEmbedding(ctx, { format: 'bf16', rows: 8, cols: 32, tokens: 4 });
    const other = await createEmbedding(ctx, { format: 'bf16', rows: 9, cols: 32, tokens: 4 });
    const ids = createStorage(ctx, 16, 'ids');
    expect(() => other.bind({ w, ids, out: createStorage(ctx, 4 * 32 * 4, 'out') })).toThrow(/model\.embed_tokens: bf16 \[8, 32\]/);
    expect(() => kernel.bind({ w, ids, out: createStorage(ctx, 4 * 31 * 4, 'short') })).toThrow(InvalidArgumentError);
    await expect(createEmbedding(ctx, { format: 'q4', rows: 0, cols: 32, tokens: 1 })).rejects.toThrow(InvalidArgumentError);
    destroyMatrix(ctx, w);
  });
});
