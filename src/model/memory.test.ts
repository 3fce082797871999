/**
 * The memory predictor and the `--table` numbers against bytes computed by hand from the config
 * (architecture §1, §4.4, §7) and the weight layout of src/io/formats.ts. Everything is integer
 * byte arithmetic, so every comparison is exact (toBe). The kernel scratch is written out from
 * each kernel's layout too; that the kernels allocate exactly this is what the GPU test
 * (src/runtime/memory-report.test.ts) checks against the live allocator.
 * Published figures are compared within their printed precision (0.01 GB / 0.01 MB), plus the
 * rounding of the implied parameter count where stated.
 */
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../errors.js';
import { allLayerKvBytes, kvBytesPerToken, largestContextWithin, parameterCount, predictMemory } from './memory.js';
import { fitCalculator, PUBLISHED_FIGURES, publishedComparisons, UNIT_BYTES } from './memory-published.js';
import { memoryTable, TABLE_CONTEXTS, TABLE_FORMATS } from './memory-table.js';
import { PRESETS } from './presets.js';

/** q4: 4 bits per weight of rows padded to 32 columns + one f16 scale per 32 (scale array padded to 4 B). */
const q4 = (rows: number, cols: number): number => {
  const padded = Math.ceil(cols / 32) * 32;
  return (rows * padded * 4) / 8 + Math.ceil((rows * (padded / 32) * 2) / 4) * 4;
};

describe('Qwen3.5-0.8B, q4 weights, f16 KV, 32,768 tokens, prefill chunk 128 (by hand)', () => {
  const config = PRESETS['0.8B']!;
  const context = 32768;
  const p = predictMemory(config, { weightFormat: 'q4', maxContext: context, prefillChunk: 128, kvFormat: 'f16' });
  // 24 layers: 18 Gated DeltaNet + 6 full attention (layers 3, 7, ..., 23); hidden 1024.
  const embedding = q4(248320, 1024); // vocab rows × 1024 cols; tied: also the LM head
  const gdnInProj = q4(2 * 16 * 128 + 16 * 128 + 16 * 128 + 16 + 16, 1024); // [q; k; v] 6144 + z 2048 + b 16 + a 16 rows
  const gdnOut = q4(1024, 16 * 128);
  const gdnVectors = (6144 * 4 + 16 + 16) * 4; // conv1d taps (channels × 4) + A_log + dt_bias, f32
  const attnQkv = q4(2 * 8 * 256 + 2 * 256 + 2 * 256, 1024); // q with its gate (2 × heads × 256) + k + v
  const attnO = q4(1024, 8 * 256);
  const mlp = q4(2 * 3584, 1024) + q4(1024, 3584); // [gate; up] + down
  const norms = (24 * 2 * 1024 + 1024 + 18 * 128 + 6 * 2 * 256) * 4; // input/post per layer, final, GDN norm, q/k norms

  it('weights, group by group', () => {
    expect(embedding).toBe(248320 * 512 + 248320 * 32 * 2);
    expect(p.weights).toEqual({
      embedding,
      lmHead: 0,
      attention: 6 * (attnQkv + attnO),
      deltanet: 18 * (gdnInProj + gdnOut + gdnVectors),
      mlp: 24 * mlp,
      experts: 0,
      router: 0,
      norms,
    });
    expect(p.byCategory.weights).toBe(424_934_656);
  });

  it('KV cache on the 6 attention layers only, fixed DeltaNet state on the other 18', () => {
    const kv = (24 / 4) * 2 * 2 * 256 * context * 2; // layers/4 × (K, V) × Hkv × d × ctx × 2 B
    expect(p.byCategory['kv-cache']).toBe(kv);
    expect(kv).toBe(402_653_184);
    expect(kvBytesPerToken(config, 'f16')).toBe(6 * 2 * 2 * 256 * 2);
    expect(allLayerKvBytes(config, context, 'f16')).toBe(4 * kv);
    // Per GDN layer: conv state (K − 1) × channels f32 + recurrent state Hv × dk × dv f32 (§4.4).
    expect(p.byCategory['linear-state']).toBe(18 * (3 * 6144 * 4 + 16 * 128 * 128 * 4));
    expect(p.linearState).toEqual({ conv: 18 * 3 * 6144 * 4, recurrent: 18 * 16 * 128 * 128 * 4 });
  });

  it('activations: one 128-token chunk of every shared buffer, the single-row head, history and kernel scratch', () => {
    // Per-token widths (f32): ids, hidden, normed, proj = max(attention 5120, GDN 8224), mixerOut,
    // attnQ, gdnQ, gdnK, gdnV, gdnOut, mlpAct (β and g are computed from proj where they are read).
    const widths = 1 + 1024 + 1024 + 8224 + 2048 + 2048 + 2048 + 2048 + 2048 + 2048 + 3584;
    const perChunk = widths * 128 * 4;
    const head = 1024 * 4 + 248320 * 4; // lastHidden (the final norm runs inside the LM head), logits of the last token
    const history = (context + 1) * 4 + 4; // token history + the sampled token
    // Split-K decode attention: min(64, ⌈32768 / 128⌉) = 64 splits × 8 heads × (256 + max + sum), f32.
    const attentionScratch = 64 * 8 * (256 + 2) * 4;
    // Chunked DeltaNet, chunk 64 (2 chunks of 128 tokens): U and W per token (16 heads × 128), γ per
    // token and head, a lower-triangular 64 × 64 matrix (2080 entries) and a 128 × 128 state per chunk and head, f32.
    const gdnScratch = (128 * 16 * 128 * 2 + 128 * 16 + 2 * 16 * 2080 + 2 * 16 * 128 * 128) * 4;
    // Sampler: 3 vocab-long arrays, 3 words per 1024-wide block, 32 state words, 5 × 256 buckets and
    // the top-k fast path's (key, id) list of 256, u32/f32.
    const samplerScratch = (3 * 248320 + 3 * Math.ceil(248320 / 1024) + 32 + 5 * 256 + 2 * 256) * 4;
    const scratch = attentionScratch + gdnScratch + samplerScratch;
    expect(p.byCategory.activations).toBe(perChunk + head + history + scratch);
    expect(p.byCategory.staging).toBe(8); // two 4-byte read-back slots
    // Uniform arena (32 + 48 per layer) × 256 B slots, plus the RoPE inverse frequencies (rotary 64 / 2, f32).
    expect(p.byCategory.other).toBe((32 + 48 * 24) * 256 + 32 * 4);
    expect(p.total).toBe(Object.values(p.byCategory).reduce((a, b) => a + b, 0));
  });

  it('the table cell for 0.8B / q4 / 32,768 is this prediction', () => {
    const [row] = memoryTable({ presets: ['0.8B'], formats: ['q4'], contexts: [context], prefillChunk: 128 });
    expect(row!.weightBytes).toBe(p.byCategory.weights);
    expect(row!.cells[0]!.total).toBe(p.total);
    expect(row!.cells[0]!.totalIfKvOnEveryLayer).toBe(p.total + 3 * p.byCategory['kv-cache']);
    expect(row!.parameters).toBe(parameterCount(config));
  });
});

describe('other sizes (by hand)', () => {
  it('27B bf16: untied LM head as big as the embedding; 16 of 64 layers hold KV', () => {
    const p = predictMemory(PRESETS['27B']!, { weightFormat: 'bf16', maxContext: 262144 });
    expect(p.weights.lmHead).toBe(248320 * 5120 * 2);
    expect(p.weights.embedding).toBe(p.weights.lmHead);
    expect(p.byCategory['kv-cache']).toBe(16 * 2 * 4 * 256 * 262144 * 2);
  });

  it('35B-A3B q4: stacked experts and the f32 router gates', () => {
    const p = predictMemory(PRESETS['35B-A3B']!, { weightFormat: 'q4', maxContext: 1024 });
    // Per layer: gateUp [256 experts × 2 × 512, 2048] and down [256 × 2048, 512]; 40 layers.
    expect(p.weights.experts).toBe(40 * (q4(256 * 2 * 512, 2048) + q4(256 * 2048, 512)));
    expect(p.weights.router).toBe(40 * (256 * 2048 * 4 + 2048 * 4));
    expect(p.byCategory['kv-cache']).toBe(10 * 2 * 2 * 256 * 1024 * 2);
  });
});

describe('the table', () => {
  const rows = memoryTable();
  it('covers every released size × bf16/q8/q4 at 1k, 32k and 262,144 tokens', () => {
    expect(rows).toHaveLength(Object.keys(PRESETS).length * TABLE_FORMATS.length);
    expect(rows.map((r) => r.model)).toContain('Next-80B-A3B');
    for (const r of rows) expect(r.cells.map((c) => c.context)).toEqual([...TABLE_CONTEXTS]);
  });

  it('grows with the context, shrinks with the format, and the naive figure is always larger', () => {
    for (const r of rows) {
      const totals = r.cells.map((c) => c.total);
      expect(totals[0]! < totals[1]! && totals[1]! < totals[2]!).toBe(true);
      for (const c of r.cells) expect(c.totalIfKvOnEveryLayer).toBeGreaterThan(c.total);
    }
    for (const model of Object.keys(PRESETS)) {
      const w = TABLE_FORMATS.map((f) => rows.find((r) => r.model === model && r.format === f)!.weightBytes);
      expect(w[0]! > w[1]! && w[1]! > w[2]!).toBe(true);
    }
  });
});

describe('largestContextWithin', () => {
  const config = PRESETS['0.8B']!;
  const total = (c: number) => predictMemory(config, { weightFormat: 'q4', maxContext: c }).total;

  it('finds the exact boundary', () => {
    const budget = 2 ** 30;
    const c = largestContextWithin(config, budget, { weightFormat: 'q4' });
    expect(total(c)).toBeLessThanOrEqual(budget);
    expect(total(c + 1)).toBeGreaterThan(budget);
  });

  it('returns 0 when the weights alone do not fit, the maximum when everything does', () => {
    expect(largestContextWithin(config, 100 * 2 ** 20, { weightFormat: 'q4' })).toBe(0);
    expect(largestContextWithin(config, 2 ** 40, { weightFormat: 'q4' })).toBe(262144);
  });

  it('rejects a budget that is not a positive number', () => {
    expect(() => largestContextWithin(config, -1)).toThrow(InvalidArgumentError);
    expect(() => largestContextWithin(config, NaN)).toThrow(/positive number of bytes/);
  });
});

describe('published figures', () => {
  const comparisons = publishedComparisons();

  it('the calculator: two points fit 1.05 × (params × 2 B + bf16 KV on all 64 layers), in 10^9 B', () => {
    const [a, b] = PUBLISHED_FIGURES.filter((f) => f.kind === 'calculator');
    const fit = fitCalculator(PRESETS['27B']!, a!, b!);
    expect(Math.abs(fit.overhead - 1.05)).toBeLessThan(5e-4);
    expect(fit.parameters / 1e9).toBeCloseTo(27.71, 2);
    const calc = comparisons.filter((c) => c.figure.kind === 'calculator');
    expect(calc[1]!.terms[1]!.bytes).toBe(64 * 2 * 4 * 256 * 2 * 262144);
    // Printed to 0.01 GB, and the reconstruction rounds the parameters to 0.01 B (± 0.005e9 × 2 B × 1.05).
    for (const c of calc) expect(Math.abs(c.residual)).toBeLessThanOrEqual(0.005e9 + 0.005e9 * 2 * 1.05);
  });

  it('WebLLM: params + all-layer KV + f32 logits of a 1024-token chunk leave a small positive residual', () => {
    const web = comparisons.filter((c) => c.figure.kind === 'webllm');
    expect(web).toHaveLength(9);
    for (const c of web) {
      expect(c.publishedBytes).toBe(c.figure.value * 2 ** 20);
      expect(c.terms[2]!.bytes).toBe(1024 * 248320 * 4);
      expect(c.residual).toBeGreaterThan(0);
      expect(c.residual / c.publishedBytes).toBeLessThan(0.05);
    }
    const kv08 = web.find((c) => c.figure.model === '0.8B' && c.figure.variant === 'q4f16_1')!;
    expect(kv08.terms[1]!.bytes).toBe(24 * 2 * 2 * 256 * 2 * 4096);
    // q4f16_1 and q0f16 share f16 activations: the same residual within the published 0.01 MB.
    const q0 = web.find((c) => c.figure.model === '0.8B' && c.figure.variant === 'q0f16')!;
    expect(Math.abs(q0.residual - kv08.residual)).toBeLessThanOrEqual(0.02 * UNIT_BYTES.MB);
  });

  it('this runtime needs less than every published figure at the same setting', () => {
    for (const c of comparisons) expect(c.ours.total).toBeLessThan(c.publishedBytes);
  });
});
