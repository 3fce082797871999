/**
 * The demo's "will it fit" report (no GPU: limits are given as numbers). Exact expectations: the
 * prediction is predictMemory's for the same settings, and each check passes or fails exactly at
 * the limit it names (sizes computed here from the config, not read from the code under test).
 */
import { describe, expect, it } from 'vitest';
import { kvCacheBytes } from '../src/kernels/attention.js';
import { predictMemory } from '../src/model/memory.js';
import { TINY_CONFIGS } from '../src/model/tiny.js';
import { checkFit, type BufferLimits } from './fit.js';

const config = TINY_CONFIGS.dense;
const GiB = 2 ** 30;
const roomy: BufferLimits = { maxBufferSize: GiB, maxStorageBufferBindingSize: GiB };
const settings = { weightFormat: 'q8', maxContext: 1000, kvFormat: 'f16' } as const;
const software = { isSoftware: true, systemRamGiB: 8 };

describe('checkFit', () => {
  it('passes every check with room to spare and predicts what predictMemory predicts', () => {
    const { prediction, fit } = checkFit(config, settings, roomy, software);
    expect(fit.fits).toBe(true);
    expect(fit.checks.map((c) => c.ok)).toEqual([true, true, true, true]);
    expect(prediction).toEqual(predictMemory(config, settings, roomy as GPUSupportedLimits));
  });

  it('fails the context check beyond the model maximum, without predicting', () => {
    const { prediction, fit } = checkFit(config, { ...settings, maxContext: config.maxPositionEmbeddings + 1 }, roomy, software);
    expect(fit.fits).toBe(false);
    expect(fit.checks).toHaveLength(1);
    expect(fit.checks[0]!.detail).toContain(`at most ${config.maxPositionEmbeddings}`);
    expect(prediction).toBeUndefined();
  });

  it('fails the KV-cache check exactly when one layer of KV is larger than the binding limit', () => {
    const kvLayer = kvCacheBytes('f32', 4096, config.numKeyValueHeads, config.headDim);
    const at = (limit: number) =>
      checkFit(config, { weightFormat: 'f32', maxContext: 4096, kvFormat: 'f32' }, { maxBufferSize: GiB, maxStorageBufferBindingSize: limit }, software).fit;
    expect(at(kvLayer).checks[2]!.ok).toBe(true);
    const tight = at(kvLayer - 4);
    expect(tight.fits).toBe(false);
    expect(tight.checks[2]!.ok).toBe(false);
    expect(tight.checks[2]!.detail).toMatch(/layers\.\d+\.[kv]Cache/);
  });

  it('fails the weight check when one matrix row is larger than a binding', () => {
    const rowBytes = config.hiddenSize * 4; // one f32 row of the embedding
    const { fit } = checkFit(config, { ...settings, weightFormat: 'f32' }, { maxBufferSize: GiB, maxStorageBufferBindingSize: rowBytes - 4 }, software);
    expect(fit.fits).toBe(false);
    expect(fit.checks[1]!.ok).toBe(false);
    expect(fit.checks[1]!.detail).toMatch(/smaller weight format/);
  });

  it('compares the total with system RAM only for a software adapter', () => {
    const total = predictMemory(config, settings, roomy as GPUSupportedLimits).total;
    const ramCheck = (hint: { isSoftware: boolean; systemRamGiB: number | undefined }) => checkFit(config, settings, roomy, hint).fit.checks[3]!;
    expect(ramCheck({ isSoftware: true, systemRamGiB: (total * 0.9) / GiB }).ok).toBe(false);
    expect(ramCheck({ isSoftware: true, systemRamGiB: (total * 1.1) / GiB }).ok).toBe(true);
    expect(ramCheck({ isSoftware: true, systemRamGiB: undefined }).ok).toBeUndefined();
    const hardware = ramCheck({ isSoftware: false, systemRamGiB: 64 });
    expect(hardware.ok).toBeUndefined();
    expect(hardware.detail).toMatch(/does not report/);
  });
});
