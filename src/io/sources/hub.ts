/**
 * A Hugging Face hub repo as a checkpoint folder. `@huggingface/hub` resolves files
 * (`fileDownloadInfo`: existence with the hub's EntryNotFound semantics, size, URL) and lists
 * them (`listFiles`); the bytes of `{hubUrl}/{repo}/resolve/{revision}/{file}` are then read by
 * `HttpFile`. The library's own lazy blob (`downloadFile` → WebBlob) does issue
 * `Range: bytes=a-b` on `slice()`, but it does not check the 206/Content-Range it gets back,
 * never retries, sends no If-Range and takes no AbortSignal, so it is not used for bytes.
 *
 * The token lives in a private field and goes only into the Authorization header; every
 * message is scrubbed of it.
 */
import { fileDownloadInfo, HubApiError, listFiles } from '@huggingface/hub';
import { InvalidArgumentError } from '../../errors.js';
import type { ByteSource } from '../source.js';
import { HttpFile, isRetryable } from './http-file.js';
import { encodeFileName } from './names.js';
import { redactSecrets, redactUrl } from './redact.js';
import { combineSignals, readWholeText, RemoteError, retrying, type RemoteCheckpointSource, type RemoteFile } from './remote.js';
import { contentHashOfHubEtag } from '../content-hash.js';

export const DEFAULT_HUB_URL = 'https://huggingface.co';

export interface HubSourceOptions {
  /** "owner/name". */
  repo: string;
  /** Branch, tag or commit; default "main". */
  revision?: string;
  /** A Hugging Face access token ("hf_..."), for private or gated repos. */
  token?: string;
  hubUrl?: string;
  fetch?: typeof fetch;
  /** Retries of a failed request (network error, 429, 5xx); default 4. */
  retries?: number;
  retryDelayMs?: number;
  signal?: AbortSignal;
}

const REPO = /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/;

export class HubCheckpointSource implements RemoteCheckpointSource {
  readonly description: string;
  readonly cacheId: string;
  readonly repo: string;
  readonly revision: string;
  readonly hubUrl: string;
  readonly #token: string | undefined;
  readonly #opts: HubSourceOptions;

  constructor(opts: HubSourceOptions) {
    const { repo, revision = 'main', token, hubUrl = DEFAULT_HUB_URL } = opts;
    if (!REPO.test(repo) || repo.includes('..')) {
      throw new InvalidArgumentError(`"${repo}" is not a hub repo id: expected "owner/name" (letters, digits, "-", "_", ".")`);
    }
    if (!revision || revision === '.' || revision === '..' || /[\0-\x1f]/.test(revision)) {
      throw new InvalidArgumentError(`"${revision}" is not a valid revision (branch, tag or commit)`);
    }
    if (token !== undefined && !/^hf_\S+$/.test(token)) {
      throw new InvalidArgumentError(`the Hugging Face token must start with "hf_" and contain no spaces (got ${token.length} characters)`);
    }
    this.repo = repo;
    this.revision = revision;
    this.hubUrl = hubUrl.replace(/\/+$/, '');
    this.#token = token;
    this.#opts = opts;
    this.cacheId = `${repo}/${encodeURIComponent(revision)}`;
    const where = this.hubUrl === DEFAULT_HUB_URL ? '' : ` on ${redactUrl(this.hubUrl)}`;
    this.description = `${repo}@${revision}${where}`;
  }

  get #secrets(): string[] {
    return this.#token ? [this.#token] : [];
  }

  get #fetch(): typeof fetch {
    const base = this.#opts.fetch ?? globalThis.fetch.bind(globalThis);
    const signal = this.#opts.signal;
    return (input, init) => base(input, { ...init, ...(signal ? { signal: combineSignals(signal, init?.signal ?? undefined) } : {}) });
  }

  /** Library calls with retries; HubApiError / network failures become RemoteError without the token. */
  #call<T>(what: string, call: () => Promise<T>): Promise<T> {
    const wrap = (e: unknown): unknown => {
      if (e instanceof RemoteError || !(e instanceof Error)) return e;
      const status = e instanceof HubApiError ? e.statusCode : undefined;
      const url = e instanceof HubApiError ? redactUrl(e.url) : undefined;
      const detail = redactSecrets(`${e.message}${e.cause instanceof Error ? ` (${e.cause.message})` : ''}`, this.#secrets);
      const advice =
        status === 401 || status === 403 || status === 404
          ? `; check the repo id and revision, and for a private or gated repo pass a valid token (HF_TOKEN / --token)`
          : status === undefined
            ? `; check the connection and the hub URL (${redactUrl(this.hubUrl)})`
            : '';
      const reason = status === 404 ? 'not-found' : status === 401 || status === 403 ? 'denied' : status === undefined ? 'network' : 'http';
      return new RemoteError(`${this.description}: ${what} failed: ${detail}${advice}`, reason, url, status);
    };
    return retrying(
      {
        retries: this.#opts.retries ?? 4,
        retryDelayMs: this.#opts.retryDelayMs ?? 250,
        signal: this.#opts.signal,
        what: `${what} (${this.description})`,
        isRetryable: (e) => isRetryable(wrap(e)),
        giveUp: wrap,
      },
      call,
    );
  }

  #resolveUrl(name: string): string {
    return `${this.hubUrl}/${this.repo}/resolve/${encodeURIComponent(this.revision)}/${encodeFileName(name)}`;
  }

  /** Size, URL and ETag (an LFS file's: X-Linked-Etag, the SHA-256 of its content) of a file, null if the repo has no such file. */
  #info(name: string): Promise<{ size: number; url: string; etag?: string } | null> {
    return this.#call(`looking up ${name}`, async () => {
      try {
        return await fileDownloadInfo({
          repo: this.repo,
          path: encodeFileName(name),
          revision: this.revision,
          hubUrl: this.hubUrl,
          fetch: this.#fetch,
          ...(this.#token ? { accessToken: this.#token } : {}),
        });
      } catch (e) {
        // The library probes with `Range: bytes=0-0`, which an empty file cannot satisfy.
        if (e instanceof HubApiError && e.statusCode === 416) return { size: 0, url: this.#resolveUrl(name) };
        throw e;
      }
    });
  }

  async has(name: string): Promise<boolean> {
    return (await this.#info(name)) !== null;
  }

  async openRemote(name: string): Promise<RemoteFile> {
    const info = await this.#info(name);
    const url = this.#resolveUrl(name);
    if (!info) {
      throw new RemoteError(`${name}: not found in ${this.description} (${redactUrl(url)})`, 'not-found', redactUrl(url), 404);
    }
    return HttpFile.open({
      name,
      url: info.url,
      headers: this.#token ? { Authorization: `Bearer ${this.#token}` } : {},
      fetch: this.#opts.fetch ?? globalThis.fetch.bind(globalThis),
      retries: this.#opts.retries ?? 4,
      retryDelayMs: this.#opts.retryDelayMs ?? 250,
      signal: this.#opts.signal,
      secrets: this.#secrets,
      expectedSize: info.size,
      contentHash: contentHashOfHubEtag(info.etag),
    });
  }

  open(name: string): Promise<ByteSource> {
    return this.openRemote(name);
  }

  async readText(name: string): Promise<string> {
    return readWholeText(await this.openRemote(name), this.description, this.#opts.signal);
  }

  /** Every file of the repo at this revision (the hub's tree API). */
  async list(): Promise<string[]> {
    return [...(await this.fileSizes()).keys()].sort();
  }

  /** Size of every file of the repo at this revision: one tree listing (LFS files: the object's size, not the pointer's). */
  fileSizes(): Promise<Map<string, number>> {
    return this.#call('listing files', async () => {
      const sizes = new Map<string, number>();
      const entries = listFiles({
        repo: this.repo,
        revision: this.revision,
        recursive: true,
        hubUrl: this.hubUrl,
        fetch: this.#fetch,
        ...(this.#token ? { accessToken: this.#token } : {}),
      });
      for await (const e of entries) if (e.type === 'file') sizes.set(e.path, e.lfs?.size ?? e.size);
      return sizes;
    });
  }
}
