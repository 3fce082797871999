/**
 * CachedCheckpointSource over the Node disk store, downloading from the hub-style server on
 * 127.0.0.1 (real HTTP). Cached bytes are compared exactly with the served files; resumes are
 * checked through the Range / If-Range headers the server received.
 */
import { createHash } from 'node:crypto';
import { promises as fsp, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AbortedError, DownloadError } from '../../errors.js';
import { startHubServer, type HubServer } from '../hub-server.js';
import type { LoadProgress } from '../source.js';
import { HttpCheckpointSource } from '../sources/http.js';
import { HubCheckpointSource } from '../sources/hub.js';
import { RemoteError } from '../sources/remote.js';
import { deterministicBytes, firstDifference, tempDir, writeCheckpointFolder } from '../sources/test-fixture.js';
import { CachedCheckpointSource, clearCache, deleteCachedModel, listCachedModels, type CacheStore, type CacheWriter } from './index.js';
import { NodeDiskCacheStore } from './node-disk.js';

const SHARD = 'model-00001-of-00002.safetensors';
const SHARD2 = 'model-00002-of-00002.safetensors';
const tmp = tempDir('cache');
const repoDir = join(tmp.dir, 'hub', 'acme', 'tiny');
let files: Map<string, Uint8Array>;
let server: HubServer;
let store: NodeDiskCacheStore;

const hub = (signal?: AbortSignal) =>
  new HubCheckpointSource({ repo: 'acme/tiny', hubUrl: server.url, retryDelayMs: 5, ...(signal ? { signal } : {}) });
const gets = (file: string) => server.requests.filter((r) => r.method === 'GET' && r.path.endsWith(`/${file}`) && r.range !== 'bytes=0-0');

async function expectCachedCopy(src: CachedCheckpointSource, name: string, want: Uint8Array) {
  const file = await src.open(name);
  expect(await file.size()).toBe(want.byteLength);
  expect(firstDifference(await file.read(0, want.byteLength), want)).toBe(-1);
  expect(firstDifference(await file.read(12_345, 999), want.subarray(12_345, 13_344))).toBe(-1);
}

/** `inner` with its writer wrapped (private fields rule out Object.create). */
function withWriter(inner: CacheStore, wrap: (w: CacheWriter) => CacheWriter): CacheStore {
  return {
    description: inner.description,
    freeSpaceHint: inner.freeSpaceHint,
    readManifest: (m) => inner.readManifest(m),
    writeManifest: (m, x) => inner.writeManifest(m, x),
    storedBytes: (m, f) => inner.storedBytes(m, f),
    openWriter: async (m, f, o) => wrap(await inner.openWriter(m, f, o)),
    openReader: (m, f) => inner.openReader(m, f),
    deleteFile: (m, f) => inner.deleteFile(m, f),
    listModels: () => inner.listModels(),
    deleteModel: (m) => inner.deleteModel(m),
  };
}

/** A store whose writes fail once `budget` bytes have been written, like a full disk. */
function fullAfter(inner: CacheStore, budget: number, makeError: () => Error): CacheStore {
  let left = budget;
  return withWriter(inner, (w) => ({
    async write(chunk) {
      if (chunk.byteLength > left) throw makeError();
      left -= chunk.byteLength;
      await w.write(chunk);
    },
    close: () => w.close(),
  }));
}

beforeAll(async () => {
  files = await writeCheckpointFolder(repoDir, { 'config.json': 200, [SHARD]: 3_000_001, [SHARD2]: 1_500_007, 'empty.bin': 0 });
  server = await startHubServer({ root: join(tmp.dir, 'hub') });
});
afterAll(async () => {
  await server.close();
  tmp.remove();
});
beforeEach(async () => {
  server.faults.clear();
  server.requests.length = 0;
  store = new NodeDiskCacheStore(join(tmp.dir, `store-${Math.random().toString(36).slice(2)}`));
});

describe('CachedCheckpointSource (Node disk)', () => {
  it('downloads on first open with monotonic progress ending at the totals, then serves offline from disk', async () => {
    const seen: LoadProgress[] = [];
    const src = new CachedCheckpointSource(hub(), store, { onProgress: (p) => seen.push(p) });
    const [a, b] = await Promise.all([src.open(SHARD), src.open(SHARD2), src.open(SHARD)]);
    expect(await a!.size()).toBe(3_000_001);
    expect(await b!.size()).toBe(1_500_007);
    expect(gets(SHARD)).toHaveLength(1); // two opens of one file share one download
    for (let i = 1; i < seen.length; i++) expect(seen[i]!.bytesDone).toBeGreaterThanOrEqual(seen[i - 1]!.bytesDone);
    expect(seen.at(-1)).toMatchObject({ bytesDone: 4_500_008, bytesTotal: 4_500_008, phase: 'download' });
    expect(seen.at(-1)!.files.map((f) => f.file).sort()).toEqual([SHARD, SHARD2]);
    expect(await fsp.stat(join(store.root, 'acme/tiny/main', SHARD)).then((s) => s.size)).toBe(3_000_001);

    server.requests.length = 0;
    const again = new CachedCheckpointSource(hub(), store);
    await expectCachedCopy(again, SHARD, files.get(SHARD)!);
    expect(JSON.parse(await again.readText('config.json')).name).toBe('config.json');
    expect(await (await again.open('empty.bin')).size()).toBe(0); // a 0-byte file is cached too
    expect(gets(SHARD)).toHaveLength(0);
    expect(server.requests.filter((r) => r.path.endsWith(SHARD))).toHaveLength(0); // no network at all
  });

  it('lists and deletes cached models', async () => {
    await new CachedCheckpointSource(hub(), store).open(SHARD2);
    const http = new HttpCheckpointSource(`${server.url}/acme/tiny/resolve/main`, { retryDelayMs: 5 });
    await new CachedCheckpointSource(http, store).open('config.json');
    const list = await listCachedModels(store);
    expect(list.map((m) => m.id)).toEqual(['acme/tiny/main', http.cacheId]);
    expect(list[0]).toMatchObject({ source: `acme/tiny@main on ${server.url}`, bytesStored: 1_500_007, partial: false });
    expect(list[0]!.files).toEqual([{ name: SHARD2, size: 1_500_007, bytesStored: 1_500_007, complete: true }]);
    expect(await deleteCachedModel(store, 'acme/tiny/main')).toBe(true);
    expect(await deleteCachedModel(store, 'acme/tiny/main')).toBe(false);
    expect(await fsp.readdir(store.root)).toEqual([http.cacheId.split('/')[0]]); // empty owner folder pruned
    expect(await clearCache(store)).toEqual([http.cacheId]);
    expect(await listCachedModels(store)).toEqual([]);
    await expect(deleteCachedModel(store, '../../etc')).rejects.toThrow(/invalid cached model id/);
  });

  it('an aborted download leaves a resumable partial; the next open resumes at that offset with If-Range', async () => {
    server.faults.slow(20, { path: SHARD });
    const ctrl = new AbortController();
    const src = new CachedCheckpointSource(hub(ctrl.signal), store);
    setTimeout(() => ctrl.abort(), 300);
    const started = Date.now();
    await expect(src.open(SHARD)).rejects.toThrow(AbortedError);
    expect(Date.now() - started).toBeLessThan(1500);
    const kept = await store.storedBytes('acme/tiny/main', SHARD);
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(3_000_001);
    expect((await listCachedModels(store))[0]).toMatchObject({ partial: true });

    server.faults.clear();
    server.requests.length = 0;
    const seen: LoadProgress[] = [];
    const resumed = new CachedCheckpointSource(hub(), store, { onProgress: (p) => seen.push(p) });
    await expectCachedCopy(resumed, SHARD, files.get(SHARD)!);
    const [first] = gets(SHARD);
    expect(first?.range).toBe(`bytes=${kept}-3000000`);
    expect(first?.ifRange).toMatch(/^"/);
    expect(seen[0]?.bytesDone).toBe(kept); // progress starts from what was kept
  });

  it('a connection cut mid-download continues from the first missing byte', async () => {
    server.faults.cutAfter(1_000_000, { path: SHARD, method: 'GET' });
    await expectCachedCopy(new CachedCheckpointSource(hub(), store), SHARD, files.get(SHARD)!);
    expect(gets(SHARD).map((r) => r.range)).toEqual(['bytes=0-3000000', 'bytes=1000000-3000000']);
  });

  it('a partial whose file changed on the server (new ETag) is dropped and downloaded again from 0', async () => {
    const name = 'changing.bin';
    await fsp.writeFile(join(repoDir, name), deterministicBytes(2_000_000, 1));
    server.faults.slow(20, { path: name });
    const ctrl = new AbortController();
    setTimeout(() => ctrl.abort(), 200);
    await expect(new CachedCheckpointSource(hub(ctrl.signal), store).open(name)).rejects.toThrow(AbortedError);
    expect(await store.storedBytes('acme/tiny/main', name)).toBeGreaterThan(0);
    const next = deterministicBytes(2_100_000, 2);
    await fsp.writeFile(join(repoDir, name), next);
    utimesSync(join(repoDir, name), new Date(), new Date(Date.now() + 10_000));
    server.faults.clear();
    server.requests.length = 0;
    await expectCachedCopy(new CachedCheckpointSource(hub(), store), name, next);
    expect(gets(name)[0]?.range).toBe('bytes=0-2099999');
  });

  it('a file that changes during the download restarts it once, cleanly', async () => {
    const name = 'mid-change.bin';
    const path = join(repoDir, name);
    await fsp.writeFile(path, deterministicBytes(1_000_000, 3));
    const next = deterministicBytes(1_000_000, 4);
    server.faults.cutAfter(300_000, { path: name, method: 'GET' });
    let getsSeen = 0;
    const realFetch = globalThis.fetch;
    // Not a mock: real requests; the file is replaced on disk just before the retry after the cut.
    const observingFetch: typeof fetch = async (input, init) => {
      if (init?.method === 'GET' && String(input).endsWith(name) && new Headers(init.headers).get('range') !== 'bytes=0-0' && getsSeen++ === 1) {
        await fsp.writeFile(path, next);
        utimesSync(path, new Date(), new Date(Date.now() + 20_000));
      }
      return realFetch(input, init);
    };
    const src = new CachedCheckpointSource(new HubCheckpointSource({ repo: 'acme/tiny', hubUrl: server.url, fetch: observingFetch, retryDelayMs: 5 }), store);
    await expectCachedCopy(src, name, next);
    expect(gets(name).map((r) => r.range)).toEqual(['bytes=0-999999', 'bytes=300000-999999', 'bytes=0-999999']);
  });

  it('a final size different from the announced one deletes the copy and reports it', async () => {
    let n = 0;
    const dropping = withWriter(store, (w) => ({
      write: async (chunk) => void (n++ === 3 ? undefined : await w.write(chunk)), // loses one chunk silently
      close: () => w.close(),
    }));
    const err = (await new CachedCheckpointSource(hub(), dropping).open(SHARD2).catch((e: unknown) => e)) as RemoteError;
    expect(err).toBeInstanceOf(DownloadError);
    expect(err.reason).toBe('integrity');
    expect(err.message).toMatch(/has \d+ bytes but .* announced 1500007; the copy was deleted/);
    expect(await store.storedBytes('acme/tiny/main', SHARD2)).toBe(0);
    expect((await store.readManifest('acme/tiny/main'))?.files[SHARD2]).toBeUndefined();
  });

  const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

  it('a shard served with one byte flipped (right length): its SHA-256 differs from the ETag, the copy is deleted and reported', async () => {
    server.faults.corrupt(2_345_678, { path: SHARD, method: 'GET', times: 1 });
    const src = new CachedCheckpointSource(hub(), store);
    const err = (await src.open(SHARD).catch((e: unknown) => e)) as RemoteError;
    expect(err).toBeInstanceOf(DownloadError);
    expect(err.reason).toBe('integrity');
    const want = sha256(files.get(SHARD)!);
    const served = files.get(SHARD)!.slice();
    served[2_345_678]! ^= 0xff;
    expect(err.message).toBe(
      `${SHARD}: the downloaded bytes have SHA-256 ${sha256(served)}, but ${server.url}/acme/tiny/resolve/main/${SHARD} announced ${want} ` +
        '(its ETag); the corrupted copy was deleted, load the model again',
    );
    expect(await store.storedBytes('acme/tiny/main', SHARD)).toBe(0);
    expect((await store.readManifest('acme/tiny/main'))?.files[SHARD]).toBeUndefined();
    await expectCachedCopy(new CachedCheckpointSource(hub(), store), SHARD, files.get(SHARD)!); // the next open downloads it again
  });

  it('a resumed download hashes the bytes it kept: a partial damaged on disk is caught when the download completes', async () => {
    server.faults.cutAfter(1_000_000, { path: SHARD, method: 'GET' });
    const noRetry = new CachedCheckpointSource(new HubCheckpointSource({ repo: 'acme/tiny', hubUrl: server.url, retries: 0 }), store);
    await expect(noRetry.open(SHARD)).rejects.toThrow(/network failure/);
    const partial = join(store.root, 'acme/tiny/main', SHARD);
    const kept = await fsp.readFile(partial);
    expect(kept.byteLength).toBe(1_000_000);
    kept[123]! ^= 1;
    await fsp.writeFile(partial, kept);
    server.requests.length = 0;
    const err = (await new CachedCheckpointSource(hub(), store).open(SHARD).catch((e: unknown) => e)) as RemoteError;
    expect(gets(SHARD).map((r) => r.range)).toEqual(['bytes=1000000-3000000']); // it did resume
    expect(err.reason).toBe('integrity');
    expect(err.message).toContain(`announced ${sha256(files.get(SHARD)!)} (its ETag)`);
    expect(await store.storedBytes('acme/tiny/main', SHARD)).toBe(0);
  });

  const gitBlobId = (bytes: Uint8Array) => createHash('sha1').update(`blob ${bytes.byteLength}\0`).update(bytes).digest('hex');

  it('the content hash comes from the ETag: SHA-256 for LFS files, the git blob id for the others', async () => {
    const config = await hub().openRemote('config.json');
    expect(config.etag).toBe(`"${gitBlobId(files.get('config.json')!)}"`);
    expect(config.contentHash).toEqual({ kind: 'git-blob', hex: gitBlobId(files.get('config.json')!) });
    expect((await hub().openRemote(SHARD)).contentHash).toEqual({ kind: 'sha256', hex: sha256(files.get(SHARD)!) });
  });

  it('a git file (config.json) served with one byte flipped: its git blob id differs from the ETag, the copy is deleted and reported', async () => {
    server.faults.corrupt(17, { path: 'config.json', method: 'GET', times: 1 });
    const err = (await new CachedCheckpointSource(hub(), store).open('config.json').catch((e: unknown) => e)) as RemoteError;
    expect(err).toBeInstanceOf(DownloadError);
    expect(err.reason).toBe('integrity');
    const served = files.get('config.json')!.slice();
    served[17]! ^= 0xff;
    expect(err.message).toBe(
      `config.json: the downloaded bytes have git blob id (SHA-1) ${gitBlobId(served)}, but ${server.url}/acme/tiny/resolve/main/config.json ` +
        `announced ${gitBlobId(files.get('config.json')!)} (its ETag); the corrupted copy was deleted, load the model again`,
    );
    expect(await store.storedBytes('acme/tiny/main', 'config.json')).toBe(0);
    const again = await new CachedCheckpointSource(hub(), store).open('config.json'); // the next open downloads it again
    const want = files.get('config.json')!;
    expect(firstDifference(await again.read(0, want.byteLength), want)).toBe(-1);
  });

  for (const [kind, makeError] of [
    ['ENOSPC', () => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' })],
    ['QuotaExceededError', () => new DOMException('The quota has been exceeded.', 'QuotaExceededError')],
  ] as const) {
    it(`${kind} while writing becomes a DownloadError with the space needed and how to free it`, async () => {
      const err = (await new CachedCheckpointSource(hub(), fullAfter(store, 1_000_000, makeError)).open(SHARD).catch((e: unknown) => e)) as RemoteError;
      expect(err).toBeInstanceOf(DownloadError);
      expect(err.reason).toBe('quota');
      expect(err.message).toMatch(/out of storage space.*after \d+\.\d KiB of 2\.9 MiB; .* more are needed/);
      expect(err.message).toContain('qwen35 cache rm');
      expect(await store.storedBytes('acme/tiny/main', SHARD)).toBeLessThanOrEqual(1_000_000);
    });
  }
});
