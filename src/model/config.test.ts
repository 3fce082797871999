/**
 * config.json parsing and the presets. Exact comparisons (no tolerance): parsing is a pure
 * mapping of integers/strings. Expected values come from the golden README and the architecture
 * doc §7, not from the parser.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { parseConfig, type Qwen35Config } from './config.js';
import { PRESETS, findPreset, hybridLayerTypes, toGenerationConfig, toHfConfig } from './presets.js';
import { goldenRoot } from './test-helpers.js';

const golden = goldenRoot();
const readJson = (path: string): unknown => JSON.parse(readFileSync(path, 'utf8'));

/** Parameter count of the text decoder (embedding + layers + head), from the §6 tensor shapes. */
function textParams(c: Qwen35Config): number {
  const h = c.hiddenSize;
  const keyDim = c.linearNumKeyHeads * c.linearKeyHeadDim;
  const valueDim = c.linearNumValueHeads * c.linearValueHeadDim;
  const conv = 2 * keyDim + valueDim;
  const gdn = conv * h + valueDim * h + 2 * c.linearNumValueHeads * h + conv * c.linearConvKernelDim + 2 * c.linearNumValueHeads + c.linearValueHeadDim + h * valueDim;
  const attn = 2 * c.numAttentionHeads * c.headDim * h + 2 * c.numKeyValueHeads * c.headDim * h + h * c.numAttentionHeads * c.headDim + 2 * c.headDim;
  const m = c.moe;
  const mlp = m ? m.numExperts * (h + 3 * m.moeIntermediateSize * h) + 3 * m.sharedExpertIntermediateSize * h + h : 3 * c.intermediateSize * h;
  let total = c.vocabSize * h * (c.tieWordEmbeddings ? 1 : 2) + h;
  for (let i = 0; i < c.numLayers; i++) total += 2 * h + (c.layerTypes[i] === 'full_attention' ? attn : gdn) + mlp;
  return total;
}

/** A valid flat qwen3_5_text config to mutate in the error tests. */
function baseText(): Record<string, unknown> {
  return {
    model_type: 'qwen3_5_text',
    hidden_size: 64,
    num_hidden_layers: 4,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    head_dim: 32,
    linear_num_key_heads: 2,
    linear_num_value_heads: 4,
    linear_key_head_dim: 16,
    linear_value_head_dim: 16,
    linear_conv_kernel_dim: 4,
    intermediate_size: 96,
    vocab_size: 300,
    max_position_embeddings: 1024,
    rope_theta: 10000,
    partial_rotary_factor: 0.5,
    eos_token_id: 7,
  };
}

function expectConfigError(fn: () => unknown, pattern: RegExp): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, 'expected a ConfigError').toBeInstanceOf(ConfigError);
  expect((err as Error).message).toMatch(pattern);
}

describe('parseConfig', () => {
  it.skipIf(!golden)('golden tiny-dense (qwen3_5, rope_parameters) and tiny-moe (qwen3_5_moe, legacy rope)', () => {
    const load = (m: string) =>
      parseConfig(readJson(join(golden!, 'models', m, 'config.json')), readJson(join(golden!, 'models', m, 'generation_config.json')));
    const dense = load('tiny-dense');
    const layerTypes = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => (i === 3 || i === 7 ? 'full_attention' : 'linear_attention'));
    expect(dense).toEqual({
      modelType: 'qwen3_5',
      hiddenSize: 64,
      numLayers: 8,
      layerTypes,
      mlpTypes: Array(8).fill('dense'),
      vocabSize: 320,
      rmsNormEps: 1e-6,
      tieWordEmbeddings: true,
      maxPositionEmbeddings: 4096,
      numAttentionHeads: 4,
      numKeyValueHeads: 2,
      headDim: 64,
      rotaryDim: 16,
      ropeTheta: 1e7,
      linearNumKeyHeads: 2,
      linearNumValueHeads: 4,
      linearKeyHeadDim: 16,
      linearValueHeadDim: 16,
      linearConvKernelDim: 4,
      intermediateSize: 96,
      eosTokenIds: [258, 256],
    });
    const moe = load('tiny-moe');
    expect(moe.modelType).toBe('qwen3_5_moe');
    expect(moe.tieWordEmbeddings).toBe(false);
    expect(moe.rotaryDim).toBe(16);
    expect(moe.ropeTheta).toBe(1e7);
    expect(moe.layerTypes).toEqual(layerTypes);
    expect(moe.mlpTypes).toEqual(Array(8).fill('moe'));
    expect(moe.intermediateSize).toBe(0);
    expect(moe.moe).toEqual({ numExperts: 8, numExpertsPerTok: 2, moeIntermediateSize: 32, sharedExpertIntermediateSize: 48, normTopkProb: true });
  });

  it('derives layer types from full_attention_interval when layer_types is absent (§1: (i+1) % n == 0)', () => {
    const c = parseConfig({ ...baseText(), num_hidden_layers: 8, full_attention_interval: 4 });
    expect(c.layerTypes.flatMap((t, i) => (t === 'full_attention' ? [i] : []))).toEqual([3, 7]);
    expect(parseConfig({ ...baseText(), num_hidden_layers: 6, full_attention_interval: 3 }).layerTypes.filter((t) => t === 'full_attention').length).toBe(2);
  });

  it('qwen3_next: MoE except mlp_only_layers and off decoder_sparse_step; norm_topk_prob honoured; eos lists united', () => {
    const c = parseConfig(
      { ...baseText(), model_type: 'qwen3_next', num_hidden_layers: 6, mlp_only_layers: [1], decoder_sparse_step: 2, num_experts: 4, num_experts_per_tok: 2, moe_intermediate_size: 8, shared_expert_intermediate_size: 12, norm_topk_prob: false, eos_token_id: [5, 7] },
      { eos_token_id: [7, 9] },
    );
    expect(c.mlpTypes).toEqual(['dense', 'dense', 'dense', 'moe', 'dense', 'moe']);
    expect(c.moe!.normTopkProb).toBe(false);
    expect(c.intermediateSize).toBe(96);
    expect(c.eosTokenIds).toEqual([7, 9, 5]);
    expect(c.rotaryDim).toBe(16);
  });

  it('rejects unknown or missing model types and architectures, naming the supported ones', () => {
    expectConfigError(() => parseConfig({ ...baseText(), model_type: 'llama' }), /unsupported model_type "llama"; supported: qwen3_5, qwen3_5_text, qwen3_5_moe/);
    expectConfigError(() => parseConfig({ hidden_size: 4 }), /model_type is missing; supported: qwen3_5/);
    expectConfigError(() => parseConfig({ ...baseText(), architectures: ['LlamaForCausalLM'] }), /architectures must be a list containing one of Qwen3_5ForCausalLM/);
    expectConfigError(() => parseConfig({ model_type: 'qwen3_5' }), /model_type "qwen3_5" needs a text_config/);
    expectConfigError(() => parseConfig([]), /must be a JSON object/);
  });

  it('rejects missing, negative, non-integer and huge fields, naming the field and value', () => {
    const { hidden_size: _h, ...noHidden } = baseText();
    expectConfigError(() => parseConfig(noHidden), /hidden_size is missing/);
    expectConfigError(() => parseConfig({ ...baseText(), hidden_size: -64 }), /hidden_size must be an integer in \[1, 65536\], found -64/);
    expectConfigError(() => parseConfig({ ...baseText(), hidden_size: 64.5 }), /hidden_size must be an integer .* found 64\.5/);
    expectConfigError(() => parseConfig({ ...baseText(), hidden_size: 1e9 }), /hidden_size must be an integer in \[1, 65536\], found 1000000000/);
    expectConfigError(() => parseConfig({ ...baseText(), hidden_size: '64' }), /hidden_size must be an integer .* found "64"/);
    expectConfigError(() => parseConfig({ ...baseText(), vocab_size: 2 ** 25 }), /vocab_size must be an integer in \[1, 16777216\]/);
    expectConfigError(() => parseConfig({ ...baseText(), num_hidden_layers: 5000 }), /num_hidden_layers must be an integer in \[1, 1024\]/);
    expectConfigError(() => parseConfig({ ...baseText(), max_position_embeddings: 2 ** 40 }), /max_position_embeddings must be/);
    const { intermediate_size: _i, ...noInter } = baseText();
    expectConfigError(() => parseConfig(noInter), /intermediate_size is missing/);
    expectConfigError(() => parseConfig({ ...baseText(), rms_norm_eps: 0 }), /rms_norm_eps must be a number in \(0, 1\), found 0/);
  });

  it('rejects inconsistent fields', () => {
    expectConfigError(() => parseConfig({ ...baseText(), num_key_value_heads: 3 }), /num_key_value_heads must be a divisor of num_attention_heads \(4\), found 3/);
    expectConfigError(() => parseConfig({ ...baseText(), linear_num_value_heads: 3 }), /linear_num_value_heads must be a multiple of linear_num_key_heads \(2\), found 3/);
    expectConfigError(() => parseConfig({ ...baseText(), layer_types: ['linear_attention', 'full_attention'] }), /layer_types must be a list of num_hidden_layers \(4\) entries, found "2 entries"/);
    expectConfigError(() => parseConfig({ ...baseText(), layer_types: ['a', 'b', 'c', 'd'] }), /layer_types must be a list of "linear_attention"/);
    expectConfigError(
      () => parseConfig({ ...baseText(), full_attention_interval: 4, layer_types: ['full_attention', 'linear_attention', 'linear_attention', 'full_attention'] }),
      /layer_types disagrees with full_attention_interval 4/,
    );
    expectConfigError(() => parseConfig({ ...baseText(), head_dim: 36, partial_rotary_factor: 0.25 }), /partial_rotary_factor must be a factor giving an even rotary dim ≥ 2 with head_dim 36, found "0.25 \(rotary dim 9\)"/);
    expectConfigError(() => parseConfig({ ...baseText(), partial_rotary_factor: 1.5 }), /partial_rotary_factor must be a number in \(0, 1\], found 1\.5/);
    expectConfigError(() => parseConfig({ ...baseText(), rope_scaling: { rope_type: 'yarn', factor: 4 } }), /rope_scaling\.rope_type must be one of default/);
    expectConfigError(() => parseConfig({ ...baseText(), rope_parameters: { rope_theta: 1e6, mrope_section: [3, 3, 3] } }), /mrope_section must be sections summing to rotary dim \/ 2 = 8/);
    expectConfigError(() => parseConfig({ ...baseText(), eos_token_id: 300 }), /eos_token_id must be an integer in \[0, 299\], found 300/);
    expectConfigError(() => parseConfig({ ...baseText(), hidden_act: 'gelu' }), /hidden_act must be "silu"/);
    expectConfigError(
      () => parseConfig({ ...baseText(), model_type: 'qwen3_5_moe_text', num_experts: 4, num_experts_per_tok: 5, moe_intermediate_size: 8, shared_expert_intermediate_size: 8 }),
      /num_experts_per_tok must be an integer in \[1, 4\], found 5/,
    );
    const mm = { model_type: 'qwen3_5', tie_word_embeddings: true, text_config: { ...baseText(), tie_word_embeddings: false } };
    expectConfigError(() => parseConfig(mm), /tie_word_embeddings is true but text_config\.tie_word_embeddings is false/);
  });
});

describe('presets', () => {
  it('every preset round-trips through its HF config.json + generation_config.json', () => {
    for (const [name, preset] of Object.entries(PRESETS)) {
      const hf = JSON.parse(JSON.stringify(toHfConfig(preset)));
      expect(parseConfig(hf, toGenerationConfig(preset)), name).toEqual(preset);
    }
  });

  it('a text-only (qwen3_5_text) config round-trips too', () => {
    const text = { ...PRESETS['0.8B']!, modelType: 'qwen3_5_text' as const };
    const hf = toHfConfig(text);
    expect(hf.model_type).toBe('qwen3_5_text');
    expect(hf.text_config).toBeUndefined();
    expect(parseConfig(hf, toGenerationConfig(text))).toEqual(text);
  });

  it('match §7 and the sizes in their names (text decoder within 10% of the nominal count)', () => {
    // Nominal sizes include the vision tower (≈0.1–0.5B) and MTP; the text decoder is the bulk.
    const nominal: Record<string, [number, number?]> = {
      '0.8B': [0.8e9],
      '2B': [2e9],
      '4B': [4e9],
      '9B': [9e9],
      '27B': [27e9],
      '35B-A3B': [35e9],
      '122B-A10B': [122e9],
      '397B-A17B': [397e9],
      'Next-80B-A3B': [80e9],
    };
    for (const [name, [n]] of Object.entries(nominal)) {
      const p = findPreset(name)!;
      const ratio = textParams(p) / n;
      expect(ratio, `${name}: ${(textParams(p) / 1e9).toFixed(2)}B`).toBeGreaterThan(0.9);
      expect(ratio, name).toBeLessThan(1.1);
    }
    const p = PRESETS['0.8B']!;
    expect([p.hiddenSize, p.numLayers, p.intermediateSize, p.numAttentionHeads, p.numKeyValueHeads, p.linearNumValueHeads, p.tieWordEmbeddings]).toEqual([1024, 24, 3584, 8, 2, 16, true]);
    expect(p.layerTypes).toEqual(hybridLayerTypes(24));
    expect(p.layerTypes[3]).toBe('full_attention');
    expect(findPreset('Qwen3.5-27B')).toBe(PRESETS['27B']);
    expect(findPreset('Qwen3-Next-80B-A3B')!.modelType).toBe('qwen3_next');
    expect(findPreset('nope')).toBeUndefined();
  });
});
