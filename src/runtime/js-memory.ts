/**
 * Peak JS memory while something runs (Node only; tests and measurements): every `intervalMs`
 * the live JS memory — heapUsed + arrayBuffers, the latter holding received chunks and staged
 * uploads — is sampled after a full GC (`peakLive`: what is really held) and before it
 * (`peakRaw`: including garbage not yet collected). Both are relative to a baseline taken
 * after a GC when sampling starts.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

export interface JsMemoryPeak {
  baseline: number;
  /** Highest live JS memory after a GC, above the baseline. */
  peakLive: number;
  /** Highest JS memory seen without a GC first, above the baseline. */
  peakRaw: number;
  samples: number;
}

export interface JsMemorySampler {
  /** Records one sample without a GC (call it from progress callbacks to catch short bursts). */
  sample(): void;
  /** Stops sampling; resolves once the last post-GC sample is taken. */
  stop(): Promise<JsMemoryPeak>;
}

const used = (): number => {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};
/** Let the GC's finalizers run before reading the counters. */
const settled = () => new Promise((r) => setTimeout(r, 3));

export async function sampleJsMemory(intervalMs = 50): Promise<JsMemorySampler> {
  setFlagsFromString('--expose-gc');
  // Free array buffers during the GC itself: swept concurrently, their memory would still count for a
  // while (on 2 busy cores, for several 16 MiB blocks), and peaks would vary from run to run.
  setFlagsFromString('--no-concurrent-array-buffer-sweeping');
  const gc = runInNewContext('gc') as () => void;
  gc();
  await settled();
  const baseline = used();
  let peakLive = baseline;
  let peakRaw = baseline;
  let samples = 0;
  let pending: Promise<unknown> = Promise.resolve();
  const sample = () => void (peakRaw = Math.max(peakRaw, used()));
  const timer = setInterval(() => {
    sample();
    gc();
    samples++;
    pending = settled().then(() => (peakLive = Math.max(peakLive, used())));
  }, intervalMs);
  return {
    sample,
    async stop() {
      clearInterval(timer);
      await pending;
      return { baseline, peakLive: peakLive - baseline, peakRaw: peakRaw - baseline, samples };
    },
  };
}
