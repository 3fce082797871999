/**
 * The GPU part of the hostile-file fuzz (src/io/fuzz.test.ts does the parsers): a seeded sample
 * of loads that fail half way — weights a format cannot hold (NaN, ±Inf, 1e38 into q4/q8/f16),
 * shards that end early after they were opened, reads that fail (network), cancellation — through
 * both loaders (quantize-on-load and packed). Each must end in a typed error naming what failed,
 * with every GPU buffer released (allocator live bytes 0, and no buffer left on the device, counted
 * by wrapping createBuffer), within a time bound, and no unhandled rejection. Checkpoints the
 * parsers accept but that do not fit their config (layer counts, sizes, a tensor re-shaped for
 * another role, an unencodable weight) go through the whole Qwen35Model.load.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbortedError, ConfigError, DownloadError, ModelFormatError, Qwen35Error } from '../errors.js';
import { acquireGpu, type GpuContext } from '../gpu/device.js';
import { createKernelContext } from '../gpu/kernel.js';
import { convertCheckpoint } from '../io/convert.js';
import type { WeightFormat } from '../io/formats.js';
import { BAD_BF16, expectPreciseError, joinSafetensors, PACKED_MATRIX, pick, splitSafetensors, toJson, utf8, type Files } from '../io/fuzz-cases.js';
import { MemoryCheckpointSource, MemorySink } from '../io/memory-checkpoint.js';
import { openPackedCheckpoint } from '../io/packed-manifest.js';
import type { ByteSource, LoadProgress } from '../io/source.js';
import { openTensorDirectory, type TensorDirectory } from '../io/tensor-directory.js';
import type { Qwen35Config } from '../model/config.js';
import { hybridLayerTypes, toHfConfig } from '../model/presets.js';
import { Random } from '../model/random.js';
import { writeSyntheticCheckpoint } from '../model/synthetic.js';
import { TINY_CONFIGS, type TinyKind } from '../model/tiny.js';
import { planWeights } from '../model/weight-plan.js';
import { planGpuWeights, resolveWeightFormats } from './gpu-weight-plan.js';
import { destroyGpuWeights, loadGpuWeights, type LoadWeightsOptions } from './gpu-weights.js';
import { loadPackedWeights } from './packed-weights.js';
import { Qwen35Model } from './model.js';
import { countDeviceBuffers, rejectionOf, within, type DeviceBufferCount } from './reliability-fixture.js';

const unhandled: unknown[] = [];
process.on('unhandledRejection', (reason) => unhandled.push(reason));

/**
 * Bound on one load attempt. These tiny loads take ≤ 0.1 s each on SwiftShader; 30 s is far
 * beyond a loaded 2-core machine's worst, so only a hang (a wait that never settles) trips it.
 */
const LOAD_MS = 30_000;

let gpu: GpuContext;
let buffers: DeviceBufferCount;
beforeAll(async () => {
  gpu = await acquireGpu();
  buffers = countDeviceBuffers(gpu);
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

/** The directory with shard reads changed by `wrap` (a shard cut short, a failing read). */
function withReads(dir: TensorDirectory, wrap: (file: ByteSource) => ByteSource): TensorDirectory {
  return { ...dir, files: new Map([...dir.files].map(([name, file]) => [name, wrap(file)])) };
}

type Loader = (dir: TensorDirectory, options: LoadWeightsOptions) => Promise<Outcome>;

describe('fuzz: GPU loads failing half way release everything', () => {
  it('a seeded sample of 48 failing loads (quantize-on-load and packed): typed error, allocator live bytes 0, no buffer left on the device', async () => {
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
      // Quantize-on-load packs on this thread or in one worker (the tiny model is below the default pool size).
      let quantizeThreads = 0;
      const loaders: [string, TensorDirectory, (format: WeightFormat) => Loader][] = [
        ['quantize-on-load', dir, (format) => (d, o) => runLoad((ctx) => loadGpuWeights(ctx, planGpuWeights(config, resolveWeightFormats(format), 2 ** 14), recipes, d, { ...o, quantizeThreads }))],
        ['packed', packed.dir, () => (d, o) => runLoad((ctx) => loadPackedWeights(ctx, planGpuWeights(config, packed.formats, 2 ** 14), { ...packed, dir: d }, o))],
      ];
      for (let i = 0; i < 16; i++) {
        const [loaderName, baseDir, loaderFor] = pick(rnd, loaders);
        const failure = rnd.int(loaderName === 'packed' ? 3 : 4);
        const format = pick(rnd, ['q4', 'q8', 'f16'] as const);
        quantizeThreads = i % 2;
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
          what = `${label} at element ${element} of ${name}, loaded as ${format} (${quantizeThreads} workers)`;
          const bad = await openTensorDirectory(new MemoryCheckpointSource(new Map(files).set(entry.file, shard)));
          result = await runLoad((ctx) => loadGpuWeights(ctx, planGpuWeights(config, resolveWeightFormats(format), 2 ** 14), recipes, bad, { quantizeThreads }));
          expectPreciseError(result.error, ModelFormatError, unencodableMessage(name, entry.info.shape, element, label, format), what);
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

/** A checkpoint the parsers accept whose config, shapes or values do not fit it, and what its load must say. */
interface WrongCase {
  what: string;
  files: Files;
  error: RegExp;
  type?: typeof ConfigError;
  format: WeightFormat;
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const MISMATCH = '^in-memory checkpoint: checkpoint does not match config\\.json: ';

/** config.json rewritten (a valid config) so that it no longer describes the checkpoint's tensors. */
function configCases(config: Qwen35Config, files: Files): Omit<WrongCase, 'format'>[] {
  const n = config.numLayers;
  const firstLinear = config.layerTypes.indexOf('linear_attention');
  const firstAttention = config.layerTypes.indexOf('full_attention');
  const mlp = config.moe ? { moe: { ...config.moe, moeIntermediateSize: config.moe.moeIntermediateSize + 16 } } : { intermediateSize: config.intermediateSize + 32 };
  /** `count` ≥ n layers: the checkpoint's, then more like its last. */
  const layers = (count: number): Partial<Qwen35Config> => ({
    numLayers: count,
    layerTypes: hybridLayerTypes(count),
    mlpTypes: [...config.mlpTypes, ...Array<Qwen35Config['mlpTypes'][number]>(count - n).fill(config.mlpTypes[n - 1]!)],
  });
  const cases: [string, Partial<Qwen35Config>, string][] = [
    [`${n - 1} layers`, { numLayers: n - 1, layerTypes: config.layerTypes.slice(0, -1), mlpTypes: config.mlpTypes.slice(0, -1) }, `unknown tensors \\(not part of this architecture\\): .*layers\\.${n - 1}\\.`],
    [`${n + 1} layers`, layers(n + 1), `missing tensors: .*layers\\.${n}\\.`],
    ['1,024 layers (the most config.json allows)', layers(1024), `missing tensors: .*layers\\.${n}\\.`],
    [`layer ${firstLinear} as attention`, { layerTypes: config.layerTypes.map((t, i) => (i === firstLinear ? 'full_attention' : t)) }, `missing tensors: .*layers\\.${firstLinear}\\.self_attn\\.`],
    ['twice the hidden size', { hiddenSize: 2 * config.hiddenSize }, 'wrong tensors: .*embed_tokens\\.weight: shape '],
    ['one more vocabulary entry', { vocabSize: config.vocabSize + 1 }, 'wrong tensors: .*embed_tokens\\.weight: shape '],
    ['one key/value head', { numKeyValueHeads: 1 }, `wrong tensors: .*layers\\.${firstAttention}\\.self_attn\\.k_proj\\.weight: shape `],
    ['a wider MLP', mlp, 'wrong tensors: .*\\.mlp\\.'],
    ['an MLP of 2^20', config.moe ? { moe: { ...config.moe, moeIntermediateSize: 2 ** 20 } } : { intermediateSize: 2 ** 20 }, 'wrong tensors: .*\\.mlp\\.'],
  ];
  if (config.tieWordEmbeddings) cases.push(['untied embeddings without lm_head', { tieWordEmbeddings: false }, 'missing tensors: lm_head\\.weight']);
  const write = (change: Partial<Qwen35Config>): Files => new Map(files).set('config.json', utf8(JSON.stringify(toHfConfig({ ...config, ...change }))));
  return [
    ...cases.map(([what, change, error]) => ({ what: `config.json with ${what}`, files: write(change), error: new RegExp(MISMATCH + error) })),
    {
      what: 'config.json with a million layers',
      files: write(layers(10 ** 6)),
      error: /^config\.json: (text_config\.)?num_hidden_layers must be an integer in \[1, 1024\], found 1000000$/,
      type: ConfigError,
    },
  ];
}

/** A 2-D tensor stored with its dimensions swapped or flattened: the same bytes, a valid header, the wrong shape for its role. */
function reshapedCase(rnd: Random, dir: TensorDirectory, files: Files): Omit<WrongCase, 'format'> {
  const isNonSquare = (shape: number[]): boolean => shape.length === 2 && shape[0] !== shape[1];
  const name = pick(rnd, [...dir.tensors.keys()].filter((k) => isNonSquare(dir.tensors.get(k)!.info.shape)));
  const { file, info } = dir.tensors.get(name)!;
  const { header, data } = splitSafetensors(files.get(file)!);
  const shape = rnd.next() < 0.5 ? [info.shape[1]!, info.shape[0]!] : [info.shape[0]! * info.shape[1]!];
  (header[name] as { shape: number[] }).shape = shape;
  return {
    what: `${name} stored as [${shape.join(', ')}]`,
    files: new Map(files).set(file, joinSafetensors(toJson(header), data)),
    error: new RegExp(`${MISMATCH}wrong tensors: .*${escape(name)}: shape `),
  };
}

/** One weight of a packed matrix set to a value the format cannot hold (the loader names the tensor, row and column). */
function unencodableCase(rnd: Random, dir: TensorDirectory, files: Files, format: WeightFormat): Omit<WrongCase, 'format'> {
  const name = pick(rnd, [...dir.tensors.keys()].filter((n) => PACKED_MATRIX.test(n)));
  const { file, info } = dir.tensors.get(name)!;
  const [label, bits] = pick(rnd, BAD_BF16);
  const shard = files.get(file)!.slice();
  const element = rnd.int(info.byteLength / 2);
  new DataView(shard.buffer).setUint16(info.offset + 2 * element, bits, true);
  return { what: `${label} at element ${element} of ${name}`, files: new Map(files).set(file, shard), error: unencodableMessage(name, info.shape, element, label, format) };
}

/** The loader's refusal of an unencodable weight: the checkpoint tensor, its row and column, the fused matrix row, the value. */
function unencodableMessage(tensor: string, shape: number[], element: number, label: string, format: WeightFormat): RegExp {
  const cols = shape[shape.length - 1]!;
  const value = label === '1e38' ? '\\d\\.\\d+e\\+37' : label;
  return new RegExp(
    `^in-memory checkpoint: tensor "${escape(tensor)}" row ${Math.floor(element / cols)} \\(for [\\w.]+ row \\d+\\), column ${element % cols} holds ${value}, which ${format} cannot`,
  );
}

describe('fuzz: checkpoints the parsers accept but that do not fit their config, through Qwen35Model.load', () => {
  it('config mismatches, re-shaped tensors and unencodable weights (dense, MoE, Qwen3-Next): a precise ModelFormatError, no buffer left on the device', async () => {
    const rnd = new Random(2026);
    const counts = { config: 0, reshaped: 0, unencodable: 0 };
    let uploaded = 0;
    for (const kind of ['dense', 'moe', 'next'] as const) {
      const config = TINY_CONFIGS[kind];
      const files = await original(kind);
      const dir = await openTensorDirectory(new MemoryCheckpointSource(files));
      const formats = () => pick(rnd, ['q4', 'q8', 'f16'] as const);
      const cases: WrongCase[] = [
        ...configCases(config, files).map((c) => ({ ...c, format: formats() })),
        ...Array.from({ length: 6 }, () => ({ ...reshapedCase(rnd, dir, files), format: formats() })),
        ...Array.from({ length: 8 }, () => {
          const format = formats();
          return { ...unencodableCase(rnd, dir, files, format), format };
        }),
      ];
      for (const c of cases) {
        const what = `${kind}: ${c.what}, as ${c.format}`;
        const before = buffers.liveBuffers();
        const created = buffers.created();
        const error = await rejectionOf(within(LOAD_MS, what, Qwen35Model.load(new MemoryCheckpointSource(c.files), { gpu, maxContext: 32, weightFormat: c.format })));
        expectPreciseError(error, c.type ?? ModelFormatError, c.error, what);
        expect(buffers.liveBuffers(), `${what}: device buffers`).toBe(before);
        const group = c.what.startsWith('config.json') ? 'config' : c.what.includes(' stored as ') ? 'reshaped' : 'unencodable';
        counts[group]++;
        // Mismatches are found before the session allocates; an unencodable weight fails half way through the upload.
        if (group === 'unencodable') uploaded += Number(buffers.created() > created);
        else expect(buffers.created(), `${what}: buffers created`).toBe(created);
      }
    }
    console.log(`GPU fuzz, whole loads: ${counts.config} config mismatches, ${counts.reshaped} re-shaped tensors, ${counts.unencodable} unencodable weights (${uploaded} failed during the upload), none left a buffer`);
    expect(uploaded).toBe(counts.unencodable);
  });
});

interface Outcome {
  error: unknown;
  live: number;
  peak: number;
}

/**
 * Runs a load on a fresh allocator, bounded by LOAD_MS; a load that unexpectedly succeeds is
 * freed and reported as no error. After the allocator is disposed the device must hold no more
 * buffers than before (a buffer made outside the allocator would stay).
 */
async function runLoad(load: (ctx: ReturnType<typeof createKernelContext>) => Promise<Parameters<typeof destroyGpuWeights>[1]>): Promise<Outcome> {
  const before = buffers.liveBuffers();
  const ctx = createKernelContext(gpu);
  let outcome: Outcome;
  try {
    const error = await within(LOAD_MS, 'a GPU load', load(ctx)).then(
      (w) => (destroyGpuWeights(ctx, w), undefined),
      (e: unknown) => e,
    );
    if (error !== undefined && !(error instanceof Qwen35Error)) throw error;
    const report = ctx.allocator.report();
    outcome = { error, live: report.liveTotal, peak: report.peakTotal };
  } finally {
    ctx.allocator.dispose();
  }
  expect(buffers.liveBuffers(), 'device buffers after the load').toBe(before);
  return outcome;
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
