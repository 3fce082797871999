/**
 * `qwen35 mem` without a GPU: prediction from any config.json (--config), the batch size, the
 * weight formats with their group size and scale dtype, the DeltaNet state split into conv and
 * recurrent state, and the text report's peak column. Every byte count is exact (integer
 * arithmetic from the config, architecture §1 and §4.4), so comparisons are toBe/toEqual.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, InvalidArgumentError, ModelFormatError } from '../errors.js';
import { MEMORY_CATEGORIES, type MemoryByCategory } from '../gpu/allocator.js';
import { predictMemory } from '../model/memory.js';
import { PRESETS, toHfConfig } from '../model/presets.js';
import { command } from './mem.js';
import { runCapturingStdout } from './test-helpers.js';
import { reportText, type MemReport } from './mem-report.js';

const root = mkdtempSync(join(tmpdir(), 'qwen35-mem-predict-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Runs the command and returns what it printed on stdout. */
const run = (...args: string[]): Promise<string> => runCapturingStdout(command, args);

interface Part {
  part: string;
  predictedBytes: number;
  measuredBytes: number | null;
}
interface ReportJson {
  settings: { batch: number; weightFormatDetails: Record<string, { format: string; groupSize: number | null; scaleDtype: string | null; bitsPerWeight: number }> };
  categories: Array<{ category: string; predictedBytes: number; parts?: Part[] }>;
  total: { predictedBytes: number };
  kvCache: { bytes: number; bytesIfEveryLayer: number };
}
const json = async (...args: string[]) => JSON.parse(await run(...args, '--json')) as ReportJson;
const byCategory = (r: ReportJson) => Object.fromEntries(r.categories.map((c) => [c.category, c.predictedBytes]));

// Qwen3.5-0.8B (architecture §7): 24 layers = 18 Gated DeltaNet + 6 full attention; GDN: 16 key and
// 16 value heads of 128, conv kernel 4 over 2 × 16 × 128 + 16 × 128 = 6144 channels; attention: 2 KV heads of 256.
const conv08 = 18 * (4 - 1) * 6144 * 4; // per GDN layer (K − 1) × channels, f32
const recurrent08 = 18 * 16 * 128 * 128 * 4; // per GDN layer Hv × dk × dv, f32
const kv08 = (context: number) => 6 * 2 * 2 * 256 * context * 2; // attention layers × (K, V) × Hkv × d × ctx × f16

describe('--config: any config.json, nothing else read', () => {
  it('a config.json file and its folder predict what the preset does, byte for byte', async () => {
    const dir = join(root, '27B');
    mkdirSync(dir);
    writeFileSync(join(dir, 'config.json'), JSON.stringify(toHfConfig(PRESETS['27B']!)));
    const want = predictMemory(PRESETS['27B']!, { weightFormat: 'bf16', maxContext: 1024 });
    for (const path of [join(dir, 'config.json'), dir]) {
      const r = await json('--config', path, '--format', 'bf16', '--context', '1024');
      expect(byCategory(r)).toEqual(want.byCategory);
      expect(r.kvCache.bytes).toBe(16 * 2 * 4 * 256 * 1024 * 2); // 16 of 64 layers hold KV
    }
    expect(await run('--config', join(dir, 'config.json'), '--context', '1024')).toMatch(/^config .*config\.json: q4 \(f16 scale per 32\) weights/);
  });

  it('a bad config fails with the parser\'s typed error', async () => {
    const bad = (name: string, text: string) => {
      writeFileSync(join(root, name), text);
      return join(root, name);
    };
    await expect(command.run(['--config', bad('truncated.json', '{"model_type": "qwen3_5"')])).rejects.toThrow(ConfigError);
    await expect(command.run(['--config', bad('no-text.json', '{"model_type": "qwen3_5"}')])).rejects.toThrow(/needs a text_config object/);
    await expect(command.run(['--config', bad('llama.json', '{"model_type": "llama"}')])).rejects.toThrow(ConfigError);
    const empty = mkdtempSync(join(root, 'empty-'));
    await expect(command.run(['--config', empty])).rejects.toThrow(ConfigError); // a folder without config.json
    await expect(command.run(['--config', join(root, 'absent.json')])).rejects.toThrow(InvalidArgumentError);
    await expect(command.run(['--config', join(root, 'absent.json')])).rejects.not.toThrow(ModelFormatError);
    await expect(command.run(['--config', empty, '--preset', '0.8B'])).rejects.toThrow(/either --model .* or --preset or --config/);
    await expect(command.run(['--config', empty, '--measure', '100'])).rejects.toThrow(/--measure needs a loaded model \(--model\), not --config/);
  });
});

describe('--batch', () => {
  it('KV cache, DeltaNet state, activations and staging × B; weights and constants shared (0.8B q4, 1,024 tokens, by hand)', async () => {
    const one = await json('--preset', '0.8B', '--context', '1024');
    const three = await json('--preset', '0.8B', '--context', '1024', '--batch', '3');
    expect(three.settings.batch).toBe(3);
    const a = byCategory(one);
    const b = byCategory(three);
    expect(a['kv-cache']).toBe(kv08(1024));
    expect(b['kv-cache']).toBe(3 * kv08(1024));
    expect(a['linear-state']).toBe(conv08 + recurrent08);
    expect(b['linear-state']).toBe(3 * (conv08 + recurrent08));
    expect(b.activations).toBe(3 * a.activations!);
    expect(b.staging).toBe(3 * 8); // two 4-byte read-back slots per sequence
    expect(b.weights).toBe(a.weights);
    expect(b.other).toBe(a.other);
    expect(three.total.predictedBytes).toBe(one.total.predictedBytes + 2 * (kv08(1024) + conv08 + recurrent08 + a.activations! + 8));
    expect(three.kvCache.bytesIfEveryLayer).toBe(3 * 4 * kv08(1024));
  });

  it('a batch other than 1 cannot be measured: rejected with --model before anything is loaded; B must be ≥ 1', async () => {
    // The model path does not exist: reaching the loader would fail with another message.
    await expect(command.run(['--model', join(root, 'no-such-model'), '--batch', '2'])).rejects.toThrow(/only batch 1 can be measured; predict batch 2 with --preset or --config/);
    await expect(command.run(['--preset', '0.8B', '--batch', '0'])).rejects.toThrow(/batch must be an integer ≥ 1, got 0/);
    await expect(command.run(['--preset', '0.8B', '--batch', '1.5'])).rejects.toThrow(InvalidArgumentError);
    await expect(command.run(['--table', '--batch', '2'])).rejects.toThrow(/--table covers every preset/);
  });
});

describe('weight formats carry their group size and scale dtype', () => {
  it('per class in the JSON, q8/q4 with one f16 scale per 32, unquantized formats with none', async () => {
    const r = await json('--preset', '2B', '--format', 'embedding=bf16,attention=q8,default=q4');
    const d = r.settings.weightFormatDetails;
    expect(d.embedding).toEqual({ format: 'bf16', groupSize: null, scaleDtype: null, bitsPerWeight: 16 });
    expect(d.attention).toEqual({ format: 'q8', groupSize: 32, scaleDtype: 'f16', bitsPerWeight: 8.5 });
    expect(d.mlp).toEqual({ format: 'q4', groupSize: 32, scaleDtype: 'f16', bitsPerWeight: 4.5 });
    expect(await run('--preset', '2B', '--format', 'embedding=bf16,attention=q8,default=q4')).toContain(
      'weights embedding=bf16, lmHead=q4 (f16 scale per 32), attention=q8 (f16 scale per 32), deltanet=q4 (f16 scale per 32)',
    );
  });
});

describe('DeltaNet state: conv and recurrent, fixed whatever the context', () => {
  it('the linear-state row splits into the two parts (0.8B, by hand), the same at 1k and 262k tokens', async () => {
    for (const context of ['1024', '262144']) {
      const r = await json('--preset', '0.8B', '--context', context);
      const row = r.categories.find((c) => c.category === 'linear-state')!;
      expect(row.parts).toEqual([
        { part: 'conv', predictedBytes: conv08, measuredBytes: null, errorPercent: null },
        { part: 'recurrent', predictedBytes: recurrent08, measuredBytes: null, errorPercent: null },
      ]);
    }
    const text = await run('--preset', '0.8B');
    expect(text).toMatch(/\n {2}linear-state +19\.3 MiB\n {4}conv state +1\.3 MiB\n {4}recurrent state +18\.0 MiB\n/);
  });

  it('a model without DeltaNet layers has neither part', () => {
    const p = predictMemory({ ...PRESETS['0.8B']!, layerTypes: PRESETS['0.8B']!.layerTypes.map(() => 'full_attention' as const) }, {});
    expect(p.linearState).toEqual({ conv: 0, recurrent: 0 });
  });
});

describe('the text report of a measured model', () => {
  it('shows the measured peak next to the current figure, per category and in total', () => {
    const config = PRESETS['0.8B']!;
    const predicted = predictMemory(config, { maxContext: 1024, prefillChunk: 128 });
    const live: MemoryByCategory = { ...predicted.byCategory };
    // A transient 1 MiB activation buffer freed again, and a snapshot of the state taken and released.
    const peak: MemoryByCategory = { ...live, activations: live.activations + 2 ** 20, 'linear-state': 2 * live['linear-state'] };
    const liveTotal = MEMORY_CATEGORIES.reduce((a, c) => a + live[c], 0);
    const report: MemReport = {
      name: 'test',
      predictionOnly: false,
      config,
      predicted,
      measured: { live, peak, peakTotal: liveTotal + 2 ** 20, linearState: predicted.linearState },
    };
    const lines = reportText(report).split('\n');
    expect(lines[1]).toMatch(/predicted +measured +peak +error/);
    expect(lines.find((l) => l.startsWith('  activations'))).toMatch(/^ {2}activations +20\.9 MiB +20\.9 MiB +21\.9 MiB +\+0\.00%$/);
    expect(lines.find((l) => l.startsWith('  linear-state'))).toMatch(/^ {2}linear-state +19\.3 MiB +19\.3 MiB +38\.5 MiB +\+0\.00%$/);
    expect(lines.find((l) => l.startsWith('    recurrent state'))).toMatch(/^ {4}recurrent state +18\.0 MiB +18\.0 MiB +\+0\.00%$/);
    expect(lines.find((l) => l.startsWith('  total'))).toMatch(/^ {2}total +457\.7 MiB +457\.7 MiB +458\.7 MiB +\+0\.00%$/);
  });
});
