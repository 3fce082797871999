/**
 * What the cache needs from a remote checkpoint (HTTP base URL or hub repo) beyond plain range
 * reads: a validator (ETag) and a resumable stream. Also the shared failure type and the
 * abort/backoff helpers the HTTP reader uses.
 */
import { AbortedError, DownloadError } from '../../errors.js';
import { checkTextFileSize, type ByteSource, type CheckpointSource } from '../source.js';
import type { ContentHash } from '../content-hash.js';

/** One remote file. */
export interface RemoteFile extends ByteSource {
  /** Where it is read from (credentials redacted). */
  readonly url: string;
  /** The validator of the version being read: the server's ETag, if it sent one. */
  readonly etag: string | undefined;
  /** Hash of the whole content as its origin states it (the hub: in the ETag), if known. */
  readonly contentHash?: ContentHash | undefined;
  /**
   * Bytes [from, size) in order, as they arrive. Resumes by itself after a dropped connection
   * (If-Range on the ETag); throws `RemoteError` with reason 'changed' if the file changed.
   */
  stream(from: number, signal?: AbortSignal): AsyncIterable<Uint8Array>;
}

export interface RemoteCheckpointSource extends CheckpointSource {
  /**
   * Where this checkpoint lives in a cache: "<owner>/<name>/<revision>" for a hub repo,
   * "url-<hash>/latest" for a base URL. Two or three safe path segments.
   */
  readonly cacheId: string;
  openRemote(name: string): Promise<RemoteFile>;
  /** Size of every file, from one listing call, where the server lists (the hub); else a HEAD per file is needed. */
  fileSizes?(): Promise<Map<string, number>>;
}

export type RemoteErrorReason =
  | 'not-found'
  | 'denied'
  | 'changed'
  | 'http'
  | 'network'
  | 'integrity'
  | 'quota'
  | 'bad-response';

/** A `DownloadError` that also says why, where and with which status (for callers and tests). */
export class RemoteError extends DownloadError {
  constructor(
    message: string,
    readonly reason: RemoteErrorReason,
    readonly url?: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'DownloadError';
  }
}

export const isAbortError = (e: unknown): boolean =>
  e instanceof AbortedError || (e instanceof Error && (e.name === 'AbortError' || e.name === 'TimeoutError'));

/** The signals that are set, combined into one (undefined if none). */
export function combineSignals(...signals: (AbortSignal | undefined)[]): AbortSignal | undefined {
  const set = signals.filter((s): s is AbortSignal => s !== undefined);
  if (set.length <= 1) return set[0];
  return AbortSignal.any(set);
}

/** Throws `AbortedError` (with `what` in the message) if the signal is aborted. */
export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new AbortedError(`${what} was cancelled`, { cause: signal.reason });
}

/** Waits `ms`, or rejects with `AbortedError` as soon as the signal aborts. */
export function sleep(ms: number, signal: AbortSignal | undefined, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    throwIfAborted(signal, what);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new AbortedError(`${what} was cancelled`, { cause: signal?.reason }));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export interface RetryPolicy {
  /** Retries after the first failure. */
  retries: number;
  /** First backoff delay; doubles per retry. */
  retryDelayMs: number;
  signal: AbortSignal | undefined;
  /** For the AbortedError message: "reading X from Y". */
  what: string;
  /** Which failures are transient. */
  isRetryable(e: unknown): boolean;
  /** The error to throw after the last failure (`failures` = retries used). */
  giveUp(e: unknown, failures: number): unknown;
}

/** Runs `attempt` until it succeeds, retrying transient failures with backoff; aborts promptly. */
export async function retrying<T>(policy: RetryPolicy, attempt: () => Promise<T>): Promise<T> {
  for (let failures = 0; ; failures++) {
    throwIfAborted(policy.signal, policy.what);
    try {
      return await attempt();
    } catch (e) {
      if (policy.signal?.aborted || isAbortError(e)) throw new AbortedError(`${policy.what} was cancelled`, { cause: e });
      if (!policy.isRetryable(e) || failures >= policy.retries) throw policy.giveUp(e, failures);
      await sleep(backoffMs(failures, policy.retryDelayMs), policy.signal, policy.what);
    }
  }
}

/** Exponential backoff with jitter: base·2^attempt (≤ 10 s), scaled by a factor in [0.5, 1). */
export function backoffMs(attempt: number, baseMs: number): number {
  return Math.min(baseMs * 2 ** attempt, 10_000) * (0.5 + Math.random() / 2);
}

/** A whole (small) file as UTF-8 text: config.json, tokenizer.json (size-checked before it is read). */
export async function readWholeText(file: ByteSource, where: string, signal?: AbortSignal): Promise<string> {
  const size = await file.size();
  checkTextFileSize(where, file.name, size);
  return new TextDecoder().decode(await file.read(0, size, signal));
}

/** FNV-1a 64-bit of a string as 16 hex digits: a stable, synchronous cache key for a URL. */
export function hashString(s: string): string {
  let h = 0xcbf29ce484222325n;
  for (const byte of new TextEncoder().encode(s)) {
    h ^= BigInt(byte);
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return h.toString(16).padStart(16, '0');
}
