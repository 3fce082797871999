/**
 * The Node cache: plain files under `QWEN35_CACHE_DIR` (default `~/.cache/qwen35-webgpu`),
 * one folder per model with its manifest; partial files are appended to in place.
 */
import { promises as fsp } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import type { ByteSource } from '../source.js';
import { FsByteSource } from '../sources/fs.js';
import { cacheFileSegments, MANIFEST_FILE, modelSegments, parseManifest, type CacheManifest, type CacheStore, type CacheWriter } from './store.js';

export function defaultCacheDir(): string {
  return process.env.QWEN35_CACHE_DIR || join(homedir(), '.cache', 'qwen35-webgpu');
}

const isMissing = (e: unknown): boolean => (e as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';

export class NodeDiskCacheStore implements CacheStore {
  readonly description: string;
  readonly freeSpaceHint =
    'Free space with `qwen35 cache rm <id>` (ids from `qwen35 cache list`) or `qwen35 cache clear`, ' +
    'or set QWEN35_CACHE_DIR to a disk with more room.';

  constructor(readonly root: string = defaultCacheDir()) {
    this.description = root;
  }

  /** Free bytes of the disk the cache is on (statfs of the root, or of its nearest existing parent). */
  async freeBytes(): Promise<number | undefined> {
    for (let dir = this.root; ; dir = dirname(dir)) {
      const st = await fsp.statfs(dir).catch(() => undefined);
      if (st) return st.bavail * st.bsize;
      if (dirname(dir) === dir) return undefined;
    }
  }

  #modelDir(model: string): string {
    return join(this.root, ...modelSegments(model));
  }

  #path(model: string, file: string): string {
    return join(this.#modelDir(model), ...cacheFileSegments(file));
  }

  async readManifest(model: string): Promise<CacheManifest | undefined> {
    try {
      return parseManifest(await fsp.readFile(join(this.#modelDir(model), MANIFEST_FILE), 'utf8'));
    } catch (e) {
      if (isMissing(e)) return undefined;
      throw e;
    }
  }

  async writeManifest(model: string, manifest: CacheManifest): Promise<void> {
    const dir = this.#modelDir(model);
    await fsp.mkdir(dir, { recursive: true });
    const tmp = join(dir, `${MANIFEST_FILE}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`);
    await fsp.writeFile(tmp, JSON.stringify(manifest, null, 1));
    await fsp.rename(tmp, join(dir, MANIFEST_FILE)); // atomic: a crash never leaves half a manifest
  }

  async storedBytes(model: string, file: string): Promise<number> {
    const st = await fsp.stat(this.#path(model, file)).catch(() => undefined);
    return st?.isFile() ? st.size : 0;
  }

  async openWriter(model: string, file: string, offset: number): Promise<CacheWriter> {
    const path = this.#path(model, file);
    await fsp.mkdir(dirname(path), { recursive: true });
    const handle = await fsp.open(path, offset === 0 ? 'w' : 'r+');
    let position = offset;
    let closed = false;
    try {
      if (offset > 0) await handle.truncate(offset);
    } catch (e) {
      await handle.close();
      throw e;
    }
    return {
      async write(chunk) {
        for (let done = 0; done < chunk.byteLength; ) {
          const { bytesWritten } = await handle.write(chunk, done, chunk.byteLength - done, position);
          done += bytesWritten;
          position += bytesWritten;
        }
      },
      async close() {
        if (closed) return;
        closed = true;
        await handle.close();
      },
    };
  }

  openReader(model: string, file: string): Promise<ByteSource> {
    return FsByteSource.open(file, this.#path(model, file));
  }

  async deleteFile(model: string, file: string): Promise<void> {
    await fsp.rm(this.#path(model, file), { force: true });
  }

  async listModels(): Promise<string[]> {
    const entries = await fsp.readdir(this.root, { recursive: true, withFileTypes: true }).catch((e: unknown) => {
      if (isMissing(e)) return [];
      throw e;
    });
    return entries
      .filter((e) => e.isFile() && e.name === MANIFEST_FILE)
      .map((e) => relative(this.root, e.parentPath).split(sep).join('/'))
      .filter((id) => {
        const depth = id.split('/').length;
        return depth === 2 || depth === 3;
      })
      .sort();
  }

  async deleteModel(model: string): Promise<boolean> {
    const dir = this.#modelDir(model);
    const existed = (await fsp.stat(dir).catch(() => undefined))?.isDirectory() ?? false;
    await fsp.rm(dir, { recursive: true, force: true });
    // Remove parents left empty ("<owner>/<name>" after its last revision), never the root.
    for (let parent = dirname(dir); parent.startsWith(this.root + sep); parent = dirname(parent)) {
      const rest = await fsp.readdir(parent).catch(() => ['?']);
      if (rest.length > 0) break;
      await fsp.rmdir(parent).catch(() => undefined);
    }
    return existed;
  }
}
