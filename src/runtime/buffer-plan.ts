/**
 * Every non-weight buffer the session allocates, with its exact size: KV cache (full-attention
 * layers only: 1 in 4, §1), DeltaNet conv + recurrent state (fixed, independent of context),
 * activations for one prefill chunk, kernel scratch, staging and uniforms. The session allocates
 * from this list and the memory predictor sums it, so prediction and measurement share one source.
 */
import type { MemoryCategory } from '../gpu/allocator.js';
import { attentionScratchBytes, kvCacheBytes, type KvFormat } from '../kernels/attention.js';
import { gdnChunkedScratchBytes } from '../kernels/gdn-chunked.js';
import { samplerScratchBytes } from '../kernels/sampler.js';
import { UNIFORM_SLOT_BYTES } from '../gpu/uniforms.js';
import type { Qwen35Config } from '../model/config.js';

export interface SessionShape {
  /** Longest sequence (prompt + generated) the session holds. */
  maxContext: number;
  /** Tokens per prefill call (activations are sized for it). */
  prefillChunk: number;
  kvFormat: KvFormat;
}

export interface BufferSpec {
  key: string;
  category: MemoryCategory;
  bytes: number;
}

/** Per-layer state buffers. Keys: layers.N.{kCache,vCache,convState,recurrentState}. */
export function planState(config: Qwen35Config, shape: SessionShape): BufferSpec[] {
  const specs: BufferSpec[] = [];
  const channels = 2 * config.linearNumKeyHeads * config.linearKeyHeadDim + config.linearNumValueHeads * config.linearValueHeadDim;
  config.layerTypes.forEach((type, i) => {
    if (type === 'full_attention') {
      const bytes = kvCacheBytes(shape.kvFormat, shape.maxContext, config.numKeyValueHeads, config.headDim);
      specs.push({ key: `layers.${i}.kCache`, category: 'kv-cache', bytes }, { key: `layers.${i}.vCache`, category: 'kv-cache', bytes });
    } else {
      specs.push(
        { key: `layers.${i}.convState`, category: 'linear-state', bytes: (config.linearConvKernelDim - 1) * channels * 4 },
        {
          key: `layers.${i}.recurrentState`,
          category: 'linear-state',
          bytes: config.linearNumValueHeads * config.linearKeyHeadDim * config.linearValueHeadDim * 4,
        },
      );
    }
  });
  return specs;
}

/** Widths (f32 elements per token) of the activation buffers shared by all layers. */
export function activationWidths(config: Qwen35Config): Record<string, number> {
  const h = config.hiddenSize;
  const d = config.headDim;
  const hk = config.linearNumKeyHeads * config.linearKeyHeadDim;
  const hv = config.linearNumValueHeads;
  const vd = hv * config.linearValueHeadDim;
  const attnProj = 2 * (config.numAttentionHeads + config.numKeyValueHeads) * d;
  const gdnProj = 2 * hk + vd + vd + 2 * hv;
  const moe = config.moe;
  const hasDense = config.mlpTypes.includes('dense');
  const hasMoe = config.mlpTypes.includes('moe');
  const widths: Record<string, number> = {
    ids: 1,
    hidden: h,
    normed: h,
    proj: Math.max(config.layerTypes.includes('full_attention') ? attnProj : 0, config.layerTypes.includes('linear_attention') ? gdnProj : 0),
    mixerOut: Math.max(config.numAttentionHeads * d, vd),
  };
  if (config.layerTypes.includes('full_attention')) widths.attnQ = config.numAttentionHeads * d;
  if (config.layerTypes.includes('linear_attention')) {
    Object.assign(widths, { gdnQ: hk, gdnK: hk, gdnV: vd, gdnOut: vd });
  }
  if (hasDense) widths.mlpAct = config.intermediateSize;
  if (hasMoe && moe) {
    const k = moe.numExpertsPerTok;
    Object.assign(widths, {
      routerLogits: moe.numExperts + 1, // the expert logits, then the shared expert's gate logit
      expertIds: k,
      expertWeights: k,
      expertAct: k * moe.moeIntermediateSize,
      expertOut: k * h,
      sharedAct: moe.sharedExpertIntermediateSize,
      sharedOut: h,
    });
  }
  return widths;
}

/** Activation buffers for `prefillChunk` tokens, plus the single-row LM-head input and the logits. */
export function planActivations(config: Qwen35Config, shape: SessionShape): BufferSpec[] {
  const specs: BufferSpec[] = Object.entries(activationWidths(config)).map(([key, width]) => ({
    key,
    category: 'activations' as const,
    bytes: width * shape.prefillChunk * 4,
  }));
  specs.push(
    { key: 'lastHidden', category: 'activations', bytes: config.hiddenSize * 4 },
    { key: 'logits', category: 'activations', bytes: config.vocabSize * 4 },
    { key: 'history', category: 'activations', bytes: (shape.maxContext + 1) * 4 },
    { key: 'token', category: 'activations', bytes: 4 },
    { key: 'readback0', category: 'staging', bytes: 4 },
    { key: 'readback1', category: 'staging', bytes: 4 },
  );
  return specs;
}

/** Scratch and constant tables that kernel builders allocate themselves (one builder per session). */
export function planKernelScratch(config: Qwen35Config, shape: SessionShape): BufferSpec[] {
  const specs: BufferSpec[] = [];
  if (config.layerTypes.includes('full_attention')) {
    const attn = { heads: config.numAttentionHeads, headDim: config.headDim, maxContext: shape.maxContext };
    specs.push({ key: 'attention.scratch', category: 'activations', bytes: attentionScratchBytes(attn) });
    specs.push({ key: 'rope.invFreq', category: 'other', bytes: (config.rotaryDim / 2) * 4 });
  }
  if (config.layerTypes.includes('linear_attention')) {
    const gdn = {
      keyHeads: config.linearNumKeyHeads,
      valueHeads: config.linearNumValueHeads,
      keyDim: config.linearKeyHeadDim,
      valueDim: config.linearValueHeadDim,
      maxTokens: shape.prefillChunk,
    };
    specs.push({ key: 'gdnChunked.scratch', category: 'activations', bytes: gdnChunkedScratchBytes(gdn) });
  }
  specs.push({ key: 'sampler.scratch', category: 'activations', bytes: samplerScratchBytes(config.vocabSize) });
  specs.push({ key: 'uniforms', category: 'other', bytes: uniformArenaBytes(config) });
  return specs;
}

/** Uniform slots reserved per layer and for the embedding/head: an upper bound on what the graphs bind. */
const UNIFORM_SLOTS_PER_LAYER = 48;
const UNIFORM_SLOTS_FIXED = 32;

/** The session's fixed uniform arena (one buffer). */
export function uniformArenaBytes(config: Qwen35Config): number {
  return (UNIFORM_SLOTS_FIXED + UNIFORM_SLOTS_PER_LAYER * config.numLayers) * UNIFORM_SLOT_BYTES;
}
