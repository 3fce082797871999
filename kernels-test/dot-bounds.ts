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

const roundHalfEven = (t: number): number => {
  const f = Math.floor(t);
  const d = t - f;
  return d > 0.5 || (d === 0.5 && f % 2 !== 0) ? f + 1 : f;
};

/**
 * The q4 matvec with int8 x (matvec.wgsl X_INT8) for one token: v (the values the kernel
 * quantizes: x, or h·(1 + w) with the fused norm) is cut into groups of 32 columns, each quantized
 * to q = round_half_even(v·127/m), m = max|v| of the group, scale m/127; y_r = post · Σ_g (m_g/127)·Σ
 * w_re·q_e, exact in f64 (w dequantized: (c − 8)·s). The kernel's f32 error: per group term the
 * scale's division (2.5 ULP), the products s·scale and f32(Σ(c − 8)q)·(…), then the G − 1 additions
 * over groups in any order: (G + 10 + extraRoundings)·u·|post|·Σ_g |term_g|. The codes themselves are
 * exact unless v·127/m lies within the GPU division's error of a rounding tie: `nearTies` counts
 * elements within 1e-4 of one, which a test must keep at 0.
 */
export function int8XMatvec(v: Float32Array, w: Float32Array, rows: number, cols: number, post = 1, extraRoundings = 0) {
  const groups = Math.ceil(cols / 32);
  const q = new Float64Array(cols);
  const scale = new Float64Array(groups);
  let nearTies = 0;
  for (let g = 0; g < groups; g++) {
    const end = Math.min(cols, 32 * g + 32);
    let m = 0;
    for (let e = 32 * g; e < end; e++) m = Math.max(m, Math.abs(v[e]!));
    if (m === 0) continue;
    scale[g] = m / 127;
    for (let e = 32 * g; e < end; e++) {
      const t = (v[e]! * 127) / m;
      if (Math.abs(Math.abs(t - Math.floor(t)) - 0.5) < 1e-4) nearTies++;
      q[e] = Math.max(-127, Math.min(127, roundHalfEven(t)));
    }
  }
  const product = new Float32Array(rows);
  const bounds = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let y = 0;
    let magnitude = 0;
    for (let g = 0; g < groups; g++) {
      let s = 0;
      for (let e = 32 * g; e < Math.min(cols, 32 * g + 32); e++) s += w[r * cols + e]! * q[e]!;
      y += scale[g]! * s;
      magnitude += Math.abs(scale[g]! * s);
    }
    product[r] = post * y;
    bounds[r] = (groups + 10 + extraRoundings) * U32 * Math.abs(post) * magnitude;
  }
  return { product, bounds, nearTies };
}
