/**
 * Narrow-float conversions. Exact tests (no tolerance): every conversion is a bit-exact
 * definition. Widening is checked on every bit pattern against the format's formula; narrowing
 * against a brute-force oracle (nearest representable value by search, ties to the even code).
 */
import { describe, expect, it } from 'vitest';
import { Random } from '../model/random.js';
import {
  bf16BytesToF32,
  bf16ToF32,
  bitsToF32,
  f16BytesToF32,
  f16ToF32,
  f32Bits,
  f32ToBf16,
  f32ToF16,
  f32ToF8e4m3,
  f8e4m3ToF32,
  roundToBf16,
} from './bf16.js';

/** Sorted finite values of a format with their codes, and the nearest-even oracle over them. */
function oracle(count: number, decode: (c: number) => number) {
  const table = Array.from({ length: count }, (_, c) => ({ c, v: decode(c) })).filter(
    (e) => Number.isFinite(e.v) && !Object.is(e.v, -0),
  );
  table.sort((a, b) => a.v - b.v);
  return (x: number): number => {
    let lo = 0;
    let hi = table.length - 1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (table[mid]!.v <= x) lo = mid;
      else hi = mid;
    }
    const a = table[lo]!;
    const b = table[hi]!;
    const da = Math.abs(x - a.v);
    const db = Math.abs(x - b.v);
    if (da !== db) return da < db ? a.c : b.c;
    return (a.c & 1) === 0 ? a.c : b.c;
  };
}

describe('bf16', () => {
  it('widening puts the 16 bits on top of an f32', () => {
    expect(bf16ToF32(0x3f80)).toBe(1);
    expect(bf16ToF32(0xc040)).toBe(-3);
    expect(bf16ToF32(0x7f80)).toBe(Infinity);
    expect(Number.isNaN(bf16ToF32(0x7fc0))).toBe(true);
  });

  it('narrowing rounds to nearest, ties to even', () => {
    expect(f32ToBf16(bitsToF32(0x3f808000))).toBe(0x3f80); // tie, even stays
    expect(f32ToBf16(bitsToF32(0x3f818000))).toBe(0x3f82); // tie, odd rounds up
    expect(f32ToBf16(bitsToF32(0x3f808001))).toBe(0x3f81); // above the tie
    expect(f32ToBf16(bitsToF32(0x3f807fff))).toBe(0x3f80);
    expect(f32ToBf16(bitsToF32(0x7f7fffff))).toBe(0x7f80); // max f32 overflows to Inf
    expect(f32ToBf16(-0)).toBe(0x8000);
    expect(f32ToBf16(NaN) & 0x7fc0).toBe(0x7fc0);
  });

  it('every non-NaN bf16 round-trips, and the byte/array helpers agree with the scalar ones', () => {
    const codes = new Uint16Array(65536).map((_, i) => i);
    const wide = bf16BytesToF32(new Uint8Array(codes.buffer));
    for (let c = 0; c < 65536; c++) {
      const v = wide[c]!;
      expect(Object.is(v, bf16ToF32(c)) || (Number.isNaN(v) && Number.isNaN(bf16ToF32(c)))).toBe(true);
      if (!Number.isNaN(v)) expect(f32ToBf16(v)).toBe(c);
    }
    const rnd = new Random(1);
    const x = rnd.normals(101, 3);
    const rounded = roundToBf16(x.slice());
    for (let i = 0; i < x.length; i++) expect(f32Bits(rounded[i]!)).toBe((f32ToBf16(x[i]!) << 16) >>> 0);
  });
});

describe('f16', () => {
  it('decodes normals, subnormals, Inf and NaN', () => {
    expect(f16ToF32(0x3c00)).toBe(1);
    expect(f16ToF32(0x7bff)).toBe(65504);
    expect(f16ToF32(0x0001)).toBe(2 ** -24);
    expect(f16ToF32(0x8400)).toBe(-(2 ** -14));
    expect(f16ToF32(0xfc00)).toBe(-Infinity);
    expect(Number.isNaN(f16ToF32(0x7e00))).toBe(true);
  });

  it('every non-NaN f16 round-trips; the array helper matches', () => {
    const codes = new Uint16Array(65536).map((_, i) => i);
    const wide = f16BytesToF32(new Uint8Array(codes.buffer).subarray(0));
    for (let c = 0; c < 65536; c++) {
      const v = f16ToF32(c);
      if (Number.isNaN(v)) continue;
      expect(wide[c]).toBe(v);
      expect(f32ToF16(v)).toBe(c);
    }
  });

  it('narrowing equals the nearest-even oracle, including subnormals, ties and overflow', () => {
    const nearest = oracle(0x7c00, f16ToF32); // positive finite codes
    const rnd = new Random(2);
    const samples = [2 ** -25, 1.5 * 2 ** -25, 2 ** -26, 65519.99, 65520, 1 + 2 ** -11, 1 + 3 * 2 ** -11];
    for (let i = 0; i < 3000; i++) samples.push(Math.fround(Math.exp(rnd.normal() * 8)));
    for (const x of samples) {
      const want = x >= 65520 ? 0x7c00 : nearest(Math.fround(x));
      expect(f32ToF16(x), `x = ${x}`).toBe(want);
      expect(f32ToF16(-x), `x = ${-x}`).toBe(want | 0x8000);
    }
  });
});

describe('f8 e4m3fn', () => {
  it('decodes the format (bias 7, subnormals, no Inf, 0x7f NaN)', () => {
    expect(f8e4m3ToF32(0x38)).toBe(1);
    expect(f8e4m3ToF32(0x7e)).toBe(448);
    expect(f8e4m3ToF32(0x08)).toBe(2 ** -6);
    expect(f8e4m3ToF32(0x01)).toBe(2 ** -9);
    expect(f8e4m3ToF32(0xc4)).toBe(-3);
    expect(f8e4m3ToF32(0x78)).toBe(256);
    expect(Number.isNaN(f8e4m3ToF32(0x7f))).toBe(true);
    expect(Number.isNaN(f8e4m3ToF32(0xff))).toBe(true);
  });

  it('encoding round-trips every code and matches the nearest-even oracle; saturates at 448', () => {
    for (let c = 0; c < 256; c++) {
      const v = f8e4m3ToF32(c);
      if (!Number.isNaN(v)) expect(f32ToF8e4m3(v)).toBe(c);
    }
    const nearest = oracle(0x7f, f8e4m3ToF32);
    const rnd = new Random(3);
    const samples = [2 ** -10, 3 * 2 ** -11, 1.0625, 1.1875, 0.99999, 15.999];
    for (let i = 0; i < 3000; i++) samples.push(Math.exp(rnd.normal() * 3));
    for (const x of samples.filter((s) => s < 448)) {
      expect(f32ToF8e4m3(x), `x = ${x}`).toBe(nearest(x));
      expect(f32ToF8e4m3(-x), `x = ${-x}`).toBe(nearest(x) | 0x80);
    }
    expect(f32ToF8e4m3(1e6)).toBe(0x7e);
    expect(f32ToF8e4m3(-500)).toBe(0xfe);
  });
});
