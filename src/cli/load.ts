/** Shared by the commands that load a model: options, source resolution and the progress bar. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { InvalidArgumentError } from '../errors.js';
import { createProgressBar } from '../io/progress.js';
import { openSource } from '../io/sources/open.js';
import { ensureDefaultModel } from '../model/tiny.js';
import { Qwen35Model } from '../runtime/model.js';
import { DEFAULT_PREFILL_CHUNK } from '../runtime/session.js';
import type { WeightFormatSpec } from '../runtime/gpu-weight-plan.js';

export const MODEL_OPTIONS = {
  model: { type: 'string', short: 'm' },
  revision: { type: 'string' },
  format: { type: 'string' },
  context: { type: 'string' },
  'prefill-chunk': { type: 'string' },
  'kv-format': { type: 'string' },
} as const satisfies ParseArgsConfig['options'];

export const MODEL_USAGE = `model options:
  --model, -m <dir|url|owner/name>   checkpoint (default: the embedded tiny model, generated on first use)
  --revision <rev>                   hub revision (default main); the token comes from HF_TOKEN
  --format <f32|f16|bf16|q8|q4>      weight format on the GPU (default q4; a converted checkpoint: its own)
  --context <n>                      context length (default min(4096, model maximum))
  --prefill-chunk <n>                tokens per prefill call (default ${DEFAULT_PREFILL_CHUNK})
  --kv-format <f16|f32>              KV cache element format (default f16)`;

export function parse<T extends ParseArgsConfig['options']>(args: string[], options: T) {
  try {
    return parseArgs({ args, options, allowPositionals: false, strict: true }).values;
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
}

export function intOption(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError(`--${name} must be an integer, got "${value}"`);
  return n;
}

export function numberOption(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new InvalidArgumentError(`--${name} must be a number, got "${value}"`);
  return n;
}

type ModelArgs = { [K in keyof typeof MODEL_OPTIONS]?: string };

/** Opens the checkpoint named by the options and loads it, drawing a progress bar on stderr. */
export async function loadModelFromArgs(values: ModelArgs): Promise<Qwen35Model> {
  const spec = values.model ?? (await ensureDefaultModel());
  const bar = createProgressBar({ stream: process.stderr });
  const source = await openSource(spec, { revision: values.revision, token: process.env.HF_TOKEN, cache: true, onProgress: bar.update });
  try {
    return await Qwen35Model.load(source, {
      weightFormat: values.format as WeightFormatSpec,
      maxContext: intOption(values.context, 'context'),
      prefillChunk: intOption(values['prefill-chunk'], 'prefill-chunk'),
      kvFormat: values['kv-format'] as 'f16' | 'f32' | undefined,
      onProgress: bar.update,
    });
  } finally {
    bar.done();
  }
}
