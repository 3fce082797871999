/**
 * HubCheckpointSource and @huggingface/hub pointed at the local hub-style server through
 * `hubUrl` (real HTTP on 127.0.0.1). Bytes are compared exactly with the files on disk; the
 * token is checked to be absent from every error, description and serialisation.
 */
import { inspect } from 'node:util';
import { downloadFile } from '@huggingface/hub';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AbortedError, DownloadError, InvalidArgumentError } from '../../errors.js';
import { startHubServer, type HubServer } from '../hub-server.js';
import { HubCheckpointSource } from './hub.js';
import { RemoteError } from './remote.js';
import { firstDifference, tempDir, writeCheckpointFolder } from './test-fixture.js';

const TOKEN = 'hf_TestSecretToken0123456789abcdef';
const SHARD = 'model.safetensors';
const tmp = tempDir('hub');
let files: Map<string, Uint8Array>;
let server: HubServer;

const hub = (opts: Partial<ConstructorParameters<typeof HubCheckpointSource>[0]> = {}) =>
  new HubCheckpointSource({ repo: 'acme/tiny', token: TOKEN, hubUrl: server.url, retryDelayMs: 5, ...opts });

/** Everything a token could leak through: message, stack, causes, JSON, inspection. */
function leakSurface(value: unknown): string {
  const parts = [inspect(value, { depth: 8, showHidden: true }), JSON.stringify(value) ?? ''];
  for (let e: unknown = value; e instanceof Error; e = e.cause) parts.push(e.message, e.stack ?? '', String(e));
  return parts.join('\n');
}

beforeAll(async () => {
  files = await writeCheckpointFolder(`${tmp.dir}/acme/tiny`, { 'config.json': 100, [SHARD]: 2_000_003, 'nested/tokenizer.json': 40 });
  server = await startHubServer({ root: tmp.dir, token: TOKEN });
});
afterAll(async () => {
  await server.close();
  tmp.remove();
});
beforeEach(() => {
  server.faults.clear();
  server.requests.length = 0;
});

describe('HubCheckpointSource', () => {
  it('reads exact ranges from {hubUrl}/{repo}/resolve/{revision}/{file}, with the bearer token', async () => {
    const src = hub();
    const file = await src.open(SHARD);
    expect(await file.size()).toBe(2_000_003);
    expect(firstDifference(await file.read(1_999_000, 1003), files.get(SHARD)!.subarray(1_999_000))).toBe(-1);
    expect(firstDifference(await file.read(7, 1_000_001), files.get(SHARD)!.subarray(7, 1_000_008))).toBe(-1);
    expect(server.requests.every((r) => r.authorized && r.path === `/acme/tiny/resolve/main/${SHARD}`)).toBe(true);
    expect(JSON.parse(await src.readText('nested/tokenizer.json')).name).toBe('nested/tokenizer.json');
  });

  it('lists files through listFiles (tree API) and answers has()', async () => {
    const src = hub();
    expect(await src.list()).toEqual(['config.json', SHARD, 'nested/tokenizer.json']);
    expect(await src.has('config.json')).toBe(true);
    expect(await src.has('absent.json')).toBe(false);
    expect(server.requests.some((r) => r.path === '/api/models/acme/tiny/tree/main')).toBe(true);
  });

  it('encodes revisions with slashes and uses them as one cache path segment', async () => {
    const src = hub({ revision: 'refs/pr/1' });
    expect(src.cacheId).toBe('acme/tiny/refs%2Fpr%2F1');
    expect(await src.has('config.json')).toBe(true);
    expect(server.requests.at(-1)?.path).toBe('/acme/tiny/resolve/refs/pr/1/config.json');
  });

  it('a missing file, a missing repo and a 5xx storm give DownloadErrors that say what to do', async () => {
    const missingFile = (await hub().open('model-00009.safetensors').catch((e: unknown) => e)) as RemoteError;
    expect(missingFile).toBeInstanceOf(DownloadError);
    expect(missingFile.reason).toBe('not-found');
    expect(missingFile.message).toContain('model-00009.safetensors: not found in acme/tiny@main');
    const missingRepo = (await hub({ repo: 'acme/absent' }).open('config.json').catch((e: unknown) => e)) as RemoteError;
    expect(missingRepo.reason).toBe('not-found');
    expect(missingRepo.message).toMatch(/acme\/absent@main.*Repository not found.*token/);
    server.requests.length = 0;
    server.faults.failWith(502, { times: 100 });
    const storm = (await hub({ retries: 1 }).has('config.json').catch((e: unknown) => e)) as RemoteError;
    expect(storm.status).toBe(502);
    expect(server.requests).toHaveLength(2);
  });

  it('rejects malformed repo ids, revisions and tokens without echoing the token', () => {
    expect(() => hub({ repo: 'no-owner' })).toThrow(InvalidArgumentError);
    expect(() => hub({ repo: 'a/../b' })).toThrow(InvalidArgumentError);
    expect(() => hub({ revision: '..' })).toThrow(InvalidArgumentError);
    const bad = 'not-a-token-secret';
    const err = (() => {
      try {
        hub({ token: bad });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect(leakSurface(err)).not.toContain(bad);
  });

  it('the token never leaks: errors (401, 404, 500s, change, abort, refused), description, serialisation', async () => {
    const errors: unknown[] = [];
    const catchIt = (p: Promise<unknown>) => p.then(() => errors.push(new Error('expected a failure')), (e: unknown) => errors.push(e));
    const src = hub({ retries: 1 });
    await catchIt(hub({ token: 'hf_WrongToken' }).open(SHARD)); // 401 from the server
    await catchIt(hub({ token: undefined }).list());
    await catchIt(src.open('absent.bin'));
    server.faults.failWith(500, { times: 10 });
    await catchIt(src.readText('config.json'));
    server.faults.clear();
    const file = await src.open(SHARD);
    server.faults.failWith(404, { path: SHARD, times: 1 });
    await catchIt(file.read(0, 10));
    await catchIt(file.read(0, 10, AbortSignal.abort()));
    await catchIt(new HubCheckpointSource({ repo: 'acme/tiny', token: TOKEN, hubUrl: 'http://127.0.0.1:9', retries: 0 }).open(SHARD));
    expect(errors).toHaveLength(7);
    for (const e of errors) {
      expect(e).toBeInstanceOf(Error);
      expect((e as Error).message).not.toBe('expected a failure');
      expect(leakSurface(e)).not.toContain(TOKEN);
    }
    expect(errors[0]).toBeInstanceOf(DownloadError);
    expect((errors[0] as RemoteError).reason).toBe('denied');
    expect(errors[5]).toBeInstanceOf(AbortedError);
    expect(leakSurface(src)).not.toContain(TOKEN);
    expect(leakSurface(file)).not.toContain(TOKEN);
    expect(src.description).toBe(`acme/tiny@main on ${server.url}`);
  });

  it("@huggingface/hub's own downloadFile works against the server and its blob slices are range requests", async () => {
    const blob = await downloadFile({ repo: 'acme/tiny', path: SHARD, hubUrl: server.url, accessToken: TOKEN });
    expect(blob?.size).toBe(2_000_003);
    const part = new Uint8Array(await blob!.slice(1000, 1100).arrayBuffer());
    expect(firstDifference(part, files.get(SHARD)!.subarray(1000, 1100))).toBe(-1);
    expect(server.requests.at(-1)?.range).toBe('bytes=1000-1099');
  });
});
