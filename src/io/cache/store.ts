/**
 * Where downloaded checkpoint files are kept: the `CacheStore` interface (Node disk, browser
 * OPFS or Cache API) and the per-model manifest. Layout of a model:
 *   <owner>/<name>/<revision>/<file>   (hub; revision percent-encoded into one segment)
 *   url-<hash>/latest/<file>           (any HTTP base URL)
 * plus `.qwen35-cache.json` in that folder: each file's size, ETag and whether it is complete.
 */
import { InvalidArgumentError } from '../../errors.js';
import type { ByteSource } from '../source.js';
import { fileNameSegments } from '../sources/names.js';

export const MANIFEST_FILE = '.qwen35-cache.json';

export interface CachedFileEntry {
  /** Size on the server when the download started. */
  size: number;
  /** Server validator the partial bytes belong to (resume only if it still matches). */
  etag?: string;
  complete: boolean;
}

export interface CacheManifest {
  version: 1;
  /** Where the files came from (no credentials). */
  source: string;
  files: Record<string, CachedFileEntry>;
}

export interface CacheWriter {
  write(chunk: Uint8Array): Promise<void>;
  /** Flushes and closes; what was written stays, so an interrupted download can resume. */
  close(): Promise<void>;
}

export interface CacheStore {
  /** Where the cache is, for messages. */
  readonly description: string;
  /** How a user frees space in this store (quota errors quote it). */
  readonly freeSpaceHint: string;
  /** Bytes that can still be stored, where the platform says (downloads larger than this are refused up front). */
  freeBytes?(): Promise<number | undefined>;
  readManifest(model: string): Promise<CacheManifest | undefined>;
  writeManifest(model: string, manifest: CacheManifest): Promise<void>;
  /** Bytes of `file` kept (0 if none); resumable from there. */
  storedBytes(model: string, file: string): Promise<number>;
  /** A writer appending at `offset` (≤ storedBytes); anything stored after `offset` is dropped. */
  openWriter(model: string, file: string, offset: number): Promise<CacheWriter>;
  openReader(model: string, file: string): Promise<ByteSource>;
  deleteFile(model: string, file: string): Promise<void>;
  /** Ids of every model with a manifest. */
  listModels(): Promise<string[]>;
  /** Removes a model's folder; false if there was none. */
  deleteModel(model: string): Promise<boolean>;
}

/** The path segments of a model id ("owner/name/revision" or "url-<hash>/latest"). */
export function modelSegments(model: string): string[] {
  const segments = fileNameSegments(model, 'cached model id');
  if (segments.length < 2 || segments.length > 3) {
    throw new InvalidArgumentError(
      `invalid cached model id "${model}": expected "owner/name/revision" or "url-<hash>/latest" (see \`qwen35 cache list\`)`,
    );
  }
  return segments;
}

/** A checkpoint file name that may be cached (not the manifest's name). */
export function cacheFileSegments(file: string): string[] {
  const segments = fileNameSegments(file);
  if (segments[segments.length - 1] === MANIFEST_FILE) {
    throw new InvalidArgumentError(`"${file}" cannot be cached: the name is reserved for the cache manifest`);
  }
  return segments;
}

/** Parses a stored manifest; undefined if it is not one (a damaged manifest means "nothing cached"). */
export function parseManifest(text: string): CacheManifest | undefined {
  try {
    const m = JSON.parse(text) as Partial<CacheManifest>;
    if (m.version !== 1 || typeof m.files !== 'object' || m.files === null) return undefined;
    return { version: 1, source: typeof m.source === 'string' ? m.source : '', files: m.files };
  } catch {
    return undefined;
  }
}

/** True for "disk full" / "quota exceeded" in Node and browsers. */
export function isQuotaError(e: unknown): boolean {
  const code = (e as { code?: unknown } | undefined)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT' || (e instanceof Error && e.name === 'QuotaExceededError');
}
