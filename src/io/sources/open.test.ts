/** openSource: which source each kind of spec gets, caching of remote ones, and clear errors. */
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../errors.js';
import { CachedCheckpointSource } from '../cache/index.js';
import { NodeDiskCacheStore } from '../cache/node-disk.js';
import { startHubServer, type HubServer } from '../hub-server.js';
import type { LoadProgress } from '../source.js';
import { DirectoryHandleCheckpointSource, FilesCheckpointSource } from './browser.js';
import { FsCheckpointSource } from './fs.js';
import { HttpCheckpointSource } from './http.js';
import { HubCheckpointSource } from './hub.js';
import { openSource } from './open.js';
import { firstDifference, tempDir, writeCheckpointFolder } from './test-fixture.js';

const tmp = tempDir('open');
let server: HubServer;
let files: Map<string, Uint8Array>;

beforeAll(async () => {
  files = await writeCheckpointFolder(join(tmp.dir, 'hub', 'acme', 'tiny'), { 'config.json': 60, 'model.safetensors': 300_007 });
  server = await startHubServer({ root: join(tmp.dir, 'hub') });
});
afterAll(async () => {
  await server.close();
  tmp.remove();
});

describe('openSource', () => {
  it('a local folder (absolute, relative, even one shaped like owner/name) is read from disk', async () => {
    const dir = join(tmp.dir, 'hub', 'acme', 'tiny');
    expect(await openSource(dir)).toBeInstanceOf(FsCheckpointSource);
    const rel = relative(process.cwd(), dir);
    const src = await openSource(rel, { token: 'not-a-hub-token' }); // a stray HF_TOKEN must not matter locally
    expect(src).toBeInstanceOf(FsCheckpointSource);
    expect(JSON.parse(await src.readText('config.json')).name).toBe('config.json');
    const cwd = process.cwd();
    process.chdir(join(tmp.dir, 'hub'));
    try {
      expect(await openSource('acme/tiny')).toBeInstanceOf(FsCheckpointSource); // the folder wins over the hub id
    } finally {
      process.chdir(cwd);
    }
  });

  it('owner/name@revision goes to the hub through the cache, with download progress', async () => {
    const seen: LoadProgress[] = [];
    const store = new NodeDiskCacheStore(join(tmp.dir, 'store'));
    const src = await openSource('acme/tiny@v1', { hubUrl: server.url, cache: store, onProgress: (p) => seen.push(p) });
    expect(src).toBeInstanceOf(CachedCheckpointSource);
    expect((src as CachedCheckpointSource).cacheId).toBe('acme/tiny/v1');
    const file = await src.open('model.safetensors');
    expect(firstDifference(await file.read(0, 300_007), files.get('model.safetensors')!)).toBe(-1);
    expect(seen.at(-1)).toMatchObject({ bytesDone: 300_007, bytesTotal: 300_007, phase: 'download' });
    expect(await src.list?.()).toEqual(['config.json', 'model.safetensors']);
  });

  it('cache: false gives the remote source itself; the default cache lives in QWEN35_CACHE_DIR', async () => {
    expect(await openSource('acme/tiny', { hubUrl: server.url, cache: false })).toBeInstanceOf(HubCheckpointSource);
    const url = `${server.url}/acme/tiny/resolve/main`;
    expect(await openSource(url, { cache: false })).toBeInstanceOf(HttpCheckpointSource);
    const before = process.env.QWEN35_CACHE_DIR;
    process.env.QWEN35_CACHE_DIR = join(tmp.dir, 'default-cache');
    try {
      const src = await openSource(url);
      expect(src.description).toContain(join(tmp.dir, 'default-cache'));
      expect(JSON.parse(await src.readText('config.json')).name).toBe('config.json');
    } finally {
      if (before === undefined) delete process.env.QWEN35_CACHE_DIR;
      else process.env.QWEN35_CACHE_DIR = before;
    }
  });

  it('picked files and directory handles', async () => {
    expect(await openSource([new File(['{}'], 'config.json')])).toBeInstanceOf(FilesCheckpointSource);
    const handle = { name: 'm', getDirectoryHandle: async () => handle, getFileHandle: async () => ({ getFile: async () => new Blob([]) }) };
    expect(await openSource(handle)).toBeInstanceOf(DirectoryHandleCheckpointSource);
  });

  it('says what it accepts for anything else', async () => {
    await expect(openSource('')).rejects.toThrow(InvalidArgumentError);
    await expect(openSource('ftp://host/model')).rejects.toThrow(/unsupported URL scheme/);
    await expect(openSource('s3://user:secret@bucket/x')).rejects.not.toThrow(/secret/);
    await expect(openSource('./no/such/folder')).rejects.toThrow(/checkpoint folder ".\/no\/such\/folder" does not exist/);
    await expect(openSource('justaword')).rejects.toThrow(/expected a local folder, an http\(s\):\/\/ URL, a hub repo id/);
    await expect(openSource('acme/tiny@v1', { revision: 'v2', hubUrl: server.url })).rejects.toThrow(/disagree/);
    await expect(openSource(join(tmp.dir, 'hub', 'acme', 'tiny', 'config.json'))).rejects.toThrow(/is a file; pass the checkpoint folder/);
  });
});
