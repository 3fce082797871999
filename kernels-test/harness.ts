/**
 * Shared by the kernel tests: a GPU per test file (with and without subgroups), and a
 * comparison that reports the first mismatches (abs + rel tolerance, as in llm.c's dev/cuda).
 */
import { afterAll, expect } from 'vitest';
import { acquireGpu, type OptionalFeature } from '../src/gpu/device.js';
import { createKernelContext, type KernelContext } from '../src/gpu/kernel.js';

export interface GpuVariant {
  name: string;
  disable: OptionalFeature[];
}

/** Every kernel test runs on these: the adapter's subgroup path and the shared-memory fallback. */
export const GPU_VARIANTS: GpuVariant[] = [
  { name: 'subgroups', disable: [] },
  { name: 'fallback', disable: ['subgroups', 'shader-f16'] },
];

const contexts = new Map<string, Promise<KernelContext>>();

/** A kernel context for the variant, created once per test file and destroyed after it. */
export function gpuContext(variant: GpuVariant): Promise<KernelContext> {
  let p = contexts.get(variant.name);
  if (!p) {
    p = acquireGpu({ disable: variant.disable }).then((gpu) => createKernelContext(gpu));
    contexts.set(variant.name, p);
  }
  return p;
}

afterAll(async () => {
  for (const p of contexts.values()) {
    const ctx = await p;
    ctx.allocator.dispose();
    ctx.gpu.destroy();
  }
  contexts.clear();
});

/** True if the variant's path is really exercised on this adapter (no subgroups → skip the duplicate). */
export async function variantAvailable(variant: GpuVariant): Promise<boolean> {
  const ctx = await gpuContext(variant);
  return variant.disable.length > 0 || ctx.gpu.features.subgroups;
}

/**
 * Asserts |got − want| ≤ atol + rtol·|want| for every element, reporting the worst and first
 * mismatches. Returns the maximum absolute error.
 */
export function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, atol: number, rtol = 0, what = 'values'): number {
  expect(got.length, `${what}: length`).toBe(want.length);
  let maxErr = 0;
  const bad: string[] = [];
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!;
    const w = want[i]!;
    const err = Math.abs(g - w);
    if (!(err <= atol + rtol * Math.abs(w))) {
      if (bad.length < 8) bad.push(`[${i}] got ${g} want ${w} (err ${err.toExponential(2)})`);
    }
    if (err > maxErr || Number.isNaN(err)) maxErr = Number.isNaN(err) ? Infinity : err;
  }
  if (bad.length) {
    throw new Error(`${what}: mismatches (atol ${atol}, rtol ${rtol}, max err ${maxErr.toExponential(2)}):\n  ${bad.join('\n  ')}`);
  }
  return maxErr;
}
