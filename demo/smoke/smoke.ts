/**
 * Browser smoke check: acquire navigator.gpu, run the RMSNorm kernel from the runtime's own
 * modules (WGSL loaded the way the browser build loads it) and compare with the CPU reference.
 * The result is published on window.__smoke for the puppeteer test.
 */
import { acquireGpu, describeGpu } from '../../src/gpu/device';
import { createKernelContext, createStorage, readF32, submitDispatches, uploadStorage } from '../../src/gpu/kernel';
import { createRmsNorm } from '../../src/kernels/rmsnorm';
import { rmsNorm } from '../../src/model/ops';
import { Random } from '../../src/model/random';

interface SmokeResult {
  adapter?: string;
  software?: boolean;
  maxError?: number;
  error?: string;
}

async function run(): Promise<SmokeResult> {
  const gpu = await acquireGpu();
  const ctx = createKernelContext(gpu);
  const n = 1000;
  const rows = 4;
  const rnd = new Random(42);
  const x = rnd.normals(n * rows, 2);
  const w = rnd.normals(n, 0.3);
  const kernel = await createRmsNorm(ctx, { n, rows, eps: 1e-6, unitOffset: true });
  const y = createStorage(ctx, x.byteLength, 'y');
  submitDispatches(ctx, kernel.bind({ w: uploadStorage(ctx, w, 'w'), h: uploadStorage(ctx, x, 'x'), y }).dispatches);
  const got = await readF32(ctx, y);
  const want = rmsNorm(x, w, n, 1e-6, true);
  const maxError = got.reduce((m, g, i) => Math.max(m, Math.abs(g - want[i]!)), 0);
  ctx.allocator.dispose();
  gpu.destroy();
  return { adapter: describeGpu(gpu), software: gpu.adapter.isSoftware, maxError };
}

const out = document.getElementById('out')!;
run()
  .catch((e: unknown) => ({ error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) }))
  .then((result) => {
    (window as unknown as { __smoke: SmokeResult }).__smoke = result;
    out.textContent = JSON.stringify(result, null, 2);
  });
