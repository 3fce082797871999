/**
 * Live GPU memory of a loaded session against the config-only prediction, category by category,
 * on the tiny dense and MoE checkpoints (both GPU variants, odd contexts and prefill chunks).
 * Tolerance: none — the allocator counts the byte sizes the runtime requests and the predictor
 * sums the same plans, so every category must be equal to the byte, after loading and after a
 * prefill + decode (nothing allocated lazily), with the peak equal to the live figure (nothing
 * transient during load or generation); the DeltaNet state split into conv and recurrent state too.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GPU_VARIANTS } from '../../kernels-test/harness.js';
import { MEMORY_CATEGORIES } from '../gpu/allocator.js';
import { acquireGpu, type GpuContext } from '../gpu/device.js';
import type { WeightFormat } from '../io/formats.js';
import { FsCheckpointSource } from '../io/sources/fs.js';
import type { KvFormat } from '../kernels/attention.js';
import { predictMemory } from '../model/memory.js';
import { generateCheckpoint, TINY_CONFIGS } from '../model/tiny.js';
import { Qwen35Model } from './model.js';
import type { MemoryComparison } from './memory-report.js';

const root = mkdtempSync(join(tmpdir(), 'qwen35-memory-'));
const gpus = new Map<string, GpuContext>();
beforeAll(async () => {
  await generateCheckpoint(TINY_CONFIGS.dense, join(root, 'dense'), { seed: 3 });
  await generateCheckpoint(TINY_CONFIGS.moe, join(root, 'moe'), { seed: 3 });
  for (const v of GPU_VARIANTS) gpus.set(v.name, await acquireGpu({ disable: v.disable }));
});
afterAll(() => {
  for (const gpu of gpus.values()) gpu.destroy();
  rmSync(root, { recursive: true, force: true });
});

function expectExact(m: MemoryComparison, when: string): void {
  for (const row of m.rows) expect(row.measured, `${row.category} ${when}`).toBe(row.predicted);
  for (const c of MEMORY_CATEGORIES) expect(m.measuredPeak[c], `peak ${c} ${when}`).toBe(m.measured[c]);
  expect(m.measuredPeakTotal, `peak total ${when}`).toBe(m.predicted.total);
  // The allocator's live conv/recurrent state buffers, by label, against the plan's split.
  expect(m.measuredLinearState, `linear-state parts ${when}`).toEqual(m.predicted.linearState);
  expect(m.measuredLinearState.conv + m.measuredLinearState.recurrent).toBe(m.measured['linear-state']);
}

describe.each([
  ['dense', 'q4', 'f16', 333, 37, 'subgroups'],
  ['dense', 'f32', 'f32', 4096, 128, 'fallback'],
  ['moe', 'q4', 'f16', 333, 37, 'subgroups'],
  ['moe', 'q8', 'f32', 1000, 64, 'fallback'],
] as const)('tiny %s, %s weights, %s KV, context %i, prefill chunk %i (%s)', (kind, weightFormat, kvFormat, maxContext, prefillChunk, variant) => {
  it('measured == predicted in every category, after load and after generating', async () => {
    const options = { weightFormat: weightFormat as WeightFormat, kvFormat: kvFormat as KvFormat, maxContext, prefillChunk };
    const model = await Qwen35Model.load(new FsCheckpointSource(join(root, kind)), { ...options, gpu: gpus.get(variant)! });
    try {
      const loaded = model.memory();
      // The prediction from the config alone, without the session's resolved options.
      expect(loaded.predicted.byCategory).toEqual(predictMemory(TINY_CONFIGS[kind], options).byCategory);
      expect(loaded.rows.map((r) => r.category)).toEqual([...MEMORY_CATEGORIES]);
      expectExact(loaded, 'after load');
      for (const row of loaded.rows) expect(row.errorPercent).toBe(0);
      // Two prefill chunks and a few decode steps.
      const prompt = Array.from({ length: prefillChunk + 13 }, (_, i) => (i * 29 + 3) % 500);
      const result = await model.generateText(prompt, { maxTokens: 4, eosTokenIds: [] });
      expect(result.tokens).toHaveLength(4);
      expectExact(model.memory(), 'after generating');
    } finally {
      model.dispose();
    }
  });
});
