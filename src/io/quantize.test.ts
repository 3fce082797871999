/**
 * Weight packing (formats.ts layout) and its inverse; f16/bf16 rounding itself is tested in
 * bf16.test.ts. Bounds: f16 round trip ≤ 2^-11 relative, bf16 ≤ 2^-8 relative (round to nearest, 11 / 8 significant bits); q8 ≤ |s|/2 per element
 * (codes chosen against the stored f16 scale, so only the final rounding step is lost);
 * q4 ≤ |s|/2 except elements clamped to code 15 (w/s > 7.5: Q4_0 maps the largest magnitude to
 * −8 and has no +8), which are within |s|. Layout checks use hand-made rows with known bytes.
 */
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../errors.js';
import { Random } from '../model/random.js';
import { paddedCols, QUANT_GROUP, WEIGHT_FORMATS, type WeightFormat } from './formats.js';
import { f16ToF32, f32ToF16 } from './bf16.js';
import { dequantizeMatrix, packMatrix, packRows } from './quantize.js';

const u16 = (b: Uint8Array): Uint16Array => new Uint16Array(b.buffer, b.byteOffset, b.byteLength / 2);
const u32 = (b: Uint8Array): Uint32Array => new Uint32Array(b.buffer, b.byteOffset, b.byteLength / 4);

describe('layout', () => {
  it('q4: nibble order (element 2j low, 2j+1 high), scale m/−8 as f16, two scales per u32', () => {
    const cols = 64;
    const row = new Float32Array(cols);
    for (let i = 0; i < 32; i++) row[i] = (i % 16) - 8; // first group: m = −8 → s = 1, codes = i % 16
    for (let i = 32; i < 64; i++) row[i] = ((i % 16) - 8) * -0.5; // second: m = +4 → s = −0.5, codes again i % 16
    const { data, scales } = packMatrix(row, 1, cols, 'q4');
    expect(Array.from(data.subarray(0, 8))).toEqual([0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe]);
    expect(u32(scales!)[0]).toBe((0x3c00 | (f32ToF16(-0.5) << 16)) >>> 0);
    expect(Array.from(data.subarray(16, 24))).toEqual([0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe]);
    expect(Array.from(dequantizeMatrix({ data, scales }, 1, cols, 'q4'))).toEqual(Array.from(row));
  });

  it('q8: int8 two\'s complement, element 4i in the low byte; s = max|w|/127', () => {
    const row = new Float32Array(32).map((_, i) => (i - 16) * 0.5);
    row[31] = 63.5; // max |w| = 127 · 0.5 → s = 0.5 exactly
    const { data, scales } = packMatrix(row, 1, 32, 'q8');
    expect(u16(scales!)[0]).toBe(f32ToF16(0.5));
    expect(u32(data)[0]).toBe(((-16 & 0xff) | ((-15 & 0xff) << 8) | ((-14 & 0xff) << 16) | ((-13 & 0xff) << 24)) >>> 0);
    expect(data[31]).toBe(127);
    expect(Array.from(dequantizeMatrix({ data, scales }, 1, 32, 'q8'))).toEqual(Array.from(row));
  });

  it('f16 / bf16: element 2i in the low half of a u32; f32 verbatim', () => {
    const row = new Float32Array([1, 2, -0.5, 3]);
    expect(u32(packMatrix(row, 1, 4, 'f16').data)[0]).toBe(0x40003c00);
    expect(u32(packMatrix(row, 1, 4, 'bf16').data)[0]).toBe(0x40003f80);
    expect(new Float32Array(packMatrix(row, 1, 4, 'f32').data.buffer, 0, 4)).toEqual(row);
  });

  for (const format of WEIGHT_FORMATS) {
    it(`${format}: odd column count pads each row with zeros to 32 and drops the padding on dequantize`, () => {
      const rows = 3;
      const cols = 33;
      const values = new Random(1).normals(rows * cols);
      const packed = packMatrix(values, rows, cols, format);
      const decodedPadded = dequantizeMatrix(packed, rows, paddedCols(cols), format);
      for (let r = 0; r < rows; r++) {
        for (let c = cols; c < paddedCols(cols); c++) expect(decodedPadded[r * paddedCols(cols) + c]! === 0).toBe(true); // ±0
      }
      expect(dequantizeMatrix(packed, rows, cols, format).length).toBe(rows * cols);
      if (format === 'q4' || format === 'q8') expect(packed.scales!.byteLength).toBe(Math.ceil((rows * 2 * 2) / 4) * 4);
    });
  }

  it('packRows of a row range equals the same rows of the whole matrix', () => {
    const rows = 9;
    const cols = 70;
    const values = new Random(2).normals(rows * cols);
    for (const format of WEIGHT_FORMATS) {
      const whole = packMatrix(values, rows, cols, format);
      const part = packRows(values, cols, format, 4, 3);
      const rowBytes = whole.data.byteLength / rows;
      expect(part.data).toEqual(whole.data.subarray(4 * rowBytes, 7 * rowBytes));
      if (whole.scales) expect(u16(part.scales!).subarray(0, 9)).toEqual(u16(whole.scales).subarray(12, 21));
    }
  });
});

describe('round trip', () => {
  const rows = 7;
  const cols = 100;
  const values = new Random(3).normals(rows * cols, 2);
  values[5] = 0; // an exact zero and a group of zeros
  values.fill(0, 200, 232);

  const groupScale = (format: WeightFormat, scales: Uint8Array, r: number, c: number): number =>
    f16ToF32(u16(scales)[r * (paddedCols(cols) / QUANT_GROUP) + Math.floor(c / QUANT_GROUP)]!);

  for (const format of ['q8', 'q4'] as const) {
    it(`${format}: every element within half a quantization step of the original`, () => {
      const packed = packMatrix(values, rows, cols, format);
      const back = dequantizeMatrix(packed, rows, cols, format);
      let clamped = 0;
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < cols; c++) {
          const s = Math.abs(groupScale(format, packed.scales!, r, c));
          const w = values[r * cols + c]!;
          const err = Math.abs(back[r * cols + c]! - w);
          const isClamped = format === 'q4' && s > 0 && w / groupScale(format, packed.scales!, r, c) > 7.5;
          if (isClamped) clamped++;
          expect(err, `[${r}, ${c}] w=${w} s=${s}`).toBeLessThanOrEqual((isClamped ? s : s / 2) * (1 + 1e-6));
        }
      }
      if (format === 'q4') expect(clamped).toBeLessThan(rows * 4); // rare: at most a few per group
    });
  }

  it('f16 ≤ 2^-11 relative, bf16 ≤ 2^-8 relative, f32 exact', () => {
    for (const [format, rel] of [['f16', 2 ** -11], ['bf16', 2 ** -8], ['f32', 0]] as const) {
      const back = dequantizeMatrix(packMatrix(values, rows, cols, format), rows, cols, format);
      values.forEach((w, i) => expect(Math.abs(back[i]! - w)).toBeLessThanOrEqual(rel * Math.abs(w)));
    }
  });
});

describe('errors', () => {
  it('non-finite values in a quantized group and wrong lengths throw InvalidArgumentError', () => {
    const bad = new Float32Array(64);
    bad[40] = NaN;
    expect(() => packMatrix(bad, 1, 64, 'q4')).toThrow(/row 0, columns 32\.\.63/);
    expect(() => packMatrix(bad, 1, 64, 'q8')).toThrow(InvalidArgumentError);
    bad[40] = Infinity;
    expect(() => packMatrix(bad, 1, 64, 'q4')).toThrow(InvalidArgumentError);
    expect(() => packMatrix(new Float32Array(10), 2, 6, 'f32')).toThrow(/needs 12 values, got 10/);
    expect(() => dequantizeMatrix({ data: new Uint8Array(8) }, 1, 32, 'q8')).toThrow(InvalidArgumentError);
  });
});
