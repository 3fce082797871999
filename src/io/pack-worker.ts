/**
 * A quantize-on-load worker (Node worker thread or browser Web Worker): packs blocks of rows with
 * packRows, the same code the caller's thread runs, so the bytes are identical wherever they are
 * packed. Started by pack-pool.ts; messages in pack-protocol.ts.
 */
import { InvalidArgumentError } from '../errors.js';
import { READY, runsInNode, type PackReply, type PackRequest } from './pack-protocol.js';
import { packRows } from './quantize.js';

interface Port {
  postMessage(message: unknown, transfer: Transferable[]): void;
}

function handle(port: Port, req: PackRequest): void {
  const { id, values, cols, format, rows } = req;
  let reply: PackReply;
  try {
    const packed = packRows(values, cols, format, 0, rows);
    reply = { id, values, data: packed.data, ...(packed.scales ? { scales: packed.scales } : {}) };
  } catch (e) {
    if (!(e instanceof InvalidArgumentError)) throw e;
    reply = { id, values, failure: e.message };
  }
  const transfer: Transferable[] = [values.buffer];
  if ('data' in reply) transfer.push(reply.data.buffer, ...(reply.scales ? [reply.scales.buffer] : []));
  port.postMessage(reply, transfer);
}

if (runsInNode) {
  const { parentPort } = await import(/* @vite-ignore */ 'node:worker_threads');
  const port = parentPort!;
  port.on('message', (req: PackRequest) => handle(port as unknown as Port, req));
  port.postMessage(READY);
} else {
  const scope = self as unknown as DedicatedWorkerGlobalScope;
  scope.onmessage = (e: MessageEvent<PackRequest>) => handle(scope, e.data);
  scope.postMessage(READY);
}
