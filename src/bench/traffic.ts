/**
 * Bytes one decode step must move through GPU memory, from the runtime's own plans (the weight
 * plan the loader allocates from and the state buffers of buffer-plan.ts), for the roofline:
 *   weights  every planned matrix once (the LM head included), except that the embedding table
 *            contributes one row (the looked-up token) unless it is tied to the LM head, and a
 *            MoE expert stack contributes k of its E experts (§5: k active experts per token);
 *            the router, the shared expert and every f32 vector (norms, conv taps, A_log, dt_bias)
 *            in full;
 *   kv       attention layers only: K and V rows of every attended position (§3; the step
 *            at position p attends p + 1 positions, its own row included);
 *   state    DeltaNet recurrent + conv state, read and written once per layer (§4).
 * Activations (a few KiB per layer) are left out. A kernel that re-reads data (a cache miss)
 * moves more than this; the figure is the minimum, so effective GB/s is a lower bound.
 */
import { dataBytes, isQuantized, paddedCols, QUANT_GROUP } from '../io/formats.js';
import type { Qwen35Config } from '../model/config.js';
import { planState, type SessionShape } from '../runtime/buffer-plan.js';
import type { MatrixPlan, WeightGroup, WeightPlan } from '../runtime/gpu-weight-plan.js';

export interface DecodeTraffic {
  /** Weight bytes read per step, and the same split by weight group. */
  weights: number;
  weightsByGroup: Partial<Record<WeightGroup, number>>;
  /** K + V bytes read per step at the given number of attended positions. */
  kv: number;
  /** DeltaNet state bytes read + written per step. */
  state: number;
  total: number;
}

/** Bytes of one row of a planned matrix: its packed data and its share of the f16 group scales. */
export function matrixRowBytes(m: MatrixPlan): number {
  const scales = isQuantized(m.format) ? (paddedCols(m.cols) / QUANT_GROUP) * 2 : 0;
  return dataBytes(m.format, 1, m.cols) + scales;
}

/** Weight bytes a decode step reads from `m`. */
function matrixStepBytes(config: Qwen35Config, plan: WeightPlan, m: MatrixPlan): number {
  if (m.key === 'embed' && plan.lmHeadKey !== 'embed') return matrixRowBytes(m);
  // Tied: the LM head reads the whole table, and the embedding lookup one more row of it.
  if (m.key === 'embed') return m.bytes + matrixRowBytes(m);
  if (m.group === 'experts') {
    const moe = config.moe!;
    return moe.numExpertsPerTok * (m.rows / moe.numExperts) * matrixRowBytes(m);
  }
  return m.bytes;
}

/** Weight bytes read by one decode step, in total and per group. */
export function decodeWeightBytes(config: Qwen35Config, plan: WeightPlan): Pick<DecodeTraffic, 'weights' | 'weightsByGroup'> {
  const byGroup: Partial<Record<WeightGroup, number>> = {};
  const add = (group: WeightGroup, bytes: number): void => {
    byGroup[group] = (byGroup[group] ?? 0) + bytes;
  };
  for (const m of plan.matrices) add(m.group, matrixStepBytes(config, plan, m));
  for (const v of plan.vectors) add(v.group, v.bytes);
  return { weights: Object.values(byGroup).reduce((a, b) => a + b, 0), weightsByGroup: byGroup };
}

/** KV bytes per attended position over all attention layers (K and V), from the planned cache buffers. */
export function kvBytesPerPosition(config: Qwen35Config, shape: SessionShape): number {
  const caches = planState(config, shape).filter((s) => s.category === 'kv-cache');
  return caches.reduce((a, s) => a + s.bytes, 0) / shape.maxContext;
}

/** DeltaNet state bytes read and written by one step (each state buffer once each way). */
export function stateBytesPerStep(config: Qwen35Config, shape: SessionShape): number {
  return 2 * planState(config, shape).filter((s) => s.category === 'linear-state').reduce((a, s) => a + s.bytes, 0);
}

/** Everything one decode step moves when it attends `attended` positions. */
export function decodeStepTraffic(config: Qwen35Config, plan: WeightPlan, shape: SessionShape, attended: number): DecodeTraffic {
  const w = decodeWeightBytes(config, plan);
  const kv = kvBytesPerPosition(config, shape) * attended;
  const state = stateBytesPerStep(config, shape);
  return { ...w, kv, state, total: w.weights + kv + state };
}

/** Mean traffic of the decode steps that attend `first`, `first + 1`, …, `first + steps − 1` positions. */
export function meanDecodeTraffic(config: Qwen35Config, plan: WeightPlan, shape: SessionShape, first: number, steps: number): DecodeTraffic {
  return decodeStepTraffic(config, plan, shape, first + (steps - 1) / 2);
}
