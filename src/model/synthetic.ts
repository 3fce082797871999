/**
 * Random checkpoints in the real Hugging Face layout (§6) for any Qwen35Config: config.json,
 * generation_config.json, tokenizer files, BF16 shards (F32 for `linear_attn.A_log` and
 * `linear_attn.norm.weight`, as published) and the shard index. Every tensor has its own seeded
 * stream, so the output is byte-identical for a seed and tensors are produced chunk by chunk
 * (a multi-GB checkpoint is never in memory).
 *
 * Initialisation (keeps activations O(1) through any depth, so logits are finite and varied):
 *   matrices ~ N(0, 1/in) (approximate normal: a triangular variate, one 32-bit draw per value),
 *   (1+w) norm weights ~ N(0, 0.1²), linear_attn.norm ~ 1 + N(0, 0.1²), conv1d ~ N(0, 1/K),
 *   A_log = log U(1, 16), dt_bias = softplus⁻¹(dt) with log dt ~ U(log 1e-3, log 1e-1) (Mamba init).
 */
import type { Dtype } from '../io/safetensors.js';
import { writeShardedCheckpoint, type TensorSpec } from '../io/safetensors-writer.js';
import type { Qwen35Config } from './config.js';
import { toGenerationConfig, toHfConfig } from './presets.js';
import { buildTokenizer, DEFAULT_MERGES, QWEN35_SPECIAL_IDS, QWEN3_SPECIAL_IDS, type GeneratedTokenizer } from './tokenizer-gen.js';

export type Init = { kind: 'normal'; mean: number; std: number } | { kind: 'aLog' } | { kind: 'dtBias' };

export interface SyntheticTensor extends TensorSpec {
  init: Init;
}

const normal = (std: number, mean = 0): Init => ({ kind: 'normal', mean, std });

/** Decoder tensor prefix: multimodal checkpoints nest the language model (§6). */
export const tensorPrefix = (c: Qwen35Config): string =>
  c.modelType === 'qwen3_5' || c.modelType === 'qwen3_5_moe' ? 'model.language_model.' : 'model.';

/** Every tensor of a checkpoint for `c` with its HF name, shape and dtype (§4.1, §4.5, §5, §6). */
export function checkpointTensors(c: Qwen35Config): SyntheticTensor[] {
  const h = c.hiddenSize;
  const p = tensorPrefix(c);
  const out: SyntheticTensor[] = [];
  const add = (name: string, shape: number[], init: Init, dtype: Dtype = 'BF16') => out.push({ name, shape, dtype, init });
  const matrix = (name: string, rows: number, cols: number, lead: number[] = []) => add(name, [...lead, rows, cols], normal(1 / Math.sqrt(cols)));
  const mlp = (mp: string, inter: number) => {
    matrix(`${mp}gate_proj.weight`, inter, h);
    matrix(`${mp}up_proj.weight`, inter, h);
    matrix(`${mp}down_proj.weight`, h, inter);
  };
  if (!c.tieWordEmbeddings) matrix('lm_head.weight', c.vocabSize, h);
  matrix(`${p}embed_tokens.weight`, c.vocabSize, h);
  const { linearNumKeyHeads: Hk, linearNumValueHeads: Hv, linearKeyHeadDim: dk, linearValueHeadDim: dv, linearConvKernelDim: K } = c;
  const conv = 2 * Hk * dk + Hv * dv;
  for (let i = 0; i < c.numLayers; i++) {
    const lp = `${p}layers.${i}.`;
    add(`${lp}input_layernorm.weight`, [h], normal(0.1));
    add(`${lp}post_attention_layernorm.weight`, [h], normal(0.1));
    if (c.layerTypes[i] === 'full_attention') {
      const { numAttentionHeads: H, numKeyValueHeads: Hkv, headDim: d } = c;
      matrix(`${lp}self_attn.q_proj.weight`, 2 * H * d, h);
      matrix(`${lp}self_attn.k_proj.weight`, Hkv * d, h);
      matrix(`${lp}self_attn.v_proj.weight`, Hkv * d, h);
      matrix(`${lp}self_attn.o_proj.weight`, h, H * d);
      add(`${lp}self_attn.q_norm.weight`, [d], normal(0.1));
      add(`${lp}self_attn.k_norm.weight`, [d], normal(0.1));
    } else {
      const g = `${lp}linear_attn.`;
      if (c.modelType === 'qwen3_next') {
        matrix(`${g}in_proj_qkvz.weight`, conv + Hv * dv, h);
        matrix(`${g}in_proj_ba.weight`, 2 * Hv, h);
      } else {
        matrix(`${g}in_proj_qkv.weight`, conv, h);
        matrix(`${g}in_proj_z.weight`, Hv * dv, h);
        matrix(`${g}in_proj_b.weight`, Hv, h);
        matrix(`${g}in_proj_a.weight`, Hv, h);
      }
      add(`${g}conv1d.weight`, [conv, 1, K], normal(1 / Math.sqrt(K)));
      add(`${g}A_log`, [Hv], { kind: 'aLog' }, 'F32');
      add(`${g}dt_bias`, [Hv], { kind: 'dtBias' });
      add(`${g}norm.weight`, [dv], normal(0.1, 1), 'F32');
      matrix(`${g}out_proj.weight`, h, Hv * dv);
    }
    const m = `${lp}mlp.`;
    if (c.mlpTypes[i] === 'dense') {
      mlp(m, c.intermediateSize);
      continue;
    }
    const { numExperts: E, moeIntermediateSize: I, sharedExpertIntermediateSize: Ish } = c.moe!;
    matrix(`${m}gate.weight`, E, h);
    if (c.modelType === 'qwen3_next') {
      for (let e = 0; e < E; e++) mlp(`${m}experts.${e}.`, I);
    } else {
      matrix(`${m}experts.gate_up_proj`, 2 * I, h, [E]);
      matrix(`${m}experts.down_proj`, h, I, [E]);
    }
    mlp(`${m}shared_expert.`, Ish);
    matrix(`${m}shared_expert_gate.weight`, 1, h);
  }
  add(`${p}norm.weight`, [h], normal(0.1));
  return out;
}

/** FNV-1a of the name mixed with the seed: each tensor's own random stream. */
function tensorSeed(seed: number, name: string): number {
  let x = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < name.length; i++) x = Math.imul(x ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return x;
}

const SQRT6 = Math.sqrt(6);
const LOG_DT_MIN = Math.log(1e-3);
const LOG_DT_MAX = Math.log(1e-1);

/** Fills `out[0..n)` with mulberry32 draws (as uint32) continuing from `state`; returns the new state. */
function randomU32(out: Uint32Array, n: number, state: number): number {
  let s = state | 0;
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) | 0;
    let z = Math.imul(s ^ (s >>> 15), s | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    out[i] = z ^ (z >>> 14);
  }
  return s;
}

/** The tensor's bytes, in chunks of at most `chunkValues` values. Deterministic for (seed, name). */
export function* tensorChunks(t: SyntheticTensor, seed: number, chunkValues = 1 << 22): Generator<Uint8Array> {
  const total = t.shape.reduce((a, b) => a * b, 1);
  let state = tensorSeed(seed, t.name);
  const size = Math.min(chunkValues, Math.max(total, 1));
  const draws = new Uint32Array(size);
  const values = new Float32Array(size);
  const init = t.init;
  for (let start = 0; start < total; start += size) {
    const n = Math.min(size, total - start);
    state = randomU32(draws, n, state);
    if (init.kind === 'normal') {
      // Triangular variate from the two 16-bit halves of one draw: mean 0, variance 1.
      const a = init.std * SQRT6;
      const b = init.mean - a;
      for (let i = 0; i < n; i++) values[i] = b + a * (((draws[i]! & 0xffff) + (draws[i]! >>> 16)) / 65536);
    } else if (init.kind === 'aLog') {
      for (let i = 0; i < n; i++) values[i] = Math.log(1 + (15 * draws[i]!) / 4294967296);
    } else {
      for (let i = 0; i < n; i++) {
        const dt = Math.exp(LOG_DT_MIN + (draws[i]! / 4294967296) * (LOG_DT_MAX - LOG_DT_MIN));
        values[i] = dt + Math.log(-Math.expm1(-dt));
      }
    }
    yield t.dtype === 'F32' ? new Uint8Array(values.buffer.slice(0, n * 4)) : bf16Chunk(values, n);
  }
}

/** Round-to-nearest-even f32 → bf16 of the first n values (no NaNs occur here). */
function bf16Chunk(values: Float32Array, n: number): Uint8Array {
  const bits = new Uint32Array(values.buffer, 0, n);
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i++) {
    const x = bits[i]!;
    out[i] = (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
  }
  return new Uint8Array(out.buffer);
}

export interface SyntheticOptions {
  seed: number;
  /** Largest shard (data bytes); real checkpoints use a few GB. */
  maxShardBytes: number;
  /** BPE merges of the generated tokenizer. */
  merges?: number;
}

/**
 * The tokenizer a config gets: specials at the Qwen3.5 ids (§8) or Qwen3 ids (Qwen3-Next) when the
 * vocabulary is that large, else right after the merges.
 */
export function tokenizerFor(c: Qwen35Config, merges = DEFAULT_MERGES): GeneratedTokenizer {
  const ids = [QWEN35_SPECIAL_IDS, QWEN3_SPECIAL_IDS].find((list) => c.vocabSize > Math.max(...list));
  const tok = buildTokenizer(merges, ids);
  if (tok.size > c.vocabSize) throw new RangeError(`tokenizer needs ${tok.size} ids but vocab_size is ${c.vocabSize}`);
  return tok;
}

const json = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v, null, 2) + '\n');

/** Writes a whole checkpoint for `c` through `write(file, chunk)` (files written one after another). */
export async function writeSyntheticCheckpoint(c: Qwen35Config, opts: SyntheticOptions, write: (file: string, chunk: Uint8Array) => Promise<void>): Promise<void> {
  const tok = tokenizerFor(c, opts.merges);
  await write('config.json', json(toHfConfig(c)));
  await write('generation_config.json', json(toGenerationConfig(c)));
  await write('tokenizer.json', json(tok.tokenizerJson));
  await write('tokenizer_config.json', json(tok.tokenizerConfig));
  const tensors = checkpointTensors(c);
  const byName = new Map(tensors.map((t) => [t.name, t]));
  await writeShardedCheckpoint(tensors, (spec) => tensorChunks(byName.get(spec.name)!, opts.seed), {
    maxShardBytes: opts.maxShardBytes,
    metadata: { format: 'pt' },
    write,
  });
}
