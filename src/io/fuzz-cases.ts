/**
 * Hostile model files for the fuzz tests (src/io/fuzz.test.ts, src/runtime/fuzz-gpu.test.ts):
 * seeded mutations of safetensors headers, checkpoint indexes, config.json and
 * qwen35-packed.json, a ByteSource that records every read a parser makes, and the check that a
 * failure is a typed, precise, bounded error. Test support only.
 */
import { expect } from 'vitest';
import { ModelFormatError, Qwen35Error } from '../errors.js';
import type { Random } from '../model/random.js';
import type { ByteSource, CheckpointSource } from './source.js';

export type Files = Map<string, Uint8Array>;

export const pick = <T>(rnd: Random, list: readonly T[]): T => list[rnd.int(list.length)]!;

/** JSON text written verbatim where the value stands (what JSON.stringify cannot or should not build). */
export class Raw {
  constructor(
    readonly label: string,
    readonly text: string,
  ) {}
}

const N = 100_000;
export const RAW_VALUES: readonly Raw[] = [
  new Raw('arrays nested 100,000 deep', '['.repeat(N) + ']'.repeat(N)),
  new Raw('objects nested 100,000 deep', '{"a":'.repeat(N) + '1' + '}'.repeat(N)),
  new Raw('an array of 100,001 ones', `[${'1,'.repeat(N)}1]`),
  new Raw('a 1 MiB string', `"${'x'.repeat(2 ** 20)}"`),
  new Raw('1e400 (Infinity)', '1e400'),
  new Raw('-1e400', '-1e400'),
  new Raw('a 30-digit integer', '123456789012345678901234567890'),
];
export const PLAIN_VALUES: readonly unknown[] = [
  -1, 0, 1, 1.5, -0.5, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 53 + 2, 2 ** 60, 1e308, -1e308, '7', '', 'x', null, true, false, [], {}, [1, 2], { a: 1 },
];

export function hostileValue(rnd: Random): unknown {
  return rnd.next() < 0.3 ? pick(rnd, RAW_VALUES) : pick(rnd, PLAIN_VALUES);
}

/** Shapes a safetensors header should refuse (or, for [] and 10,000 ones, at least not choke on). */
export function hostileShape(rnd: Random): unknown {
  return pick(rnd, [
    () => hostileValue(rnd),
    () => [hostileValue(rnd)],
    () => [2 ** 30, 2 ** 30, 2 ** 30], // product 2^90
    () => [2 ** 26, 2 ** 27, 3], // product beyond 2^53
    () => [-1, 5],
    () => [1.5, 4],
    () => [3, '5'],
    () => Array(10_000).fill(1),
    () => [2 ** 53],
    () => [],
  ])();
}

/** data_offsets around a tensor's real [begin, end]: hostile values, reversed, short, long, beyond the data. */
export function hostileOffsets(rnd: Random, [begin, end]: [number, number], dataSize: number): unknown {
  return pick(rnd, [
    () => hostileValue(rnd),
    () => [hostileValue(rnd), end],
    () => [begin, hostileValue(rnd)],
    () => [end, begin],
    () => [begin],
    () => [begin, end, end],
    () => [begin, dataSize + 1 + rnd.int(100)],
    () => [0, 2 ** 53],
    () => [-1, end - 1],
    () => [begin + 0.5, end + 0.5],
  ])();
}

/** bf16 bit patterns a checkpoint may hold and a packed format may not: NaN, +Inf, −Inf, 1e38 (its q4/q8 group scale overflows f16). */
export const BAD_BF16: readonly (readonly [string, number])[] = [
  ['NaN', 0x7fc0],
  ['Infinity', 0x7f80],
  ['-Infinity', 0xff80],
  ['1e38', 0x7e96],
];
/** Checkpoint tensors packed into q4/q8/f16 matrices (norms, conv and f32 routers are stored as is). */
export const PACKED_MATRIX = /(proj\.weight|embed_tokens\.weight|lm_head\.weight|experts\.(gate_up|down)_proj)$/;

export const describeValue = (v: unknown): string => (v instanceof Raw ? v.label : (JSON.stringify(v) ?? String(v)).slice(0, 40));

/** JSON.stringify with Raw values spliced in. */
export function toJson(value: unknown): string {
  const raws: string[] = [];
  const text = JSON.stringify(value, (_k, v: unknown) => (v instanceof Raw ? `\u0000RAW${raws.push(v.text) - 1}\u0000` : v));
  return text.replace(/"\\u0000RAW(\d+)\\u0000"/g, (_m, i: string) => raws[Number(i)]!);
}

export const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
export const readJson = (files: Files, name: string): Record<string, unknown> => JSON.parse(new TextDecoder().decode(files.get(name)));

/** A safetensors file split into its header object and data buffer. */
export interface SafetensorsParts {
  header: Record<string, unknown>;
  data: Uint8Array;
}

export function splitSafetensors(bytes: Uint8Array): SafetensorsParts {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  return { header: JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))), data: bytes.subarray(8 + n) };
}

/** Joins header text and data; the length field is the text's unless `length` overrides it. */
export function joinSafetensors(headerText: string | Uint8Array, data: Uint8Array, length?: bigint): Uint8Array {
  const text = typeof headerText === 'string' ? utf8(headerText) : headerText;
  const out = new Uint8Array(8 + text.length + data.length);
  new DataView(out.buffer).setBigUint64(0, length ?? BigInt(text.length), true);
  out.set(text, 8);
  out.set(data, 8 + text.length);
  return out;
}

/** Read statistics shared by the files of a RecordingCheckpoint. */
export interface ReadStats {
  reads: number;
  largestRead: number;
  /** Reads outside the real bytes: a parser must check offsets before it reads. */
  outside: number;
}

export const newStats = (): ReadStats => ({ reads: 0, largestRead: 0, outside: 0 });

/**
 * A file in memory that records its reads. `claimedSize` lets size() lie (a server announcing
 * more bytes than it has); reads outside the real bytes fail like a truncated local file does.
 */
export class RecordingByteSource implements ByteSource {
  constructor(
    readonly name: string,
    private readonly bytes: Uint8Array,
    readonly stats: ReadStats = newStats(),
    private readonly claimedSize = bytes.byteLength,
  ) {}

  async size(): Promise<number> {
    return this.claimedSize;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    this.stats.reads++;
    this.stats.largestRead = Math.max(this.stats.largestRead, length);
    if (!(Number.isSafeInteger(offset) && Number.isSafeInteger(length) && offset >= 0 && length >= 0 && offset + length <= this.bytes.byteLength)) {
      this.stats.outside++;
      throw new ModelFormatError(`${this.name}: read of ${length} bytes at ${offset} goes past the end of the file (${this.bytes.byteLength} bytes)`);
    }
    return this.bytes.subarray(offset, offset + length);
  }
}

/** A checkpoint folder in memory whose files record their reads into one ReadStats. */
export class RecordingCheckpoint implements CheckpointSource {
  readonly stats = newStats();
  readonly description = 'fuzz';

  constructor(readonly files: Files) {}

  async has(name: string): Promise<boolean> {
    return this.files.has(name);
  }

  async open(name: string): Promise<ByteSource> {
    const bytes = this.files.get(name);
    if (!bytes) throw new ModelFormatError(`fuzz: no file "${name}"`);
    return new RecordingByteSource(name, bytes, this.stats);
  }

  async readText(name: string): Promise<string> {
    const src = await this.open(name);
    return new TextDecoder().decode(await src.read(0, await src.size()));
  }
}

/** Longest error message accepted: precise messages name things, they do not echo hostile input. */
export const MAX_MESSAGE = 2000;

/**
 * Asserts that `error` is a typed error of `type` whose message names `mentions` (the file or
 * field at fault), stays short and prints no raw objects.
 */
export function expectPreciseError(error: unknown, type: abstract new (...a: never[]) => Qwen35Error, mentions: RegExp, what: string): void {
  if (!(error instanceof type)) {
    throw new Error(`${what}: expected ${type.name}, got ${error instanceof Error ? `${error.name}: ${error.message.slice(0, 300)}` : String(error)}`, { cause: error });
  }
  expect(error.message.length, `${what}: message length`).toBeLessThanOrEqual(MAX_MESSAGE);
  expect(error.message, what).toMatch(mentions);
  expect(error.message, what).not.toMatch(/\[object Object\]|undefined/);
}

/** Runs `task`, returning its error (undefined if it succeeded) and how long it took. */
export async function outcome(task: () => Promise<unknown>): Promise<{ error: unknown; ms: number }> {
  const start = performance.now();
  const error = await task().then(
    () => undefined,
    (e: unknown) => e,
  );
  return { error, ms: performance.now() - start };
}
