/**
 * Test fixtures for the source and cache tests: checkpoint-like folders of deterministic bytes
 * (no real safetensors needed for transport tests) and a temporary-directory helper.
 */
import { mkdtempSync, promises as fsp, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/** `size` pseudo-random bytes, the same for the same (seed, size). */
export function deterministicBytes(size: number, seed: number): Uint8Array<ArrayBuffer> {
  const words = new Uint32Array(Math.ceil(size / 4));
  let x = (seed * 2654435761 + 1) >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  return new Uint8Array(words.buffer, 0, size);
}

/** Writes `files` (name → size) under `dir` with deterministic contents; returns name → bytes. */
export async function writeCheckpointFolder(dir: string, files: Record<string, number>, seed = 1): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  let i = 0;
  for (const [name, size] of Object.entries(files)) {
    const bytes = name.endsWith('.json') ? new TextEncoder().encode(JSON.stringify({ name, pad: 'x'.repeat(size) })) : deterministicBytes(size, seed * 1000 + i++);
    await fsp.mkdir(dirname(join(dir, name)), { recursive: true });
    await fsp.writeFile(join(dir, name), bytes);
    out.set(name, bytes);
  }
  return out;
}

/** A fresh temporary directory and a function that removes it. */
export function tempDir(prefix: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `qwen35-${prefix}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Index of the first differing byte, or -1 if equal (much faster than a deep equal on megabytes). */
export function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.byteLength, b.byteLength);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.byteLength === b.byteLength ? -1 : n;
}
