/**
 * A checkpoint folder on the local disk (Node). Reads are byte ranges through
 * `fs.promises.open` + `read`; a shard is never read whole.
 */
import { promises as fsp } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import { InvalidArgumentError, ModelFormatError } from '../../errors.js';
import { checkTextFileSize, type ByteSource, type CheckpointSource } from '../source.js';
import { fileNameSegments } from './names.js';
import { throwIfAborted } from './remote.js';

/** Largest single `read` call (Node caps one read at 2 GiB). */
const MAX_READ = 1 << 30;

const isMissing = (e: unknown): boolean => (e as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';

/** One file on disk, read by ranges. */
export class FsByteSource implements ByteSource {
  constructor(
    readonly name: string,
    readonly path: string,
    private readonly bytes: number,
  ) {}

  /** Opens `path` (must be a regular file) and records its size. */
  static async open(name: string, path: string): Promise<FsByteSource> {
    const st = await fsp.stat(path);
    if (!st.isFile()) throw new ModelFormatError(`${path} is not a regular file`);
    return new FsByteSource(name, path, st.size);
  }

  async size(): Promise<number> {
    return this.bytes;
  }

  async read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    if (!(Number.isSafeInteger(offset) && Number.isSafeInteger(length) && offset >= 0 && length >= 0)) {
      throw new ModelFormatError(`${this.path}: invalid read of ${length} bytes at offset ${offset}`);
    }
    if (offset + length > this.bytes) {
      throw new ModelFormatError(
        `${this.path}: read of ${length} bytes at offset ${offset} goes past the end of the file (${this.bytes} bytes); ` +
          'the file is truncated or its header is corrupt',
      );
    }
    throwIfAborted(signal, `reading ${this.path}`);
    const out = new Uint8Array(length);
    const handle = await fsp.open(this.path, 'r');
    try {
      for (let done = 0; done < length; ) {
        const { bytesRead } = await handle.read(out, done, Math.min(length - done, MAX_READ), offset + done);
        if (bytesRead === 0) {
          throw new ModelFormatError(
            `${this.path}: the file ended at byte ${offset + done} while reading up to ${offset + length} ` +
              `(it had ${this.bytes} bytes when opened; it changed or was truncated)`,
          );
        }
        done += bytesRead;
      }
    } finally {
      await handle.close();
    }
    return out;
  }
}

/** Relative names of all regular files under `dir`, sorted. */
export async function listFilesRecursive(dir: string): Promise<string[]> {
  const entries = await fsp.readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)).split(sep).join('/'))
    .sort();
}

export class FsCheckpointSource implements CheckpointSource {
  readonly description: string;
  readonly dir: string;

  constructor(dir: string) {
    this.dir = resolve(dir);
    this.description = this.dir;
  }

  #path(name: string): string {
    return join(this.dir, ...fileNameSegments(name));
  }

  async #missing(name: string): Promise<Error> {
    const st = await fsp.stat(this.dir).catch(() => undefined);
    if (!st?.isDirectory()) return new InvalidArgumentError(`checkpoint folder ${this.dir} does not exist or is not a folder`);
    const present = await listFilesRecursive(this.dir);
    const shown = present.slice(0, 12).join(', ') + (present.length > 12 ? `, … (${present.length} files)` : '');
    return new ModelFormatError(`checkpoint folder ${this.dir} has no file "${name}" (it has: ${shown || 'nothing'})`);
  }

  async has(name: string): Promise<boolean> {
    const st = await fsp.stat(this.#path(name)).catch(() => undefined);
    return st?.isFile() ?? false;
  }

  async open(name: string): Promise<ByteSource> {
    try {
      return await FsByteSource.open(name, this.#path(name));
    } catch (e) {
      throw isMissing(e) ? await this.#missing(name) : e;
    }
  }

  async readText(name: string): Promise<string> {
    try {
      const handle = await fsp.open(this.#path(name), 'r');
      try {
        checkTextFileSize(this.description, name, (await handle.stat()).size);
        return await handle.readFile('utf8');
      } finally {
        await handle.close();
      }
    } catch (e) {
      throw isMissing(e) ? await this.#missing(name) : e;
    }
  }

  /** Every file in the folder (relative names, "/"-separated), sorted. */
  async list(): Promise<string[]> {
    return listFilesRecursive(this.dir);
  }
}
