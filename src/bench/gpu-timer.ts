/**
 * The timer of the kernel micro-benchmarks (kernels-linear.ts, kernels-mixers.ts): `iterations`
 * repetitions of the dispatches in one compute pass per submission, after one warm-up submission.
 * With timestamp queries (feature 'timestamp-query') the time is the GPU's, between the pass's
 * begin and end; without, it is wall clock to queue.onSubmittedWorkDone(), which adds the submit
 * and completion latency (in Dawn for Node, tens of µs per submission: it swamps small kernels).
 */
import { encodeDispatches, type Dispatch, type KernelContext } from '../gpu/kernel.js';

export interface TimingOptions {
  /** Repetitions per submission (default 20). */
  iterations?: number;
  /** Timed submissions; the median is reported (default 5). */
  trials?: number;
}

/** How a micro-benchmark on this device is timed. */
export const timingMethod = (ctx: KernelContext): 'gpu timestamps' | 'wall clock' => (ctx.gpu.features.timestamps ? 'gpu timestamps' : 'wall clock');

/** Median milliseconds of one run of `dispatches`. */
export async function medianMs(ctx: KernelContext, dispatches: readonly Dispatch[], opts: TimingOptions = {}): Promise<number> {
  const iterations = opts.iterations ?? 20;
  const trials = opts.trials ?? 5;
  const { device } = ctx;
  ctx.uniforms.flush();
  const querySet = ctx.gpu.features.timestamps ? device.createQuerySet({ type: 'timestamp', count: 2 }) : undefined;
  const resolve = querySet && device.createBuffer({ size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  const readback = querySet && device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const submit = async (timed: boolean): Promise<number> => {
    const stamps = timed && querySet ? { querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } : undefined;
    const t0 = performance.now();
    const encoder = device.createCommandEncoder({ label: 'bench' });
    const pass = encoder.beginComputePass({ label: 'bench', ...(stamps ? { timestampWrites: stamps } : {}) });
    for (let i = 0; i < iterations; i++) encodeDispatches(pass, dispatches);
    pass.end();
    if (stamps) {
      encoder.resolveQuerySet(stamps.querySet, 0, 2, resolve!, 0);
      encoder.copyBufferToBuffer(resolve!, 0, readback!, 0, 16);
    }
    device.queue.submit([encoder.finish()]);
    await device.queue.onSubmittedWorkDone();
    const wallMs = performance.now() - t0;
    if (!stamps) return wallMs / iterations;
    await readback!.mapAsync(GPUMapMode.READ);
    const [begin, end] = new BigUint64Array(readback!.getMappedRange().slice(0));
    readback!.unmap();
    return Number(end! - begin!) / 1e6 / iterations;
  };
  try {
    await submit(false); // warm-up (pipelines, caches, clocks)
    const times: number[] = [];
    for (let t = 0; t < trials; t++) times.push(await submit(true));
    times.sort((a, b) => a - b);
    return times[Math.floor(times.length / 2)]!;
  } finally {
    querySet?.destroy();
    resolve?.destroy();
    readback?.destroy();
  }
}
