/**
 * The page's side of the protocol: `call(request)` posts it to the worker and returns the typed
 * result as a promise, with the request's events (progress, streamed text) handed to a callback
 * and `cancel()` to abort it. A crashed worker fails every pending call with a readable error;
 * `restart()` starts a fresh one.
 */
import type { ErrorView, Request, RequestType, Results, WorkerEvent } from './protocol.js';

export type CallEvent = Extract<WorkerEvent, { type: 'progress' | 'text' | 'memory' | 'bench-progress' }>;

/** A failed request, carrying the worker's error view. */
export class WorkerCallError extends Error {
  constructor(readonly view: ErrorView) {
    super(view.message);
    this.name = view.name;
  }
}

export interface Call<T> {
  readonly id: number;
  readonly result: Promise<T>;
  cancel(): void;
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: WorkerCallError): void;
  onEvent: ((event: CallEvent) => void) | undefined;
}

export class WorkerClient {
  private worker: Worker;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  /** `onDeviceLost`: the worker's model died with its device (unsolicited). */
  constructor(private readonly onDeviceLost: (error: ErrorView) => void) {
    this.worker = this.start();
  }

  private start(): Worker {
    const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module', name: 'qwen35-inference' });
    worker.onmessage = (ev: MessageEvent<WorkerEvent>) => this.receive(ev.data);
    worker.onerror = (ev) => {
      ev.preventDefault();
      this.failAll({ name: 'WorkerError', message: `the inference worker crashed: ${ev.message || 'unknown error'}`, recovery: 'retry' });
    };
    return worker;
  }

  /** Terminates the worker (dropping its model and device) and starts a new one. */
  restart(): void {
    this.worker.terminate();
    this.failAll({ name: 'AbortedError', message: 'the worker was restarted', recovery: 'none' });
    this.worker = this.start();
  }

  call<K extends RequestType>(request: Extract<Request, { type: K }>, onEvent?: (event: CallEvent) => void): Call<Results[K]> {
    const id = this.nextId++;
    const result = new Promise<Results[K]>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, onEvent });
    });
    this.worker.postMessage({ id, request });
    return { id, result, cancel: () => this.worker.postMessage({ id: this.nextId++, request: { type: 'cancel', target: id } }) };
  }

  private receive(event: WorkerEvent): void {
    if (event.type === 'device-lost') return this.onDeviceLost(event.error);
    const p = this.pending.get(event.id);
    if (!p) return;
    if (event.type === 'result') {
      this.pending.delete(event.id);
      p.resolve(event.result);
    } else if (event.type === 'error') {
      this.pending.delete(event.id);
      p.reject(new WorkerCallError(event.error));
    } else {
      p.onEvent?.(event);
    }
  }

  private failAll(view: ErrorView): void {
    for (const p of this.pending.values()) p.reject(new WorkerCallError(view));
    this.pending.clear();
  }
}
