/**
 * One entry point for every kind of checkpoint location:
 *   local folder (Node)                 → FsCheckpointSource
 *   http(s)://base/url                  → HttpCheckpointSource (cached by default)
 *   owner/name or owner/name@revision   → HubCheckpointSource (cached by default)
 *   File[] / FileList                   → FilesCheckpointSource
 *   FileSystemDirectoryHandle           → DirectoryHandleCheckpointSource
 * In a browser a string starting with "/" or "./" is a URL relative to the page.
 * Node-only modules are imported lazily so that browser bundles do not pull them in.
 */
import { InvalidArgumentError } from '../../errors.js';
import type { CacheStore } from '../cache/store.js';
import type { CheckpointSource, ProgressCallback } from '../source.js';
import { DirectoryHandleCheckpointSource, FilesCheckpointSource, type DirectoryHandleLike } from './browser.js';
import { HttpCheckpointSource } from './http.js';
import { DEFAULT_HUB_URL, HubCheckpointSource } from './hub.js';
import { redactUrl } from './redact.js';
import type { RemoteCheckpointSource } from './remote.js';

export interface OpenSourceOptions {
  /** Hub revision (branch, tag, commit); also writable as "owner/name@revision". */
  revision?: string;
  /** Hugging Face token for private or gated repos; sent only in the Authorization header. */
  token?: string;
  /** Hub base URL; default $HF_ENDPOINT in Node (as in huggingface_hub), else https://huggingface.co. */
  hubUrl?: string;
  /** Keep remote files in a local cache (default true), or the store to use. Ignored for local files. */
  cache?: boolean | CacheStore;
  /** Download progress (phase 'download') of cached remote files. */
  onProgress?: ProgressCallback;
  signal?: AbortSignal;
  /** Retries of failed requests (default 4). */
  retries?: number;
  fetch?: typeof fetch;
}

export type SourceSpec = string | File[] | FileList | FileSystemDirectoryHandle | DirectoryHandleLike;

const HUB_ID = /^([A-Za-z0-9][\w.-]*\/[\w.-]+)(?:@(.+))?$/;
const isNode = (): boolean => typeof process !== 'undefined' && typeof process.versions?.node === 'string';

const FORMS =
  'expected a local folder, an http(s):// URL, a hub repo id "owner/name" (optionally "owner/name@revision"), ' +
  'picked files or a directory handle';

async function localFolder(path: string): Promise<CheckpointSource | undefined> {
  if (!isNode()) return undefined;
  const [{ FsCheckpointSource }, { promises: fsp }] = await Promise.all([import('./fs.js'), import('node:fs')]);
  const st = await fsp.stat(path).catch(() => undefined);
  if (!st) return undefined;
  if (!st.isDirectory()) throw new InvalidArgumentError(`"${path}" is a file; pass the checkpoint folder that contains it`);
  return new FsCheckpointSource(path);
}

async function withCache(remote: RemoteCheckpointSource, opts: OpenSourceOptions): Promise<CheckpointSource> {
  const cache = opts.cache ?? true;
  if (cache === false) return remote;
  const { CachedCheckpointSource, defaultCacheStore } = await import('../cache/index.js');
  const store = cache === true ? await defaultCacheStore() : cache;
  return new CachedCheckpointSource(remote, store, {
    ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
}

function transport(opts: OpenSourceOptions) {
  return {
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(opts.retries !== undefined ? { retries: opts.retries } : {}),
    ...(opts.fetch ? { fetch: opts.fetch } : {}),
  };
}

function hubSource(id: string, revisionInSpec: string | undefined, opts: OpenSourceOptions): HubCheckpointSource {
  if (revisionInSpec !== undefined && opts.revision !== undefined && revisionInSpec !== opts.revision) {
    throw new InvalidArgumentError(`"${id}@${revisionInSpec}" and revision "${opts.revision}" disagree; give the revision once`);
  }
  return new HubCheckpointSource({
    repo: id,
    revision: revisionInSpec ?? opts.revision ?? 'main',
    hubUrl: opts.hubUrl ?? (isNode() ? process.env.HF_ENDPOINT : undefined) ?? DEFAULT_HUB_URL,
    ...(opts.token ? { token: opts.token } : {}),
    ...transport(opts),
  });
}

/** Opens a checkpoint from wherever it is; remote ones go through the cache unless `cache: false`. */
export async function openSource(spec: SourceSpec, opts: OpenSourceOptions = {}): Promise<CheckpointSource> {
  if (Array.isArray(spec) || (typeof FileList !== 'undefined' && spec instanceof FileList)) {
    return new FilesCheckpointSource(spec as File[] | FileList);
  }
  if (typeof spec === 'object' && spec !== null && 'getFileHandle' in spec) {
    return new DirectoryHandleCheckpointSource(spec as DirectoryHandleLike);
  }
  if (typeof spec !== 'string' || spec.trim() === '') throw new InvalidArgumentError(`no checkpoint given: ${FORMS}`);
  const text = spec.trim();
  if (/^https?:\/\//i.test(text)) return withCache(new HttpCheckpointSource(text, transport(opts)), opts);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    throw new InvalidArgumentError(`"${redactUrl(text)}": unsupported URL scheme; ${FORMS}`);
  }
  const local = await localFolder(text);
  if (local) return local;
  const hub = HUB_ID.exec(text);
  if (hub) return withCache(hubSource(hub[1]!, hub[2], opts), opts);
  if (!isNode() && /^\.{0,2}\//.test(text) && typeof location !== 'undefined') {
    return withCache(new HttpCheckpointSource(new URL(text, location.href).href, transport(opts)), opts);
  }
  if (isNode() && /^(\.{0,2}[/\\]|~|[A-Za-z]:[/\\])|[/\\]/.test(text)) {
    throw new InvalidArgumentError(`checkpoint folder "${text}" does not exist (and it is not a hub id "owner/name")`);
  }
  throw new InvalidArgumentError(`cannot open "${text}": ${FORMS}`);
}
