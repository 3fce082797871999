/**
 * A checkpoint folder behind any HTTP(S) base URL: file `name` is `${baseUrl}/${name}`. Byte
 * transfer, retries and change detection are `HttpFile`'s; this class maps names to URLs and
 * keeps credentials (extra headers, user:password in the URL) out of everything printable.
 */
import { InvalidArgumentError } from '../../errors.js';
import type { ByteSource } from '../source.js';
import { HttpFile } from './http-file.js';
import { encodeFileName } from './names.js';
import { redactUrl, splitUrlCredentials } from './redact.js';
import { hashString, readWholeText, RemoteError, type RemoteCheckpointSource, type RemoteFile } from './remote.js';

export interface HttpSourceOptions {
  /** Extra request headers (e.g. Authorization); never printed. */
  headers?: Record<string, string>;
  /** fetch implementation (defaults to the global one). */
  fetch?: typeof fetch;
  /** Retries of a failed request (network error, 429, 5xx); default 4. */
  retries?: number;
  /** First backoff delay in ms, doubling per retry; default 250. */
  retryDelayMs?: number;
  /** Cancels every request of this source. */
  signal?: AbortSignal;
  /** Extra strings to scrub from messages (tokens carried in `headers`). */
  secrets?: string[];
}

export class HttpCheckpointSource implements RemoteCheckpointSource {
  readonly description: string;
  readonly cacheId: string;
  readonly #base: string;
  readonly #headers: Record<string, string>;
  readonly #opts: HttpSourceOptions;
  readonly #secrets: string[];

  constructor(baseUrl: string, opts: HttpSourceOptions = {}) {
    let split: ReturnType<typeof splitUrlCredentials>;
    try {
      split = splitUrlCredentials(baseUrl);
    } catch {
      throw new InvalidArgumentError(`"${redactUrl(baseUrl)}" is not a valid URL (expected http(s)://host/path)`);
    }
    const protocol = new URL(split.url).protocol;
    if (protocol !== 'http:' && protocol !== 'https:') {
      throw new InvalidArgumentError(`"${redactUrl(baseUrl)}": only http: and https: URLs can be read (got ${protocol})`);
    }
    this.#base = split.url.replace(/\/+$/, '');
    this.#headers = { ...(split.authorization ? { Authorization: split.authorization } : {}), ...opts.headers };
    this.#opts = opts;
    this.#secrets = [...split.secrets, ...(opts.secrets ?? [])];
    this.description = redactUrl(this.#base);
    this.cacheId = `url-${hashString(this.#base)}/latest`;
  }

  openRemote(name: string): Promise<RemoteFile> {
    return HttpFile.open({
      name,
      url: `${this.#base}/${encodeFileName(name)}`,
      headers: this.#headers,
      fetch: this.#opts.fetch ?? globalThis.fetch.bind(globalThis),
      retries: this.#opts.retries ?? 4,
      retryDelayMs: this.#opts.retryDelayMs ?? 250,
      signal: this.#opts.signal,
      secrets: this.#secrets,
    });
  }

  open(name: string): Promise<ByteSource> {
    return this.openRemote(name);
  }

  async has(name: string): Promise<boolean> {
    try {
      await this.openRemote(name);
      return true;
    } catch (e) {
      if (e instanceof RemoteError && e.reason === 'not-found') return false;
      throw e;
    }
  }

  async readText(name: string): Promise<string> {
    return readWholeText(await this.openRemote(name), this.description, this.#opts.signal);
  }
}
