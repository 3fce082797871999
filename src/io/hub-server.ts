/**
 * A local HTTP server that answers like the Hugging Face hub for the calls this project makes:
 *   GET/HEAD /{owner}/{name}/resolve/{rev}/{file}   (also /raw/): Content-Length, ETag,
 *       Accept-Ranges, 206 + Content-Range for `Range: bytes=a-b | a- | -n`, If-Range,
 *       416 for unsatisfiable ranges, 404 with X-Error-Code EntryNotFound / RepoNotFound
 *   GET /api/models/{owner}/{name}/tree/{rev}[/{path}]?recursive=  (listFiles of @huggingface/hub)
 * Like the hub's LFS files, `*.safetensors` have the SHA-256 of their content as ETag (and
 * X-Linked-Etag, and `lfs.oid` in the listing); other files, like the hub's files kept in git,
 * have their git blob id (SHA-1 of "blob <size>\0" + content) as ETag and listing `oid`. Hashed
 * once per version (size, mtime) of a file, on its first request (~1 s per GiB).
 * with an optional bearer token and CORS (the demo page fetches from it). Every revision name
 * serves the same files. Used by the tests (with fault injection), the demo and `qwen35 serve`.
 */
import { createReadStream, promises as fsp, type BigIntStats } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { startContentHash } from './content-hash.js';
import { fileNameSegments } from './sources/names.js';

export interface HubServerOptions {
  /** A folder holding `<owner>/<name>/<files>` (a folder `<name>` with a config.json is also `local/<name>`), or repo → folder. */
  root: string | Record<string, string>;
  port?: number;
  host?: string;
  /** If set, every request must carry `Authorization: Bearer <token>`. */
  token?: string;
}

export interface RequestRecord {
  method: string;
  /** URL path, decoded. */
  path: string;
  range: string | undefined;
  ifRange: string | undefined;
  authorized: boolean;
  status: number;
}

export interface FaultMatch {
  /** Substring of (or pattern for) the decoded URL path; all requests if absent. */
  path?: string | RegExp;
  method?: string;
  /** How many matching requests it applies to (defaults per fault). */
  times?: number;
  /** Matching requests let through before it applies (default 0): e.g. a 500 only after a first, cut, response. */
  skip?: number;
}

type FaultKind = 'status' | 'cut' | 'slow' | 'ignore-ranges' | 'corrupt';

interface FaultRule extends FaultMatch {
  kind: FaultKind;
  times: number;
  skip: number;
  value: number;
}

/** Fault injection: each rule applies to the next `times` matching requests. */
export class HubFaults {
  #rules: FaultRule[] = [];

  /** Answers `status` (404s in the hub's EntryNotFound style). Default once. */
  failWith(status: number, m: FaultMatch = {}): void {
    this.#rules.push({ ...m, kind: 'status', value: status, times: m.times ?? 1, skip: m.skip ?? 0 });
  }

  /** Closes the connection after `bytes` bytes of a body longer than that. Default once. */
  cutAfter(bytes: number, m: FaultMatch = {}): void {
    this.#rules.push({ ...m, kind: 'cut', value: bytes, times: m.times ?? 1, skip: m.skip ?? 0 });
  }

  /** Waits `ms` before each 64 KiB of body. Default for every matching request. */
  slow(ms: number, m: FaultMatch = {}): void {
    this.#rules.push({ ...m, kind: 'slow', value: ms, times: m.times ?? Infinity, skip: m.skip ?? 0 });
  }

  /** Answers 200 with the whole file even when a range was asked for. Default for every matching request. */
  ignoreRanges(m: FaultMatch = {}): void {
    this.#rules.push({ ...m, kind: 'ignore-ranges', value: 0, times: m.times ?? Infinity, skip: m.skip ?? 0 });
  }

  /** Flips the bits of the file's byte at `offset` in every body that holds it (the length stays right). Default for every matching request. */
  corrupt(offset: number, m: FaultMatch = {}): void {
    this.#rules.push({ ...m, kind: 'corrupt', value: offset, times: m.times ?? Infinity, skip: m.skip ?? 0 });
  }

  clear(): void {
    this.#rules = [];
  }

  /** Consumes one use of the first rule of this kind that matches the request (and `applies` to it). */
  take(kind: FaultKind, method: string, path: string, applies: (value: number) => boolean = () => true): number | undefined {
    const matches = (r: FaultRule) =>
      r.kind === kind &&
      r.times > 0 &&
      applies(r.value) &&
      (r.method === undefined || r.method === method) &&
      (r.path === undefined || (typeof r.path === 'string' ? path.includes(r.path) : r.path.test(path)));
    const rule = this.#rules.find((r) => matches(r) && (r.skip === 0 || (r.skip--, false)));
    if (!rule) return undefined;
    rule.times--;
    return rule.value;
  }
}

export interface HubServer {
  /** Base URL to pass as `hubUrl`, e.g. "http://127.0.0.1:41234". */
  url: string;
  faults: HubFaults;
  /** Every request received, in order. */
  requests: RequestRecord[];
  close(): Promise<void>;
}

const EXPOSED = 'Content-Length, Content-Range, Content-Type, ETag, X-Linked-Etag, Accept-Ranges, X-Error-Code, X-Error-Message, Link';
const CHUNK = 64 * 1024;

const statTag = (st: BigIntStats): string => `${st.size.toString(16)}-${st.mtimeNs.toString(16)}`;

/** Files served like the hub's LFS files: their ETag is the SHA-256 of their content. */
const isLfs = (path: string): boolean => path.endsWith('.safetensors');

/** Content hash of each file, by path and size-mtime (computed once per version of the file). */
const contentHashes = new Map<string, Promise<string>>();

/** SHA-256 of the content (LFS files) or git blob id (other files) of a file. */
function contentHashOf(path: string, st: BigIntStats): Promise<string> {
  const key = `${path}\0${statTag(st)}`;
  let hash = contentHashes.get(key);
  if (!hash) {
    hash = (async () => {
      const h = await startContentHash(isLfs(path) ? 'sha256' : 'git-blob', Number(st.size));
      for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) h.update(chunk);
      return h.digestHex();
    })();
    hash.catch(() => contentHashes.delete(key));
    contentHashes.set(key, hash);
  }
  return hash;
}

/** The quoted ETag of a file: its content hash, as the hub's. */
async function etagOf(path: string, st: BigIntStats): Promise<string> {
  return `"${await contentHashOf(path, st)}"`;
}

async function statOrUndefined(path: string): Promise<BigIntStats | undefined> {
  return fsp.stat(path, { bigint: true }).catch(() => undefined);
}

function sendError(res: ServerResponse, status: number, code: string, message: string): void {
  res.writeHead(status, { 'Content-Type': 'application/json', 'X-Error-Code': code, 'X-Error-Message': message });
  res.end(JSON.stringify({ error: message }));
}

/** Parses one `bytes=` range against `size`: [start, end] inclusive, 'unsatisfiable', or undefined (ignore). */
function parseRange(header: string, size: number): [number, number] | 'unsatisfiable' | undefined {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const n = Number(m[2]);
    return n === 0 || size === 0 ? 'unsatisfiable' : [Math.max(0, size - n), size - 1];
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size) return 'unsatisfiable';
  return end < start ? undefined : [start, end];
}

async function repoDir(root: HubServerOptions['root'], owner: string, name: string): Promise<string | undefined> {
  if (typeof root !== 'string') return root[`${owner}/${name}`];
  const candidates = [join(root, owner, name), ...(owner === 'local' ? [join(root, name)] : [])];
  for (const dir of candidates) if ((await statOrUndefined(dir))?.isDirectory()) return dir;
  return undefined;
}

interface BodyFaults {
  cut?: number | undefined;
  slowMs?: number | undefined;
  /** File offset of a byte to flip. */
  corrupt?: number | undefined;
}

async function sendBody(res: ServerResponse, path: string, start: number, end: number, { cut, slowMs, corrupt }: BodyFaults): Promise<void> {
  const stream = createReadStream(path, { start, end, highWaterMark: CHUNK });
  res.on('close', () => stream.destroy());
  let sent = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      if (slowMs) await new Promise((r) => setTimeout(r, slowMs));
      if (res.destroyed) return;
      const at = corrupt === undefined ? -1 : corrupt - start - sent;
      if (at >= 0 && at < chunk.byteLength) chunk[at]! ^= 0xff;
      if (cut !== undefined && sent + chunk.byteLength >= cut) {
        res.write(chunk.subarray(0, cut - sent));
        await new Promise((r) => setTimeout(r, 20)); // let the partial body reach the client
        res.socket?.destroy();
        return;
      }
      sent += chunk.byteLength;
      if (!res.write(chunk)) await new Promise((r) => res.once('drain', r));
    }
    res.end();
  } catch {
    res.destroy();
  }
}

async function serveFile(req: IncomingMessage, res: ServerResponse, file: string, faults: HubFaults, path: string): Promise<void> {
  const st = await statOrUndefined(file);
  if (!st?.isFile()) return sendError(res, 404, 'EntryNotFound', 'Entry not found');
  const size = Number(st.size);
  const etag = await etagOf(file, st);
  const method = req.method ?? 'GET';
  let range = typeof req.headers.range === 'string' ? parseRange(req.headers.range, size) : undefined;
  const ifRange = req.headers['if-range'];
  if ((ifRange !== undefined && ifRange !== etag) || (range && faults.take('ignore-ranges', method, path) !== undefined)) {
    range = undefined;
  }
  const headers: Record<string, string | number> = { 'Accept-Ranges': 'bytes', ETag: etag, 'Content-Type': 'application/octet-stream' };
  if (isLfs(file)) headers['X-Linked-Etag'] = etag;
  if (range === 'unsatisfiable') {
    res.writeHead(416, { ...headers, 'Content-Range': `bytes */${size}` });
    return void res.end();
  }
  const [start, end] = range ?? [0, size - 1];
  if (range) headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
  res.writeHead(range ? 206 : 200, { ...headers, 'Content-Length': end - start + 1 });
  if (method === 'HEAD' || size === 0) return void res.end();
  const cut = faults.take('cut', method, path, (bytes) => bytes < end - start + 1);
  const corrupt = faults.take('corrupt', method, path, (offset) => offset >= start && offset <= end);
  await sendBody(res, file, start, end, { cut, slowMs: faults.take('slow', method, path), corrupt });
}

async function listTree(dir: string, sub: string, recursive: boolean): Promise<object[]> {
  const entries = await fsp.readdir(join(dir, sub), { withFileTypes: true }).catch(() => []);
  const out: object[] = [];
  for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    const path = sub ? `${sub}/${e.name}` : e.name;
    const st = await fsp.stat(join(dir, path), { bigint: true });
    if (e.isDirectory()) {
      out.push({ type: 'directory', oid: statTag(st), size: 0, path });
      if (recursive) out.push(...(await listTree(dir, path, true)));
    } else if (e.isFile()) {
      const size = Number(st.size);
      // The hub's oid is a git blob id; an LFS file's is that of its pointer file (not served here).
      const hash = await contentHashOf(join(dir, path), st);
      const lfs = isLfs(path) ? { lfs: { oid: hash, size, pointerSize: 134 } } : {};
      out.push({ type: 'file', oid: isLfs(path) ? statTag(st) : hash, size, path, ...lfs });
    }
  }
  return out;
}

/** Routes one request (auth and the 'status' fault already handled). */
async function route(req: IncomingMessage, res: ServerResponse, url: URL, opts: HubServerOptions, faults: HubFaults, path: string) {
  const parts = url.pathname.split('/').slice(1).map(decodeURIComponent);
  const api = parts[0] === 'api' && parts[1] === 'models';
  const [owner, name, kind, , ...rest] = api ? parts.slice(2) : parts;
  const isFile = !api && (kind === 'resolve' || kind === 'raw') && rest.length > 0;
  const isTree = api && kind === 'tree';
  if (!owner || !name || !(isFile || isTree)) return sendError(res, 404, 'NotFound', 'Sorry, we can\'t find the page you are looking for.');
  const dir = await repoDir(opts.root, owner, name);
  if (!dir) return sendError(res, 404, 'RepoNotFound', 'Repository not found');
  let file: string;
  try {
    file = rest.length > 0 ? fileNameSegments(rest.join('/')).join('/') : '';
  } catch {
    return sendError(res, 400, 'BadRequest', 'Invalid path');
  }
  if (isFile) return serveFile(req, res, join(dir, file), faults, path);
  const body = JSON.stringify(await listTree(dir, file, url.searchParams.get('recursive') === 'true'));
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.end(body);
}

/** The repo ids a folder root serves: "<owner>/<name>" folders, and "local/<name>" for folders with a config.json. */
export async function listServedRepos(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const top of await fsp.readdir(root, { withFileTypes: true })) {
    if (!top.isDirectory()) continue;
    if (await statOrUndefined(join(root, top.name, 'config.json'))) out.push(`local/${top.name}`);
    for (const sub of await fsp.readdir(join(root, top.name), { withFileTypes: true })) {
      if (sub.isDirectory()) out.push(`${top.name}/${sub.name}`);
    }
  }
  return out.sort();
}

export async function startHubServer(opts: HubServerOptions): Promise<HubServer> {
  const faults = new HubFaults();
  const requests: RequestRecord[] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    let path: string;
    try {
      path = decodeURIComponent(url.pathname);
    } catch {
      return sendError(res, 400, 'BadRequest', 'Malformed URL');
    }
    const method = req.method ?? 'GET';
    const authorized = opts.token === undefined || req.headers.authorization === `Bearer ${opts.token}`;
    const record: RequestRecord = {
      method,
      path,
      range: req.headers.range,
      ifRange: typeof req.headers['if-range'] === 'string' ? req.headers['if-range'] : undefined,
      authorized: opts.token !== undefined && authorized,
      status: 0,
    };
    requests.push(record);
    const writeHead = res.writeHead.bind(res) as (status: number, headers?: object) => ServerResponse;
    res.writeHead = ((status: number, headers?: object) => {
      record.status = status;
      return writeHead(status, headers);
    }) as typeof res.writeHead;
    res.setHeader('Access-Control-Allow-Origin', '*');
    res.setHeader('Access-Control-Expose-Headers', EXPOSED);
    if (method === 'OPTIONS') {
      res.writeHead(204, {
        'Access-Control-Allow-Methods': 'GET, HEAD, OPTIONS',
        'Access-Control-Allow-Headers': 'Range, If-Range, Authorization, Accept, Content-Type',
        'Access-Control-Max-Age': '600',
      });
      return void res.end();
    }
    if (!authorized) return sendError(res, 401, 'Unauthorized', 'Invalid credentials in Authorization header');
    const status = faults.take('status', method, path);
    if (status !== undefined) {
      if (status === 404) return sendError(res, 404, 'EntryNotFound', 'Entry not found');
      return sendError(res, status, 'InjectedFault', `injected fault ${status}`);
    }
    route(req, res, url, opts, faults, path).catch((e: unknown) => {
      if (!res.headersSent) sendError(res, 500, 'InternalError', e instanceof Error ? e.message : String(e));
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', resolve);
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    faults,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
