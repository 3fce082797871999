/**
 * Test fixtures for the source and cache tests: checkpoint-like folders of deterministic bytes
 * (no real safetensors needed for transport tests) and a temporary-directory helper.
 */
import { spawn } from 'node:child_process';
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

/** Runs `qwen35 <args>` as a child process (through bin/qwen35.js); resolves with its exit code and output. */
export function runCli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['bin/qwen35.js', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })));
}

/** Starts `qwen35 serve --dir <dir> --port 0` in a child process; `stop()` sends SIGTERM and returns the exit code. */
export async function spawnServe(dir: string): Promise<{ url: string; output: () => string; stop: () => Promise<number | null> }> {
  const child = spawn(process.execPath, ['bin/qwen35.js', 'serve', '--dir', dir, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (\S+)\n[^\n]*\n/.exec(out);
      if (m) resolve(m[1]!);
    });
    void exited.then(() => reject(new Error(`qwen35 serve exited early: ${out}`)));
  });
  return {
    url,
    output: () => out,
    stop: () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}
