// Entry of a Node quantize worker thread (pack-pool.ts): the thread starts without the caller's
// TypeScript loader, so it registers tsx before importing the worker itself.
import { register } from 'tsx/esm/api';
import { workerData } from 'node:worker_threads';

register();
await import(workerData.entry);
