/**
 * Broken checkpoints and a failing server, end to end: the mini checkpoint
 * (reliability-fixture.ts), damaged one way per repo, served under hub URLs by the hub-style
 * server (src/io/hub-server.ts) and loaded with loadModel(repo id, { hubUrl }) through the disk
 * cache as a user would. Each load must fail with its typed error and a message naming the file,
 * tensor or request and what was wrong; afterwards neither the runtime's allocators nor the
 * device (buffers counted on the device itself) hold a GPU buffer. Checkpoint damage must be
 * found before anything is allocated; server faults during an uncached load hit the upload
 * half way, after buffers were created, and must release them all. A connection cut mid-shard
 * leaves a partial that the next load resumes with a Range request from the first missing
 * byte, and that load generates exactly the tokens of an uncut one (same weights, same device).
 * Bytes corrupted in transit fail the SHA-256 check against the shard's ETag.
 * The parsers' own messages are unit-tested in src/io/safetensors.test.ts and the fuzz tests;
 * this file checks that they reach the user through the hub path with nothing left behind.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, DownloadError, ModelFormatError, Qwen35Error } from '../errors.js';
import { GpuAllocator } from '../gpu/allocator.js';
import { acquireGpu, type GpuContext } from '../gpu/device.js';
import { loadModel } from '../index.js';
import { NodeDiskCacheStore } from '../io/cache/node-disk.js';
import { joinSafetensors, splitSafetensors } from '../io/fuzz-cases.js';
import { startHubServer, type HubServer } from '../io/hub-server.js';
import { INDEX_FILE } from '../io/tensor-directory.js';
import { collectUnhandledRejections, countDeviceBuffers, rejectionOf, tempDir, within, writeMiniCheckpoint } from './reliability-fixture.js';

const unhandled = collectUnhandledRejections();
const root = tempDir('hub-bad-input');
const SHARD = 'model-00001-of-00001.safetensors';
const P = 'model.language_model.layers.';
const LOAD = { maxContext: 32, prefillChunk: 8, weightFormat: 'q8' as const };
const PROMPT = [3, 1, 4, 1, 5, 9, 2, 6];
const GREEDY = { maxTokens: 4, eosTokenIds: [] };
const BOUND_MS = 60_000;
/** Where the cut connections stop: inside the shard (358 KiB), past its header. */
const CUT = 150_000;
let good: string;
let shardBytes: number;
let hub: HubServer;
let gpu: GpuContext;
/** Greedy tokens of PROMPT from an uncut load. */
let expected: number[];

type Header = Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;

/** A copy of the good checkpoint as repo `local/<name>`, its files changed by `edit`. */
function brokenRepo(name: string, edit: (dir: string) => void): void {
  const dir = join(root, 'repos', name);
  mkdirSync(dir, { recursive: true });
  for (const f of readdirSync(good)) copyFileSync(join(good, f), join(dir, f));
  edit(dir);
}

const readShard = (dir: string) => new Uint8Array(readFileSync(join(dir, SHARD)));

/** Rewrites the shard's header (data bytes unchanged) with `edit`. */
function editHeader(dir: string, edit: (h: Header) => void): void {
  const { header, data } = splitSafetensors(readShard(dir));
  edit(header as Header);
  writeFileSync(join(dir, SHARD), joinSafetensors(JSON.stringify(header), data));
}

function editJson(dir: string, file: string, edit: (j: Record<string, unknown>) => void): void {
  const json = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Record<string, unknown>;
  edit(json);
  writeFileSync(join(dir, file), JSON.stringify(json));
}

/** Data bytes of the good shard (after its header). */
let dataBytes: number;

const REPOS: Record<string, (dir: string) => void> = {
  truncated: (dir) => writeFileSync(join(dir, SHARD), readShard(dir).subarray(0, 200_000)),
  'header-length': (dir) => {
    const bytes = readShard(dir);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(bytes.byteLength), true);
    writeFileSync(join(dir, SHARD), bytes);
  },
  'header-json': (dir) => {
    const { data } = splitSafetensors(readShard(dir));
    writeFileSync(join(dir, SHARD), joinSafetensors('{"model.language_model.norm.weight": {"dtype": "BF16", ', data));
  },
  'offsets-out-of-range': (dir) =>
    editHeader(dir, (h) => {
      h[`${P}0.input_layernorm.weight`]!.data_offsets = [dataBytes - 64, dataBytes + 64];
    }),
  'offsets-overlap': (dir) =>
    editHeader(dir, (h) => {
      const [begin, end] = h[`${P}0.linear_attn.in_proj_b.weight`]!.data_offsets;
      h[`${P}0.linear_attn.in_proj_b.weight`]!.data_offsets = [begin - 256, end - 256]; // into in_proj_z
    }),
  'wrong-dtype': (dir) =>
    editHeader(dir, (h) => {
      h[`${P}3.self_attn.q_proj.weight`]!.dtype = 'I16'; // same bytes per element: only the dtype is wrong
    }),
  'wrong-shape': (dir) =>
    editHeader(dir, (h) => {
      h[`${P}0.linear_attn.in_proj_qkv.weight`]!.shape = [64, 128]; // transposed: same byte length
    }),
  'missing-tensor': (dir) => {
    const name = `${P}2.mlp.down_proj.weight`;
    editHeader(dir, (h) => void delete h[name]);
    editJson(dir, INDEX_FILE, (j) => void delete (j.weight_map as Record<string, string>)[name]);
  },
  'unknown-architecture': (dir) =>
    editJson(dir, 'config.json', (j) => {
      j.model_type = 'llama';
      j.architectures = ['LlamaForCausalLM'];
    }),
};

/** Every allocator the runtime creates buffers with (to check they are empty after a failure). */
const allocators = new Set<GpuAllocator>();
const create = GpuAllocator.prototype.create;
GpuAllocator.prototype.create = function (this: GpuAllocator, ...args: Parameters<GpuAllocator['create']>) {
  allocators.add(this);
  return create.apply(this, args);
};

beforeAll(async () => {
  good = await writeMiniCheckpoint(root);
  shardBytes = readShard(good).byteLength;
  dataBytes = splitSafetensors(readShard(good)).data.byteLength;
  for (const [name, edit] of Object.entries(REPOS)) brokenRepo(name, edit);
  const repos = Object.fromEntries(Object.keys(REPOS).map((n) => [`local/${n}`, join(root, 'repos', n)]));
  hub = await startHubServer({ root: { ...repos, 'local/mini': good } });
  gpu = await acquireGpu();
  const model = await loadModel('local/mini', { ...LOAD, gpu, hubUrl: hub.url, cache: false });
  expected = (await model.generateText(PROMPT, GREEDY)).tokens;
  model.dispose();
});
afterAll(async () => {
  GpuAllocator.prototype.create = create;
  gpu?.destroy();
  await hub?.close();
  rmSync(root, { recursive: true, force: true });
  expect(unhandled).toEqual([]);
});
beforeEach(() => {
  hub.faults.clear();
  hub.requests.length = 0;
  allocators.clear();
});

let stores = 0;
const newStore = () => new NodeDiskCacheStore(join(root, `cache-${stores++}`));

interface Failure {
  error: Error;
  /** GPU buffers the load created on the device before it failed. */
  created: number;
}

/** A load of `repo` that must fail; checks nothing is left on the device or in any allocator. */
async function failingLoad(repo: string, extra: { cache?: NodeDiskCacheStore | false; retries?: number } = {}): Promise<Failure> {
  const device = await acquireGpu();
  const buffers = countDeviceBuffers(device);
  try {
    const options = { ...LOAD, gpu: device, hubUrl: hub.url, cache: extra.cache ?? newStore(), retries: extra.retries ?? 0 };
    const error = await rejectionOf(within(BOUND_MS, `loading ${repo}`, loadModel(repo, options)));
    expect(error).toBeInstanceOf(Qwen35Error);
    expect(buffers.liveBuffers(), 'GPU buffers left on the device').toBe(0);
    expect(buffers.liveBytes(), 'GPU bytes left on the device').toBe(0);
    if (buffers.created() > 0) expect(allocators.size, 'the runtime allocators were seen').toBeGreaterThan(0);
    for (const a of allocators) expect(a.report(), 'an allocator still holds buffers').toMatchObject({ liveTotal: 0, buffers: 0 });
    return { error, created: buffers.created() };
  } finally {
    device.destroy();
  }
}

describe('a broken checkpoint on the hub: typed error, checked before any GPU buffer exists', () => {
  const layer = (name: string) => JSON.stringify(`${P}${name}`);
  it.each([
    ['truncated shard', 'truncated', ModelFormatError, () => new RegExp(`^${SHARD}: tensor "[^"]+": data_offsets end \\d+ is beyond the data buffer \\(${200_000 - (shardBytes - dataBytes)} bytes\\); the file is truncated$`)],
    ['header length beyond the file', 'header-length', ModelFormatError, () => new RegExp(`^${SHARD}: header length ${shardBytes} is invalid: expected 2 ≤ N ≤ ${shardBytes - 8} \\(file size ${shardBytes} − 8\\); the file is truncated or not safetensors$`)],
    ['invalid JSON header', 'header-json', ModelFormatError, () => new RegExp(`^${SHARD}: header is not valid UTF-8 JSON \\(.+\\)$`)],
    ['offsets out of range', 'offsets-out-of-range', ModelFormatError, () => new RegExp(`^${SHARD}: tensor ${esc(layer('0.input_layernorm.weight'))}: data_offsets end ${dataBytes + 64} is beyond the data buffer \\(${dataBytes} bytes\\); the file is truncated$`)],
    ['overlapping offsets', 'offsets-overlap', ModelFormatError, () => new RegExp(`^${SHARD}: tensors ${esc(layer('0.linear_attn.in_proj_z.weight'))} and ${esc(layer('0.linear_attn.in_proj_b.weight'))} have overlapping data_offsets$`)],
    ['wrong dtype for a known tensor', 'wrong-dtype', ModelFormatError, () => new RegExp(`checkpoint does not match config\\.json: wrong tensors: ${esc(`${P}3.self_attn.q_proj.weight: dtype I16, expected one of BF16, F16, F32`)}$`)],
    ['wrong shape for a known tensor', 'wrong-shape', ModelFormatError, () => new RegExp(`checkpoint does not match config\\.json: wrong tensors: ${esc(`${P}0.linear_attn.in_proj_qkv.weight: shape [64,128], expected [128,64]`)}$`)],
    ['missing tensor', 'missing-tensor', ModelFormatError, () => new RegExp(`checkpoint does not match config\\.json: missing tensors: ${esc(`${P}2.mlp.down_proj.weight`)}$`)],
    ['unknown architecture', 'unknown-architecture', ConfigError, () => /^config\.json: unsupported model_type "llama"; supported: .*qwen3_5/],
  ] as const)('%s', async (_, repo, type, message) => {
    const { error, created } = await failingLoad(`local/${repo}`);
    expect(error).toBeInstanceOf(type);
    expect(error.message).toMatch(message());
    if (type === ModelFormatError && /does not match/.test(error.message)) expect(error.message).toContain(`local/${repo}@main on ${hub.url}`);
    expect(created).toBe(0);
  });
});

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const shardGets = () => hub.requests.filter((r) => r.method === 'GET' && r.path.endsWith(`/${SHARD}`) && r.range !== 'bytes=0-0');

describe('the server failing in the middle of a shard', () => {
  // GETs of the shard in a cached load: two `Range: bytes=0-0` probes of the hub library (has(),
  // then open), then the download. `skip: 3` lets them through; the cut download's retry fails.
  it.each([
    [404, /: not found: .*\/local\/mini\/resolve\/main\/model-00001-of-00001\.safetensors answered 404 Not Found \("Entry not found"\); check the file name, repo and revision$/, 1, 1],
    // The cut is the first of the 3 attempts; both retries get the 500.
    [500, /\/local\/mini\/resolve\/main\/model-00001-of-00001\.safetensors kept failing \(last status 500, 3 attempts\); try again later$/, 2, 2],
  ])('cached download cut mid-shard, then answered %i: DownloadError, the partial is kept, no GPU buffer', async (status, message, retries, answered) => {
    const store = newStore();
    hub.faults.cutAfter(CUT, { path: SHARD, method: 'GET' });
    hub.faults.failWith(status, { path: SHARD, method: 'GET', skip: 3, times: 100 });
    const { error, created } = await failingLoad('local/mini', { cache: store, retries });
    expect(error).toBeInstanceOf(DownloadError);
    expect(error.message.startsWith(`${SHARD}: `)).toBe(true);
    expect(error.message).toMatch(message);
    expect(shardGets().map((r) => [r.range, r.status])).toEqual([
      [`bytes=0-${shardBytes - 1}`, 206],
      ...Array(answered).fill([`bytes=${CUT}-${shardBytes - 1}`, status]),
    ]);
    expect(await store.storedBytes('local/mini/main', SHARD)).toBe(CUT);
    expect(created).toBe(0);
  });

  it('cached download of bytes corrupted in transit (right length): DownloadError naming both SHA-256, the copy deleted, no GPU buffer', async () => {
    const store = newStore();
    hub.faults.corrupt(CUT, { path: SHARD, method: 'GET' });
    const { error, created } = await failingLoad('local/mini', { cache: store });
    expect(error).toBeInstanceOf(DownloadError);
    const want = createHash('sha256').update(readShard(good)).digest('hex');
    expect(error.message).toMatch(new RegExp(`^${SHARD}: the downloaded bytes have SHA-256 (?!${want})[0-9a-f]{64}, but .*/${SHARD} announced ${want} \\(its ETag\\); the corrupted copy was deleted`));
    expect(await store.storedBytes('local/mini/main', SHARD)).toBe(0);
    expect(created).toBe(0);
  });

  it.each([404, 500])('uncached, answered %i half way through the upload: DownloadError, every GPU buffer created is released', async (status) => {
    // The reads of the shard one uncached load makes (header, then tensors as they are uploaded).
    const model = await loadModel('local/mini', { ...LOAD, gpu, hubUrl: hub.url, cache: false });
    model.dispose();
    const reads = shardGets().length;
    expect(reads).toBeGreaterThan(4);
    hub.requests.length = 0;
    const probes = 2; // the hub library's bytes=0-0 GETs (has(), then open)
    hub.faults.failWith(status, { path: SHARD, method: 'GET', skip: probes + Math.floor(reads / 2), times: 100 });
    const { error, created } = await failingLoad('local/mini', { cache: false, retries: 0 });
    expect(error).toBeInstanceOf(DownloadError);
    expect(error.message).toMatch(status === 404 ? /answered 404 Not Found \("Entry not found"\)/ : /kept failing \(last status 500, 1 attempt\)/);
    expect(created).toBeGreaterThan(0);
  });
});

describe('a connection cut mid-shard, then a second load', () => {
  it('fails with DownloadError; the next load resumes with a Range request from the cut and generates the same tokens', async () => {
    const store = newStore();
    hub.faults.cutAfter(CUT, { path: SHARD, method: 'GET' });
    const { error, created } = await failingLoad('local/mini', { cache: store, retries: 0 });
    expect(error).toBeInstanceOf(DownloadError);
    expect(error.message).toMatch(new RegExp(`^${SHARD}: network failure reading .*${esc(SHARD)} \\(.+\\); gave up after 1 attempt: check the connection and the URL$`));
    expect(created).toBe(0);
    expect(await store.storedBytes('local/mini/main', SHARD)).toBe(CUT);

    hub.requests.length = 0;
    const device = await acquireGpu();
    const buffers = countDeviceBuffers(device);
    try {
      const model = await within(BOUND_MS, 'resumed load', loadModel('local/mini', { ...LOAD, gpu: device, hubUrl: hub.url, cache: store, retries: 0 }));
      const resumed = shardGets();
      expect(resumed.map((r) => [r.range, r.status])).toEqual([[`bytes=${CUT}-${shardBytes - 1}`, 206]]);
      expect(resumed[0]!.ifRange).toMatch(/^".+"$/);
      expect((await model.generateText(PROMPT, GREEDY)).tokens).toEqual(expected);
      model.dispose();
      expect(buffers.liveBuffers()).toBe(0);
    } finally {
      device.destroy();
    }
  });
});
