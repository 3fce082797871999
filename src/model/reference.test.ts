/**
 * The CPU reference forward.
 *
 * Golden (../shared/golden, an independent float64 implementation on the same bf16 weights):
 * every logit within 1e-3 absolute and identical greedy ids, the tolerance the golden README
 * sets for an f32 reference (logits reach |15| there; f32 storage between operators gives
 * ~1e-7 relative error per op, accumulated over 8 layers and 180 positions — measured ≤ 3.2e-4).
 *
 * Self-consistency on generated tiny checkpoints (logits of scale ~4): one prefill ≡ prefill +
 * decode steps ≡ prefill in pieces, within 1e-4 absolute. The paths differ only in f32 rounding:
 * chunked (§4.3) vs recurrent (§4.2) GDN, chunk boundaries, KV cache writes (measured ≤ 2.1e-5).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { expectClose } from '../../kernels-test/harness.js';
import { ContextOverflowError, InvalidArgumentError } from '../errors.js';
import { MemoryCheckpointSource, MemorySink } from '../io/memory-checkpoint.js';
import { Random } from './random.js';
import { loadReferenceModel, ReferenceModel } from './reference.js';
import { writeSyntheticCheckpoint } from './synthetic.js';
import { FsCheckpointSource } from '../io/sources/fs.js';
import { goldenRoot } from './test-helpers.js';
import { TINY_CONFIGS, type TinyKind } from './tiny.js';

interface GoldenCase {
  id: string;
  model: string;
  prompt_ids: number[];
  greedy_ids: number[];
  logits: string;
  logits_shape: [number, number];
}

const argmax = (row: ArrayLike<number>): number => {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i]! > row[best]!) best = i;
  return best;
};

const golden = goldenRoot();

describe('golden logits', () => {
  it.runIf(!golden)('golden files absent: skipped (expected at ../shared/golden)', () => {
    console.warn('golden files not found at ../shared/golden; skipping the golden comparison');
  });
  if (!golden) return;
  const manifest = JSON.parse(readFileSync(join(golden, 'manifest.json'), 'utf8')) as { cases: GoldenCase[] };
  const models = new Map<string, Promise<ReferenceModel>>();
  const model = (name: string) => {
    if (!models.has(name)) models.set(name, loadReferenceModel(new FsCheckpointSource(join(golden, 'models', name))));
    return models.get(name)!;
  };

  for (const c of manifest.cases) {
    it(`${c.id}: prefill of prompt ++ greedy matches every row within 1e-3; greedy ids identical; decode path too`, async () => {
      const m = await model(c.model);
      const bytes = readFileSync(join(golden, c.logits));
      const want = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
      const [steps, vocab] = c.logits_shape;
      // Row i: logits after token i of prompt ++ greedy; the last greedy token is never consumed.
      const ids = [...c.prompt_ids, ...c.greedy_ids].slice(0, -1);
      expect(steps).toBe(ids.length);
      m.reset();
      const all = m.prefill(ids, { allLogits: true });
      expectClose(all, want, 1e-3, 0, `${c.id} logits`);
      const P = c.prompt_ids.length;
      const greedy = c.greedy_ids.map((_, j) => argmax(all.subarray((P - 1 + j) * vocab, (P + j) * vocab)));
      expect(greedy).toEqual(c.greedy_ids);

      // Decode path: prefill the prompt (chunked GDN), then one recurrent step per greedy token.
      m.reset();
      const rows = [m.prefill(c.prompt_ids)];
      for (const t of c.greedy_ids.slice(0, -1)) rows.push(m.step(t));
      expectClose(rows.flatMap((r) => [...r]), want.subarray((P - 1) * vocab), 1e-3, 0, `${c.id} decode logits`);
      expect(rows.map(argmax)).toEqual(c.greedy_ids);
    });
  }
});

async function tinyModel(kind: TinyKind): Promise<ReferenceModel> {
  const sink = new MemorySink();
  await writeSyntheticCheckpoint(TINY_CONFIGS[kind], { seed: 3, maxShardBytes: 1 << 20 }, (f, c) => sink.write(f, c));
  return loadReferenceModel(new MemoryCheckpointSource(sink.files()));
}

describe('state carried across calls', () => {
  for (const kind of ['dense', 'moe', 'next'] as const) {
    it(`${kind}: prefill(all) ≡ prefill(part) + steps ≡ prefill in pieces (150 tokens, chunk boundaries crossed)`, async () => {
      const m = await tinyModel(kind);
      const rnd = new Random(11);
      const ids = Array.from({ length: 150 }, () => rnd.int(TINY_CONFIGS[kind].vocabSize));
      const full = m.prefill(ids, { allLogits: true });
      expect(m.position).toBe(150);

      m.reset();
      const stepped = [...m.prefill(ids.slice(0, 70), { allLogits: true })];
      for (const t of ids.slice(70)) stepped.push(...m.step(t));
      expectClose(stepped, full, 1e-4, 0, 'prefill + steps');

      m.reset();
      const pieces = [[0, 30], [30, 100], [100, 150]].flatMap(([a, b]) => [...m.prefill(ids.slice(a, b), { allLogits: true })]);
      expectClose(pieces, full, 1e-4, 0, 'prefill in pieces');

      m.reset();
      expectClose(m.prefill(ids), full.subarray(149 * TINY_CONFIGS[kind].vocabSize), 0, 0, 'last row after reset');
    });
  }
});

describe('input checks', () => {
  it('rejects token ids outside the vocabulary, empty prompts and context overflow', async () => {
    const m = await tinyModel('next');
    expect(() => m.prefill([1, 512])).toThrow(InvalidArgumentError);
    expect(() => m.prefill([1, 512])).toThrow(/token id 512 is outside the vocabulary \[0, 512\)/);
    expect(() => m.prefill([])).toThrow(InvalidArgumentError);
    const short = new ReferenceModel({ ...m.config, maxPositionEmbeddings: 8 }, m.weights);
    short.prefill([1, 2, 3, 4, 5]);
    expect(() => short.prefill([1, 2, 3, 4])).toThrow(ContextOverflowError);
    expect(short.position).toBe(5);
  });
});
