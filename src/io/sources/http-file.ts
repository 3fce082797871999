/**
 * One file behind an HTTP URL, read by byte ranges: `Range: bytes=a-b` answered by 206 and a
 * matching `Content-Range`; a server that ignores ranges (200) is read only as far as needed
 * and the rest cancelled. Every response is checked against the size and ETag seen first
 * (and `If-Range` sent), so a file that changes mid-download is reported, not mixed.
 * In browsers If-Range is not sent (it is not CORS-safelisted, and a server whose preflight
 * does not allow it would refuse every read); the ETag check of each response still applies.
 * Network errors, 429 and 5xx are retried with backoff, resuming after the bytes already
 * received. Headers (which may carry a token) live in a private field and never appear in
 * messages.
 */
import { AbortedError, ModelFormatError } from '../../errors.js';
import { redactSecrets } from './redact.js';
import type { ContentHash } from '../content-hash.js';
import {
  backoffMs,
  combineSignals,
  isAbortError,
  RemoteError,
  retrying,
  sleep,
  throwIfAborted,
  type RemoteErrorReason,
  type RetryPolicy,
  type RemoteFile,
} from './remote.js';

/** Network failures, 429 and 5xx are transient; everything else is final. */
export const isRetryable = (e: unknown): boolean =>
  !(e instanceof RemoteError) || (e.reason === 'http' && (e.status === 429 || (e.status ?? 0) >= 500));

export interface HttpFileInit {
  /** File name inside the checkpoint (for messages). */
  name: string;
  /** URL without credentials. */
  url: string;
  /** Sent with every request (Authorization ...). */
  headers: Record<string, string>;
  fetch: typeof fetch;
  /** Retries after the first failure of a request (network error, 429, 5xx). */
  retries: number;
  /** First backoff delay; doubles on each retry. */
  retryDelayMs: number;
  /** Cancels everything this file does. */
  signal: AbortSignal | undefined;
  /** Strings scrubbed from every message (tokens, passwords). */
  secrets: readonly string[];
  /** Size announced by someone else (hub metadata); a different size from the server is an error. */
  expectedSize?: number;
  /** Hash of the content announced by someone else (the hub's ETag). */
  contentHash?: ContentHash | undefined;
}

/** If-Range only where CORS does not apply (Node). */
const SEND_IF_RANGE = typeof process !== 'undefined' && typeof process.versions?.node === 'string';

interface ContentRange {
  start: number;
  end: number;
  total: number | undefined;
}

const CONTENT_RANGE = /^bytes (?:(\d+)-(\d+)|\*)\/(\d+|\*)$/;

function parseContentRange(header: string | null): ContentRange | undefined {
  const m = header ? CONTENT_RANGE.exec(header.trim()) : null;
  if (!m) return undefined;
  const total = m[3] === '*' ? undefined : Number(m[3]);
  return { start: m[1] === undefined ? 0 : Number(m[1]), end: m[2] === undefined ? -1 : Number(m[2]), total };
}


/** The body of a response, `skip` bytes dropped, at most `limit` bytes yielded, the rest cancelled. */
async function* bodyChunks(res: Response, skip: number, limit: number): AsyncGenerator<Uint8Array> {
  if (!res.body) return;
  const reader = res.body.getReader();
  let done = false;
  try {
    while (limit > 0) {
      const r = await reader.read();
      if (r.done) {
        done = true;
        return;
      }
      let chunk = r.value;
      if (skip > 0) {
        const dropped = Math.min(skip, chunk.byteLength);
        skip -= dropped;
        chunk = chunk.subarray(dropped);
      }
      if (chunk.byteLength === 0) continue;
      if (chunk.byteLength > limit) chunk = chunk.subarray(0, limit);
      limit -= chunk.byteLength;
      yield chunk;
    }
  } finally {
    if (!done) await reader.cancel().catch(() => undefined);
  }
}

export class HttpFile implements RemoteFile {
  readonly #init: HttpFileInit;
  #size = 0;
  #etag: string | undefined;

  private constructor(init: HttpFileInit) {
    this.#init = init;
  }

  /** Opens the file: learns its size and ETag (HEAD, or a 0-0 range GET if HEAD says too little). */
  static async open(init: HttpFileInit): Promise<HttpFile> {
    const file = new HttpFile(init);
    await file.#probe();
    return file;
  }

  get name(): string {
    return this.#init.name;
  }

  get url(): string {
    return redactSecrets(this.#init.url, this.#init.secrets);
  }

  get etag(): string | undefined {
    return this.#etag;
  }

  get contentHash(): ContentHash | undefined {
    return this.#init.contentHash;
  }

  async size(): Promise<number> {
    return this.#size;
  }

  async read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    if (!(Number.isSafeInteger(offset) && Number.isSafeInteger(length) && offset >= 0 && length >= 0)) {
      throw new ModelFormatError(`${this.name}: invalid read of ${length} bytes at offset ${offset}`);
    }
    if (offset + length > this.#size) {
      throw new ModelFormatError(
        `${this.name}: read of ${length} bytes at offset ${offset} goes past the end of the file ` +
          `(${this.#size} bytes at ${this.url}); the file is truncated or its header is corrupt`,
      );
    }
    const out = new Uint8Array(length);
    let at = 0;
    for await (const chunk of this.#chunks(offset, offset + length, signal)) {
      out.set(chunk, at);
      at += chunk.byteLength;
    }
    return out;
  }

  stream(from: number, signal?: AbortSignal): AsyncIterable<Uint8Array> {
    if (!(Number.isSafeInteger(from) && from >= 0 && from <= this.#size)) {
      throw new ModelFormatError(`${this.name}: cannot stream from offset ${from} of a ${this.#size}-byte file`);
    }
    return this.#chunks(from, this.#size, signal);
  }

  #what(): string {
    return `reading ${this.name} from ${this.url}`;
  }

  #error(message: string, reason: RemoteErrorReason, status?: number, cause?: unknown): RemoteError {
    const text = redactSecrets(`${this.name}: ${message}`, this.#init.secrets);
    return new RemoteError(text, reason, this.url, status, cause === undefined ? undefined : { cause });
  }

  #changed(detail: string): RemoteError {
    return this.#error(
      `the file changed on the server while it was being read (${detail}); load the model again to read the new version`,
      'changed',
    );
  }

  /** Turns a response that is not 2xx into the matching error (retryable for 429/5xx). */
  async #statusError(res: Response): Promise<RemoteError> {
    const serverSays = res.headers.get('x-error-message') ?? (await res.text().catch(() => '')).slice(0, 200).trim();
    const said = serverSays ? ` ("${serverSays}")` : '';
    const s = `${res.status}${res.statusText ? ` ${res.statusText}` : ''}`;
    if (res.status === 404) {
      return this.#error(`not found: ${this.url} answered ${s}${said}; check the file name, repo and revision`, 'not-found', 404);
    }
    if (res.status === 401 || res.status === 403) {
      return this.#error(
        `access denied: ${this.url} answered ${s}${said}; if the repo is private or gated, pass a valid token ` +
          `(HF_TOKEN / --token) and accept the model's license on the hub`,
        'denied',
        res.status,
      );
    }
    if (res.status === 416) return this.#changed(`a range inside the ${this.#size} bytes seen first was refused with 416`);
    return this.#error(`${this.url} answered ${s}${said}`, 'http', res.status);
  }

  #policy(signal: AbortSignal | undefined): RetryPolicy {
    return {
      retries: this.#init.retries,
      retryDelayMs: this.#init.retryDelayMs,
      signal,
      what: this.#what(),
      isRetryable,
      giveUp: (e, failures) => this.#giveUp(e, failures),
    };
  }

  #giveUp(e: unknown, failures: number): unknown {
    if (!isRetryable(e)) return e;
    const attempts = `${failures + 1} attempt${failures === 0 ? '' : 's'}`;
    if (e instanceof RemoteError) {
      return this.#error(`${this.url} kept failing (last status ${e.status}, ${attempts}); try again later`, 'http', e.status, e);
    }
    const cause = e instanceof Error ? `${e.message}${e.cause instanceof Error ? `: ${e.cause.message}` : ''}` : String(e);
    return this.#error(
      `network failure reading ${this.url} (${cause}); gave up after ${attempts}: check the connection and the URL`,
      'network',
      undefined,
      e,
    );
  }

  #fetch(method: string, headers: Record<string, string>, signal: AbortSignal | undefined): Promise<Response> {
    return this.#init.fetch(this.#init.url, {
      method,
      headers: { ...this.#init.headers, 'Accept-Encoding': 'identity', ...headers },
      redirect: 'follow',
      ...(signal ? { signal } : {}),
    });
  }

  async #probe(): Promise<void> {
    const signal = this.#init.signal;
    const found = await retrying(this.#policy(signal), async () => {
      const head = await this.#fetch('HEAD', {}, signal);
      const length = head.headers.get('content-length');
      const encoded = (head.headers.get('content-encoding') ?? 'identity') !== 'identity';
      if (head.ok && length !== null && !encoded) return { size: Number(length), etag: head.headers.get('etag') };
      if (!head.ok && head.status !== 405 && head.status !== 501) throw await this.#statusError(head);
      const get = await this.#fetch('GET', { Range: 'bytes=0-0' }, signal);
      await get.body?.cancel().catch(() => undefined);
      const total =
        get.status === 206 || get.status === 416
          ? parseContentRange(get.headers.get('content-range'))?.total
          : get.ok
            ? Number(get.headers.get('content-length') ?? NaN)
            : undefined;
      if (!get.ok && get.status !== 416) throw await this.#statusError(get);
      return { size: total ?? NaN, etag: get.headers.get('etag') };
    });
    if (!Number.isSafeInteger(found.size) || found.size < 0) {
      throw this.#error(`${this.url} did not say how large the file is (no Content-Length or Content-Range)`, 'bad-response');
    }
    const expected = this.#init.expectedSize;
    if (expected !== undefined && expected !== found.size) {
      throw this.#changed(`the hub lists ${expected} bytes but the server has ${found.size}`);
    }
    this.#size = found.size;
    this.#etag = found.etag ?? undefined;
  }

  /** Checks a response to a range request for [pos, end); returns how many leading bytes to skip and where it stops. */
  async #accept(res: Response, pos: number): Promise<{ skip: number; stop: number }> {
    const etag = res.headers.get('etag');
    if (res.ok && this.#etag && etag && etag !== this.#etag) this.#throwChanged(`ETag was ${this.#etag}, now ${etag}`);
    if (res.status === 206) {
      const cr = parseContentRange(res.headers.get('content-range'));
      if (!cr || cr.end < cr.start) throw this.#error(`206 response without a valid Content-Range from ${this.url}`, 'bad-response');
      if (cr.total !== undefined && cr.total !== this.#size) this.#throwChanged(`size was ${this.#size}, now ${cr.total}`);
      if (cr.start !== pos) throw this.#error(`asked for bytes from ${pos}, ${this.url} sent from ${cr.start}`, 'bad-response');
      return { skip: 0, stop: cr.end + 1 };
    }
    if (res.status === 200) {
      const length = res.headers.get('content-length');
      if (length !== null && Number(length) !== this.#size) this.#throwChanged(`size was ${this.#size}, now ${length}`);
      return { skip: pos, stop: this.#size };
    }
    throw await this.#statusError(res);
  }

  #throwChanged(detail: string): never {
    throw this.#changed(detail);
  }

  /** Bytes [start, end) in order; a transient failure resumes after the last byte received. */
  async *#chunks(start: number, end: number, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
    const sig = combineSignals(this.#init.signal, signal);
    let pos = start;
    for (let failures = 0; pos < end; ) {
      throwIfAborted(sig, this.#what());
      const from = pos;
      try {
        const headers: Record<string, string> = { Range: `bytes=${from}-${end - 1}` };
        if (SEND_IF_RANGE && this.#etag && !this.#etag.startsWith('W/')) headers['If-Range'] = this.#etag;
        const res = await this.#fetch('GET', headers, sig);
        const { skip, stop } = await this.#accept(res, from).catch(async (e: unknown) => {
          await res.body?.cancel().catch(() => undefined);
          throw e;
        });
        const until = Math.min(stop, end);
        for await (const chunk of bodyChunks(res, skip, until - from)) {
          pos += chunk.byteLength;
          failures = 0;
          yield chunk;
        }
        if (pos < until) throw new Error(`connection closed after ${pos - from} of ${until - from} bytes`);
      } catch (e) {
        if (sig?.aborted || isAbortError(e)) throw new AbortedError(`${this.#what()} was cancelled`, { cause: e });
        if (!isRetryable(e) || failures >= this.#init.retries) throw this.#giveUp(e, failures);
        await sleep(backoffMs(failures++, this.#init.retryDelayMs), sig, this.#what());
      }
    }
  }
}
