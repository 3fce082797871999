/**
 * The session's int8Activations option (experimental): the q4 decode matvecs then quantize x to
 * int8 (matvec.wgsl X_INT8, checked against its exact model in kernels-test/linear.test.ts). Here:
 * the option reaches the q4 matvecs of the model (the logits move, by about x's 8-bit rounding) and
 * nothing else (q8 weights give bit-identical logits). Teacher-forced on the same ids, so one
 * flipped greedy choice cannot make the runs diverge.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { acquireGpu, type GpuContext } from '../gpu/device.js';
import { FsCheckpointSource } from '../io/sources/fs.js';
import { ensureDefaultModel, TINY_CONFIGS } from '../model/tiny.js';
import { Qwen35Model } from './model.js';
import { resolveSessionOptions } from './session.js';

const PROMPT = [5, 77, 301, 12, 9, 444, 61];
const FED = [17, 250, 3];

/** Logits after the prompt and after each fed id. */
async function logitsOf(model: Qwen35Model): Promise<Float32Array[]> {
  const s = model.session;
  model.reset();
  s.setSampling({ temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1, seed: 0 });
  await s.readToken(await s.prefill(PROMPT, 0));
  const out = [await s.readLogits()];
  for (const [j, id] of FED.entries()) {
    await s.decodeWith(id, j + 1);
    out.push(await s.readLogits());
  }
  return out;
}

describe('int8Activations', () => {
  let gpu: GpuContext | undefined;
  const models: Qwen35Model[] = [];
  afterAll(() => {
    models.forEach((m) => m.dispose());
    gpu?.destroy();
  });
  const load = async (weightFormat: 'q4' | 'q8', int8Activations: boolean): Promise<Qwen35Model> => {
    gpu ??= await acquireGpu();
    const m = await Qwen35Model.load(new FsCheckpointSource(await ensureDefaultModel()), { gpu, weightFormat, int8Activations, maxContext: 32 });
    models.push(m);
    return m;
  };

  it('q4: every logit row moves, by a small fraction of the logits', async () => {
    const on = await load('q4', true);
    expect(on.session.options.int8Activations).toBe(true);
    const [a, b] = [await logitsOf(await load('q4', false)), await logitsOf(on)];
    for (const [i, row] of a.entries()) {
      let diff = 0;
      let scale = 0;
      row.forEach((v, k) => {
        diff = Math.max(diff, Math.abs(v - b[i]![k]!));
        scale = Math.max(scale, Math.abs(v));
      });
      expect(diff, `row ${i}`).toBeGreaterThan(0);
      expect(diff / scale, `row ${i}`).toBeLessThan(0.1);
    }
  });

  it('a value other than true or false is refused before anything is allocated', () => {
    expect(() => resolveSessionOptions(TINY_CONFIGS.dense, { int8Activations: 'yes' as unknown as boolean })).toThrow(/int8Activations must be true or false, got yes/);
  });

  it('q8: the option changes nothing', async () => {
    const [a, b] = [await logitsOf(await load('q8', false)), await logitsOf(await load('q8', true))];
    a.forEach((row, i) => expect(Array.from(b[i]!), `row ${i}`).toEqual(Array.from(row)));
  });
});
