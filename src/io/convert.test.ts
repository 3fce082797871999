/**
 * `convertCheckpoint` and packed-checkpoint validation, on the generated tiny checkpoints.
 * Exact checks (tolerance 0): every stored matrix must be byte-identical to packing the
 * canonical tensor (materialize, the reference loader's path) with packMatrix — i.e. to what
 * quantize-on-load uploads — and every vector identical to its f32 values.
 */
import { describe, expect, it } from 'vitest';
import { AbortedError, InvalidArgumentError, ModelFormatError } from '../errors.js';
import type { Qwen35Config } from '../model/config.js';
import { writeSyntheticCheckpoint } from '../model/synthetic.js';
import { TINY_CONFIGS, type TinyKind } from '../model/tiny.js';
import { planWeights } from '../model/weight-plan.js';
import { directoryReader, loadAllWeights, weightEntries, type ModelWeights } from '../model/weights.js';
import { planGpuWeights, resolveWeightFormats } from '../runtime/gpu-weight-plan.js';
import { convertCheckpoint, COPIED_FILES } from './convert.js';
import { paddedCols, QUANT_GROUP, type WeightFormat } from './formats.js';
import { MemoryCheckpointSource, MemorySink } from './memory-checkpoint.js';
import { buildPackedManifest, openPackedCheckpoint, PACKED_MANIFEST, packedMatrixTensors, WHOLE_MATRIX_BYTES } from './packed-manifest.js';
import { packMatrix } from './quantize.js';
import { readSafetensorsHeader, readTensorBytes } from './safetensors.js';
import { writeSafetensors, type TensorData } from './safetensors-writer.js';
import type { LoadProgress } from './source.js';
import { INDEX_FILE, openTensorDirectory } from './tensor-directory.js';

type Files = Map<string, Uint8Array>;
const SHARD = 100 * 1024;

async function original(kind: TinyKind, seed = 1): Promise<Files> {
  const sink = new MemorySink();
  await writeSyntheticCheckpoint(TINY_CONFIGS[kind], { seed, maxShardBytes: 256 * 1024 }, (f, c) => sink.write(f, c));
  return sink.files();
}

async function convert(files: Files, format: WeightFormat): Promise<Files> {
  const sink = new MemorySink();
  await convertCheckpoint(new MemoryCheckpointSource(files), sink, { weightFormat: format, maxShardBytes: SHARD });
  return sink.files();
}

const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
const json = (files: Files, name: string): Record<string, unknown> => JSON.parse(new TextDecoder().decode(files.get(name)));
const encode = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v));

/** Every tensor of the converted folder equals packing the canonical f32 tensors of the original. */
async function expectPackedLikeQuantizeOnLoad(config: Qwen35Config, orig: Files, packed: Files, format: WeightFormat): Promise<void> {
  const dir = await openTensorDirectory(new MemoryCheckpointSource(orig));
  const weights = new Map(weightEntries((await loadAllWeights(planWeights(config, dir), directoryReader(dir))) as ModelWeights<Float32Array>));
  const out = await openTensorDirectory(new MemoryCheckpointSource(packed));
  const stored = async (name: string): Promise<Uint8Array> => {
    const e = out.tensors.get(name);
    expect(e, name).toBeDefined();
    return readTensorBytes(out.files.get(e!.file)!, e!.info);
  };
  const plan = planGpuWeights(config, resolveWeightFormats(format), WHOLE_MATRIX_BYTES);
  for (const m of plan.matrices) {
    const values = new Float32Array(m.rows * m.cols);
    m.sources.reduce((at, s) => (values.set(weights.get(s.path)!, at), at + s.rows * m.cols), 0);
    const want = packMatrix(values, m.rows, m.cols, m.format);
    const t = packedMatrixTensors(m);
    expect(same(await stored(t.data.name), want.data), `${t.data.name} bytes`).toBe(true);
    if (t.scales) expect(same(await stored(t.scales.name), want.scales!.subarray(0, (m.rows * 2 * paddedCols(m.cols)) / QUANT_GROUP)), `${t.scales.name} bytes`).toBe(true);
  }
  for (const v of plan.vectors) {
    const w = weights.get(v.path)!;
    expect(same(await stored(v.key), new Uint8Array(w.buffer, w.byteOffset, w.byteLength)), v.key).toBe(true);
  }
  expect(out.tensors.size).toBe(plan.matrices.reduce((a, m) => a + (m.format === 'q4' || m.format === 'q8' ? 2 : 1), 0) + plan.vectors.length);
}

describe('convertCheckpoint', () => {
  for (const kind of ['dense', 'moe', 'next'] as const) {
    for (const format of ['q4', 'q8', 'bf16'] as const) {
      it(`${kind} → ${format}: every matrix byte-identical to quantize-on-load, files copied, manifest as planned`, async () => {
        const config = TINY_CONFIGS[kind];
        const orig = await original(kind);
        const packed = await convert(orig, format);
        await expectPackedLikeQuantizeOnLoad(config, orig, packed, format);
        for (const name of COPIED_FILES) {
          if (orig.has(name)) expect(same(packed.get(name)!, orig.get(name)!), name).toBe(true);
        }
        const formats = resolveWeightFormats(format);
        const manifest = json(packed, PACKED_MANIFEST);
        expect(manifest).toEqual(JSON.parse(JSON.stringify(buildPackedManifest(planGpuWeights(config, formats, WHOLE_MATRIX_BYTES), formats))));
        expect(Object.keys((json(packed, INDEX_FILE).weight_map as object) ?? {}).length).toBeGreaterThan(0);
        expect([...packed.keys()].filter((f) => f.endsWith('.safetensors')).length).toBeGreaterThan(1);
        const opened = await openPackedCheckpoint(new MemoryCheckpointSource(packed), config);
        expect(opened.formats).toEqual(formats);
      });
    }
  }

  it('q4 is ~3.5× smaller than the bf16 original (4.5 bits per weight: 4-bit codes + an f16 scale per 32), q8 ~1.9×', async () => {
    const orig = await original('dense');
    const bytes = (files: Files) => [...files].reduce((a, [f, b]) => a + (f.endsWith('.safetensors') ? b.byteLength : 0), 0);
    const q4 = await convert(orig, 'q4');
    const q8 = await convert(orig, 'q8');
    // Matrices alone would give 16/4.5 = 3.56 and 16/8.5 = 1.88; the f32 vectors and headers take a little off.
    expect(bytes(orig) / bytes(q4)).toBeGreaterThan(3.3);
    expect(bytes(orig) / bytes(q4)).toBeLessThan(3.56);
    expect(bytes(orig) / bytes(q8)).toBeGreaterThan(1.8);
    expect(bytes(orig) / bytes(q8)).toBeLessThan(1.88);
  });

  it('reports progress per written file (phase "convert", ending complete) and stops with AbortedError when cancelled', async () => {
    const orig = await original('moe');
    const seen: LoadProgress[] = [];
    const result = await convertCheckpoint(new MemoryCheckpointSource(orig), new MemorySink(), { maxShardBytes: SHARD, onProgress: (p) => seen.push(p) });
    const last = seen[seen.length - 1]!;
    expect(last.phase).toBe('convert');
    expect(last.bytesDone).toBe(last.bytesTotal);
    expect(last.bytesDone).toBe(result.bytesWritten);
    expect(last.files.map((f) => f.file).sort()).toEqual([...result.files].sort());
    expect(result.files[result.files.length - 1]).toBe(PACKED_MANIFEST);

    const controller = new AbortController();
    let chunks = 0;
    const sink = { write: async () => void (++chunks === 20 && controller.abort()) };
    await expect(convertCheckpoint(new MemoryCheckpointSource(orig), sink, { signal: controller.signal })).rejects.toThrow(AbortedError);
    expect(chunks).toBe(20);
  });

  it('rejects bad options and already converted folders; names the tensor, row and column of an unquantizable weight', async () => {
    const orig = await original('dense');
    const src = new MemoryCheckpointSource(orig);
    await expect(convertCheckpoint(src, new MemorySink(), { weightFormat: 'q3' as WeightFormat })).rejects.toThrow(/unknown weight format "q3"/);
    await expect(convertCheckpoint(src, new MemorySink(), { maxShardBytes: 0 })).rejects.toThrow(InvalidArgumentError);
    const packed = await convert(orig, 'q4');
    await expect(convertCheckpoint(new MemoryCheckpointSource(packed), new MemorySink())).rejects.toThrow(/is already converted \(it has qwen35-packed\.json\)/);

    // A NaN at row 5, column 7 of layer 3's q_proj (bf16 0x7fc0).
    const name = 'model.language_model.layers.3.self_attn.q_proj.weight';
    const dir = await openTensorDirectory(src);
    const entry = dir.tensors.get(name)!;
    const shard = orig.get(entry.file)!.slice();
    new DataView(shard.buffer).setUint16(entry.info.offset + (5 * 128 + 7) * 2, 0x7fc0, true);
    const broken = new Map(orig).set(entry.file, shard);
    await expect(convertCheckpoint(new MemoryCheckpointSource(broken), new MemorySink())).rejects.toThrow(ModelFormatError);
    await expect(convertCheckpoint(new MemoryCheckpointSource(broken), new MemorySink())).rejects.toThrow(
      /^in-memory checkpoint: tensor "model\.language_model\.layers\.3\.self_attn\.q_proj\.weight" row 5 \(for layers\.3\.attn\.qkv\), column 7 holds NaN, which q4 cannot encode/,
    );
  });
});

/** The packed folder with one shard's tensors edited (the index follows the tensor names). */
async function editTensors(files: Files, inShardOf: string, edit: (tensors: TensorData[]) => TensorData[]): Promise<Files> {
  const index = json(files, INDEX_FILE) as { weight_map: Record<string, string> };
  const file = index.weight_map[inShardOf]!;
  const src = new MemoryCheckpointSource(files);
  const bytes = await src.open(file);
  const header = await readSafetensorsHeader(bytes);
  const tensors: TensorData[] = [];
  for (const info of header.tensors.values()) tensors.push({ name: info.name, dtype: info.dtype, shape: info.shape, data: await readTensorBytes(bytes, info) });
  const edited = edit(tensors);
  for (const t of tensors) delete index.weight_map[t.name];
  for (const t of edited) index.weight_map[t.name] = file;
  return new Map(files).set(file, writeSafetensors(edited)).set(INDEX_FILE, encode(index));
}

describe('packed checkpoint validation', () => {
  const config = TINY_CONFIGS.moe;
  const packedFiles = (async () => convert(await original('moe'), 'q4'))();
  const open = async (files: Files) => openPackedCheckpoint(new MemoryCheckpointSource(files, 'ckpt'), config);
  const withManifest = async (edit: (m: Record<string, unknown>) => unknown): Promise<Files> => {
    const files = await packedFiles;
    const m = json(files, PACKED_MANIFEST);
    const replaced = edit(m);
    return new Map(files).set(PACKED_MANIFEST, typeof replaced === 'string' ? new TextEncoder().encode(replaced) : encode(replaced ?? m));
  };
  const matrices = (m: Record<string, unknown>) => m.matrices as Record<string, unknown>[];

  const manifestCases: [string, (m: Record<string, unknown>) => unknown, RegExp][] = [
    ['not JSON', () => '{"format": "qwen35-packed", ', /ckpt\/qwen35-packed\.json: not valid JSON/],
    ['an array', () => [], /must be a JSON object, found \[\]/],
    ['another format', (m) => void (m.format = 'gguf'), /format is "gguf", expected "qwen35-packed"/],
    ['a newer version', (m) => void (m.version = 3), /version 3 is not supported \(this runtime reads version 2\); convert the original checkpoint again/],
    ['another group size', (m) => void (m.groupSize = 64), /groupSize is 64, this runtime quantizes in groups of 32/],
    ['an unknown weight format', (m) => void ((m.weightFormats as Record<string, unknown>).attention = 'q3'), /weightFormats\.attention is "q3", expected one of f32, f16, bf16, q8, q4/],
    ['an unknown class', (m) => void ((m.weightFormats as Record<string, unknown>).vision = 'q4'), /weightFormats has an unknown class "vision"/],
    ['a class format disagreeing with the matrices', (m) => void ((m.weightFormats as Record<string, unknown>).experts = 'q8'), /matrices\[4\] \(expected "layers\.0\.moe\.gateUp"\): format is "q4", config\.json implies "q8"/],
    ['huge rows', (m) => void (matrices(m)[0]!.rows = 2 ** 60), /matrices\[0\] \(expected "embed"\): rows is 1152921504606847000, config\.json implies 512/],
    ['negative cols', (m) => void (matrices(m)[2]!.cols = -64), /matrices\[2\] \(expected "layers\.0\.gdn\.out"\): cols is -64, config\.json implies 64/],
    ['a string row count', (m) => void (matrices(m)[1]!.rows = '200'), /matrices\[1\] \(expected "layers\.0\.gdn\.inProj"\): rows is "200", config\.json implies 200/],
    ['a missing matrix', (m) => void matrices(m).pop(), /matrices has 57 entries, config\.json implies 58/],
    ['a swapped source', (m) => void ((matrices(m)[1]!.sources as unknown[]).reverse()), /matrices\[1\] \(expected "layers\.0\.gdn\.inProj"\)\.sources\[0\] must be \{"path": "layers\.0\.gdn\.inProjQkv", "rows": 128\}, found \{path: "layers\.0\.gdn\.inProjA", rows: 4\}/],
    [
      'deeply nested sources (100,000 levels)',
      (m) => JSON.stringify(m).replace('"sources":[{"path":"embed","rows":512}]', `"sources":[${'['.repeat(100_000)}${']'.repeat(100_000)}]`),
      /matrices\[0\] \(expected "embed"\)\.sources\[0\] must be \{"path": "embed", "rows": 512\}, found an array of 1 item/, // V8 parses JSON without recursion
    ],
    ['an unknown field', (m) => void (matrices(m)[0]!.offset = 0), /matrices\[0\] \(expected "embed"\) has unknown fields offset/],
    ['a vector of another length', (m) => void ((m.vectors as Record<string, unknown>[])[0]!.length = 1e9), /vectors\[0\] \(expected "layers\.0\.inputNorm"\): length is 1000000000, config\.json implies 64/],
    ['a wrong LM head', (m) => void (m.lmHeadKey = 'embed'), /lmHeadKey is "embed", config\.json implies "lmHead"/],
  ];
  for (const [what, edit, pattern] of manifestCases) {
    it(`a manifest with ${what} → ModelFormatError`, async () => {
      const files = await withManifest(edit);
      await expect(open(files)).rejects.toThrow(ModelFormatError);
      await expect(open(files)).rejects.toThrow(pattern);
    });
  }

  it('a manifest file bigger than any manifest is refused before it is read', async () => {
    const files = await packedFiles;
    const source = new MemoryCheckpointSource(files, 'ckpt');
    const reads: number[] = [];
    const huge = { name: PACKED_MANIFEST, size: async () => 2 ** 40, read: async (_o: number, n: number) => (reads.push(n), new Uint8Array(0)) };
    source.open = async (name) => (name === PACKED_MANIFEST ? huge : new MemoryCheckpointSource(files).open(name));
    await expect(openPackedCheckpoint(source, config)).rejects.toThrow(/qwen35-packed\.json: 1099511627776 bytes, more than a manifest can be/);
    expect(reads).toEqual([]);
  });

  const gateUp = 'layers.0.moe.gateUp';
  const tensorCases: [string, (t: TensorData[]) => TensorData[], RegExp][] = [
    ['missing scales', (ts) => ts.filter((t) => t.name !== `${gateUp}.qscales`), /missing tensors: layers\.0\.moe\.gateUp\.qscales/],
    [
      'data stored as F16',
      (ts) => ts.map((t) => (t.name === `${gateUp}.qdata` ? { ...t, dtype: 'F16', shape: [t.shape[0]!, t.shape[1]! / 2] } : t)),
      /wrong tensors: layers\.0\.moe\.gateUp\.qdata: F16 \[1024,16\], expected U8 \[1024,32\]/,
    ],
    [
      'scales of the wrong shape',
      (ts) => ts.map((t) => (t.name === `${gateUp}.qscales` ? { ...t, shape: [t.shape[1]!, t.shape[0]!] } : t)),
      /wrong tensors: layers\.0\.moe\.gateUp\.qscales: U8 \[4,1024\], expected U8 \[1024,4\]/,
    ],
    ['an extra tensor', (ts) => [...ts, { name: 'layers.0.moe.bias', dtype: 'F32', shape: [2], data: new Uint8Array(8) }], /tensors the manifest does not describe: layers\.0\.moe\.bias/],
  ];
  for (const [what, edit, pattern] of tensorCases) {
    it(`a packed shard with ${what} → ModelFormatError`, async () => {
      const files = await editTensors(await packedFiles, `${gateUp}.qdata`, edit);
      await expect(open(files)).rejects.toThrow(ModelFormatError);
      await expect(open(files)).rejects.toThrow(pattern);
    });
  }

  it('a truncated shard → ModelFormatError from its header check', async () => {
    const files = await packedFiles;
    const file = (json(files, INDEX_FILE) as { weight_map: Record<string, string> }).weight_map[`${gateUp}.qdata`]!;
    const cut = new Map(files).set(file, files.get(file)!.subarray(0, files.get(file)!.byteLength - 100));
    await expect(open(cut)).rejects.toThrow(new RegExp(`${file}: tensor ".*": data_offsets end \\d+ is beyond the data buffer`));
  });

  it('loads only in the stored formats: another requested format is an InvalidArgumentError, the same one is fine', async () => {
    const source = new MemoryCheckpointSource(await packedFiles, 'ckpt');
    await expect(openPackedCheckpoint(source, config, 'q8')).rejects.toThrow(InvalidArgumentError);
    await expect(openPackedCheckpoint(source, config, 'q8')).rejects.toThrow(
      /ckpt is pre-quantized by qwen35 convert \(embedding q4, .*experts q4\) and loads only in those formats, but embedding q8, .* was requested/,
    );
    expect((await openPackedCheckpoint(source, config, 'q4')).formats.experts).toBe('q4');
    expect((await openPackedCheckpoint(source, config, { default: 'q4' })).formats.embedding).toBe('q4');
  });

  it('a manifest converted for another config is refused', async () => {
    const other: Qwen35Config = { ...config, vocabSize: 640 };
    await expect(openPackedCheckpoint(new MemoryCheckpointSource(await packedFiles, 'ckpt'), other)).rejects.toThrow(/matrices\[0\] \(expected "embed"\): rows is 512, config\.json implies 640/);
  });
});
