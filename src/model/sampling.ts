/**
 * CPU reference of the GPU sampler (src/kernels/sampler.ts): the same rules, the same integer
 * arithmetic and the same random numbers, written the obvious way (a full sort).
 *
 * Rules, in Hugging Face order:
 *  1. repetition penalty over the DISTINCT ids of the history: l > 0 → l·(1/p), else l·p
 *     (1/p rounded to f32 once; every step is one correctly rounded f32 operation, so CPU and GPU
 *     agree bit for bit);
 *  2. temperature 0 → greedy argmax (ties → lowest id); otherwise z = l·(1/T);
 *  3. tokens are ranked by z, descending, ties → lower id; z is compared through its order key
 *     (the f32 bits made monotone), so −0 ranks just below +0;
 *  4. top-k (0 = off): keep every token whose z ≥ the k-th largest (ties at the boundary kept);
 *  5. softmax as integer masses m = floor(exp(z − z_max) · 2^31) (exact, order-free sums; tokens
 *     below e^-21.5 of the best get 0 and are never drawn);
 *  6. top-p: keep the shortest prefix of the ranking whose mass ≥ ceil(S·P / 2^24), where S is the
 *     mass kept by top-k and P = round(p·2^24) (at least one token);
 *  7. draw: u32 r = pcg(seed ^ pcg(step)), target = floor(r·S_kept / 2^32), and the token is the
 *     first in the ranking whose cumulative mass exceeds target (inverse CDF with u = r / 2^32).
 * The GPU computes exp in f32 with a few ULP of error, so its masses can differ slightly; `margin`
 * says how close the decision came to a boundary (a mismatch is only legitimate when it is tiny).
 */

export interface SamplerOptions {
  /** 0 = greedy. */
  temperature: number;
  /** 0 = off. */
  topK: number;
  /** In (0, 1]; 1 = off. */
  topP: number;
  /** 1 = off. */
  repetitionPenalty: number;
  /** u32. */
  seed: number;
}

export const MASS_SCALE = 2 ** 31;
export const TOP_P_ONE = 2 ** 24;

/** The f32 constants both implementations use. */
export interface SamplerConstants {
  greedy: boolean;
  invTemperature: number;
  penalty: number;
  invPenalty: number;
  /** 0 when off (also when ≥ vocab). */
  topK: number;
  /** round(topP · 2^24); TOP_P_ONE when off. */
  topP24: number;
}

export function samplerConstants(o: SamplerOptions, vocab: number): SamplerConstants {
  const greedy = o.temperature === 0;
  return {
    greedy,
    invTemperature: greedy ? 1 : Math.fround(1 / Math.fround(o.temperature)),
    penalty: Math.fround(o.repetitionPenalty),
    invPenalty: Math.fround(1 / Math.fround(o.repetitionPenalty)),
    topK: o.topK > 0 && o.topK < vocab ? o.topK : 0,
    topP24: Math.min(TOP_P_ONE, Math.round(o.topP * TOP_P_ONE)),
  };
}

/** One round of PCG (RXS-M-XS), on u32. */
export function pcgHash(v: number): number {
  const state = (Math.imul(v >>> 0, 747796405) + 2891336453) >>> 0;
  const word = Math.imul(((state >>> ((state >>> 28) + 4)) ^ state) >>> 0, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}

/** The sampler's random u32 for (seed, step): counter-based, so any step can be reproduced. */
export const randomBits = (seed: number, step: number): number => pcgHash((seed ^ pcgHash(step)) >>> 0);

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** f32 bits mapped so that unsigned order = float order (negative: all bits flipped; else sign set). */
export function orderKey(z: number): number {
  f32[0] = z;
  const b = u32[0]!;
  return (b & 0x80000000 ? ~b : b | 0x80000000) >>> 0;
}

export interface SampleResult {
  token: number;
  /**
   * Distance, as a fraction of the kept mass, from u (and from the top-p threshold P) to the
   * nearest boundary that would change the outcome; Infinity for greedy.
   */
  margin: number;
}

/** Penalised and temperature-scaled logits, each step rounded to f32 as on the GPU. */
function scaledLogits(logits: Float32Array, history: ArrayLike<number>, c: SamplerConstants): Float32Array {
  const z = Float32Array.from(logits);
  for (const id of new Set(Array.from(history))) {
    if (id < z.length) z[id] = Math.fround(logits[id]! > 0 ? logits[id]! * c.invPenalty : logits[id]! * c.penalty);
  }
  if (!c.greedy) for (let v = 0; v < z.length; v++) z[v] = Math.fround(z[v]! * c.invTemperature);
  return z;
}

export function sampleToken(logits: Float32Array, history: ArrayLike<number>, o: SamplerOptions, step: number): SampleResult {
  const c = samplerConstants(o, logits.length);
  const z = scaledLogits(logits, history, c);
  const keys = Array.from(z, orderKey);
  const order = keys.map((_, v) => v).sort((a, b) => keys[b]! - keys[a]! || a - b);
  if (c.greedy) return { token: order[0]!, margin: Infinity };

  const zmax = z[order[0]!]!;
  const mass = (v: number): number => Math.floor(Math.fround(Math.exp(Math.fround(z[v]! - zmax))) * MASS_SCALE);
  const kept = c.topK > 0 ? order.filter((v) => keys[v]! >= keys[order[c.topK - 1]!]!) : order;
  const cum: number[] = [];
  kept.reduce((s, v) => (cum.push(s + mass(v)), s + mass(v)), 0);
  const sumK = cum[cum.length - 1]!;

  let end = kept.length; // tokens kept after top-p
  let margin = Infinity;
  if (c.topP24 < TOP_P_ONE) {
    const target = Number((BigInt(sumK) * BigInt(c.topP24) + BigInt(TOP_P_ONE - 1)) / BigInt(TOP_P_ONE));
    end = cum.findIndex((s) => s >= target) + 1;
    const p = c.topP24 / TOP_P_ONE;
    margin = Math.min(Math.abs(cum[end - 1]! / sumK - p), end > 1 ? Math.abs(p - cum[end - 2]! / sumK) : Infinity);
  }
  const sumKept = cum[end - 1]!;
  const r = randomBits(o.seed, step);
  const target = Number((BigInt(r) * BigInt(sumKept)) >> 32n);
  const i = cum.findIndex((s) => s > target);
  const u = r / 2 ** 32;
  const before = i > 0 ? cum[i - 1]! : 0;
  margin = Math.min(margin, u - before / sumKept, cum[i]! / sumKept - u);
  return { token: kept[i]!, margin };
}
