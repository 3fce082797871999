/**
 * Memory bound of a cached download: a 50 MB file streamed through CachedCheckpointSource
 * must never be held whole in JS memory. Every 25 ms during the download a full GC runs and
 * the live JS memory (heapUsed + arrayBuffers, the latter holding received chunks) is sampled;
 * its peak above the baseline must stay under 40% of the file size (20 MiB). Measured: +2-4 MiB
 * steady, with bursts to about +10 MiB when the disk stalls and fetch (undici) queues what the
 * socket already holds; keeping the file in memory would add its full 50 MiB. The server runs in
 * its own process so only the client is measured. Without the forced GC the peak is mostly
 * uncollected garbage, so it is only printed.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { formatBytes } from '../progress.js';
import { sampleJsMemory } from '../../runtime/js-memory.js';
import { HubCheckpointSource } from '../sources/hub.js';
import { deterministicBytes, firstDifference, spawnServe, tempDir } from '../sources/test-fixture.js';
import { CachedCheckpointSource } from './index.js';
import { NodeDiskCacheStore } from './node-disk.js';

const SIZE = 50 * 1024 * 1024 + 13;
const tmp = tempDir('cache-mem');
let server: Awaited<ReturnType<typeof spawnServe>>;

beforeAll(async () => {
  const dir = join(tmp.dir, 'hub', 'acme', 'big');
  await fsp.mkdir(dir, { recursive: true });
  await fsp.writeFile(join(dir, 'model.safetensors'), deterministicBytes(SIZE, 9));
  server = await spawnServe(join(tmp.dir, 'hub')); // its own process: only the client's memory is measured
});
afterAll(async () => {
  await server.stop();
  tmp.remove();
});

it('downloading a 50 MB file through the cache keeps peak JS memory far below the file size', async () => {
  const sampler = await sampleJsMemory(25);
  const src = new CachedCheckpointSource(
    new HubCheckpointSource({ repo: 'acme/big', hubUrl: server.url }),
    new NodeDiskCacheStore(join(tmp.dir, 'store')),
    { onProgress: () => sampler.sample() },
  );
  const file = await src.open('model.safetensors');
  const { peakLive, peakRaw } = await sampler.stop();
  console.log(`caching ${formatBytes(SIZE)}: peak live JS memory +${formatBytes(peakLive)}, peak without GC +${formatBytes(peakRaw)}`);
  expect(peakLive).toBeLessThan(0.4 * SIZE);
  expect(await file.size()).toBe(SIZE);
  const tail = await file.read(SIZE - 1_000_000, 1_000_000);
  expect(firstDifference(tail, deterministicBytes(SIZE, 9).subarray(SIZE - 1_000_000))).toBe(-1);
});
