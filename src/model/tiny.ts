/**
 * The tiny checkpoints (tiny-dense, tiny-moe, tiny-next) and writing generated checkpoints to a
 * folder (Node): atomically (a temporary folder renamed into place), streaming shard by shard.
 * `ensureDefaultModel()` creates models/tiny-dense on first use.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFolderAtomically, type WriteFile } from '../io/folder-writer.js';
import type { Qwen35Config } from './config.js';
import { hybridLayerTypes } from './presets.js';
import { writeSyntheticCheckpoint } from './synthetic.js';
import { DEFAULT_MERGES } from './tokenizer-gen.js';

export type TinyKind = 'dense' | 'moe' | 'next';
export const TINY_KINDS: readonly TinyKind[] = ['dense', 'moe', 'next'];

/** Ids of the generated tokenizer's specials (256 bytes + merges, then <|endoftext|>, <|im_start|>, <|im_end|>, ...). */
const ENDOFTEXT = 256 + DEFAULT_MERGES;
const IM_END = ENDOFTEXT + 2;

const common = {
  vocabSize: 512,
  rmsNormEps: 1e-6,
  maxPositionEmbeddings: 4096,
  numAttentionHeads: 4,
  numKeyValueHeads: 2,
  headDim: 32,
  rotaryDim: 8, // partial_rotary_factor 0.25 (§7)
  ropeTheta: 1e7,
  linearNumKeyHeads: 2,
  linearNumValueHeads: 4, // value head h uses key head floor(h/2) (§4.2 step 6)
  linearConvKernelDim: 4,
  eosTokenIds: [IM_END, ENDOFTEXT],
};

/** Small configs with every feature: GDN + attention layers ((i+1) % 4 == 0), GQA, tied and untied heads. */
export const TINY_CONFIGS: Readonly<Record<TinyKind, Qwen35Config>> = {
  dense: {
    ...common,
    modelType: 'qwen3_5',
    hiddenSize: 128,
    numLayers: 8,
    layerTypes: hybridLayerTypes(8),
    mlpTypes: Array(8).fill('dense'),
    tieWordEmbeddings: true,
    linearKeyHeadDim: 32,
    linearValueHeadDim: 32,
    intermediateSize: 256,
  },
  moe: {
    ...common,
    modelType: 'qwen3_5_moe',
    hiddenSize: 64,
    numLayers: 8,
    layerTypes: hybridLayerTypes(8),
    mlpTypes: Array(8).fill('moe'),
    tieWordEmbeddings: false,
    linearKeyHeadDim: 16,
    linearValueHeadDim: 16,
    intermediateSize: 0,
    moe: { numExperts: 8, numExpertsPerTok: 2, moeIntermediateSize: 64, sharedExpertIntermediateSize: 64, normTopkProb: true },
  },
  // Qwen3-Next layout: fused in_proj_qkvz / in_proj_ba, per-expert tensors, one dense layer (mlp_only_layers).
  next: {
    ...common,
    modelType: 'qwen3_next',
    hiddenSize: 64,
    numLayers: 4,
    layerTypes: hybridLayerTypes(4),
    mlpTypes: ['moe', 'dense', 'moe', 'moe'],
    tieWordEmbeddings: false,
    linearKeyHeadDim: 16,
    linearValueHeadDim: 16,
    intermediateSize: 96,
    moe: { numExperts: 4, numExpertsPerTok: 2, moeIntermediateSize: 32, sharedExpertIntermediateSize: 32, normTopkProb: true },
  },
};

/** Shard size of the tiny checkpoints: small enough that each has several shards. */
export const TINY_SHARD_BYTES = 512 * 1024;
/** Shard size of full-size synthetic checkpoints. */
export const PRESET_SHARD_BYTES = 2 * 1024 ** 3;

export const MODELS_DIR = resolve(fileURLToPath(new URL('../../models', import.meta.url)));

export interface GenerateOptions {
  seed?: number;
  maxShardBytes?: number;
  /** Replace an existing folder (otherwise an existing complete checkpoint is kept). */
  force?: boolean;
}

const isComplete = (dir: string): boolean => existsSync(join(dir, 'config.json')) && existsSync(join(dir, 'model.safetensors.index.json'));

/**
 * Writes a synthetic checkpoint for `config` into `dir` atomically: into a temporary sibling
 * folder first, renamed into place when complete (a crash never leaves a half checkpoint).
 * Returns false when `dir` already held a checkpoint and `force` was not given.
 */
export async function generateCheckpoint(config: Qwen35Config, dir: string, opts: GenerateOptions = {}): Promise<boolean> {
  if (isComplete(dir) && !opts.force) return false;
  const fill = (write: WriteFile) => writeSyntheticCheckpoint(config, { seed: opts.seed ?? 0, maxShardBytes: opts.maxShardBytes ?? TINY_SHARD_BYTES }, write);
  await writeFolderAtomically(dir, fill, { replace: opts.force ?? false }).catch((e: NodeJS.ErrnoException) => {
    // Someone else finished the same checkpoint first: keep theirs.
    if (!isComplete(dir) || !['ENOTEMPTY', 'EEXIST'].includes(e.code ?? '')) throw e;
  });
  return true;
}

/** models/tiny-dense, generated (seed 0) on first use; idempotent and safe against concurrent callers. */
export async function ensureDefaultModel(): Promise<string> {
  const dir = join(MODELS_DIR, 'tiny-dense');
  await generateCheckpoint(TINY_CONFIGS.dense, dir);
  return dir;
}
