/**
 * The GPU part of the hostile-file fuzz (src/io/fuzz.test.ts does the parsers): a seeded sample
 * of loads that fail half way — weights a format cannot hold (NaN, ±Inf, 1e38 into q4/q8/f16),
 * shards that end early after they were opened, reads that fail (network), cancellation — through
 * both loaders (quantize-on-load and packed). Each must end in a typed error naming what failed,
 * with every GPU buffer released (allocator live bytes 0), and no unhandled rejection.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbortedError, DownloadError, ModelFormatError, Qwen35Error } from '../errors.js';
import { acquireGpu, type GpuContext } from '../gpu/device.js';
import { createKernelContext } from '../gpu/kernel.js';
import { convertCheckpoint } from '../io/convert.js';
import type { WeightFormat } from '../io/formats.js';
import { expectPreciseError, pick, type Files } from '../io/fuzz-cases.js';
import { MemoryCheckpointSource, MemorySink } from '../io/memory-checkpoint.js';
import { openPackedCheckpoint } from '../io/packed-manifest.js';
import type { ByteSource, LoadProgress } from '../io/source.js';
import { openTensorDirectory, type TensorDirectory } from '../io/tensor-directory.js';
import { Random } from '../model/random.js';
import { writeSyntheticCheckpoint } from '../model/synthetic.js';
import { TINY_CONFIGS, type TinyKind } from '../model/tiny.js';
import { planWeights } from '../model/weight-plan.js';
import { planGpuWeights, resolveWeightFormats } from './gpu-weight-plan.js';
import { destroyGpuWeights, loadGpuWeights, type LoadWeightsOptions } from './gpu-weights.js';
import { loadPackedWeights } from './packed-weights.js';

const unhandled: unknown[] = [];
process.on('unhandledRejection', (reason) => unhandled.push(reason));

let gpu: GpuContext;
beforeAll(async () => {
  gpu = await acquireGpu();
});
afterAll(() => {
  gpu?.destroy();
  expect(unhandled).toEqual([]);
});

async function original(kind: TinyKind): Promise<Files> {
  const sink = new MemorySink();
  await writeSyntheticCheckpoint(TINY_CONFIGS[kind], { seed: 9, maxShardBytes: 128 * 1024 }, (f, c) => sink.write(f, c));
  return sink.files();
}

/** bf16 bit patterns a checkpoint may hold and a format may not: NaN, +Inf, −Inf, 1e38. */
const BAD_BF16: [string, number][] = [
  ['NaN', 0x7fc0],
  ['Infinity', 0x7f80],
  ['-Infinity', 0xff80],
  ['1e38', 0x7e96],
];
/** Checkpoint matrices that are packed (the f32 routers are not). */
const PACKED_MATRIX = /(proj\.weight|embed_tokens\.weight|lm_head\.weight|experts\.(gate_up|down)_proj)$/;

/** The directory with shard reads changed by `wrap` (a shard cut short, a failing read). */
function withReads(dir: TensorDirectory, wrap: (file: ByteSource) => ByteSource): TensorDirectory {
  return { ...dir, files: new Map([...dir.files].map(([name, file]) => [name, wrap(file)])) };
}

type Loader = (dir: TensorDirectory, options: LoadWeightsOptions) => Promise<Outcome>;

describe('fuzz: GPU loads failing half way release everything', () => {
  it('a seeded sample of 48 failing loads (quantize-on-load and packed): typed error, allocator live bytes 0', async () => {
    const rnd = new Random(48);
    const counts = { cases: 0, peakBytes: 0, byFailure: [0, 0, 0, 0] };
    for (const kind of ['dense', 'moe', 'next'] as const) {
      const config = TINY_CONFIGS[kind];
      const files = await original(kind);
      const packedFiles = new MemorySink();
      await convertCheckpoint(new MemoryCheckpointSource(files), packedFiles, { weightFormat: 'q8', maxShardBytes: 96 * 1024 });
      const packed = await openPackedCheckpoint(new MemoryCheckpointSource(packedFiles.files()), config);
      const dir = await openTensorDirectory(new MemoryCheckpointSource(files));
      const recipes = planWeights(config, dir);
      const loaders: [string, TensorDirectory, (format: WeightFormat) => Loader][] = [
        ['quantize-on-load', dir, (format) => (d, o) => runLoad((ctx) => loadGpuWeights(ctx, planGpuWeights(config, resolveWeightFormats(format), 2 ** 14), recipes, d, o))],
        ['packed', packed.dir, () => (d, o) => runLoad((ctx) => loadPackedWeights(ctx, planGpuWeights(config, packed.formats, 2 ** 14), { ...packed, dir: d }, o))],
      ];
      for (let i = 0; i < 16; i++) {
        const [loaderName, baseDir, loaderFor] = pick(rnd, loaders);
        const failure = rnd.int(loaderName === 'packed' ? 3 : 4);
        const format = pick(rnd, ['q4', 'q8', 'f16'] as const);
        let what: string;
        let result: Outcome;
        if (failure === 0) {
          // A shard ends early (changed after it was opened): reads past the cut fail as FsByteSource's do.
          const victim = pick(rnd, [...baseDir.files.keys()]);
          const cut = baseDir.headers.get(victim)!.dataStart + rnd.int(baseDir.headers.get(victim)!.size - baseDir.headers.get(victim)!.dataStart);
          what = `${loaderName}: ${victim} ends at byte ${cut}`;
          result = await loaderFor(format)(withReads(baseDir, (f) => (f.name === victim ? cutShort(f, cut) : f)), {});
          expectPreciseError(result.error, ModelFormatError, new RegExp(`^${victim}: the file ended at byte`), what);
        } else if (failure === 1) {
          let reads = 0;
          const failAt = 1 + rnd.int(20);
          what = `${loaderName}: read ${failAt} fails`;
          const failing = (f: ByteSource): ByteSource => ({
            name: f.name,
            size: () => f.size(),
            read: (o, n, s) => (++reads === failAt ? Promise.reject(new DownloadError(`${f.name}: connection reset`)) : f.read(o, n, s)),
          });
          result = await loaderFor(format)(withReads(baseDir, failing), {});
          expectPreciseError(result.error, DownloadError, /connection reset/, what);
        } else if (failure === 2) {
          const controller = new AbortController();
          const at = 1 + rnd.int(25);
          let calls = 0;
          what = `${loaderName}: cancelled at progress call ${at}`;
          const onProgress = (_p: LoadProgress) => void (++calls === at && controller.abort());
          result = await loaderFor(format)(baseDir, { signal: controller.signal, onProgress });
          expectPreciseError(result.error, AbortedError, /cancelled/, what);
        } else {
          const names = [...dir.tensors.keys()].filter((n) => PACKED_MATRIX.test(n));
          const name = pick(rnd, names);
          const [label, bits] = pick(rnd, BAD_BF16);
          const entry = dir.tensors.get(name)!;
          const shard = files.get(entry.file)!.slice();
          const element = rnd.int(entry.info.byteLength / 2);
          new DataView(shard.buffer).setUint16(entry.info.offset + 2 * element, bits, true);
          what = `${label} at element ${element} of ${name}, loaded as ${format}`;
          const bad = await openTensorDirectory(new MemoryCheckpointSource(new Map(files).set(entry.file, shard)));
          result = await runLoad((ctx) => loadGpuWeights(ctx, planGpuWeights(config, resolveWeightFormats(format), 2 ** 14), recipes, bad, {}));
          const column = element % entry.info.shape[entry.info.shape.length - 1]!;
          const value = label === '1e38' ? '\\d\\.\\d+e\\+37' : label;
          expectPreciseError(result.error, ModelFormatError, new RegExp(`^[\\w.]+ row \\d+, column ${column} holds ${value}, which ${format} cannot`), what);
        }
        expect(result.live, `${what}: live bytes after the failure`).toBe(0);
        counts.cases++;
        counts.byFailure[failure]!++;
        counts.peakBytes = Math.max(counts.peakBytes, result.peak);
      }
    }
    const [cut, read, abort, values] = counts.byFailure;
    console.log(`GPU fuzz: ${counts.cases} failing loads (${cut} cut shards, ${read} failed reads, ${abort} cancelled, ${values} unencodable weights), largest peak ${counts.peakBytes} bytes, all released`);
    expect(counts.byFailure.every((n) => n >= 5)).toBe(true);
  });
});

interface Outcome {
  error: unknown;
  live: number;
  peak: number;
}

/** Runs a load on a fresh allocator; a load that unexpectedly succeeds is freed and reported as no error. */
async function runLoad(load: (ctx: ReturnType<typeof createKernelContext>) => Promise<Parameters<typeof destroyGpuWeights>[1]>): Promise<Outcome> {
  const ctx = createKernelContext(gpu);
  try {
    const error = await load(ctx).then(
      (w) => (destroyGpuWeights(ctx, w), undefined),
      (e: unknown) => e,
    );
    if (error !== undefined && !(error instanceof Qwen35Error)) throw error;
    const report = ctx.allocator.report();
    return { error, live: report.liveTotal, peak: report.peakTotal };
  } finally {
    ctx.allocator.dispose();
  }
}

/** A file whose bytes end at `cut` although size() still reports the original size. */
function cutShort(file: ByteSource, cut: number): ByteSource {
  return {
    name: file.name,
    size: () => file.size(),
    async read(offset, length, signal) {
      if (offset + length > cut) {
        throw new ModelFormatError(`${file.name}: the file ended at byte ${cut} while reading up to ${offset + length} (it changed or was truncated)`);
      }
      return file.read(offset, length, signal);
    },
  };
}
