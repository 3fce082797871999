/**
 * The dev server's /models/ route (serveModels on a plain Node HTTP server over a temp folder):
 * listing, whole files, byte ranges (RFC 9110 semantics), HEAD, refusal of paths outside the
 * folder — and the runtime's own HTTP checkpoint reader reading through it.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpCheckpointSource } from '../../src/io/sources/http.js';
import { parseByteRange } from './byte-range.js';
import { listModelFolders, serveModels } from './models-plugin.js';

const root = mkdtempSync(join(tmpdir(), 'qwen35-models-route-'));
const shard = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7) % 251);
let server: Server;
let base: string;

beforeAll(async () => {
  for (const name of ['tiny-dense', 'other', '.other.tmp-x']) {
    mkdirSync(join(root, name));
    writeFileSync(join(root, name, 'config.json'), '{"a":1}');
  }
  writeFileSync(join(root, 'tiny-dense', 'shard.bin'), shard);
  mkdirSync(join(root, 'no-config'));
  writeFileSync(join(root, 'secret.txt'), 'outside any model folder');
  server = createServer((req, res) => void serveModels(root, req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  rmSync(root, { recursive: true, force: true });
});

const get = (path: string, headers: Record<string, string> = {}, method = 'GET') => fetch(`${base}${path}`, { headers, method });

describe('/models/ route', () => {
  it('lists the folders that hold a config.json, the default model first, not hidden ones', async () => {
    expect(await listModelFolders(root)).toEqual(['tiny-dense', 'other']);
    expect(await (await get('/index.json')).json()).toEqual(['tiny-dense', 'other']);
  });

  it('serves whole files and byte ranges with Content-Range, and HEAD without a body', async () => {
    const whole = await get('/tiny-dense/shard.bin');
    expect(whole.status).toBe(200);
    expect(whole.headers.get('accept-ranges')).toBe('bytes');
    expect(new Uint8Array(await whole.arrayBuffer())).toEqual(shard);

    const part = await get('/tiny-dense/shard.bin', { Range: 'bytes=10-19' });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe('bytes 10-19/1000');
    expect(new Uint8Array(await part.arrayBuffer())).toEqual(shard.subarray(10, 20));

    const suffix = await get('/tiny-dense/shard.bin', { Range: 'bytes=-5' });
    expect(new Uint8Array(await suffix.arrayBuffer())).toEqual(shard.subarray(995));

    expect((await get('/tiny-dense/shard.bin', { Range: 'bytes=1000-' })).status).toBe(416);
    const head = await get('/tiny-dense/shard.bin', {}, 'HEAD');
    expect(head.headers.get('content-length')).toBe('1000');
    expect((await head.arrayBuffer()).byteLength).toBe(0);
  });

  it('answers 404 for missing files and anything outside a model folder, 405 for writes', async () => {
    expect((await get('/tiny-dense/missing.json')).status).toBe(404);
    expect((await get('/secret.txt')).status).toBe(404); // not inside a folder
    expect((await get('/tiny-dense/..%2Fsecret.txt')).status).toBe(404);
    expect((await get('/tiny-dense/%2e%2e/secret.txt')).status).toBe(404);
    expect((await get('/tiny-dense/config.json', {}, 'POST')).status).toBe(405);
  });

  it('is readable by the runtime’s HTTP checkpoint source', async () => {
    const source = new HttpCheckpointSource(`${base}/tiny-dense`, { retries: 0 });
    expect(await source.readText('config.json')).toBe('{"a":1}');
    const file = await source.open('shard.bin');
    expect(await file.size()).toBe(1000);
    expect(await file.read(500, 100)).toEqual(shard.subarray(500, 600));
    expect(await source.has('missing.json')).toBe(false);
  });
});

describe('parseByteRange', () => {
  it('follows RFC 9110: inclusive ends clamped to the size, suffix ranges, unsatisfiable starts', () => {
    expect(parseByteRange('bytes=0-0', 10)).toEqual([0, 0]);
    expect(parseByteRange('bytes=5-', 10)).toEqual([5, 9]);
    expect(parseByteRange('bytes=5-100', 10)).toEqual([5, 9]);
    expect(parseByteRange('bytes=-3', 10)).toEqual([7, 9]);
    expect(parseByteRange('bytes=-30', 10)).toEqual([0, 9]);
    expect(parseByteRange('bytes=10-', 10)).toBe('unsatisfiable');
    expect(parseByteRange('bytes=-0', 10)).toBe('unsatisfiable');
    expect(parseByteRange('bytes=5-2', 10)).toBeUndefined();
    expect(parseByteRange('bytes=0-1,4-5', 10)).toBeUndefined();
    expect(parseByteRange('items=0-1', 10)).toBeUndefined();
  });
});
