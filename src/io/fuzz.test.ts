/**
 * Seeded fuzzing of hostile checkpoint files, all in memory: safetensors headers, the shard index,
 * tensor data (bytes changed or cut after the header, converted to q4/q8/f16 on the CPU) and
 * qwen35-packed.json (config.json: src/model/config-fuzz.test.ts; the GPU loaders:
 * src/runtime/fuzz-gpu.test.ts). Every case must either succeed with a consistent result or end
 * in ModelFormatError naming the file at fault, with a short message (no echo of hostile
 * input), within a time bound, reading no more than the file really holds (so nothing is
 * allocated by the size a header claims) and never outside it, with no unhandled rejection.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { ModelFormatError } from '../errors.js';
import type { Qwen35Config } from '../model/config.js';
import { Random } from '../model/random.js';
import { writeSyntheticCheckpoint } from '../model/synthetic.js';
import { TINY_CONFIGS } from '../model/tiny.js';
import { planWeights } from '../model/weight-plan.js';
import { MINI_CONFIG } from '../runtime/reliability-fixture.js';
import { convertCheckpoint } from './convert.js';
import type { WeightFormat } from './formats.js';
import {
  BAD_BF16,
  describeValue,
  expectPreciseError,
  hostileOffsets,
  hostileShape,
  hostileValue,
  joinSafetensors,
  newStats,
  outcome,
  PACKED_MATRIX,
  pick,
  PLAIN_VALUES,
  readJson,
  RecordingByteSource,
  RecordingCheckpoint,
  splitSafetensors,
  toJson,
  utf8,
  type Files,
} from './fuzz-cases.js';
import { MemoryCheckpointSource, MemorySink } from './memory-checkpoint.js';
import { openPackedCheckpoint, PACKED_MANIFEST, parsePackedManifest } from './packed-manifest.js';
import { DTYPE_BYTES, MAX_HEADER_BYTES, numel, readSafetensorsHeader, readTensorBytes, type SafetensorsFile } from './safetensors.js';
import { writeSafetensors } from './safetensors-writer.js';
import { INDEX_FILE, openTensorDirectory, type TensorDirectory } from './tensor-directory.js';

const unhandled: unknown[] = [];
process.on('unhandledRejection', (reason) => unhandled.push(reason));
afterAll(() => expect(unhandled).toEqual([]));

/** Per case, generous for a loaded 2-core machine: parsing a hostile header is linear in its size. */
const CASE_MS = 3000;

const tally = (): { cases: number; errors: number; slowestMs: number } => ({ cases: 0, errors: 0, slowestMs: 0 });

const rndBytes = (rnd: Random, n: number): Uint8Array => Uint8Array.from({ length: n }, () => rnd.int(256));

// ---------------------------------------------------------------- safetensors headers

interface HeaderCase {
  what: string;
  bytes: Uint8Array;
  /** What size() says (a remote server may announce more than it sends). */
  claimedSize?: number;
  /** A mutation the reader must refuse (silently accepting it would load wrong weights). */
  mustFail?: boolean;
}

const BASE = writeSafetensors(
  [
    { name: 'embed.weight', dtype: 'BF16', shape: [6, 5], data: rndBytes(new Random(1), 60) },
    { name: 'norm.weight', dtype: 'F32', shape: [5], data: rndBytes(new Random(2), 20) },
    { name: 'codes', dtype: 'U8', shape: [2, 3, 4], data: rndBytes(new Random(3), 24) },
    { name: 'empty', dtype: 'F16', shape: [0, 4], data: new Uint8Array(0) },
  ],
  { format: 'pt' },
);

function mutateHeader(rnd: Random): HeaderCase {
  const { header, data } = splitSafetensors(BASE);
  const names = Object.keys(header).filter((k) => k !== '__metadata__');
  const name = pick(rnd, names);
  const entry = header[name] as { dtype: string; shape: number[]; data_offsets: [number, number] };
  const rebuilt = (what: string): HeaderCase => ({ what, bytes: joinSafetensors(toJson(header), data) });
  const headerLength = BASE.length - data.length - 8;
  switch (rnd.int(19)) {
    case 0: {
      const lengths = [0n, 1n, 7n, 8n, BigInt(headerLength - 1), BigInt(headerLength + 1), BigInt(BASE.length), 2n ** 31n, 2n ** 53n, 2n ** 60n, 2n ** 64n - 1n, BigInt(MAX_HEADER_BYTES) + 1n];
      const v = pick(rnd, lengths);
      return { what: `header length ${v}`, bytes: joinSafetensors(toJson(header), data, v) };
    }
    case 1: {
      const at = rnd.int(BASE.length);
      return { what: `file cut at byte ${at}`, bytes: BASE.subarray(0, at) };
    }
    case 2: {
      const text = toJson(header);
      const at = rnd.int(text.length);
      return { what: `header JSON cut at ${at}`, bytes: joinSafetensors(text.slice(0, at), data) };
    }
    case 3: {
      const bytes = BASE.slice();
      const k = 1 + rnd.int(8);
      for (let i = 0; i < k; i++) bytes[rnd.int(8 + headerLength)] = rnd.int(256);
      return { what: `${k} random bytes in the header`, bytes };
    }
    case 4: {
      const text = utf8(toJson(header));
      const at = rnd.int(text.length);
      const bad = pick(rnd, [[0xc3, 0x28], [0xff], [0xed, 0xa0, 0x80]]);
      return { what: `invalid UTF-8 at ${at}`, bytes: joinSafetensors(Uint8Array.from([...text.subarray(0, at), ...bad, ...text.subarray(at)]), data) };
    }
    case 5: {
      const v = hostileValue(rnd);
      return { what: `header is ${describeValue(v)}`, bytes: joinSafetensors(toJson(v), data) };
    }
    case 6: {
      const v = hostileValue(rnd);
      header.__metadata__ = rnd.next() < 0.5 ? v : { format: v };
      return rebuilt(`__metadata__ with ${describeValue(v)}`);
    }
    case 7: {
      const v = rnd.next() < 0.5 ? hostileValue(rnd) : pick(rnd, ['F64', 'I64', 'BOOL', 'F4', 'bf16', '', 'F8_E5M2', '__proto__', 'constructor']);
      entry.dtype = v as string;
      return rebuilt(`dtype ${describeValue(v)} for "${name}"`);
    }
    case 8: {
      const v = hostileShape(rnd);
      entry.shape = v as number[];
      return rebuilt(`shape ${describeValue(v)} for "${name}"`);
    }
    case 9: {
      const v = hostileOffsets(rnd, entry.data_offsets, data.length);
      entry.data_offsets = v as [number, number];
      return rebuilt(`data_offsets ${describeValue(v)} for "${name}"`);
    }
    case 10: {
      if (rnd.next() < 0.5) {
        const field = pick(rnd, ['dtype', 'shape', 'data_offsets'] as const);
        delete entry[field];
        return rebuilt(`"${name}" without ${field}`);
      }
      const v = hostileValue(rnd);
      header[name] = v;
      return rebuilt(`"${name}" is ${describeValue(v)}`);
    }
    case 11: {
      const other = header[pick(rnd, names.filter((n) => n !== name && n !== 'empty'))] as typeof entry;
      Object.assign(entry, { dtype: other.dtype, shape: other.shape, data_offsets: other.data_offsets });
      return rebuilt(`"${name}" overlaps another tensor`);
    }
    case 12: {
      const extra = 1 + rnd.int(2 ** 20);
      entry.dtype = 'U8';
      entry.shape = [data.length - entry.data_offsets[0] + extra];
      entry.data_offsets = [entry.data_offsets[0], data.length + extra];
      return rebuilt(`"${name}" claims ${extra} bytes more than the file`);
    }
    case 13: {
      const renamed = pick(rnd, ['x'.repeat(2 ** 20), '\u0000\u001b[2J', '../../etc/passwd', '']);
      header[renamed] = entry;
      delete header[name];
      return rebuilt(`tensor renamed to ${describeValue(renamed)}`);
    }
    case 14: {
      const overlapping = rnd.next() < 0.5;
      for (let i = 0; i < 5000; i++) header[`t${i}`] = { dtype: 'U8', shape: [overlapping ? 1 : 0], data_offsets: [0, overlapping ? 1 : 0] };
      return rebuilt(`5,000 ${overlapping ? 'overlapping' : 'empty'} tensors`);
    }
    case 15: {
      const claimedSize = BASE.length + pick(rnd, [1, 2 ** 30, 2 ** 40, 2 ** 53 - 1 - BASE.length]);
      const bytes = claimedSize - 8 - headerLength;
      entry.dtype = 'U8';
      entry.shape = [bytes - entry.data_offsets[0]];
      entry.data_offsets = [entry.data_offsets[0], bytes];
      const text = toJson(header);
      const size = claimedSize - headerLength + utf8(text).length;
      return { what: `size() announces ${size} bytes, "${name}" claims them`, bytes: joinSafetensors(text, data), claimedSize: size };
    }
    case 16: {
      // `name` starts inside another non-empty tensor; an empty tensor between the two starts
      // separates them in offset order.
      const nonEmpty = names.filter((n) => n !== 'empty');
      const hostName = pick(rnd, nonEmpty);
      const mover = pick(rnd, nonEmpty.filter((n) => n !== hostName));
      const [b, e] = (header[hostName] as typeof entry).data_offsets;
      const start = b + 1 + rnd.int(e - b - 1);
      const len = 1 + rnd.int(data.length - start);
      const emptyAt = b + 1 + rnd.int(start - b); // b < emptyAt ≤ start
      (header.empty as typeof entry).data_offsets = [emptyAt, emptyAt];
      Object.assign(header[mover] as typeof entry, { dtype: 'U8', shape: [len], data_offsets: [start, start + len] });
      return { ...rebuilt(`"${mover}" starts inside "${hostName}", an empty tensor between them`), mustFail: true };
    }
    case 17: {
      // A second entry under the same name (possibly spelt with an escape): JSON.parse keeps the last.
      const other = header[pick(rnd, names)];
      const key = rnd.next() < 0.5 ? JSON.stringify(name) : `"\\u${name.charCodeAt(0).toString(16).padStart(4, '0')}${JSON.stringify(name).slice(2)}`;
      const text = toJson(header);
      const at = rnd.next() < 0.5 ? text.length - 1 : 1;
      const dup = `${key}:${JSON.stringify(other)}`;
      const spliced = at === 1 ? `{${dup},${text.slice(1)}` : `${text.slice(0, -1)},${dup}}`;
      return { what: `"${name}" named twice`, bytes: joinSafetensors(spliced, data), mustFail: true };
    }
    default: {
      const claimedSize = 2 ** 30 + 8 + data.length;
      return { what: 'a 1 GiB header claimed by a 1 GiB file that is not there', bytes: joinSafetensors(toJson(header), data, 2n ** 30n), claimedSize };
    }
  }
}

/** A parsed header must describe tensors inside the file, of the size their shape implies, not overlapping. */
function checkConsistent(f: SafetensorsFile, size: number): void {
  const spans = [...f.tensors.values()].map((t) => {
    if (t.byteLength !== numel(t.shape) * DTYPE_BYTES[t.dtype]) throw new Error(`${t.name}: ${t.byteLength} bytes for ${t.dtype} ${t.shape}`);
    if (!(t.offset >= f.dataStart && t.offset + t.byteLength <= size)) throw new Error(`${t.name}: outside the file`);
    return [t.offset, t.offset + t.byteLength] as const;
  });
  // Sorted by start, a non-empty span overlaps an earlier one iff it starts before the furthest end so far.
  let furthestEnd = 0;
  for (const [begin, end] of spans.filter(([b, e]) => e > b).sort((a, b) => a[0] - b[0])) {
    if (begin < furthestEnd) throw new Error('overlapping tensors accepted');
    furthestEnd = Math.max(furthestEnd, end);
  }
}

describe('fuzz: safetensors headers', () => {
  it('3,000 mutated files: consistent result or a precise ModelFormatError, reads bounded by the real bytes', async () => {
    const rnd = new Random(20261123);
    const t = tally();
    for (let i = 0; i < 3000; i++) {
      const c = mutateHeader(rnd);
      const stats = newStats();
      const src = new RecordingByteSource('model.safetensors', c.bytes, stats, c.claimedSize ?? c.bytes.length);
      const honest = c.claimedSize === undefined;
      const { error, ms } = await outcome(async () => {
        const f = await readSafetensorsHeader(src);
        checkConsistent(f, await src.size());
        // Tensor data is read only where size() is honest (a lying server's range reads are its transport's to check).
        if (honest) for (const info of f.tensors.values()) await readTensorBytes(src, info);
      });
      t.cases++;
      t.slowestMs = Math.max(t.slowestMs, ms);
      if (c.mustFail) expect(error, `case ${i} (${c.what}): accepted`).toBeDefined();
      if (error) {
        t.errors++;
        expectPreciseError(error, ModelFormatError, /^model\.safetensors: /, `case ${i} (${c.what})`);
      }
      expect(ms, `case ${i} (${c.what}): time`).toBeLessThan(CASE_MS);
      expect(stats.largestRead, `case ${i} (${c.what}): largest read`).toBeLessThanOrEqual(honest ? c.bytes.length : MAX_HEADER_BYTES);
      expect(stats.outside, `case ${i} (${c.what}): reads outside the file`).toBe(honest ? 0 : stats.outside);
    }
    console.log(`safetensors fuzz: ${t.cases} cases, ${t.errors} errors, slowest ${t.slowestMs.toFixed(0)} ms`);
    expect(t.errors).toBeGreaterThan(2500);
  });
});

describe('giant claims', () => {
  it('a 2^60 header length, a 1 GiB header and a 2^40-byte tensor: refused having read only the length prefix or the real header', async () => {
    const { header, data } = splitSafetensors(BASE);
    const text = toJson(header);
    const huge = structuredClone(header) as Record<string, { shape: number[]; data_offsets: [number, number] }>;
    const begin = huge.codes!.data_offsets[0];
    Object.assign(huge.codes!, { shape: [2 ** 40], data_offsets: [begin, begin + 2 ** 40] });
    const hugeText = toJson(huge);
    const cases = [
      { what: 'header length 2^60', bytes: joinSafetensors(text, data, 2n ** 60n), message: /^model\.safetensors: header length 1152921504606846976 is invalid: expected 2 ≤ N ≤ \d+ /, maxRead: 8 },
      {
        what: 'a 1 GiB header in a file size() announces at 1 GiB',
        bytes: joinSafetensors(text, data, 2n ** 30n),
        claimedSize: 2 ** 30 + 8 + data.length,
        message: new RegExp(`^model\\.safetensors: header length 1073741824 is invalid: expected 2 ≤ N ≤ ${MAX_HEADER_BYTES} \\(file size ${2 ** 30 + 8 + data.length} − 8, capped at ${MAX_HEADER_BYTES}\\)`),
        maxRead: 8,
      },
      {
        what: 'a tensor claiming 2^40 bytes',
        bytes: joinSafetensors(hugeText, data),
        message: new RegExp(`^model\\.safetensors: tensor "codes": data_offsets end ${begin + 2 ** 40} is beyond the data buffer \\(${data.length} bytes\\)`),
        maxRead: utf8(hugeText).length,
      },
    ];
    for (const c of cases) {
      const stats = newStats();
      const src = new RecordingByteSource('model.safetensors', c.bytes, stats, c.claimedSize ?? c.bytes.length);
      const { error } = await outcome(() => readSafetensorsHeader(src));
      expectPreciseError(error, ModelFormatError, c.message, c.what);
      // The prefix, then at most the real header: nothing is read (so nothing allocated) by the size claimed.
      expect(stats.reads, c.what).toBeLessThanOrEqual(2);
      expect(stats.largestRead, c.what).toBeLessThanOrEqual(c.maxRead);
      expect(stats.outside, c.what).toBe(0);
    }
  });
});

// ---------------------------------------------------------------- shard index

async function tinyFiles(config: Qwen35Config): Promise<Files> {
  const sink = new MemorySink();
  await writeSyntheticCheckpoint(config, { seed: 7, maxShardBytes: 256 * 1024 }, (f, c) => sink.write(f, c));
  return sink.files();
}

function mutateIndex(rnd: Random, files: Files): { what: string; files: Files } {
  const out = new Map(files);
  const index = readJson(files, INDEX_FILE) as { weight_map: Record<string, unknown> };
  const names = Object.keys(index.weight_map);
  const name = pick(rnd, names);
  const shards = [...files.keys()].filter((f) => f.endsWith('.safetensors'));
  const set = (what: string, text = toJson(index)) => ({ what, files: out.set(INDEX_FILE, utf8(text)) });
  switch (rnd.int(8)) {
    case 0: {
      const text = toJson(index);
      const at = rnd.int(text.length);
      return set(`index cut at ${at}`, text.slice(0, at));
    }
    case 1: {
      const v = hostileValue(rnd);
      return set(`index is ${describeValue(v)}`, toJson(rnd.next() < 0.5 ? v : { weight_map: v }));
    }
    case 2: {
      const v = rnd.next() < 0.5 ? hostileValue(rnd) : pick(rnd, ['../model.safetensors', '/etc/passwd.safetensors', 'a/../../b.safetensors', '.hidden.safetensors', 'missing.safetensors', 'config.json']);
      index.weight_map[name] = v;
      return set(`weight_map["${name}"] = ${describeValue(v)}`);
    }
    case 3:
      delete index.weight_map[name];
      return set(`"${name}" missing from the index`);
    case 4:
      index.weight_map[`extra.${rnd.int(1000)}`] = pick(rnd, shards);
      return set('the index maps a tensor its shard lacks');
    case 5:
      for (let i = 0; i < 10_000; i++) index.weight_map[`ghost.${i}`] = pick(rnd, shards);
      return set('10,000 ghost tensors in the index');
    case 6: {
      const shard = pick(rnd, shards);
      out.delete(shard);
      return { what: `shard ${shard} missing`, files: out };
    }
    default: {
      const shard = pick(rnd, shards);
      const bytes = files.get(shard)!;
      return { what: `shard ${shard} cut`, files: out.set(shard, bytes.subarray(0, rnd.int(bytes.length))) };
    }
  }
}

describe('fuzz: shard index and shards', () => {
  it('400 mutated checkpoints: openTensorDirectory + planWeights give a plan or a precise ModelFormatError', async () => {
    const base = await tinyFiles(TINY_CONFIGS.dense);
    const rnd = new Random(77);
    const t = tally();
    for (let i = 0; i < 400; i++) {
      const c = mutateIndex(rnd, base);
      const source = new RecordingCheckpoint(c.files);
      const { error, ms } = await outcome(async () => planWeights(TINY_CONFIGS.dense, await openTensorDirectory(source)));
      t.cases++;
      t.slowestMs = Math.max(t.slowestMs, ms);
      if (error) {
        t.errors++;
        expectPreciseError(error, ModelFormatError, /safetensors/, `case ${i} (${c.what})`);
      }
      expect(ms, `case ${i} (${c.what}): time`).toBeLessThan(CASE_MS);
      expect(source.stats.outside, `case ${i} (${c.what}): reads outside a file`).toBe(0);
      expect(source.stats.largestRead, `case ${i} (${c.what}): largest read`).toBeLessThanOrEqual(Math.max(...[...c.files.values()].map((b) => b.length)));
    }
    console.log(`index fuzz: ${t.cases} cases, ${t.errors} errors, slowest ${t.slowestMs.toFixed(0)} ms`);
    expect(t.errors).toBeGreaterThan(350);
  });
});

// ---------------------------------------------------------------- tensor data

interface BodyCase {
  what: string;
  files: Files;
  /** A non-finite or f16-overflowing weight in a packed matrix, or a cut shard: must not convert. */
  mustFail: boolean;
  /** What the error must say. */
  message: RegExp;
}

/** A packed-format refusal (pack-weights.ts via convert.ts): the checkpoint tensor, its row and column, the value. */
const unencodable = (format: WeightFormat, tensor = '[^"]+', row = '\\d+', column = '\\d+', value = '\\S+'): RegExp =>
  new RegExp(`^fuzz: tensor "${tensor.replace(/\./g, '\\.')}" row ${row} \\(for [\\w.]+\\), column ${column} holds ${value}, which ${format} cannot`);
const isNonFiniteBf16 = (bits: number): boolean => (bits & 0x7f80) === 0x7f80;

/** Mutates bytes after the header of one shard: random bytes, one unencodable weight, or a cut. */
function mutateBody(rnd: Random, files: Files, dir: TensorDirectory, format: WeightFormat): BodyCase {
  const shard = pick(rnd, [...dir.headers.keys()]);
  const { dataStart, size } = dir.headers.get(shard)!;
  const bytes = files.get(shard)!.slice();
  const inShard = [...dir.tensors.values()].filter((t) => t.file === shard && t.info.byteLength > 0);
  const out = new Map(files).set(shard, bytes);
  const view = new DataView(bytes.buffer);
  switch (rnd.int(3)) {
    case 0: {
      const k = 1 + rnd.int(8);
      const at = Array.from({ length: k }, () => dataStart + rnd.int(size - dataStart));
      for (const i of at) bytes[i] = rnd.int(256);
      // A flipped byte makes a weight non-finite iff the bf16 it belongs to now has an all-ones exponent.
      const mustFail = at.some((i) => {
        const t = inShard.find((x) => i >= x.info.offset && i < x.info.offset + x.info.byteLength);
        return t !== undefined && t.info.dtype === 'BF16' && PACKED_MATRIX.test(t.info.name) && isNonFiniteBf16(view.getUint16(i - ((i - t.info.offset) % 2), true));
      });
      return { what: `${k} random bytes in the data of ${shard}`, files: out, mustFail, message: unencodable(format) };
    }
    case 1: {
      const t = pick(rnd, inShard.filter((x) => x.info.dtype === 'BF16' && PACKED_MATRIX.test(x.info.name)));
      const [label, bits] = pick(rnd, BAD_BF16);
      const element = rnd.int(t.info.byteLength / 2);
      view.setUint16(t.info.offset + 2 * element, bits, true);
      const cols = t.info.shape[t.info.shape.length - 1]!;
      const value = label === '1e38' ? '\\d\\.\\d+e\\+37' : label;
      const message = unencodable(format, t.info.name, String(Math.floor(element / cols)), String(element % cols), value);
      return { what: `${label} at element ${element} of ${t.info.name}`, files: out, mustFail: true, message };
    }
    default: {
      const cut = dataStart + rnd.int(size - dataStart);
      return { what: `${shard} cut at byte ${cut} (data from ${dataStart})`, files: out.set(shard, bytes.subarray(0, cut)), mustFail: true, message: new RegExp(`^${shard.replace(/\./g, '\\.')}: `) };
    }
  }
}

describe('fuzz: tensor data', () => {
  it('300 checkpoints with bytes changed or cut after the header, converted to q4/q8/f16: packed, or a precise ModelFormatError naming the weight', async () => {
    // The 4-layer mini model: a successful conversion takes ~0.1 s instead of tiny-dense's ~1.5 s.
    const base = await tinyFiles(MINI_CONFIG);
    const dir = await openTensorDirectory(new MemoryCheckpointSource(base));
    const rnd = new Random(300);
    const t = { ...tally(), byKind: { flips: 0, unencodable: 0, cut: 0 } };
    for (let i = 0; i < 300; i++) {
      const format = pick(rnd, ['q4', 'q8', 'f16'] as const);
      const c = mutateBody(rnd, base, dir, format);
      const source = new RecordingCheckpoint(c.files);
      const { error, ms } = await outcome(() => convertCheckpoint(source, new MemorySink(), { weightFormat: format, maxShardBytes: 256 * 1024 }));
      const what = `case ${i} (${c.what}, ${format})`;
      t.cases++;
      t.slowestMs = Math.max(t.slowestMs, ms);
      t.byKind[c.what.includes('random bytes') ? 'flips' : c.what.includes(' cut at ') ? 'cut' : 'unencodable']++;
      if (c.mustFail) expect(error, `${what}: accepted`).toBeDefined();
      if (error) {
        t.errors++;
        expectPreciseError(error, ModelFormatError, c.message, what);
      }
      expect(ms, `${what}: time`).toBeLessThan(CASE_MS);
      expect(source.stats.outside, `${what}: reads outside a file`).toBe(0);
    }
    console.log(`tensor data fuzz: ${t.cases} cases (${t.byKind.flips} random bytes, ${t.byKind.unencodable} unencodable weights, ${t.byKind.cut} cut), ${t.errors} errors, slowest ${t.slowestMs.toFixed(0)} ms`);
    expect(Object.values(t.byKind).every((n) => n >= 60)).toBe(true);
  });
});

// ---------------------------------------------------------------- qwen35-packed.json

/** Replaces, deletes or adds one node somewhere in the manifest tree. */
function mutateManifest(rnd: Random, manifest: Record<string, unknown>): string {
  let node: Record<string, unknown> | unknown[] = manifest;
  let path = '';
  for (;;) {
    const keys = Object.keys(node);
    if (keys.length === 0) break;
    const key = pick(rnd, keys);
    const child = (node as Record<string, unknown>)[key];
    if (typeof child !== 'object' || child === null || rnd.next() < 0.3) {
      path += `.${key}`;
      const action = rnd.int(4);
      if (action === 0 && !Array.isArray(node)) delete node[key];
      else if (action === 1 && typeof child === 'number') (node as Record<string, unknown>)[key] = child + pick(rnd, [-1, 1, 2 ** 20, -child]);
      else (node as Record<string, unknown>)[key] = hostileValue(rnd);
      return path;
    }
    path += `.${key}`;
    node = child as Record<string, unknown>;
  }
  (node as Record<string, unknown>)[`unknown${rnd.int(9)}`] = pick(rnd, PLAIN_VALUES);
  return `${path}.unknown`;
}

describe('fuzz: qwen35-packed.json and packed shards', () => {
  it('1,500 mutated manifests: the exact manifest or a precise ModelFormatError; every 10th through openPackedCheckpoint', async () => {
    const config = TINY_CONFIGS.moe;
    const sink = new MemorySink();
    await convertCheckpoint(new MemoryCheckpointSource(await tinyFiles(TINY_CONFIGS.moe)), sink, { weightFormat: 'q4', maxShardBytes: 128 * 1024 });
    const packed = sink.files();
    const original = readJson(packed, PACKED_MANIFEST);
    const rnd = new Random(35);
    const t = tally();
    for (let i = 0; i < 1500; i++) {
      const manifest = structuredClone(original);
      const what = mutateManifest(rnd, manifest);
      const text = toJson(manifest);
      const source = new RecordingCheckpoint(new Map(packed).set(PACKED_MANIFEST, utf8(text)));
      const { error, ms } = await outcome(async () => {
        const parsed = i % 10 === 0 ? (await openPackedCheckpoint(source, config)).manifest : parsePackedManifest(text, config);
        expect({ ...parsed, converter: original.converter }, `case ${i} (${what}): accepted only unchanged`).toEqual(original);
      });
      t.cases++;
      t.slowestMs = Math.max(t.slowestMs, ms);
      if (error) {
        t.errors++;
        expectPreciseError(error, ModelFormatError, /qwen35-packed\.json: /, `case ${i} (${what})`);
      }
      expect(ms, `case ${i} (${what}): time`).toBeLessThan(CASE_MS);
    }
    console.log(`manifest fuzz: ${t.cases} cases, ${t.errors} errors, slowest ${t.slowestMs.toFixed(0)} ms`);
    expect(t.errors).toBeGreaterThan(1200);
  });

  it('up to 300 packed shards with a tensor re-typed or re-shaped to the same byte size: a precise ModelFormatError', async () => {
    const sink = new MemorySink();
    await convertCheckpoint(new MemoryCheckpointSource(await tinyFiles(TINY_CONFIGS.dense)), sink, { weightFormat: 'q8', maxShardBytes: 128 * 1024 });
    const packed = sink.files();
    const shards = [...packed.keys()].filter((f) => f.endsWith('.safetensors'));
    const rnd = new Random(8);
    let cases = 0;
    for (let i = 0; i < 300; i++) {
      const shard = pick(rnd, shards);
      const { header, data } = splitSafetensors(packed.get(shard)!);
      const name = pick(rnd, Object.keys(header).filter((k) => k !== '__metadata__'));
      const entry = header[name] as { dtype: string; shape: number[] };
      const n = numel(entry.shape) * DTYPE_BYTES[entry.dtype as keyof typeof DTYPE_BYTES];
      const [dtype, shape] = pick(rnd, [
        ['U8', [n]],
        ['I8', [n]],
        ['F8_E4M3', [1, n]],
        ['F16', [n / 2]],
        ['F32', [n / 4]],
        [entry.dtype, [...entry.shape].reverse()],
      ] as [string, number[]][]);
      if (!Number.isInteger(shape[0]) || (dtype === entry.dtype && shape.join() === entry.shape.join())) continue;
      Object.assign(entry, { dtype, shape });
      const source = new RecordingCheckpoint(new Map(packed).set(shard, joinSafetensors(toJson(header), data)));
      const { error } = await outcome(() => openPackedCheckpoint(source, TINY_CONFIGS.dense));
      expectPreciseError(error, ModelFormatError, new RegExp(`the packed tensors do not match qwen35-packed\\.json: wrong tensors: ${name.replace(/\./g, '\\.')}: ${dtype}`), `case ${i} (${name} as ${dtype} ${shape})`);
      expect(source.stats.largestRead).toBeLessThan(2 ** 16);
      cases++;
    }
    console.log(`packed shard fuzz: ${cases} cases`);
    expect(cases).toBeGreaterThan(200);
  });
});
