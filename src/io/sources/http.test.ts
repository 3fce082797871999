/**
 * HttpCheckpointSource against the hub-style server on 127.0.0.1 (real HTTP, no fetch mocks).
 * Byte transfer is exact: every read is compared byte for byte with the file on disk.
 */
import { promises as fsp, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AbortedError, DownloadError, InvalidArgumentError, ModelFormatError } from '../../errors.js';
import { startHubServer, type HubServer } from '../hub-server.js';
import { HttpCheckpointSource } from './http.js';
import { RemoteError } from './remote.js';
import { deterministicBytes, firstDifference, tempDir, writeCheckpointFolder } from './test-fixture.js';

const SHARD = 'model-00001-of-00002.safetensors';
const SHARD2 = 'model-00002-of-00002.safetensors';
const tmp = tempDir('http');
const repoDir = join(tmp.dir, 'acme', 'tiny');
let files: Map<string, Uint8Array>;
let server: HubServer;
let base: string;

const source = (opts = {}) => new HttpCheckpointSource(base, { retryDelayMs: 5, ...opts });
const gets = (file: string) => server.requests.filter((r) => r.method === 'GET' && r.path.endsWith(file));
const bytesOf = (name: string) => files.get(name)!;

beforeAll(async () => {
  files = await writeCheckpointFolder(repoDir, { 'config.json': 300, [SHARD]: 3_000_017, [SHARD2]: 1_234_567 });
  server = await startHubServer({ root: tmp.dir });
  base = `${server.url}/acme/tiny/resolve/main`;
});
afterAll(async () => {
  await server.close();
  tmp.remove();
});
beforeEach(() => {
  server.faults.clear();
  server.requests.length = 0;
});

describe('HttpCheckpointSource', () => {
  it('range reads return exactly the bytes of the file (odd offsets and lengths, empty, the last byte)', async () => {
    const file = await source().open(SHARD);
    const want = bytesOf(SHARD);
    expect(await file.size()).toBe(want.byteLength);
    for (const [offset, length] of [[0, 1], [1, 4095], [777_777, 1_000_003], [want.byteLength - 1, 1], [12345, 0], [0, want.byteLength]] as const) {
      expect(firstDifference(await file.read(offset, length), want.subarray(offset, offset + length))).toBe(-1);
    }
    const ranges = gets(SHARD).map((r) => r.range);
    expect(ranges).toContain('bytes=777777-1777779');
    expect(gets(SHARD).every((r) => r.status === 206)).toBe(true);
  });

  it('has / readText / a missing file gives a DownloadError naming the file', async () => {
    const src = source();
    expect(await src.has('config.json')).toBe(true);
    expect(await src.has('nope.json')).toBe(false);
    expect(JSON.parse(await src.readText('config.json')).name).toBe('config.json');
    const err = await src.open('missing.safetensors').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DownloadError);
    expect((err as RemoteError).reason).toBe('not-found');
    expect((err as Error).message).toMatch(/missing\.safetensors.*404.*Entry not found/);
  });

  it('reading past the end is a ModelFormatError with the sizes', async () => {
    const file = await source().open(SHARD2);
    await expect(file.read(1_234_560, 8)).rejects.toThrow(ModelFormatError);
    await expect(file.read(1_234_560, 8)).rejects.toThrow(/8 bytes at offset 1234560.*1234567 bytes/);
  });

  it('retries a 500 and succeeds', async () => {
    const file = await source().open(SHARD);
    server.faults.failWith(500, { path: SHARD, method: 'GET', times: 2 });
    expect(firstDifference(await file.read(100, 5000), bytesOf(SHARD).subarray(100, 5100))).toBe(-1);
    expect(gets(SHARD).map((r) => r.status)).toEqual([500, 500, 206]);
  });

  it('gives up after the retry budget with the status and URL in the message', async () => {
    const file = await source({ retries: 2 }).open(SHARD);
    server.faults.failWith(503, { path: SHARD, times: 10 });
    const err = (await file.read(0, 10).catch((e: unknown) => e)) as RemoteError;
    expect(err).toBeInstanceOf(DownloadError);
    expect(err.status).toBe(503);
    expect(err.message).toContain(`${server.url}/acme/tiny/resolve/main/${SHARD}`);
    expect(gets(SHARD)).toHaveLength(3);
  });

  it('a connection cut mid-body resumes at the first missing byte', async () => {
    const file = await source().open(SHARD);
    server.faults.cutAfter(300_000, { path: SHARD, method: 'GET' });
    const offset = 1001;
    expect(firstDifference(await file.read(offset, 2_000_000), bytesOf(SHARD).subarray(offset, offset + 2_000_000))).toBe(-1);
    const ranges = gets(SHARD).map((r) => r.range);
    expect(ranges).toEqual([`bytes=${offset}-${offset + 1_999_999}`, `bytes=${offset + 300_000}-${offset + 1_999_999}`]);
  });

  it('a server that ignores Range (200) still yields exactly the requested bytes', async () => {
    const file = await source().open(SHARD);
    server.faults.ignoreRanges({ path: SHARD });
    expect(firstDifference(await file.read(2_500_000, 70_001), bytesOf(SHARD).subarray(2_500_000, 2_570_001))).toBe(-1);
    expect(gets(SHARD).map((r) => r.status)).toEqual([200]);
  });

  it('a file that changes between requests is detected (ETag + If-Range), not mixed', async () => {
    const name = 'changing.bin';
    const path = join(repoDir, name);
    await fsp.writeFile(path, deterministicBytes(500_000, 7));
    const file = await source().openRemote(name);
    expect(firstDifference(await file.read(0, 1000), deterministicBytes(500_000, 7).subarray(0, 1000))).toBe(-1);
    await fsp.writeFile(path, deterministicBytes(500_000, 8)); // same size, new content
    utimesSync(path, new Date(), new Date(Date.now() + 5000));
    const err = (await file.read(1000, 1000).catch((e: unknown) => e)) as RemoteError;
    expect(err).toBeInstanceOf(DownloadError);
    expect(err.reason).toBe('changed');
    expect(err.message).toMatch(/changing\.bin.*changed on the server.*ETag/);
    expect(gets(name).at(-1)?.ifRange).toBe(file.etag);
  });

  it('404 in the middle of a run names the file', async () => {
    const file = await source().open(SHARD2);
    server.faults.failWith(404, { path: SHARD2, times: Infinity });
    await expect(file.read(0, 100)).rejects.toThrow(new RegExp(`${SHARD2}: not found`));
  });

  it('an AbortSignal stops a slow read promptly', async () => {
    const file = await source().open(SHARD);
    server.faults.slow(50, { path: SHARD });
    const ctrl = new AbortController();
    const started = Date.now();
    setTimeout(() => ctrl.abort(), 150);
    await expect(file.read(0, 3_000_000, ctrl.signal)).rejects.toThrow(AbortedError);
    expect(Date.now() - started).toBeLessThan(1500); // the whole read would take ~2.3 s
  });

  it('credentials in the base URL become an Authorization header and never appear in messages', async () => {
    const url = base.replace('http://', 'http://user:s3cret-pw@');
    const src = new HttpCheckpointSource(url, { retries: 0 });
    expect(src.description).not.toContain('s3cret-pw');
    const err = (await src.open('missing.bin').catch((e: unknown) => e)) as Error;
    expect(err.message).not.toContain('s3cret-pw');
    expect(JSON.stringify(src)).not.toContain('s3cret-pw');
    expect(() => new HttpCheckpointSource('ftp://host/x')).toThrow(InvalidArgumentError);
  });

  it('a refused connection is a network DownloadError after the retries', async () => {
    const dead = new HttpCheckpointSource('http://127.0.0.1:9/x', { retries: 1, retryDelayMs: 1 });
    const err = (await dead.open('config.json').catch((e: unknown) => e)) as RemoteError;
    expect(err).toBeInstanceOf(DownloadError);
    expect(err.reason).toBe('network');
    expect(err.message).toMatch(/config\.json: network failure.*2 attempts/);
  });
});
