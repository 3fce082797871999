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
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, expect, it } from 'vitest';
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
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const used = () => {
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  const settled = () => new Promise((r) => setTimeout(r, 3)); // array buffers are swept concurrently after a GC
  gc();
  await settled();
  const baseline = used();
  let peakLive = baseline;
  let peakRaw = baseline;
  const timer = setInterval(() => {
    peakRaw = Math.max(peakRaw, used());
    gc();
    void settled().then(() => (peakLive = Math.max(peakLive, used())));
  }, 25);
  const sample = () => void (peakRaw = Math.max(peakRaw, used()));
  const src = new CachedCheckpointSource(
    new HubCheckpointSource({ repo: 'acme/big', hubUrl: server.url }),
    new NodeDiskCacheStore(join(tmp.dir, 'store')),
    { onProgress: sample },
  );
  const file = await src.open('model.safetensors');
  clearInterval(timer);
  const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
  console.log(`caching ${mib(SIZE)}: peak live JS memory +${mib(peakLive - baseline)}, peak without GC +${mib(peakRaw - baseline)}`);
  expect(peakLive - baseline).toBeLessThan(0.4 * SIZE);
  expect(await file.size()).toBe(SIZE);
  const tail = await file.read(SIZE - 1_000_000, 1_000_000);
  expect(firstDifference(tail, deterministicBytes(SIZE, 9).subarray(SIZE - 1_000_000))).toBe(-1);
});
