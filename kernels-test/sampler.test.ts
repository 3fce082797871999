/**
 * GPU sampler vs the CPU reference src/model/sampling.ts (same rules, same integer masses, same
 * counter-based random numbers). The token ids must be identical; the only legitimate difference
 * is the GPU's f32 exp (a few ULP), which moves each CDF boundary by ~1e-7 of the kept mass, so a
 * mismatch is accepted only when the reference reports that u (or the top-p threshold) lies
 * within 1e-6 of a boundary — and the test asserts that this is the reason.
 */
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../src/errors.js';
import { createStorage, dispatchRuns, readU32, submitDispatches, uploadStorage, writeBuffer, type KernelContext } from '../src/gpu/kernel.js';
import { createSampler, type BoundSampler } from '../src/kernels/sampler.js';
import { Random } from '../src/model/random.js';
import { sampleToken, type SamplerOptions } from '../src/model/sampling.js';
import { gpuContext, GPU_VARIANTS, variantAvailable } from './harness.js';

const GREEDY: SamplerOptions = { temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1, seed: 0 };
const MAX_HISTORY = 64;

interface Rig {
  ctx: KernelContext;
  sampler: BoundSampler;
  logits: GPUBuffer;
  history: GPUBuffer;
  token: GPUBuffer;
  free(): void;
}

async function rig(ctx: KernelContext, vocab: number): Promise<Rig> {
  const logits = createStorage(ctx, vocab * 4, 'logits');
  const history = createStorage(ctx, MAX_HISTORY * 4, 'history');
  const token = createStorage(ctx, 4, 'token');
  const sampler = (await createSampler(ctx, { vocab, maxHistory: MAX_HISTORY })).bind({ logits, history, token });
  return {
    ctx, sampler, logits, history, token,
    free: () => {
      sampler.destroy();
      [logits, history, token].forEach((b) => ctx.allocator.destroy(b));
    },
  };
}

/** Samples one token on the GPU; checks the id was appended to the history too. */
async function gpuSample(r: Rig, logits: Float32Array, history: number[], o: SamplerOptions, step: number): Promise<number> {
  writeBuffer(r.ctx, r.logits, logits);
  if (history.length) writeBuffer(r.ctx, r.history, Uint32Array.from(history));
  r.sampler.setOptions(o);
  r.sampler.setStep(step, history.length);
  submitDispatches(r.ctx, r.sampler.dispatches);
  const token = (await readU32(r.ctx, r.token))[0]!;
  expect((await readU32(r.ctx, r.history, 1, history.length))[0], 'sampled id appended to the history').toBe(token);
  return token;
}

/** GPU and reference agree, or the reference shows the draw was within 1e-6 of a boundary. */
async function expectAgreement(r: Rig, logits: Float32Array, history: number[], o: SamplerOptions, step: number): Promise<boolean> {
  const got = await gpuSample(r, logits, history, o, step);
  const want = sampleToken(logits, history, o, step);
  if (got !== want.token) {
    expect(want.margin, `token ${got} ≠ ${want.token} (${JSON.stringify(o)}, step ${step}) away from any boundary`).toBeLessThan(1e-6);
    return false;
  }
  return true;
}

const MIXES: SamplerOptions[] = [
  { temperature: 1, topK: 0, topP: 1, repetitionPenalty: 1, seed: 1 },
  { temperature: 0.7, topK: 20, topP: 1, repetitionPenalty: 1, seed: 2 },
  { temperature: 1, topK: 0, topP: 0.9, repetitionPenalty: 1, seed: 3 },
  { temperature: 0.8, topK: 50, topP: 0.95, repetitionPenalty: 1.3, seed: 4 },
  { temperature: 1.5, topK: 1, topP: 1, repetitionPenalty: 1, seed: 5 },
  { temperature: 2, topK: 0, topP: 0.5, repetitionPenalty: 0.8, seed: 0xffffffff },
  { temperature: 0.05, topK: 0, topP: 1, repetitionPenalty: 1.1, seed: 77 },
];

describe.each(GPU_VARIANTS)('sampler ($name)', (variant) => {
  it('greedy = argmax of the penalised logits, ties → lowest id, odd vocabulary sizes', async ({ skip }) => {
    if (!(await variantAvailable(variant))) skip();
    const ctx = await gpuContext(variant);
    for (const vocab of [1, 3, 1025, 4099]) {
      const r = await rig(ctx, vocab);
      const rnd = new Random(vocab);
      for (let trial = 0; trial < 3; trial++) {
        const logits = rnd.normals(vocab, 3);
        const top = Math.max(...logits);
        if (trial === 1) [vocab - 1, Math.floor(vocab / 2), vocab - 1].forEach((v) => (logits[v] = top + 1)); // tie
        const history = trial === 2 ? [logits.indexOf(top), 0] : [];
        const o = { ...GREEDY, repetitionPenalty: trial === 2 ? 1.7 : 1 };
        const want = sampleToken(logits, history, o, 0).token;
        if (trial === 1) expect(want).toBe(Math.floor(vocab / 2));
        expect(await gpuSample(r, logits, history, o, 0), `vocab ${vocab} trial ${trial}`).toBe(want);
      }
      r.free();
    }
  });

  it('penalty applies once per distinct id; marks are cleared after the call', async ({ skip }) => {
    if (!(await variantAvailable(variant))) skip();
    const ctx = await gpuContext(variant);
    const r = await rig(ctx, 40);
    const logits = new Float32Array(40).fill(-5);
    logits[5] = 4; // once: 4/1.5 = 2.67 > 2.5 (id 5 wins); twice: 1.78 < 2.5 (id 7 would win)
    logits[7] = 2.5;
    const o = { ...GREEDY, repetitionPenalty: 1.5 };
    expect(sampleToken(logits, [5, 5, 5, 9], o, 0).token).toBe(5);
    expect(await gpuSample(r, logits, [5, 5, 5, 9], o, 0)).toBe(5);
    logits[7] = 2.7; // now once is enough to lose
    expect(await gpuSample(r, logits, [5, 5, 9], o, 1)).toBe(7);
    expect(await gpuSample(r, logits, [], o, 2), 'no history: no penalty left over').toBe(5);
    const running = (): number => r.sampler.dispatches.filter(dispatchRuns).length;
    expect(await gpuSample(r, logits, [5, 5, 9], GREEDY, 3), 'greedy without a penalty: the history changes nothing').toBe(5);
    expect(running(), 'greedy without a penalty: prep and finish only').toBe(2);
    expect(await gpuSample(r, logits, [5, 5, 9], o, 4), 'the penalty again after a call without marks').toBe(7);
    expect(running(), 'greedy with a penalty: mark, prep, finish').toBe(3);
    r.free();
  });

  it('exact agreement with the reference over seeds, steps and option mixes (vocab 997)', async ({ skip }) => {
    if (!(await variantAvailable(variant))) skip();
    const ctx = await gpuContext(variant);
    const vocab = 997;
    const r = await rig(ctx, vocab);
    const rnd = new Random(42);
    let agreed = 0;
    let total = 0;
    for (const [m, mix] of MIXES.entries()) {
      for (let step = 0; step < 8; step++) {
        const logits = rnd.normals(vocab, 1 + m);
        const history = Array.from({ length: step * 3 }, () => rnd.int(vocab + 3)); // a few ids ≥ vocab: ignored
        agreed += (await expectAgreement(r, logits, history, { ...mix, seed: (mix.seed + step * 7919) >>> 0 }, step * 13 + m)) ? 1 : 0;
        total++;
      }
    }
    expect(agreed).toBeGreaterThan(total - 3); // boundary cases are rare
    r.free();
  });

  it('vocab 50,000: top-p 0.95 on a flat distribution keeps 47,500 tokens; two-level and peaked distributions', async ({ skip }) => {
    if (!(await variantAvailable(variant))) skip();
    const ctx = await gpuContext(variant);
    const vocab = 50000;
    const r = await rig(ctx, vocab);
    const flat = new Float32Array(vocab);
    const twoLevel = flat.map((_, v) => (v % 3 === 0 ? 0.5 : 0));
    const peaked = new Random(5).normals(vocab, 3);
    const seen = new Set<number>();
    for (const [name, logits] of [['flat', flat], ['two-level', twoLevel], ['peaked', peaked]] as const) {
      for (let step = 0; step < 4; step++) {
        const o = { temperature: 1, topK: 0, topP: 0.95, repetitionPenalty: 1, seed: 11 };
        await expectAgreement(r, logits, [], o, step);
        if (name === 'flat') seen.add(sampleToken(logits, [], o, step).token);
      }
    }
    await expectAgreement(r, peaked, [], { temperature: 0.9, topK: 40, topP: 0.8, repetitionPenalty: 1, seed: 3 }, 9);
    expect(Math.max(...seen), 'flat draws stay within the kept 95%').toBeLessThan(47500);
    r.free();
  });

  it('top-k fast path (k ≤ 256): ties at and above the top-k level across blocks, a level of the whole vocabulary, with and without top-p, k = 256', async ({ skip }) => {
    if (!(await variantAvailable(variant))) skip();
    const ctx = await gpuContext(variant);
    const vocab = 5003;
    const r = await rig(ctx, vocab);
    const rnd = new Random(17);
    const spread = (ids: number[], value: number, logits: Float32Array) => ids.forEach((v) => (logits[v] = value));
    const cases: Array<[string, Float32Array, number]> = [];
    // 5 tokens at 3 and 10 at 2, in different blocks: top-k 12 keeps all 10 of the level (5 listed above it).
    const stairs = rnd.normals(vocab, 0.3);
    spread([4, 1500, 2047, 3333, 5002], 3, stairs);
    spread(Array.from({ length: 10 }, (_, i) => 7 + i * 499), 2, stairs);
    cases.push(['5 above, 10 at the level', stairs, 12]);
    // 30 equal top logits, top-k 20: the level holds all 30, nothing above it.
    const plateau = rnd.normals(vocab, 0.3);
    spread(Array.from({ length: 30 }, (_, i) => 13 + i * 166), 4, plateau);
    cases.push(['all at the level', plateau, 20]);
    cases.push(['k = 256, peaked', rnd.normals(vocab, 3), 256]);
    // Every logit equal: top-k 20 keeps the whole vocabulary (ties at the level are kept), far past the list.
    cases.push(['flat', new Float32Array(vocab), 20]);
    let agreed = 0;
    let total = 0;
    for (const [, logits, topK] of cases) {
      for (const topP of [1, 0.6]) {
        for (let step = 0; step < 4; step++) {
          agreed += (await expectAgreement(r, logits, [], { temperature: 0.8, topK, topP, repetitionPenalty: 1, seed: 5 + step }, step)) ? 1 : 0;
          total++;
        }
      }
    }
    expect(agreed).toBeGreaterThan(total - 2);
    // mark, prep, mass, the top-k search, gather, select, locate, finish: no top-p or draw search.
    expect(r.sampler.dispatches.filter(dispatchRuns).length).toBe(7 + 2 * 4);
    r.free();
  });
});

describe('sampler errors', () => {
  it('invalid options, step or buffers throw InvalidArgumentError', async () => {
    const ctx = await gpuContext(GPU_VARIANTS[0]!);
    const r = await rig(ctx, 10);
    expect(() => r.sampler.setOptions({ ...GREEDY, temperature: Number.NaN })).toThrow(/temperature/);
    expect(() => r.sampler.setOptions({ ...GREEDY, topP: 0 })).toThrow(InvalidArgumentError);
    expect(() => r.sampler.setOptions({ ...GREEDY, seed: 2 ** 32 })).toThrow(/seed/);
    expect(() => r.sampler.setStep(0, MAX_HISTORY + 1)).toThrow(InvalidArgumentError);
    const kernel = await createSampler(ctx, { vocab: 10, maxHistory: MAX_HISTORY });
    expect(() => kernel.bind({ logits: uploadStorage(ctx, new Float32Array(9), 'short'), history: r.history, token: r.token })).toThrow(/logits f32 \[10\]/);
    r.free();
  });
});
