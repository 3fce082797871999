/**
 * A remote checkpoint read through a local cache. The first `open` of a file streams it into
 * the store (never whole in memory), reporting progress; range reads are then served from the
 * cached copy, also offline. An interrupted download resumes from the bytes kept, with a Range
 * request validated by the ETag (If-Range); if the file changed on the server, the partial is
 * dropped and the download restarts from zero. A finished file must have exactly the size the
 * server announced and, where its origin states a hash of the content (the hub's ETag: an LFS
 * file's SHA-256, a git file's blob id), that hash — computed as the bytes stream into the store
 * (a resumed download first hashes the bytes it kept); otherwise the copy is deleted and the
 * failure reported.
 */
import { formatBytes, ProgressTracker } from '../progress.js';
import { contentHashName, startContentHash, type IncrementalHash } from '../content-hash.js';
import { checkTextFileSize, type ByteSource, type CheckpointSource, type ProgressCallback } from '../source.js';
import { isAbortError, readWholeText, RemoteError, type RemoteCheckpointSource, type RemoteFile } from '../sources/remote.js';
import { cacheFileSegments, isQuotaError, type CacheManifest, type CacheStore, type CachedFileEntry } from './store.js';

export interface CachedSourceOptions {
  onProgress?: ProgressCallback;
  /** Cancels downloads; what was written stays and resumes next time. */
  signal?: AbortSignal;
}

/** Piece size for hashing the kept part of a resumed download. */
const HASH_READ_BYTES = 8 * 1024 * 1024;

export class CachedCheckpointSource implements CheckpointSource {
  readonly description: string;
  readonly list?: () => Promise<string[]>;
  readonly #remote: RemoteCheckpointSource;
  readonly #store: CacheStore;
  readonly #model: string;
  readonly #opts: CachedSourceOptions;
  readonly #tracker: ProgressTracker;
  readonly #opening = new Map<string, Promise<ByteSource>>();
  #manifestQueue: Promise<unknown> = Promise.resolve();

  constructor(remote: RemoteCheckpointSource, store: CacheStore, opts: CachedSourceOptions = {}) {
    this.#remote = remote;
    this.#store = store;
    this.#model = remote.cacheId;
    this.#opts = opts;
    this.#tracker = new ProgressTracker({ phase: 'download', ...(opts.onProgress ? { onProgress: opts.onProgress } : {}) });
    this.description = `${remote.description} (cached in ${store.description})`;
    const list = remote.list?.bind(remote);
    if (list) this.list = list;
  }

  /** The id of this model in the cache (`qwen35 cache rm <id>`). */
  get cacheId(): string {
    return this.#model;
  }

  async has(name: string): Promise<boolean> {
    const entry = (await this.#store.readManifest(this.#model))?.files[name];
    return entry?.complete === true || this.#remote.has(name);
  }

  open(name: string): Promise<ByteSource> {
    return this.#openOnce(name, false);
  }

  /**
   * Holds progress while `discover` reads the first files, then registers the files `reads` names
   * — cached ones as done, the others at their remote size (one listing call where the remote
   * lists, else a HEAD per file) — and reports once: the first report has the final total.
   */
  async planReads<T>(discover: () => Promise<T>, reads: (discovered: T) => Promise<readonly string[]>): Promise<T> {
    this.#tracker.hold();
    try {
      const discovered = await discover();
      await this.#expect(await reads(discovered));
      return discovered;
    } finally {
      this.#tracker.release();
    }
  }

  /** Adds files about to be read to the progress total, in the order given. */
  async #expect(names: readonly string[]): Promise<void> {
    const todo = [...new Set(names)].filter((n) => !this.#tracker.has(n));
    const manifest = await this.#store.readManifest(this.#model);
    const sizes = await this.#remoteSizes(todo.filter((n) => !manifest?.files[n]?.complete));
    for (const name of todo) {
      const entry = manifest?.files[name];
      if (entry?.complete) {
        this.#tracker.addFile(name, entry.size, entry.size);
        continue;
      }
      const size = sizes.get(name);
      if (size === undefined) continue; // not on the server: the loader reports it when it opens the file
      // A partial of the same size is most likely resumed (its ETag is checked when the download starts).
      const kept = entry?.size === size ? await this.#store.storedBytes(this.#model, name) : 0;
      this.#tracker.addFile(name, size, Math.min(kept, size));
    }
  }

  /** Remote sizes of `names` (absent: no such file): from the listing, else (or where it lacks one) a HEAD per file. */
  async #remoteSizes(names: readonly string[]): Promise<Map<string, number>> {
    if (names.length === 0) return new Map();
    const listed = await this.#remote.fileSizes?.().catch((e: unknown) => {
      if (isAbortError(e)) throw e;
      return undefined; // a server without the listing API: HEAD each file instead
    });
    const sizes = new Map<string, number>();
    await Promise.all(
      names.map(async (name) => {
        const size =
          listed?.get(name) ??
          (await this.#remote.openRemote(name).then(
            (f) => f.size(),
            (e: unknown) => {
              if (e instanceof RemoteError && e.reason === 'not-found') return undefined;
              throw e;
            },
          ));
        if (size !== undefined) sizes.set(name, size);
      }),
    );
    return sizes;
  }

  /** The size of a text file is checked before it is downloaded (MAX_TEXT_FILE_BYTES). */
  async readText(name: string): Promise<string> {
    return readWholeText(await this.#openOnce(name, true), this.description, this.#opts.signal);
  }

  #openOnce(name: string, textFile: boolean): Promise<ByteSource> {
    let pending = this.#opening.get(name);
    if (!pending) {
      pending = this.#open(name, textFile).finally(() => this.#opening.delete(name));
      this.#opening.set(name, pending);
    }
    return pending;
  }

  async #open(name: string, textFile: boolean): Promise<ByteSource> {
    cacheFileSegments(name);
    const entry = (await this.#store.readManifest(this.#model))?.files[name];
    if (entry?.complete) {
      const cached = await this.#store.openReader(this.#model, name).catch(() => undefined);
      if (cached && (await cached.size()) === entry.size) {
        this.#tracker.addFile(name, entry.size, entry.size);
        return cached;
      }
    }
    return this.#download(name, entry, true, textFile);
  }

  /** Read-modify-write of the manifest, one at a time. */
  #setEntry(name: string, entry: CachedFileEntry | undefined): Promise<void> {
    const run = this.#manifestQueue.then(async () => {
      const m: CacheManifest = (await this.#store.readManifest(this.#model)) ?? { version: 1, source: '', files: {} };
      m.source = this.#remote.description;
      if (entry) m.files[name] = entry;
      else delete m.files[name];
      await this.#store.writeManifest(this.#model, m);
    });
    this.#manifestQueue = run.catch(() => undefined);
    return run;
  }

  async #download(name: string, previous: CachedFileEntry | undefined, mayRestart: boolean, textFile: boolean): Promise<ByteSource> {
    const remote = await this.#remote.openRemote(name);
    const size = await remote.size();
    if (textFile) checkTextFileSize(this.description, name, size);
    const etag = remote.etag;
    const resumable = previous && !previous.complete && etag !== undefined && previous.etag === etag && previous.size === size;
    const from = resumable ? Math.min(await this.#store.storedBytes(this.#model, name), size) : 0;
    await this.#checkRoom(remote, size - from);
    await this.#setEntry(name, { size, ...(etag ? { etag } : {}), complete: false });
    this.#tracker.addFile(name, size, from);
    let digest: string | undefined;
    try {
      digest = await this.#transfer(remote, size, from);
    } catch (e) {
      if (mayRestart && e instanceof RemoteError && e.reason === 'changed') {
        await this.#store.deleteFile(this.#model, name);
        this.#tracker.update(name, 0);
        return this.#download(name, undefined, false, textFile);
      }
      throw await this.#failure(e, name, size);
    }
    const stored = await this.#store.storedBytes(this.#model, name);
    if (stored !== size) {
      await this.#discard(remote, `the cached copy has ${stored} bytes but ${remote.url} announced ${size}; the copy was deleted, load the model again`);
    }
    const announced = remote.contentHash;
    if (announced && digest !== announced.hex) {
      await this.#discard(
        remote,
        `the downloaded bytes have ${contentHashName(announced.kind)} ${digest}, but ${remote.url} announced ${announced.hex} (its ETag); ` +
          'the corrupted copy was deleted, load the model again',
      );
    }
    await this.#setEntry(name, { size, ...(etag ? { etag } : {}), complete: true });
    this.#tracker.update(name, size);
    this.#tracker.flush();
    return this.#store.openReader(this.#model, name);
  }

  /** Deletes a finished copy that failed its check, and reports it. */
  async #discard(remote: RemoteFile, problem: string): Promise<never> {
    await this.#store.deleteFile(this.#model, remote.name);
    await this.#setEntry(remote.name, undefined);
    throw new RemoteError(`${remote.name}: ${problem}`, 'integrity', remote.url);
  }

  /**
   * Streams the rest of the file into the store; the writer is closed (partial kept) whatever
   * happens. Returns the digest of the whole file where the remote states a hash to check against.
   */
  async #transfer(remote: RemoteFile, size: number, from: number): Promise<string | undefined> {
    const hash = remote.contentHash ? await this.#hashKept(remote.name, await startContentHash(remote.contentHash.kind, size), from) : undefined;
    const writer = await this.#store.openWriter(this.#model, remote.name, from);
    let done = from;
    let failed = false;
    try {
      for await (const chunk of remote.stream(from, this.#opts.signal)) {
        await writer.write(chunk);
        hash?.update(chunk);
        done += chunk.byteLength;
        this.#tracker.update(remote.name, done);
      }
    } catch (e) {
      failed = true;
      throw e;
    } finally {
      this.#tracker.flush();
      await writer.close().catch((e: unknown) => {
        if (!failed) throw e;
      });
    }
    return hash?.digestHex();
  }

  /** `hash` fed with the first `bytes` bytes of the file kept in the store (a resumed download), read back in pieces. */
  async #hashKept(name: string, hash: IncrementalHash, bytes: number): Promise<IncrementalHash> {
    if (bytes === 0) return hash;
    const kept = await this.#store.openReader(this.#model, name);
    for (let at = 0; at < bytes; at += HASH_READ_BYTES) hash.update(await kept.read(at, Math.min(HASH_READ_BYTES, bytes - at), this.#opts.signal));
    return hash;
  }

  /** Refuses a download the store has no room for (a server may announce any size), before a byte is written. */
  async #checkRoom(remote: RemoteFile, bytes: number): Promise<void> {
    const free = await this.#store.freeBytes?.().catch(() => undefined);
    if (free === undefined || bytes <= free) return;
    throw new RemoteError(
      `${remote.name}: ${remote.url} announces ${formatBytes(bytes)} to download, but the cache (${this.#store.description}) ` +
        `has only ${formatBytes(free)} free; nothing was downloaded. ${this.#store.freeSpaceHint}`,
      'quota',
      remote.url,
    );
  }

  /** Quota errors get the numbers and how to free space; everything else passes through. */
  async #failure(e: unknown, name: string, size: number): Promise<unknown> {
    if (!isQuotaError(e)) return e;
    const kept = await this.#store.storedBytes(this.#model, name).catch(() => 0);
    return new RemoteError(
      `${name}: out of storage space in the cache (${this.#store.description}) after ${formatBytes(kept)} of ` +
        `${formatBytes(size)}; ${formatBytes(size - kept)} more are needed for this file. ` +
        `The partial download is kept and resumes later. ${this.#store.freeSpaceHint}`,
      'quota',
      undefined,
      undefined,
      { cause: e },
    );
  }
}
