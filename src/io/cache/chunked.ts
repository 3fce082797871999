/**
 * A `CacheStore` over a blob backend (OPFS or the Cache API in browsers). Each file is kept as
 * fixed-size chunks ("<file>.<i>.chunk"), each streamed into its own blob, so a download that
 * stops keeps every chunk already committed and no write ever copies a whole shard. Appending
 * to a short last chunk rewrites just that chunk (≤ CHUNK_BYTES, streamed).
 */
import { InvalidArgumentError, ModelFormatError } from '../../errors.js';
import type { ByteSource } from '../source.js';
import { throwIfAborted } from '../sources/remote.js';
import { cacheFileSegments, MANIFEST_FILE, modelSegments, parseManifest, type CacheManifest, type CacheStore, type CacheWriter } from './store.js';

export const CHUNK_BYTES = 32 * 1024 * 1024;

/** A blob being written; nothing is visible at its path until `close()`. */
export interface BlobSink {
  write(bytes: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

/** Blobs addressed by path segments. */
export interface BlobBackend {
  readonly description: string;
  get(path: string[]): Promise<Blob | undefined>;
  create(path: string[]): Promise<BlobSink>;
  delete(path: string[]): Promise<void>;
  /** Removes everything under `prefix`; false if there was nothing. */
  deleteTree(prefix: string[]): Promise<boolean>;
  /** Paths of every blob whose last segment is `leaf`. */
  find(leaf: string): Promise<string[][]>;
}

/** Range reads over the chunks of one file. */
class ChunkedByteSource implements ByteSource {
  constructor(
    readonly name: string,
    private readonly chunks: Blob[],
    private readonly chunkBytes: number,
    private readonly bytes: number,
  ) {}

  async size(): Promise<number> {
    return this.bytes;
  }

  async read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    if (!(Number.isSafeInteger(offset) && Number.isSafeInteger(length) && offset >= 0 && length >= 0 && offset + length <= this.bytes)) {
      throw new ModelFormatError(
        `${this.name} (cached): read of ${length} bytes at offset ${offset} is outside the file (${this.bytes} bytes); ` +
          'the file is truncated or its header is corrupt',
      );
    }
    throwIfAborted(signal, `reading cached ${this.name}`);
    const out = new Uint8Array(length);
    for (let at = 0; at < length; ) {
      const pos = offset + at;
      const chunk = this.chunks[Math.floor(pos / this.chunkBytes)]!;
      const start = pos % this.chunkBytes;
      const end = Math.min(chunk.size, start + length - at);
      out.set(new Uint8Array(await chunk.slice(start, end).arrayBuffer()), at);
      at += end - start;
    }
    return out;
  }
}

export class ChunkedCacheStore implements CacheStore {
  readonly description: string;

  constructor(
    private readonly backend: BlobBackend,
    readonly freeSpaceHint: string,
    private readonly chunkBytes = CHUNK_BYTES,
  ) {
    this.description = backend.description;
  }

  /** The origin's storage quota minus its usage (navigator.storage.estimate), where the browser says. */
  async freeBytes(): Promise<number | undefined> {
    const storage = typeof navigator !== 'undefined' ? navigator.storage : undefined;
    const estimate = await storage?.estimate?.();
    return estimate?.quota === undefined ? undefined : Math.max(0, estimate.quota - (estimate.usage ?? 0));
  }

  #chunkPath(model: string, file: string, index: number): string[] {
    const segments = cacheFileSegments(file);
    const leaf = segments.pop()!;
    return [...modelSegments(model), ...segments, `${leaf}.${index}.chunk`];
  }

  /** The consecutive chunks of a file, up to the first short (last) one. */
  async #chunks(model: string, file: string): Promise<Blob[]> {
    const out: Blob[] = [];
    for (;;) {
      const blob = await this.backend.get(this.#chunkPath(model, file, out.length));
      if (!blob) return out;
      out.push(blob);
      if (blob.size < this.chunkBytes) return out;
    }
  }

  async readManifest(model: string): Promise<CacheManifest | undefined> {
    const blob = await this.backend.get([...modelSegments(model), MANIFEST_FILE]);
    return blob ? parseManifest(await blob.text()) : undefined;
  }

  async writeManifest(model: string, manifest: CacheManifest): Promise<void> {
    const sink = await this.backend.create([...modelSegments(model), MANIFEST_FILE]);
    await sink.write(new TextEncoder().encode(JSON.stringify(manifest)));
    await sink.close();
  }

  async storedBytes(model: string, file: string): Promise<number> {
    return (await this.#chunks(model, file)).reduce((a, b) => a + b.size, 0);
  }

  async openWriter(model: string, file: string, offset: number): Promise<CacheWriter> {
    const kept = await this.#chunks(model, file);
    const stored = kept.reduce((a, b) => a + b.size, 0);
    if (offset > stored) throw new InvalidArgumentError(`${file}: cannot append at ${offset}, only ${stored} bytes are cached`);
    let index = Math.floor(offset / this.chunkBytes);
    // Drop chunks past the resume point (an older, longer version included).
    for (let i = index + 1; ; i++) {
      const path = this.#chunkPath(model, file, i);
      if (!(await this.backend.get(path))) break;
      await this.backend.delete(path);
    }
    let head = kept[index]?.slice(0, offset % this.chunkBytes);
    let sink: BlobSink | undefined;
    let filled = 0;
    const { backend, chunkBytes } = this;
    const start = async (): Promise<BlobSink> => {
      const s = await backend.create(this.#chunkPath(model, file, index));
      if (head && head.size > 0) {
        const reader = head.stream().getReader();
        for (let r = await reader.read(); !r.done; r = await reader.read()) await s.write(r.value);
        filled = head.size;
      }
      head = undefined;
      return s;
    };
    if (offset % this.chunkBytes === 0) await this.backend.delete(this.#chunkPath(model, file, index));
    return {
      async write(bytes) {
        for (let at = 0; at < bytes.byteLength; ) {
          sink ??= await start();
          const n = Math.min(chunkBytes - filled, bytes.byteLength - at);
          await sink.write(bytes.subarray(at, at + n));
          at += n;
          filled += n;
          if (filled === chunkBytes) {
            await sink.close();
            sink = undefined;
            filled = 0;
            index++;
          }
        }
      },
      async close() {
        const s = sink;
        sink = undefined;
        await s?.close();
      },
    };
  }

  async openReader(model: string, file: string): Promise<ByteSource> {
    const chunks = await this.#chunks(model, file);
    return new ChunkedByteSource(file, chunks, this.chunkBytes, chunks.reduce((a, b) => a + b.size, 0));
  }

  async deleteFile(model: string, file: string): Promise<void> {
    for (let i = 0; ; i++) {
      const path = this.#chunkPath(model, file, i);
      if (!(await this.backend.get(path))) return;
      await this.backend.delete(path);
    }
  }

  async listModels(): Promise<string[]> {
    const ids = (await this.backend.find(MANIFEST_FILE)).map((p) => p.slice(0, -1)).filter((p) => p.length === 2 || p.length === 3);
    return ids.map((p) => p.join('/')).sort();
  }

  deleteModel(model: string): Promise<boolean> {
    return this.backend.deleteTree(modelSegments(model));
  }
}
