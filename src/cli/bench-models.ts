/**
 * Models for `qwen35 bench` (Node): a short name — "tiny" (= tiny-dense), "tiny-moe",
 * "tiny-next", or a preset such as "0.8B" / "2B" (full-size synthetic, generated under models/
 * on first use) — or any checkpoint spec `openSource` takes (folder, URL, hub id).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidArgumentError } from '../errors.js';
import type { GpuContext } from '../gpu/device.js';
import type { GpuWaitMode } from '../gpu/wait-pacer.js';
import type { WeightFormatSpec } from '../runtime/gpu-weight-plan.js';
import { createProgressBar } from '../io/progress.js';
import { openSource } from '../io/sources/open.js';
import { findPreset, PRESETS } from '../model/presets.js';
import { generateCheckpoint, MODELS_DIR, PRESET_SHARD_BYTES, TINY_CONFIGS, TINY_KINDS, type TinyKind } from '../model/tiny.js';
import { Qwen35Model, readModelConfig } from '../runtime/model.js';
import type { Qwen35Config } from '../model/config.js';

/** Where a short model name lives and how to create it; undefined for other specs. */
export function namedModel(name: string): { dir: string; config: Qwen35Config; preset: boolean } | undefined {
  const tiny = name === 'tiny' ? 'dense' : name.startsWith('tiny-') ? name.slice(5) : undefined;
  if (tiny !== undefined && TINY_KINDS.includes(tiny as TinyKind)) {
    return { dir: join(MODELS_DIR, `tiny-${tiny}`), config: TINY_CONFIGS[tiny as TinyKind], preset: false };
  }
  const preset = findPreset(name);
  return preset ? { dir: join(MODELS_DIR, `synthetic-${name}`), config: preset, preset: true } : undefined;
}

/** Fails early (before any measurement) on a name that is no known model, folder, URL or hub id. */
export function checkModelName(name: string): void {
  if (namedModel(name) || existsSync(name) || /^https?:\/\//.test(name) || name.includes('/')) return;
  throw new InvalidArgumentError(
    `--models: "${name}" is not a model name (tiny, tiny-moe, tiny-next, ${Object.keys(PRESETS).join(', ')}), ` +
      'an existing checkpoint folder, an http(s) URL or a hub repo id "owner/name"',
  );
}

export interface LoadBenchModelOptions {
  gpu: GpuContext;
  weightFormat: WeightFormatSpec;
  kvFormat?: 'f16' | 'f32';
  /** How the host waits for the GPU (default: the session's). */
  gpuWaits?: GpuWaitMode;
  /** Tokens per prefill call (default: the session's). */
  prefillChunk?: number;
  /** The session's experimental int8Activations (default off). */
  int8Activations?: boolean;
  /** Context the scenarios need; capped at the model's maximum. */
  context: number;
  log: (line: string) => void;
}

/** Generates the checkpoint of a short name if needed, then loads it (progress on stderr). */
export async function loadBenchModel(name: string, opts: LoadBenchModelOptions): Promise<Qwen35Model> {
  const named = namedModel(name);
  if (named) {
    const started = performance.now();
    const written = await generateCheckpoint(named.config, named.dir, named.preset ? { maxShardBytes: PRESET_SHARD_BYTES } : {});
    if (written) opts.log(`generated ${named.dir} in ${((performance.now() - started) / 1000).toFixed(1)} s (synthetic weights, seed 0)`);
  }
  const bar = createProgressBar({ stream: process.stderr });
  try {
    const source = await openSource(named?.dir ?? name, { token: process.env.HF_TOKEN, cache: true, onProgress: bar.update });
    const config = await readModelConfig(source);
    return await Qwen35Model.load(source, {
      gpu: opts.gpu,
      weightFormat: opts.weightFormat,
      kvFormat: opts.kvFormat,
      ...(opts.gpuWaits ? { gpuWaits: opts.gpuWaits } : {}),
      ...(opts.prefillChunk ? { prefillChunk: opts.prefillChunk } : {}),
      ...(opts.int8Activations ? { int8Activations: true } : {}),
      maxContext: Math.min(opts.context, config.maxPositionEmbeddings),
      onProgress: bar.update,
    });
  } finally {
    bar.done();
  }
}
