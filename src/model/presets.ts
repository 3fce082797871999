/**
 * Configurations of every released size (architecture §7), and the inverse of parseConfig:
 * the Hugging Face config.json / generation_config.json objects for a Qwen35Config, so presets
 * and generated checkpoints round-trip through parseConfig.
 */
import { InvalidArgumentError } from '../errors.js';
import type { LayerType, MlpType, ModelType, MoeConfig, Qwen35Config } from './config.js';

/** §1: full attention at (i+1) % 4 == 0. */
export const hybridLayerTypes = (numLayers: number, interval = 4): LayerType[] =>
  Array.from({ length: numLayers }, (_, i) => ((i + 1) % interval === 0 ? 'full_attention' : 'linear_attention'));

interface PresetSpec {
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  valueHeads: number;
  tied: boolean;
  intermediate?: number;
  moe?: Omit<MoeConfig, 'normTopkProb'>;
}

/** §7 "values shared by every Qwen3.5 size" and §8 eos ids. */
function qwen35(spec: PresetSpec): Qwen35Config {
  const modelType: ModelType = spec.moe ? 'qwen3_5_moe' : 'qwen3_5';
  return {
    modelType,
    hiddenSize: spec.hidden,
    numLayers: spec.layers,
    layerTypes: hybridLayerTypes(spec.layers),
    mlpTypes: Array.from({ length: spec.layers }, (): MlpType => (spec.moe ? 'moe' : 'dense')),
    vocabSize: 248320,
    rmsNormEps: 1e-6,
    tieWordEmbeddings: spec.tied,
    maxPositionEmbeddings: 262144,
    numAttentionHeads: spec.heads,
    numKeyValueHeads: spec.kvHeads,
    headDim: 256,
    rotaryDim: 64,
    ropeTheta: 1e7,
    linearNumKeyHeads: 16,
    linearNumValueHeads: spec.valueHeads,
    linearKeyHeadDim: 128,
    linearValueHeadDim: 128,
    linearConvKernelDim: 4,
    intermediateSize: spec.intermediate ?? 0,
    ...(spec.moe ? { moe: { ...spec.moe, normTopkProb: true } } : {}),
    eosTokenIds: [248046, 248044],
  };
}

const moe = (numExperts: number, numExpertsPerTok: number, inter: number, shared: number) => ({
  numExperts,
  numExpertsPerTok,
  moeIntermediateSize: inter,
  sharedExpertIntermediateSize: shared,
});

/** Every released size by short name (`--preset 0.8B`). */
export const PRESETS: Readonly<Record<string, Qwen35Config>> = {
  '0.8B': qwen35({ hidden: 1024, layers: 24, intermediate: 3584, heads: 8, kvHeads: 2, valueHeads: 16, tied: true }),
  '2B': qwen35({ hidden: 2048, layers: 24, intermediate: 6144, heads: 8, kvHeads: 2, valueHeads: 16, tied: true }),
  '4B': qwen35({ hidden: 2560, layers: 32, intermediate: 9216, heads: 16, kvHeads: 4, valueHeads: 32, tied: true }),
  '9B': qwen35({ hidden: 4096, layers: 32, intermediate: 12288, heads: 16, kvHeads: 4, valueHeads: 32, tied: false }),
  '27B': qwen35({ hidden: 5120, layers: 64, intermediate: 17408, heads: 24, kvHeads: 4, valueHeads: 48, tied: false }),
  '35B-A3B': qwen35({ hidden: 2048, layers: 40, heads: 16, kvHeads: 2, valueHeads: 32, tied: false, moe: moe(256, 8, 512, 512) }),
  '122B-A10B': qwen35({ hidden: 3072, layers: 48, heads: 32, kvHeads: 2, valueHeads: 64, tied: false, moe: moe(256, 8, 1024, 1024) }),
  '397B-A17B': qwen35({ hidden: 4096, layers: 60, heads: 32, kvHeads: 2, valueHeads: 64, tied: false, moe: moe(512, 10, 1024, 1024) }),
  // §7 Qwen3-Next: Qwen3 vocabulary and eos ids (<|im_end|> 151645, <|endoftext|> 151643).
  'Next-80B-A3B': {
    ...qwen35({ hidden: 2048, layers: 48, heads: 16, kvHeads: 2, valueHeads: 32, tied: false, moe: moe(512, 10, 512, 512) }),
    modelType: 'qwen3_next',
    vocabSize: 151936,
    eosTokenIds: [151645, 151643],
  },
};

/** Looks a preset up by short name or full name ("Qwen3.5-0.8B", "Qwen3-Next-80B-A3B"). */
export function findPreset(name: string): Qwen35Config | undefined {
  const short = name.replace(/^Qwen3\.5-/i, '').replace(/^Qwen3-Next-/i, 'Next-');
  const key = Object.keys(PRESETS).find((k) => k.toLowerCase() === short.toLowerCase());
  return key === undefined ? undefined : PRESETS[key];
}

const ARCHITECTURE: Record<ModelType, string> = {
  qwen3_5: 'Qwen3_5ForConditionalGeneration',
  qwen3_5_text: 'Qwen3_5ForCausalLM',
  qwen3_5_moe: 'Qwen3_5MoeForConditionalGeneration',
  qwen3_next: 'Qwen3NextForCausalLM',
};

/** mRoPE sections over rotaryDim/2 frequencies, split 3 ways like [11, 11, 10] (§3; a no-op for text). */
export function mropeSection(rotaryDim: number): number[] {
  const half = rotaryDim / 2;
  const base = Math.floor(half / 3);
  return [0, 1, 2].map((i) => base + (i < half % 3 ? 1 : 0));
}

/** The Hugging Face config.json object describing `c` (multimodal wrapper for qwen3_5 / qwen3_5_moe). */
export function toHfConfig(c: Qwen35Config): Record<string, unknown> {
  const allMoe = c.mlpTypes.every((t) => t === 'moe');
  const allDense = c.mlpTypes.every((t) => t === 'dense');
  if ((c.modelType === 'qwen3_5_moe' && !allMoe) || ((c.modelType === 'qwen3_5' || c.modelType === 'qwen3_5_text') && !allDense)) {
    throw new InvalidArgumentError(`${c.modelType}: every layer must be ${c.modelType === 'qwen3_5_moe' ? 'MoE' : 'dense'} (§1)`);
  }
  const rope = { rope_type: 'default', rope_theta: c.ropeTheta, partial_rotary_factor: c.rotaryDim / c.headDim };
  const text: Record<string, unknown> = {
    hidden_size: c.hiddenSize,
    num_hidden_layers: c.numLayers,
    num_attention_heads: c.numAttentionHeads,
    num_key_value_heads: c.numKeyValueHeads,
    head_dim: c.headDim,
    linear_num_key_heads: c.linearNumKeyHeads,
    linear_num_value_heads: c.linearNumValueHeads,
    linear_key_head_dim: c.linearKeyHeadDim,
    linear_value_head_dim: c.linearValueHeadDim,
    linear_conv_kernel_dim: c.linearConvKernelDim,
    layer_types: c.layerTypes,
    rms_norm_eps: c.rmsNormEps,
    vocab_size: c.vocabSize,
    max_position_embeddings: c.maxPositionEmbeddings,
    hidden_act: 'silu',
    attention_bias: false,
    tie_word_embeddings: c.tieWordEmbeddings,
    ...(c.intermediateSize > 0 ? { intermediate_size: c.intermediateSize } : {}),
    ...(c.eosTokenIds.length ? { eos_token_id: c.eosTokenIds[c.eosTokenIds.length - 1] } : {}),
    dtype: 'bfloat16',
  };
  if (c.moe) {
    Object.assign(text, {
      num_experts: c.moe.numExperts,
      num_experts_per_tok: c.moe.numExpertsPerTok,
      moe_intermediate_size: c.moe.moeIntermediateSize,
      shared_expert_intermediate_size: c.moe.sharedExpertIntermediateSize,
    });
  }
  if (c.modelType === 'qwen3_next') {
    // Legacy flat layout: rope_theta / partial_rotary_factor at top level, dense layers in mlp_only_layers.
    const mlpOnly = c.mlpTypes.flatMap((t, i) => (t === 'dense' ? [i] : []));
    return {
      architectures: [ARCHITECTURE.qwen3_next],
      model_type: 'qwen3_next',
      ...text,
      rope_theta: c.ropeTheta,
      partial_rotary_factor: rope.partial_rotary_factor,
      decoder_sparse_step: 1,
      mlp_only_layers: mlpOnly,
      norm_topk_prob: c.moe?.normTopkProb ?? true,
    };
  }
  const withRope = { ...text, attn_output_gate: true, rope_parameters: { ...rope, mrope_section: mropeSection(c.rotaryDim), mrope_interleaved: true } };
  if (c.modelType === 'qwen3_5_text') return { architectures: [ARCHITECTURE.qwen3_5_text], model_type: 'qwen3_5_text', ...withRope };
  return {
    architectures: [ARCHITECTURE[c.modelType]],
    model_type: c.modelType,
    text_config: { model_type: `${c.modelType}_text`, ...withRope },
    tie_word_embeddings: c.tieWordEmbeddings,
  };
}

/** generation_config.json: every eos id (§8: stop on all of them). */
export function toGenerationConfig(c: Qwen35Config): Record<string, unknown> {
  return { eos_token_id: c.eosTokenIds, do_sample: false };
}
