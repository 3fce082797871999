/**
 * The hub-style server speaks HTTP the way the hub does (checked with plain fetch), its fault
 * injection does what it says, and `qwen35 serve` runs it as a process.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { listServedRepos, startHubServer, type HubServer } from './hub-server.js';
import { firstDifference, spawnServe, tempDir, writeCheckpointFolder } from './sources/test-fixture.js';

const tmp = tempDir('hub-server');
const SIZE = 200_003;
let files: Map<string, Uint8Array>;
let lfsFiles: Map<string, Uint8Array>;
let server: HubServer;
let fileUrl: string;

const bytes = async (res: Response) => new Uint8Array(await res.arrayBuffer());

beforeAll(async () => {
  files = await writeCheckpointFolder(join(tmp.dir, 'acme', 'tiny'), { 'config.json': 10, 'w.bin': SIZE, 'sub/x.bin': 5 });
  await writeCheckpointFolder(join(tmp.dir, 'tiny-dense'), { 'config.json': 10 });
  lfsFiles = await writeCheckpointFolder(join(tmp.dir, 'acme', 'lfs'), { 'model.safetensors': 1001, 'w.bin': 7 });
  server = await startHubServer({ root: tmp.dir });
  fileUrl = `${server.url}/acme/tiny/resolve/main/w.bin`;
});
afterAll(async () => {
  await server.close();
  tmp.remove();
});
beforeEach(() => {
  server.faults.clear();
  server.requests.length = 0;
});

describe('hub-style server', () => {
  it('HEAD and GET: Content-Length, ETag (a git file: its git blob id), Accept-Ranges, whole body', async () => {
    const head = await fetch(fileUrl, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(SIZE));
    expect(head.headers.get('accept-ranges')).toBe('bytes');
    const blobId = createHash('sha1').update(`blob ${SIZE}\0`).update(files.get('w.bin')!).digest('hex');
    expect(head.headers.get('etag')).toBe(`"${blobId}"`);
    expect(firstDifference(await bytes(await fetch(fileUrl)), files.get('w.bin')!)).toBe(-1);
  });

  it('*.safetensors (LFS on the hub) have the SHA-256 of their content as ETag, X-Linked-Etag and lfs.oid', async () => {
    const url = `${server.url}/acme/lfs/resolve/main/model.safetensors`;
    const sha = createHash('sha256').update(lfsFiles.get('model.safetensors')!).digest('hex');
    const head = await fetch(url, { method: 'HEAD' });
    expect([head.headers.get('etag'), head.headers.get('x-linked-etag')]).toEqual([`"${sha}"`, `"${sha}"`]);
    const tree = (await (await fetch(`${server.url}/api/models/acme/lfs/tree/main`)).json()) as { path: string; lfs?: unknown }[];
    expect(tree.find((e) => e.path === 'model.safetensors')?.lfs).toEqual({ oid: sha, size: 1001, pointerSize: 134 });
    expect(tree.find((e) => e.path === 'w.bin')?.lfs).toBeUndefined();
  });

  it('corrupt: the byte at an offset is flipped in every body holding it; the length is unchanged', async () => {
    server.faults.corrupt(150_000, { path: 'w.bin' });
    const whole = await bytes(await fetch(fileUrl));
    expect(whole.byteLength).toBe(SIZE);
    expect(firstDifference(whole, files.get('w.bin')!)).toBe(150_000);
    expect(whole[150_000]).toBe(files.get('w.bin')![150_000]! ^ 0xff);
    const range = await bytes(await fetch(fileUrl, { headers: { Range: 'bytes=149990-150009' } }));
    expect(firstDifference(range, files.get('w.bin')!.subarray(149_990, 150_010))).toBe(10);
    expect(firstDifference(await bytes(await fetch(fileUrl, { headers: { Range: 'bytes=0-9' } })), files.get('w.bin')!.subarray(0, 10))).toBe(-1);
  });

  it('ranges: a-b, a-, -n give 206 + Content-Range; beyond the end gives 416; a stale If-Range gives 200', async () => {
    const want = files.get('w.bin')!;
    for (const [range, start, end] of [['bytes=10-19', 10, 19], ['bytes=199990-', 199_990, SIZE - 1], ['bytes=-5', SIZE - 5, SIZE - 1], ['bytes=5-999999', 5, SIZE - 1]] as const) {
      const res = await fetch(fileUrl, { headers: { Range: range } });
      expect(res.status).toBe(206);
      expect(res.headers.get('content-range')).toBe(`bytes ${start}-${end}/${SIZE}`);
      expect(firstDifference(await bytes(res), want.subarray(start, end + 1))).toBe(-1);
    }
    const bad = await fetch(fileUrl, { headers: { Range: `bytes=${SIZE}-` } });
    expect(bad.status).toBe(416);
    expect(bad.headers.get('content-range')).toBe(`bytes */${SIZE}`);
    const etag = (await fetch(fileUrl, { method: 'HEAD' })).headers.get('etag')!;
    expect((await fetch(fileUrl, { headers: { Range: 'bytes=0-9', 'If-Range': etag } })).status).toBe(206);
    const stale = await fetch(fileUrl, { headers: { Range: 'bytes=0-9', 'If-Range': '"old"' } });
    expect(stale.status).toBe(200);
    expect((await bytes(stale)).byteLength).toBe(SIZE);
  });

  it("404s in the hub's style, no escape from the repo folder, tree listing, CORS preflight", async () => {
    const noFile = await fetch(`${server.url}/acme/tiny/resolve/main/none.bin`);
    expect([noFile.status, noFile.headers.get('x-error-code')]).toEqual([404, 'EntryNotFound']);
    const noRepo = await fetch(`${server.url}/acme/none/resolve/main/w.bin`);
    expect([noRepo.status, noRepo.headers.get('x-error-code'), (await noRepo.json()).error]).toEqual([404, 'RepoNotFound', 'Repository not found']);
    expect((await fetch(`${server.url}/acme/tiny/resolve/main/..%2F..%2Facme%2Ftiny%2Fw.bin`)).status).toBe(400);
    const tree = await (await fetch(`${server.url}/api/models/acme/tiny/tree/main?recursive=true`)).json();
    expect(tree.map((e: { path: string; type: string; size: number }) => [e.path, e.type, e.size])).toEqual([
      ['config.json', 'file', files.get('config.json')!.byteLength],
      ['sub', 'directory', 0],
      ['sub/x.bin', 'file', 5],
      ['w.bin', 'file', SIZE],
    ]);
    expect((await fetch(`${server.url}/local/tiny-dense/resolve/main/config.json`)).status).toBe(200);
    const pre = await fetch(fileUrl, { method: 'OPTIONS' });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-headers')).toContain('Range');
    expect(await listServedRepos(tmp.dir)).toEqual(['acme/lfs', 'acme/tiny', 'local/tiny-dense']);
  });

  it('faults: status once, cut after N bytes, ignore ranges, slow', async () => {
    server.faults.failWith(503, { path: 'w.bin' });
    expect((await fetch(fileUrl)).status).toBe(503);
    expect((await fetch(fileUrl, { method: 'HEAD' })).status).toBe(200);
    server.faults.cutAfter(100_000, { path: 'w.bin' });
    await expect(fetch(fileUrl).then(bytes)).rejects.toThrow();
    server.faults.ignoreRanges({ path: 'w.bin', times: 1 });
    expect((await fetch(fileUrl, { headers: { Range: 'bytes=0-0' } })).status).toBe(200);
    server.faults.slow(100, { path: 'w.bin' });
    const started = Date.now();
    await bytes(await fetch(fileUrl, { headers: { Range: 'bytes=0-9' } }));
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
    expect(server.requests.map((r) => r.status)).toEqual([503, 200, 200, 200, 206]);
  });

  it('faults with skip: the first matching requests pass, the next `times` get the fault', async () => {
    server.faults.failWith(500, { path: 'w.bin', method: 'GET', skip: 2, times: 2 });
    for (let i = 0; i < 5; i++) await fetch(fileUrl, { headers: { Range: 'bytes=0-0' } }).then(bytes);
    await fetch(fileUrl, { method: 'HEAD' }); // another method: not counted
    expect(server.requests.map((r) => r.status)).toEqual([206, 206, 500, 500, 206, 200]);
  });

  it('a bearer token is required when configured', async () => {
    const locked = await startHubServer({ root: tmp.dir, token: 'hf_secret' });
    try {
      const url = `${locked.url}/acme/tiny/resolve/main/config.json`;
      expect((await fetch(url)).status).toBe(401);
      expect((await fetch(url, { headers: { Authorization: 'Bearer hf_wrong' } })).status).toBe(401);
      expect((await fetch(url, { headers: { Authorization: 'Bearer hf_secret' } })).status).toBe(200);
      expect(locked.requests.map((r) => r.authorized)).toEqual([false, false, true]);
    } finally {
      await locked.close();
    }
  });

  it('`qwen35 serve` serves a folder until SIGTERM', async () => {
    const serve = await spawnServe(tmp.dir);
    expect(serve.output()).toContain('repos: acme/lfs, acme/tiny, local/tiny-dense');
    const res = await fetch(`${serve.url}/acme/tiny/resolve/main/w.bin`, { headers: { Range: 'bytes=7-8' } });
    expect(firstDifference(await bytes(res), files.get('w.bin')!.subarray(7, 9))).toBe(-1);
    expect(await serve.stop()).toBe(0);
  });
});
