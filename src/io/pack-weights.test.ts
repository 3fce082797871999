/**
 * packWeightRows: the bytes are packRows' own (checked equal), and a value a format cannot hold
 * is reported with its row and column — found by the GPU fuzz, where a NaN in a bf16 weight gave
 * a quantizer error without any location and 1e38 loaded into f16 silently became Inf.
 */
import { describe, expect, it } from 'vitest';
import { ModelFormatError } from '../errors.js';
import { packWeightRows } from './pack-weights.js';
import { packRows } from './quantize.js';

const ROWS = 3;
const COLS = 40; // 2 groups of 32, the second padded: the padded layout must map back to the right column
const values = (edit?: [number, number, number]): Float32Array => {
  const v = Float32Array.from({ length: ROWS * COLS }, (_, i) => Math.sin(i) * 3);
  if (edit) v[edit[0] * COLS + edit[1]] = edit[2];
  return v;
};
const where = (r: number) => `m row ${10 + r}`;

describe('packWeightRows', () => {
  it('gives exactly packRows bytes for every format', () => {
    for (const format of ['f32', 'f16', 'bf16', 'q8', 'q4'] as const) {
      const got = packWeightRows(values(), COLS, format, ROWS, where);
      const want = packRows(values(), COLS, format, 0, ROWS);
      expect(Buffer.compare(got.data, want.data), format).toBe(0);
      expect(got.scales && Buffer.compare(got.scales, want.scales!), format).toBe(want.scales ? 0 : undefined);
    }
  });

  it('names row and column of a value q8/q4 cannot encode (NaN, Inf, a scale beyond f16)', () => {
    expect(() => packWeightRows(values([1, 37, NaN]), COLS, 'q4', ROWS, where)).toThrow(ModelFormatError);
    expect(() => packWeightRows(values([1, 37, NaN]), COLS, 'q4', ROWS, where)).toThrow(/^m row 11, column 37 holds NaN, which q4 cannot encode \(quantize: /);
    expect(() => packWeightRows(values([2, 3, -Infinity]), COLS, 'q8', ROWS, where)).toThrow(/^m row 12, column 3 holds -Infinity, which q8 cannot encode/);
    expect(() => packWeightRows(values([0, 5, 1e10]), COLS, 'q8', ROWS, where)).toThrow(/^m row 10, column 5 holds 10000000000, which q8 cannot encode/);
  });

  it('refuses f16 overflow instead of writing Inf; f32 and bf16 keep every value', () => {
    expect(() => packWeightRows(values([2, 39, 70000]), COLS, 'f16', ROWS, where)).toThrow(/^m row 12, column 39 holds 70000, which f16 cannot hold \(its range is ±65504\); load the weights as bf16 or f32$/);
    expect(() => packWeightRows(values([0, 0, NaN]), COLS, 'f16', ROWS, where)).toThrow(/^m row 10, column 0 holds NaN, which f16 cannot hold/);
    expect(() => packWeightRows(values([1, 1, 65504]), COLS, 'f16', ROWS, where)).not.toThrow();
    expect(() => packWeightRows(values([1, 1, NaN]), COLS, 'f32', ROWS, where)).not.toThrow();
    expect(() => packWeightRows(values([1, 1, 1e38]), COLS, 'bf16', ROWS, where)).not.toThrow();
  });
});
