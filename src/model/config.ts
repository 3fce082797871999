/**
 * The normalised model configuration every part of the runtime reads (architecture §1, §7).
 * Parsed from a Hugging Face config.json (qwen3_5, qwen3_5_text, qwen3_5_moe, qwen3_next) or
 * taken from a preset.
 */
import { ConfigError } from '../errors.js';
import { quoteName } from '../io/show-value.js';
import type { CheckpointSource } from '../io/source.js';
import { FieldReader, isObject } from './config-fields.js';

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

/** Size limits: a hostile or mistyped config.json can never make the runtime allocate absurd sizes. */
export const CONFIG_LIMITS = {
  hiddenSize: { min: 1, max: 65536 },
  numLayers: { min: 1, max: 1024 },
  vocabSize: { min: 1, max: 2 ** 24 },
  heads: { min: 1, max: 1024 },
  headDim: { min: 1, max: 4096 },
  convKernel: { min: 1, max: 64 },
  intermediate: { min: 1, max: 2 ** 20 },
  experts: { min: 1, max: 4096 },
  positions: { min: 1, max: 2 ** 24 },
} as const;

/** model_type → the architectures (config.json `architectures`) accepted with it. */
export const SUPPORTED_MODEL_TYPES: Readonly<Record<string, readonly string[]>> = {
  qwen3_5: ['Qwen3_5ForConditionalGeneration', 'Qwen3_5ForCausalLM'],
  qwen3_5_text: ['Qwen3_5ForCausalLM'],
  qwen3_5_moe: ['Qwen3_5MoeForConditionalGeneration', 'Qwen3_5MoeForCausalLM'],
  qwen3_5_moe_text: ['Qwen3_5MoeForCausalLM'],
  qwen3_next: ['Qwen3NextForCausalLM'],
};

const ROPE_TYPES = ['default'];

/**
 * Parses a Hugging Face config.json (and optionally generation_config.json) into a Qwen35Config.
 * Multimodal configs (qwen3_5, qwen3_5_moe) read the decoder from `text_config`.
 */
export function parseConfig(json: unknown, generationConfig?: unknown): Qwen35Config {
  if (!isObject(json)) throw new ConfigError(`config.json must be a JSON object, found ${json === null ? 'null' : typeof json}`);
  const top = new FieldReader(json, 'config.json: ');
  const supported = Object.keys(SUPPORTED_MODEL_TYPES).join(', ');
  const type = top.str('model_type');
  if (type === undefined || !Object.hasOwn(SUPPORTED_MODEL_TYPES, type)) {
    throw new ConfigError(`config.json: ${type === undefined ? 'model_type is missing' : `unsupported model_type ${quoteName(type)}`}; supported: ${supported}`);
  }
  checkArchitectures(top, type);
  const multimodal = type === 'qwen3_5' || type === 'qwen3_5_moe';
  const text = multimodal ? top.object('text_config') : top;
  if (!text) throw new ConfigError(`config.json: model_type "${type}" needs a text_config object (the language model's fields)`);
  if (multimodal) text.expectValue('model_type', `${type}_text`, `the text model of ${type}`);
  const modelType: ModelType = type === 'qwen3_5_moe_text' ? 'qwen3_5_moe' : (type as ModelType);

  const L = CONFIG_LIMITS;
  const hiddenSize = text.int('hidden_size', L.hiddenSize);
  const numLayers = text.int('num_hidden_layers', L.numLayers);
  const vocabSize = text.int('vocab_size', L.vocabSize);
  const numAttentionHeads = text.int('num_attention_heads', L.heads);
  const numKeyValueHeads = text.int('num_key_value_heads', { min: 1, max: numAttentionHeads });
  if (numAttentionHeads % numKeyValueHeads !== 0) {
    text.fail('num_key_value_heads', `a divisor of num_attention_heads (${numAttentionHeads})`);
  }
  const headDim = text.int('head_dim', L.headDim);
  const linearNumKeyHeads = text.int('linear_num_key_heads', L.heads);
  const linearNumValueHeads = text.int('linear_num_value_heads', L.heads);
  if (linearNumValueHeads % linearNumKeyHeads !== 0) {
    text.fail('linear_num_value_heads', `a multiple of linear_num_key_heads (${linearNumKeyHeads})`);
  }
  text.expectValue('hidden_act', 'silu', 'the only activation of Qwen3.5');
  text.expectValue('attention_bias', false, 'Qwen3.5 attention has no biases');
  text.expectValue('attn_output_gate', true, 'the gated attention of Qwen3.5 §3');
  const layerTypes = parseLayerTypes(text, numLayers);
  const { mlpTypes, moe } = parseMlp(text, modelType, numLayers);
  const { ropeTheta, rotaryDim } = parseRope(text, headDim);
  return {
    modelType,
    hiddenSize,
    numLayers,
    layerTypes,
    mlpTypes,
    vocabSize,
    rmsNormEps: text.num('rms_norm_eps', 1e-6, (v) => v > 0 && v < 1, 'a number in (0, 1)'),
    tieWordEmbeddings: parseTie(top, text),
    maxPositionEmbeddings: text.int('max_position_embeddings', L.positions),
    numAttentionHeads,
    numKeyValueHeads,
    headDim,
    rotaryDim,
    ropeTheta,
    linearNumKeyHeads,
    linearNumValueHeads,
    linearKeyHeadDim: text.int('linear_key_head_dim', L.headDim),
    linearValueHeadDim: text.int('linear_value_head_dim', L.headDim),
    linearConvKernelDim: text.int('linear_conv_kernel_dim', L.convKernel),
    intermediateSize: mlpTypes.includes('dense') ? text.int('intermediate_size', L.intermediate) : 0,
    ...(moe ? { moe } : {}),
    eosTokenIds: parseEos(top, text, generationConfig, vocabSize),
  };
}

function checkArchitectures(top: FieldReader, type: string): void {
  if (!top.has('architectures')) return;
  const archs = top.obj.architectures;
  const known = SUPPORTED_MODEL_TYPES[type]!;
  if (!Array.isArray(archs) || !archs.some((a) => known.includes(a as string))) {
    top.fail('architectures', `a list containing one of ${known.join(', ')} for model_type "${type}"`);
  }
}

/** §1: explicit `layer_types`, or full attention where (i+1) % full_attention_interval == 0; both must agree. */
function parseLayerTypes(text: FieldReader, numLayers: number): LayerType[] {
  const interval = text.has('full_attention_interval') ? text.int('full_attention_interval', { min: 1, max: numLayers }) : undefined;
  const fromInterval = (n: number): LayerType[] =>
    Array.from({ length: numLayers }, (_, i) => ((i + 1) % n === 0 ? 'full_attention' : 'linear_attention'));
  if (!text.has('layer_types')) return fromInterval(interval ?? 4);
  const list = text.obj.layer_types;
  if (!Array.isArray(list) || !list.every((t) => t === 'full_attention' || t === 'linear_attention')) {
    text.fail('layer_types', 'a list of "linear_attention" / "full_attention"');
  }
  const types = list as LayerType[];
  if (types.length !== numLayers) text.fail('layer_types', `a list of num_hidden_layers (${numLayers}) entries`, `${types.length} entries`);
  if (interval !== undefined && fromInterval(interval).some((t, i) => t !== types[i])) {
    throw new ConfigError(`config.json: layer_types disagrees with full_attention_interval ${interval} (full attention at (i+1) % ${interval} == 0)`);
  }
  return [...types];
}

/** §1: qwen3_5 all dense, qwen3_5_moe all MoE, qwen3_next MoE unless in mlp_only_layers or off the sparse step. */
function parseMlp(text: FieldReader, modelType: ModelType, numLayers: number): { mlpTypes: MlpType[]; moe?: MoeConfig } {
  const L = CONFIG_LIMITS;
  let isMoe: (i: number) => boolean = () => false;
  if (modelType === 'qwen3_5_moe') isMoe = () => true;
  if (modelType === 'qwen3_next') {
    const only = new Set(text.intList('mlp_only_layers', { min: 0, max: numLayers - 1 }) ?? []);
    const step = text.int('decoder_sparse_step', { min: 1, max: numLayers }, 1);
    const experts = text.int('num_experts', { min: 0, max: L.experts.max }, 0);
    isMoe = (i) => experts > 0 && !only.has(i) && (i + 1) % step === 0;
  }
  const mlpTypes = Array.from({ length: numLayers }, (_, i): MlpType => (isMoe(i) ? 'moe' : 'dense'));
  if (!mlpTypes.includes('moe')) return { mlpTypes };
  const numExperts = text.int('num_experts', L.experts);
  const moe: MoeConfig = {
    numExperts,
    numExpertsPerTok: text.int('num_experts_per_tok', { min: 1, max: numExperts }),
    moeIntermediateSize: text.int('moe_intermediate_size', L.intermediate),
    sharedExpertIntermediateSize: text.int('shared_expert_intermediate_size', L.intermediate),
    // §5: always renormalised in Qwen3.5-MoE (the field was removed); a flag for Qwen3-Next.
    normTopkProb: modelType === 'qwen3_5_moe' ? true : text.bool('norm_topk_prob', true),
  };
  return { mlpTypes, moe };
}

/** §3: `rope_parameters` (current) or legacy `rope_theta` / `partial_rotary_factor` / `rope_scaling`. */
function parseRope(text: FieldReader, headDim: number): { ropeTheta: number; rotaryDim: number } {
  const params = text.object('rope_parameters') ?? text.object('rope_scaling');
  const pick = (key: string): FieldReader => (params?.has(key) ? params : text);
  const ropeType = params?.str('rope_type') ?? params?.str('type');
  if (ropeType !== undefined && !ROPE_TYPES.includes(ropeType)) {
    params!.fail(params!.has('rope_type') ? 'rope_type' : 'type', `one of ${ROPE_TYPES.join(', ')} (other RoPE scalings are not supported)`);
  }
  const ropeTheta = pick('rope_theta').num('rope_theta', 1e7, (v) => v > 1 && v <= 1e12, 'a number in (1, 1e12]');
  const factor = pick('partial_rotary_factor').num('partial_rotary_factor', 0.25, (v) => v > 0 && v <= 1, 'a number in (0, 1]');
  const rotaryDim = Math.floor(headDim * factor);
  if (rotaryDim < 2 || rotaryDim % 2 !== 0) {
    pick('partial_rotary_factor').fail('partial_rotary_factor', `a factor giving an even rotary dim ≥ 2 with head_dim ${headDim}`, `${factor} (rotary dim ${rotaryDim})`);
  }
  const section = params?.intList('mrope_section', { min: 0, max: rotaryDim });
  if (section && section.reduce((a, b) => a + b, 0) !== rotaryDim / 2) {
    params!.fail('mrope_section', `sections summing to rotary dim / 2 = ${rotaryDim / 2}`);
  }
  return { ropeTheta, rotaryDim };
}

/** Top-level `tie_word_embeddings` (multimodal wrapper) and the text config's must agree when both are present. */
function parseTie(top: FieldReader, text: FieldReader): boolean {
  const outer = top.has('tie_word_embeddings') ? top.bool('tie_word_embeddings', false) : undefined;
  const inner = text !== top && text.has('tie_word_embeddings') ? text.bool('tie_word_embeddings', false) : undefined;
  if (outer !== undefined && inner !== undefined && outer !== inner) {
    throw new ConfigError(`config.json: tie_word_embeddings is ${outer} but text_config.tie_word_embeddings is ${inner}`);
  }
  return outer ?? inner ?? false;
}

/** §8: generation_config's eos ids (generation stops on any), then any others from config.json. */
function parseEos(top: FieldReader, text: FieldReader, generationConfig: unknown, vocabSize: number): number[] {
  const bounds = { min: 0, max: vocabSize - 1 };
  const ids: number[] = [];
  if (generationConfig !== undefined) {
    if (!isObject(generationConfig)) throw new ConfigError('generation_config.json must be a JSON object');
    ids.push(...(new FieldReader(generationConfig, 'generation_config.json: ').intList('eos_token_id', bounds, true) ?? []));
  }
  ids.push(...(text.intList('eos_token_id', bounds, true) ?? []));
  if (text !== top) ids.push(...(top.intList('eos_token_id', bounds, true) ?? []));
  return [...new Set(ids)];
}

/** Reads and parses one JSON file of a source; text that is not JSON is a ConfigError. */
export async function readJsonFile(source: CheckpointSource, name: string): Promise<unknown> {
  const text = await source.readText(name);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`${source.description}: ${name} is not valid JSON (${(e as Error).message})`);
  }
}

/** Reads config.json (and generation_config.json when present) of a checkpoint folder. */
export async function loadConfig(source: CheckpointSource): Promise<Qwen35Config> {
  if (!(await source.has('config.json'))) throw new ConfigError(`${source.description}: config.json is missing; is this a Hugging Face checkpoint folder?`);
  const generation = (await source.has('generation_config.json')) ? await readJsonFile(source, 'generation_config.json') : undefined;
  return parseConfig(await readJsonFile(source, 'config.json'), generation);
}
