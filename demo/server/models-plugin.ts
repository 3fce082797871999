/**
 * Vite plugin (dev and preview servers): serves the checkpoints under models/ at /models/ so the
 * demo page can load them like any HTTP checkpoint —
 *   GET /models/index.json              → ["tiny-dense", ...] (folders that hold a config.json)
 *   GET/HEAD /models/<folder>/<file>    → the file, with Content-Length, ETag, Accept-Ranges and
 *                                         206 + Content-Range for one `Range: bytes=` range
 * The default tiny model is generated (ensureDefaultModel) before the server starts answering,
 * so `npm run demo` works from a fresh clone without network.
 */
import { createReadStream, promises as fsp } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import type { Plugin } from 'vite';
import { ensureDefaultModel, MODELS_DIR } from '../../src/model/tiny.js';
import { parseByteRange } from './byte-range.js';

/** Folders of `root` that hold a config.json, sorted, the default tiny model first (hidden ones — writes in progress — left out). */
export async function listModelFolders(root: string): Promise<string[]> {
  const entries = await fsp.readdir(root, { withFileTypes: true }).catch(() => []);
  const out: string[] = [];
  for (const e of entries) {
    if (e.isDirectory() && !e.name.startsWith('.') && (await fsp.stat(join(root, e.name, 'config.json')).catch(() => undefined))) out.push(e.name);
  }
  return out.sort((a, b) => (a === 'tiny-dense' ? -1 : b === 'tiny-dense' ? 1 : a.localeCompare(b)));
}

function sendStatus(res: ServerResponse, status: number, message: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Error-Message': message });
  res.end(message);
}

/** A request for `<folder>/<file>` → the absolute path, or undefined if the name is not a plain relative path. */
function resolveFile(root: string, urlPath: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath.replace(/^\/+/, ''));
  } catch {
    return undefined;
  }
  const segments = decoded.split('/');
  const safe = segments.length >= 2 && segments.every((s) => s !== '' && s !== '.' && s !== '..' && !/[\\\0]/.test(s));
  return safe ? join(root, ...segments) : undefined;
}

/** Answers one request below the mount point (`url` is relative to /models). */
export async function serveModels(root: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const method = req.method ?? 'GET';
  if (method !== 'GET' && method !== 'HEAD') return sendStatus(res, 405, `${method} is not supported here`);
  const urlPath = new URL(req.url ?? '/', 'http://localhost').pathname;
  if (urlPath === '/index.json' || urlPath === '/') {
    const body = JSON.stringify(await listModelFolders(root));
    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
    return void res.end(method === 'HEAD' ? undefined : body);
  }
  const file = resolveFile(root, urlPath);
  const st = file ? await fsp.stat(file).catch(() => undefined) : undefined;
  if (!file || !st?.isFile()) return sendStatus(res, 404, `no file ${urlPath} in models/`);
  const headers: Record<string, string | number> = {
    'Accept-Ranges': 'bytes',
    ETag: `"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`,
    'Content-Type': file.endsWith('.json') ? 'application/json' : 'application/octet-stream',
    'Cache-Control': 'no-cache',
  };
  const range = req.headers.range ? parseByteRange(req.headers.range, st.size) : undefined;
  if (range === 'unsatisfiable') {
    res.writeHead(416, { ...headers, 'Content-Range': `bytes */${st.size}` });
    return void res.end();
  }
  const [start, end] = range ?? [0, st.size - 1];
  const length = Math.max(0, end - start + 1);
  if (range) headers['Content-Range'] = `bytes ${start}-${end}/${st.size}`;
  res.writeHead(range ? 206 : 200, { ...headers, 'Content-Length': length });
  if (method === 'HEAD' || length === 0) return void res.end();
  const stream = createReadStream(file, { start, end });
  res.on('close', () => stream.destroy());
  stream.on('error', () => res.destroy());
  stream.pipe(res);
}

export function modelsPlugin(root: string = MODELS_DIR): Plugin {
  const mount = (server: { middlewares: { use(path: string, fn: (req: IncomingMessage, res: ServerResponse, next: (e?: unknown) => void) => void): unknown } }) =>
    server.middlewares.use('/models', (req, res, next) => {
      serveModels(root, req, res).catch(next);
    });
  return {
    name: 'qwen35-models',
    async configureServer(server) {
      await ensureDefaultModel();
      mount(server);
    },
    async configurePreviewServer(server) {
      await ensureDefaultModel();
      mount(server);
    },
  };
}
