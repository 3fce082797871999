/**
 * The GPU runtime on the golden cases (../shared/golden: an independent float64 implementation):
 * the prompt runs through the chunked prefill (chunk 64, so the 150-token prompts cross two chunk
 * boundaries and carry DeltaNet state), then every greedy token is fed through the decode graph.
 * Logits of every position are compared with the golden rows.
 *
 * Tolerance 5e-3 absolute on every logit and identical greedy ids: the golden README's bound for a
 * GPU runtime with bf16 weights held in f32 and f32 accumulation (state accumulated over 180 steps;
 * logits reach |15|). The KV cache is f32 here so that only accumulation order differs.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { expectClose } from '../../kernels-test/harness.js';
import { acquireGpu, type GpuContext } from '../gpu/device.js';
import { FsCheckpointSource } from '../io/sources/fs.js';
import { goldenRoot } from '../model/test-helpers.js';
import { Qwen35Model } from './model.js';

interface GoldenCase {
  id: string;
  model: string;
  prompt_ids: number[];
  greedy_ids: number[];
  logits: string;
  logits_shape: [number, number];
}

const golden = goldenRoot();

describe('GPU runtime vs golden logits', () => {
  it.runIf(!golden)('golden files absent: skipped', () => undefined);
  if (!golden) return;
  const manifest = JSON.parse(readFileSync(join(golden, 'manifest.json'), 'utf8')) as { cases: GoldenCase[] };
  let gpu: GpuContext | undefined;
  const models = new Map<string, Promise<Qwen35Model>>();
  const load = async (name: string): Promise<Qwen35Model> => {
    gpu ??= await acquireGpu();
    const g = gpu;
    if (!models.has(name)) {
      const source = new FsCheckpointSource(join(golden, 'models', name));
      models.set(name, Qwen35Model.load(source, { gpu: g, weightFormat: 'f32', kvFormat: 'f32', prefillChunk: 64, maxContext: 256 }));
    }
    return models.get(name)!;
  };
  afterAll(async () => {
    for (const m of models.values()) (await m).dispose();
    gpu?.destroy();
  });

  for (const c of manifest.cases) {
    it(`${c.id}: chunked prefill then decode, every logit within 5e-3, greedy ids identical`, async () => {
      const model = await load(c.model);
      const session = model.session;
      model.reset();
      const bytes = readFileSync(join(golden, c.logits));
      const want = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
      const vocab = c.logits_shape[1];
      const row = (i: number) => want.subarray(i * vocab, (i + 1) * vocab);
      const p = c.prompt_ids.length;

      session.setSampling({ temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1, seed: 0 });
      let next = await session.readToken(await session.prefill(c.prompt_ids, 0));
      expectClose(await session.readLogits(), row(p - 1), 5e-3, 0, `${c.id} logits after the prompt`);
      expect(next).toBe(c.greedy_ids[0]);
      for (let j = 0; j + 1 < c.greedy_ids.length; j++) {
        next = await session.decodeWith(c.greedy_ids[j]!, j + 1);
        expectClose(await session.readLogits(), row(p + j), 5e-3, 0, `${c.id} logits after greedy token ${j}`);
        expect(next, `greedy token ${j + 1}`).toBe(c.greedy_ids[j + 1]);
      }
    });
  }
});
