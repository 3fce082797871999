/**
 * Generated checkpoints and their tokenizer. Exact checks (bytes, ids, strings): generation is
 * deterministic integer/bit work. Logits are only required to be finite and non-constant (their
 * correctness is reference.test.ts's job).
 */
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Template } from '@huggingface/jinja';
import { Tokenizer } from '@huggingface/tokenizers';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryCheckpointSource, MemorySink } from '../io/memory-checkpoint.js';
import { FsCheckpointSource } from '../io/sources/fs.js';
import { openTensorDirectory } from '../io/tensor-directory.js';
import { loadConfig } from './config.js';
import { PRESETS } from './presets.js';
import { loadReferenceModel } from './reference.js';
import { checkpointTensors, tensorChunks, writeSyntheticCheckpoint } from './synthetic.js';
import { MODELS_DIR, TINY_CONFIGS, ensureDefaultModel, generateCheckpoint, type TinyKind } from './tiny.js';
import { planWeights } from './weight-plan.js';

async function inMemory(kind: TinyKind, seed: number): Promise<Map<string, Uint8Array>> {
  const sink = new MemorySink();
  await writeSyntheticCheckpoint(TINY_CONFIGS[kind], { seed, maxShardBytes: 256 * 1024 }, (f, c) => sink.write(f, c));
  return sink.files();
}

const text = (files: Map<string, Uint8Array>, name: string): string => new TextDecoder().decode(files.get(name));

const temps: string[] = [];
afterAll(async () => {
  for (const d of temps) await rm(d, { recursive: true, force: true });
});

describe('generated checkpoints', () => {
  it('are deterministic: the same seed gives identical bytes, another seed other weights', async () => {
    const a = await inMemory('moe', 5);
    const b = await inMemory('moe', 5);
    const c = await inMemory('moe', 6);
    expect([...a.keys()]).toEqual([...b.keys()]);
    for (const [name, bytes] of a) expect(Buffer.compare(bytes, b.get(name)!), name).toBe(0);
    expect(text(c, 'config.json')).toBe(text(a, 'config.json'));
    const shard = [...a.keys()].find((n) => n.endsWith('.safetensors'))!;
    expect(Buffer.compare(a.get(shard)!, c.get(shard)!)).not.toBe(0);
  });

  it('tensor bytes do not depend on the chunk size used to stream them', () => {
    const t = checkpointTensors(TINY_CONFIGS.dense).find((x) => x.name.endsWith('in_proj_qkv.weight'))!;
    const join = (chunks: Iterable<Uint8Array>) => Buffer.concat([...chunks]);
    expect(Buffer.compare(join(tensorChunks(t, 1, 1000)), join(tensorChunks(t, 1)))).toBe(0);
  });

  it('use the real HF layout: multimodal config, several shards, BF16 with F32 A_log and linear_attn.norm', async () => {
    const files = await inMemory('dense', 0);
    const hf = JSON.parse(text(files, 'config.json'));
    expect(hf.model_type).toBe('qwen3_5');
    expect(hf.architectures).toEqual(['Qwen3_5ForConditionalGeneration']);
    expect(hf.text_config.layer_types[3]).toBe('full_attention');
    expect(hf.text_config.rope_parameters).toMatchObject({ rope_theta: 1e7, partial_rotary_factor: 0.25, mrope_section: [2, 1, 1] });
    expect(JSON.parse(text(files, 'generation_config.json')).eos_token_id).toEqual(TINY_CONFIGS.dense.eosTokenIds);
    const dir = await openTensorDirectory(new MemoryCheckpointSource(files));
    expect(dir.files.size).toBeGreaterThan(2);
    for (const [name, { info }] of dir.tensors) {
      const f32 = name.endsWith('linear_attn.A_log') || name.endsWith('linear_attn.norm.weight');
      expect(info.dtype, name).toBe(f32 ? 'F32' : 'BF16');
    }
  });

  for (const kind of ['dense', 'moe', 'next'] as const) {
    it(`${kind}: loads through the safetensors reader, planWeights and the reference; logits finite and varied`, async () => {
      const source = new MemoryCheckpointSource(await inMemory(kind, 0));
      const config = await loadConfig(source);
      expect(config).toEqual(TINY_CONFIGS[kind]);
      expect(planWeights(config, await openTensorDirectory(source)).lmHead === undefined).toBe(config.tieWordEmbeddings);
      const model = await loadReferenceModel(source);
      const logits = model.prefill([72, 101, 108, 108, 111]);
      expect(logits.length).toBe(config.vocabSize);
      expect(logits.every(Number.isFinite)).toBe(true);
      const spread = Math.max(...logits) - Math.min(...logits);
      expect(spread).toBeGreaterThan(1); // logits have std ≈ 1 by construction (see synthetic.ts)
      expect(spread).toBeLessThan(100);
    });
  }

  it('full-size presets list every tensor at 2 bytes per parameter (0.8B: ~1.5 GB of bf16)', () => {
    const bytes = checkpointTensors(PRESETS['0.8B']!).reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1) * (t.dtype === 'F32' ? 4 : 2), 0);
    expect(bytes / 1e9).toBeGreaterThan(1.4);
    expect(bytes / 1e9).toBeLessThan(1.6);
    const next = checkpointTensors(PRESETS['Next-80B-A3B']!);
    expect(next.some((t) => t.name === 'model.layers.0.linear_attn.in_proj_qkvz.weight')).toBe(true);
    expect(next.some((t) => t.name === 'model.layers.0.mlp.experts.511.down_proj.weight')).toBe(true);
  });
});

describe('generated tokenizer', () => {
  it('loads in @huggingface/tokenizers: round trip, single-id specials matching the config eos ids', async () => {
    const files = await inMemory('dense', 0);
    const tok = new Tokenizer(JSON.parse(text(files, 'tokenizer.json')), JSON.parse(text(files, 'tokenizer_config.json')));
    for (const s of ['Hello world, the quick brown fox!', 'héllo 日本語 🙂 123\n\ttabs', "don't STOP"]) {
      const ids = tok.encode(s, { add_special_tokens: false }).ids;
      expect(tok.decode(ids, { skip_special_tokens: false })).toBe(s);
      expect(ids.every((id) => id < TINY_CONFIGS.dense.vocabSize)).toBe(true);
    }
    expect(tok.encode('the weather', { add_special_tokens: false }).ids.length).toBeLessThan('the weather'.length); // merges apply
    const single = (s: string) => tok.encode(s, { add_special_tokens: false }).ids;
    const [imEnd, endOfText] = TINY_CONFIGS.dense.eosTokenIds;
    expect(single('<|im_end|>')).toEqual([imEnd]);
    expect(single('<|endoftext|>')).toEqual([endOfText]);
    expect(single('<|im_start|>')).toHaveLength(1);
    expect(single('<think>')).toHaveLength(1);
    expect(single('</think>')).toHaveLength(1);
  });

  it('has a ChatML template with enable_thinking (§8)', async () => {
    const files = await inMemory('dense', 0);
    const template = new Template(JSON.parse(text(files, 'tokenizer_config.json')).chat_template);
    const messages = [{ role: 'user', content: 'Hi' }];
    expect(template.render({ messages, add_generation_prompt: true })).toBe('<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n');
    expect(template.render({ messages, add_generation_prompt: true, enable_thinking: false })).toBe(
      '<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n',
    );
  });
});

describe('writing to a folder', () => {
  it('generateCheckpoint writes atomically, keeps an existing checkpoint unless forced', async () => {
    const root = await mkdtemp(join(tmpdir(), 'qwen35-tiny-'));
    temps.push(root);
    const dir = join(root, 'tiny-next');
    expect(await generateCheckpoint(TINY_CONFIGS.next, dir)).toBe(true);
    expect(await generateCheckpoint(TINY_CONFIGS.next, dir, { seed: 9 })).toBe(false);
    expect((await readdir(root)).filter((n) => n.startsWith('.'))).toEqual([]); // no temporary folder left
    const shard = join(dir, (await readdir(dir)).find((n) => n.endsWith('.safetensors'))!);
    const before = await readFile(shard);
    expect(await generateCheckpoint(TINY_CONFIGS.next, dir, { seed: 9, force: true })).toBe(true);
    expect(Buffer.compare(before, await readFile(shard))).not.toBe(0);
    const model = await loadReferenceModel(new FsCheckpointSource(dir));
    expect(model.prefill([1, 2, 3]).every(Number.isFinite)).toBe(true);
  });

  it('ensureDefaultModel creates models/tiny-dense once, also under concurrent calls', async () => {
    const temporaries = async () => (await readdir(MODELS_DIR).catch(() => [])).filter((n) => n.startsWith('.tiny-dense.tmp-'));
    const before = await temporaries();
    const [a, b] = await Promise.all([ensureDefaultModel(), ensureDefaultModel()]);
    expect(a).toBe(join(MODELS_DIR, 'tiny-dense'));
    expect(b).toBe(a);
    expect(await loadConfig(new FsCheckpointSource(a))).toEqual(TINY_CONFIGS.dense);
    expect(await temporaries()).toEqual(before); // none of ours left behind
  });
});
