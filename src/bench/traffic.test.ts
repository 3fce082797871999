/**
 * Bytes per decode step (traffic.ts, computed from the runtime's plans) against a hand
 * computation for the tiny dense and tiny MoE configs in q4. Exact integers: no tolerance.
 *
 * q4 layout (io/formats.ts): a row of `cols` columns (a multiple of 32 here) is cols/2 bytes of
 * codes plus one f16 scale per 32 columns, so rowBytes(cols) = cols/2 + 2·cols/32:
 *   rowBytes(64) = 36, rowBytes(128) = 72, rowBytes(256) = 144.
 * f32 vectors (norms, conv taps, A_log, dt_bias) and the f32 MoE router / shared-expert gate count
 * 4 bytes per element. KV f16: 2 bytes per element, K and V.
 */
import { describe, expect, it } from 'vitest';
import { TINY_CONFIGS } from '../model/tiny.js';
import { planGpuWeights, resolveWeightFormats } from '../runtime/gpu-weight-plan.js';
import { decodeStepTraffic, decodeWeightBytes, kvBytesPerPosition, meanDecodeTraffic, stateBytesPerStep } from './traffic.js';

const q4Row = (cols: number): number => cols / 2 + (2 * cols) / 32;
const shape = { maxContext: 4096, prefillChunk: 128, kvFormat: 'f16' as const };

describe('decode traffic, tiny dense q4 (hidden 128, 8 layers: 6 DeltaNet + 2 attention, vocab 512, tied)', () => {
  const config = TINY_CONFIGS.dense;
  const plan = planGpuWeights(config, resolveWeightFormats('q4'), 2 ** 30);

  it('weights: the whole tied table (LM head) + one embedding row, every layer matrix and vector once', () => {
    const embedding = 512 * q4Row(128) + q4Row(128); // LM head reads all 512 rows; the lookup one more
    // Attention: qkv = [q+gate 2·4·32 ; k 2·32 ; v 2·32] = 384 rows of 128; o = 128 rows of 4·32 = 128.
    const attention = 2 * (384 * q4Row(128) + 128 * q4Row(128));
    // DeltaNet: keyDim 2·32 = 64, valueDim 4·32 = 128; in_proj = [qkv 2·64+128 ; z 128 ; b 4 ; a 4] = 392 rows;
    // out_proj 128 rows of 128; conv taps (2·64+128)·4 floats, A_log 4, dt_bias 4.
    const deltanet = 6 * (392 * q4Row(128) + 128 * q4Row(128) + 4 * (256 * 4 + 4 + 4));
    // MLP: gate_up 2·256 rows of 128, down 128 rows of 256.
    const mlp = 8 * (512 * q4Row(128) + 128 * q4Row(256));
    // Norms: input + post (128 each) per layer, q/k norm (32 each) per attention layer, gated norm (32) per DeltaNet layer, final (128).
    const norms = 4 * (8 * 2 * 128 + 2 * 2 * 32 + 6 * 32 + 128);
    expect(embedding).toBe(36936);
    const w = decodeWeightBytes(config, plan);
    expect(w.weightsByGroup).toEqual({ embedding, attention, deltanet, mlp, norms });
    expect(w.weights).toBe(embedding + attention + deltanet + mlp + norms);
    expect(w.weights).toBe(812424);
  });

  it('KV: K and V rows of 2 heads × 32 (f16) in 2 attention layers per attended position; f32 doubles it', () => {
    expect(kvBytesPerPosition(config, shape)).toBe(2 * 2 * (2 * 32 * 2));
    expect(kvBytesPerPosition(config, { ...shape, kvFormat: 'f32' })).toBe(2 * 2 * (2 * 32 * 4));
  });

  it('DeltaNet state: recurrent 4·32·32 and conv 3·256 floats per layer, read and written', () => {
    const perLayer = 4 * (4 * 32 * 32 + 3 * 256);
    expect(stateBytesPerStep(config, shape)).toBe(2 * 6 * perLayer);
  });

  it('a step attending 1000 positions, and the mean over steps attending 10 … 14', () => {
    const t = decodeStepTraffic(config, plan, shape, 1000);
    expect(t.kv).toBe(1000 * 512);
    expect(t.total).toBe(812424 + 1000 * 512 + 2 * 6 * 4 * (4096 + 768));
    expect(meanDecodeTraffic(config, plan, shape, 10, 5).kv).toBe(12 * 512);
  });
});

describe('decode traffic, tiny MoE q4 (hidden 64, 8 layers, 8 experts with 2 active, untied head)', () => {
  const config = TINY_CONFIGS.moe;
  const plan = planGpuWeights(config, resolveWeightFormats('q4'), 2 ** 30);

  it('weights: one embedding row, the LM head, k = 2 of 8 experts, the f32 router and shared-expert gate, the shared expert', () => {
    const embedding = q4Row(64); // untied: only the looked-up row
    const lmHead = 512 * q4Row(64);
    const attention = 2 * (384 * q4Row(64) + 64 * q4Row(128)); // qkv 384 rows of 64; o 64 rows of 4·32
    // DeltaNet: keyDim 2·16 = 32, valueDim 4·16 = 64; in_proj = 2·32+64 + 64 + 4 + 4 = 200 rows; out 64 rows of 64;
    // conv taps (2·32+64)·4 floats, A_log 4, dt_bias 4.
    const deltanet = 6 * (200 * q4Row(64) + 64 * q4Row(64) + 4 * (128 * 4 + 4 + 4));
    // Active experts: 2 × (gate_up 2·64 rows of 64 + down 64 rows of 64); all 8 are planned, 2 are read.
    const experts = 8 * 2 * (128 * q4Row(64) + 64 * q4Row(64));
    const router = 8 * 4 * (8 * 64 + 1 * 64); // f32 router [8, 64] and shared-expert gate [1, 64]
    const mlp = 8 * (128 * q4Row(64) + 64 * q4Row(64)); // shared expert gate_up 2·64 rows, down 64 rows
    const norms = 4 * (8 * 2 * 64 + 2 * 2 * 32 + 6 * 16 + 64);
    const w = decodeWeightBytes(config, plan);
    expect(w.weightsByGroup).toEqual({ embedding, lmHead, attention, deltanet, experts, router, mlp, norms });
    expect(w.weights).toBe(314404);
    // The planned expert stacks hold all 8 experts: 4× what a step reads.
    const plannedExperts = plan.matrices.filter((m) => m.group === 'experts').reduce((a, m) => a + m.bytes, 0);
    expect(plannedExperts).toBe(4 * experts);
  });

  it('KV and DeltaNet state', () => {
    expect(kvBytesPerPosition(config, shape)).toBe(2 * 2 * (2 * 32 * 2));
    expect(stateBytesPerStep(config, shape)).toBe(2 * 6 * 4 * (4 * 16 * 16 + 3 * 128));
  });
});
