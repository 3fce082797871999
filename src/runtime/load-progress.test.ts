/**
 * Load progress from a hub-style server (src/io/hub-server.ts) through the cache, on a 6-shard
 * mini checkpoint: the first download report must already carry the final total — the size of
 * every file the load reads (config, tokenizer, index, all shards), gathered before a byte of any
 * shard is read: one listing call for a hub repo, a HEAD per file for a plain base URL — and bytes
 * done must only grow and end at that total. The upload phase likewise. A second load finds all of
 * it in the cache: its first report is already complete.
 */
import { readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acquireGpu, type GpuContext } from '../gpu/device.js';
import { loadModel } from '../index.js';
import { NodeDiskCacheStore } from '../io/cache/node-disk.js';
import { startHubServer, type HubServer, type RequestRecord } from '../io/hub-server.js';
import type { LoadProgress } from '../io/source.js';
import { generateCheckpoint } from '../model/tiny.js';
import { collectUnhandledRejections, MINI_CONFIG, tempDir } from './reliability-fixture.js';

const unhandled = collectUnhandledRejections();
const root = tempDir('load-progress');
const dir = join(root, 'sharded');
const OPTIONS = { maxContext: 32, weightFormat: 'q8' as const };
let server: HubServer;
let gpu: GpuContext;
/** Every file of the checkpoint folder (all of them are read by a load) and its size on disk. */
let sizes: Map<string, number>;
let folderBytes: number;

beforeAll(async () => {
  await generateCheckpoint(MINI_CONFIG, dir, { seed: 5, maxShardBytes: 64 * 1024 });
  sizes = new Map(readdirSync(dir).map((f) => [f, statSync(join(dir, f)).size]));
  folderBytes = [...sizes.values()].reduce((a, b) => a + b, 0);
  server = await startHubServer({ root: { 'local/sharded': dir } });
  gpu = await acquireGpu();
});
afterAll(async () => {
  gpu?.destroy();
  await server?.close();
  rmSync(root, { recursive: true, force: true });
  expect(unhandled).toEqual([]);
});

interface Observed {
  events: LoadProgress[];
  /** How many requests the server had received when the first download report came. */
  requestsBeforeFirst: number;
}

async function observedLoad(spec: string, cache: NodeDiskCacheStore): Promise<Observed> {
  server.requests.length = 0;
  const events: LoadProgress[] = [];
  let requestsBeforeFirst = -1;
  const onProgress = (p: LoadProgress) => {
    if (requestsBeforeFirst < 0) requestsBeforeFirst = server.requests.length;
    events.push(structuredClone(p));
  };
  const model = await loadModel(spec, { ...OPTIONS, gpu, hubUrl: server.url, cache, onProgress });
  model.dispose();
  return { events, requestsBeforeFirst };
}

const phase = (events: LoadProgress[], name: string) => events.filter((e) => e.phase === name);
const isShard = (r: RequestRecord) => r.path.endsWith('.safetensors');

/** One phase's reports: the first has the final total, bytes done never decrease and end at it. */
function expectSteadyPhase(events: LoadProgress[], total: number): void {
  expect(events.length).toBeGreaterThan(1);
  expect(events.map((e) => e.bytesTotal)).toEqual(events.map(() => total));
  for (let i = 1; i < events.length; i++) expect(events[i]!.bytesDone).toBeGreaterThanOrEqual(events[i - 1]!.bytesDone);
  expect(events.at(-1)!.bytesDone).toBe(total);
}

describe('load progress has its final total from the first report', () => {
  it.each([
    ['a hub repo id (sizes from one listing call)', 'local/sharded', 'hub'],
    ['a plain base URL (a HEAD per file)', '', 'http'],
  ] as const)('%s', async (_, id, kind) => {
    expect([...sizes.keys()].filter((f) => f.endsWith('.safetensors'))).toHaveLength(6);
    const spec = kind === 'hub' ? id : `${server.url}/local/sharded/resolve/main`;
    const cache = new NodeDiskCacheStore(join(root, `cache-${kind}`));
    const { events, requestsBeforeFirst } = await observedLoad(spec, cache);

    const download = phase(events, 'download');
    expect(events[0]!.phase).toBe('download');
    // Every file of the folder, at its size on disk, is in the first report.
    expect(new Map(download[0]!.files.map((f) => [f.file, f.bytesTotal]))).toEqual(sizes);
    expectSteadyPhase(download, folderBytes);
    // Only the small files were downloaded before it; no shard byte.
    const before = server.requests.slice(0, requestsBeforeFirst);
    expect(download[0]!.bytesDone).toBe(
      download[0]!.files.filter((f) => !f.file.endsWith('.safetensors')).reduce((a, f) => a + f.bytesTotal, 0),
    );
    expect(before.filter((r) => isShard(r) && r.method === 'GET' && r.range !== 'bytes=0-0')).toEqual([]);
    if (kind === 'hub') {
      expect(before.filter((r) => r.path.startsWith('/api/models/local/sharded/tree/'))).toHaveLength(1);
      expect(before.filter(isShard)).toEqual([]);
    } else {
      expect(new Set(before.filter((r) => isShard(r) && r.method === 'HEAD').map((r) => r.path)).size).toBe(6);
    }

    const upload = phase(events, 'upload');
    expect(events.indexOf(upload[0]!)).toBe(download.length); // download first, then upload
    expectSteadyPhase(upload, upload[0]!.bytesTotal);

    // Everything cached: the second load's first report is already complete, and no shard is fetched.
    const again = await observedLoad(spec, cache);
    expect(again.events[0]).toMatchObject({ phase: 'download', bytesDone: folderBytes, bytesTotal: folderBytes });
    expect(server.requests.filter((r) => isShard(r) && r.method === 'GET')).toEqual([]);
  });
});
