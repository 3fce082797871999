/**
 * Error bounds for kernels that accumulate dot products in f32 (linear, MoE experts).
 * A dot product of n terms summed in f32 in any order (sequential, tree or subgroup) is within
 * (n + 2)·u·Σ|w_i·x_i| of the exact value (u = 2^-24: n − 1 additions, the product roundings and
 * one scale multiply; Higham, "Accuracy and Stability of Numerical Algorithms", §3.1). The
 * reference (ops.ts) accumulates in f64, so its own error is negligible next to that. The bound is
 * per element, so a wrong weight, scale or row shows up as an error of order |w·x|, far above it.
 */
import { expect } from 'vitest';

export const U32 = 2 ** -24;

/**
 * Per-output bound for y[T, rows] = x[T, cols] · Wᵀ (W dequantized, [rows, cols]); `extraRoundings`
 * adds relative roundings of every term (a norm applied inside the kernel).
 */
export function dotBounds(x: Float32Array, w: Float32Array, rows: number, cols: number, extraRoundings = 0): Float32Array {
  const tokens = x.length / cols;
  const out = new Float32Array(tokens * rows);
  for (let t = 0; t < tokens; t++) {
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let i = 0; i < cols; i++) s += Math.abs(w[r * cols + i]! * x[t * cols + i]!);
      out[t * rows + r] = (cols + 2 + extraRoundings) * U32 * s;
    }
  }
  return out;
}

/**
 * Bound for y = silu(g)·u given bounds on g and u ([T, 2I] → [T, I]): |silu'| ≤ 1.1 and
 * |silu| ≤ |g|, plus the roundings of the result: WGSL allows exp an error of 3 + 2|x| ULP,
 * then a division and a product.
 */
export function swigluBounds(gateUp: Float32Array, bounds: Float32Array, inter: number): Float32Array {
  const tokens = gateUp.length / (2 * inter);
  const out = new Float32Array(tokens * inter);
  for (let t = 0; t < tokens; t++) {
    for (let i = 0; i < inter; i++) {
      const g = gateUp[t * 2 * inter + i]!;
      const u = gateUp[t * 2 * inter + inter + i]!;
      const dg = bounds[t * 2 * inter + i]!;
      const du = bounds[t * 2 * inter + inter + i]!;
      out[t * inter + i] = 1.1 * dg * (Math.abs(u) + du) + (Math.abs(g) + dg) * du + (16 + 2 * Math.abs(g)) * U32 * Math.abs(g * u);
    }
  }
  return out;
}

/** Asserts |got − want| ≤ bound + 1e-30 element-wise, reporting the first offenders. */
export function expectWithinBounds(got: ArrayLike<number>, want: ArrayLike<number>, bound: ArrayLike<number>, what: string): void {
  expect(got.length, `${what}: length`).toBe(want.length);
  const bad: string[] = [];
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i]! - want[i]!);
    if (!(err <= bound[i]! + 1e-30) && bad.length < 8) bad.push(`[${i}] got ${got[i]} want ${want[i]} err ${err.toExponential(2)} > bound ${bound[i]!.toExponential(2)}`);
  }
  if (bad.length) throw new Error(`${what}: outside the f32 accumulation bound:\n  ${bad.join('\n  ')}`);
}
