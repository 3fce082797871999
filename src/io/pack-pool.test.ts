/**
 * PackPool: blocks packed on worker threads are byte-identical to packRows on this thread
 * (tolerance 0: the workers run the same code), several blocks in flight at once; a refused value
 * comes back as a failure with its block; a worker that dies rejects what it held and the pool.
 */
import { describe, expect, it } from 'vitest';
import { PackPool, PackWorkerError } from './pack-pool.js';
import { packRows } from './quantize.js';

const block = (rows: number, cols: number, seed: number): Float32Array =>
  Float32Array.from({ length: rows * cols }, (_, i) => Math.sin(i * 0.37 + seed) * (1 + (i % 7)));

describe('PackPool', () => {
  it('packs q8 and q4 blocks (odd column counts) on 3 workers exactly as packRows does', async () => {
    const pool = await PackPool.start(3);
    try {
      expect(pool.threads).toBe(3);
      const jobs = [[5, 97, 'q4'], [4, 32, 'q8'], [3, 161, 'q4'], [6, 45, 'q8'], [2, 1000, 'q4']] as const;
      const results = await Promise.all(jobs.map(([rows, cols, format], i) => pool.pack(block(rows, cols, i), cols, format, rows)));
      results.forEach((r, i) => {
        const [rows, cols, format] = jobs[i]!;
        const want = packRows(block(rows, cols, i), cols, format, 0, rows);
        expect(r.failure).toBeUndefined();
        expect(Buffer.compare(r.packed!.data, want.data)).toBe(0);
        expect(Buffer.compare(r.packed!.scales!, want.scales!)).toBe(0);
        expect(r.values).toEqual(block(rows, cols, i)); // handed back intact for reuse
      });
    } finally {
      pool.close();
    }
  });

  it('a value q4 cannot encode comes back as a failure with its block', async () => {
    const pool = await PackPool.start(1);
    try {
      const values = block(2, 64, 1);
      values[70] = NaN;
      const r = await pool.pack(values, 64, 'q4', 2);
      expect(r.packed).toBeUndefined();
      expect(r.failure).toMatch(/^quantize: row 1, columns 0\.\.31 give the scale NaN/);
      expect(Number.isNaN(r.values[70]!)).toBe(true);
    } finally {
      pool.close();
    }
  });

  it('a worker that dies: its block and every later one, also after close, are a PackWorkerError', async () => {
    const pool = await PackPool.start(1);
    try {
      // An unknown format makes packRows throw a TypeError inside the worker, which kills it.
      await expect(pool.pack(block(2, 32, 0), 32, 'q5' as never, 2)).rejects.toThrow(PackWorkerError);
      await expect(pool.pack(block(2, 32, 0), 32, 'q4', 2)).rejects.toThrow(/a quantize worker stopped/);
    } finally {
      pool.close();
    }
    await expect(pool.pack(block(2, 32, 0), 32, 'q4', 2)).rejects.toThrow(PackWorkerError);
  });
});
