/**
 * Test-only helpers of the model tests: a minimal local-folder CheckpointSource (the real one is
 * src/io/sources/fs.ts, owned by the sources work) and the location of the golden files.
 */
import { existsSync } from 'node:fs';
import { open, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ByteSource, CheckpointSource } from '../io/source.js';

export const REPO_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

/** `../shared/golden` relative to the repository root, or undefined when it is absent. */
export function goldenRoot(): string | undefined {
  const dir = resolve(REPO_ROOT, '../shared/golden');
  return existsSync(join(dir, 'manifest.json')) ? dir : undefined;
}

export function localFolder(dir: string): CheckpointSource {
  return {
    description: dir,
    has: async (name) => existsSync(join(dir, name)),
    readText: (name) => readFile(join(dir, name), 'utf8'),
    open: async (name): Promise<ByteSource> => {
      const path = join(dir, name);
      const size = (await stat(path)).size;
      return {
        name,
        size: async () => size,
        read: async (offset, length) => {
          if (offset < 0 || offset + length > size) throw new RangeError(`${path}: read of ${length} bytes at ${offset} is outside the file (${size} bytes)`);
          const fh = await open(path, 'r');
          try {
            const buf = new Uint8Array(length);
            const { bytesRead } = await fh.read(buf, 0, length, offset);
            return buf.subarray(0, bytesRead);
          } finally {
            await fh.close();
          }
        },
      };
    },
  };
}
