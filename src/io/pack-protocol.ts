/**
 * Messages between a PackPool (pack-pool.ts) and its workers (pack-worker.ts). Every array is
 * transferred, not copied: the block of rows goes to the worker and comes back with the result,
 * so the loader can reuse it for the next block.
 */
import type { WeightFormat } from './formats.js';

export interface PackRequest {
  id: number;
  values: Float32Array;
  cols: number;
  format: WeightFormat;
  rows: number;
}

export type PackReply =
  | { id: number; values: Float32Array; data: Uint8Array; scales?: Uint8Array }
  /** packRows refused a value (NaN, ±Inf, a scale beyond f16); the caller repacks to locate it. */
  | { id: number; values: Float32Array; failure: string };

/** The first message of a worker: its modules are loaded. */
export const READY = 'qwen35-pack-worker-ready';

/** Which worker API applies: Node's worker_threads, else the browser's Worker. */
export const runsInNode = typeof process !== 'undefined' && process.versions?.node !== undefined;
