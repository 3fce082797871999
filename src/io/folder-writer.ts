/**
 * Writes a checkpoint folder atomically (Node): files are appended through a `write(file, chunk)`
 * sink into a temporary sibling folder, which is renamed into place only when everything was
 * written — a crash or a failure never leaves a half checkpoint behind.
 */
import { chmod, mkdir, mkdtemp, open, rename, rm, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fileNameSegments } from './sources/names.js';

export type WriteFile = (file: string, chunk: Uint8Array) => Promise<void>;

/** Sequential appends into a folder, keeping the current file open; every file is new ('wx'). */
function folderSink(dir: string) {
  let current: { name: string; fh: FileHandle } | undefined;
  return {
    async write(file: string, chunk: Uint8Array): Promise<void> {
      if (current?.name !== file) {
        await current?.fh.close();
        current = undefined;
        current = { name: file, fh: await open(join(dir, ...fileNameSegments(file)), 'wx') };
      }
      await current.fh.write(chunk);
    },
    async close(): Promise<void> {
      await current?.fh.close();
      current = undefined;
    },
  };
}

export interface FolderWriteOptions {
  /** Remove an existing `dir` right before the rename (otherwise the rename fails if `dir` is not empty). */
  replace?: boolean;
}

/** Runs `fill` against a temporary folder, then renames it to `dir`. The temporary folder is always removed. */
export async function writeFolderAtomically(dir: string, fill: (write: WriteFile) => Promise<void>, opts: FolderWriteOptions = {}): Promise<void> {
  await mkdir(dirname(dir), { recursive: true });
  const tmp = await mkdtemp(join(dirname(dir), `.${basename(dir)}.tmp-`));
  await chmod(tmp, 0o755); // mkdtemp creates it private; the checkpoint is an ordinary folder
  const sink = folderSink(tmp);
  try {
    await fill((file, chunk) => sink.write(file, chunk));
    await sink.close();
    if (opts.replace) await rm(dir, { recursive: true, force: true });
    await rename(tmp, dir);
  } finally {
    await sink.close().catch(() => undefined);
    await rm(tmp, { recursive: true, force: true });
  }
}
