/**
 * Quantize on load off the caller's thread: a pool of workers (Node worker threads, browser Web
 * Workers) that pack blocks of rows into q8/q4 with packRows (pack-worker.ts). The loader keeps a
 * block in flight per worker while it reads the next one, so reading, packing and uploading
 * overlap and the caller's event loop (a page, a server) stays free. The bytes are packRows'
 * own, the same as the caller's thread or `qwen35 convert` would write.
 */
import { Qwen35Error } from '../errors.js';
import type { WeightFormat } from './formats.js';
import { READY, runsInNode, type PackReply, type PackRequest } from './pack-protocol.js';
import type { PackedMatrix } from './quantize.js';

/** A worker stopped (crashed, ran out of memory) or could not start. */
export class PackWorkerError extends Qwen35Error {}

/** A packed block, with the block of rows handed back for reuse; `failure`: packRows refused a value. */
export interface PackedBlock {
  values: Float32Array;
  packed?: PackedMatrix;
  failure?: string;
}

interface WorkerHandle {
  post(req: PackRequest, transfer: Transferable[]): void;
  terminate(): void;
}
type Spawn = (onMessage: (m: unknown) => void, onFailure: (e: Error) => void) => WorkerHandle;

const START_TIMEOUT_MS = 60_000;

/** One worker per spare core, at most 4 (each keeps a 16 MiB block in flight). */
export async function defaultPackThreads(): Promise<number> {
  const cores = runsInNode ? (await import(/* @vite-ignore */ 'node:os')).availableParallelism() : (globalThis.navigator?.hardwareConcurrency ?? 2);
  return Math.max(1, Math.min(4, cores - 1));
}

async function nodeSpawn(): Promise<Spawn> {
  const { Worker } = await import(/* @vite-ignore */ 'node:worker_threads');
  // The thread starts without the caller's TypeScript loader: the boot file registers tsx first.
  const boot = new URL(/* @vite-ignore */ './pack-worker-boot.js', import.meta.url);
  const entry = new URL(/* @vite-ignore */ './pack-worker.ts', import.meta.url).href;
  return (onMessage, onFailure) => {
    const w = new Worker(boot, { workerData: { entry } });
    w.on('message', onMessage);
    w.on('error', onFailure);
    w.on('exit', (code) => onFailure(new Error(`exited with code ${code}`)));
    return { post: (m, t) => w.postMessage(m, t as never[]), terminate: () => void w.terminate() };
  };
}

function browserSpawn(): Spawn {
  return (onMessage, onFailure) => {
    const w = new Worker(new URL('./pack-worker.ts', import.meta.url), { type: 'module' });
    w.onmessage = (e) => onMessage(e.data);
    w.onerror = (e) => {
      e.preventDefault();
      onFailure(new Error(e.message || 'the worker script failed'));
    };
    return { post: (m, t) => w.postMessage(m, t), terminate: () => w.terminate() };
  };
}

interface Waiting {
  resolve: (b: PackedBlock) => void;
  reject: (e: Error) => void;
}

export class PackPool {
  private nextId = 0;
  private readonly waiting = new Map<number, Waiting>();
  private readonly workers: WorkerHandle[] = [];
  private failure?: PackWorkerError;
  private closed = false;

  private constructor() {}

  /** Starts `threads` workers and waits until each has loaded; a worker that cannot start is a PackWorkerError. */
  static async start(threads: number): Promise<PackPool> {
    const pool = new PackPool();
    try {
      const spawn = runsInNode ? await nodeSpawn() : browserSpawn();
      await Promise.all(Array.from({ length: threads }, () => pool.spawnOne(spawn)));
    } catch (e) {
      pool.close();
      throw e instanceof PackWorkerError ? e : new PackWorkerError(`cannot start a quantize worker: ${(e as Error).message}`, { cause: e });
    }
    return pool;
  }

  get threads(): number {
    return this.workers.length;
  }

  private spawnOne(spawn: Spawn): Promise<void> {
    return new Promise((resolve, reject) => {
      let ready = false;
      const timer = setTimeout(() => reject(new PackWorkerError(`a quantize worker did not start within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
      const handle = spawn(
        (m) => {
          if (m === READY) {
            ready = true;
            clearTimeout(timer);
            resolve();
          } else this.receive(m as PackReply);
        },
        (e) => {
          if (this.closed) return;
          clearTimeout(timer);
          const error = new PackWorkerError(`a quantize worker ${ready ? 'stopped' : 'could not start'}: ${e.message}`, { cause: e });
          if (!ready) reject(error);
          else this.fail(error);
        },
      );
      this.workers.push(handle);
    });
  }

  private receive(reply: PackReply): void {
    const w = this.waiting.get(reply.id);
    if (!w) return;
    this.waiting.delete(reply.id);
    if ('failure' in reply) w.resolve({ values: reply.values, failure: reply.failure });
    else w.resolve({ values: reply.values, packed: reply.scales ? { data: reply.data, scales: reply.scales } : { data: reply.data } });
  }

  /** A worker is gone: every block still out is lost, and so is the pool. */
  private fail(error: PackWorkerError): void {
    this.failure ??= error;
    for (const w of this.waiting.values()) w.reject(error);
    this.waiting.clear();
  }

  /** Packs `rows` rows of `values` (row-major [rows, cols]); `values` is transferred and comes back in the result. */
  pack(values: Float32Array, cols: number, format: WeightFormat, rows: number): Promise<PackedBlock> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new PackWorkerError('the quantize pool is closed'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.workers[id % this.workers.length]!.post({ id, values, cols, format, rows }, [values.buffer]);
    });
  }

  /** Stops the workers; blocks still out are rejected. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.workers.forEach((w) => w.terminate());
    this.fail(new PackWorkerError('the quantize pool was closed'));
  }
}
