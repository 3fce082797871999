/**
 * Bit-level conversions between f32 and the narrow float formats found in checkpoints:
 * bf16 (1-8-7), f16 (1-5-10, IEEE binary16) and f8 e4m3fn (1-4-3, bias 7, no infinities,
 * S.1111.111 is NaN, max 448). Narrowing rounds to nearest, ties to even.
 * Array helpers read little-endian bytes (safetensors is little-endian) into Float32Array.
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Raw bits of an f32. */
export function f32Bits(v: number): number {
  f32[0] = v;
  return u32[0]!;
}

/** The f32 with these raw bits. */
export function bitsToF32(bits: number): number {
  u32[0] = bits >>> 0;
  return f32[0]!;
}

export function bf16ToF32(h: number): number {
  return bitsToF32((h & 0xffff) << 16);
}

/** f32 → bf16 bits, round to nearest even; NaN stays a (quiet) NaN. */
export function f32ToBf16(v: number): number {
  const x = f32Bits(v);
  if ((x & 0x7fffffff) > 0x7f800000) return ((x >>> 16) & 0x8000) | 0x7fc0;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** f32 → f16 bits, round to nearest even; overflow gives ±Inf, underflow ±0 or a subnormal. */
export function f32ToF16(v: number): number {
  const x = f32Bits(v);
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e; // subnormal: value = r · 2^−24
    const half = 1 << (shift - 1);
    const rem = mant & ((1 << shift) - 1);
    let r = mant >>> shift;
    if (rem > half || (rem === half && r & 1)) r++;
    return sign | r;
  }
  let r = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && r & 1)) r++; // a carry into the exponent is correct (→ next binade or Inf)
  return sign | r;
}

export const F8E4M3_MAX = 448;

export function f8e4m3ToF32(b: number): number {
  const sign = b & 0x80 ? -1 : 1;
  const exp = (b >>> 3) & 0xf;
  const mant = b & 0x7;
  if (exp === 0xf && mant === 0x7) return NaN;
  if (exp === 0) return sign * mant * 2 ** -9; // subnormal: (m/8) · 2^−6
  return sign * (1 + mant / 8) * 2 ** (exp - 7);
}

/** f32 → f8 e4m3fn bits, round to nearest even, saturating to ±448 (the format has no Inf). */
export function f32ToF8e4m3(v: number): number {
  if (Number.isNaN(v)) return 0x7f;
  const sign = v < 0 || Object.is(v, -0) ? 0x80 : 0;
  const a = Math.abs(v);
  if (a >= F8E4M3_MAX) return sign | 0x7e;
  if (a === 0) return sign;
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--; // guard against log2 rounding up just below a power of two
  e = Math.max(-6, e);
  let q = a / 2 ** (e - 3); // in [8, 16) for normals, [0, 8) for subnormals; exact (power-of-two scaling)
  const fl = Math.floor(q);
  const frac = q - fl;
  q = frac > 0.5 || (frac === 0.5 && fl & 1) ? fl + 1 : fl;
  if (q === 0) return sign;
  if (q < 8) return sign | q; // subnormal (e = −6)
  const exp = q === 16 ? e + 1 : e;
  const mant = q === 16 ? 0 : q - 8;
  if (exp + 7 > 15 || (exp + 7 === 15 && mant === 7)) return sign | 0x7e;
  return sign | ((exp + 7) << 3) | mant;
}

/** A Uint16Array over little-endian 2-byte values (copies only if the bytes are misaligned). */
function u16View(bytes: Uint8Array): Uint16Array {
  if (bytes.byteOffset % 2 === 0) return new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >>> 1);
  return new Uint16Array(bytes.slice().buffer, 0, bytes.byteLength >>> 1);
}

export function bf16BytesToF32(bytes: Uint8Array): Float32Array {
  const src = u16View(bytes);
  const out = new Float32Array(src.length);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < src.length; i++) bits[i] = src[i]! << 16;
  return out;
}

export function f16BytesToF32(bytes: Uint8Array): Float32Array {
  const src = u16View(bytes);
  const table = f16Table();
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = table[src[i]!]!;
  return out;
}

export function f8e4m3BytesToF32(bytes: Uint8Array): Float32Array {
  const out = new Float32Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = f8e4m3ToF32(bytes[i]!);
  return out;
}

/** f32 values → bf16 little-endian bytes (round to nearest even). */
export function f32ToBf16Bytes(values: ArrayLike<number>): Uint8Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = f32ToBf16(values[i]!);
  return new Uint8Array(out.buffer);
}

/** Rounds every value to the nearest bf16 (what a bf16 checkpoint stores), in place. */
export function roundToBf16(values: Float32Array): Float32Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  for (let i = 0; i < bits.length; i++) bits[i] = f32ToBf16(values[i]!) << 16;
  return values;
}

let f16Lut: Float32Array | undefined;
function f16Table(): Float32Array {
  if (!f16Lut) {
    f16Lut = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) f16Lut[h] = f16ToF32(h);
  }
  return f16Lut;
}
