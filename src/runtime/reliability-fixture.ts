/**
 * Shared by the reliability tests (faults, abort, soak, inputs, security): a very small model,
 * a count of the GPU buffers a device really holds (independent of the runtime's allocator),
 * a collector of unhandled rejections and a bound on every wait a test makes.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GpuContext } from '../gpu/device.js';
import type { Qwen35Config } from '../model/config.js';
import { hybridLayerTypes } from '../model/presets.js';
import { generateCheckpoint, TINY_CONFIGS } from '../model/tiny.js';

/** tiny-dense shrunk to 4 layers (3 DeltaNet + 1 attention), hidden 64: loads in ~1 s on SwiftShader. */
export const MINI_CONFIG: Qwen35Config = {
  ...TINY_CONFIGS.dense,
  hiddenSize: 64,
  numLayers: 4,
  layerTypes: hybridLayerTypes(4),
  mlpTypes: Array<'dense'>(4).fill('dense'),
  intermediateSize: 96,
  headDim: 16,
  linearKeyHeadDim: 16,
  linearValueHeadDim: 16,
};

/** A fresh temporary folder. */
export const tempDir = (prefix: string): string => mkdtempSync(join(tmpdir(), `qwen35-${prefix}-`));

/** Writes MINI_CONFIG (or `config`) as a checkpoint folder `<root>/<name>` and returns its path. */
export async function writeMiniCheckpoint(root: string, name = 'mini', config: Qwen35Config = MINI_CONFIG): Promise<string> {
  const dir = join(root, name);
  await generateCheckpoint(config, dir, { seed: 5 });
  return dir;
}

/**
 * Counts the buffers created on a device and not destroyed, by wrapping `device.createBuffer`:
 * what the device holds, whatever the runtime's allocator believes.
 */
export interface DeviceBufferCount {
  created(): number;
  liveBuffers(): number;
  liveBytes(): number;
}

export function countDeviceBuffers(gpu: GpuContext): DeviceBufferCount {
  const device = gpu.device;
  const live = new Map<GPUBuffer, number>();
  let created = 0;
  const create = device.createBuffer.bind(device);
  device.createBuffer = (descriptor: GPUBufferDescriptor): GPUBuffer => {
    const buffer = create(descriptor);
    created++;
    live.set(buffer, descriptor.size);
    const destroy = buffer.destroy.bind(buffer);
    buffer.destroy = () => {
      live.delete(buffer);
      destroy();
    };
    return buffer;
  };
  return {
    created: () => created,
    liveBuffers: () => live.size,
    liveBytes: () => [...live.values()].reduce((a, b) => a + b, 0),
  };
}

/** Every unhandled rejection while a test file runs (assert it stays empty). */
export function collectUnhandledRejections(): unknown[] {
  const seen: unknown[] = [];
  process.on('unhandledRejection', (reason) => seen.push(reason));
  return seen;
}

/** `promise`, or a rejection naming `what` if it has not settled after `ms`: a hang fails the test instead of stalling it. */
export function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The settled error of a promise that must reject (fails if it resolves). */
export async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection, but the call succeeded');
}
