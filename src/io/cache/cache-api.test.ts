/**
 * The cache as a library user sees it, through the package entry (src/index.ts): open a hub repo
 * served on 127.0.0.1 through the default store, then list it (sizes from the disk) and delete it.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { defaultCacheStore, deleteCachedModel, listCachedModels, nodeDiskCacheStore, openSource } from '../../index.js';
import { startHubServer, type HubServer } from '../hub-server.js';
import { tempDir, writeCheckpointFolder } from '../sources/test-fixture.js';

const tmp = tempDir('cache-api');
const cacheDir = join(tmp.dir, 'cache');
const WEIGHTS = 'model.safetensors';
let server: HubServer;
const savedEnv = process.env.QWEN35_CACHE_DIR;

beforeAll(async () => {
  await writeCheckpointFolder(join(tmp.dir, 'hub', 'acme', 'tiny'), { 'config.json': 50, [WEIGHTS]: 1_234_567 });
  server = await startHubServer({ root: join(tmp.dir, 'hub') });
});
afterEach(() => {
  if (savedEnv === undefined) delete process.env.QWEN35_CACHE_DIR;
  else process.env.QWEN35_CACHE_DIR = savedEnv;
});
afterAll(async () => {
  await server.close();
  tmp.remove();
});

it('a model opened through the default store is listed with its size, and deleteCachedModel removes it', async () => {
  process.env.QWEN35_CACHE_DIR = cacheDir;
  const source = await openSource('acme/tiny', { hubUrl: server.url });
  const weights = await source.open(WEIGHTS);
  expect(await weights.size()).toBe(1_234_567);

  const store = await defaultCacheStore();
  expect(store.description).toBe(cacheDir);
  const [model, ...others] = await listCachedModels(store);
  expect(others).toEqual([]);
  expect(model).toMatchObject({ id: 'acme/tiny/main', source: `acme/tiny@main on ${server.url}`, bytesStored: 1_234_567, partial: false });
  expect(model!.files).toEqual([{ name: WEIGHTS, size: 1_234_567, bytesStored: 1_234_567, complete: true }]);
  expect(existsSync(join(cacheDir, 'acme', 'tiny', 'main', WEIGHTS))).toBe(true);

  // The same cache named by folder, as `qwen35 cache --dir` does.
  const byDir = await nodeDiskCacheStore(cacheDir);
  expect((await listCachedModels(byDir)).map((m) => m.id)).toEqual(['acme/tiny/main']);
  expect(await deleteCachedModel(byDir, 'acme/tiny/main')).toBe(true);
  expect(existsSync(join(cacheDir, 'acme', 'tiny', 'main'))).toBe(false);
  expect(await listCachedModels(store)).toEqual([]);
  expect(await deleteCachedModel(store, 'acme/tiny/main')).toBe(false);
});
