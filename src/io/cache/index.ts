/**
 * The checkpoint cache: `CachedCheckpointSource` (download once, resume, verify), the stores
 * (Node disk; OPFS or Cache API in browsers), and listing / deleting cached models.
 */
import { InvalidArgumentError } from '../../errors.js';
import type { CacheStore } from './store.js';

export { CachedCheckpointSource, type CachedSourceOptions } from './cached-source.js';
export { isQuotaError, MANIFEST_FILE, type CachedFileEntry, type CacheManifest, type CacheStore, type CacheWriter } from './store.js';

export interface CachedFileInfo {
  name: string;
  /** Size on the server. */
  size: number;
  /** Bytes kept (less than `size` while partial). */
  bytesStored: number;
  complete: boolean;
}

export interface CachedModelInfo {
  /** What `deleteCachedModel` / `qwen35 cache rm` take: "owner/name/revision" or "url-<hash>/latest". */
  id: string;
  /** Where it came from (repo@revision or URL, no credentials). */
  source: string;
  files: CachedFileInfo[];
  bytesStored: number;
  /** True while some file is only partly downloaded. */
  partial: boolean;
}

export async function listCachedModels(store: CacheStore): Promise<CachedModelInfo[]> {
  const out: CachedModelInfo[] = [];
  for (const id of await store.listModels()) {
    const manifest = await store.readManifest(id);
    if (!manifest) continue;
    const files: CachedFileInfo[] = [];
    for (const [name, entry] of Object.entries(manifest.files).sort(([a], [b]) => a.localeCompare(b))) {
      files.push({ name, size: entry.size, bytesStored: await store.storedBytes(id, name), complete: entry.complete });
    }
    out.push({
      id,
      source: manifest.source,
      files,
      bytesStored: files.reduce((a, f) => a + f.bytesStored, 0),
      partial: files.some((f) => !f.complete),
    });
  }
  return out;
}

/** Deletes one cached model; false if there is no such id. */
export function deleteCachedModel(store: CacheStore, id: string): Promise<boolean> {
  return store.deleteModel(id);
}

/** Deletes every cached model; returns their ids. */
export async function clearCache(store: CacheStore): Promise<string[]> {
  const ids = await store.listModels();
  for (const id of ids) await store.deleteModel(id);
  return ids;
}

const isNode = (): boolean => typeof process !== 'undefined' && typeof process.versions?.node === 'string';

/**
 * The Node disk cache in `dir` (default $QWEN35_CACHE_DIR or ~/.cache/qwen35-webgpu), the one
 * `qwen35 cache --dir` works on. Loaded on demand so that browser bundles never pull in node:fs.
 */
export async function nodeDiskCacheStore(dir?: string): Promise<CacheStore> {
  if (!isNode()) throw new InvalidArgumentError('nodeDiskCacheStore: the disk cache exists only in Node; in a browser use defaultCacheStore()');
  const { NodeDiskCacheStore } = await import('./node-disk.js');
  return new NodeDiskCacheStore(dir);
}

/** The store remote loads use unless told otherwise: the disk in Node, OPFS (or else the Cache API) in a browser. */
export async function defaultCacheStore(): Promise<CacheStore> {
  if (isNode()) return nodeDiskCacheStore();
  const { openBrowserCacheStore } = await import('./browser.js');
  const store = await openBrowserCacheStore();
  if (!store) {
    throw new InvalidArgumentError('this browser offers no persistent storage (OPFS or Cache API); open the model with cache: false');
  }
  return store;
}
