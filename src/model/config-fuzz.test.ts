/**
 * Seeded fuzzing of config.json / generation_config.json against real tiny checkpoints: missing,
 * negative, huge, non-finite, mistyped and nested fields, layer counts and layer_types that do
 * not match the tensors, unknown model types. Each case runs loadConfig → planWeights →
 * planGpuWeights (no tensor data is read) and must either give a plan consistent with the
 * checkpoint or end in ConfigError naming the field / ModelFormatError naming the mismatch, with
 * a short message, within a time bound and with no unhandled rejection.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, ModelFormatError } from '../errors.js';
import { describeValue, expectPreciseError, hostileValue, outcome, pick, Raw, readJson, RecordingCheckpoint, toJson, utf8, type Files } from '../io/fuzz-cases.js';
import { MemoryCheckpointSource, MemorySink } from '../io/memory-checkpoint.js';
import { openTensorDirectory, type TensorDirectory } from '../io/tensor-directory.js';
import { planGpuWeights, resolveWeightFormats } from '../runtime/gpu-weight-plan.js';
import { loadConfig } from './config.js';
import { Random } from './random.js';
import { writeSyntheticCheckpoint } from './synthetic.js';
import { TINY_CONFIGS, type TinyKind } from './tiny.js';
import { planWeights } from './weight-plan.js';

const unhandled: unknown[] = [];
process.on('unhandledRejection', (reason) => unhandled.push(reason));
afterAll(() => expect(unhandled).toEqual([]));

const CASE_MS = 3000;

/** Keys a config may lack that the parser reads when present. */
const OPTIONAL_KEYS = ['full_attention_interval', 'mlp_only_layers', 'decoder_sparse_step', 'num_experts', 'intermediate_size', 'rope_scaling', 'rope_theta', 'partial_rotary_factor', 'norm_topk_prob'];
const MODEL_TYPES = ['qwen3_5', 'qwen3_5_text', 'qwen3_5_moe', 'qwen3_5_moe_text', 'qwen3_next', 'llama', 'qwen2_moe', '', 'QWEN3_5'];

/** A value near the real one: off by one, doubled, halved, zero, negated, another type name, a shuffled list. */
function plausible(rnd: Random, v: unknown): unknown {
  if (typeof v === 'number') return pick(rnd, [v + 1, v - 1, v * 2, Math.floor(v / 2), 0, -v, v + 0.5]);
  if (typeof v === 'boolean') return !v;
  if (typeof v === 'string') return pick(rnd, [...MODEL_TYPES, 'full_attention', 'gelu', v.toUpperCase()]);
  if (Array.isArray(v)) {
    const list = [...v];
    const op = rnd.int(4);
    if (op === 0) list.pop();
    else if (op === 1) list.push(list[0] ?? 1);
    else if (op === 2 && list.length > 1) [list[0], list[list.length - 1]] = [list[list.length - 1], list[0]];
    else list[rnd.int(Math.max(1, list.length))] = pick(rnd, ['linear_attention', 'full_attention', 'sliding_attention', 3]);
    return list;
  }
  return hostileValue(rnd);
}

interface Target {
  obj: Record<string, unknown>;
  path: string;
}

function targets(config: Record<string, unknown>): Target[] {
  const out: Target[] = [{ obj: config, path: '' }];
  for (const key of ['text_config', 'rope_parameters'] as const) {
    for (const t of [...out]) {
      const child = t.obj[key];
      if (typeof child === 'object' && child !== null && !Array.isArray(child) && !(child instanceof Raw)) out.push({ obj: child as Record<string, unknown>, path: `${t.path}${key}.` });
    }
  }
  return out;
}

/** Mutates config.json (or generation_config.json) in place 1–3 times; returns what was done, or raw text. */
function mutateConfig(rnd: Random, files: Files): string {
  if (rnd.next() < 0.08) {
    const text = new TextDecoder().decode(files.get('config.json'));
    const raw = pick(rnd, [
      () => text.replace(/"hidden_size": \d+/, '"hidden_size": NaN'),
      () => text.replace(/"vocab_size": \d+/, '"vocab_size": Infinity'),
      () => text.slice(0, rnd.int(text.length)),
      () => toJson(hostileValue(rnd)),
    ])();
    files.set('config.json', utf8(raw));
    return 'config.json text mangled';
  }
  if (rnd.next() < 0.1) {
    const v = rnd.next() < 0.5 ? hostileValue(rnd) : pick(rnd, [-1, 512, 2 ** 24, [507, 600], [[507]]]);
    files.set('generation_config.json', utf8(toJson(rnd.next() < 0.2 ? v : { eos_token_id: v })));
    return `generation_config eos_token_id ${describeValue(v)}`;
  }
  const config = readJson(files, 'config.json');
  const done: string[] = [];
  for (let n = 1 + rnd.int(3); n > 0; n--) {
    const all = targets(config);
    const t = all.length > 1 && rnd.next() < 0.7 ? all[1 + rnd.int(all.length - 1)]! : pick(rnd, all);
    const keys = Object.keys(t.obj);
    const key = keys.length > 0 && rnd.next() < 0.85 ? pick(rnd, keys) : pick(rnd, OPTIONAL_KEYS);
    const action = rnd.int(3);
    if (action === 0) {
      delete t.obj[key];
      done.push(`${t.path}${key} deleted`);
    } else {
      const v = action === 1 ? hostileValue(rnd) : plausible(rnd, t.obj[key]);
      t.obj[key] = v;
      done.push(`${t.path}${key} = ${describeValue(v)}`);
    }
  }
  files.set('config.json', utf8(toJson(config)));
  return done.join('; ');
}

async function checkpoint(kind: TinyKind): Promise<{ files: Files; dir: TensorDirectory }> {
  const sink = new MemorySink();
  await writeSyntheticCheckpoint(TINY_CONFIGS[kind], { seed: 4, maxShardBytes: 256 * 1024 }, (f, c) => sink.write(f, c));
  const files = sink.files();
  return { files, dir: await openTensorDirectory(new MemoryCheckpointSource(files)) };
}

describe('fuzz: config.json against the checkpoint', () => {
  it('2,000 mutated configs (dense, MoE, Qwen3-Next): a consistent plan or a precise ConfigError / ModelFormatError', async () => {
    const bases = await Promise.all((['dense', 'moe', 'next'] as const).map(checkpoint));
    const rnd = new Random(3_5);
    const counts = { cases: 0, config: 0, mismatch: 0, ok: 0, slowestMs: 0 };
    for (let i = 0; i < 2000; i++) {
      const base = pick(rnd, bases);
      const files: Files = new Map([...base.files].filter(([name]) => name.endsWith('.json') && !name.startsWith('model.')));
      const what = mutateConfig(rnd, files);
      const source = new RecordingCheckpoint(files);
      const { error, ms } = await outcome(async () => {
        const config = await loadConfig(source);
        planWeights(config, base.dir);
        const plan = planGpuWeights(config, resolveWeightFormats('q4'), 2 ** 30);
        expect(plan.matrices.length, what).toBeGreaterThan(0);
      });
      counts.cases++;
      counts.slowestMs = Math.max(counts.slowestMs, ms);
      if (error instanceof ModelFormatError) {
        counts.mismatch++;
        expectPreciseError(error, ModelFormatError, /checkpoint does not match config\.json|no embedding found/, `case ${i} (${what})`);
      } else if (error) {
        counts.config++;
        expectPreciseError(error, ConfigError, /(^|: )(generation_)?config\.json/, `case ${i} (${what})`);
      } else counts.ok++;
      expect(ms, `case ${i} (${what}): time`).toBeLessThan(CASE_MS);
      expect(source.stats.outside).toBe(0);
    }
    console.log(`config fuzz: ${JSON.stringify(counts)}`);
    expect(counts.config).toBeGreaterThan(1000);
    expect(counts.mismatch).toBeGreaterThan(50);
  });

  it('Raw values splice into JSON text as written', () => {
    expect(toJson({ a: new Raw('deep', '[[[]]]'), b: 1 })).toBe('{"a":[[[]]],"b":1}');
  });
});
