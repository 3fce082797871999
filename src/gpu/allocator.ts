/**
 * Every GPU buffer the runtime creates goes through the allocator, tagged with a category.
 * It reports live bytes per category and the peak, and frees everything on dispose().
 * Sizes are the byte sizes the runtime asked for (what the memory predictor also computes).
 */
import { GpuValidationError, OutOfGpuMemoryError } from '../errors.js';

export const MEMORY_CATEGORIES = ['weights', 'kv-cache', 'linear-state', 'activations', 'staging', 'other'] as const;
export type MemoryCategory = (typeof MEMORY_CATEGORIES)[number];
export type MemoryByCategory = Record<MemoryCategory, number>;

export interface BufferRequest {
  label: string;
  category: MemoryCategory;
  size: number;
  usage: GPUBufferUsageFlags;
  mappedAtCreation?: boolean;
}

export interface MemoryReport {
  live: MemoryByCategory;
  peak: MemoryByCategory;
  liveTotal: number;
  peakTotal: number;
  buffers: number;
}

export function emptyByCategory(): MemoryByCategory {
  return { weights: 0, 'kv-cache': 0, 'linear-state': 0, activations: 0, staging: 0, other: 0 };
}

export const formatBytes = (n: number): string =>
  n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(2)} GiB` : n >= 2 ** 20 ? `${(n / 2 ** 20).toFixed(1)} MiB` : `${(n / 1024).toFixed(1)} KiB`;

interface Tracked {
  category: MemoryCategory;
  size: number;
  label: string;
}

/** WebGPU requires buffer sizes that are a multiple of 4 for most uses; round up. */
export const alignTo = (n: number, a: number): number => Math.ceil(n / a) * a;

export class GpuAllocator {
  private readonly tracked = new Map<GPUBuffer, Tracked>();
  private readonly live = emptyByCategory();
  private readonly peak = emptyByCategory();
  private liveTotal = 0;
  private peakTotal = 0;
  private disposed = false;

  constructor(readonly device: GPUDevice) {}

  /**
   * Creates a buffer synchronously. Sizes beyond the device limits throw at once; an
   * out-of-memory failure from the driver surfaces asynchronously (use createChecked to await it).
   */
  create(req: BufferRequest): GPUBuffer {
    if (this.disposed) throw new GpuValidationError(`allocator is disposed; cannot create "${req.label}"`);
    if (!Number.isSafeInteger(req.size) || req.size < 0) {
      throw new GpuValidationError(`buffer "${req.label}": invalid size ${req.size}`);
    }
    const max = this.device.limits.maxBufferSize;
    if (req.size > max) {
      throw new OutOfGpuMemoryError(
        `buffer "${req.label}" (${req.category}) needs ${formatBytes(req.size)} but the device's maxBufferSize is ` +
          `${formatBytes(max)}; split the tensor or use a smaller weight format/context`,
      );
    }
    const buffer = this.device.createBuffer({
      label: req.label,
      size: alignTo(Math.max(req.size, 4), 4),
      usage: req.usage,
      mappedAtCreation: req.mappedAtCreation ?? false,
    });
    this.track(buffer, req);
    return buffer;
  }

  /** Creates a buffer and awaits the device's verdict; out-of-memory becomes OutOfGpuMemoryError. */
  async createChecked(req: BufferRequest): Promise<GPUBuffer> {
    this.device.pushErrorScope('out-of-memory');
    this.device.pushErrorScope('validation');
    let buffer: GPUBuffer | undefined;
    let thrown: unknown;
    try {
      buffer = this.create(req);
    } catch (e) {
      thrown = e;
    }
    const validation = await this.device.popErrorScope();
    const oom = await this.device.popErrorScope();
    if (thrown) throw thrown;
    if (oom || validation) {
      if (buffer) this.destroy(buffer);
      const live = formatBytes(this.liveTotal);
      if (oom) {
        throw new OutOfGpuMemoryError(
          `out of GPU memory allocating "${req.label}" (${req.category}, ${formatBytes(req.size)}) with ${live} already allocated`,
        );
      }
      throw new GpuValidationError(`creating buffer "${req.label}" failed: ${validation!.message}`);
    }
    return buffer!;
  }

  private track(buffer: GPUBuffer, req: BufferRequest): void {
    this.tracked.set(buffer, { category: req.category, size: req.size, label: req.label });
    this.live[req.category] += req.size;
    this.liveTotal += req.size;
    this.peak[req.category] = Math.max(this.peak[req.category], this.live[req.category]);
    this.peakTotal = Math.max(this.peakTotal, this.liveTotal);
  }

  /** Destroys a buffer created by this allocator and removes it from the accounting. */
  destroy(buffer: GPUBuffer): void {
    const t = this.tracked.get(buffer);
    if (!t) return;
    this.tracked.delete(buffer);
    this.live[t.category] -= t.size;
    this.liveTotal -= t.size;
    buffer.destroy();
  }

  report(): MemoryReport {
    return {
      live: { ...this.live },
      peak: { ...this.peak },
      liveTotal: this.liveTotal,
      peakTotal: this.peakTotal,
      buffers: this.tracked.size,
    };
  }

  /** Live buffers, largest first (for error messages and debugging). */
  listBuffers(): Array<{ label: string; category: MemoryCategory; size: number }> {
    return [...this.tracked.values()].sort((a, b) => b.size - a.size).map((t) => ({ ...t }));
  }

  /** Frees every buffer still alive; the allocator refuses new buffers afterwards. */
  dispose(): void {
    for (const buffer of [...this.tracked.keys()]) this.destroy(buffer);
    this.disposed = true;
  }
}
