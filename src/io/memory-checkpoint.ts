/** A checkpoint folder held in memory (tests, generated checkpoints, files already read in a browser). */
import { ModelFormatError } from '../errors.js';
import { MemoryByteSource, type ByteSource, type CheckpointSource } from './source.js';

export class MemoryCheckpointSource implements CheckpointSource {
  constructor(
    readonly files: Map<string, Uint8Array>,
    readonly description = 'in-memory checkpoint',
  ) {}

  async has(name: string): Promise<boolean> {
    return this.files.has(name);
  }

  async open(name: string): Promise<ByteSource> {
    return new MemoryByteSource(name, this.get(name));
  }

  async readText(name: string): Promise<string> {
    return new TextDecoder().decode(this.get(name));
  }

  private get(name: string): Uint8Array {
    const bytes = this.files.get(name);
    if (!bytes) throw new ModelFormatError(`${this.description}: no file "${name}"`);
    return bytes;
  }
}

/** A `write(file, chunk)` sink (see writeShardedCheckpoint) collecting files in memory. */
export class MemorySink {
  private readonly chunks = new Map<string, Uint8Array[]>();

  async write(file: string, chunk: Uint8Array): Promise<void> {
    let list = this.chunks.get(file);
    if (!list) this.chunks.set(file, (list = []));
    list.push(chunk.slice());
  }

  /** The files written so far, each joined into one array. */
  files(): Map<string, Uint8Array> {
    const out = new Map<string, Uint8Array>();
    for (const [file, list] of this.chunks) {
      const joined = new Uint8Array(list.reduce((a, c) => a + c.length, 0));
      let pos = 0;
      for (const c of list) {
        joined.set(c, pos);
        pos += c.length;
      }
      out.set(file, joined);
    }
    return out;
  }
}
