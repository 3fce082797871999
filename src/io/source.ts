/**
 * Where checkpoint files come from. Every source (local folder, browser File/directory handle,
 * HTTP base URL, Hugging Face hub, cache) exposes the same two interfaces, so the safetensors
 * reader and the weight loader never know where bytes come from.
 */

import { ModelFormatError } from '../errors.js';

/**
 * Largest file read whole as text (config.json, tokenizer.json, chat_template.jinja, the shard
 * index): Qwen's tokenizer.json has ~11 MiB. Sources check it before reading or downloading, so a
 * hostile checkpoint or server announcing a huge "config" cannot make us allocate it.
 */
export const MAX_TEXT_FILE_BYTES = 64 * 2 ** 20;

/** Throws ModelFormatError if a file about to be read whole as text is larger than MAX_TEXT_FILE_BYTES. */
export function checkTextFileSize(where: string, name: string, size: number): void {
  if (size > MAX_TEXT_FILE_BYTES) {
    throw new ModelFormatError(
      `${where}: ${name} has ${size} bytes, more than the ${MAX_TEXT_FILE_BYTES} a config, tokenizer or template file ` +
        'may have; it was not read (is the checkpoint corrupt, or the server answering with something else?)',
    );
  }
}

/** One file, readable by byte ranges (streamed: a range read never loads the whole file). */
export interface ByteSource {
  /** File name inside the checkpoint, e.g. "model-00001-of-00002.safetensors". */
  readonly name: string;
  /** Total size in bytes. */
  size(): Promise<number>;
  /** Reads `length` bytes at `offset`; rejects with a precise error when out of range or cancelled. */
  read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array>;
}

export interface FileProgress {
  file: string;
  bytesDone: number;
  bytesTotal: number;
}

export interface LoadProgress {
  /** Per file, in the order they were first touched. */
  files: FileProgress[];
  bytesDone: number;
  bytesTotal: number;
  /** What is happening: 'download' | 'upload' | 'quantize' ... */
  phase: string;
}

export type ProgressCallback = (p: LoadProgress) => void;

/** A checkpoint folder. */
export interface CheckpointSource {
  /** For messages and logs; never contains credentials. */
  readonly description: string;
  /** True if the folder has this file. */
  has(name: string): Promise<boolean>;
  /** Opens a file for range reads; rejects with a precise error if it does not exist. */
  open(name: string): Promise<ByteSource>;
  /** Reads a whole small file (config.json, tokenizer.json, ...) as text; larger than MAX_TEXT_FILE_BYTES is a ModelFormatError. */
  readText(name: string): Promise<string>;
  /** Every file name in the checkpoint ("/"-separated, sorted), where the source can list cheaply. */
  list?(): Promise<string[]>;
  /**
   * Sources that report download progress (the cache): runs `discover` — the start of a load,
   * reading the small files (config, tokenizer, shard index) — with the reports held, then adds
   * the files `reads` names (those the load reads next: the weights) at their sizes, gathered
   * before a byte of them is read, so that the first report already has the final total.
   * Use `withPlannedReads`, which also serves sources without this method.
   */
  planReads?<T>(discover: () => Promise<T>, reads: (discovered: T) => Promise<readonly string[]>): Promise<T>;
}

/** Runs the start of a load (`discover`) and tells a source that reports progress which files follow (`reads`). */
export function withPlannedReads<T>(
  source: CheckpointSource,
  discover: () => Promise<T>,
  reads: (discovered: T) => Promise<readonly string[]>,
): Promise<T> {
  return source.planReads ? source.planReads(discover, reads) : discover();
}

/** An in-memory file (tests, generated checkpoints, browser File contents already read). */
export class MemoryByteSource implements ByteSource {
  constructor(
    readonly name: string,
    private readonly bytes: Uint8Array,
  ) {}

  async size(): Promise<number> {
    return this.bytes.byteLength;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    if (!(offset >= 0 && length >= 0 && offset + length <= this.bytes.byteLength)) {
      throw new RangeError(`${this.name}: read of ${length} bytes at ${offset} is outside the file (${this.bytes.byteLength} bytes)`);
    }
    return this.bytes.subarray(offset, offset + length);
  }
}
