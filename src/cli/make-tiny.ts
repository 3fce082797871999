/** `qwen35 make-tiny`: writes a seeded synthetic checkpoint (tiny, or full size from a preset) under models/. */
import { join } from 'node:path';
import { InvalidArgumentError } from '../errors.js';
import { PRESETS, findPreset } from '../model/presets.js';
import { MODELS_DIR, PRESET_SHARD_BYTES, TINY_CONFIGS, TINY_KINDS, TINY_SHARD_BYTES, generateCheckpoint, type TinyKind } from '../model/tiny.js';
import type { Command } from './main.js';

interface Options {
  kind: TinyKind;
  preset?: string;
  seed: number;
  out?: string;
  force: boolean;
}

function parseArgs(args: string[]): Options {
  const opts: Options = { kind: 'dense', seed: 0, force: false };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const value = (): string => {
      const v = args[++i];
      if (v === undefined) throw new InvalidArgumentError(`make-tiny: ${arg} needs a value`);
      return v;
    };
    if (arg === '--kind') {
      const kind = value();
      if (!TINY_KINDS.includes(kind as TinyKind)) throw new InvalidArgumentError(`make-tiny: --kind must be one of ${TINY_KINDS.join(', ')}, got "${kind}"`);
      opts.kind = kind as TinyKind;
    } else if (arg === '--preset') opts.preset = value();
    else if (arg === '--seed') {
      const seed = Number(value());
      if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new InvalidArgumentError(`make-tiny: --seed must be an integer in [0, 2^32), got "${args[i]}"`);
      opts.seed = seed;
    } else if (arg === '--out') opts.out = value();
    else if (arg === '--force') opts.force = true;
    else throw new InvalidArgumentError(`make-tiny: unknown option "${arg}"`);
  }
  return opts;
}

export const command: Command = {
  summary: 'Generate a seeded random checkpoint in the Hugging Face layout (tiny dense/MoE/Next, or a full-size preset).',
  usage: [
    'qwen35 make-tiny [--kind dense|moe|next] [--preset NAME] [--seed N] [--out DIR] [--force]',
    `  --kind    tiny model kind (default dense) → models/tiny-<kind>`,
    `  --preset  full-size synthetic model instead: ${Object.keys(PRESETS).join(', ')} → models/synthetic-<preset>`,
    '  --seed    random seed (default 0); the same seed gives byte-identical files',
    '  --out     output folder (default under models/)',
    '  --force   replace an existing checkpoint',
  ].join('\n'),
  async run(args) {
    const opts = parseArgs(args);
    const preset = opts.preset === undefined ? undefined : findPreset(opts.preset);
    if (opts.preset !== undefined && !preset) {
      throw new InvalidArgumentError(`make-tiny: unknown preset "${opts.preset}"; presets: ${Object.keys(PRESETS).join(', ')}`);
    }
    const config = preset ?? TINY_CONFIGS[opts.kind];
    const dir = opts.out ?? join(MODELS_DIR, preset ? `synthetic-${opts.preset}` : `tiny-${opts.kind}`);
    const started = Date.now();
    const written = await generateCheckpoint(config, dir, {
      seed: opts.seed,
      force: opts.force,
      maxShardBytes: preset ? PRESET_SHARD_BYTES : TINY_SHARD_BYTES,
    });
    if (!written) {
      console.log(`${dir} already holds a checkpoint (use --force to replace it)`);
      return 0;
    }
    console.log(`wrote ${config.modelType} checkpoint (${config.numLayers} layers, hidden ${config.hiddenSize}, seed ${opts.seed}) to ${dir} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return 0;
  },
};
