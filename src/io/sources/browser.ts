/**
 * Checkpoint folders picked in a browser: a list of `File`s (`<input type=file webkitdirectory>`,
 * drag and drop) or a `FileSystemDirectoryHandle` (showDirectoryPicker). Range reads are
 * `File.slice(a, b).arrayBuffer()`, so the browser never loads a whole shard.
 */
import { InvalidArgumentError, ModelFormatError } from '../../errors.js';
import { checkTextFileSize, type ByteSource, type CheckpointSource } from '../source.js';
import { fileNameSegments } from './names.js';
import { throwIfAborted } from './remote.js';

/** One Blob/File, read by ranges. */
export class BlobByteSource implements ByteSource {
  constructor(
    readonly name: string,
    private readonly blob: Blob,
    private readonly where: string,
  ) {}

  async size(): Promise<number> {
    return this.blob.size;
  }

  async read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    if (!(Number.isSafeInteger(offset) && Number.isSafeInteger(length) && offset >= 0 && length >= 0)) {
      throw new ModelFormatError(`${this.where}/${this.name}: invalid read of ${length} bytes at offset ${offset}`);
    }
    if (offset + length > this.blob.size) {
      throw new ModelFormatError(
        `${this.where}/${this.name}: read of ${length} bytes at offset ${offset} goes past the end of the file ` +
          `(${this.blob.size} bytes); the file is truncated or its header is corrupt`,
      );
    }
    throwIfAborted(signal, `reading ${this.name}`);
    const bytes = new Uint8Array(await this.blob.slice(offset, offset + length).arrayBuffer());
    throwIfAborted(signal, `reading ${this.name}`);
    return bytes;
  }
}

/** The name of a picked file inside its checkpoint: webkitRelativePath without the picked folder. */
function checkpointName(file: File): string {
  const relative = (file as File & { webkitRelativePath?: string }).webkitRelativePath;
  if (!relative) return file.name;
  const slash = relative.indexOf('/');
  return slash < 0 ? relative : relative.slice(slash + 1);
}

function missing(where: string, name: string, present: string[]): ModelFormatError {
  const shown = present.slice(0, 12).join(', ') + (present.length > 12 ? `, … (${present.length} files)` : '');
  return new ModelFormatError(`${where} has no file "${name}" (it has: ${shown || 'nothing'}); pick the checkpoint folder itself`);
}

export class FilesCheckpointSource implements CheckpointSource {
  readonly description: string;
  readonly #files = new Map<string, File>();

  constructor(files: File[] | FileList) {
    const list = Array.from(files);
    if (list.length === 0) throw new InvalidArgumentError('no files were picked: choose a checkpoint folder (config.json, *.safetensors)');
    for (const file of list) {
      const name = checkpointName(file);
      if (this.#files.has(name)) {
        throw new InvalidArgumentError(`two picked files are both named "${name}": pick one checkpoint folder at a time`);
      }
      this.#files.set(name, file);
    }
    const first = (list[0] as File & { webkitRelativePath?: string }).webkitRelativePath?.split('/')[0];
    this.description = `picked files${first ? ` (folder ${first})` : ''}`;
  }

  #get(name: string): File {
    const file = this.#files.get(name);
    if (!file) throw missing(this.description, name, [...this.#files.keys()].sort());
    return file;
  }

  async has(name: string): Promise<boolean> {
    return this.#files.has(name);
  }

  async open(name: string): Promise<ByteSource> {
    return new BlobByteSource(name, this.#get(name), this.description);
  }

  async readText(name: string): Promise<string> {
    const file = this.#get(name);
    checkTextFileSize(this.description, name, file.size);
    return file.text();
  }

  async list(): Promise<string[]> {
    return [...this.#files.keys()].sort();
  }
}

/** The part of `FileSystemDirectoryHandle` used here (tests pass a small fake). */
export interface DirectoryHandleLike {
  readonly name: string;
  getDirectoryHandle(name: string): Promise<DirectoryHandleLike>;
  getFileHandle(name: string): Promise<{ getFile(): Promise<Blob> }>;
}

type EntryHandle = { kind: 'file' | 'directory'; name: string };
type IterableDirectory = DirectoryHandleLike & { values(): AsyncIterable<EntryHandle> };

const isNotFound = (e: unknown): boolean =>
  e instanceof Error && (e.name === 'NotFoundError' || e.name === 'TypeMismatchError');

export class DirectoryHandleCheckpointSource implements CheckpointSource {
  readonly description: string;

  constructor(private readonly handle: DirectoryHandleLike) {
    this.description = `folder "${handle.name}"`;
  }

  async #file(name: string): Promise<Blob> {
    const segments = fileNameSegments(name);
    let dir = this.handle;
    for (const s of segments.slice(0, -1)) dir = await dir.getDirectoryHandle(s);
    return (await dir.getFileHandle(segments[segments.length - 1]!)).getFile();
  }

  async #open(name: string): Promise<Blob> {
    try {
      return await this.#file(name);
    } catch (e) {
      if (!isNotFound(e)) throw e;
      throw missing(this.description, name, await this.list().catch(() => []));
    }
  }

  async has(name: string): Promise<boolean> {
    try {
      await this.#file(name);
      return true;
    } catch (e) {
      if (isNotFound(e)) return false;
      throw e;
    }
  }

  async open(name: string): Promise<ByteSource> {
    return new BlobByteSource(name, await this.#open(name), this.description);
  }

  async readText(name: string): Promise<string> {
    const file = await this.#open(name);
    checkTextFileSize(this.description, name, file.size);
    return file.text();
  }

  /** Every file under the folder; needs the handle's async iteration (all current browsers). */
  async list(): Promise<string[]> {
    const out: string[] = [];
    const walk = async (dir: DirectoryHandleLike, prefix: string): Promise<void> => {
      if (!('values' in dir)) throw new InvalidArgumentError(`${this.description}: this browser cannot list a folder handle`);
      for await (const entry of (dir as IterableDirectory).values()) {
        const name = prefix + entry.name;
        if (entry.kind === 'file') out.push(name);
        else await walk(await dir.getDirectoryHandle(entry.name), `${name}/`);
      }
    };
    await walk(this.handle, '');
    return out.sort();
  }
}
