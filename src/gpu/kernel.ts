/**
 * What kernel builders share: the context they build in, the dispatch they return, and the
 * helpers that encode, submit and read back (used by the runtime and the tests).
 * A builder checks shapes, takes its pipeline from the cache and returns dispatches; it never submits.
 */
import { GpuAllocator, type MemoryCategory } from './allocator.js';
import type { GpuContext } from './device.js';
import { PipelineCache } from './pipelines.js';
import { UniformArena } from './uniforms.js';

export interface KernelContext {
  gpu: GpuContext;
  device: GPUDevice;
  allocator: GpuAllocator;
  pipelines: PipelineCache;
  uniforms: UniformArena;
}

/** `uniformBytes`: a fixed uniform arena of that size (sessions); otherwise it grows by pages (tests). */
export function createKernelContext(gpu: GpuContext, options: { allocator?: GpuAllocator; uniformBytes?: number } = {}): KernelContext {
  const allocator = options.allocator ?? new GpuAllocator(gpu.device);
  return {
    gpu,
    device: gpu.device,
    allocator,
    pipelines: new PipelineCache(gpu),
    uniforms: new UniformArena(gpu.device, allocator, options.uniformBytes),
  };
}

/** One compute dispatch, ready to encode. Workgroup counts may be changed between encodes. */
export interface Dispatch {
  label: string;
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  workgroups: [number, number, number];
}

/** A storage buffer or a byte range of one. */
export type BufferArg = GPUBuffer | GPUBufferBinding;

/** Creates a bind group for group 0 with the given resources at bindings 0, 1, 2, ... */
export function bindBuffers(ctx: KernelContext, pipeline: GPUComputePipeline, label: string, resources: BufferArg[]): GPUBindGroup {
  return ctx.device.createBindGroup({
    label,
    layout: pipeline.getBindGroupLayout(0),
    entries: resources.map((r, binding) => ({ binding, resource: 'buffer' in r ? r : { buffer: r } })),
  });
}

/** Splits a large workgroup count over x and y so that neither exceeds the device limit. */
export function gridFor(workgroups: number, limit: number): [number, number, number] {
  if (workgroups <= limit) return [workgroups, 1, 1];
  const y = Math.ceil(workgroups / limit);
  return [Math.ceil(workgroups / y), y, 1];
}

/** False for a dispatch sized to nothing for this call (skipped when encoding). */
export const dispatchRuns = (d: Dispatch): boolean => d.workgroups[0] * d.workgroups[1] * d.workgroups[2] > 0;

export function encodeDispatches(pass: GPUComputePassEncoder, dispatches: readonly Dispatch[]): void {
  for (const d of dispatches) {
    if (!dispatchRuns(d)) continue;
    pass.setPipeline(d.pipeline);
    pass.setBindGroup(0, d.bindGroup);
    pass.dispatchWorkgroups(d.workgroups[0], d.workgroups[1], d.workgroups[2]);
  }
}

/** Uploads uniforms, encodes the dispatches in one compute pass and submits. */
export function submitDispatches(ctx: KernelContext, dispatches: readonly Dispatch[], label = 'dispatches'): void {
  ctx.uniforms.flush();
  const encoder = ctx.device.createCommandEncoder({ label });
  const pass = encoder.beginComputePass({ label });
  encodeDispatches(pass, dispatches);
  pass.end();
  ctx.device.queue.submit([encoder.finish()]);
}

/** Usage of every storage buffer (a function: GPUBufferUsage exists in Node only once Dawn is loaded). */
export const storageUsage = (): number => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/** Creates a storage buffer holding `data` (padded to 4 bytes). */
export function uploadStorage(
  ctx: KernelContext,
  data: ArrayBufferView,
  label: string,
  category: MemoryCategory = 'activations',
): GPUBuffer {
  const buffer = ctx.allocator.create({ label, category, size: data.byteLength, usage: storageUsage() });
  writeBuffer(ctx, buffer, data);
  return buffer;
}

/** Creates a zero-filled storage buffer of `bytes` bytes. */
export function createStorage(ctx: KernelContext, bytes: number, label: string, category: MemoryCategory = 'activations'): GPUBuffer {
  return ctx.allocator.create({ label, category, size: bytes, usage: storageUsage() });
}

/** queue.writeBuffer with the 4-byte size rule handled. */
export function writeBuffer(ctx: KernelContext, buffer: GPUBuffer, data: ArrayBufferView, byteOffset = 0): void {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (bytes.byteLength % 4 === 0) {
    ctx.device.queue.writeBuffer(buffer, byteOffset, bytes);
  } else {
    const padded = new Uint8Array(Math.ceil(bytes.byteLength / 4) * 4);
    padded.set(bytes);
    ctx.device.queue.writeBuffer(buffer, byteOffset, padded);
  }
}

/** Copies `bytes` bytes (from `offset`) of a storage buffer to the CPU. */
export async function readBuffer(ctx: KernelContext, buffer: GPUBuffer, bytes = buffer.size, offset = 0): Promise<ArrayBuffer> {
  const size = Math.ceil(bytes / 4) * 4;
  const staging = ctx.allocator.create({
    label: `readback:${buffer.label}`,
    category: 'staging',
    size,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  try {
    const encoder = ctx.device.createCommandEncoder({ label: 'readback' });
    encoder.copyBufferToBuffer(buffer, offset, staging, 0, size);
    ctx.device.queue.submit([encoder.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    return staging.getMappedRange().slice(0, bytes);
  } finally {
    ctx.allocator.destroy(staging);
  }
}

export async function readF32(ctx: KernelContext, buffer: GPUBuffer, count?: number, offsetElements = 0): Promise<Float32Array> {
  const n = count ?? buffer.size / 4 - offsetElements;
  return new Float32Array(await readBuffer(ctx, buffer, n * 4, offsetElements * 4));
}

export async function readU32(ctx: KernelContext, buffer: GPUBuffer, count?: number, offsetElements = 0): Promise<Uint32Array> {
  const n = count ?? buffer.size / 4 - offsetElements;
  return new Uint32Array(await readBuffer(ctx, buffer, n * 4, offsetElements * 4));
}
