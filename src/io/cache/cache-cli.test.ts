/** `qwen35 cache list|rm|clear` run as a process against a cache filled over real HTTP. */
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startHubServer, type HubServer } from '../hub-server.js';
import { HubCheckpointSource } from '../sources/hub.js';
import { runCli, tempDir, writeCheckpointFolder } from '../sources/test-fixture.js';
import { CachedCheckpointSource, listCachedModels } from './index.js';
import { NodeDiskCacheStore } from './node-disk.js';

const tmp = tempDir('cache-cli');
const cacheDir = join(tmp.dir, 'cache');
let server: HubServer;

beforeAll(async () => {
  for (const name of ['one', 'two']) await writeCheckpointFolder(join(tmp.dir, 'hub', 'acme', name), { 'config.json': 10, 'w.bin': 3 * 1024 * 1024 });
  server = await startHubServer({ root: join(tmp.dir, 'hub') });
  const store = new NodeDiskCacheStore(cacheDir);
  for (const repo of ['acme/one', 'acme/two']) {
    await new CachedCheckpointSource(new HubCheckpointSource({ repo, hubUrl: server.url }), store).open('w.bin');
  }
});
afterAll(async () => {
  await server.close();
  tmp.remove();
});

it('lists, removes one, refuses an unknown id, clears', async () => {
  const list = await runCli(['cache', 'list', '--dir', cacheDir]);
  expect(list.code).toBe(0);
  expect(list.stdout).toMatch(/acme\/one\/main\s+3\.0 MiB\s+complete\s+acme\/one@main on http/);
  expect(list.stdout).toContain('2 models, 6.0 MiB');

  const rm = await runCli(['cache', 'rm', 'acme/one/main', '--dir', cacheDir]);
  expect([rm.code, rm.stdout.trim()]).toEqual([0, 'deleted acme/one/main']);
  expect((await listCachedModels(new NodeDiskCacheStore(cacheDir))).map((m) => m.id)).toEqual(['acme/two/main']);

  const missing = await runCli(['cache', 'rm', 'acme/one/main', '--dir', cacheDir]);
  expect(missing.code).toBe(1);
  expect(missing.stderr).toContain('no cached model "acme/one/main"');

  const clear = await runCli(['cache', 'clear'], { QWEN35_CACHE_DIR: cacheDir });
  expect([clear.code, clear.stdout.trim()]).toEqual([0, 'deleted acme/two/main']);
  expect((await runCli(['cache', 'list', '--dir', cacheDir])).stdout).toContain('no cached models');
  expect((await runCli(['cache', 'frobnicate'])).code).toBe(1);
});
