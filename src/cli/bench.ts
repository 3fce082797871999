/**
 * `qwen35 bench`: prefill / decode tokens/s, time to first token, per-kernel profile, bandwidth
 * roofline and kernel micro-benchmarks → bench.json (qwen35-bench/1), bench.md and SVG plots under
 * --out; compare modes (two result files, or two configurations interleaved in one process).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidArgumentError } from '../errors.js';
import { acquireGpu, type GpuContext } from '../gpu/device.js';
import { createKernelContext } from '../gpu/kernel.js';
import type { GpuWaitMode } from '../gpu/wait-pacer.js';
import { WEIGHT_FORMATS, type WeightFormat } from '../io/formats.js';
import { compareInterleaved, compareResults } from '../bench/compare.js';
import { describeEnvironment } from '../bench/environment.js';
import { benchAdapter, benchModel, newResult, type BenchProgress } from '../bench/harness.js';
import { benchMarkdown, compareMarkdown } from '../bench/markdown.js';
import { planForAdapter, requiredContext, resolveBenchOptions, type BenchOptions } from '../bench/options.js';
import { benchPlots } from '../bench/plots.js';
import { BENCH_SCHEMA, SCENARIOS, type BenchResult, type CompareResult, type ModelResult, type RunParameters, type Scenario } from '../bench/schema.js';
import { checkModelName, loadBenchModel } from './bench-models.js';
import type { Command } from './main.js';
import { intOption, parse } from './load.js';

const OPTIONS = {
  models: { type: 'string' },
  format: { type: 'string' },
  'kv-format': { type: 'string' },
  'prefill-chunk': { type: 'string' },
  scenarios: { type: 'string' },
  quick: { type: 'boolean' },
  full: { type: 'boolean' },
  'prefill-lengths': { type: 'string' },
  'decode-contexts': { type: 'string' },
  'decode-tokens': { type: 'string' },
  'gdn-tokens': { type: 'string' },
  'profile-steps': { type: 'string' },
  warmup: { type: 'string' },
  reps: { type: 'string' },
  'probe-mib': { type: 'string' },
  seed: { type: 'string' },
  out: { type: 'string' },
  compare: { type: 'string', multiple: true },
  baseline: { type: 'string' },
  'compare-formats': { type: 'string' },
  'compare-subgroups': { type: 'boolean' },
  'compare-waits': { type: 'boolean' },
  'compare-prefill-chunks': { type: 'string' },
  'int8-activations': { type: 'boolean' },
  'compare-int8-activations': { type: 'boolean' },
} as const;

type Values = ReturnType<typeof parse<typeof OPTIONS>>;

const HARDWARE_MODELS = ['tiny', '0.8B', '2B'];
const SOFTWARE_MODELS = ['tiny'];

const list = (v: string | undefined): string[] | undefined => v?.split(',').map((s) => s.trim()).filter(Boolean);
const ints = (v: string | undefined, name: string): number[] | undefined => list(v)?.map((s) => intOption(s, name)!);

function weightFormat(v: string | undefined, what = '--format'): WeightFormat | undefined {
  if (v !== undefined && !WEIGHT_FORMATS.includes(v as WeightFormat)) throw new InvalidArgumentError(`${what}: unknown weight format "${v}" (expected ${WEIGHT_FORMATS.join(', ')})`);
  return v as WeightFormat | undefined;
}

/** Options from the flags; on a software adapter the quick plan unless --full or explicit lengths (planForAdapter). */
function benchOptions(v: Values, software: boolean): { options: BenchOptions; reduced: boolean } {
  return planForAdapter(
    {
      quick: v.quick ? true : v.full ? false : undefined,
      scenarios: list(v.scenarios) as Scenario[] | undefined,
      prefillLengths: ints(v['prefill-lengths'], 'prefill-lengths'),
      decodeContexts: ints(v['decode-contexts'], 'decode-contexts'),
      decodeTokens: intOption(v['decode-tokens'], 'decode-tokens'),
      gdnTokens: intOption(v['gdn-tokens'], 'gdn-tokens'),
      profileSteps: intOption(v['profile-steps'], 'profile-steps'),
      warmup: intOption(v.warmup, 'warmup'),
      repetitions: intOption(v.reps, 'reps'),
      probeBytes: v['probe-mib'] === undefined ? undefined : intOption(v['probe-mib'], 'probe-mib')! * 2 ** 20,
      seed: intOption(v.seed, 'seed'),
    },
    software,
  );
}

const prefillChunkOption = (v: Values): number | undefined => intOption(v['prefill-chunk'], 'prefill-chunk');

/** `--compare a.json b.json` → `--compare a.json --compare b.json`. */
function expandCompare(args: string[]): string[] {
  const i = args.indexOf('--compare');
  const [a, b] = [args[i + 1], args[i + 2]];
  if (i < 0 || a === undefined || b === undefined || a.startsWith('-') || b.startsWith('-')) return args;
  return [...args.slice(0, i), '--compare', a, '--compare', b, ...args.slice(i + 3)];
}

function writeOutputs(dir: string, files: Record<string, string>, log: (s: string) => void): void {
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  log(`wrote ${Object.keys(files).map((f) => join(dir, f)).join(', ')}`);
}

/** A result file given to `flag` (--compare, --baseline). */
function readResult(file: string, flag = '--compare'): BenchResult {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new InvalidArgumentError(`${flag}: cannot read ${file} as JSON (${(e as Error).message})`);
  }
  const schema = (json as { schema?: unknown } | null)?.schema;
  if (schema !== BENCH_SCHEMA) throw new InvalidArgumentError(`${flag}: ${file} is not a ${BENCH_SCHEMA} result (schema ${JSON.stringify(schema)})`);
  return json as BenchResult;
}

/** compare.json + compare.md, or compare-<model>.* for one of several interleaved models. */
function compareOutputs(c: CompareResult, model?: string): Record<string, string> {
  const base = model === undefined ? 'compare' : `compare-${model.replace(/[^\w.-]+/g, '_')}`;
  return { [`${base}.json`]: JSON.stringify(c, null, 2) + '\n', [`${base}.md`]: compareMarkdown(c) };
}

/** This run (B) against a previous result (A): printed, and compare.json/.md for --out. */
function againstBaseline(baseline: BenchResult, file: string, result: BenchResult, log: (s: string) => void): Record<string, string> {
  const [was, now] = [baseline.environment.adapter.description, result.environment.adapter.description];
  if (was !== now) log(`WARNING: --baseline ${file} was measured on ${was}; this run on ${now}: the ratios compare machines, not only the change`);
  const c = compareResults(baseline, result, { a: file, b: 'this run' });
  if (c.rows.length === 0) log(`WARNING: --baseline ${file} has no figure in common with this run (other models, formats or plan)`);
  process.stdout.write('\n' + compareMarkdown(c));
  return compareOutputs(c);
}

interface Context {
  v: Values;
  gpu: GpuContext;
  p: RunParameters;
  models: string[];
  log: (s: string) => void;
  progress: BenchProgress;
}

/** The flags that compare two configurations of each model in one process. */
const INTERLEAVED = ['compare-formats', 'compare-subgroups', 'compare-waits', 'compare-prefill-chunks', 'compare-int8-activations'] as const;
const comparisons = (v: Values) => INTERLEAVED.filter((f) => v[f] !== undefined && v[f] !== false);
const interleaved = (v: Values): boolean => comparisons(v).length > 0;

/** What B differs in from A: the weight formats, the device (subgroups off), the host's GPU waits, the tokens per prefill call or int8 activations. */
interface Variants {
  labels: [string, string];
  formats: [WeightFormat, WeightFormat];
  gpuB: GpuContext;
  waits?: [GpuWaitMode, GpuWaitMode];
  prefillChunks?: [number, number];
  int8Activations?: [boolean, boolean];
}

async function variantsFor(v: Values, gpu: GpuContext): Promise<Variants> {
  const chosen = comparisons(v);
  if (chosen.length > 1) throw new InvalidArgumentError(`compare one thing at a time: ${chosen.map((f) => `--${f}`).join(' and ')} given together`);
  const formats = list(v['compare-formats']);
  if (formats) {
    if (formats.length !== 2) throw new InvalidArgumentError(`--compare-formats takes two formats, e.g. q4,q8 (got "${v['compare-formats']}")`);
    const f = [weightFormat(formats[0], '--compare-formats')!, weightFormat(formats[1], '--compare-formats')!] as [WeightFormat, WeightFormat];
    return { labels: f, formats: f, gpuB: gpu };
  }
  const f = weightFormat(v.format) ?? 'q4';
  const chunks = ints(v['compare-prefill-chunks'], 'compare-prefill-chunks');
  if (chunks) {
    if (chunks.length !== 2) throw new InvalidArgumentError(`--compare-prefill-chunks takes two chunk sizes, e.g. 128,512 (got "${v['compare-prefill-chunks']}")`);
    const c = chunks as [number, number];
    return { labels: [`prefill chunk ${c[0]}`, `prefill chunk ${c[1]}`], formats: [f, f], gpuB: gpu, prefillChunks: c };
  }
  if (v['compare-int8-activations']) {
    if (f !== 'q4') throw new InvalidArgumentError(`--compare-int8-activations: int8 activations apply to q4 weights only, got --format ${f}`);
    return { labels: ['f32 activations', 'int8 activations'], formats: [f, f], gpuB: gpu, int8Activations: [false, true] };
  }
  if (v['compare-waits']) return { labels: ['paced waits', 'polled waits'], formats: [f, f], gpuB: gpu, waits: ['paced', 'polled'] };
  if (!gpu.features.subgroups) throw new InvalidArgumentError('--compare-subgroups: this adapter has no subgroups, so there is nothing to compare');
  return { labels: ['subgroups on', 'subgroups off'], formats: [f, f], gpuB: await acquireGpu({ disable: ['subgroups'] }) };
}

/** --compare-formats A,B, --compare-subgroups or --compare-waits: two configurations of each model, interleaved. */
async function runInterleaved(c: Context): Promise<CompareResult[]> {
  const { v, gpu, p } = c;
  const results: CompareResult[] = [];
  const variants = await variantsFor(v, gpu);
  const { labels, formats, gpuB, waits, prefillChunks, int8Activations } = variants;
  const chunk = prefillChunkOption(v);
  try {
    for (const name of c.models) {
      const common = { kvFormat: v['kv-format'] as 'f16' | 'f32' | undefined, context: requiredContext(p), log: c.log };
      const variant = (i: 0 | 1) => ({
        weightFormat: formats[i],
        ...(waits ? { gpuWaits: waits[i] } : {}),
        prefillChunk: prefillChunks?.[i] ?? chunk,
        int8Activations: int8Activations?.[i] ?? v['int8-activations'],
      });
      const a = await loadBenchModel(name, { ...common, gpu, ...variant(0) });
      try {
        const b = await loadBenchModel(name, { ...common, gpu: gpuB, ...variant(1) });
        try {
          results.push(await compareInterleaved({ label: `${name} ${labels[0]}`, model: a }, { label: `${name} ${labels[1]}`, model: b }, p, describeEnvironment(gpu), { onProgress: c.progress }));
        } finally {
          b.dispose();
        }
      } finally {
        a.dispose();
      }
    }
  } finally {
    if (gpuB !== gpu) gpuB.destroy();
  }
  return results;
}

/** Runs the adapter benchmarks, then each model; `save` gets the result so far after each step (a late failure keeps the rest). */
async function runBench(c: Context, save: (partial: BenchResult) => void): Promise<BenchResult> {
  const { v, gpu, p } = c;
  const format = weightFormat(v.format);
  const ctx = createKernelContext(gpu);
  let adapter;
  try {
    adapter = await benchAdapter(ctx, p, [format ?? 'q4'], { onProgress: c.progress });
  } finally {
    ctx.allocator.dispose();
  }
  if (adapter.bandwidth) c.log(`bandwidth probe: ${adapter.bandwidth.gbps.toFixed(2)} GB/s`);
  const models: ModelResult[] = [];
  save(newResult(gpu, p, adapter, models));
  for (const name of c.models) {
    const model = await loadBenchModel(name, {
      gpu,
      weightFormat: format ?? 'q4',
      kvFormat: v['kv-format'] as 'f16' | 'f32' | undefined,
      prefillChunk: prefillChunkOption(v),
      int8Activations: v['int8-activations'],
      context: requiredContext(p),
      log: c.log,
    });
    try {
      models.push(await benchModel(model, p, adapter.bandwidth?.gbps, name, { onProgress: c.progress }));
    } finally {
      model.dispose();
    }
    save(newResult(gpu, p, adapter, models));
  }
  return newResult(gpu, p, adapter, models);
}

export const command: Command = {
  summary: 'Benchmark prefill/decode speed, time to first token, kernels and memory bandwidth (JSON, Markdown, SVG).',
  usage: `qwen35 bench [options]
  --models <list>            tiny, tiny-moe, tiny-next, presets (0.8B, 2B, …; generated under models/ on first use),
                             or checkpoint folders/URLs/hub ids (default tiny,0.8B,2B; on a software adapter: tiny)
  --format <f>               weight format: ${WEIGHT_FORMATS.join(', ')} (default q4; a converted checkpoint: its own)
  --kv-format <f16|f32>      KV cache format (default f16)
  --prefill-chunk <n>        tokens per prefill call (default: the runtime's)
  --int8-activations         q4 decode matvecs with x quantized to int8 (experimental session option)
  --scenarios <list>         any of ${SCENARIOS.join(', ')} (default all)
  --quick                    short plan: prompts 32/128, decode 16 steps after 0/128, 3 runs (tiny model only by default)
  --full                     the full plan even on a software adapter (there the default is --quick: hours otherwise)
  --prefill-lengths <list>   prompt lengths (default 128,512,2048)
  --decode-contexts <list>   cached tokens before decoding (default 0,1024,4096)
  --decode-tokens <n>        timed decode steps per run (default 128)
  --gdn-tokens <n>           prompt of the chunked vs sequential DeltaNet comparison (default 512)
  --profile-steps <n>        decode steps profiled per kernel (default 16)
  --warmup <n>, --reps <n>   untimed and timed runs per point (default 1 and 5)
  --probe-mib <n>            bandwidth probe buffer (default 256)
  --seed <n>                 seed of the prompt token ids (default 1)
  --out <dir>                output folder (default bench/out): bench.json, bench.md, *.svg (compare: compare.json/.md)
  --compare <a.json> <b.json>             ratios B/A of two results (no GPU needed)
  --compare-formats <a,b>    run each model in formats a and b interleaved (A B A B …) and print ratios
  --compare-subgroups        the same with subgroups on (A) and off (B)
  --compare-waits            the same with paced (A) and polled (B) host waits for the GPU (Node)
  --compare-prefill-chunks <a,b>  the same with a and b tokens per prefill call
  --compare-int8-activations the same with f32 (A) and int8 (B) activations in the q4 decode matvecs
  --baseline <prev.json>     run as usual, then ratios this run / prev.json (compare.json/.md beside bench.json)`,
  async run(args) {
    const v = parse(expandCompare(args), OPTIONS);
    const out = v.out ?? 'bench/out';
    const log = (s: string): void => void process.stderr.write(`${s}\n`);
    if (v.compare) {
      if (v.compare.length !== 2) throw new InvalidArgumentError(`--compare needs two result files (--compare a.json b.json), got ${v.compare.length}`);
      const [fa, fb] = v.compare as [string, string];
      const c = compareResults(readResult(fa), readResult(fb), { a: fa, b: fb });
      process.stdout.write(compareMarkdown(c));
      writeOutputs(out, compareOutputs(c), log);
      return 0;
    }
    if (v.baseline !== undefined && interleaved(v)) {
      throw new InvalidArgumentError('--baseline compares a normal run with a result file; it cannot be combined with the --compare-* runs of two configurations');
    }
    // Read before measuring: a bad file fails in milliseconds, not after the run.
    const baseline = v.baseline === undefined ? undefined : readResult(v.baseline, '--baseline');
    const gpu = await acquireGpu();
    try {
      const env = describeEnvironment(gpu);
      log(`adapter: ${env.adapter.description}`);
      if (env.warning) log(`WARNING: ${env.warning}`);
      const { options, reduced } = benchOptions(v, env.adapter.isSoftware);
      const models = list(v.models) ?? (env.adapter.isSoftware || options.quick ? SOFTWARE_MODELS : HARDWARE_MODELS);
      models.forEach(checkModelName);
      if (reduced) log('software adapter: running the --quick plan (pass --full for the full plan; expect hours for 0.8B/2B)');
      const p = resolveBenchOptions(options);
      const started = performance.now();
      const progress: BenchProgress = (e) => log(`[${((performance.now() - started) / 1000).toFixed(0).padStart(5)} s] ${e.scenario}: ${e.message}`);
      const context: Context = { v, gpu, p, models, log, progress };
      if (interleaved(v)) {
        const compared = await runInterleaved(context);
        compared.forEach((c, i) => {
          process.stdout.write(compareMarkdown(c) + '\n');
          writeOutputs(out, compareOutputs(c, compared.length > 1 ? models[i] : undefined), log);
        });
        return 0;
      }
      const files = (r: BenchResult) => ({ 'bench.json': JSON.stringify(r, null, 2) + '\n', 'bench.md': benchMarkdown(r), ...benchPlots(r) });
      const result = await runBench(context, (partial) => writeOutputs(out, files(partial), () => undefined));
      process.stdout.write(benchMarkdown(result));
      writeOutputs(out, files(result), log);
      if (baseline) writeOutputs(out, againstBaseline(baseline, v.baseline!, result, log), log);
      log(`done in ${((performance.now() - started) / 1000).toFixed(0)} s`);
      return 0;
    } finally {
      gpu.destroy();
    }
  },
};
