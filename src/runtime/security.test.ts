/**
 * Security properties, each provoked for real:
 * - a hub token never appears in what we print or hand back: console/stdout/stderr, error
 *   messages (with stacks, causes, util.inspect and JSON forms), `model.source.description` (which
 *   benchmark records and completion responses copy), a real benchmark record (JSON and Markdown)
 *   of a model loaded with a token, the cache on disk, and the CLI's output;
 * - remote files are bounded before anything is allocated or downloaded: a server announcing a
 *   2^33-byte config.json / tokenizer.json or a 2^40-byte shard gets a typed error, and the bytes
 *   are never requested;
 * - chat templates (untrusted checkpoint content) run in @huggingface/jinja's interpreter, which
 *   gives them no way to `process`, `globalThis` or constructor chains, with bounded work; and no
 *   source file (ours or the interpreter's) evaluates strings as code.
 * Checks are exact (substring absence of the secret, typed errors, request logs).
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { inspect, promisify } from 'node:util';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { runBenchmark } from '../bench/harness.js';
import { benchMarkdown } from '../bench/markdown.js';
import { DownloadError, InvalidArgumentError, ModelFormatError, Qwen35Error } from '../errors.js';
import { acquireGpu, type GpuContext } from '../gpu/device.js';
import { loadModel } from '../index.js';
import { NodeDiskCacheStore } from '../io/cache/node-disk.js';
import { startHubServer, type HubServer } from '../io/hub-server.js';
import { HttpCheckpointSource } from '../io/sources/http.js';
import { ChatTemplate } from './chat-template.js';
import { collectUnhandledRejections, countDeviceBuffers, rejectionOf, tempDir, writeMiniCheckpoint } from './reliability-fixture.js';
import { TEMPLATE_LIMITS } from './template-sandbox.js';

const unhandled = collectUnhandledRejections();
const root = tempDir('security');
const TOKEN = `hf_${Math.random().toString(36).slice(2)}SecretToken`;
const SHARD = 'model-00001-of-00001.safetensors';
const LOAD = { maxContext: 32, prefillChunk: 8, weightFormat: 'q8' as const, retries: 0 };
let dir: string;
let hub: HubServer;
let gpu: GpuContext;

beforeAll(async () => {
  dir = await writeMiniCheckpoint(root);
  hub = await startHubServer({ root: { 'local/mini': dir }, token: TOKEN });
  gpu = await acquireGpu();
});
afterAll(async () => {
  gpu?.destroy();
  await hub?.close();
  rmSync(root, { recursive: true, force: true });
  expect(unhandled).toEqual([]);
});
beforeEach(() => {
  hub.faults.clear();
  hub.requests.length = 0;
});

/** Everything printed while `run` runs (console and the raw streams). */
async function captureOutput<T>(run: () => Promise<T>): Promise<{ value: T | undefined; error: unknown; printed: string }> {
  const printed: string[] = [];
  const record = (...args: unknown[]) => void printed.push(args.map((a) => (typeof a === 'string' ? a : inspect(a, { depth: 8 }))).join(' '));
  const spies = (['log', 'info', 'warn', 'error', 'debug'] as const).map((m) => vi.spyOn(console, m).mockImplementation(record));
  const writes = [process.stdout, process.stderr].map((s) =>
    vi.spyOn(s, 'write').mockImplementation((chunk: string | Uint8Array) => {
      printed.push(String(chunk));
      return true;
    }),
  );
  try {
    return { value: await run(), error: undefined, printed: printed.join('\n') };
  } catch (error) {
    return { value: undefined, error, printed: printed.join('\n') };
  } finally {
    [...spies, ...writes].forEach((s) => s.mockRestore());
  }
}

/** Every form an error can be shown or logged in: message, stack, String, util.inspect (causes included) and JSON. */
function everyFormOf(error: unknown): string {
  const e = error as Error;
  return [e.message, e.stack, String(e), inspect(e, { depth: 10, showHidden: true }), JSON.stringify(e, Object.getOwnPropertyNames(e))].join('\n');
}

/** All bytes under a folder, as text. */
function folderText(folder: string): string {
  return readdirSync(folder, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => readFileSync(join(e.parentPath, e.name), 'latin1'))
    .join('\n');
}

describe('hub tokens never leak', () => {
  it('a load with a token: used in requests, absent from output, description, completions, memory report and the cache', async () => {
    const cacheDir = join(root, 'cache-ok');
    const { value: model, error, printed } = await captureOutput(() =>
      loadModel('local/mini', { ...LOAD, gpu, token: TOKEN, hubUrl: hub.url, cache: new NodeDiskCacheStore(cacheDir), onProgress: (p) => console.log(p) }),
    );
    expect(error).toBeUndefined();
    try {
      expect(hub.requests.length).toBeGreaterThan(0);
      expect(hub.requests.every((r) => r.authorized)).toBe(true);
      const reply = await model!.chat.completions.create({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 } as never);
      const shown = [printed, model!.source.description, model!.modelId, JSON.stringify(reply), JSON.stringify(model!.memory()), folderText(cacheDir)];
      expect(printed.length).toBeGreaterThan(0);
      for (const text of shown) expect(text).not.toContain(TOKEN);
    } finally {
      model?.dispose();
    }
  });

  it('a benchmark of a model loaded with a token: the qwen35-bench/1 JSON, its Markdown, progress events and output hold no token', async () => {
    const model = await loadModel('local/mini', { ...LOAD, gpu, token: TOKEN, hubUrl: hub.url, cache: false });
    try {
      expect(hub.requests.every((r) => r.authorized)).toBe(true);
      const events: unknown[] = [];
      const options = { scenarios: ['prefill' as const, 'decode' as const], prefillLengths: [4], decodeContexts: [0], decodeTokens: 2, warmup: 0, repetitions: 1 };
      const { value: result, error, printed } = await captureOutput(() => runBenchmark(model, options, (e) => events.push(e)));
      expect(error).toBeUndefined();
      const json = JSON.stringify(result);
      // The record names its source (copied from model.source.description) and holds measured points.
      expect(result!.models[0]!.model.source).toBe(model.source.description);
      expect(json).toContain('local/mini');
      expect(result!.models[0]!.decode).toHaveLength(1);
      for (const text of [json, benchMarkdown(result!), JSON.stringify(events), printed]) expect(text).not.toContain(TOKEN);
    } finally {
      model.dispose();
    }
  });

  it.each([
    ['a wrong token (401)', () => ({ token: 'hf_wrongWrongWrong' }), 'hf_wrongWrongWrong'],
    ['a server error on every request (500)', () => (hub.faults.failWith(500, { times: 100 }), { token: TOKEN }), TOKEN],
    ['a missing shard (404)', () => (hub.faults.failWith(404, { path: SHARD, times: 100 }), { token: TOKEN }), TOKEN],
    ['a connection cut mid-shard', () => (hub.faults.cutAfter(1000, { path: SHARD, times: 100 }), { token: TOKEN }), TOKEN],
  ])('a failing load with %s: the error (every form, causes included) and the output hold no token', async (_, setUp, secret) => {
    const auth = setUp();
    const { error, printed } = await captureOutput(() => loadModel('local/mini', { ...LOAD, gpu, ...auth, hubUrl: hub.url, cache: false }));
    expect(error).toBeInstanceOf(Qwen35Error);
    expect(everyFormOf(error)).not.toContain(secret);
    expect(printed).not.toContain(secret);
  });

  it('credentials in an http(s) URL are sent as Basic auth and never shown', async () => {
    const url = `http://someone:${TOKEN}@127.0.0.1:1/checkpoint`;
    const source = new HttpCheckpointSource(url, { retries: 0 });
    expect(source.description).not.toContain(TOKEN);
    const error = await rejectionOf(source.readText('config.json'));
    expect(error).toBeInstanceOf(DownloadError);
    expect(everyFormOf(error)).not.toContain(TOKEN);
  });

  it('the CLI (`qwen35 run` with HF_TOKEN): output of a good and of a failing run holds no token', async () => {
    const env = { ...process.env, HF_ENDPOINT: hub.url, QWEN35_CACHE_DIR: join(root, 'cache-cli') };
    const run = (token: string) =>
      promisify(execFile)('node', ['bin/qwen35.js', 'run', '-m', 'local/mini', '-n', '2', '--context', '32', '--format', 'q8'], {
        env: { ...env, HF_TOKEN: token },
        timeout: 110_000,
      }).then(
        (r) => ({ code: 0, out: r.stdout + r.stderr }),
        (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout + e.stderr }),
      );
    const good = await run(TOKEN);
    expect(good.code, good.out).toBe(0);
    expect(good.out).not.toContain(TOKEN);
    const bad = await run(`${TOKEN}X`);
    expect(bad.code).not.toBe(0);
    expect(bad.out).toMatch(/access denied|Invalid credentials/);
    expect(bad.out).not.toContain(TOKEN);
  });
});

/** An HTTP server that serves the mini checkpoint but announces `sizes[name]` bytes (zeros past the real end). */
interface LyingServer {
  url: string;
  requests: { method: string; name: string; range: string | undefined }[];
  close(): Promise<void>;
}

async function startLyingServer(sizes: Record<string, number>): Promise<LyingServer> {
  const requests: LyingServer['requests'] = [];
  const server: Server = createServer((req, res) => {
    const name = decodeURIComponent((req.url ?? '/').slice(1));
    requests.push({ method: req.method ?? 'GET', name, range: req.headers.range });
    let real: Buffer;
    try {
      real = readFileSync(join(dir, name));
    } catch {
      return void res.writeHead(404).end();
    }
    const size = sizes[name] ?? real.byteLength;
    const headers = { 'Accept-Ranges': 'bytes', ETag: `"${name}-${size}"`, 'Content-Type': 'application/octet-stream' };
    const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
    if (req.method === 'HEAD' || !m) return void res.writeHead(200, { ...headers, 'Content-Length': String(size) }).end();
    const start = Number(m[1]);
    const end = Math.min(Number(m[2]), size - 1, start + 2 ** 24 - 1); // never more than 16 MiB per answer
    const body = Buffer.alloc(end - start + 1);
    real.copy(body, 0, Math.min(start, real.byteLength), Math.min(end + 1, real.byteLength));
    res.writeHead(206, { ...headers, 'Content-Length': String(body.byteLength), 'Content-Range': `bytes ${start}-${end}/${size}` }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('remote files are bounded before anything is allocated', () => {
  const HUGE_TEXT = 2 ** 33;

  it.each(['config.json', 'tokenizer.json'])('%s announced at 2^33 bytes: ModelFormatError, its bytes never requested, no GPU buffer', async (name) => {
    const server = await startLyingServer({ [name]: HUGE_TEXT });
    const buffers = countDeviceBuffers(await acquireGpu());
    try {
      for (const cache of [false, new NodeDiskCacheStore(join(root, `cache-${name}`))]) {
        server.requests.length = 0;
        const error = await rejectionOf(loadModel(server.url, { ...LOAD, gpu, cache }));
        expect(error).toBeInstanceOf(ModelFormatError);
        expect(error.message).toContain(`${name} has ${HUGE_TEXT} bytes, more than the ${64 * 2 ** 20}`);
        expect(server.requests.filter((r) => r.name === name && r.method === 'GET')).toEqual([]);
      }
      expect(buffers.created()).toBe(0);
    } finally {
      await server.close();
    }
  });

  it('a shard announced at 2^40 bytes, cached: refused before a byte is downloaded (it cannot fit the disk)', async () => {
    const server = await startLyingServer({ [SHARD]: 2 ** 40 });
    const store = new NodeDiskCacheStore(join(root, 'cache-shard'));
    try {
      const error = await rejectionOf(loadModel(server.url, { ...LOAD, gpu, cache: store }));
      expect(error).toBeInstanceOf(DownloadError);
      expect(error.message).toMatch(/announces 1\.0 TiB to download, but the cache .* has only .* free; nothing was downloaded/);
      expect(server.requests.filter((r) => r.name === SHARD && r.method === 'GET')).toEqual([]);
      const [cached] = await store.listModels(); // config and tokenizer were downloaded, the shard not
      expect(await store.storedBytes(cached!, 'config.json')).toBeGreaterThan(0);
      expect(await store.storedBytes(cached!, SHARD)).toBe(0);
    } finally {
      await server.close();
    }
  });

  it('a shard announced at 2^40 bytes, uncached: only the header and tensor ranges are read (each ≤ 16 MiB)', async () => {
    const server = await startLyingServer({ [SHARD]: 2 ** 40 });
    try {
      const result = await loadModel(server.url, { ...LOAD, gpu, cache: false }).then(
        (model) => (model.dispose(), undefined),
        (error: unknown) => error,
      );
      if (result !== undefined) expect(result).toBeInstanceOf(Qwen35Error);
      const reads = server.requests.filter((r) => r.name === SHARD && r.range);
      expect(reads.length).toBeGreaterThan(0);
      for (const r of reads) {
        const [a, b] = r.range!.slice('bytes='.length).split('-').map(Number);
        expect(b! - a! + 1).toBeLessThanOrEqual(2 ** 24);
      }
    } finally {
      await server.close();
    }
  });
});

describe('chat templates are sandboxed', () => {
  const SECRET = `S3CRET-${Math.random().toString(36).slice(2)}`;
  const messages = [{ role: 'user' as const, content: 'hi' }];
  beforeAll(() => {
    (globalThis as Record<string, unknown>).__qwen35Secret = SECRET;
    process.env.QWEN35_TEST_SECRET = SECRET;
  });
  afterAll(() => {
    delete (globalThis as Record<string, unknown>).__qwen35Secret;
    delete process.env.QWEN35_TEST_SECRET;
  });

  const ESCAPES = [
    '{{ __qwen35Secret }}',
    '{{ globalThis.__qwen35Secret }}',
    '{{ process.env.QWEN35_TEST_SECRET }}',
    '{{ process }}{{ globalThis }}{{ window }}{{ require }}{{ import }}',
    "{{ ''.constructor.constructor('return globalThis.__qwen35Secret')() }}",
    "{{ messages.constructor.constructor('return process')().env.QWEN35_TEST_SECRET }}",
    '{{ messages[0].__proto__ }}{{ messages.__proto__.constructor }}{{ messages[0].constructor.name }}',
    "{{ (messages|first).content.constructor.constructor('return 1')() }}",
    '{{ cycler.__init__.__globals__.os }}{{ lipsum.__globals__ }}{{ self.__init__ }}',
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ raise_exception.constructor('return process')() }}",
    "{% set f = range.constructor %}{{ f('return globalThis.__qwen35Secret')() }}",
    '{% for k, v in messages[0].items() %}{{ k }}={{ v }};{% endfor %}',
  ];
  it.each(ESCAPES)('%s: renders nothing of the host, or fails with a typed error', (source) => {
    let out = '';
    try {
      out = new ChatTemplate(source).render(messages);
    } catch (e) {
      expect(e).toBeInstanceOf(Qwen35Error);
      expect((e as Error).message).not.toContain(SECRET);
      return;
    }
    expect(out).not.toContain(SECRET);
    expect(out).not.toMatch(/function|native code|\[object|process|env/);
  });

  it('the only keys a template can iterate on a message are its fields', () => {
    expect(new ChatTemplate('{% for k, v in messages[0].items() %}{{ k }}={{ v }};{% endfor %}').render(messages)).toBe('role=user;content=hi;');
  });

  it('runaway templates are stopped with ModelFormatError: huge range, nested loops, doubling strings and lists', () => {
    expect(() => new ChatTemplate('{% for x in range(10**9) %}{% endfor %}').render(messages)).toThrow(/range\(\) of 1000000000 numbers/);
    const doubling = (init: string, op: string) =>
      `{% set ns = namespace(v=${init}) %}{% for i in range(60) %}{% set ns.v = ns.v ${op} ns.v %}{% endfor %}{{ ns.v|length }}`;
    expect(() => new ChatTemplate(doubling("'ab'", '~')).render(messages)).toThrow(/a string longer than/);
    expect(() => new ChatTemplate(doubling('[1]', '+')).render(messages)).toThrow(/a list longer than/);
    const steps = TEMPLATE_LIMITS.steps;
    TEMPLATE_LIMITS.steps = 20_000; // the same counter as in production, reached sooner
    try {
      const nested = '{% for a in range(100000) %}{% for b in range(100000) %}{{ a }}{% endfor %}{% endfor %}';
      expect(() => new ChatTemplate(nested).render(messages)).toThrow(new ModelFormatError('the chat template was stopped: the template ran more than 20000 steps (an endless or enormous loop?)'));
    } finally {
      TEMPLATE_LIMITS.steps = steps;
    }
  });

  it('a template error is an InvalidArgumentError (raise_exception, calling what is not a function), never a crash', () => {
    expect(() => new ChatTemplate("{{ raise_exception('no') }}").render(messages)).toThrow(InvalidArgumentError);
    expect(() => new ChatTemplate('{{ nothing() }}').render(messages)).toThrow(InvalidArgumentError);
  });
});

describe('nothing evaluates strings as code', () => {
  const EVAL = /\beval\s*\(|\bnew\s+Function\s*\(|(?<![\w.])Function\s*\(\s*['"`]/;
  const sources = (folder: string): string[] =>
    readdirSync(folder, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile() && /\.ts$/.test(e.name) && !/\.test\.ts$/.test(e.name))
      .map((e) => join(e.parentPath, e.name));

  it('no eval / new Function in src/ or in @huggingface/jinja', () => {
    const files = [...sources('src'), 'node_modules/@huggingface/jinja/dist/index.js'];
    expect(files.length).toBeGreaterThan(50);
    const offenders = files.filter((f) => EVAL.test(readFileSync(f, 'utf8')));
    expect(offenders).toEqual([]);
  });
});
