/**
 * `qwen35 convert`: writes a pre-quantized copy of a checkpoint (src/io/convert.ts) into a new
 * folder, atomically, with the progress bar on stderr. `qwen35 run --model <out>` then loads it
 * without quantizing.
 */
import { existsSync, readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { InvalidArgumentError } from '../errors.js';
import { convertCheckpoint, DEFAULT_SHARD_BYTES, type ConvertResult } from '../io/convert.js';
import { writeFolderAtomically } from '../io/folder-writer.js';
import { formatBytes, createProgressBar } from '../io/progress.js';
import { openSource } from '../io/sources/open.js';
import { resolveWeightFormats, WEIGHT_CLASSES, type WeightFormatSpec } from '../runtime/gpu-weight-plan.js';
import { parse } from './load.js';
import type { Command } from './main.js';

const OPTIONS = {
  model: { type: 'string', short: 'm' },
  revision: { type: 'string' },
  out: { type: 'string', short: 'o' },
  format: { type: 'string', default: 'q4' },
  'shard-size': { type: 'string' },
  force: { type: 'boolean' },
} as const;

const UNITS: Record<string, number> = { '': 1, b: 1, kb: 1e3, mb: 1e6, gb: 1e9, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30 };

/** "2GiB", "500MB", "1048576" → bytes. */
export function parseByteSize(text: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  const bytes = m && unit !== undefined ? Math.floor(Number(m[1]) * unit) : NaN;
  if (!(Number.isSafeInteger(bytes) && bytes > 0)) {
    throw new InvalidArgumentError(`--${what} must be a positive size such as 2GiB, 500MB or 1048576, got "${text}"`);
  }
  return bytes;
}

/** "q4" or "q4,embedding=q8,lmHead=q8" (a default, then per-class formats). */
export function parseFormatSpec(text: string): WeightFormatSpec {
  const spec: Record<string, string> = {};
  for (const item of text.split(',').map((s) => s.trim())) {
    const [key, value] = item.includes('=') ? item.split('=', 2).map((s) => s.trim()) : ['default', item];
    if (key !== 'default' && !(WEIGHT_CLASSES as readonly string[]).includes(key!)) {
      throw new InvalidArgumentError(`--format: unknown weight class "${key}" (classes: ${WEIGHT_CLASSES.join(', ')})`);
    }
    spec[key!] = value!;
  }
  resolveWeightFormats(spec as WeightFormatSpec); // throws on an unknown format
  return spec as WeightFormatSpec;
}

export const command: Command = {
  summary: 'Convert a checkpoint once to q4/q8/... so that it loads without quantizing and downloads smaller.',
  usage: [
    'qwen35 convert --model <dir|url|owner/name> --out <dir> [--format F] [--shard-size SIZE] [--revision REV] [--force]',
    '  --model, -m   checkpoint to convert (local folder, http(s) URL or hub id; the token comes from HF_TOKEN)',
    '  --out, -o     new checkpoint folder (written atomically)',
    '  --format      q4 (default), q8, bf16, f16, f32, or per class: "q4,embedding=q8,lmHead=q8"',
    `                (classes: ${WEIGHT_CLASSES.join(', ')}); the loader uses these formats`,
    `  --shard-size  largest safetensors shard (default ${formatBytes(DEFAULT_SHARD_BYTES)}), e.g. 500MB, 1GiB`,
    '  --force       replace an existing --out folder',
  ].join('\n'),
  async run(args) {
    const v = parse(args, OPTIONS);
    if (!v.model) throw new InvalidArgumentError('convert: --model is required');
    if (!v.out) throw new InvalidArgumentError('convert: --out is required');
    const weightFormat = parseFormatSpec(v.format);
    const maxShardBytes = v['shard-size'] === undefined ? DEFAULT_SHARD_BYTES : parseByteSize(v['shard-size'], 'shard-size');
    const out = resolve(v.out);
    if (existsSync(out) && !v.force && readdirSync(out).length > 0) {
      throw new InvalidArgumentError(`convert: ${out} already exists and is not empty (use --force to replace it)`);
    }
    const bar = createProgressBar({ stream: process.stderr });
    const started = performance.now();
    let result: ConvertResult | undefined;
    try {
      const source = await openSource(v.model, { revision: v.revision, token: process.env.HF_TOKEN, cache: true, onProgress: bar.update });
      await writeFolderAtomically(
        out,
        async (write) => {
          result = await convertCheckpoint(source, { write }, { weightFormat, maxShardBytes, onProgress: bar.update });
        },
        { replace: v.force ?? false },
      );
    } finally {
      bar.done();
    }
    const r = result!;
    const seconds = (performance.now() - started) / 1000;
    console.log(
      `wrote ${out} (${v.format}): ${r.files.length} files, weights ${formatBytes(r.weightBytes)} instead of ` +
        `${formatBytes(r.sourceBytes)} (${(r.sourceBytes / r.weightBytes).toFixed(2)}× smaller) in ${seconds.toFixed(1)} s`,
    );
    return 0;
  },
};
