/**
 * The normalised model configuration every part of the runtime reads (architecture §1, §7).
 * Parsed from a Hugging Face config.json (qwen3_5, qwen3_5_text, qwen3_5_moe, qwen3_next) or
 * taken from a preset.
 */

export type LayerType = 'linear_attention' | 'full_attention';
export type MlpType = 'dense' | 'moe';
export type ModelType = 'qwen3_5' | 'qwen3_5_text' | 'qwen3_5_moe' | 'qwen3_next';

export interface MoeConfig {
  numExperts: number;
  numExpertsPerTok: number;
  moeIntermediateSize: number;
  sharedExpertIntermediateSize: number;
  /** Renormalise the top-k weights (always true for Qwen3.5-MoE; a config field for Qwen3-Next). */
  normTopkProb: boolean;
}

export interface Qwen35Config {
  modelType: ModelType;
  hiddenSize: number;
  numLayers: number;
  /** Per layer: GDN ("linear_attention") or gated attention ("full_attention"). */
  layerTypes: LayerType[];
  /** Per layer: dense SwiGLU or sparse MoE + shared expert. */
  mlpTypes: MlpType[];
  vocabSize: number;
  rmsNormEps: number;
  tieWordEmbeddings: boolean;
  maxPositionEmbeddings: number;

  // Full (gated) attention, §3.
  numAttentionHeads: number;
  numKeyValueHeads: number;
  headDim: number;
  /** int(headDim · partial_rotary_factor). */
  rotaryDim: number;
  ropeTheta: number;

  // Gated DeltaNet, §4.
  linearNumKeyHeads: number;
  linearNumValueHeads: number;
  linearKeyHeadDim: number;
  linearValueHeadDim: number;
  linearConvKernelDim: number;

  /** Dense SwiGLU width (0 when every layer is MoE). */
  intermediateSize: number;
  moe?: MoeConfig;

  /** End-of-sequence ids from config/generation_config (generation stops on any of them). */
  eosTokenIds: number[];
}
