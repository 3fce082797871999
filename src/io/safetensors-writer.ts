/**
 * Safetensors writer: one file in memory, or a sharded checkpoint (shards + index json) streamed
 * tensor by tensor through a `write(file, chunk)` sink, so a multi-GB checkpoint is never held
 * in memory. The header is padded with spaces to a multiple of 8 bytes, as the reference
 * implementation does, so the data buffer starts 8-byte aligned.
 */
import { InvalidArgumentError } from '../errors.js';
import { DTYPE_BYTES, numel, type Dtype } from './safetensors.js';
import { INDEX_FILE } from './tensor-directory.js';

export interface TensorSpec {
  name: string;
  dtype: Dtype;
  shape: number[];
}

export interface TensorData extends TensorSpec {
  /** Little-endian bytes, numel(shape) · DTYPE_BYTES[dtype] long. */
  data: Uint8Array;
}

export const tensorBytes = (t: TensorSpec): number => numel(t.shape) * DTYPE_BYTES[t.dtype];

/** The 8-byte length prefix plus the padded JSON header for tensors laid out in order. */
export function safetensorsHeader(specs: readonly TensorSpec[], metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const t of specs) {
    if (t.name === '__metadata__' || Object.hasOwn(header, t.name)) throw new InvalidArgumentError(`safetensors: duplicate or reserved tensor name "${t.name}"`);
    const end = offset + tensorBytes(t);
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, end] };
    offset = end;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + padded).fill(0x20);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  return out;
}

/** A complete safetensors file in memory. */
export function writeSafetensors(tensors: readonly TensorData[], metadata?: Record<string, string>): Uint8Array {
  for (const t of tensors) {
    if (t.data.byteLength !== tensorBytes(t)) {
      throw new InvalidArgumentError(`safetensors: tensor "${t.name}" has ${t.data.byteLength} bytes, shape ${JSON.stringify(t.shape)} of ${t.dtype} needs ${tensorBytes(t)}`);
    }
  }
  const header = safetensorsHeader(tensors, metadata);
  const out = new Uint8Array(header.length + tensors.reduce((a, t) => a + t.data.byteLength, 0));
  out.set(header);
  let pos = header.length;
  for (const t of tensors) {
    out.set(t.data, pos);
    pos += t.data.byteLength;
  }
  return out;
}

export const shardFileName = (i: number, n: number): string =>
  `model-${String(i + 1).padStart(5, '0')}-of-${String(n).padStart(5, '0')}.safetensors`;

/** Splits tensors (in order) into shards of at most maxShardBytes of data (a larger tensor gets its own shard). */
export function planShards(specs: readonly TensorSpec[], maxShardBytes: number): TensorSpec[][] {
  const shards: TensorSpec[][] = [];
  let current: TensorSpec[] = [];
  let bytes = 0;
  for (const t of specs) {
    const size = tensorBytes(t);
    if (current.length > 0 && bytes + size > maxShardBytes) {
      shards.push(current);
      current = [];
      bytes = 0;
    }
    current.push(t);
    bytes += size;
  }
  if (current.length > 0) shards.push(current);
  return shards;
}

export interface ShardIndex {
  metadata: { total_size: number };
  weight_map: Record<string, string>;
}

export interface ShardedWriteOptions {
  maxShardBytes: number;
  /** Header metadata of every shard (e.g. {format: "pt"}). */
  metadata?: Record<string, string>;
  /** Appends a chunk to a file; called sequentially, file after file. */
  write(file: string, chunk: Uint8Array): Promise<void>;
}

/** A tensor's bytes: one array, or chunks in order (so a huge tensor is never whole in memory). */
export type TensorBytes = Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>;

/**
 * Writes `model-0000i-of-0000N.safetensors` shards and `model.safetensors.index.json`.
 * `produce` is called once per tensor, in order, right before its bytes are written.
 */
export async function writeShardedCheckpoint(
  specs: readonly TensorSpec[],
  produce: (spec: TensorSpec) => TensorBytes | Promise<TensorBytes>,
  opts: ShardedWriteOptions,
): Promise<ShardIndex> {
  const shards = planShards(specs, opts.maxShardBytes);
  const weightMap: Record<string, string> = {};
  let total = 0;
  for (const [i, shard] of shards.entries()) {
    const file = shardFileName(i, shards.length);
    await opts.write(file, safetensorsHeader(shard, opts.metadata));
    for (const spec of shard) {
      const data = await produce(spec);
      let written = 0;
      for await (const chunk of data instanceof Uint8Array ? [data] : data) {
        written += chunk.byteLength;
        if (written > tensorBytes(spec)) break;
        await opts.write(file, chunk);
      }
      if (written !== tensorBytes(spec)) {
        throw new InvalidArgumentError(`safetensors: tensor "${spec.name}" produced ${written}${written > tensorBytes(spec) ? '+' : ''} bytes, expected ${tensorBytes(spec)}`);
      }
      weightMap[spec.name] = file;
      total += written;
    }
  }
  const sorted = Object.fromEntries(Object.entries(weightMap).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const index: ShardIndex = { metadata: { total_size: total }, weight_map: sorted };
  await opts.write(INDEX_FILE, new TextEncoder().encode(JSON.stringify(index, null, 2) + '\n'));
  return index;
}
