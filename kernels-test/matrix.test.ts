/**
 * Matrix upload and row splitting (no shader involved: the bytes on the GPU must equal the CPU
 * packing exactly, so comparisons are exact).
 */
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, ModelFormatError, OutOfGpuMemoryError } from '../src/errors.js';
import { readBuffer } from '../src/gpu/kernel.js';
import { dataBytes, WEIGHT_FORMATS } from '../src/io/formats.js';
import { packRows } from '../src/io/quantize.js';
import { destroyMatrix, planMatrixParts, uploadMatrix, uploadPackedPart } from '../src/kernels/matrix.js';
import { Random } from '../src/model/random.js';
import { gpuContext, GPU_VARIANTS } from './harness.js';

describe('planMatrixParts', () => {
  it('one part when it fits; otherwise the fewest balanced parts covering every row once', () => {
    expect(planMatrixParts('f32', 10, 32, 10 * 128)).toEqual([{ rowStart: 0, rows: 10 }]);
    // 128 bytes per row, 300 bytes per part → 2 rows per part at most → 5 parts of 2.
    expect(planMatrixParts('f32', 10, 32, 300).map((p) => p.rows)).toEqual([2, 2, 2, 2, 2]);
    // 248,320 rows of q4 × 1024 cols (512 B per row) under 32 MiB: 4 balanced parts.
    const lmHead = planMatrixParts('q4', 248320, 1024, 32 * 2 ** 20);
    expect(lmHead.length).toBe(4);
    expect(lmHead.reduce((n, p) => n + p.rows, 0)).toBe(248320);
    lmHead.forEach((p, i) => {
      expect(dataBytes('q4', p.rows, 1024)).toBeLessThanOrEqual(32 * 2 ** 20);
      if (i > 0) expect(p.rowStart).toBe(lmHead[i - 1]!.rowStart + lmHead[i - 1]!.rows);
    });
  });

  it('splits stacked experts only at expert boundaries', () => {
    const plan = planMatrixParts('q8', 8 * 6, 64, 5 * 6 * 64, 6); // room for 5 experts of 6 rows
    expect(plan).toEqual([
      { rowStart: 0, rows: 24 },
      { rowStart: 24, rows: 24 },
    ]);
  });

  it('rejects shapes that cannot be split and parts that cannot hold one block', () => {
    expect(() => planMatrixParts('f32', 10, 0, 1024)).toThrow(InvalidArgumentError);
    expect(() => planMatrixParts('f32', 10, 32, 1024, 3)).toThrow(/10 rows cannot be split in blocks of 3/);
    expect(() => planMatrixParts('f32', 10, 1000, 1024)).toThrow(OutOfGpuMemoryError);
  });
});

describe('uploadMatrix', () => {
  for (const format of WEIGHT_FORMATS) {
    it(`${format}: forced split, each part's buffers hold exactly packRows of its rows`, async () => {
      const ctx = await gpuContext(GPU_VARIANTS[0]!);
      const rows = 37;
      const cols = 100;
      const values = new Random(11).normals(rows * cols);
      const before = ctx.allocator.report().live.weights;
      const m = uploadMatrix(ctx, 'w', values, rows, cols, format, { maxPartBytes: dataBytes(format, 10, cols) });
      expect(m.parts.map((p) => p.rows)).toEqual([10, 10, 10, 7]);
      let bytes = 0;
      for (const part of m.parts) {
        const want = packRows(values, cols, format, part.rowStart, part.rows);
        expect(new Uint8Array(await readBuffer(ctx, part.data, want.data.byteLength))).toEqual(want.data);
        bytes += want.data.byteLength + (want.scales?.byteLength ?? 0);
        if (want.scales) expect(new Uint8Array(await readBuffer(ctx, part.scales!, want.scales.byteLength))).toEqual(want.scales);
        else expect(part.scales).toBeUndefined();
      }
      expect(ctx.allocator.report().live.weights - before).toBe(bytes);
      destroyMatrix(ctx, m);
      expect(ctx.allocator.report().live.weights).toBe(before);
    });
  }

  it('a failure part-way frees the parts already uploaded', async () => {
    const ctx = await gpuContext(GPU_VARIANTS[0]!);
    const values = new Random(1).normals(64 * 32);
    values[60 * 32] = NaN; // in the last part
    const before = ctx.allocator.report().liveTotal;
    expect(() => uploadMatrix(ctx, 'bad', values, 64, 32, 'q8', { maxPartBytes: 16 * 32 })).toThrow(InvalidArgumentError);
    expect(ctx.allocator.report().liveTotal).toBe(before);
  });

  it('uploadPackedPart checks the byte sizes against the format', async () => {
    const ctx = await gpuContext(GPU_VARIANTS[0]!);
    const packed = packRows(new Float32Array(4 * 40), 40, 'q4', 0, 4);
    expect(() => uploadPackedPart(ctx, 'layers.0.w', 'q4', 40, { rowStart: 0, rows: 5 }, packed)).toThrow(ModelFormatError);
    expect(() => uploadPackedPart(ctx, 'layers.0.w', 'q4', 40, { rowStart: 0, rows: 4 }, { data: packed.data })).toThrow(
      /layers\.0\.w: rows 0\.\.3 in q4 with 40 columns need 128 data bytes and 16 scale bytes, got 128 and 0/,
    );
  });
});
