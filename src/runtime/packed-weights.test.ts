/**
 * Packed checkpoints (`qwen35 convert`) on the GPU. Tolerance 0 throughout: a converted
 * checkpoint must put exactly the bytes on the GPU that quantize-on-load of the original puts
 * there (loadGpuWeights, read back buffer by buffer; packed on 2 worker threads and on this
 * thread, also identical), also when the device splits matrices into
 * parts at other rows than the file (odd part sizes, 3 and 5 scale groups per row: scale offsets
 * that are not multiples of 4 in the file). Then the same logits through Qwen35Model.load, and
 * nothing left allocated when a load fails.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbortedError, DownloadError, InvalidArgumentError } from '../errors.js';
import { acquireGpu, type GpuContext } from '../gpu/device.js';
import { createKernelContext, readBuffer, type KernelContext } from '../gpu/kernel.js';
import { convertCheckpoint } from '../io/convert.js';
import type { WeightFormat } from '../io/formats.js';
import { MemoryCheckpointSource, MemorySink } from '../io/memory-checkpoint.js';
import { openPackedCheckpoint, type PackedCheckpoint } from '../io/packed-manifest.js';
import type { ByteSource } from '../io/source.js';
import { openTensorDirectory } from '../io/tensor-directory.js';
import type { GpuMatrix } from '../kernels/matrix.js';
import type { Qwen35Config } from '../model/config.js';
import { hybridLayerTypes } from '../model/presets.js';
import { writeSyntheticCheckpoint } from '../model/synthetic.js';
import { TINY_CONFIGS } from '../model/tiny.js';
import { planWeights } from '../model/weight-plan.js';
import { planGpuWeights, resolveWeightFormats, type WeightPlan } from './gpu-weight-plan.js';
import { loadGpuWeights, type GpuWeights } from './gpu-weights.js';
import { Qwen35Model } from './model.js';
import { loadPackedWeights } from './packed-weights.js';

type Files = Map<string, Uint8Array>;

/** hidden 96 and intermediate 160: 3 and 5 groups of 32 per row, so a row's scales are 6 or 10 bytes. */
const ODD: Qwen35Config = {
  ...TINY_CONFIGS.dense,
  hiddenSize: 96,
  intermediateSize: 160,
  numLayers: 4,
  layerTypes: hybridLayerTypes(4),
  mlpTypes: Array(4).fill('dense'),
};

async function original(config: Qwen35Config): Promise<Files> {
  const sink = new MemorySink();
  await writeSyntheticCheckpoint(config, { seed: 5, maxShardBytes: 256 * 1024 }, (f, c) => sink.write(f, c));
  return sink.files();
}

async function converted(files: Files, format: WeightFormat): Promise<Files> {
  const sink = new MemorySink();
  await convertCheckpoint(new MemoryCheckpointSource(files), sink, { weightFormat: format, maxShardBytes: 128 * 1024 });
  return sink.files();
}

const isMatrix = (v: unknown): v is GpuMatrix => typeof v === 'object' && v !== null && 'parts' in v && 'format' in v;
const isBuffer = (v: unknown): v is GPUBuffer => typeof v === 'object' && v !== null && typeof (v as GPUBuffer).mapAsync === 'function';

/** Every weight buffer by label ("layers.3.attn.qkv[171..].scales", "finalNorm", ...). */
function buffersOf(w: GpuWeights): Map<string, GPUBuffer> {
  const out = new Map<string, GPUBuffer>();
  const visit = (v: unknown): void => {
    if (isMatrix(v)) {
      for (const p of v.parts) for (const b of [p.data, p.scales]) if (b) out.set(b.label, b);
    } else if (isBuffer(v)) out.set(v.label, v);
    else if (typeof v === 'object' && v !== null) Object.values(v).forEach(visit);
  };
  visit(w);
  return out;
}

async function expectSameBuffers(ctx: KernelContext, got: GpuWeights, want: GpuWeights): Promise<number> {
  const a = buffersOf(got);
  const b = buffersOf(want);
  expect([...a.keys()].sort()).toEqual([...b.keys()].sort());
  for (const [label, buffer] of b) {
    const x = new Uint8Array(await readBuffer(ctx, a.get(label)!));
    const y = new Uint8Array(await readBuffer(ctx, buffer));
    expect(Buffer.compare(x, y), label).toBe(0);
  }
  return b.size;
}

let gpu: GpuContext;
beforeAll(async () => {
  gpu = await acquireGpu();
});
afterAll(() => gpu?.destroy());

const cases: [string, Qwen35Config, WeightFormat, number][] = [
  // [name, config, format, binding limit forcing parts]
  ['tiny dense', TINY_CONFIGS.dense, 'q4', 64 * 171],
  ['tiny dense', TINY_CONFIGS.dense, 'q8', 128 * 101],
  ['tiny MoE', TINY_CONFIGS.moe, 'q4', 32 * 128 + 64],
  ['tiny MoE', TINY_CONFIGS.moe, 'q8', 64 * 128 + 64],
  ['odd groups', ODD, 'q4', 48 * 171],
  ['odd groups', ODD, 'q8', 96 * 85],
  ['odd groups', ODD, 'bf16', 192 * 85],
];

describe('loadPackedWeights', () => {
  for (const [name, config, format, maxBinding] of cases) {
    it(`${name} ${format}: GPU buffers byte-identical to quantize-on-load (workers and this thread), re-split at other rows than the file`, async () => {
      const orig = await original(config);
      const packed = await openPackedCheckpoint(new MemoryCheckpointSource(await converted(orig, format)), config);
      const plan = planGpuWeights(config, resolveWeightFormats(format), maxBinding);
      const split = plan.matrices.filter((m) => m.parts.length > 1);
      expect(split.length, 'matrices split into parts').toBeGreaterThan(0);
      expect(split.some((m) => m.parts.some((p) => p.rowStart % 2 === 1 || p.rows % 2 === 1)), 'odd part boundaries').toBe(config !== TINY_CONFIGS.moe);
      const ctx = createKernelContext(gpu);
      try {
        const dir = await openTensorDirectory(new MemoryCheckpointSource(orig));
        const want = await loadGpuWeights(ctx, plan, planWeights(config, dir), dir, { quantizeThreads: 2 });
        const onThisThread = await loadGpuWeights(ctx, plan, planWeights(config, dir), dir, { quantizeThreads: 0 });
        const got = await loadPackedWeights(ctx, plan, packed);
        await expectSameBuffers(ctx, onThisThread, want);
        const compared = await expectSameBuffers(ctx, got, want);
        expect(compared).toBeGreaterThan(plan.matrices.length + plan.vectors.length);
      } finally {
        ctx.allocator.dispose();
      }
    });
  }
});

describe('failed packed loads release every GPU buffer', () => {
  let packed: PackedCheckpoint;
  let plan: WeightPlan;
  beforeAll(async () => {
    packed = await openPackedCheckpoint(new MemoryCheckpointSource(await converted(await original(TINY_CONFIGS.moe), 'q4')), TINY_CONFIGS.moe);
    plan = planGpuWeights(TINY_CONFIGS.moe, packed.formats, 2 ** 14);
  });

  /** Runs a failing load on a fresh allocator; returns the error and the live bytes left. */
  async function failingLoad(run: (ctx: KernelContext) => Promise<unknown>): Promise<{ error: unknown; live: number; peak: number }> {
    const ctx = createKernelContext(gpu);
    try {
      const error = await run(ctx).then(
        () => undefined,
        (e: unknown) => e,
      );
      const report = ctx.allocator.report();
      return { error, live: report.liveTotal, peak: report.peakTotal };
    } finally {
      ctx.allocator.dispose();
    }
  }

  it('cancelled half way: AbortedError, allocator live bytes 0', async () => {
    const controller = new AbortController();
    let calls = 0;
    const r = await failingLoad((ctx) => loadPackedWeights(ctx, plan, packed, { signal: controller.signal, onProgress: () => void (++calls === 30 && controller.abort()) }));
    expect(r.error).toBeInstanceOf(AbortedError);
    expect(r.peak).toBeGreaterThan(0);
    expect(r.live).toBe(0);
  });

  it('a read failing half way (network): the read error, allocator live bytes 0', async () => {
    let reads = 0;
    const files = new Map([...packed.dir.files].map(([name, file]): [string, ByteSource] => [
      name,
      { name, size: () => file.size(), read: async (o, n, s) => (++reads === 25 ? Promise.reject(new DownloadError(`${name}: connection reset`)) : file.read(o, n, s)) },
    ]));
    const r = await failingLoad((ctx) => loadPackedWeights(ctx, plan, { ...packed, dir: { ...packed.dir, files } }));
    expect(r.error).toBeInstanceOf(DownloadError);
    expect((r.error as Error).message).toMatch(/connection reset/);
    expect(r.peak).toBeGreaterThan(0);
    expect(r.live).toBe(0);
  });

  it('a plan for other formats is refused before anything is allocated', async () => {
    const other = planGpuWeights(TINY_CONFIGS.moe, resolveWeightFormats('q8'), 2 ** 14);
    const r = await failingLoad((ctx) => loadPackedWeights(ctx, other, packed));
    expect(r.error).toBeInstanceOf(InvalidArgumentError);
    expect((r.error as Error).message).toMatch(/the weight plan does not match its qwen35-packed\.json/);
    expect(r.peak).toBe(0);
  });
});

describe('Qwen35Model.load of a converted checkpoint', () => {
  it('gives the same logits as quantize-on-load of the original; a different requested format is refused', async () => {
    const orig = await original(TINY_CONFIGS.dense);
    const packedSource = new MemoryCheckpointSource(await converted(orig, 'q4'), 'converted');
    await expect(Qwen35Model.load(packedSource, { gpu, weightFormat: 'q8' })).rejects.toThrow(
      /converted is pre-quantized by qwen35 convert \(embedding q4, .*\) and loads only in those formats, but embedding q8/,
    );
    const options = { gpu, kvFormat: 'f32' as const, maxContext: 64, prefillChunk: 16 };
    const prompt = Array.from({ length: 21 }, (_, i) => (i * 29 + 3) % 500);
    const logits: Float32Array[] = [];
    for (const [source, weightFormat] of [[new MemoryCheckpointSource(orig), 'q4'], [packedSource, undefined]] as const) {
      const model = await Qwen35Model.load(source, { ...options, ...(weightFormat ? { weightFormat } : {}) });
      try {
        model.session.setSampling({ temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1, seed: 0 });
        await model.session.readToken(await model.session.prefill(prompt, 0));
        logits.push(await model.session.readLogits());
        expect(model.session.weightPlan.matrices.every((m) => m.format === (m.group === 'router' ? 'f32' : 'q4'))).toBe(true);
      } finally {
        model.dispose();
      }
    }
    expect(logits[1]!.every((v) => Number.isFinite(v))).toBe(true);
    expect(Buffer.compare(Buffer.from(logits[1]!.buffer), Buffer.from(logits[0]!.buffer))).toBe(0);
  });
});
