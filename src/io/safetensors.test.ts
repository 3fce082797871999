/**
 * Safetensors reader/writer and the sharded tensor directory. Values are exact (bytes written
 * are the bytes read; conversions are exact for the dtypes used), so there is no tolerance.
 * Every corruption must fail with a ModelFormatError saying what was wrong.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ModelFormatError } from '../errors.js';
import { goldenRoot } from '../model/test-helpers.js';
import { FsCheckpointSource } from './sources/fs.js';
import { f32ToBf16Bytes } from './bf16.js';
import { MemoryCheckpointSource, MemorySink } from './memory-checkpoint.js';
import { duplicateTopLevelKey } from './json-keys.js';
import { readSafetensorsHeader, readTensorBytes, toFloat32, type Dtype } from './safetensors.js';
import { safetensorsHeader, writeShardedCheckpoint, writeSafetensors, type TensorData } from './safetensors-writer.js';
import { INDEX_FILE, openTensorDirectory, readTensorF32 } from './tensor-directory.js';
import { MemoryByteSource, type ByteSource } from './source.js';

const bytesOf = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

function sampleTensors(): TensorData[] {
  return [
    { name: 'a.f32', dtype: 'F32', shape: [3, 5], data: bytesOf(Float32Array.from({ length: 15 }, (_, i) => i * 0.5 - 3)) },
    { name: 'b.bf16', dtype: 'BF16', shape: [7], data: f32ToBf16Bytes([1, -2, 0.5, 3.25, -0.125, 100, 0]) },
    { name: 'c.i32', dtype: 'I32', shape: [2, 1, 3], data: bytesOf(Int32Array.from([1, -2, 3, -4, 5, -6])) },
    { name: 'd.u8', dtype: 'U8', shape: [3], data: Uint8Array.from([0, 7, 255]) },
    { name: 'e.scalar', dtype: 'F64', shape: [], data: bytesOf(Float64Array.from([2.5])) },
    { name: 'f.empty', dtype: 'F16', shape: [0, 4], data: new Uint8Array(0) },
  ];
}

/** A file with a hand-written header (for corruptions the writer refuses to produce). */
function rawFile(header: unknown, dataBytes: number, lengthOverride?: bigint): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, lengthOverride ?? BigInt(json.length), true);
  out.set(json, 8);
  return out;
}

const src = (bytes: Uint8Array, name = 'x.safetensors'): ByteSource => new MemoryByteSource(name, bytes);

async function expectFormatError(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'expected a ModelFormatError').toBeInstanceOf(ModelFormatError);
  expect((err as Error).message).toMatch(pattern);
}

describe('safetensors file', () => {
  it('round-trips tensors of several dtypes and odd shapes, with metadata', async () => {
    const tensors = sampleTensors();
    const file = writeSafetensors(tensors, { format: 'pt' });
    const header = await readSafetensorsHeader(src(file));
    expect(header.dataStart % 8).toBe(0); // header padded to 8-byte alignment
    expect(header.metadata).toEqual({ format: 'pt' });
    expect([...header.tensors.keys()]).toEqual(tensors.map((t) => t.name));
    for (const t of tensors) {
      const info = header.tensors.get(t.name)!;
      expect(info.dtype).toBe(t.dtype);
      expect(info.shape).toEqual(t.shape);
      expect(await readTensorBytes(src(file), info)).toEqual(t.data);
    }
    const read = async (name: string) => {
      const info = header.tensors.get(name)!;
      return Array.from(toFloat32(await readTensorBytes(src(file), info), info.dtype, info.shape));
    };
    expect(await read('b.bf16')).toEqual([1, -2, 0.5, 3.25, -0.125, 100, 0]);
    expect(await read('c.i32')).toEqual([1, -2, 3, -4, 5, -6]);
    expect(await read('d.u8')).toEqual([0, 7, 255]);
    expect(await read('e.scalar')).toEqual([2.5]);
    expect(await read('f.empty')).toEqual([]);
    expect((await read('a.f32'))[14]).toBe(4);
  });

  it('toFloat32 converts every dtype by value', () => {
    const conv = (bytes: ArrayBufferView, dtype: Dtype, n: number) => Array.from(toFloat32(bytesOf(bytes), dtype, [n]));
    expect(conv(Float64Array.from([1.5, -2.25]), 'F64', 2)).toEqual([1.5, -2.25]);
    expect(conv(BigInt64Array.from([-3n, 2n ** 40n]), 'I64', 2)).toEqual([-3, 2 ** 40]);
    expect(conv(Int16Array.from([-300, 7]), 'I16', 2)).toEqual([-300, 7]);
    expect(conv(Int8Array.from([-128, 5]), 'I8', 2)).toEqual([-128, 5]);
    expect(conv(Uint16Array.from([0x3c00, 0xc500]), 'F16', 2)).toEqual([1, -5]);
    expect(conv(Uint8Array.from([0x3c, 0xc5, 0x7c]), 'F8_E5M2', 3)).toEqual([1, -5, Infinity]); // top byte of an f16
    expect(conv(Uint8Array.from([0x38, 0xfe]), 'F8_E4M3', 2)).toEqual([1, -448]);
    expect(conv(Uint8Array.from([0, 1, 2]), 'BOOL', 3)).toEqual([0, 1, 1]);
    expect(() => toFloat32(new Uint8Array(3), 'F32', [1])).toThrow(ModelFormatError);
  });

  it('toFloat32 handles misaligned byte views', () => {
    const buf = new Uint8Array(1 + 8);
    buf.set(bytesOf(Float32Array.from([1.5, -7])), 1);
    expect(Array.from(toFloat32(buf.subarray(1), 'F32', [2]))).toEqual([1.5, -7]);
  });

  it('rejects a file shorter than the length prefix', async () => {
    await expectFormatError(readSafetensorsHeader(src(new Uint8Array(5))), /x\.safetensors: file is 5 bytes/);
  });

  it('rejects header lengths beyond the file or huge, before reading them', async () => {
    const file = rawFile({}, 0);
    const reads: number[] = [];
    const spy: ByteSource = { name: 'x.safetensors', size: async () => file.length, read: async (o, l) => (reads.push(l), file.subarray(o, o + l)) };
    for (const len of [2n ** 60n, BigInt(file.length), 1n, 2n ** 64n - 1n]) {
      const bad = file.slice();
      new DataView(bad.buffer).setBigUint64(0, len, true);
      await expectFormatError(readSafetensorsHeader({ ...spy, read: async (o, l) => (reads.push(l), bad.subarray(o, o + l)) }), new RegExp(`header length ${len} is invalid`));
    }
    expect(Math.max(...reads)).toBe(8); // only the length prefix was ever read
  });

  it('rejects invalid JSON, invalid UTF-8 and a non-object header', async () => {
    await expectFormatError(readSafetensorsHeader(src(rawFile('{"a": ', 0))), /not valid UTF-8 JSON/);
    const badUtf8 = rawFile('{"a":1}', 0);
    badUtf8[10] = 0xff;
    await expectFormatError(readSafetensorsHeader(src(badUtf8)), /not valid UTF-8 JSON/);
    await expectFormatError(readSafetensorsHeader(src(rawFile('[1,2]', 0))), /must be a JSON object/);
  });

  it('rejects a bad dtype, a bad shape and non-string metadata, naming the tensor', async () => {
    await expectFormatError(
      readSafetensorsHeader(src(rawFile({ w: { dtype: 'Q4', shape: [2], data_offsets: [0, 2] } }, 2))),
      /tensor "w": unsupported dtype "Q4"; expected one of F64, F32/,
    );
    await expectFormatError(
      readSafetensorsHeader(src(rawFile({ w: { dtype: 'U8', shape: [2, -1], data_offsets: [0, 2] } }, 2))),
      /tensor "w": shape must be an array of non-negative integers, found \[2,-1\]/,
    );
    await expectFormatError(readSafetensorsHeader(src(rawFile({ __metadata__: { a: 1 } }, 0))), /__metadata__\["a"\] must be a string/);
  });

  it('rejects a shape/byte-length mismatch with expected vs found', async () => {
    const h = { w: { dtype: 'BF16', shape: [3, 3], data_offsets: [0, 16] } };
    await expectFormatError(readSafetensorsHeader(src(rawFile(h, 16))), /tensor "w": byte length mismatch: shape \[3,3\] × 2 bytes \(BF16\) = 18, data_offsets span 16/);
  });

  it('rejects offsets out of range (truncated data) and begin > end', async () => {
    const h = { w: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } };
    await expectFormatError(readSafetensorsHeader(src(rawFile(h, 12))), /tensor "w": data_offsets end 16 is beyond the data buffer \(12 bytes\)/);
    const h2 = { w: { dtype: 'F32', shape: [0], data_offsets: [8, 4] } };
    await expectFormatError(readSafetensorsHeader(src(rawFile(h2, 12))), /begin > end/);
  });

  it('rejects overlapping tensors', async () => {
    const h = {
      a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
      b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
    };
    await expectFormatError(readSafetensorsHeader(src(rawFile(h, 12))), /"a" and "b" have overlapping data_offsets/);
  });

  it('rejects an overlap that an empty tensor between the two would hide', async () => {
    // A=[0,100), Z=[50,50) empty, B=[60,160): sorted neighbours are A–Z and Z–B, neither overlapping.
    const h = {
      a: { dtype: 'U8', shape: [100], data_offsets: [0, 100] },
      z: { dtype: 'U8', shape: [0], data_offsets: [50, 50] },
      b: { dtype: 'U8', shape: [100], data_offsets: [60, 160] },
    };
    await expectFormatError(readSafetensorsHeader(src(rawFile(h, 160))), /"a" and "b" have overlapping data_offsets/);
    // A long tensor covering several later ones is caught at the first it covers, not only its neighbour.
    const h2 = {
      long: { dtype: 'U8', shape: [100], data_offsets: [0, 100] },
      x: { dtype: 'U8', shape: [10], data_offsets: [10, 20] },
    };
    await expectFormatError(readSafetensorsHeader(src(rawFile(h2, 100))), /"long" and "x" have overlapping/);
  });

  it('accepts empty tensors anywhere, and tensors that only touch', async () => {
    const h = {
      a: { dtype: 'U8', shape: [4], data_offsets: [0, 4] },
      e1: { dtype: 'U8', shape: [0], data_offsets: [2, 2] },
      e2: { dtype: 'U8', shape: [0], data_offsets: [2, 2] },
      b: { dtype: 'U8', shape: [4], data_offsets: [4, 8] },
      e3: { dtype: 'U8', shape: [0], data_offsets: [8, 8] },
    };
    const f = await readSafetensorsHeader(src(rawFile(h, 8)));
    expect([...f.tensors.keys()]).toEqual(['a', 'e1', 'e2', 'b', 'e3']);
  });

  it('rejects a header that names a tensor twice (JSON.parse would keep the last)', async () => {
    const entry = '{"dtype":"U8","shape":[4],"data_offsets":[0,4]}';
    await expectFormatError(readSafetensorsHeader(src(rawFile(`{"w":${entry},"v":${entry},"w":${entry}}`, 4))), /^x\.safetensors: header names tensor "w" twice/);
    // The same key spelt with an escape is still the same key.
    await expectFormatError(readSafetensorsHeader(src(rawFile(`{"w":${entry},"\\u0077":${entry}}`, 4))), /header names tensor "w" twice/);
    await expectFormatError(readSafetensorsHeader(src(rawFile(`{"__metadata__":{},"w":${entry},"__metadata__":{}}`, 4))), /header names "__metadata__" twice/);
  });

  it('duplicateTopLevelKey looks only at top-level keys', () => {
    // Nested keys, string values and escaped quotes equal to a top-level key are not duplicates.
    const text = '{"a":{"a":1,"b":[{"a":2}]},"b":"a","c\\"":"\\"a","d":["a","b"],"e":{"x":"}"}}';
    expect(JSON.parse(text)).toBeTypeOf('object');
    expect(duplicateTopLevelKey(text)).toBeUndefined();
    expect(duplicateTopLevelKey(`${text.slice(0, -1)},"c\\"":0}`)).toBe('c"');
    expect(duplicateTopLevelKey('{ "k" : 1 , "j":{"k":2} , "k" :3}')).toBe('k');
    expect(duplicateTopLevelKey('{}')).toBeUndefined();
  });

  it('the writer pads the header with spaces to a multiple of 8', () => {
    const header = safetensorsHeader([{ name: 'abc', dtype: 'U8', shape: [1] }]);
    const n = Number(new DataView(header.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    expect(header.length).toBe(8 + n);
    expect(header[header.length - 1]).toBe(0x20);
  });
});

async function shardedCheckpoint(tensors: TensorData[], maxShardBytes: number): Promise<Map<string, Uint8Array>> {
  const sink = new MemorySink();
  await writeShardedCheckpoint(tensors, (spec) => tensors.find((t) => t.name === spec.name)!.data, { maxShardBytes, write: (f, c) => sink.write(f, c) });
  return sink.files();
}

describe('tensor directory', () => {
  it('reads a sharded checkpoint written by the sharded writer', async () => {
    const tensors = sampleTensors();
    const files = await shardedCheckpoint(tensors, 64);
    const shards = [...files.keys()].filter((f) => f.endsWith('.safetensors'));
    expect(shards.length).toBeGreaterThan(1);
    expect(shards[0]).toBe(`model-00001-of-${String(shards.length).padStart(5, '0')}.safetensors`);
    const index = JSON.parse(new TextDecoder().decode(files.get(INDEX_FILE)));
    expect(index.metadata.total_size).toBe(tensors.reduce((a, t) => a + t.data.length, 0));
    const dir = await openTensorDirectory(new MemoryCheckpointSource(files));
    expect([...dir.tensors.keys()].sort()).toEqual(tensors.map((t) => t.name).sort());
    expect(Array.from(await readTensorF32(dir, 'b.bf16'))).toEqual([1, -2, 0.5, 3.25, -0.125, 100, 0]);
    expect(dir.tensors.get('b.bf16')!.file).toBe(index.weight_map['b.bf16']);
  });

  it('reads a single model.safetensors', async () => {
    const files = new Map([['model.safetensors', writeSafetensors(sampleTensors())]]);
    const dir = await openTensorDirectory(new MemoryCheckpointSource(files));
    expect(Array.from(await readTensorF32(dir, 'c.i32'))).toEqual([1, -2, 3, -4, 5, -6]);
    await expectFormatError(readTensorF32(dir, 'nope'), /tensor "nope" is not in the checkpoint/);
  });

  it('reports a missing shard, tensors absent from their shard, and unlisted tensors', async () => {
    const files = await shardedCheckpoint(sampleTensors(), 64);
    const index = JSON.parse(new TextDecoder().decode(files.get(INDEX_FILE)));
    const withIndex = (ix: unknown) => new Map([...files, [INDEX_FILE, new TextEncoder().encode(JSON.stringify(ix))]]);

    const [first, second] = [...files.keys()].filter((f) => f.endsWith('.safetensors'));
    expect(second).toBe('model-00002-of-00002.safetensors');
    const noShard = new Map(files);
    noShard.delete(second!);
    await expectFormatError(openTensorDirectory(new MemoryCheckpointSource(noShard)), /shard\(s\) that do not exist: model-00002-of-00002\.safetensors/);

    const ghost = { ...index, weight_map: { ...index.weight_map, 'ghost.weight': first } };
    await expectFormatError(openTensorDirectory(new MemoryCheckpointSource(withIndex(ghost))), /absent from their shard: ghost\.weight \(→ model-00001-of-00002\.safetensors\)/);

    const { 'c.i32': _dropped, ...rest } = index.weight_map as Record<string, string>;
    await expectFormatError(openTensorDirectory(new MemoryCheckpointSource(withIndex({ weight_map: rest }))), /does not map to them: c\.i32 \(in model-00002/);
  });

  it('rejects a malformed index and a folder without safetensors', async () => {
    const files = await shardedCheckpoint(sampleTensors(), 1 << 20);
    const bad = (text: string) => new MemoryCheckpointSource(new Map([...files, [INDEX_FILE, new TextEncoder().encode(text)]]));
    await expectFormatError(openTensorDirectory(bad('{oops')), /model\.safetensors\.index\.json: not valid JSON/);
    await expectFormatError(openTensorDirectory(bad('{"weight_map": []}')), /"weight_map" object/);
    await expectFormatError(openTensorDirectory(bad('{"weight_map": {"a": "../../etc/passwd"}}')), /must be a shard file name/);
    await expectFormatError(openTensorDirectory(new MemoryCheckpointSource(new Map())), /no model\.safetensors\.index\.json or model\.safetensors/);
  });
});

describe('golden checkpoints', () => {
  const golden = goldenRoot();
  it.skipIf(!golden)('open and read (BF16 weights, F32 A_log and linear_attn.norm)', async () => {
    for (const [model, count] of [['tiny-dense', 108], ['tiny-moe', 141]] as const) {
      const dir = await openTensorDirectory(new FsCheckpointSource(join(golden!, 'models', model)));
      expect(dir.tensors.size, model).toBe(count);
      const dtypes = new Map<string, Set<Dtype>>();
      for (const [name, { info }] of dir.tensors) {
        const kind = name.replace(/^.*layers\.\d+\./, '');
        (dtypes.get(kind) ?? dtypes.set(kind, new Set()).get(kind)!).add(info.dtype);
      }
      expect([...dtypes.get('linear_attn.A_log')!]).toEqual(['F32']);
      expect([...dtypes.get('linear_attn.norm.weight')!]).toEqual(['F32']);
      expect([...dtypes.get('linear_attn.conv1d.weight')!]).toEqual(['BF16']);
      const conv = await readTensorF32(dir, 'model.language_model.layers.0.linear_attn.conv1d.weight');
      expect(conv.length).toBe(128 * 4);
      expect(conv.every(Number.isFinite)).toBe(true);
    }
  });
  it.runIf(!golden)('golden files absent: skipped (expected at ../shared/golden)', () => {
    console.warn('golden checkpoints not found at ../shared/golden; skipping');
  });
});
