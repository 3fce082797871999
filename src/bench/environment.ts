/** What a result was measured on: the adapter (name, kind, features, limits) and the JS runtime. */
import { describeGpu, type GpuContext } from '../gpu/device.js';
import { defaultWaitMode } from '../gpu/wait-pacer.js';
import type { Environment } from './schema.js';

/** Limits recorded with every result (those the runtime raises or depends on). */
const RECORDED_LIMITS = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxStorageBuffersPerShaderStage',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupsPerDimension',
] as const;

export const SOFTWARE_WARNING =
  'software adapter (a CPU implementation of WebGPU such as SwiftShader): these are CPU numbers, not GPU speed — use them for ratios only';

function runtimeInfo(gpu: GpuContext): Environment['runtime'] {
  if (gpu.adapter.runtime === 'browser') {
    const ua = (globalThis as { navigator?: { userAgent?: string } }).navigator?.userAgent;
    return { kind: 'browser', version: ua ?? 'unknown browser', gpuWaits: defaultWaitMode('browser') };
  }
  const proc = (globalThis as { process?: { version?: string; platform?: string; arch?: string } }).process;
  return { kind: 'node', version: `Node ${proc?.version ?? '?'} (${proc?.platform ?? '?'}-${proc?.arch ?? '?'})`, gpuWaits: defaultWaitMode('node') };
}

export function describeEnvironment(gpu: GpuContext): Environment {
  const limits: Record<string, number> = {};
  for (const key of RECORDED_LIMITS) limits[key] = gpu.limits[key];
  const software = gpu.adapter.isSoftware;
  return {
    adapter: {
      ...gpu.adapter,
      kind: software ? 'software' : 'hardware',
      features: { ...gpu.features },
      limits,
      description: describeGpu(gpu),
    },
    runtime: runtimeInfo(gpu),
    ...(software ? { warning: SOFTWARE_WARNING } : {}),
  };
}

/** A short label for titles: "NVIDIA H100 [hardware]" or "… [SOFTWARE: CPU, not GPU speed]". */
export function adapterLabel(env: Environment): string {
  const a = env.adapter;
  return `${a.name} ${a.isSoftware ? '[SOFTWARE adapter: CPU, not GPU speed]' : '[hardware]'}`;
}
