/**
 * The GPU runtime against the CPU reference on generated tiny checkpoints (dense, MoE, Qwen3-Next
 * layout), end to end through the public calls.
 *
 * Tolerances: f32 weights and an f32 KV cache leave only accumulation order between GPU and CPU
 * (~1e-6 relative per op over 8 layers): logits within 2e-3 absolute (logits ~±4) at every one of
 * the 64 steps and identical greedy ids. bf16 weights are the checkpoint's own values (the tiny
 * checkpoints store bf16), so the GPU holds exactly what the reference reads and the same bound holds. Quantized weights (q8, q4) are compared with the reference run on the SAME
 * dequantized weights (quantize → dequantize each matrix), so the same bound applies.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectClose } from '../../kernels-test/harness.js';
import { AbortedError, ContextOverflowError, InvalidArgumentError } from '../errors.js';
import { acquireGpu, type GpuContext } from '../gpu/device.js';
import type { WeightFormat } from '../io/formats.js';
import { dequantizeMatrix, packMatrix } from '../io/quantize.js';
import { FsCheckpointSource } from '../io/sources/fs.js';
import { openTensorDirectory } from '../io/tensor-directory.js';
import type { Qwen35Config } from '../model/config.js';
import { ReferenceModel } from '../model/reference.js';
import { generateCheckpoint, TINY_CONFIGS, type TinyKind } from '../model/tiny.js';
import { planWeights } from '../model/weight-plan.js';
import { directoryReader, loadAllWeights, weightEntries, type ModelWeights } from '../model/weights.js';
import { planGpuWeights, resolveWeightFormats } from './gpu-weight-plan.js';
import { drain, Qwen35Model } from './model.js';

const argmax = (row: ArrayLike<number>): number => {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i]! > row[best]!) best = i;
  return best;
};

/** The reference on the weights the GPU really holds: every matrix quantized and dequantized in its format. */
async function referenceFor(dir: string, config: Qwen35Config, format: WeightFormat): Promise<ReferenceModel> {
  const tensors = await openTensorDirectory(new FsCheckpointSource(dir));
  const weights = await loadAllWeights(planWeights(config, tensors), directoryReader(tensors));
  const byPath = new Map(weightEntries(weights as ModelWeights<Float32Array>));
  for (const m of planGpuWeights(config, resolveWeightFormats(format), 2 ** 30).matrices) {
    for (const src of m.sources) {
      const w = byPath.get(src.path)!;
      w.set(dequantizeMatrix(packMatrix(w, src.rows, m.cols, m.format), src.rows, m.cols, m.format));
    }
  }
  return new ReferenceModel(config, weights);
}

function referenceGreedy(ref: ReferenceModel, prompt: number[], n: number): { ids: number[]; logits: Float32Array[] } {
  ref.reset();
  let logits = ref.prefill(prompt);
  const ids: number[] = [];
  const all: Float32Array[] = [];
  for (let i = 0; i < n; i++) {
    all.push(logits);
    ids.push(argmax(logits));
    if (i + 1 < n) logits = ref.step(ids[i]!);
  }
  return { ids, logits: all };
}

const root = mkdtempSync(join(tmpdir(), 'qwen35-runtime-'));
let gpu: GpuContext;
const dirs = new Map<TinyKind, string>();
beforeAll(async () => {
  gpu = await acquireGpu();
  for (const kind of ['dense', 'moe', 'next'] as const) {
    dirs.set(kind, join(root, kind));
    await generateCheckpoint(TINY_CONFIGS[kind], dirs.get(kind)!, { seed: 11 });
  }
});
afterAll(() => {
  gpu?.destroy();
  rmSync(root, { recursive: true, force: true });
});

const load = (kind: TinyKind, format: WeightFormat, extra: { maxContext?: number; prefillChunk?: number; gpuWaits?: 'paced' | 'polled' } = {}) =>
  Qwen35Model.load(new FsCheckpointSource(dirs.get(kind)!), { gpu, weightFormat: format, kvFormat: 'f32', prefillChunk: 16, maxContext: 256, ...extra });

const PROMPT = Array.from({ length: 37 }, (_, i) => (i * 37 + 5) % 500);

describe.each([
  ['dense', 'f32'],
  ['moe', 'f32'],
  ['next', 'f32'],
  ['dense', 'bf16'],
  ['moe', 'bf16'],
  ['dense', 'q8'],
  ['dense', 'q4'],
  ['moe', 'q4'],
] as const)('greedy generation on %s (%s weights) equals the reference', (kind, format) => {
  it('token for token over 64 tokens, and the logits of every step', async () => {
    const model = await load(kind, format);
    try {
      const ref = await referenceFor(dirs.get(kind)!, TINY_CONFIGS[kind], format);
      const want = referenceGreedy(ref, PROMPT, 64);
      const got = await model.generateText(PROMPT, { maxTokens: 64, eosTokenIds: [] });
      expect(got.tokens).toEqual(want.ids);
      expect(got.finishReason).toBe('length');
      // The logits of every one of the 64 steps, through the decode graph.
      model.reset();
      const session = model.session;
      session.setSampling({ temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1, seed: 0 });
      await session.readToken(await session.prefill(PROMPT, 0));
      for (let i = 0; i < want.logits.length; i++) {
        expectClose(await session.readLogits(), want.logits[i]!, 2e-3, 0, `step ${i}`);
        if (i + 1 < want.logits.length) await session.decodeWith(want.ids[i]!, i + 1);
      }
    } finally {
      model.dispose();
    }
  });
});

describe('runtime behaviour (tiny dense, f32)', () => {
  let model: Qwen35Model;
  beforeAll(async () => {
    model = await load('dense', 'f32', { maxContext: 128 });
  });
  afterAll(() => model?.dispose());

  it('prefill + decode equals one long prefill (chunk boundaries and carried state)', async () => {
    const s = model.session;
    s.setSampling({ temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1, seed: 0 });
    const ids = Array.from({ length: 50 }, (_, i) => (i * 13 + 1) % 500);
    model.reset();
    await s.readToken(await s.prefill(ids, 0));
    const whole = await s.readLogits();
    model.reset();
    await s.readToken(await s.prefill(ids.slice(0, 30), 0));
    for (const id of ids.slice(30)) await s.decodeWith(id, 0);
    expectClose(await s.readLogits(), whole, 1e-4, 0, 'logits');
  });

  it('a second prompt continues the conversation exactly as one long prompt would', async () => {
    model.reset();
    const first = await model.generateText([1, 2, 3, 4], { maxTokens: 5, eosTokenIds: [] });
    const second = await model.generateText([7, 8, 9], { maxTokens: 6, eosTokenIds: [] });
    model.reset();
    const whole = await model.generateText([1, 2, 3, 4, ...first.tokens, 7, 8, 9], { maxTokens: 6, eosTokenIds: [] });
    expect(second.tokens).toEqual(whole.tokens);
  });

  it('snapshot and restore return to the same state', async () => {
    model.reset();
    await model.generateText([5, 6, 7], { maxTokens: 3, eosTokenIds: [] });
    const snap = model.snapshot();
    const a = await model.generateText([9, 10], { maxTokens: 8, eosTokenIds: [] });
    model.restore(snap);
    const b = await model.generateText([9, 10], { maxTokens: 8, eosTokenIds: [] });
    model.releaseSnapshot(snap);
    expect(b.tokens).toEqual(a.tokens);
  });

  it('stops on an EOS id and on a stop string, which is not emitted', async () => {
    model.reset();
    const free = await model.generateText([3, 1, 4, 1, 5], { maxTokens: 12, eosTokenIds: [] });
    model.reset();
    const eos = await model.generateText([3, 1, 4, 1, 5], { maxTokens: 12, eosTokenIds: [free.tokens[4]!] });
    expect(eos.finishReason).toBe('stop');
    expect(eos.tokens).toEqual(free.tokens.slice(0, free.tokens.indexOf(free.tokens[4]!) + 1));
    const stop = free.text.slice(3, 5);
    if (stop.length === 2) {
      model.reset();
      const cut = await model.generateText([3, 1, 4, 1, 5], { maxTokens: 12, eosTokenIds: [], stop: [stop] });
      expect(cut.finishReason).toBe('stop');
      expect(cut.text).toBe(free.text.slice(0, free.text.indexOf(stop)));
    }
  });

  it('seeded sampling is reproducible and differs across seeds', async () => {
    const run = async (seed: number) => {
      model.reset();
      return (await model.generateText([2, 7, 1, 8], { maxTokens: 16, temperature: 1.5, topP: 0.95, seed, eosTokenIds: [] })).tokens;
    };
    const a = await run(1);
    expect(await run(1)).toEqual(a);
    expect(await run(2)).not.toEqual(a);
  });

  it('abort stops generation with AbortedError and leaves the session usable', async () => {
    model.reset();
    const controller = new AbortController();
    const stream = model.generate([1, 2, 3], { maxTokens: 50, eosTokenIds: [], signal: controller.signal });
    let n = 0;
    await expect(
      drain(stream, () => {
        if (++n === 3) controller.abort();
      }),
    ).rejects.toBeInstanceOf(AbortedError);
    model.reset();
    const after = await model.generateText([1, 2, 3], { maxTokens: 4, eosTokenIds: [] });
    expect(after.tokens).toHaveLength(4);
  });

  it('concurrent generate() calls are queued, never interleaved', async () => {
    model.reset();
    const solo = await model.generateText([4, 4, 4], { maxTokens: 6, eosTokenIds: [] });
    model.reset();
    const [a, b] = await Promise.all([
      model.generateText([4, 4, 4], { maxTokens: 6, eosTokenIds: [] }),
      model.generateText([4, 4, 4], { maxTokens: 6, eosTokenIds: [] }),
    ]);
    expect(a.tokens).toEqual(solo.tokens);
    expect(b.tokens).toHaveLength(6);
  });

  it('paced and polled GPU waits give the same tokens; the paced session sleeps through part of its waits', async () => {
    expect(model.session.pacer.mode).toBe('paced'); // the default in Node
    const polled = await load('dense', 'f32', { maxContext: 128, gpuWaits: 'polled' });
    try {
      // 37 tokens in chunks of 16: one wait for the first chunk (before the third is submitted),
      // then 24 sampled ids (the first waits on the prompt's last chunks).
      const want = (await polled.generateText(PROMPT, { maxTokens: 24, eosTokenIds: [] })).tokens;
      expect(polled.session.pacer.stats.sleptMs).toBe(0);
      expect(polled.session.pacer.stats.waits).toBe(1 + 24);
      model.reset();
      model.session.pacer.resetStats();
      for (let run = 0; run < 2; run++) {
        model.reset();
        expect((await model.generateText(PROMPT, { maxTokens: 24, eosTokenIds: [] })).tokens).toEqual(want);
      }
      const stats = model.session.pacer.stats;
      expect(stats.waits).toBe(2 * 25);
      expect(stats.sleptMs).toBeGreaterThan(0);
    } finally {
      polled.dispose();
    }
    await expect(load('dense', 'f32', { gpuWaits: 'spin' as 'paced' })).rejects.toThrow(/gpuWaits must be "paced" or "polled"/);
  });

  it('rejects empty prompts, prompts beyond the context, bad token ids and invalid options', async () => {
    model.reset();
    await expect(model.generateText([], {})).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(model.generateText(Array(200).fill(1), {})).rejects.toBeInstanceOf(ContextOverflowError);
    await expect(model.generateText([1, 99999], {})).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(model.generateText([1], { temperature: Number.NaN })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(model.generateText([1], { topP: 0 })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(model.generateText([1], { maxTokens: 0 })).rejects.toBeInstanceOf(InvalidArgumentError);
    const ok = await model.generateText([1, 2], { maxTokens: 2, eosTokenIds: [] });
    expect(ok.tokens).toHaveLength(2);
  });
});

describe('decode graph of the MoE model', () => {
  it('10 dispatches per MoE layer: the shared expert gate rides in the router matvec (E + 1 rows)', async () => {
    const model = await load('moe', 'q8');
    try {
      const config = TINY_CONFIGS.moe;
      const graph = model.session.forward.decode;
      graph.update({ pos0: 3, tokens: 1 });
      // mixer 3 (qkv | in_proj, attention | gdn step, o_proj | out_proj) + router, top-k, experts
      // gate_up, experts down, shared gate_up, shared down, combine; + embedding, LM head, sampler 2.
      expect(graph.dispatchCount()).toBe(10 * config.numLayers + 4);
      expect(model.session.weightPlan.matrices.find((m) => m.key === 'layers.0.moe.router')?.rows).toBe(config.moe!.numExperts + 1);
      expect(graph.nodes.some((n) => n.label.includes('shared gate') && !n.label.includes('gate_up'))).toBe(false);
    } finally {
      model.dispose();
    }
  });
});
