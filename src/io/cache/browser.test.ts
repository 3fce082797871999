/**
 * The browser cache stores (OPFS, Cache API) in Node, against small in-memory fakes of
 * `FileSystemDirectoryHandle` and `Cache` that follow the browser contracts used here
 * (NotFoundError, writables committed on close, streamed Response bodies, QuotaExceededError).
 * Downloads come from the hub-style server over real HTTP; chunks are 256 KiB so that files
 * span several of them. Bytes are compared exactly.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AbortedError, DownloadError } from '../../errors.js';
import { startHubServer, type HubServer } from '../hub-server.js';
import { HubCheckpointSource } from '../sources/hub.js';
import { RemoteError } from '../sources/remote.js';
import { deterministicBytes, firstDifference, tempDir, writeCheckpointFolder } from '../sources/test-fixture.js';
import { cacheApiCacheStore, opfsCacheStore, type CacheLike, type OpfsDirectory, type OpfsFileHandle } from './browser.js';
import { CachedCheckpointSource, deleteCachedModel, listCachedModels } from './index.js';

const CHUNK = 256 * 1024;
const SHARD = 'model.safetensors';
const SIZE = 1_000_003; // 3 full chunks and a short one

/** Bytes the fake storage still accepts; writes beyond it throw QuotaExceededError. */
const quota = { left: Infinity };
function spend(n: number): void {
  if (n > quota.left) throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
  quota.left -= n;
}

class FakeDirectory implements OpfsDirectory {
  readonly entries = new Map<string, FakeDirectory | { bytes: Uint8Array<ArrayBuffer> }>();

  #get(name: string, kind: 'file' | 'directory', create: boolean) {
    let e = this.entries.get(name);
    if (!e && create) this.entries.set(name, (e = kind === 'directory' ? new FakeDirectory() : { bytes: new Uint8Array(0) }));
    if (!e) throw new DOMException(`${name} not found`, 'NotFoundError');
    if ((e instanceof FakeDirectory) !== (kind === 'directory')) throw new DOMException(name, 'TypeMismatchError');
    return e;
  }

  async getDirectoryHandle(name: string, opts?: { create?: boolean }): Promise<OpfsDirectory> {
    return this.#get(name, 'directory', opts?.create ?? false) as FakeDirectory;
  }

  async getFileHandle(name: string, opts?: { create?: boolean }): Promise<OpfsFileHandle> {
    const file = this.#get(name, 'file', opts?.create ?? false) as { bytes: Uint8Array<ArrayBuffer> };
    return {
      getFile: async () => new Blob([file.bytes]),
      createWritable: async () => {
        const parts: Uint8Array<ArrayBuffer>[] = []; // a swap file: visible only after close()
        return {
          write: async (data) => {
            spend(data.byteLength);
            parts.push(data.slice());
          },
          close: async () => void (file.bytes = new Uint8Array(await new Blob(parts).arrayBuffer())),
          abort: async () => void (parts.length = 0),
        };
      },
    };
  }

  async removeEntry(name: string, opts?: { recursive?: boolean }): Promise<void> {
    const e = this.entries.get(name);
    if (!e) throw new DOMException(`${name} not found`, 'NotFoundError');
    if (e instanceof FakeDirectory && e.entries.size > 0 && !opts?.recursive) throw new DOMException(name, 'InvalidModificationError');
    this.entries.delete(name);
  }

  async *values() {
    for (const [name, e] of this.entries) yield { kind: e instanceof FakeDirectory ? ('directory' as const) : ('file' as const), name };
  }
}

class FakeCache implements CacheLike {
  readonly blobs = new Map<string, Blob>();

  async match(url: string) {
    const blob = this.blobs.get(url);
    return blob ? new Response(blob) : undefined;
  }

  async put(url: string, response: Response) {
    const reader = response.body!.getReader();
    const parts: Uint8Array<ArrayBuffer>[] = [];
    for (let r = await reader.read(); !r.done; r = await reader.read()) {
      try {
        spend(r.value.byteLength);
      } catch (e) {
        await reader.cancel(e);
        throw e;
      }
      parts.push(r.value as Uint8Array<ArrayBuffer>);
    }
    this.blobs.set(url, new Blob(parts));
  }

  async delete(url: string) {
    return this.blobs.delete(url);
  }

  async keys() {
    return [...this.blobs.keys()].map((url) => ({ url }));
  }
}

const tmp = tempDir('browser-cache');
let server: HubServer;
let files: Map<string, Uint8Array>;

const hub = (signal?: AbortSignal) =>
  new HubCheckpointSource({ repo: 'acme/tiny', hubUrl: server.url, retryDelayMs: 5, ...(signal ? { signal } : {}) });
const gets = () => server.requests.filter((r) => r.method === 'GET' && r.path.endsWith(SHARD) && r.range !== 'bytes=0-0');

beforeAll(async () => {
  files = await writeCheckpointFolder(join(tmp.dir, 'acme', 'tiny'), { 'config.json': 80, [SHARD]: SIZE });
  server = await startHubServer({ root: tmp.dir });
});
afterAll(async () => {
  await server.close();
  tmp.remove();
});
beforeEach(() => {
  quota.left = Infinity;
  server.faults.clear();
  server.requests.length = 0;
});

let lastRoot: { empty(): boolean } = { empty: () => false };
const STORES = [
  {
    name: 'OPFS',
    make: () => {
      const root = new FakeDirectory();
      lastRoot = { empty: () => root.entries.size === 0 };
      return opfsCacheStore(root, CHUNK);
    },
  },
  {
    name: 'Cache API',
    make: () => {
      const cache = new FakeCache();
      lastRoot = { empty: () => cache.blobs.size === 0 };
      return cacheApiCacheStore(cache, CHUNK);
    },
  },
];

describe.each(STORES)('$name cache store', ({ make }) => {
  it('downloads into chunks and reads exact ranges across chunk boundaries; list and delete', async () => {
    const store = make();
    const src = new CachedCheckpointSource(hub(), store);
    const file = await src.open(SHARD);
    const want = files.get(SHARD)!;
    expect(await file.size()).toBe(SIZE);
    for (const [o, n] of [[0, SIZE], [CHUNK - 3, 7], [CHUNK * 3 - 1, SIZE - CHUNK * 3 + 1], [5, 2 * CHUNK + 11]] as const) {
      expect(firstDifference(await file.read(o, n), want.subarray(o, o + n))).toBe(-1);
    }
    expect(JSON.parse(await src.readText('config.json')).name).toBe('config.json');
    const [model] = await listCachedModels(store);
    expect(model).toMatchObject({ id: 'acme/tiny/main', partial: false, bytesStored: SIZE + (await (await src.open('config.json')).size()) });
    expect(await deleteCachedModel(store, 'acme/tiny/main')).toBe(true);
    expect(await listCachedModels(store)).toEqual([]);
    expect(await store.storedBytes('acme/tiny/main', SHARD)).toBe(0);
    expect(lastRoot.empty()).toBe(true); // empty "acme/tiny" parents are pruned too
  });

  it('resumes an aborted download at the bytes kept and completes it exactly', async () => {
    const store = make();
    server.faults.slow(10, { path: SHARD });
    const ctrl = new AbortController();
    setTimeout(() => ctrl.abort(), 120);
    await expect(new CachedCheckpointSource(hub(ctrl.signal), store).open(SHARD)).rejects.toThrow(AbortedError);
    const kept = await store.storedBytes('acme/tiny/main', SHARD);
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(SIZE);
    server.faults.clear();
    server.requests.length = 0;
    const file = await new CachedCheckpointSource(hub(), store).open(SHARD);
    expect(gets()[0]?.range).toBe(`bytes=${kept}-${SIZE - 1}`);
    expect(firstDifference(await file.read(0, SIZE), files.get(SHARD)!)).toBe(-1);
  });

  it('a full quota becomes a DownloadError that says how to free space', async () => {
    quota.left = 600_000;
    const err = (await new CachedCheckpointSource(hub(), make()).open(SHARD).catch((e: unknown) => e)) as RemoteError;
    expect(err).toBeInstanceOf(DownloadError);
    expect(err.reason).toBe('quota');
    expect(err.message).toMatch(/out of storage space.*more are needed.*clearing this site's data/);
  });
});

describe('chunked writer', () => {
  it('appending inside a short chunk rewrites only that chunk and drops stale later chunks', async () => {
    const store = opfsCacheStore(new FakeDirectory(), 1000);
    const a = deterministicBytes(3500, 1);
    const b = deterministicBytes(2000, 2);
    let w = await store.openWriter('x/y', 'f.bin', 0);
    await w.write(a);
    await w.close();
    expect(await store.storedBytes('x/y', 'f.bin')).toBe(3500);
    w = await store.openWriter('x/y', 'f.bin', 1500); // inside chunk 1; chunks 2 and 3 are stale
    await w.write(b.subarray(0, 700));
    await w.write(b.subarray(700));
    await w.close();
    const r = await store.openReader('x/y', 'f.bin');
    const want = new Uint8Array([...a.subarray(0, 1500), ...b]);
    expect(await r.size()).toBe(3500);
    expect(firstDifference(await r.read(0, 3500), want)).toBe(-1);
    await expect(store.openWriter('x/y', 'f.bin', 4000)).rejects.toThrow(/only 3500 bytes are cached/);
  });
});
