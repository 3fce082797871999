/**
 * Safetensors reader over range reads (`ByteSource`): the header is validated completely before
 * any tensor is read, and tensors are read one at a time — a shard is never loaded whole.
 *
 * File layout: u64 little-endian header length N, N bytes of UTF-8 JSON
 * `{ "__metadata__"?: {string: string}, name: { dtype, shape, data_offsets: [begin, end] } }`,
 * then the data buffer; offsets are relative to the start of the data buffer (byte 8 + N).
 */
import { ModelFormatError } from '../errors.js';
import type { ByteSource } from './source.js';
import { bf16BytesToF32, f16BytesToF32, f16ToF32, f8e4m3BytesToF32 } from './bf16.js';
import { duplicateTopLevelKey } from './json-keys.js';
import { quoteName, showValue } from './show-value.js';

export type Dtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'F8_E4M3' | 'F8_E5M2' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export const DTYPE_BYTES: Readonly<Record<Dtype, number>> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  F8_E4M3: 1,
  F8_E5M2: 1,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

/** Largest header accepted (the reference implementation's limit). */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export interface TensorInfo {
  name: string;
  dtype: Dtype;
  shape: number[];
  /** Absolute byte offset of the tensor data in the file. */
  offset: number;
  byteLength: number;
}

export interface SafetensorsFile {
  name: string;
  size: number;
  headerLength: number;
  /** Absolute offset of the data buffer (8 + headerLength). */
  dataStart: number;
  metadata: Record<string, string>;
  tensors: Map<string, TensorInfo>;
}

export const isDtype = (s: unknown): s is Dtype => typeof s === 'string' && Object.hasOwn(DTYPE_BYTES, s);

/** Number of elements of a shape (1 for a scalar). */
export const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Reads and validates the header of one safetensors file. */
export async function readSafetensorsHeader(src: ByteSource): Promise<SafetensorsFile> {
  const file = src.name;
  const fail = (what: string): never => {
    throw new ModelFormatError(`${file}: ${what}`);
  };
  const size = await src.size();
  if (size < 8) fail(`file is ${size} bytes; a safetensors file starts with an 8-byte header length`);
  const lenBytes = await src.read(0, 8);
  const headerLen = new DataView(lenBytes.buffer, lenBytes.byteOffset, 8).getBigUint64(0, true);
  const limit = Math.min(size - 8, MAX_HEADER_BYTES);
  if (headerLen < 2n || headerLen > BigInt(limit)) {
    fail(
      `header length ${headerLen} is invalid: expected 2 ≤ N ≤ ${limit} ` +
        `(file size ${size} − 8${size - 8 > MAX_HEADER_BYTES ? `, capped at ${MAX_HEADER_BYTES}` : ''}); the file is truncated or not safetensors`,
    );
  }
  const n = Number(headerLen);
  let text = '';
  let json: unknown;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(await src.read(8, n));
    json = JSON.parse(text);
  } catch (e) {
    fail(`header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (!isPlainObject(json)) return fail('header must be a JSON object of tensors');
  const duplicate = duplicateTopLevelKey(text);
  if (duplicate !== undefined) fail(`header names ${duplicate === '__metadata__' ? '' : 'tensor '}${quoteName(duplicate)} twice`);
  const dataSize = size - 8 - n;
  const metadata: Record<string, string> = {};
  const tensors = new Map<string, TensorInfo>();
  for (const [name, entry] of Object.entries(json)) {
    if (name === '__metadata__') {
      if (!isPlainObject(entry)) fail('__metadata__ must be an object of strings');
      for (const [k, v] of Object.entries(entry as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`__metadata__[${quoteName(k)}] must be a string, found ${showValue(v)}`);
        metadata[k] = v as string;
      }
      continue;
    }
    tensors.set(name, parseTensorEntry(file, name, entry, dataSize, 8 + n));
  }
  checkNoOverlap(file, [...tensors.values()]);
  return { name: file, size, headerLength: n, dataStart: 8 + n, metadata, tensors };
}

function parseTensorEntry(file: string, name: string, entry: unknown, dataSize: number, dataStart: number): TensorInfo {
  const fail = (what: string): never => {
    throw new ModelFormatError(`${file}: tensor ${quoteName(name)}: ${what}`);
  };
  if (!isPlainObject(entry)) return fail('entry must be an object with dtype, shape and data_offsets');
  const { dtype, shape, data_offsets: offsets } = entry;
  if (!isDtype(dtype)) return fail(`unsupported dtype ${showValue(dtype)}; expected one of ${Object.keys(DTYPE_BYTES).join(', ')}`);
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    return fail(`shape must be an array of non-negative integers, found ${showValue(shape)}`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
    return fail(`data_offsets must be [begin, end] of non-negative integers, found ${showValue(offsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end) fail(`data_offsets [${begin}, ${end}] has begin > end`);
  if (end > dataSize) fail(`data_offsets end ${end} is beyond the data buffer (${dataSize} bytes); the file is truncated`);
  const elements = numel(shape as number[]);
  const expected = elements * DTYPE_BYTES[dtype];
  if (!Number.isSafeInteger(expected) || expected !== end - begin) {
    fail(`byte length mismatch: shape ${showValue(shape)} × ${DTYPE_BYTES[dtype]} bytes (${dtype}) = ${expected}, data_offsets span ${end - begin}`);
  }
  return { name, dtype, shape: shape as number[], offset: dataStart + begin, byteLength: end - begin };
}

/**
 * Non-empty tensors must not share a byte (empty ones may sit anywhere). Sorted by start, a
 * tensor overlaps an earlier one iff it starts before the furthest end seen so far — comparing
 * only neighbours would let an empty tensor between two overlapping ones hide the overlap.
 */
function checkNoOverlap(file: string, infos: TensorInfo[]): void {
  const sorted = infos.filter((t) => t.byteLength > 0).sort((a, b) => a.offset - b.offset);
  let furthest: TensorInfo | undefined;
  for (const cur of sorted) {
    if (furthest && furthest.offset + furthest.byteLength > cur.offset) {
      throw new ModelFormatError(`${file}: tensors ${quoteName(furthest.name)} and ${quoteName(cur.name)} have overlapping data_offsets`);
    }
    if (!furthest || cur.offset + cur.byteLength > furthest.offset + furthest.byteLength) furthest = cur;
  }
}

/** The raw little-endian bytes of one tensor. */
export async function readTensorBytes(src: ByteSource, info: TensorInfo, signal?: AbortSignal): Promise<Uint8Array> {
  const bytes = await src.read(info.offset, info.byteLength, signal);
  if (bytes.byteLength !== info.byteLength) {
    throw new ModelFormatError(`${src.name}: tensor ${quoteName(info.name)}: read ${bytes.byteLength} bytes, expected ${info.byteLength}`);
  }
  return bytes;
}

/**
 * Converts raw tensor bytes to f32 (always a fresh array). Floats convert exactly except F64
 * (rounded); integer types convert by value (I64 beyond 2^53 loses precision; BOOL → 0/1).
 */
export function toFloat32(bytes: Uint8Array, dtype: Dtype, shape: readonly number[]): Float32Array {
  const n = numel(shape);
  if (bytes.byteLength !== n * DTYPE_BYTES[dtype]) {
    throw new ModelFormatError(`toFloat32: ${bytes.byteLength} bytes do not hold shape ${showValue(shape)} of ${dtype}`);
  }
  const aligned = (k: number): ArrayBuffer =>
    bytes.byteOffset % k === 0 ? (bytes.buffer as ArrayBuffer) : (bytes.slice().buffer as ArrayBuffer);
  const off = (k: number): number => (bytes.byteOffset % k === 0 ? bytes.byteOffset : 0);
  switch (dtype) {
    case 'F32':
      return new Float32Array(new Float32Array(aligned(4), off(4), n));
    case 'BF16':
      return bf16BytesToF32(bytes);
    case 'F16':
      return f16BytesToF32(bytes);
    case 'F8_E4M3':
      return f8e4m3BytesToF32(bytes);
    case 'F8_E5M2':
      return Float32Array.from(bytes, (b) => f16ToF32(b << 8)); // e5m2 is the top byte of an f16
    case 'F64':
      return Float32Array.from(new Float64Array(aligned(8), off(8), n));
    case 'I64':
      return Float32Array.from(new BigInt64Array(aligned(8), off(8), n), (v) => Number(v));
    case 'I32':
      return Float32Array.from(new Int32Array(aligned(4), off(4), n));
    case 'I16':
      return Float32Array.from(new Int16Array(aligned(2), off(2), n));
    case 'I8':
      return Float32Array.from(new Int8Array(bytes.buffer, bytes.byteOffset, n));
    case 'U8':
      return Float32Array.from(bytes);
    case 'BOOL':
      return Float32Array.from(bytes, (b) => (b ? 1 : 0));
  }
}
