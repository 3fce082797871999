/**
 * Browser cache stores: the origin private file system (OPFS) when the browser can write it
 * from the page (`createWritable`), else the Cache API. Both hold chunked files through
 * `ChunkedCacheStore`. The minimal handle/cache shapes used are declared here so tests can
 * run the same code against small fakes in Node.
 */
import { CHUNK_BYTES, ChunkedCacheStore, type BlobBackend, type BlobSink } from './chunked.js';

const ROOT = 'qwen35-webgpu';
const HINT =
  'Free space by deleting cached models (deleteCachedModel, or the demo\'s cache list) or by clearing this site\'s data in the browser settings.';

export interface OpfsWritable {
  write(data: Uint8Array): Promise<void>;
  close(): Promise<void>;
  abort(): Promise<void>;
}

export interface OpfsFileHandle {
  getFile(): Promise<Blob>;
  createWritable(): Promise<OpfsWritable>;
}

export interface OpfsDirectory {
  getDirectoryHandle(name: string, opts?: { create?: boolean }): Promise<OpfsDirectory>;
  getFileHandle(name: string, opts?: { create?: boolean }): Promise<OpfsFileHandle>;
  removeEntry(name: string, opts?: { recursive?: boolean }): Promise<void>;
  values(): AsyncIterable<{ kind: 'file' | 'directory'; name: string }>;
}

const isNotFound = (e: unknown): boolean => e instanceof Error && (e.name === 'NotFoundError' || e.name === 'TypeMismatchError');

async function orUndefined<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
}

export class OpfsBackend implements BlobBackend {
  readonly description = `the browser's origin private file system (/${ROOT})`;

  constructor(private readonly root: OpfsDirectory) {}

  async #dir(path: string[], create: boolean): Promise<OpfsDirectory | undefined> {
    let dir: OpfsDirectory | undefined = this.root;
    for (const s of path) {
      dir = await orUndefined(dir.getDirectoryHandle(s, { create }));
      if (!dir) return undefined;
    }
    return dir;
  }

  async get(path: string[]): Promise<Blob | undefined> {
    const dir = await this.#dir(path.slice(0, -1), false);
    const handle = dir && (await orUndefined(dir.getFileHandle(path[path.length - 1]!)));
    return handle?.getFile();
  }

  async create(path: string[]): Promise<BlobSink> {
    const dir = (await this.#dir(path.slice(0, -1), true))!;
    const writable = await (await dir.getFileHandle(path[path.length - 1]!, { create: true })).createWritable();
    return { write: (bytes) => writable.write(bytes), close: () => writable.close() };
  }

  async delete(path: string[]): Promise<void> {
    const dir = await this.#dir(path.slice(0, -1), false);
    if (dir) await orUndefined(dir.removeEntry(path[path.length - 1]!));
  }

  async deleteTree(prefix: string[]): Promise<boolean> {
    const parent = await this.#dir(prefix.slice(0, -1), false);
    const removed = parent?.removeEntry(prefix[prefix.length - 1]!, { recursive: true }).then(() => true);
    const existed = (removed && (await orUndefined(removed))) ?? false;
    // Remove parents left empty ("<owner>/<name>" after its last revision).
    for (let depth = prefix.length - 1; depth > 0; depth--) {
      const dir = await this.#dir(prefix.slice(0, depth), false);
      if (!dir) continue;
      let empty = true;
      for await (const _ of dir.values()) empty = false;
      if (!empty) break;
      await orUndefined((await this.#dir(prefix.slice(0, depth - 1), false))!.removeEntry(prefix[depth - 1]!));
    }
    return existed;
  }

  async find(leaf: string): Promise<string[][]> {
    const out: string[][] = [];
    const walk = async (dir: OpfsDirectory, path: string[]): Promise<void> => {
      for await (const entry of dir.values()) {
        if (entry.kind === 'file' && entry.name === leaf) out.push([...path, entry.name]);
        else if (entry.kind === 'directory' && path.length < 3) await walk(await dir.getDirectoryHandle(entry.name), [...path, entry.name]);
      }
    };
    await walk(this.root, []);
    return out;
  }
}

/** The part of the Cache API used here. */
export interface CacheLike {
  match(url: string): Promise<Response | undefined>;
  put(url: string, response: Response): Promise<void>;
  delete(url: string): Promise<boolean>;
  keys(): Promise<ReadonlyArray<{ url: string }>>;
}

const CACHE_BASE = 'https://qwen35-cache.invalid/';

export class CacheApiBackend implements BlobBackend {
  readonly description = `the browser's Cache API (cache "${ROOT}")`;

  constructor(private readonly cache: CacheLike) {}

  #url(path: string[]): string {
    return CACHE_BASE + path.map(encodeURIComponent).join('/');
  }

  async get(path: string[]): Promise<Blob | undefined> {
    return (await this.cache.match(this.#url(path)))?.blob();
  }

  async create(path: string[]): Promise<BlobSink> {
    // The body streams into the cache as it is written; the entry appears when it is complete.
    const pipe = new TransformStream<Uint8Array, Uint8Array>();
    const writer = pipe.writable.getWriter();
    const stored = this.cache.put(this.#url(path), new Response(pipe.readable, { headers: { 'Content-Type': 'application/octet-stream' } }));
    const failed = stored.then(
      () => new Promise<never>(() => undefined),
      (e: unknown) => Promise.reject(e),
    );
    failed.catch(() => undefined);
    return {
      write: (bytes) => Promise.race([writer.write(bytes), failed]),
      close: async () => {
        await Promise.race([writer.close(), failed]);
        await stored;
      },
    };
  }

  async delete(path: string[]): Promise<void> {
    await this.cache.delete(this.#url(path));
  }

  async deleteTree(prefix: string[]): Promise<boolean> {
    const under = this.#url(prefix) + '/';
    const urls = (await this.cache.keys()).map((r) => r.url).filter((u) => u.startsWith(under));
    for (const u of urls) await this.cache.delete(u);
    return urls.length > 0;
  }

  async find(leaf: string): Promise<string[][]> {
    return (await this.cache.keys())
      .map((r) => r.url)
      .filter((u) => u.startsWith(CACHE_BASE))
      .map((u) => u.slice(CACHE_BASE.length).split('/').map(decodeURIComponent))
      .filter((p) => p[p.length - 1] === leaf);
  }
}

export const opfsCacheStore = (root: OpfsDirectory, chunkBytes = CHUNK_BYTES): ChunkedCacheStore =>
  new ChunkedCacheStore(new OpfsBackend(root), HINT, chunkBytes);
export const cacheApiCacheStore = (cache: CacheLike, chunkBytes = CHUNK_BYTES): ChunkedCacheStore =>
  new ChunkedCacheStore(new CacheApiBackend(cache), HINT, chunkBytes);

/** OPFS if the page can write it, else the Cache API, else undefined. Asks for persistent storage. */
export async function openBrowserCacheStore(): Promise<ChunkedCacheStore | undefined> {
  const storage = (globalThis as { navigator?: Navigator }).navigator?.storage;
  void storage?.persist?.().catch(() => false);
  if (storage?.getDirectory) {
    try {
      const root = (await storage.getDirectory()) as unknown as OpfsDirectory;
      const dir = await root.getDirectoryHandle(ROOT, { create: true });
      const probe = await dir.getFileHandle('.probe', { create: true });
      const writable = typeof (probe as Partial<OpfsFileHandle>).createWritable === 'function';
      await dir.removeEntry('.probe');
      if (writable) return opfsCacheStore(dir);
    } catch {
      // OPFS refused (private browsing, policy): fall back to the Cache API.
    }
  }
  if (typeof caches !== 'undefined') return cacheApiCacheStore((await caches.open(ROOT)) as unknown as CacheLike);
  return undefined;
}
