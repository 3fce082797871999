/**
 * `qwen35 mem`: will it fit? GPU memory per category for a model and context length —
 * predicted from the config (a preset: nothing is loaded, no GPU needed) or predicted and
 * measured (a loaded checkpoint), the table for every released size with the published figures
 * explained (`--table`), and memory against context as an SVG (`--plot`).
 */
import { stat, writeFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { InvalidArgumentError } from '../errors.js';
import { FsCheckpointSource } from '../io/sources/fs.js';
import { loadConfig, parseConfig, readJsonFile, type Qwen35Config } from '../model/config.js';
import { largestContextWithin, predictMemory, type PredictOptions } from '../model/memory.js';
import { findPreset, PRESETS } from '../model/presets.js';
import type { Qwen35Model } from '../runtime/model.js';
import { parseByteSize, parseFormatSpec } from './convert.js';
import { intOption, loadModelFromArgs, MODEL_OPTIONS, MODEL_USAGE, parse } from './load.js';
import type { Command } from './main.js';
import { memoryPlot, type MeasuredPoint } from './mem-plot.js';
import { reportJson, reportText, type MemReport } from './mem-report.js';
import { tableJson, tableMarkdown } from './mem-table.js';

const OPTIONS = {
  ...MODEL_OPTIONS,
  preset: { type: 'string' },
  config: { type: 'string' },
  batch: { type: 'string' },
  table: { type: 'boolean' },
  json: { type: 'boolean' },
  plot: { type: 'string' },
  measure: { type: 'string' },
  budget: { type: 'string' },
} as const;

type Values = ReturnType<typeof parse<typeof OPTIONS>>;

const print = (text: string): void => void process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);

function predictOptions(v: Values): PredictOptions {
  return {
    weightFormat: parseFormatSpec(v.format ?? 'q4'),
    maxContext: intOption(v.context, 'context'),
    prefillChunk: intOption(v['prefill-chunk'], 'prefill-chunk'),
    kvFormat: v['kv-format'] as PredictOptions['kvFormat'],
    batch: intOption(v.batch, 'batch'),
  };
}

function measureList(text: string | undefined): number[] {
  if (text === undefined) return [];
  return text.split(',').map((s) => {
    const n = intOption(s.trim(), 'measure');
    if (n === undefined || n < 1) throw new InvalidArgumentError(`--measure takes context lengths ≥ 1 separated by commas, got "${text}"`);
    return n;
  });
}

/** Loads the checkpoint again at each extra context and records what the allocator measures. */
async function measureAt(v: Values, contexts: number[]): Promise<MeasuredPoint[]> {
  const points: MeasuredPoint[] = [];
  for (const context of contexts) {
    const model = await loadModelFromArgs({ ...v, context: String(context) });
    try {
      points.push({ context, byCategory: model.memory().measured });
    } finally {
      model.dispose();
    }
  }
  return points;
}

function withBudget(report: MemReport, v: Values, options: PredictOptions, limits?: GPUSupportedLimits): MemReport {
  if (v.budget === undefined) return report;
  const bytes = parseByteSize(v.budget, 'budget');
  const { maxContext: _ignored, ...rest } = options;
  return { ...report, budget: { bytes, largestContext: largestContextWithin(report.config, bytes, rest, limits) } };
}

/**
 * A config.json read on its own (no weights, no tokenizer): a file, or a checkpoint folder holding
 * one. What it contains is checked by parseConfig, so a bad config fails with its ConfigError.
 */
async function configFromPath(path: string): Promise<Qwen35Config> {
  const info = await stat(path).catch(() => undefined);
  if (!info) throw new InvalidArgumentError(`--config: ${path} does not exist (give a config.json or a checkpoint folder)`);
  if (info.isDirectory()) return loadConfig(new FsCheckpointSource(path));
  return parseConfig(await readJsonFile(new FsCheckpointSource(dirname(resolve(path))), basename(path)));
}

/** Prediction only, from a preset (--preset) or a config.json (--config). */
async function fromConfig(v: Values): Promise<{ report: MemReport; measured: MeasuredPoint[]; options: PredictOptions }> {
  if (v.measure !== undefined) throw new InvalidArgumentError(`--measure needs a loaded model (--model), not --${v.preset ? 'preset' : 'config'}`);
  let config: Qwen35Config | undefined;
  let name: string;
  if (v.preset !== undefined) {
    config = findPreset(v.preset);
    if (!config) throw new InvalidArgumentError(`unknown preset "${v.preset}"; presets: ${Object.keys(PRESETS).join(', ')}`);
    name = `Qwen3.5 preset ${v.preset}`;
  } else {
    config = await configFromPath(v.config!);
    name = `config ${v.config}`;
  }
  const options = predictOptions(v);
  const report: MemReport = { name, predictionOnly: true, config, predicted: predictMemory(config, options) };
  return { report: withBudget(report, v, options), measured: [], options };
}

async function fromModel(v: Values): Promise<{ report: MemReport; measured: MeasuredPoint[]; options: PredictOptions }> {
  const batch = intOption(v.batch, 'batch');
  if (batch !== undefined && batch !== 1) {
    throw new InvalidArgumentError(
      `--batch ${batch}: a loaded model runs one sequence, so only batch 1 can be measured; predict batch ${batch} with --preset or --config`,
    );
  }
  const extra = measureList(v.measure);
  let model: Qwen35Model | undefined = await loadModelFromArgs(v);
  try {
    const m = model.memory();
    const s = model.session.options;
    const options: PredictOptions = { weightFormat: s.formats, maxContext: s.maxContext, prefillChunk: s.prefillChunk, kvFormat: s.kvFormat, maxBindingBytes: s.maxBindingBytes };
    const limits = model.session.ctx.gpu.limits;
    let report: MemReport = {
      name: model.source.description,
      predictionOnly: false,
      config: model.config,
      predicted: m.predicted,
      measured: { live: m.measured, peak: m.measuredPeak, peakTotal: m.measuredPeakTotal, linearState: m.measuredLinearState },
    };
    report = withBudget(report, v, options, limits);
    const live: MeasuredPoint = { context: s.maxContext, byCategory: m.measured };
    model.dispose();
    model = undefined;
    const others = await measureAt(v, extra.filter((c) => c !== s.maxContext));
    return { report, measured: [live, ...others], options };
  } finally {
    model?.dispose();
  }
}

export const command: Command = {
  summary: 'Will it fit? GPU memory per category, predicted from the config and measured on a loaded model.',
  usage: `qwen35 mem [--model <dir|url|hub> | --preset <name> | --config <config.json>] [--context N] [--format F] [--batch B]
           [--json] [--plot out.svg] [--budget SIZE]
qwen35 mem --table [--json]
  --preset <name>        prediction only, nothing loaded: ${Object.keys(PRESETS).join(', ')}
  --config <file|dir>    prediction only, from any config.json (or a checkpoint folder's); no weights are read
  --batch <B>            sequences side by side (default 1): KV cache, DeltaNet state, activations and scratch
                         × B; prediction only (--preset/--config), since the runtime runs one sequence
  --table                every released size at 1,024 / 32,768 / 262,144 tokens in bf16 / q8 / q4, and the
                         figures public calculators publish, reconstructed and explained (Markdown)
  --json                 a stable, versioned JSON object instead of text
  --plot <file.svg>      memory against context length: predicted total and categories, measured points,
                         and the total if every layer held a KV cache
  --measure <n,n,...>    with --model and --plot: also load the model at these contexts and plot what it measures
  --budget <size>        e.g. 8GiB or 6GB: does it fit, and the longest context that does
${MODEL_USAGE}`,
  async run(args) {
    const v = parse(args, OPTIONS);
    if (v.table) {
      if (v.model || v.preset || v.config || v.plot || v.batch) throw new InvalidArgumentError('--table covers every preset; it takes only --json');
      print(v.json ? JSON.stringify(tableJson(), null, 2) : tableMarkdown());
      return 0;
    }
    if ([v.model, v.preset, v.config].filter((x) => x !== undefined).length > 1) {
      throw new InvalidArgumentError('give either --model (load and measure) or --preset or --config (predict only), not two of them');
    }
    const { report, measured, options } = v.preset !== undefined || v.config !== undefined ? await fromConfig(v) : await fromModel(v);
    print(v.json ? JSON.stringify(reportJson(report), null, 2) : reportText(report));
    if (v.plot) {
      await writeFile(v.plot, memoryPlot(`${report.name}: GPU memory vs context`, report.config, options, measured));
      if (!v.json) print(`wrote ${v.plot}`);
    }
    return 0;
  },
};
