/**
 * The inference worker: the page's requests (protocol.ts) → the Engine, so that loading and
 * generation never block the page. Each request gets its own AbortController; `cancel` aborts it.
 */
import { Engine } from './engine.js';
import { errorView } from './error-view.js';
import type { Request, RequestEnvelope, RequestType, Results, WorkerEvent } from './protocol.js';

const scope = self as unknown as DedicatedWorkerGlobalScope;
const post = (event: WorkerEvent): void => scope.postMessage(event);

const engine = new Engine({
  pageUrl: scope.location.href,
  systemRamGiB: (scope.navigator as WorkerNavigator & { deviceMemory?: number }).deviceMemory,
  onDeviceLost: (message) => post({ id: 0, type: 'device-lost', error: { name: 'DeviceLostError', message, recovery: 'reload-model' } }),
});

const running = new Map<number, AbortController>();

async function run(id: number, request: Request, signal: AbortSignal): Promise<Results[RequestType]> {
  switch (request.type) {
    case 'probe':
      return engine.probe();
    case 'inspect':
      return engine.inspect(request.source, request.settings, signal);
    case 'load':
      return engine.load(request.source, request.settings, signal, (progress) => post({ id, type: 'progress', progress }));
    case 'chat': {
      const stream = engine.chat(request.messages, request.sampling, signal, (reading, tokens) => post({ id, type: 'memory', reading, tokens }));
      for (;;) {
        const r = await stream.next();
        if (r.done) return r.value;
        post({ id, type: 'text', ...r.value });
      }
    }
    case 'bench':
      return engine.bench(request.settings, signal, (e) => post({ id, type: 'bench-progress', scenario: e.scenario, message: e.message }));
    case 'reset':
      return engine.reset();
    case 'unload':
      engine.unload();
      return null;
    case 'cancel':
      running.get(request.target)?.abort();
      return null;
  }
}

scope.onmessage = async (ev: MessageEvent<RequestEnvelope>) => {
  const { id, request } = ev.data;
  const controller = new AbortController();
  running.set(id, controller);
  try {
    post({ id, type: 'result', result: await run(id, request, controller.signal) });
  } catch (e) {
    post({ id, type: 'error', error: errorView(e) });
  } finally {
    running.delete(id);
  }
};
